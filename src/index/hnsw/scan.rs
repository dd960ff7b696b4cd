//! ambeginscan / amrescan / amgettuple / amendscan: best-first search in the core crate, reading
//! vectors in place from pinned pages, no fmgr call per candidate. Nothing is locked between
//! calls; iterative scans resume the search until `hnsw.max_scan_tuples` (or the memory bound)
//! is spent, then return the rest of what they found, closest first, like pgvector.

use super::opclass::{AnyMetric, Distance, IndexType, Kind, Quant};
use super::returned::{Recorder, SqlDistance};
use crate::gucs::{self, IterativeScan};
use crate::index::am::{begin_ordered_scan, rescan_orderbys, return_row, OrRaiseFor};
use crate::index::storage::{Logging, PgRelation};
use pgrx::pg_sys;
use pgrx::PgMemoryContexts;
use semvec_hnsw::{read_meta_page, Meta, SearchOptions, Searcher, UpperLayers};
use std::cell::RefCell;
use std::sync::Arc;

struct ScanState {
    rel: PgRelation,
    itype: IndexType,
    /// Always `Some` until dropped.
    searcher: Option<Searcher<AnyMetric>>,
    started: bool,
    /// Notes the distance of each returned row for the executor's evaluation of the ORDER BY
    /// expression (see `returned`).
    recorder: Recorder,
    /// The conditions on filter key columns (text keys are hashes: the executor rechecks).
    filter: Option<semvec_hnsw::keys::Filter>,
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
        if let Some(mut s) = self.searcher.take().filter(|s| s.stats().evaluated <= SPARE_MAX_EVALUATED) {
            s.set_upper_layers(None);
            SPARE.with(|spare| *spare.borrow_mut() = Some(s));
        }
    }
}

/// The upper layers of the indexes this backend scans often, copied into its memory so a query's
/// greedy descent through them reads no pages (`semvec_hnsw::UpperLayers`). Bounded: a copy holds
/// at most [`UPPER_BUDGET`] bytes (the top layers that fit), at most [`UPPER_COPIES`] indexes have
/// one, and an index gets one only after [`UPPER_AFTER_SCANS`] scans in this backend, so a session
/// that runs a few queries never pays for the copy.
struct UpperUse {
    key: (pg_sys::Oid, pg_sys::Oid, pg_sys::Oid),
    /// Scans since this backend last had no copy for the index.
    scans: u32,
    /// Scans since the copy was made.
    since_copy: u32,
    last_use: u64,
    copy: Option<Arc<UpperLayers>>,
}

const UPPER_BUDGET: usize = 8 << 20;
const UPPER_COPIES: usize = 4;
const UPPER_AFTER_SCANS: u32 = 16;
/// A copy made before pages were added to the index is refreshed after this many more scans.
const UPPER_REFRESH_SCANS: u32 = 1000;
const UPPER_TRACKED: usize = 64;

thread_local! {
    static UPPER: RefCell<(u64, Vec<UpperUse>)> = const { RefCell::new((0, Vec::new())) };
}

/// This backend's copy of `rel`'s upper layers for a query that read `meta`, made now if due.
unsafe fn upper_layers(rel: &PgRelation, meta: &Meta) -> Option<Arc<UpperLayers>> {
    let key = crate::compat::rel_file_key(&unsafe { crate::compat::rel_file(rel.rel) });
    // Decide under the borrow; build (page reads, which may raise an ERROR) without it.
    let build = UPPER.with(|u| {
        let (tick, uses) = &mut *u.borrow_mut();
        *tick += 1;
        let i = match uses.iter().position(|x| x.key == key) {
            Some(i) => i,
            None => {
                if uses.len() >= UPPER_TRACKED {
                    let lru = (0..uses.len()).min_by_key(|&i| uses[i].last_use).unwrap();
                    uses.swap_remove(lru);
                }
                uses.push(UpperUse {
                    key,
                    scans: 0,
                    since_copy: 0,
                    last_use: 0,
                    copy: None,
                });
                uses.len() - 1
            }
        };
        let x = &mut uses[i];
        x.last_use = *tick;
        x.scans = x.scans.saturating_add(1);
        x.since_copy = x.since_copy.saturating_add(1);
        if let Some(c) = &x.copy {
            let (same_entry, same_pages) = c.matches(meta);
            if same_entry && (same_pages || x.since_copy < UPPER_REFRESH_SCANS) {
                return Err(Some(c.clone()));
            }
            x.copy = None;
        }
        if x.scans < UPPER_AFTER_SCANS || meta.entry.is_none_or(|(_, top)| top == 0) {
            return Err(None);
        }
        Ok(())
    });
    match build {
        Err(copy) => copy,
        Ok(()) => {
            let copy = UpperLayers::build(rel, meta, UPPER_BUDGET).map(Arc::new);
            UPPER.with(|u| {
                let (_, uses) = &mut *u.borrow_mut();
                if let Some(i) = uses.iter().position(|x| x.key == key) {
                    uses[i].copy = copy.clone();
                    uses[i].since_copy = 0;
                    if copy.is_none() {
                        // Nothing fits the budget: try again only after as many scans again.
                        uses[i].scans = 0;
                    }
                    // Too many copies: the least recently used loses its own and starts counting again.
                    while uses.iter().filter(|x| x.copy.is_some()).count() > UPPER_COPIES {
                        let lru = (0..uses.len())
                            .filter(|&j| uses[j].copy.is_some())
                            .min_by_key(|&j| uses[j].last_use)
                            .unwrap();
                        uses[lru].copy = None;
                        uses[lru].scans = 0;
                    }
                }
            });
            copy
        }
    }
}

