//! The `hnsw` index access method, one file per callback group (like pgvector's hnsw*.c):
//! `build` (ambuild, ambuildempty), `insert` (aminsert), `scan` (ambeginscan, amrescan,
//! amgettuple, amendscan), `vacuum` (ambulkdelete, amvacuumcleanup), `cost`, `options`.
//! The graph algorithms live in the `semvec-hnsw` crate.

pub mod build;
pub mod check;
pub mod cost;
pub mod insert;
pub mod opclass;
pub mod options;
pub mod returned;
pub mod scan;
pub mod vacuum;

use pgrx::pg_sys;

/// `pg_stat_progress_create_index.phase` values reported during a build (after PostgreSQL's own).
pub const PHASE_LOAD: i64 = 2;
pub const PHASE_GRAPH: i64 = 3;
pub const PHASE_WRITE: i64 = 4;

pub fn init() {
    options::init();
}

pg_fn!(fn semvec_hnsw_handler(_fcinfo) {
    let mut am = pgrx::PgBox::<pg_sys::IndexAmRoutine>::alloc_node(pg_sys::NodeTag::T_IndexAmRoutine);
    am.amstrategies = 0;
    am.amsupport = 3;
    am.amoptsprocnum = 0;
    am.amcanorder = false;
    am.amcanorderbyop = true;
    am.amcanbackward = false;
    am.amcanunique = false;
    am.amcanmulticol = false;
    am.amoptionalkey = true;
    am.amsearcharray = false;
    am.amsearchnulls = false;
    am.amstorage = false;
    am.amclusterable = false;
    am.ampredlocks = false;
    am.amcanparallel = false;
    am.amcaninclude = false;
    am.amusemaintenanceworkmem = false;
    am.amparallelvacuumoptions = pg_sys::VACUUM_OPTION_PARALLEL_BULKDEL as u8;
    am.amkeytype = pg_sys::InvalidOid;

    am.ambuild = Some(build::ambuild);
    am.ambuildempty = Some(build::ambuildempty);
    am.aminsert = Some(insert::aminsert);
    am.ambulkdelete = Some(vacuum::ambulkdelete);
    am.amvacuumcleanup = Some(vacuum::amvacuumcleanup);
    am.amcanreturn = None;
    am.amcostestimate = Some(cost::amcostestimate);
    am.amoptions = Some(options::amoptions);
    am.amproperty = None;
    am.ambuildphasename = Some(ambuildphasename);
    am.amvalidate = Some(amvalidate);
    am.amadjustmembers = None;
    am.ambeginscan = Some(scan::ambeginscan);
    am.amrescan = Some(scan::amrescan);
    am.amgettuple = Some(scan::amgettuple);
    am.amgetbitmap = None;
    am.amendscan = Some(scan::amendscan);
    am.ammarkpos = None;
    am.amrestrpos = None;
    am.amestimateparallelscan = None;
    am.aminitparallelscan = None;
    am.amparallelrescan = None;
    pg_sys::Datum::from(am.into_pg())
});

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn amvalidate(_opclassoid: pg_sys::Oid) -> bool {
    true
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn ambuildphasename(phase: i64) -> *mut std::ffi::c_char {
    let name: &'static std::ffi::CStr = match phase {
        1 => c"initializing",
        PHASE_LOAD => c"loading tuples",
        PHASE_GRAPH => c"building graph",
        PHASE_WRITE => c"writing index",
        _ => return std::ptr::null_mut(),
    };
    name.as_ptr() as *mut _
}
