//! A loaded model + tokenizer pair that turns texts into vectors.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::session::builder::GraphOptimizationLevel;
use ort::session::{Session, SessionInputValue};
use ort::value::{Tensor, TensorElementType, ValueType};
use tokenizers::{Encoding, PostProcessor, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::chunk::{check_chunk_args, plan_chunks, TokenSpan};
use crate::error::no_panic;
use crate::pooling::{l2_normalize, pool_sequence, Pooling};
use crate::{runtime, EmbedError};

/// The output a sentence-transformer graph from `convert_bert_onnx.py` exposes.
pub const SENTENCE_EMBEDDING: &str = "sentence_embedding";
/// The usual name of an encoder's token states, pooled in Rust when there is no pooled output.
pub const LAST_HIDDEN_STATE: &str = "last_hidden_state";

const INPUT_IDS: &str = "input_ids";
const ATTENTION_MASK: &str = "attention_mask";
const TOKEN_TYPE_IDS: &str = "token_type_ids";

/// Texts per inference call; bigger batches are split (attention memory grows with batch x seq^2).
const MAX_SUB_BATCH: usize = 32;

/// How to load and run one embedding model.
#[derive(Debug, Clone, PartialEq)]
pub struct EmbedderConfig {
    /// The ONNX graph (`model.onnx`).
    pub model_path: PathBuf,
    /// The Hugging Face `tokenizer.json` exported with the model.
    pub tokenizer_path: PathBuf,
    /// Pooling applied in Rust when the graph has no `sentence_embedding` output.
    pub pooling: Pooling,
    /// L2-normalize the vectors (a no-op for graphs that already normalize).
    pub normalize: bool,
    /// Longest token sequence fed to the model, special tokens included; longer texts are truncated.
    pub max_tokens: usize,
    /// ONNX Runtime intra-op threads for this session.
    pub intra_threads: usize,
}

impl EmbedderConfig {
    pub const DEFAULT_MAX_TOKENS: usize = 256;

    /// The defaults of all-MiniLM-L6-v2: mean pooling, normalized, 256 tokens, one thread.
    pub fn new(model_path: impl Into<PathBuf>, tokenizer_path: impl Into<PathBuf>) -> Self {
        EmbedderConfig {
            model_path: model_path.into(),
            tokenizer_path: tokenizer_path.into(),
            pooling: Pooling::Mean,
            normalize: true,
            max_tokens: Self::DEFAULT_MAX_TOKENS,
            intra_threads: 1,
        }
    }

    /// `model.onnx` and `tokenizer.json` inside `dir`, with the defaults of [`EmbedderConfig::new`].
    pub fn from_dir(dir: impl AsRef<Path>) -> Self {
        let dir = dir.as_ref();
        Self::new(dir.join("model.onnx"), dir.join("tokenizer.json"))
    }
}

impl Default for EmbedderConfig {
    fn default() -> Self {
        Self::new(PathBuf::new(), PathBuf::new())
    }
}

/// Which graph output holds the result, and whether it still needs pooling.
#[derive(Debug, Clone)]
struct OutputSpec {
    name: String,
    pooled: bool,
}

/// A model ready to embed. Safe to share between threads; runs are serialized on one session.
pub struct Embedder {
    session: Mutex<Session>,
    /// Truncates to `max_tokens`, does not pad (padding is done per batch here).
    tokenizer: Tokenizer,
    /// Neither truncates nor pads: for counting and chunking.
    plain: Tokenizer,
    pad_id: u32,
    feed_token_types: bool,
    output: OutputSpec,
    dim: usize,
    config: EmbedderConfig,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("config", &self.config)
            .field("dim", &self.dim)
            .field("output", &self.output.name)
            .finish()
    }
}

impl Embedder {
    /// Loads the tokenizer and the ONNX model and checks that they fit together.
    ///
    /// Needs [`crate::init_runtime`] first.
    pub fn load(config: EmbedderConfig) -> Result<Self, EmbedError> {
        no_panic("loading the embedding model", || Self::load_inner(config))
    }

