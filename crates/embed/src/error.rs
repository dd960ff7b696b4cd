//! Every error the embedding core can return, worded for a SQL user.
//!
//! Each variant carries its SQLSTATE (`sqlstate()`) and, where there is something the user
//! can do about it, a hint (`hint()`), so the pgrx glue can `ereport!` them verbatim.

use std::path::PathBuf;

/// Where the set-up script installs the runtime and models; named in hints.
pub const SETUP_SCRIPT: &str = "scripts/models/setup_models.sh";

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("ONNX Runtime library \"{}\" does not exist", path.display())]
    RuntimeMissing { path: PathBuf },

    #[error("could not load ONNX Runtime library \"{}\": {reason}", path.display())]
    RuntimeLoad { path: PathBuf, reason: String },

    #[error("ONNX Runtime is not loaded")]
    RuntimeNotInitialized,

    #[error("embedding model file \"{}\" does not exist", path.display())]
    ModelMissing { path: PathBuf },

    #[error("could not load embedding model \"{}\": {reason}", path.display())]
    ModelInvalid { path: PathBuf, reason: String },

    #[error("tokenizer file \"{}\" does not exist", path.display())]
    TokenizerMissing { path: PathBuf },

    #[error("invalid tokenizer file \"{}\": {reason}", path.display())]
    TokenizerInvalid { path: PathBuf, reason: String },

    /// The tokenizer and the model do not belong together, or the graph has the wrong interface.
    #[error("embedding model \"{}\" cannot be used: {detail}", path.display())]
    ModelMismatch { path: PathBuf, detail: String },

    #[error("invalid embedding configuration: {0}")]
    InvalidConfig(String),

    #[error("cannot embed an empty batch of texts")]
    EmptyBatch,

    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    #[error("could not tokenize text: {0}")]
    Tokenize(String),

    #[error("embedding inference failed: {0}")]
    Inference(String),

    #[error("could not read file \"{}\": {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A library underneath panicked; caught so that no panic crosses into the database.
    #[error("internal error in the embedding runtime: {0}")]
    Internal(String),
}

impl EmbedError {
    /// The 5-character SQLSTATE the glue reports this error with.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            // undefined_file
            Self::RuntimeMissing { .. } | Self::ModelMissing { .. } | Self::TokenizerMissing { .. } => "58P01",
            // system_error: a file exists but cannot be used
            Self::RuntimeLoad { .. } | Self::ModelInvalid { .. } | Self::TokenizerInvalid { .. } => "58000",
            // object_not_in_prerequisite_state
            Self::RuntimeNotInitialized => "55000",
            // invalid_parameter_value
            Self::ModelMismatch { .. } | Self::InvalidConfig(_) | Self::EmptyBatch | Self::InvalidArgument(_) => "22023",
            // data_exception
            Self::Tokenize(_) => "22000",
            // external_routine_exception
            Self::Inference(_) => "38000",
            // io_error
            Self::Io { .. } => "58030",
            // internal_error
            Self::Internal(_) => "XX000",
        }
    }

    /// What the user can do about it, if anything.
    pub fn hint(&self) -> Option<String> {
        match self {
            Self::RuntimeMissing { .. } | Self::RuntimeNotInitialized => Some(format!(
                "Run {SETUP_SCRIPT} to install libonnxruntime.so.1.32.0 into the extension's lib folder, \
                 or point semvec.onnxruntime_path at an ONNX Runtime 1.22 or newer shared library."
            )),
            Self::RuntimeLoad { .. } => Some(
                "The file must be the ONNX Runtime shared library (libonnxruntime.so, version 1.22 or newer) \
                 built for this machine's architecture."
                    .to_string(),
            ),
            Self::ModelMissing { .. } | Self::TokenizerMissing { .. } => Some(format!(
                "Run {SETUP_SCRIPT} to install the default model, or register the model with the paths of an \
                 existing model.onnx and tokenizer.json."
            )),
            Self::ModelInvalid { .. } => Some(format!(
                "The file must be a complete ONNX model; re-run {SETUP_SCRIPT} or re-export the model \
                 (scripts/models/convert_bert_onnx.py)."
            )),
            Self::TokenizerInvalid { .. } => {
                Some("The file must be a Hugging Face tokenizers tokenizer.json saved with the model.".to_string())
            }
            Self::ModelMismatch { .. } => Some(
                "Use the tokenizer.json exported together with this model; the model must take int64 \
                 input_ids and attention_mask (and optionally token_type_ids)."
                    .to_string(),
            ),
            Self::EmptyBatch => Some("Pass at least one text.".to_string()),
            Self::Internal(_) => Some("Please report this as a bug.".to_string()),
            _ => None,
        }
    }
}

/// Runs `f`, turning a panic inside a library (tokenizers, ort) into an `EmbedError`.
pub(crate) fn no_panic<T>(what: &str, f: impl FnOnce() -> Result<T, EmbedError>) -> Result<T, EmbedError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(EmbedError::Internal(format!("{what}: {msg}")))
        }
    }
}
