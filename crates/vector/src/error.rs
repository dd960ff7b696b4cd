//! The one error type of this crate: pgvector's message text plus the
//! SQLSTATE the extension must raise it with.

use std::fmt;

/// SQLSTATE codes used by pgvector's checks.
pub mod sqlstate {
    /// `ERRCODE_INVALID_TEXT_REPRESENTATION`
    pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
    /// `ERRCODE_DATA_EXCEPTION`
    pub const DATA_EXCEPTION: &str = "22000";
    /// `ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE`
    pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
    /// `ERRCODE_NULL_VALUE_NOT_ALLOWED`
    pub const NULL_VALUE_NOT_ALLOWED: &str = "22004";
    /// `ERRCODE_INVALID_PARAMETER_VALUE`
    pub const INVALID_PARAMETER_VALUE: &str = "22023";
    /// `ERRCODE_PROGRAM_LIMIT_EXCEEDED`
    pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
    /// `ERRCODE_PROTOCOL_VIOLATION`, raised by `pq_getmsg*` on short input.
    pub const PROTOCOL_VIOLATION: &str = "08P01";
    /// `ERRCODE_INTERNAL_ERROR`, what `elog(ERROR, ...)` raises.
    pub const INTERNAL_ERROR: &str = "XX000";
}

/// A user-facing error with pgvector's exact wording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VecError {
    /// Five-character SQLSTATE, e.g. `"22P02"`.
    pub code: &'static str,
    /// Primary message (`errmsg`).
    pub message: String,
    /// Optional `errdetail`.
    pub detail: Option<String>,
    /// Optional `errhint`.
    pub hint: Option<String>,
}

impl VecError {
    /// An error with only a message.
    pub fn new(code: &'static str, message: impl Into<String>) -> VecError {
        VecError {
            code,
            message: message.into(),
            detail: None,
            hint: None,
        }
    }

    /// Adds an `errdetail`.
    pub fn with_detail(mut self, detail: impl Into<String>) -> VecError {
        self.detail = Some(detail.into());
        self
    }

    /// Adds an `errhint`.
    pub fn with_hint(mut self, hint: impl Into<String>) -> VecError {
        self.hint = Some(hint.into());
        self
    }

    /// `invalid input syntax for type T: "lit"` (22P02).
    pub(crate) fn syntax(typname: &str, lit: &str) -> VecError {
        VecError::new(
            sqlstate::INVALID_TEXT_REPRESENTATION,
            format!("invalid input syntax for type {typname}: \"{lit}\""),
        )
    }

    /// PostgreSQL's `float_overflow_error()`.
    pub fn float_overflow() -> VecError {
        VecError::new(sqlstate::NUMERIC_VALUE_OUT_OF_RANGE, "value out of range: overflow")
    }

    /// PostgreSQL's `float_underflow_error()`.
    pub fn float_underflow() -> VecError {
        VecError::new(sqlstate::NUMERIC_VALUE_OUT_OF_RANGE, "value out of range: underflow")
    }
}

impl fmt::Display for VecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for VecError {}