    fn load_inner(config: EmbedderConfig) -> Result<Self, EmbedError> {
        let env = runtime::environment()?;
        if config.intra_threads == 0 {
            return Err(EmbedError::InvalidConfig("intra-op threads must be at least 1".into()));
        }
        if !config.model_path.is_file() {
            return Err(EmbedError::ModelMissing {
                path: config.model_path.clone(),
            });
        }
        if !config.tokenizer_path.is_file() {
            return Err(EmbedError::TokenizerMissing {
                path: config.tokenizer_path.clone(),
            });
        }

        let (tokenizer, plain, pad_id, max_token_id) = load_tokenizer(&config)?;

        let model_path = config.model_path.clone();
        let invalid = |reason: String| EmbedError::ModelInvalid {
            path: model_path.clone(),
            reason,
        };
        let mismatch = |detail: String| EmbedError::ModelMismatch {
            path: model_path.clone(),
            detail,
        };
        let bad_option = |e: ort::Error<_>| EmbedError::InvalidConfig(format!("ONNX Runtime session option: {e}"));

        let mut builder = Session::builder(&env)
            .map_err(|e| invalid(e.to_string()))?
            .with_optimization_level(GraphOptimizationLevel::All)
            .map_err(bad_option)?
            .with_intra_threads(config.intra_threads)
            .map_err(bad_option)?
            .with_inter_threads(1)
            .map_err(bad_option)?
            .with_intra_op_spinning(false)
            .map_err(bad_option)?
            .with_inter_op_spinning(false)
            .map_err(bad_option)?;
        let session = builder.commit_from_file(&config.model_path).map_err(|e| invalid(e.to_string()))?;

        // --- inputs: exactly the BERT trio, int64 -------------------------------------------
        let mut has_ids = false;
        let mut has_mask = false;
        let mut feed_token_types = false;
        for input in session.inputs() {
            let name = input.name();
            match name {
                INPUT_IDS => has_ids = true,
                ATTENTION_MASK => has_mask = true,
                TOKEN_TYPE_IDS => feed_token_types = true,
                other => {
                    return Err(mismatch(format!(
                        "the model has an input named \"{other}\"; only input_ids, attention_mask and \
                         token_type_ids can be fed"
                    )))
                }
            }
            if tensor_type(input.dtype()) != Some(TensorElementType::Int64) {
                return Err(mismatch(format!("model input \"{name}\" is not an int64 tensor")));
            }
        }
        if !has_ids || !has_mask {
            let names: Vec<&str> = session.inputs().iter().map(|i| i.name()).collect();
            return Err(mismatch(format!(
                "the model must take inputs named input_ids and attention_mask, but its inputs are [{}]",
                names.join(", ")
            )));
        }

        // --- output: pooled if the graph pools, else token states ---------------------------
        let outputs = session.outputs();
        let output = if let Some(o) = outputs.iter().find(|o| o.name() == SENTENCE_EMBEDDING) {
            OutputSpec {
                name: o.name().to_string(),
                pooled: true,
            }
        } else if let Some(o) = outputs.iter().find(|o| o.name() == LAST_HIDDEN_STATE).or(outputs.first()) {
            let rank = o.dtype().tensor_shape().map(|s| s.len());
            OutputSpec {
                name: o.name().to_string(),
                pooled: rank == Some(2),
            }
        } else {
            return Err(mismatch("the model has no outputs".into()));
        };
        let out_outlet = outputs.iter().find(|o| o.name() == output.name).expect("output found above");
        if tensor_type(out_outlet.dtype()) != Some(TensorElementType::Float32) {
            return Err(mismatch(format!("model output \"{}\" is not a float32 tensor", output.name)));
        }

        // --- facts convert_bert_onnx.py records in the model's metadata ---------------------
        let meta = |key: &str| -> Option<String> { session.metadata().ok().and_then(|m| m.custom(key)) };
        if let Some(rows) = meta("semvec.vocab_size").and_then(|v| v.parse::<u64>().ok()) {
            if u64::from(max_token_id) >= rows {
                return Err(mismatch(format!(
                    "the tokenizer produces token ids up to {max_token_id}, but the model's embedding table \
                     has only {rows} rows"
                )));
            }
        }
        let max_positions = meta("semvec.max_position_embeddings").and_then(|v| v.parse::<usize>().ok());
        if let Some(max_pos) = max_positions {
            if config.max_tokens > max_pos {
                return Err(EmbedError::InvalidConfig(format!(
                    "max_tokens is {} but the model accepts at most {max_pos} tokens",
                    config.max_tokens
                )));
            }
        }
        if output.pooled {
            if let Some(p) = meta("semvec.pooling").and_then(|p| p.parse::<Pooling>().ok()) {
                if p != config.pooling {
                    return Err(mismatch(format!(
                        "the model pools with \"{}\" inside its graph, but \"{}\" pooling was requested",
                        p.as_str(),
                        config.pooling.as_str()
                    )));
                }
            }
        }
        let static_dim = out_outlet
            .dtype()
            .tensor_shape()
            .and_then(|s| s.last().copied())
            .filter(|&d| d > 0)
            .map(|d| d as usize);

        let mut embedder = Embedder {
            session: Mutex::new(session),
            tokenizer,
            plain,
            pad_id,
            feed_token_types,
            output,
            dim: static_dim.unwrap_or(0),
            config,
        };

        // --- probe: the largest token id must index the embedding table, and the model must
        // take max_tokens positions (checked by running it when the metadata does not say).
        let probe_len = if max_positions.is_some() { 3 } else { embedder.config.max_tokens };
        let mut ids = vec![i64::from(max_token_id); probe_len.max(1)];
        if let Some(first) = ids.first_mut() {
            *first = i64::from(pad_id);
        }
        let probe = embedder.run(&[ids]).map_err(|e| {
            mismatch(format!(
                "a probe run with token id {max_token_id} and {probe_len} tokens failed ({e}); the tokenizer's \
                 vocabulary may be larger than the model's, or max_tokens larger than its positions"
            ))
        })?;
        let probed_dim = probe.first().map(Vec::len).unwrap_or(0);
        if probed_dim == 0 {
            return Err(mismatch("the model returned an empty vector".into()));
        }
        if embedder.dim != 0 && embedder.dim != probed_dim {
            return Err(mismatch(format!(
                "the model declares {} dimensions but returned {probed_dim}",
                embedder.dim
            )));
        }
        embedder.dim = probed_dim;
        Ok(embedder)
    }

