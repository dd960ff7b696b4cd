//! What a SQL user sees when a model, a tokenizer or the pairing of both is wrong.

mod common;

use std::path::{Path, PathBuf};

use common::*;
use semvec_embed::{EmbedError, Embedder, EmbedderConfig, Pooling, SETUP_SCRIPT};

/// A scratch directory for one test, removed when the test ends (pass or fail), so repeated
/// runs do not pile model copies up in the temp directory.
struct Scratch(PathBuf);

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn scratch(name: &str) -> Scratch {
    let dir = std::env::temp_dir().join(format!("semvec-embed-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    Scratch(dir)
}

fn load(model: &Path, tokenizer: &Path) -> Result<Embedder, EmbedError> {
    common::runtime();
    Embedder::load(EmbedderConfig::new(model, tokenizer))
}

#[test]
fn missing_model_file_names_the_path_and_the_setup_script() {
    let tok = model_dir().join("tokenizer.json");
    let err = load(Path::new("/nonexistent/models/m/model.onnx"), &tok).unwrap_err();
    assert!(matches!(err, EmbedError::ModelMissing { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "embedding model file \"/nonexistent/models/m/model.onnx\" does not exist"
    );
    assert_eq!(err.sqlstate(), "58P01");
    assert!(err.hint().unwrap().contains(SETUP_SCRIPT));
}

#[test]
fn garbage_model_file_is_reported_as_invalid_model() {
    let dir = scratch("garbage-model");
    std::fs::write(dir.join("model.onnx"), b"this is not an ONNX model at all").unwrap();
    let err = load(&dir.join("model.onnx"), &model_dir().join("tokenizer.json")).unwrap_err();
    assert!(matches!(err, EmbedError::ModelInvalid { .. }), "{err:?}");
    assert!(err.to_string().starts_with("could not load embedding model"), "{err}");
    assert_eq!(err.sqlstate(), "58000");
    assert!(err.hint().is_some());
}

#[test]
fn truncated_model_file_is_reported_as_invalid_model() {
    let dir = scratch("truncated-model");
    let bytes = std::fs::read(model_dir().join("model.onnx")).unwrap();
    std::fs::write(dir.join("model.onnx"), &bytes[..bytes.len() / 3]).unwrap();
    let err = load(&dir.join("model.onnx"), &model_dir().join("tokenizer.json")).unwrap_err();
    assert!(matches!(err, EmbedError::ModelInvalid { .. }), "{err:?}");
}

#[test]
fn missing_and_invalid_tokenizers_are_reported() {
    let model = model_dir().join("model.onnx");
    let err = load(&model, Path::new("/nonexistent/tokenizer.json")).unwrap_err();
    assert!(matches!(err, EmbedError::TokenizerMissing { .. }), "{err:?}");
    assert_eq!(err.sqlstate(), "58P01");

    let dir = scratch("bad-tokenizer");
    std::fs::write(dir.join("tokenizer.json"), b"{\"version\": \"1.0\", \"model\": 42}").unwrap();
    let err = load(&model, &dir.join("tokenizer.json")).unwrap_err();
    assert!(matches!(err, EmbedError::TokenizerInvalid { .. }), "{err:?}");
    assert!(err.to_string().contains("invalid tokenizer file"), "{err}");
}

#[test]
fn tokenizer_with_more_tokens_than_the_embedding_table_is_a_mismatch() {
    let dir = scratch("big-vocab");
    let raw = std::fs::read_to_string(model_dir().join("tokenizer.json")).unwrap();
    let mut json: serde_json::Value = serde_json::from_str(&raw).unwrap();
    json["added_tokens"].as_array_mut().unwrap().push(serde_json::json!({
        "id": 40000, "content": "[EXTRA]", "single_word": false, "lstrip": false,
        "rstrip": false, "normalized": false, "special": true
    }));
    std::fs::write(dir.join("tokenizer.json"), serde_json::to_string(&json).unwrap()).unwrap();
    let err = load(&model_dir().join("model.onnx"), &dir.join("tokenizer.json")).unwrap_err();
    assert!(matches!(err, EmbedError::ModelMismatch { .. }), "{err:?}");
    // tokenizers gives the added token the next free id, one past the model's 30522 rows
    assert!(
        err.to_string().contains("token ids up to 30522") && err.to_string().contains("only 30522 rows"),
        "{err}"
    );
    assert_eq!(err.sqlstate(), "22023");
}

#[test]
fn model_with_other_input_names_is_a_mismatch() {
    let dir = scratch("wrong-inputs");
    let path = dir.join("model.onnx");
    std::fs::write(&path, tiny_onnx(&[("text_ids", INT64)], CAST_FIRST_INPUT)).unwrap();
    let err = load(&path, &model_dir().join("tokenizer.json")).unwrap_err();
    assert!(matches!(err, EmbedError::ModelMismatch { .. }), "{err:?}");
    assert!(err.to_string().contains("\"text_ids\""), "{err}");
}

#[test]
fn model_with_float_token_inputs_is_a_mismatch() {
    let dir = scratch("float-inputs");
    let path = dir.join("model.onnx");
    std::fs::write(
        &path,
        tiny_onnx(&[("input_ids", FLOAT), ("attention_mask", INT64)], IDENTITY_FIRST_INPUT),
    )
    .unwrap();
    let err = load(&path, &model_dir().join("tokenizer.json")).unwrap_err();
    assert!(err.to_string().contains("\"input_ids\" is not an int64 tensor"), "{err}");
}

#[test]
fn model_missing_the_attention_mask_input_is_a_mismatch() {
    let dir = scratch("no-mask");
    let path = dir.join("model.onnx");
    std::fs::write(&path, tiny_onnx(&[("input_ids", INT64)], CAST_FIRST_INPUT)).unwrap();
    let err = load(&path, &model_dir().join("tokenizer.json")).unwrap_err();
    assert!(
        err.to_string().contains("must take inputs named input_ids and attention_mask"),
        "{err}"
    );
}

#[test]
fn bad_settings_are_rejected_at_load() {
    common::runtime();
    let mut cfg = EmbedderConfig::from_dir(model_dir());
    cfg.max_tokens = 1024;
    let err = Embedder::load(cfg).unwrap_err();
    assert!(err.to_string().contains("at most 512 tokens"), "{err}");

    let mut cfg = EmbedderConfig::from_dir(model_dir());
    cfg.max_tokens = 2;
    assert!(matches!(Embedder::load(cfg).unwrap_err(), EmbedError::InvalidConfig(_)));

    let mut cfg = EmbedderConfig::from_dir(model_dir());
    cfg.intra_threads = 0;
    assert!(matches!(Embedder::load(cfg).unwrap_err(), EmbedError::InvalidConfig(_)));

    // the graph mean-pools; asking for CLS pooling cannot be honoured
    let mut cfg = EmbedderConfig::from_dir(model_dir());
    cfg.pooling = Pooling::Cls;
    let err = Embedder::load(cfg).unwrap_err();
    assert!(err.to_string().contains("pools with \"mean\""), "{err}");
}

#[test]
fn chunk_arguments_are_checked_before_tokenizing() {
    let e = embedder();
    let err = e.chunk_text("some text", 0, 0).unwrap_err();
    assert_eq!(err.sqlstate(), "22023");
    let err = e.chunk_text("some text", 10, 12).unwrap_err();
    assert!(err.to_string().contains("must be smaller than the chunk size"), "{err}");
}

// --- a hand-written ONNX protobuf, so odd graphs need no Python -----------------------------

const FLOAT: u64 = 1;
const INT64: u64 = 7;
const CAST_FIRST_INPUT: &str = "Cast";
const IDENTITY_FIRST_INPUT: &str = "Identity";

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn field_varint(field: u64, v: u64, out: &mut Vec<u8>) {
    varint(field << 3, out);
    varint(v, out);
}

fn field_bytes(field: u64, bytes: &[u8], out: &mut Vec<u8>) {
    varint((field << 3) | 2, out);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// ValueInfoProto of a [batch, sequence] tensor.
fn value_info(name: &str, elem_type: u64) -> Vec<u8> {
    let dim = |param: &str| {
        let mut d = Vec::new();
        field_bytes(2, param.as_bytes(), &mut d); // Dimension.dim_param
        d
    };
    let mut shape = Vec::new();
    field_bytes(1, &dim("batch"), &mut shape);
    field_bytes(1, &dim("sequence"), &mut shape);
    let mut tensor = Vec::new();
    field_varint(1, elem_type, &mut tensor); // elem_type
    field_bytes(2, &shape, &mut tensor); // shape
    let mut ty = Vec::new();
    field_bytes(1, &tensor, &mut ty); // TypeProto.tensor_type
    let mut vi = Vec::new();
    field_bytes(1, name.as_bytes(), &mut vi);
    field_bytes(2, &ty, &mut vi);
    vi
}

/// A one-node model: `op` (Cast to float, or Identity) from the first input to output "y".
fn tiny_onnx(inputs: &[(&str, u64)], op: &str) -> Vec<u8> {
    let mut node = Vec::new();
    field_bytes(1, inputs[0].0.as_bytes(), &mut node); // input
    field_bytes(2, b"y", &mut node); // output
    field_bytes(4, op.as_bytes(), &mut node); // op_type
    let out_type = if op == "Cast" {
        let mut attr = Vec::new();
        field_bytes(1, b"to", &mut attr); // name
        field_varint(3, FLOAT, &mut attr); // i
        field_varint(20, 2, &mut attr); // type = INT
        field_bytes(5, &attr, &mut node);
        FLOAT
    } else {
        inputs[0].1
    };
    let mut graph = Vec::new();
    field_bytes(1, &node, &mut graph);
    field_bytes(2, b"tiny", &mut graph);
    for (name, ty) in inputs {
        field_bytes(11, &value_info(name, *ty), &mut graph);
    }
    field_bytes(12, &value_info("y", out_type), &mut graph);
    let mut opset = Vec::new();
    field_bytes(1, b"", &mut opset);
    field_varint(2, 17, &mut opset);
    let mut model = Vec::new();
    field_varint(1, 8, &mut model); // ir_version
    field_bytes(7, &graph, &mut model);
    field_bytes(8, &opset, &mut model);
    model
}
