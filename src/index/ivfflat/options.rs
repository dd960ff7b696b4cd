//! `WITH (lists = 100)` and the `ivfflat.*` settings, with pgvector's names, defaults and ranges.

use pgrx::{pg_sys, GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};
use semvec_ivf::{DEFAULT_LISTS, MAX_LISTS, MIN_LISTS};
use std::sync::atomic::{AtomicU32, Ordering};

#[allow(non_camel_case_types)]
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum IterativeScan {
    off,
    relaxed_order,
}

/// Lists probed per batch.
pub static PROBES: GucSetting<i32> = GucSetting::<i32>::new(1);
pub static ITERATIVE_SCAN: GucSetting<IterativeScan> = GucSetting::<IterativeScan>::new(IterativeScan::off);
/// Lists probed in all by an iterative scan (`probes` when smaller).
pub static MAX_PROBES: GucSetting<i32> = GucSetting::<i32>::new(MAX_LISTS);

static RELOPT_KIND: AtomicU32 = AtomicU32::new(0);

/// The parsed options as `build_reloptions` lays them out (a varlena).
#[repr(C)]
pub struct IvfflatOptions {
    vl_len_: i32,
    pub lists: i32,
}

pub fn init() {
    unsafe {
        let kind = pg_sys::add_reloption_kind();
        RELOPT_KIND.store(kind as u32, Ordering::Relaxed);
        pg_sys::add_int_reloption(
            kind as _,
            c"lists".as_ptr(),
            c"Number of inverted lists".as_ptr(),
            DEFAULT_LISTS,
            MIN_LISTS,
            MAX_LISTS,
            pg_sys::AccessExclusiveLock as pg_sys::LOCKMODE,
        );
    }
    GucRegistry::define_int_guc(
        c"ivfflat.probes",
        c"Sets the number of probes",
        c"Valid range is 1..lists.",
        &PROBES,
        MIN_LISTS,
        MAX_LISTS,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"ivfflat.iterative_scan",
        c"Sets the mode for iterative scans",
        c"off or relaxed_order.",
        &ITERATIVE_SCAN,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"ivfflat.max_probes",
        c"Sets the max number of probes for iterative scans",
        c"",
        &MAX_PROBES,
        MIN_LISTS,
        MAX_LISTS,
        GucContext::Userset,
        GucFlags::default(),
    );
    unsafe { pg_sys::MarkGUCPrefixReserved(c"ivfflat".as_ptr()) };
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amoptions(reloptions: pg_sys::Datum, validate: bool) -> *mut pg_sys::bytea {
    unsafe {
        let tab = [crate::compat::relopt(
            c"lists",
            pg_sys::relopt_type::RELOPT_TYPE_INT,
            std::mem::offset_of!(IvfflatOptions, lists),
        )];
        pg_sys::build_reloptions(
            reloptions,
            validate,
            RELOPT_KIND.load(Ordering::Relaxed) as _,
            std::mem::size_of::<IvfflatOptions>(),
            tab.as_ptr(),
            tab.len() as i32,
        ) as *mut pg_sys::bytea
    }
}

/// The `lists` option of an index.
///
/// # Safety
/// `index` is an open ivfflat index relation.
pub unsafe fn lists(index: pg_sys::Relation) -> i32 {
    unsafe {
        let opts = (*index).rd_options as *const IvfflatOptions;
        if opts.is_null() {
            DEFAULT_LISTS
        } else {
            (*opts).lists
        }
    }
}

/// (probes, max_probes) for a scan under the current settings: an iterative scan reads up to
/// `ivfflat.max_probes` lists, at least `probes`; otherwise exactly `probes`.
pub fn scan_probes() -> (usize, usize) {
    let probes = PROBES.get().max(1) as usize;
    let max_probes = match ITERATIVE_SCAN.get() {
        IterativeScan::off => probes,
        IterativeScan::relaxed_order => (MAX_PROBES.get().max(1) as usize).max(probes),
    };
    (probes, max_probes)
}
