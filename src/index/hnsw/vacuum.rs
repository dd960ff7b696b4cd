//! ambulkdelete / amvacuumcleanup: drop dead heap TIDs, repair neighbour lists around deleted
//! elements so recall holds, and report counts.

use super::build::{raise_hnsw, tid_item_pointer};
use super::opclass::IndexType;
use crate::index::storage::{Logging, PgRelation};
use pgrx::pg_sys;
use semvec_hnsw::{bulk_delete_with, count_tuples, RelationRead};

unsafe fn stats_or_new(stats: *mut pg_sys::IndexBulkDeleteResult) -> *mut pg_sys::IndexBulkDeleteResult {
    if stats.is_null() {
        pgrx::PgBox::<pg_sys::IndexBulkDeleteResult>::alloc0().into_pg()
    } else {
        stats
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambulkdelete(
    info: *mut pg_sys::IndexVacuumInfo,
    stats: *mut pg_sys::IndexBulkDeleteResult,
    callback: pg_sys::IndexBulkDeleteCallback,
    callback_state: *mut std::ffi::c_void,
) -> *mut pg_sys::IndexBulkDeleteResult {
    unsafe {
        let stats = stats_or_new(stats);
        let index = (*info).index;
        let rel = PgRelation::new(index, Logging::Generic);
        let metric = IndexType::cached(index).metric();
        let callback = callback.expect("bulk delete callback");
        let mut ip = pg_sys::ItemPointerData::default();
        let res = bulk_delete_with(
            &rel,
            &metric,
            |tid| {
                tid_item_pointer(tid, &mut ip);
                callback(&mut ip, callback_state)
            },
            || {
                pg_sys::vacuum_delay_point();
                pgrx::check_for_interrupts!();
            },
        )
        .unwrap_or_else(|e| raise_hnsw(index, e));
        (*stats).num_pages = res.pages;
        (*stats).tuples_removed += res.heap_tuples_removed as f64;
        (*stats).num_index_tuples = res.heap_tuples_remaining as f64;
        stats
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
            let s = stats_or_new(stats);
            let (heap_tuples, _elements) = count_tuples(&rel);
            (*s).num_index_tuples = heap_tuples as f64;
            s
        } else {
            stats
        };
        (*stats).num_pages = rel.nblocks();
        stats
    }
}
