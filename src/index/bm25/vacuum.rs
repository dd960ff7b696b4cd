//! ambulkdelete / amvacuumcleanup: remove the postings and memtable documents of dead heap TIDs,
//! bring N, the total length and every df back to the survivors' exact counts, merge the
//! memtable into a segment (amvacuumcleanup), report counts.

use crate::index::am::{bulk_delete_result, new_stats_if_null, BulkDeleteCounts, DeadTids, OrRaiseFor};
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
        let mut polled = 0u32;
        let res = semvec_bm25index::bulk_delete(&rel, |tid| {
            polled = polled.wrapping_add(1);
            if polled.is_multiple_of(4096) {
                pgrx::check_for_interrupts!();
            }
            dead.is_dead(tid)
        })
        .or_raise_for(index);
        bulk_delete_result(
            stats,
            BulkDeleteCounts {
                pages: rel.nblocks(),
                removed: res.docs_removed,
                remaining: res.docs_remaining,
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
        // Turn the memtable (rows inserted since the last merge) into a segment and merge small
        // segments, so searches stop scoring those rows one by one.
        semvec_bm25index::merge(&rel, &semvec_bm25index::MergePolicy::default(), true).or_raise_for((*info).index);
        let stats = if stats.is_null() {
            // No bulk delete ran: count the documents the index holds.
            let s = new_stats_if_null(stats);
            let scan = semvec_bm25index::Scan::begin(&rel, &[], Default::default()).or_raise_for((*info).index);
            (*s).num_index_tuples = scan.corpus().0 as f64;
            s
        } else {
            stats
        };
        (*stats).num_pages = rel.nblocks();
        stats
    }
}
