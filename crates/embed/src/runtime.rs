//! Loading the ONNX Runtime shared library once per process.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::no_panic;
use crate::EmbedError;

struct Runtime {
    path: PathBuf,
    version: String,
    env: ort::environment::Environment,
}

/// ONNX Runtime can be loaded once per process; the first successful load wins.
static RUNTIME: Mutex<Option<Runtime>> = Mutex::new(None);

/// Loads ONNX Runtime from `lib_path` (e.g. `.../lib/libonnxruntime.so.1.32.0`) and creates the
/// process-wide environment.
///
/// Idempotent: once a runtime is loaded, later calls return `Ok(())` without loading anything,
/// whatever path they name (a process cannot swap runtimes; see [`runtime_path`]). A failed
/// call leaves nothing behind, so it can be retried with a better path.
pub fn init_runtime(lib_path: &Path) -> Result<(), EmbedError> {
    let mut slot = RUNTIME.lock().unwrap_or_else(|e| e.into_inner());
    if slot.is_some() {
        return Ok(());
    }
    if !lib_path.is_file() {
        return Err(EmbedError::RuntimeMissing {
            path: lib_path.to_path_buf(),
        });
    }
    let load_err = |reason: String| EmbedError::RuntimeLoad {
        path: lib_path.to_path_buf(),
        reason,
    };
    let env = no_panic("loading ONNX Runtime", || {
        let builder = ort::init_from(lib_path).map_err(|e| load_err(e.to_string()))?;
        builder
            .with_name("semvec")
            .with_telemetry(false)
            .build()
            .map_err(|e| load_err(e.to_string()))
    })?;
    let version = library_version(lib_path).unwrap_or_else(|| "unknown".to_string());
    *slot = Some(Runtime {
        path: lib_path.to_path_buf(),
        version,
        env,
    });
    Ok(())
}

/// The library the process's runtime was loaded from, if any.
pub fn runtime_path() -> Option<PathBuf> {
    RUNTIME.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map(|r| r.path.clone())
}

/// The version the loaded runtime reports (e.g. "1.32.0").
pub fn runtime_version() -> Option<String> {
    RUNTIME
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|r| r.version.clone())
}

/// Asks an already loaded ONNX Runtime library for its version (OrtGetApiBase()->GetVersionString()).
fn library_version(path: &Path) -> Option<String> {
    // SAFETY: the library was just loaded by ort from this path, so opening it again only bumps
    // its reference count, and OrtGetApiBase has this signature in every ONNX Runtime release.
    unsafe {
        let lib = libloading::Library::new(path).ok()?;
        let get_base: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> = lib.get(b"OrtGetApiBase").ok()?;
        let base = get_base();
        if base.is_null() {
            return None;
        }
        let version = ((*base).GetVersionString)();
        if version.is_null() {
            return None;
        }
        Some(std::ffi::CStr::from_ptr(version).to_string_lossy().into_owned())
    }
}

pub(crate) fn environment() -> Result<ort::environment::Environment, EmbedError> {
    RUNTIME
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .as_ref()
        .map(|r| r.env.clone())
        .ok_or(EmbedError::RuntimeNotInitialized)
}
