//! The one error path: every core-crate error and every error the glue raises itself becomes a
//! PostgreSQL ERROR here, with pgvector's SQLSTATEs and wording. Core crates describe their
//! errors through [`SqlError`]; nothing else calls `ereport`.

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
    if code == QUERY_CANCELED {
        // A core crate noticed the interrupt flag: let Postgres raise its own error (a statement
        // timeout and a user cancel share the flag but not the message).
        pgrx::check_for_interrupts!();
    }
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

/// A core-crate error as PostgreSQL reports it.
pub trait SqlError {
    /// Five-character SQLSTATE.
    fn sqlstate(&self) -> &'static str;
    /// `errmsg`.
    fn message(&self) -> String;
    /// `errdetail`.
    fn detail(&self) -> Option<String> {
        None
    }
    /// `errhint`.
    fn hint(&self) -> Option<String> {
        None
    }
    /// Whether pgvector's wording ends by naming the index (`... for index "items_v_idx"`).
    fn names_index(&self) -> bool {
        false
    }
}

/// Raise `e`. Never returns.
pub fn raise_error(e: &impl SqlError) -> ! {
    raise(e.sqlstate(), e.message(), e.detail(), e.hint())
}

/// Raise `e`, an error of the index named `index`. Never returns.
pub fn raise_index_error(index: &str, e: &impl SqlError) -> ! {
    let message = if e.names_index() {
        format!("{} for index \"{index}\"", e.message())
    } else {
        e.message()
    };
    raise(e.sqlstate(), message, e.detail(), e.hint())
}

/// Unwrap a core result or raise its error.
pub trait OrRaise<T> {
    fn or_raise(self) -> T;
}

impl<T, E: SqlError> OrRaise<T> for Result<T, E> {
    #[inline]
    fn or_raise(self) -> T {
        self.unwrap_or_else(|e| raise_error(&e))
    }
}

/// Errors that carry their SQLSTATE, message, detail and hint as fields.
macro_rules! sql_error_fields {
    ($($t:ty),*) => {$(
        impl SqlError for $t {
            fn sqlstate(&self) -> &'static str {
                self.code
            }
            fn message(&self) -> String {
                self.message.clone()
            }
            fn detail(&self) -> Option<String> {
                self.detail.clone()
            }
            fn hint(&self) -> Option<String> {
                self.hint.clone()
            }
        }
    )*};
}
sql_error_fields!(semvec_vector::VecError, semvec_bm25::Bm25Error);

impl SqlError for semvec_embed::EmbedError {
    fn sqlstate(&self) -> &'static str {
        semvec_embed::EmbedError::sqlstate(self)
    }
    fn message(&self) -> String {
        self.to_string()
    }
    fn hint(&self) -> Option<String> {
        semvec_embed::EmbedError::hint(self)
    }
}

impl SqlError for semvec_hnsw::HnswError {
    fn sqlstate(&self) -> &'static str {
        semvec_hnsw::HnswError::sqlstate(self)
    }
    fn message(&self) -> String {
        self.to_string()
    }
    fn names_index(&self) -> bool {
        matches!(self, semvec_hnsw::HnswError::ElementTooLarge { .. })
    }
}

impl SqlError for semvec_ivf::IvfError {
    fn sqlstate(&self) -> &'static str {
        semvec_ivf::IvfError::sqlstate(self)
    }
    fn message(&self) -> String {
        self.to_string()
    }
    fn names_index(&self) -> bool {
        matches!(self, semvec_ivf::IvfError::EntryTooLarge { .. })
    }
}

impl SqlError for semvec_hnsw::BuildError {
    fn sqlstate(&self) -> &'static str {
        semvec_hnsw::BuildError::sqlstate(self)
    }
    fn message(&self) -> String {
        match self {
            semvec_hnsw::BuildError::Cancelled(c) => c.message(),
            semvec_hnsw::BuildError::Hnsw(e) => e.message(),
        }
    }
    fn names_index(&self) -> bool {
        matches!(self, semvec_hnsw::BuildError::Hnsw(e) if e.names_index())
    }
}

impl SqlError for semvec_bm25index::Bm25IndexError {
    fn sqlstate(&self) -> &'static str {
        semvec_bm25index::Bm25IndexError::sqlstate(self)
    }
    fn message(&self) -> String {
        self.to_string()
    }
}

impl SqlError for semvec_hnsw::Cancelled {
    fn sqlstate(&self) -> &'static str {
        QUERY_CANCELED
    }
    fn message(&self) -> String {
        "canceling statement due to user request".into()
    }
}

// Every SQLSTATE the glue raises, by PostgreSQL's name (errcodes.txt).
pub const DATA_EXCEPTION: &str = "22000";
pub const NUMERIC_VALUE_OUT_OF_RANGE: &str = "22003";
pub const NULL_VALUE_NOT_ALLOWED: &str = "22004";
pub const INVALID_PARAMETER_VALUE: &str = "22023";
pub const INVALID_TEXT_REPRESENTATION: &str = "22P02";
pub const FEATURE_NOT_SUPPORTED: &str = "0A000";
pub const INSUFFICIENT_PRIVILEGE: &str = "42501";
pub const UNDEFINED_OBJECT: &str = "42704";
pub const DUPLICATE_OBJECT: &str = "42710";
pub const WRONG_OBJECT_TYPE: &str = "42809";
pub const UNDEFINED_TABLE: &str = "42P01";
pub const PROGRAM_LIMIT_EXCEEDED: &str = "54000";
pub const QUERY_CANCELED: &str = "57014";
pub const UNDEFINED_FILE: &str = "58P01";
pub const INTERNAL_ERROR: &str = "XX000";
