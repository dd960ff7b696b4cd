//! Loading ONNX Runtime: clear errors for a missing or wrong library, then idempotent success.
//! One test function, because the order matters: the process can load the runtime only once.

mod common;

use std::path::Path;

use semvec_embed::{init_runtime, runtime_path, runtime_version, EmbedError, Embedder, EmbedderConfig, SETUP_SCRIPT};

#[test]
fn runtime_errors_are_clear_and_a_good_load_is_idempotent() {
    let real = common::ort_lib();
    let scratch = std::env::temp_dir().join(format!("semvec-embed-rt-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();

    // Before any runtime: models cannot load, and say why.
    let err = Embedder::load(EmbedderConfig::from_dir(common::model_dir())).unwrap_err();
    assert!(matches!(err, EmbedError::RuntimeNotInitialized), "{err:?}");
    assert_eq!(err.sqlstate(), "55000");

    // Missing file.
    let err = init_runtime(Path::new("/nonexistent/lib/libonnxruntime.so.1.32.0")).unwrap_err();
    assert!(matches!(err, EmbedError::RuntimeMissing { .. }), "{err:?}");
    assert!(err.hint().unwrap().contains(SETUP_SCRIPT));

    // A file that is not a shared library at all.
    let garbage = scratch.join("libonnxruntime.so");
    std::fs::write(&garbage, b"not an ELF file").unwrap();
    let err = init_runtime(&garbage).unwrap_err();
    assert!(matches!(err, EmbedError::RuntimeLoad { .. }), "{err:?}");
    assert!(err.to_string().contains(garbage.to_str().unwrap()), "{err}");
    assert_eq!(err.sqlstate(), "58000");

    // A real shared library that is not ONNX Runtime.
    if let Some(libm) = [
        "/lib/x86_64-linux-gnu/libm.so.6",
        "/lib/aarch64-linux-gnu/libm.so.6",
        "/lib64/libm.so.6",
    ]
    .iter()
    .map(Path::new)
    .find(|p| p.exists())
    {
        let err = init_runtime(libm).unwrap_err();
        assert!(matches!(err, EmbedError::RuntimeLoad { .. }), "{err:?}");
        assert!(err.to_string().contains("OrtGetApiBase"), "{err}");
    }
    assert!(runtime_path().is_none(), "failed loads leave nothing behind");

    // The real one, twice.
    init_runtime(&real).unwrap();
    init_runtime(&real).unwrap();
    assert_eq!(runtime_path().as_deref(), Some(real.as_path()));
    let version = runtime_version().unwrap();
    assert!(version.starts_with("1.32"), "version {version}");
    // Once loaded, the runtime stays: a later call with another path is a no-op.
    init_runtime(Path::new("/nonexistent/other.so")).unwrap();
    assert_eq!(runtime_path().as_deref(), Some(real.as_path()));

    // And now models load.
    let e = Embedder::load(EmbedderConfig::from_dir(common::model_dir())).unwrap();
    assert_eq!(e.dim(), 384);
    std::fs::remove_dir_all(&scratch).unwrap();
}
