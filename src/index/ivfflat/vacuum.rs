//! ambulkdelete / amvacuumcleanup: remove the entries of dead rows and report counts.

use super::raise_ivf;
use crate::index::hnsw::build::tid_item_pointer;
use crate::index::storage::{Logging, PgRelation};
use pgrx::pg_sys;
use semvec_hnsw::RelationRead;

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambulkdelete(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    callback: pg_sys::IndexBulkDeleteCallback,
    callback_state: *mut std::ffi::c_void,
) -> *mut pg_sys::IndexBulkDeleteResult {
    unsafe {
        let stats = if stats.is_null() { pgrx::PgBox::<pg_sys::IndexBulkDeleteResult>::alloc0().into_pg() } else { stats };
        let index = (*info).index;
        let rel = PgRelation::new(index, Logging::Generic);
        let callback = callback.expect("bulk delete callback");
        let mut ip = pg_sys::ItemPointerData::default();
        let res = semvec_ivf::bulk_delete(
            &rel,
            |tid| {
                tid_item_pointer(tid, &mut ip);
                callback(&mut ip, callback_state)
            },
            || {
                pg_sys::vacuum_delay_point();
                pgrx::check_for_interrupts!();
            },
        )
        .unwrap_or_else(|e| raise_ivf(index, e));
        (*stats).num_pages = res.pages;
        (*stats).tuples_removed += res.removed as f64;
        (*stats).num_index_tuples = res.remaining as f64;
        stats
    }
}

/// Like pgvector: nothing to report when no bulk delete ran (the index did not change).
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amvacuumcleanup(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
) -> *mut pg_sys::IndexBulkDeleteResult {
    unsafe {
        if (*info).analyze_only || stats.is_null() {
            return stats;
        }
        (*stats).num_pages = PgRelation::new((*info).index, Logging::Generic).nblocks();
        stats
    }
}
