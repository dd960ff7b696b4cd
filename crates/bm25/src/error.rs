//! Errors with the SQLSTATE and message text the extension reports verbatim.

use std::fmt;

/// SQLSTATE `22023`.
pub const INVALID_PARAMETER_VALUE: &str = "22023";
/// SQLSTATE `XX001`: a stored value does not have the layout it should.
pub const DATA_CORRUPTED: &str = "XX001";

#[derive(Debug, Clone, PartialEq)]
pub struct Bm25Error {
    /// Five-character SQLSTATE.
    pub code: &'static str,
    pub message: String,
    pub detail: Option<String>,
    pub hint: Option<String>,
}

impl Bm25Error {
    pub(crate) fn invalid_parameter(message: String, hint: Option<&str>) -> Self {
        Bm25Error {
            code: INVALID_PARAMETER_VALUE,
            message,
            detail: None,
            hint: hint.map(str::to_owned),
        }
    }

    pub(crate) fn corrupted(detail: String) -> Self {
        Bm25Error {
            code: DATA_CORRUPTED,
            message: "invalid tsvector value".to_owned(),
            detail: Some(detail),
            hint: None,
        }
    }
}

/// A float the way PostgreSQL prints one in messages (`NaN`, `Infinity`, `-Infinity`).
pub(crate) fn pg_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_owned()
    } else if v.is_infinite() {
        if v > 0.0 { "Infinity" } else { "-Infinity" }.to_owned()
    } else {
        v.to_string()
    }
}

impl fmt::Display for Bm25Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)
    }
}

impl std::error::Error for Bm25Error {}