    /// Number of dimensions of the vectors.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Longest token sequence fed to the model (special tokens included).
    pub fn max_tokens(&self) -> usize {
        self.config.max_tokens
    }

    pub fn config(&self) -> &EmbedderConfig {
        &self.config
    }

    /// Embeds each text; texts longer than `max_tokens` tokens are truncated.
    ///
    /// The result does not depend on how texts are grouped into batches (up to float rounding).
    pub fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if texts.is_empty() {
            return Err(EmbedError::EmptyBatch);
        }
        no_panic("embedding", || {
            let mut sequences = Vec::with_capacity(texts.len());
            for text in texts {
                let enc = encode(&self.tokenizer, text, true)?;
                sequences.push(enc.get_ids().iter().map(|&id| i64::from(id)).collect::<Vec<i64>>());
            }
            // Batch texts of similar length together so little compute goes to padding.
            let mut order: Vec<usize> = (0..sequences.len()).collect();
            order.sort_by_key(|&i| sequences[i].len());
            let lens: Vec<usize> = order.iter().map(|&i| sequences[i].len()).collect();
            let mut result: Vec<Vec<f32>> = vec![Vec::new(); texts.len()];
            for range in sub_batches(&lens) {
                let group = &order[range];
                let batch: Vec<Vec<i64>> = group.iter().map(|&i| std::mem::take(&mut sequences[i])).collect();
                for (&i, v) in group.iter().zip(self.run(&batch)?) {
                    result[i] = v;
                }
            }
            Ok(result)
        })
    }

    /// Embeds one text.
    pub fn embed(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let mut v = self.embed_batch(&[text])?;
        Ok(v.pop().unwrap_or_default())
    }

    /// The token ids the model is fed for `text`: special tokens added, truncated to `max_tokens`.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>, EmbedError> {
        no_panic("tokenizing", || Ok(encode(&self.tokenizer, text, true)?.get_ids().to_vec()))
    }

    /// Number of model tokens in `text`, special tokens excluded, without truncation.
    pub fn count_tokens(&self, text: &str) -> Result<usize, EmbedError> {
        no_panic("counting tokens", || Ok(encode(&self.plain, text, false)?.len()))
    }

    /// Splits `text` into ordered chunks of at most `max_tokens` model tokens each (special
    /// tokens excluded), cut between words and preferably at sentence ends, consecutive chunks
    /// sharing about `overlap` tokens. A text without tokens gives no chunks.
    pub fn chunk_text(&self, text: &str, max_tokens: usize, overlap: usize) -> Result<Vec<String>, EmbedError> {
        check_chunk_args(max_tokens, overlap)?;
        no_panic("chunking text", || {
            let enc = encode(&self.plain, text, false)?;
            let words = enc.get_word_ids();
            let spans: Vec<TokenSpan> = enc
                .get_offsets()
                .iter()
                .enumerate()
                .map(|(i, &(start, end))| TokenSpan {
                    start,
                    end,
                    word: words.get(i).copied().flatten(),
                })
                .collect();
            let mut count = |piece: &str| -> Result<usize, EmbedError> { Ok(encode(&self.plain, piece, false)?.len()) };
            plan_chunks(text, &spans, max_tokens, overlap, &mut count)
        })
    }

    /// Runs one padded batch of token id sequences through the model.
    fn run(&self, batch: &[Vec<i64>]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let rows = batch.len();
        let seq = batch.iter().map(Vec::len).max().unwrap_or(0).max(1);
        let mut ids = vec![i64::from(self.pad_id); rows * seq];
        let mut mask = vec![0i64; rows * seq];
        for (r, s) in batch.iter().enumerate() {
            ids[r * seq..r * seq + s.len()].copy_from_slice(s);
            mask[r * seq..r * seq + s.len()].fill(1);
        }
        let shape = [rows, seq];
        let tensor = |data: Vec<i64>| -> Result<SessionInputValue<'static>, EmbedError> {
            Tensor::from_array((shape, data))
                .map(SessionInputValue::from)
                .map_err(|e| EmbedError::Inference(e.to_string()))
        };
        let mut inputs: Vec<(Cow<'static, str>, SessionInputValue<'static>)> = vec![
            (Cow::Borrowed(INPUT_IDS), tensor(ids)?),
            (Cow::Borrowed(ATTENTION_MASK), tensor(mask.clone())?),
        ];
        if self.feed_token_types {
            inputs.push((Cow::Borrowed(TOKEN_TYPE_IDS), tensor(vec![0i64; rows * seq])?));
        }

        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = session.run(inputs).map_err(|e| EmbedError::Inference(e.to_string()))?;
        let value = outputs
            .get(&self.output.name)
            .ok_or_else(|| EmbedError::Inference(format!("the model produced no output \"{}\"", self.output.name)))?;
        let (out_shape, data) = value
            .try_extract_tensor::<f32>()
            .map_err(|e| EmbedError::Inference(format!("output \"{}\": {e}", self.output.name)))?;
        let dims: Vec<usize> = out_shape.iter().map(|&d| d.max(0) as usize).collect();

        let mut vectors = Vec::with_capacity(rows);
        match dims.as_slice() {
            [b, dim] if *b == rows && *dim > 0 && data.len() == rows * dim => {
                vectors.extend(data.chunks_exact(*dim).map(<[f32]>::to_vec));
            }
            [b, s, dim] if *b == rows && *s == seq && *dim > 0 && data.len() == rows * seq * dim => {
                for r in 0..rows {
                    let states = &data[r * seq * dim..(r + 1) * seq * dim];
                    vectors.push(pool_sequence(states, &mask[r * seq..(r + 1) * seq], *dim, self.config.pooling));
                }
            }
            _ => {
                return Err(EmbedError::Inference(format!(
                    "output \"{}\" has shape {dims:?}; expected [{rows}, dim] or [{rows}, {seq}, dim]",
                    self.output.name
                )))
            }
        }
        if self.config.normalize {
            vectors.iter_mut().for_each(|v| l2_normalize(v));
        }
        if self.dim != 0 && vectors.iter().any(|v| v.len() != self.dim) {
            return Err(EmbedError::Inference(format!(
                "the model returned vectors of a dimension other than {}",
                self.dim
            )));
        }
        Ok(vectors)
    }
}

