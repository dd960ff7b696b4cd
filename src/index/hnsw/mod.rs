//! The `hnsw` index access method, one file per callback group (like pgvector's hnsw*.c):
//! `build` (ambuild, ambuildempty), `insert` (aminsert), `scan` (ambeginscan, amrescan,
//! amgettuple, amendscan), `vacuum` (ambulkdelete, amvacuumcleanup), `cost`, `options`.
//! The graph algorithms live in the `semvec-hnsw` crate.

pub mod build;
pub mod check;
pub mod cost;
pub mod insert;
pub mod keys;
pub mod opclass;
pub mod options;
pub mod paths;
pub mod returned;
pub mod scan;
pub mod vacuum;

/// `pg_stat_progress_create_index.phase` values reported during a build (after PostgreSQL's own).
pub const PHASE_LOAD: i64 = 2;
pub const PHASE_GRAPH: i64 = 3;
pub const PHASE_WRITE: i64 = 4;

pub fn init() {
    options::init();
    paths::init();
}

pg_fn!(fn semvec_hnsw_handler(_fcinfo) { crate::index::am_handler_routine!(3, true) });

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn ambuildphasename(phase: i64) -> *mut std::ffi::c_char {
    let name: &'static std::ffi::CStr = match phase {
        1 => c"initializing",
        PHASE_LOAD => c"loading tuples",
        PHASE_GRAPH => c"building graph",
        PHASE_WRITE => c"writing index",
        _ => return std::ptr::null_mut(),
    };
    name.as_ptr() as *mut _
}
