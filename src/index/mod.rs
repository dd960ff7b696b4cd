//! Index access methods.

pub mod am;
pub mod bm25;
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

/// The palloc'd result of `ambuild`.
pub fn build_result(heap_tuples: f64, index_tuples: f64) -> *mut pg_sys::IndexBuildResult {
    unsafe {
        let r = pgrx::PgBox::<pg_sys::IndexBuildResult>::alloc0().into_pg();
        (*r).heap_tuples = heap_tuples;
        (*r).index_tuples = index_tuples;
        r
    }
}

/// The `IndexAmRoutine` datum of the access method whose module calls it: each one is split by
/// callback into the submodules `build`, `insert`, `vacuum`, `cost`, `options` and `scan` (like
/// pgvector's files), with `ambuildphasename` beside the handler; `$amsupport` support functions.
macro_rules! am_handler_routine {
    ($amsupport:expr) => {
        crate::index::am_handler_routine!($amsupport, false)
    };
    ($amsupport:expr, $multicol:expr) => {
        crate::index::am_routine(crate::index::AmCallbacks {
            amsupport: $amsupport,
            multicol: $multicol,
            ambuild: Some(build::ambuild),
            ambuildempty: Some(build::ambuildempty),
            aminsert: Some(insert::aminsert),
            ambulkdelete: Some(vacuum::ambulkdelete),
            amvacuumcleanup: Some(vacuum::amvacuumcleanup),
            amcostestimate: Some(cost::amcostestimate),
            amoptions: Some(options::amoptions),
            ambuildphasename: Some(ambuildphasename),
            ambeginscan: Some(scan::ambeginscan),
            amrescan: Some(scan::amrescan),
            amgettuple: Some(scan::amgettuple),
            amendscan: Some(scan::amendscan),
        })
    };
}
pub(crate) use am_handler_routine;

/// The callbacks and support-function count in which semvec's access methods differ.
pub struct AmCallbacks {
    pub amsupport: u16,
    /// Key columns after the first (hnsw's filter keys), with `= ANY(array)` conditions.
    pub multicol: bool,
    pub ambuild: pg_sys::ambuild_function,
    pub ambuildempty: pg_sys::ambuildempty_function,
    pub aminsert: pg_sys::aminsert_function,
    pub ambulkdelete: pg_sys::ambulkdelete_function,
    pub amvacuumcleanup: pg_sys::amvacuumcleanup_function,
    pub amcostestimate: pg_sys::amcostestimate_function,
    pub amoptions: pg_sys::amoptions_function,
    pub ambuildphasename: pg_sys::ambuildphasename_function,
    pub ambeginscan: pg_sys::ambeginscan_function,
    pub amrescan: pg_sys::amrescan_function,
    pub amgettuple: pg_sys::amgettuple_function,
    pub amendscan: pg_sys::amendscan_function,
}

/// The `IndexAmRoutine` of an index like pgvector's hnsw and ivfflat: one key column, no
/// strategies, rows returned only in the order of an `ORDER BY col <op> constant` operator,
/// parallel VACUUM bulk-delete, no bitmap scans, no index-only scans.
///
/// # Safety
/// Call from an access method's handler function, in a backend (it allocates in the current
/// memory context).
pub unsafe fn am_routine(cb: AmCallbacks) -> pg_sys::Datum {
    // SAFETY: a node allocated in the current memory context, as the caller guarantees.
    let mut am = unsafe { pgrx::PgBox::<pg_sys::IndexAmRoutine>::alloc_node(pg_sys::NodeTag::T_IndexAmRoutine) };
    am.amstrategies = 0;
    am.amsupport = cb.amsupport;
    am.amoptsprocnum = 0;
    am.amcanorder = false;
    am.amcanorderbyop = true;
    am.amcanbackward = false;
    am.amcanunique = false;
    am.amcanmulticol = cb.multicol;
    am.amoptionalkey = true;
    am.amsearcharray = cb.multicol;
    am.amsearchnulls = false;
    am.amstorage = false;
    am.amclusterable = false;
    am.ampredlocks = false;
    am.amcanparallel = false;
    am.amcaninclude = false;
    am.amusemaintenanceworkmem = false;
    am.amparallelvacuumoptions = pg_sys::VACUUM_OPTION_PARALLEL_BULKDEL as u8;
    am.amkeytype = pg_sys::InvalidOid;

    am.ambuild = cb.ambuild;
    am.ambuildempty = cb.ambuildempty;
    am.aminsert = cb.aminsert;
    am.ambulkdelete = cb.ambulkdelete;
    am.amvacuumcleanup = cb.amvacuumcleanup;
    am.amcanreturn = None;
    am.amcostestimate = cb.amcostestimate;
    am.amoptions = cb.amoptions;
    am.amproperty = None;
    am.ambuildphasename = cb.ambuildphasename;
    am.amvalidate = Some(amvalidate);
    am.amadjustmembers = None;
    am.ambeginscan = cb.ambeginscan;
    am.amrescan = cb.amrescan;
    am.amgettuple = cb.amgettuple;
    am.amgetbitmap = None;
    am.amendscan = cb.amendscan;
    am.ammarkpos = None;
    am.amrestrpos = None;
    am.amestimateparallelscan = None;
    am.aminitparallelscan = None;
    am.amparallelrescan = None;
    crate::compat::am_routine_newer_fields(&mut am);
    pg_sys::Datum::from(am.into_pg())
}

/// Operator classes are only created by the extension's own SQL: nothing to validate.
#[pgrx::pg_guard]
unsafe extern "C-unwind" fn amvalidate(_opclassoid: pg_sys::Oid) -> bool {
    true
}
