//! Index access methods.

pub mod hnsw;
pub mod ivfflat;
pub mod storage;

use pgrx::pg_sys;

/// Report one `pg_stat_progress_create_index` field.
pub fn progress(param: u32, value: i64) {
    unsafe { pg_sys::pgstat_progress_update_param(param as i32, value) }
}

/// Threads for a parallel build: the leader plus `max_parallel_maintenance_workers`, at most the
/// machine's cores.
pub fn build_threads() -> usize {
    let allowed = unsafe { pg_sys::max_parallel_maintenance_workers }.max(0) as usize + 1;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    allowed.min(cores).max(1)
}

/// Whether pages written in bulk by a build must be WAL-logged: always for an init fork, otherwise
/// for permanent relations.
pub unsafe fn needs_wal(index: pg_sys::Relation, fork: pg_sys::ForkNumber::Type) -> bool {
    unsafe {
        fork == pg_sys::ForkNumber::INIT_FORKNUM
            || (*(*index).rd_rel).relpersistence == pg_sys::RELPERSISTENCE_PERMANENT as std::ffi::c_char
    }
}

/// The palloc'd result of `ambuild`.
pub fn build_result(heap_tuples: f64, index_tuples: f64) -> *mut pg_sys::IndexBuildResult {
    unsafe {
        let r = pgrx::PgBox::<pg_sys::IndexBuildResult>::alloc0().into_pg();
        (*r).heap_tuples = heap_tuples;
        (*r).index_tuples = index_tuples;
        r
    }
}
