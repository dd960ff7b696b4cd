//! semvec: pgvector-compatible vector types, an HNSW index, in-database embedding and hybrid search.
//!
//! This crate is only glue between PostgreSQL and the pure-Rust core crates under `crates/`.
//! Every SQL object is declared by hand in `sql/*.sql`; the C-callable functions those scripts name
//! are defined with [`pg_fn!`](crate::fmgr) in the modules below.

use pgrx::prelude::*;

pgrx::pg_module_magic!(name, version);

#[macro_use]
pub mod fmgr;
pub mod compat;
pub mod datatype;
pub mod embed;
pub mod error;
pub mod gucs;
pub mod hybrid;
pub mod index;
pub mod shard;
pub mod vectorizer;

pgrx::extension_sql_file!("../sql/vector.sql", name = "vector_sql", bootstrap);
pgrx::extension_sql_file!("../sql/hnsw.sql", name = "hnsw_sql", requires = ["vector_sql"]);
pgrx::extension_sql_file!("../sql/halfvec.sql", name = "halfvec_sql", requires = ["vector_sql"]);
pgrx::extension_sql_file!("../sql/sparsevec.sql", name = "sparsevec_sql", requires = ["halfvec_sql"]);
pgrx::extension_sql_file!("../sql/bit.sql", name = "bit_sql", requires = ["vector_sql"]);
pgrx::extension_sql_file!(
    "../sql/hnsw_types.sql",
    name = "hnsw_types_sql",
    requires = ["hnsw_sql", "halfvec_sql", "sparsevec_sql", "bit_sql"]
);
pgrx::extension_sql_file!("../sql/check.sql", name = "check_sql", requires = ["hnsw_sql"]);
pgrx::extension_sql_file!("../sql/ivfflat.sql", name = "ivfflat_sql", requires = ["hnsw_sql"]);
pgrx::extension_sql_file!(
    "../sql/ivfflat_types.sql",
    name = "ivfflat_types_sql",
    requires = ["ivfflat_sql", "halfvec_sql", "bit_sql"]
);
pgrx::extension_sql_file!("../sql/embed.sql", name = "embed_sql", requires = ["hnsw_sql"], finalize);
pgrx::extension_sql_file!("../sql/hybrid.sql", name = "hybrid_sql", requires = ["hnsw_sql"]);
pgrx::extension_sql_file!("../sql/bm25index.sql", name = "bm25index_sql", requires = ["hybrid_sql"]);
pgrx::extension_sql_file!("../sql/shard.sql", name = "shard_sql", requires = ["bm25index_sql"]);
pgrx::extension_sql_file!("../sql/vectorizer.sql", name = "vectorizer_sql", requires = ["shard_sql"]);

#[allow(non_snake_case)]
#[pg_guard]
pub extern "C-unwind" fn _PG_init() {
    // Errors raised by PostgreSQL inside our calls travel through Rust unwinding; without this a
    // server started with RUST_BACKTRACE=1 would append a Rust backtrace to every user error's
    // DETAIL. Set RUST_LIB_BACKTRACE yourself to get them back when debugging.
    if std::env::var_os("RUST_LIB_BACKTRACE").is_none() {
        // SAFETY: _PG_init runs on the backend's only thread, before any thread is started.
        unsafe { std::env::set_var("RUST_LIB_BACKTRACE", "0") };
    }
    gucs::init();
    index::hnsw::init();
    index::ivfflat::init();
    index::bm25::init();
    vectorizer::init();
    shard::init();
}

#[cfg(any(test, feature = "pg_test"))]
mod tests;

/// Required by `cargo pgrx test`.
#[cfg(test)]
pub mod pg_test {
    pub fn setup(_options: Vec<&str>) {}

    pub fn postgresql_conf_options() -> Vec<&'static str> {
        vec![]
    }
}
