//! What every semvec access method's callbacks share, so that the same misuse gets the same
//! error from each: TIDs, relation and function names, the relcache cache (`rd_amcache`),
//! interrupt polling, the start-of-scan checks and statistics, the dimension check of a build,
//! the cost prologue, the bulk-delete callback and its statistics, and the "run on worker threads
//! while this thread polls" pattern of parallel builds.

use crate::error::{raise, raise_index_error, SqlError, FEATURE_NOT_SUPPORTED, INVALID_PARAMETER_VALUE, PROGRAM_LIMIT_EXCEEDED};
use pgrx::pg_sys;
use semvec_storage::Tid;
use std::ffi::CStr;
use std::sync::atomic::{AtomicBool, Ordering};

/// A heap TID from Postgres.
///
/// # Safety
/// `tid` points to a valid `ItemPointerData`.
#[inline]
pub unsafe fn item_pointer_tid(tid: pg_sys::ItemPointer) -> Tid {
    let t = unsafe { &*tid };
    Tid::new(((t.ip_blkid.bi_hi as u32) << 16) | t.ip_blkid.bi_lo as u32, t.ip_posid)
}

/// A heap TID for Postgres.
#[inline]
pub fn tid_item_pointer(tid: Tid, out: &mut pg_sys::ItemPointerData) {
    out.ip_blkid.bi_hi = (tid.block >> 16) as u16;
    out.ip_blkid.bi_lo = (tid.block & 0xFFFF) as u16;
    out.ip_posid = tid.offset;
}

/// The relation's name.
///
/// # Safety
/// `rel` is an open relation.
pub unsafe fn rel_name(rel: pg_sys::Relation) -> String {
    unsafe {
        CStr::from_ptr((*(*rel).rd_rel).relname.data.as_ptr())
            .to_string_lossy()
            .into_owned()
    }
}

