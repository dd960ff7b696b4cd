//! One place where core-crate errors become PostgreSQL errors with pgvector's SQLSTATEs.

use pgrx::pg_sys::errcodes::PgSqlErrorCode;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgLogLevel;

/// Encode a five-character SQLSTATE the way PostgreSQL's `MAKE_SQLSTATE` does.
pub fn sqlstate(code: &str) -> PgSqlErrorCode {
    let b = code.as_bytes();
    assert!(b.len() == 5, "SQLSTATE must have 5 characters");
    let mut v: i32 = 0;
    for (i, ch) in b.iter().enumerate() {
        v += (((*ch as i32) - ('0' as i32)) & 0x3F) << (6 * i);
    }
    PgSqlErrorCode::from(v)
}

/// Raise an ERROR with the given SQLSTATE, message and optional detail/hint. Never returns.
pub fn raise(code: &str, message: impl Into<String>, detail: Option<String>, hint: Option<String>) -> ! {
    let mut report = ErrorReport::new(sqlstate(code), message.into(), "semvec");
    if let Some(d) = detail {
        report = report.set_detail(d);
    }
    if let Some(h) = hint {
        report = report.set_hint(h);
    }
    report.report(PgLogLevel::ERROR);
    unreachable!("ERROR-level report returned")
}

/// Raise a core-crate vector error.
pub fn raise_vec(e: semvec_vector::VecError) -> ! {
    raise(e.code, e.message, e.detail, e.hint)
}

/// Unwrap a core result or raise its error.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaise<T> for Result<T, semvec_vector::VecError> {
    #[inline]
    fn or_raise(self) -> T {
        match self {
            Ok(v) => v,
            Err(e) => raise_vec(e),
        }
    }
}

pub const DATA_EXCEPTION: &str = "22000";
pub const INVALID_PARAMETER_VALUE: &str = "22023";
pub const NULL_VALUE_NOT_ALLOWED: &str = "22004";
pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
pub const UNDEFINED_OBJECT: &str = "42704";
pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
