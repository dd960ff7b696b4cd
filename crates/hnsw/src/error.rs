//! Errors the glue turns into `ereport!`, with pgvector's texts and SQLSTATEs.

/// An error of this crate; [`HnswError::sqlstate`] gives its 5-character code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HnswError {
    /// An element tuple does not fit on a page. The glue prefixes pgvector's
    /// full text: `index row size {size} exceeds maximum {max} for index "{name}"`.
    #[error("index row size {size} exceeds maximum {max}")]
    ElementTooLarge { size: usize, max: usize },
    /// Block 0 does not hold our meta tuple.
    #[error("index is not a valid hnsw index")]
    NotAnIndex,
    /// `WITH (m = .., ef_construction = ..)` violates pgvector's rule.
    #[error("ef_construction must be greater than or equal to 2 * m")]
    EfConstructionTooSmall,
    /// The stored vector has another number of dimensions than the index.
    #[error("expected {expected} dimensions, not {actual}")]
    DimensionMismatch { expected: u32, actual: u32 },
}

impl HnswError {
    /// The SQLSTATE to report.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            // ERRCODE_PROGRAM_LIMIT_EXCEEDED
            HnswError::ElementTooLarge { .. } => "54000",
            // ERRCODE_INDEX_CORRUPTED
            HnswError::NotAnIndex => "XX002",
            // ERRCODE_INVALID_PARAMETER_VALUE
            HnswError::EfConstructionTooSmall => "22023",
            // ERRCODE_DATA_EXCEPTION
            HnswError::DimensionMismatch { .. } => "22000",
        }
    }
}