/// The function's name, empty for `InvalidOid` or an unknown function.
///
/// # Safety
/// Call in a backend with catalog access.
pub unsafe fn func_name(oid: pg_sys::Oid) -> String {
    unsafe {
        if oid == pg_sys::InvalidOid {
            return String::new();
        }
        let p = pg_sys::get_func_name(oid);
        if p.is_null() {
            return String::new();
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Raise a core-crate error of `index` (pgvector's wording names the index in some of them).
///
/// # Safety
/// `index` is an open relation.
pub unsafe fn raise_for(index: pg_sys::Relation, e: impl SqlError) -> ! {
    raise_index_error(&unsafe { rel_name(index) }, &e)
}

/// Unwrap a core result of an index operation or raise its error.
pub trait OrRaiseFor<T> {
    /// # Safety
    /// `index` is an open relation.
    unsafe fn or_raise_for(self, index: pg_sys::Relation) -> T;
}

impl<T, E: SqlError> OrRaiseFor<T> for Result<T, E> {
    #[inline]
    unsafe fn or_raise_for(self, index: pg_sys::Relation) -> T {
        self.unwrap_or_else(|e| unsafe { raise_for(index, e) })
    }
}

/// What an access method reads from its operator class once per relcache entry: `make(index)`,
/// cached in `rd_amcache` (allocated in the index's own context, freed with the entry).
///
/// # Safety
/// `index` is an open index relation of the access method whose `T` this is (the cache slot
/// belongs to that access method alone).
pub unsafe fn amcache<T: Copy>(index: pg_sys::Relation, make: impl FnOnce() -> T) -> T {
    unsafe {
        let cache = (*index).rd_amcache as *const T;
        if !cache.is_null() {
            return *cache;
        }
        let value = make();
        let p = pg_sys::MemoryContextAlloc((*index).rd_indexcxt, std::mem::size_of::<T>()) as *mut T;
        p.write(value);
        (*index).rd_amcache = p as *mut std::ffi::c_void;
        value
    }
}

/// Whether a cancel or termination request is pending: only these stop worker threads.
/// `InterruptPending` is also raised for harmless timeouts (e.g. the idle statistics flush)
/// that the next `CHECK_FOR_INTERRUPTS` services without an error.
pub fn cancel_requested() -> bool {
    unsafe {
        std::ptr::read_volatile(&raw const pg_sys::QueryCancelPending) != 0
            || std::ptr::read_volatile(&raw const pg_sys::ProcDiePending) != 0
    }
}

/// Runs `work` on a helper thread (which may start a rayon pool) while this thread, the only
/// one that talks to Postgres, calls `poll` every 20 ms and sets `cancel` when a cancel is
/// requested; the workers are joined before any interrupt is serviced.
pub fn run_polling<R: Send>(cancel: &AtomicBool, work: impl FnOnce() -> R + Send, mut poll: impl FnMut()) -> R {
    let result = std::thread::scope(|s| {
        let worker = s.spawn(work);
        while !worker.is_finished() {
            std::thread::sleep(std::time::Duration::from_millis(20));
            poll();
            if cancel_requested() {
                cancel.store(true, Ordering::Relaxed);
            }
        }
        worker.join()
    });
    result.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}

/// `VACUUM`'s regular stop: cost-based delay, then interrupts.
pub fn vacuum_checkpoint() {
    crate::compat::vacuum_delay_point();
    pgrx::check_for_interrupts!();
}

/// The column's dimensions for a build of access method `am`, checked like pgvector.
///
/// # Safety
/// `index` is an open index relation with one key column.
pub unsafe fn build_dims(index: pg_sys::Relation, am: &str, max_dims: i32, hint: Option<&str>) -> u32 {
    let dims = unsafe { crate::compat::index_key_attr(index).atttypmod };
    if dims < 0 {
        raise(INVALID_PARAMETER_VALUE, "column does not have dimensions", None, None);
    }
    if dims > max_dims {
        raise(
            PROGRAM_LIMIT_EXCEEDED,
            format!("column cannot have more than {max_dims} dimensions for {am} index"),
            None,
            hint.map(str::to_string),
        );
    }
    dims as u32
}

/// The checks and bookkeeping of a scan's first `amgettuple`: the scan counts toward
/// `pg_stat_user_indexes.idx_scan` (`pgstat_count_index_scan`; each returned row is counted
/// by the executor), an ORDER BY key is required, and rows are only returned under MVCC
/// snapshots (pages are unlocked between calls). Returns the ORDER BY argument, `None` when NULL.
///
/// # Safety
/// `scan` is an index scan of access method `am`.
pub unsafe fn begin_ordered_scan(scan: pg_sys::IndexScanDesc, am: &str) -> Option<pg_sys::Datum> {
    unsafe {
        count_index_scan((*scan).indexRelation);
        if (*scan).orderByData.is_null() || (*scan).numberOfOrderBys == 0 {
            raise(FEATURE_NOT_SUPPORTED, format!("cannot scan {am} index without order"), None, None);
        }
        let snapshot = (*scan).xs_snapshot;
        if !snapshot.is_null()
            && (*snapshot).snapshot_type != pg_sys::SnapshotType::SNAPSHOT_MVCC
            && (*snapshot).snapshot_type != pg_sys::SnapshotType::SNAPSHOT_HISTORIC_MVCC
        {
            raise(
                FEATURE_NOT_SUPPORTED,
                format!("non-MVCC snapshots are not supported with {am}"),
                None,
                None,
            );
        }
        let key = &*(*scan).orderByData;
        if key.sk_flags & pg_sys::SK_ISNULL as i32 != 0 {
            None
        } else {
            Some(key.sk_argument)
        }
    }
}

/// `pgstat_count_index_scan`.
unsafe fn count_index_scan(index: pg_sys::Relation) {
    unsafe {
        if (*index).pgstat_info.is_null() && (*index).pgstat_enabled {
            pg_sys::pgstat_assoc_relation(index);
        }
        if !(*index).pgstat_info.is_null() {
            crate::compat::count_scan((*index).pgstat_info);
        }
    }
}

/// Returns one row from `amgettuple`: exact order, no recheck.
///
/// # Safety
/// `scan` is an index scan in progress.
#[inline]
pub unsafe fn return_row(scan: pg_sys::IndexScanDesc, heap_tid: Tid) {
    unsafe {
        tid_item_pointer(heap_tid, &mut (*scan).xs_heaptid);
        (*scan).xs_recheck = false;
        (*scan).xs_recheckorderby = false;
    }
}

/// Copies the ORDER BY keys of `amrescan` into the scan.
///
/// # Safety
/// The arguments of `amrescan`.
pub unsafe fn rescan_orderbys(scan: pg_sys::IndexScanDesc, orderbys: pg_sys::ScanKey, norderbys: i32) {
    unsafe {
        if !orderbys.is_null() && norderbys > 0 && (*scan).numberOfOrderBys > 0 {
            std::ptr::copy(orderbys, (*scan).orderByData, (*scan).numberOfOrderBys as usize);
        }
    }
}

/// Where `amcostestimate` writes.
pub struct CostOut {
    pub startup_cost: *mut pg_sys::Cost,
    pub total_cost: *mut pg_sys::Cost,
    pub selectivity: *mut pg_sys::Selectivity,
    pub correlation: *mut f64,
    pub pages: *mut f64,
}

/// What both access methods' cost models start from.
pub struct CostBase {
    pub costs: pg_sys::GenericCosts,
    pub info: *mut pg_sys::IndexOptInfo,
    pub seq_page_cost: f64,
    /// Pages of the table (vectors are usually TOASTed there, see the callers).
    pub heap_pages: f64,
}

/// The prologue of `amcostestimate`: without an ORDER BY operator the index cannot answer the
/// query at all (infinite cost, `None`); otherwise PostgreSQL's generic estimate.
///
/// # Safety
/// The arguments of `amcostestimate`.
pub unsafe fn cost_base(root: *mut pg_sys::PlannerInfo, path: *mut pg_sys::IndexPath, loop_count: f64, out: &CostOut) -> Option<CostBase> {
    unsafe {
        if (*path).indexorderbys.is_null() {
            *out.startup_cost = f64::INFINITY;
            *out.total_cost = f64::INFINITY;
            *out.selectivity = 0.0;
            *out.correlation = 0.0;
            *out.pages = 0.0;
            crate::compat::never_use_path(path);
            return None;
        }
        let mut costs: pg_sys::GenericCosts = std::mem::zeroed();
        pg_sys::genericcostestimate(root, path, loop_count, &mut costs);
        let info = (*path).indexinfo;
        let mut seq_page_cost = 0.0;
        pg_sys::get_tablespace_page_costs((*info).reltablespace, std::ptr::null_mut(), &mut seq_page_cost);
        Some(CostBase {
            costs,
            info,
            seq_page_cost,
            heap_pages: (*(*info).rel).pages as f64,
        })
    }
}

/// Writes the final estimate.
///
/// # Safety
/// `out` holds the pointers `amcostestimate` was given.
pub unsafe fn cost_result(out: &CostOut, base: &CostBase, startup: f64, total: f64) {
    unsafe {
        *out.startup_cost = startup.max(0.0);
        *out.total_cost = total;
        *out.selectivity = base.costs.indexSelectivity;
        *out.correlation = base.costs.indexCorrelation;
        *out.pages = base.costs.numIndexPages;
    }
}

/// Opens the index of a cost estimate for `f` (no lock: the planner holds one).
///
/// # Safety
/// `info` is the planner's `IndexOptInfo`.
pub unsafe fn with_index<R>(info: *mut pg_sys::IndexOptInfo, f: impl FnOnce(pg_sys::Relation) -> R) -> R {
    unsafe {
        let index = pg_sys::index_open((*info).indexoid, pg_sys::NoLock as i32);
        let r = f(index);
        pg_sys::index_close(index, pg_sys::NoLock as i32);
        r
    }
}

/// `ambulkdelete`'s callback, asking whether a heap TID is dead. The callback is C code that
/// may raise an ERROR: it is called through pgrx's FFI guard, so the error unwinds through the
/// Rust frames of the bulk delete (dropping what they hold) instead of long-jumping over them.
pub struct DeadTids {
    callback: unsafe extern "C-unwind" fn(pg_sys::ItemPointer, *mut std::ffi::c_void) -> bool,
    state: *mut std::ffi::c_void,
    ip: pg_sys::ItemPointerData,
}

impl DeadTids {
    /// # Safety
    /// The callback and state `ambulkdelete` was given.
    pub unsafe fn new(callback: pg_sys::IndexBulkDeleteCallback, state: *mut std::ffi::c_void) -> DeadTids {
        DeadTids {
            callback: callback.expect("bulk delete callback"),
            state,
            ip: pg_sys::ItemPointerData::default(),
        }
    }

    pub fn is_dead(&mut self, tid: Tid) -> bool {
        tid_item_pointer(tid, &mut self.ip);
        let (callback, ip, state) = (self.callback, &mut self.ip as *mut _, self.state);
        unsafe { pg_sys::ffi::pg_guard_ffi_boundary(|| callback(ip, state)) }
    }
}

/// What `ambulkdelete` reports.
pub struct BulkDeleteCounts {
    pub pages: u32,
    pub removed: u64,
    pub remaining: u64,
}

/// Adds one bulk delete's counts to `stats` (allocated when VACUUM passes none).
///
/// # Safety
/// `stats` is `ambulkdelete`'s argument.
pub unsafe fn bulk_delete_result(
    stats: *mut pg_sys::IndexBulkDeleteResult,
    counts: BulkDeleteCounts,
) -> *mut pg_sys::IndexBulkDeleteResult {
    unsafe {
        let stats = new_stats_if_null(stats);
        (*stats).num_pages = counts.pages;
        (*stats).tuples_removed += counts.removed as f64;
        (*stats).num_index_tuples = counts.remaining as f64;
        stats
    }
}

/// `stats`, or new zeroed statistics in the current memory context.
///
/// # Safety
/// `stats` is null or VACUUM's statistics.
pub unsafe fn new_stats_if_null(stats: *mut pg_sys::IndexBulkDeleteResult) -> *mut pg_sys::IndexBulkDeleteResult {
    if stats.is_null() {
        pgrx::PgBox::<pg_sys::IndexBulkDeleteResult>::alloc0().into_pg()
    } else {
        stats
    }
}
