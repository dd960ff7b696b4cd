//! semvec-bench: runs the same vector-search workload against semvec (PostgreSQL 15) and pgvector
//! (PostgreSQL 18) and prints the figures side by side. See benches/README.md.

pub mod bm25bench;
pub mod bm25corpus;
pub mod datasets;
pub mod exact;
pub mod pgvec;
pub mod report;
pub mod runner;
pub mod vecio;
