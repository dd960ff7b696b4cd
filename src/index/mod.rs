//! Index access methods.

pub mod hnsw;
pub mod ivfflat;
pub mod storage;
