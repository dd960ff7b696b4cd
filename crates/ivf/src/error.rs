//! Errors the glue turns into `ereport!`, with pgvector's texts and SQLSTATEs.

/// An error of this crate; [`IvfError::sqlstate`] gives its 5-character code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IvfError {
    /// The build needs more memory than `maintenance_work_mem` allows (pgvector's check and
    /// wording; `required_mb` is rounded up).
    #[error("memory required is {required_mb} MB, maintenance_work_mem is {budget_mb} MB")]
    MemoryRequired { required_mb: usize, budget_mb: usize },
    /// Block 0 does not hold our meta tuple, or a list page is damaged.
    #[error("ivfflat index is not valid")]
    NotValid,
    /// An entry does not fit on an empty page (cannot happen within the dimension limits).
    #[error("index row size {size} exceeds maximum {max}")]
    EntryTooLarge { size: usize, max: usize },
    /// A query or row has other dimensions than the index.
    #[error("expected {expected} bytes per vector, not {actual}")]
    PayloadSize { expected: usize, actual: usize },
    /// The build was cancelled from outside (query cancel).
    #[error("canceling statement due to user request")]
    Cancelled,
}

impl IvfError {
    /// The SQLSTATE to report.
    pub fn sqlstate(&self) -> &'static str {
        match self {
            // ERRCODE_PROGRAM_LIMIT_EXCEEDED
            IvfError::MemoryRequired { .. } | IvfError::EntryTooLarge { .. } => "54000",
            // elog(ERROR): ERRCODE_INTERNAL_ERROR, as pgvector
            IvfError::NotValid => "XX000",
            // ERRCODE_DATA_EXCEPTION
            IvfError::PayloadSize { .. } => "22000",
            // ERRCODE_QUERY_CANCELED
            IvfError::Cancelled => "57014",
        }
    }
}

/// pgvector's memory check: an error when `bytes` exceed `budget_kb` (maintenance_work_mem).
pub fn check_memory(bytes: usize, budget_kb: usize) -> Result<(), IvfError> {
    if bytes / 1024 > budget_kb {
        return Err(IvfError::MemoryRequired {
            required_mb: bytes / (1024 * 1024) + 1,
            budget_mb: budget_kb / 1024,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_check_rounds_like_pgvector() {
        assert!(check_memory(1024 * 1024, 1024).is_ok());
        let e = check_memory(1024 * 1024 + 1024, 1024).unwrap_err();
        assert_eq!(e.to_string(), "memory required is 2 MB, maintenance_work_mem is 1 MB");
        assert_eq!(e.sqlstate(), "54000");
    }
}