fn tensor_type(t: &ValueType) -> Option<TensorElementType> {
    t.tensor_type()
}

fn encode(tokenizer: &Tokenizer, text: &str, special: bool) -> Result<Encoding, EmbedError> {
    tokenizer.encode(text, special).map_err(|e| EmbedError::Tokenize(e.to_string()))
}

/// Loads tokenizer.json twice-configured: truncating at max_tokens for embedding, and plain.
/// Returns (truncating, plain, pad id, largest token id).
fn load_tokenizer(config: &EmbedderConfig) -> Result<(Tokenizer, Tokenizer, u32, u32), EmbedError> {
    let path = &config.tokenizer_path;
    let invalid = |reason: String| EmbedError::TokenizerInvalid {
        path: path.clone(),
        reason,
    };
    let mut plain = Tokenizer::from_file(path).map_err(|e| invalid(e.to_string()))?;
    // tokenizer.json may pin padding/truncation (all-MiniLM-L6-v2 ships fixed 128): override both.
    let pad_id = plain
        .get_padding()
        .map(|p| p.pad_id)
        .or_else(|| plain.token_to_id("[PAD]"))
        .or_else(|| plain.token_to_id("<pad>"))
        .unwrap_or(0);
    plain.with_padding(None);
    plain.with_truncation(None).map_err(|e| invalid(e.to_string()))?;

    let specials = plain.get_post_processor().map(|p| p.added_tokens(false)).unwrap_or(0);
    if config.max_tokens <= specials {
        return Err(EmbedError::InvalidConfig(format!(
            "max_tokens must be larger than the {specials} special tokens the tokenizer adds, got {}",
            config.max_tokens
        )));
    }
    let mut tokenizer = plain.clone();
    tokenizer
        .with_truncation(Some(TruncationParams {
            max_length: config.max_tokens,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
            direction: TruncationDirection::Right,
        }))
        .map_err(|e| invalid(e.to_string()))?;

    let max_token_id = plain.get_vocab(true).values().copied().max().unwrap_or(0).max(pad_id);
    if plain.get_vocab_size(true) == 0 {
        return Err(invalid("the vocabulary is empty".into()));
    }
    Ok((tokenizer, plain, pad_id, max_token_id))
}

