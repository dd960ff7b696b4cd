//! Index access methods.

pub mod hnsw;
pub mod storage;
