//! Errors the glue turns into `ereport!`.

/// An error of this crate; [`Bm25IndexError::sqlstate`] gives its 5-character code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Bm25IndexError {
    /// Block 0 does not hold our meta tuple, or a page on a chain is not the kind expected.
    #[error("bm25 index is not valid: {0}")]
    NotValid(String),
    /// A lexeme longer than a tsvector can hold.
    #[error("lexeme of {len} bytes exceeds the maximum of {max}")]
    LexemeTooLong { len: usize, max: usize },
    /// A query value that does not fit the scan (e.g. weights of another length than its lexemes).
    #[error("invalid bm25 query: {0}")]
    BadQuery(String),
}

impl Bm25IndexError {
    /// The SQLSTATE to report.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            // ERRCODE_INDEX_CORRUPTED
            Bm25IndexError::NotValid(_) => "XX002",
            // ERRCODE_PROGRAM_LIMIT_EXCEEDED
            Bm25IndexError::LexemeTooLong { .. } => "54000",
            // ERRCODE_INVALID_PARAMETER_VALUE
            Bm25IndexError::BadQuery(_) => "22023",
        }
    }
}

pub(crate) fn not_valid(what: impl Into<String>) -> Bm25IndexError {
    Bm25IndexError::NotValid(what.into())
}