/// Splits texts sorted by ascending token count (`lens`) into consecutive sub-batches for one model
/// run each: at most [`MAX_SUB_BATCH`] texts, and padded to its longest text a sub-batch computes
/// at most 10% more tokens than its texts hold. Without the padding bound, a batch of descriptions
/// between 20 and 256 tokens costs about three times the tokens of its texts: slower than embedding
/// them one by one. Measured on 2000 Debian descriptions (benches/RESULTS.md), batches of 32 at 1 / 2
/// threads: a 25% bound gave 0.94x / 1.31x the rows/s of one call per text, 10% 1.05x / 1.32x, 5%
/// 1.09x / 1.10x (smaller sub-batches use 2 threads less well).
pub(crate) fn sub_batches(lens: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut sum = 0usize;
    for (i, &len) in lens.iter().enumerate() {
        let count = i - start;
        let padded = len * (count + 1);
        if count > 0 && (count >= MAX_SUB_BATCH || padded * 10 > (sum + len) * 11) {
            out.push(start..i);
            start = i;
            sum = 0;
        }
        sum += len;
    }
    if start < lens.len() {
        out.push(start..lens.len());
    }
    out
}

#[cfg(test)]
mod sub_batch_tests {
    use super::{sub_batches, MAX_SUB_BATCH};

    fn check(lens: &[usize]) -> Vec<std::ops::Range<usize>> {
        let b = sub_batches(lens);
        // Consecutive, covering every text once.
        let mut next = 0;
        for r in &b {
            assert_eq!(r.start, next);
            assert!(r.end > r.start && r.len() <= MAX_SUB_BATCH);
            next = r.end;
            let real: usize = lens[r.clone()].iter().sum();
            let padded = lens[r.end - 1] * r.len();
            assert!(padded * 10 <= real * 11 || r.len() == 1, "{r:?}: {padded} padded tokens for {real}");
        }
        assert_eq!(next, lens.len());
        b
    }

    #[test]
    fn equal_lengths_fill_whole_sub_batches() {
        assert_eq!(check(&[10; 70]), vec![0..32, 32..64, 64..70]);
    }

    #[test]
    fn widely_varying_lengths_are_split_so_padding_stays_bounded() {
        let lens: Vec<usize> = (0..32).map(|i| 20 + i * 7).collect();
        let b = check(&lens);
        assert!(
            b.len() > 1,
            "one padded batch would compute {} tokens for {}",
            237 * 32,
            lens.iter().sum::<usize>()
        );
    }

    #[test]
    fn no_texts_no_batches() {
        assert!(sub_batches(&[]).is_empty());
        assert_eq!(check(&[300]), vec![0..1]);
    }
}
