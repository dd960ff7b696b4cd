//! Content hash of model files, for the model registry.

use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::EmbedError;

/// Lowercase hex SHA-256 of the file's bytes.
pub fn sha256_file(path: impl AsRef<Path>) -> Result<String, EmbedError> {
    let path = path.as_ref();
    let io = |source: std::io::Error| EmbedError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_known_content_matches_the_standard_digest() {
        let dir = std::env::temp_dir().join(format!("semvec-embed-hash-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("abc.txt");
        std::fs::write(&f, b"abc").unwrap();
        assert_eq!(
            sha256_file(&f).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let empty = dir.join("empty.txt");
        std::fs::write(&empty, b"").unwrap();
        assert_eq!(
            sha256_file(&empty).unwrap(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sha256_of_missing_file_is_an_io_error_naming_the_path() {
        let err = sha256_file("/nonexistent/semvec/model.onnx").unwrap_err();
        assert_eq!(err.sqlstate(), "58030");
        assert!(err.to_string().contains("/nonexistent/semvec/model.onnx"), "{err}");
    }
}
