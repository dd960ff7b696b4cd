//! ambulkdelete / amvacuumcleanup: drop dead heap TIDs, repair neighbour lists around deleted
//! elements so every live element stays reachable, and report counts.

use super::opclass::IndexType;
use crate::index::am::{bulk_delete_result, new_stats_if_null, vacuum_checkpoint, BulkDeleteCounts, DeadTids, OrRaiseFor};
use crate::index::storage::{Logging, PgRelation};
use pgrx::pg_sys;
use semvec_hnsw::{bulk_delete_with, count_tuples, RelationRead};

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
        let metric = IndexType::cached(index).metric();
        let mut dead = DeadTids::new(callback, callback_state);
        let res = bulk_delete_with(&rel, &metric, |tid| dead.is_dead(tid), vacuum_checkpoint).or_raise_for(index);
        bulk_delete_result(
            stats,
            BulkDeleteCounts {
                pages: res.pages,
                removed: res.heap_tuples_removed,
                remaining: res.heap_tuples_remaining,
            },
        )
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amvacuumcleanup(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
) -> *mut pg_sys::IndexBulkDeleteResult {
    unsafe {
        if (*info).analyze_only {
            return stats;
        }
        let rel = PgRelation::new((*info).index, Logging::Generic);
        let stats = if stats.is_null() {
            // No bulk delete ran: count what the index holds.
            let s = new_stats_if_null(stats);
            (*s).num_index_tuples = count_tuples(&rel).0 as f64;
            s
        } else {
            stats
        };
        (*stats).num_pages = rel.nblocks();
        stats
    }
}