/// The SQL distance function whose value this index computes bit for bit (none for a quantized
/// index: its values are lower bounds, and the executor computes the exact ones).
fn sql_distance(itype: &IndexType) -> Option<SqlDistance> {
    if itype.quant != Quant::None {
        return None;
    }
    match (itype.kind, itype.distance) {
        (Kind::Vector, Distance::L2) => Some(SqlDistance::L2),
        (Kind::Vector, Distance::Ip) => Some(SqlDistance::NegativeInnerProduct),
        (Kind::Vector, Distance::L1) => Some(SqlDistance::L1),
        _ => None,
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
        if itype.quant != Quant::None && norderbys > 0 {
            // The lower bounds handed to the executor with each row (see amgettuple).
            (*scan).xs_orderbyvals = pg_sys::palloc0(std::mem::size_of::<pg_sys::Datum>() * norderbys as usize) as *mut pg_sys::Datum;
            (*scan).xs_orderbynulls = pg_sys::palloc(norderbys as usize) as *mut bool;
            std::ptr::write_bytes((*scan).xs_orderbynulls, 1, norderbys as usize);
        }
        let state = ScanState {
            rel: PgRelation::new(index, Logging::Generic).with_buffer_hints(),
            itype,
            searcher: Some(searcher(&itype)),
            started: false,
            recorder: Recorder::new(index, sql_distance(&itype)),
            filter: None,
        };
        // Owned by the scan's memory context, so an aborted query frees it too.
        (*scan).opaque = PgMemoryContexts::CurrentMemoryContext.leak_and_drop_on_delete(state) as *mut std::ffi::c_void;
        scan
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amrescan(
    scan: pg_sys::IndexScanDesc,
    keys: pg_sys::ScanKey,
    nkeys: i32,
    orderbys: pg_sys::ScanKey,
    norderbys: i32,
) {
    unsafe {
        let so = &mut *((*scan).opaque as *mut ScanState);
        so.started = false;
        if !keys.is_null() && nkeys > 0 && keys != (*scan).keyData {
            std::ptr::copy(keys, (*scan).keyData, nkeys as usize);
        }
        so.filter = so.itype.keys.filter((*scan).indexRelation, (*scan).keyData, (*scan).numberOfKeys);
        so.searcher().end();
        so.recorder = Recorder::new((*scan).indexRelation, sql_distance(&so.itype));
        rescan_orderbys(scan, orderbys, norderbys);
    }
}

fn search_options() -> SearchOptions {
    let iterative = match gucs::HNSW_ITERATIVE_SCAN.get() {
        IterativeScan::off => semvec_hnsw::IterativeScan::Off,
        IterativeScan::relaxed_order => semvec_hnsw::IterativeScan::Relaxed,
        IterativeScan::strict_order => semvec_hnsw::IterativeScan::Strict,
    };
    // Bound what an iterative scan may remember by work_mem * hnsw.scan_mem_multiplier too,
    // whichever stops first: the scan holds one candidate per distance computed.
    let mem_bytes = unsafe { pg_sys::work_mem } as f64 * 1024.0 * gucs::HNSW_SCAN_MEM_MULTIPLIER.get();
    let by_memory = (mem_bytes / Searcher::<AnyMetric>::memory_per_scan_tuple() as f64) as usize;
    SearchOptions {
        ef_search: gucs::HNSW_EF_SEARCH.get().max(1) as usize,
        iterative,
        max_scan_tuples: (gucs::HNSW_MAX_SCAN_TUPLES.get().max(1) as usize).min(by_memory.max(1)),
        filter_exact_limit: usize::try_from(gucs::HNSW_FILTER_EXACT_LIMIT.get()).ok(),
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amgettuple(scan: pg_sys::IndexScanDesc, _dir: pg_sys::ScanDirection::Type) -> bool {
    unsafe {
        pgrx::check_for_interrupts!();
        let so = &mut *((*scan).opaque as *mut ScanState);
        if !so.started {
            let value = begin_ordered_scan(scan, "hnsw");
            let meta = read_meta_page(&so.rel).or_raise_for(so.rel.rel);
            let mut query = so.itype.query_payload(value, &meta);
            if !so.itype.keys.is_empty() {
                query = semvec_hnsw::keys::query_payload(&query);
            }
            let upper = upper_layers(&so.rel, &meta);
            let filter = so.filter.clone();
            // Text keys are hashes, and the other conditions are the executor's to check anyway.
            (*scan).xs_recheck = filter.is_some();
            so.searcher().set_filter(filter);
            so.searcher().set_options(search_options());
            so.searcher().set_upper_layers(upper);
            so.searcher().begin_with_meta(&query, &meta);
            so.started = true;
        }
        let next = so.searcher.as_mut().expect("scan state in use").next(&so.rel);
        match next {
            Some((tid, dist)) => {
                let query = so.searcher.as_ref().expect("scan state in use").query();
                let query = if so.itype.keys.is_empty() {
                    query
                } else {
                    semvec_hnsw::keys::split(query).0
                };
                so.recorder.record((*scan).heapRelation, tid, dist, query);
                return_row(scan, tid);
                if so.itype.quant != Quant::None && !(*scan).xs_orderbyvals.is_null() {
                    // `dist` is a lower bound of the row's distance and rows come in its order:
                    // the executor computes each exact distance and returns a row once no later
                    // lower bound can beat it (its reorder queue), so rows come back in exact
                    // order. (Other ORDER BY keys, if any, are not the index's: left NULL.)
                    *(*scan).xs_orderbyvals = pg_sys::Datum::from(so.itype.sql_lower_bound(dist).to_bits());
                    *(*scan).xs_orderbynulls = false;
                    (*scan).xs_recheckorderby = true;
                }
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
