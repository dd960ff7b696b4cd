//! Where the integration tests find the runtime, the models and the reference fixture.
//!
//! Paths come from the environment, defaulting to where scripts/models/setup_models.sh installs:
//!   SEMVEC_ORT_LIB          <pg share>/extension/semvec/lib/libonnxruntime.so.1.32.0
//!   SEMVEC_MODEL_DIR        <pg share>/extension/semvec/models/all-MiniLM-L6-v2
//!   SEMVEC_MODEL_INT8_DIR   <SEMVEC_MODEL_DIR>-int8
//!   SEMVEC_HIDDEN_MODEL_DIR <checkout>/.cache/semvec-models/build/all-MiniLM-L6-v2-hidden
//! A missing file fails the test with a message saying how to install it; nothing is skipped.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use semvec_embed::{init_runtime, Embedder, EmbedderConfig};

const SETUP_HINT: &str = "run scripts/models/setup_models.sh (or point SEMVEC_MODEL_DIR / SEMVEC_ORT_LIB / \
                          SEMVEC_MODEL_INT8_DIR / SEMVEC_HIDDEN_MODEL_DIR at existing files)";

pub fn checkout_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn pg_share_dir() -> PathBuf {
    std::process::Command::new("pg_config")
        .arg("--sharedir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .unwrap_or_else(|| PathBuf::from("/usr/share/postgresql/15"))
}

fn semvec_share() -> PathBuf {
    pg_share_dir().join("extension/semvec")
}

fn env_path(var: &str, default: impl FnOnce() -> PathBuf) -> PathBuf {
    std::env::var_os(var)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(default)
}

/// Fails the test (never skips) when a set-up file is absent.
pub fn require(path: PathBuf, what: &str) -> PathBuf {
    assert!(path.exists(), "{what} not found at {}: {SETUP_HINT}", path.display());
    path
}

pub fn ort_lib() -> PathBuf {
    require(
        env_path("SEMVEC_ORT_LIB", || semvec_share().join("lib/libonnxruntime.so.1.32.0")),
        "ONNX Runtime library",
    )
}

pub fn model_dir() -> PathBuf {
    let dir = env_path("SEMVEC_MODEL_DIR", || semvec_share().join("models/all-MiniLM-L6-v2"));
    require(dir.join("model.onnx"), "fp32 model");
    require(dir.join("tokenizer.json"), "tokenizer");
    dir
}

pub fn int8_model_dir() -> PathBuf {
    let dir = env_path("SEMVEC_MODEL_INT8_DIR", || {
        let fp32 = env_path("SEMVEC_MODEL_DIR", || semvec_share().join("models/all-MiniLM-L6-v2"));
        PathBuf::from(format!("{}-int8", fp32.display()))
    });
    require(dir.join("model.onnx"), "int8 model");
    dir
}

pub fn hidden_model_dir() -> PathBuf {
    let dir = env_path("SEMVEC_HIDDEN_MODEL_DIR", || {
        checkout_root().join(".cache/semvec-models/build/all-MiniLM-L6-v2-hidden")
    });
    require(dir.join("model.onnx"), "hidden-state model (test-only, built by setup_models.sh)");
    require(dir.join("tokenizer.json"), "hidden-state model tokenizer");
    dir
}

pub fn runtime() {
    init_runtime(&ort_lib()).expect("ONNX Runtime loads");
}

/// The fp32 default model, loaded once per test binary.
pub fn embedder() -> &'static Embedder {
    static E: OnceLock<Embedder> = OnceLock::new();
    E.get_or_init(|| {
        runtime();
        Embedder::load(EmbedderConfig::from_dir(model_dir())).expect("default model loads")
    })
}

pub struct Sentence {
    pub text: String,
    pub input_ids: Vec<u32>,
    pub token_count: usize,
    pub truncated: bool,
    pub embedding: Vec<f32>,
    pub top5: Vec<usize>,
}

pub fn fixture() -> &'static Vec<Sentence> {
    static F: OnceLock<Vec<Sentence>> = OnceLock::new();
    F.get_or_init(|| {
        let path = checkout_root().join("tests/fixtures/embed/reference.json");
        let raw = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let json: serde_json::Value = serde_json::from_str(&raw).expect("fixture is JSON");
        json["sentences"]
            .as_array()
            .expect("sentences array")
            .iter()
            .map(|s| Sentence {
                text: s["text"].as_str().unwrap().to_string(),
                input_ids: s["input_ids"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_u64().unwrap() as u32)
                    .collect(),
                token_count: s["token_count"].as_u64().unwrap() as usize,
                truncated: s["truncated"].as_bool().unwrap(),
                embedding: s["embedding"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap() as f32)
                    .collect(),
                top5: s["top5"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect(),
            })
            .collect()
    })
}

pub fn texts() -> Vec<&'static str> {
    fixture().iter().map(|s| s.text.as_str()).collect()
}

/// Indices of the `k` most similar other vectors, best first (ties broken by index).
pub fn top_k(vectors: &[Vec<f32>], i: usize, k: usize) -> Vec<usize> {
    let mut sims: Vec<(f64, usize)> = vectors
        .iter()
        .enumerate()
        .filter(|&(j, _)| j != i)
        .map(|(j, v)| (semvec_embed::cosine(&vectors[i], v), j))
        .collect();
    sims.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    sims.into_iter().take(k).map(|(_, j)| j).collect()
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}
