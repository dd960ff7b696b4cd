//! semvec-embed: the pure-Rust core of semvec's in-database embedding.
//!
//! ONNX Runtime is loaded at run time from a shared library ([`init_runtime`]), a model and its
//! Hugging Face tokenizer are loaded into an [`Embedder`], which tokenizes, pads per batch,
//! truncates, runs the graph and pools. No pgrx here: the extension's glue maps [`EmbedError`]
//! to `ereport!` with [`EmbedError::sqlstate`] and [`EmbedError::hint`].
//!
//! ```no_run
//! use semvec_embed::{init_runtime, Embedder, EmbedderConfig};
//! # fn main() -> Result<(), semvec_embed::EmbedError> {
//! let share = std::path::Path::new("/usr/share/postgresql/15/extension/semvec");
//! init_runtime(&share.join("lib/libonnxruntime.so.1.32.0"))?;
//! let embedder = Embedder::load(EmbedderConfig::from_dir(share.join("models/all-MiniLM-L6-v2")))?;
//! let vectors = embedder.embed_batch(&["hello world", "bonjour"])?;
//! assert_eq!(vectors[0].len(), embedder.dim());
//! # Ok(()) }
//! ```

mod chunk;
mod embedder;
mod error;
mod hash;
mod pooling;
mod runtime;

pub use chunk::{plan_chunks, TokenSpan};
pub use embedder::{Embedder, EmbedderConfig, LAST_HIDDEN_STATE, SENTENCE_EMBEDDING};
pub use error::{EmbedError, SETUP_SCRIPT};
pub use hash::sha256_file;
pub use pooling::{cosine, l2_normalize, pool_sequence, Pooling};
pub use runtime::{init_runtime, runtime_path, runtime_version};

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn config_defaults_match_all_minilm_l6_v2() {
        let c = EmbedderConfig::from_dir("/m");
        assert_eq!(c.model_path, PathBuf::from("/m/model.onnx"));
        assert_eq!(c.tokenizer_path, PathBuf::from("/m/tokenizer.json"));
        assert_eq!(
            (c.pooling, c.normalize, c.max_tokens, c.intra_threads),
            (Pooling::Mean, true, 256, 1)
        );
    }

    #[test]
    fn errors_carry_sqlstates_and_hints_for_sql_users() {
        let e = EmbedError::RuntimeMissing {
            path: "/x/libonnxruntime.so".into(),
        };
        assert_eq!(e.sqlstate(), "58P01");
        assert_eq!(e.to_string(), "ONNX Runtime library \"/x/libonnxruntime.so\" does not exist");
        assert!(e.hint().unwrap().contains(SETUP_SCRIPT));
        assert_eq!(EmbedError::EmptyBatch.sqlstate(), "22023");
        assert_eq!(EmbedError::RuntimeNotInitialized.sqlstate(), "55000");
        assert!(EmbedError::ModelMissing { path: "/m.onnx".into() }
            .hint()
            .unwrap()
            .contains(SETUP_SCRIPT));
        for e in [
            EmbedError::ModelInvalid {
                path: "/m".into(),
                reason: "r".into(),
            },
            EmbedError::TokenizerInvalid {
                path: "/t".into(),
                reason: "r".into(),
            },
            EmbedError::ModelMismatch {
                path: "/m".into(),
                detail: "d".into(),
            },
            EmbedError::Inference("x".into()),
            EmbedError::Internal("x".into()),
        ] {
            assert_eq!(e.sqlstate().len(), 5);
        }
    }

    #[test]
    fn loading_before_the_runtime_is_initialized_is_an_error_not_a_panic() {
        // This unit-test binary never calls init_runtime.
        let err = Embedder::load(EmbedderConfig::from_dir("/nonexistent")).unwrap_err();
        assert!(matches!(err, EmbedError::RuntimeNotInitialized), "{err}");
        assert!(err.hint().unwrap().contains(SETUP_SCRIPT));
    }

    #[test]
    fn init_runtime_with_a_missing_library_names_the_path() {
        let err = init_runtime(std::path::Path::new("/nonexistent/libonnxruntime.so.1.32.0")).unwrap_err();
        assert!(matches!(err, EmbedError::RuntimeMissing { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/libonnxruntime.so.1.32.0"));
        assert!(runtime_path().is_none());
    }
}
