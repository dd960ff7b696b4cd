//! semvec: pgvector-compatible vector types, an HNSW index, in-database embedding and hybrid search.
//!
//! This crate is only glue between PostgreSQL and the pure-Rust core crates under `crates/`.
//! Every SQL object is declared by hand in `sql/*.sql`; the C-callable functions those scripts name
//! are defined with [`pg_fn!`](crate::fmgr) in the modules below.

use pgrx::prelude::*;

pgrx::pg_module_magic!();

#[macro_use]
pub mod fmgr;
pub mod datatype;
pub mod error;
pub mod gucs;

pgrx::extension_sql_file!("../sql/vector.sql", name = "vector_sql", bootstrap);

#[allow(non_snake_case)]
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    gucs::init();
}

#[cfg(any(test, feature = "pg_test"))]
#[pg_schema]
mod tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
