//! ambeginscan / amrescan / amgettuple / amendscan: best-first search in the core crate, reading
//! vectors in place from pinned pages, no fmgr call per candidate. Nothing is locked between
//! calls; iterative scans resume the search until `hnsw.max_scan_tuples`.

use super::build::tid_item_pointer;
use super::opclass::{AnyMetric, IndexType};
use crate::error::{raise, FEATURE_NOT_SUPPORTED};
use crate::gucs::{self, IterativeScan};
use crate::index::storage::{Logging, PgRelation};
use pgrx::pg_sys;
use pgrx::PgMemoryContexts;
use semvec_hnsw::{read_meta_page, SearchOptions, Searcher};
use std::cell::RefCell;

struct ScanState {
    rel: PgRelation,
    itype: IndexType,
    /// Always `Some` until dropped.
    searcher: Option<Searcher<AnyMetric>>,
    started: bool,
}

impl ScanState {
    fn searcher(&mut self) -> &mut Searcher<AnyMetric> {
        self.searcher.as_mut().expect("scan state in use")
    }
}

thread_local! {
    /// The last finished scan's searcher: its visited set and heaps have grown to the sizes
    /// queries need, so the next scan (a prepared statement runs one per execution) allocates
    /// nothing.
    static SPARE: RefCell<Option<Searcher<AnyMetric>>> = const { RefCell::new(None) };
}

/// A searcher that computed more distances than this is not kept for reuse (its buffers are large).
const SPARE_MAX_EVALUATED: usize = 100_000;

impl Drop for ScanState {
    fn drop(&mut self) {
        if let Some(s) = self.searcher.take().filter(|s| s.stats().evaluated <= SPARE_MAX_EVALUATED) {
            SPARE.with(|spare| *spare.borrow_mut() = Some(s));
        }
    }
}

fn searcher(itype: &IndexType) -> Searcher<AnyMetric> {
    match SPARE.with(|spare| spare.borrow_mut().take()) {
        Some(mut s) => {
            s.set_metric(itype.metric());
            s
        }
        None => Searcher::new(itype.metric(), SearchOptions::default()),
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambeginscan(index: pg_sys::Relation, nkeys: i32, norderbys: i32) -> pg_sys::IndexScanDesc {
    unsafe {
        let scan = pg_sys::RelationGetIndexScan(index, nkeys, norderbys);
        let itype = IndexType::cached(index);
        let state = ScanState {
            rel: PgRelation::new(index, Logging::Generic).with_buffer_hints(),
            itype,
            searcher: Some(searcher(&itype)),
            started: false,
        };
        // Owned by the scan's memory context, so an aborted query frees it too.
        (*scan).opaque = PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(state) as *mut std::ffi::c_void;
        scan
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amrescan(
    scan: pg_sys::IndexScanDesc,
    _keys: pg_sys::ScanKey,
    _nkeys: i32,
    orderbys: pg_sys::ScanKey,
    norderbys: i32,
) {
    unsafe {
        let so = &mut *((*scan).opaque as *mut ScanState);
        so.started = false;
        so.searcher().end();
        if !orderbys.is_null() && norderbys > 0 && (*scan).numberOfOrderBys > 0 {
            std::ptr::copy(orderbys, (*scan).orderByData, (*scan).numberOfOrderBys as usize);
        }
    }
}

fn search_options() -> SearchOptions {
    let iterative = match gucs::HNSW_ITERATIVE_SCAN.get() {
        IterativeScan::off => semvec_hnsw::IterativeScan::Off,
        IterativeScan::relaxed_order => semvec_hnsw::IterativeScan::Relaxed,
        IterativeScan::strict_order => semvec_hnsw::IterativeScan::Strict,
    };
    // Bound what an iterative scan may remember by work_mem * hnsw.scan_mem_multiplier too
    // (about 64 bytes per visited candidate), whichever stops first.
    let mem_bytes = unsafe { pg_sys::work_mem } as f64 * 1024.0 * gucs::HNSW_SCAN_MEM_MULTIPLIER.get();
    let by_memory = (mem_bytes / 64.0) as usize;
    SearchOptions {
        ef_search: gucs::HNSW_EF_SEARCH.get().max(1) as usize,
        iterative,
        max_scan_tuples: (gucs::HNSW_MAX_SCAN_TUPLES.get().max(1) as usize).min(by_memory.max(1)),
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amgettuple(scan: pg_sys::IndexScanDesc, _dir: pg_sys::ScanDirection::Type) -> bool {
    unsafe {
        pgrx::check_for_interrupts!();
        let so = &mut *((*scan).opaque as *mut ScanState);
        if !so.started {
            if (*scan).orderByData.is_null() || (*scan).numberOfOrderBys == 0 {
                raise(FEATURE_NOT_SUPPORTED, "cannot scan hnsw index without order", None, None);
            }
            let snapshot = (*scan).xs_snapshot;
            if !snapshot.is_null()
                && (*snapshot).snapshot_type != pg_sys::SnapshotType::SNAPSHOT_MVCC
                && (*snapshot).snapshot_type != pg_sys::SnapshotType::SNAPSHOT_HISTORIC_MVCC
            {
                raise(FEATURE_NOT_SUPPORTED, "non-MVCC snapshots are not supported with hnsw", None, None);
            }
            let key = &*(*scan).orderByData;
            let value = if key.sk_flags & pg_sys::SK_ISNULL as i32 != 0 { None } else { Some(key.sk_argument) };
            let meta = read_meta_page(&so.rel).unwrap_or_else(|e| super::build::raise_hnsw(so.rel.rel, e));
            let query = so.itype.query_payload(value, &meta);
            so.searcher().set_options(search_options());
            so.searcher().begin_with_entry(&query, meta.entry);
            so.started = true;
        }
        let next = so.searcher.as_mut().expect("scan state in use").next(&so.rel);
        match next {
            Some((tid, _dist)) => {
                tid_item_pointer(tid, &mut (*scan).xs_heaptid);
                (*scan).xs_recheck = false;
                (*scan).xs_recheckorderby = false;
                true
            }
            None => false,
        }
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amendscan(scan: pg_sys::IndexScanDesc) {
    unsafe {
        let so = &mut *((*scan).opaque as *mut ScanState);
        so.searcher().end();
    }
}
