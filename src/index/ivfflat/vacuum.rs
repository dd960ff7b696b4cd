//! ambulkdelete / amvacuumcleanup: remove the entries of dead rows and report counts.

use crate::index::am::{bulk_delete_result, vacuum_checkpoint, BulkDeleteCounts, DeadTids, OrRaiseFor};
use crate::index::storage::{Logging, PgRelation};
use pgrx::pg_sys;
use semvec_storage::RelationRead;

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambulkdelete(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    callback: pg_sys::IndexBulkDeleteCallback,
    callback_state: *mut std::ffi::c_void,
) -> *mut pg_sys::IndexBulkDeleteResult {
    unsafe {
        let index = (*info).index;
        let rel = PgRelation::new(index, Logging::Generic);
        let mut dead = DeadTids::new(callback, callback_state);
        let res = semvec_ivf::bulk_delete(&rel, |tid| dead.is_dead(tid), vacuum_checkpoint).or_raise_for(index);
        bulk_delete_result(
            stats,
            BulkDeleteCounts {
                pages: res.pages,
                removed: res.removed,
                remaining: res.remaining,
            },
        )
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
