//! ambeginscan / amrescan / amgettuple / amendscan: rank the lists by center distance, read the
//! nearest `ivfflat.probes` lists in the core crate (entries compared in place on the pages, no
//! fmgr call per row) and return rows nearest first; iterative scans probe further lists up to
//! `ivfflat.max_probes`. Nothing is locked between calls.

use super::{options, IvfIndex};
use crate::datatype::bit::bit_arg;
use crate::datatype::halfvec::HalfvecRef;
use crate::datatype::vector::VectorRef;
use crate::error::OrRaise;
use crate::index::am::{begin_ordered_scan, rescan_orderbys, return_row, OrRaiseFor};
use crate::index::storage::{Logging, PgRelation};
use pgrx::pg_sys;
use pgrx::PgMemoryContexts;
use semvec_ivf::{read_meta, Elements, IndexMetric, Meta, ScanOptions, Scanner};

struct ScanState {
    rel: PgRelation,
    ivf: IvfIndex,
    scanner: Scanner<IndexMetric>,
    started: bool,
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambeginscan(index: pg_sys::Relation, nkeys: i32, norderbys: i32) -> pg_sys::IndexScanDesc {
    unsafe {
        let scan = pg_sys::RelationGetIndexScan(index, nkeys, norderbys);
        let ivf = IvfIndex::cached(index);
        let state = ScanState {
            rel: PgRelation::new(index, Logging::Generic),
            ivf,
            scanner: Scanner::new(ivf.metric()),
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
        so.scanner.end();
        rescan_orderbys(scan, orderbys, norderbys);
    }
}

/// The query as a payload: None for a NULL query (every distance is zero, as in pgvector), a
/// zero vector under cosine stays zero. Other dimensions than the index are pgvector's distance
/// error, the index's dimensions first (pgvector compares centers with the query).
unsafe fn query_payload(ivf: &IvfIndex, meta: &Meta, value: Option<pg_sys::Datum>) -> Option<Vec<u8>> {
    unsafe {
        let d = value?;
        let dims = meta.vtype.dims as usize;
        let qdims = match ivf.elements {
            Elements::F32 => VectorRef::from_datum(d).dim(),
            Elements::F16 => HalfvecRef::from_datum(d).dim(),
            Elements::Bit => bit_arg(d).0,
        };
        if qdims != dims {
            match ivf.elements {
                Elements::F32 => semvec_vector::check_same_dims_for("vector", dims, qdims),
                Elements::F16 => semvec_vector::check_same_dims_for("halfvec", dims, qdims),
                Elements::Bit => semvec_vector::check_same_bit_lengths(dims, qdims),
            }
            .or_raise();
        }
        let mut buf = Vec::new();
        if ivf.itype.payload(d, &mut buf).is_none() {
            return Some(vec![0; meta.vtype.payload_len()]);
        }
        Some(buf)
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amgettuple(scan: pg_sys::IndexScanDesc, _dir: pg_sys::ScanDirection::Type) -> bool {
    unsafe {
        pgrx::check_for_interrupts!();
        let so = &mut *((*scan).opaque as *mut ScanState);
        if !so.started {
            let value = begin_ordered_scan(scan, "ivfflat");
            let index = so.rel.rel;
            let meta = read_meta(&so.rel).or_raise_for(index);
            let query = query_payload(&so.ivf, &meta, value);
            let (probes, max_probes) = options::scan_probes();
            so.scanner
                .begin(&so.rel, query.as_deref(), ScanOptions { probes, max_probes })
                .or_raise_for(index);
            so.started = true;
        }
        match so.scanner.next(&so.rel) {
            Some((tid, _distance)) => {
                return_row(scan, tid);
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
        so.scanner.end();
    }
}
