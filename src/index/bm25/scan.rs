//! ambeginscan / amrescan / amgettuple / amendscan: `ORDER BY doc <@> query`. The first call runs
//! block-max WAND for the best `semvec.bm25_scan_batch` documents (default 20: a top-10 and the
//! rows after it, to see ties, at once) with the query's own weights, later
//! calls ask the core crate for twice as many more each time (`Scan::next_batch` continues after
//! the last one returned), and once every matching document is out, the documents that match no
//! query term follow (score 0, `Scan::next_unmatched`) unless `semvec.bm25_unmatched_rows` is off.
//! So the index returns every indexed row in the operator's order, and `WHERE` filters above it
//! stay correct however many rows they reject. Nothing is locked between calls.

use super::query::Bm25Query;
use super::Bm25Index;
use crate::error::{raise, INVALID_PARAMETER_VALUE};
use crate::gucs;
use crate::index::am::{begin_ordered_scan, rel_name, rescan_orderbys, return_row, OrRaiseFor};
use crate::index::storage::{Logging, PgRelation};
use pgrx::pg_sys;
use pgrx::PgMemoryContexts;
use semvec_bm25index::{Scan, Strategy};
use semvec_storage::Tid;
use std::collections::VecDeque;

enum Phase {
    NotStarted,
    Matching { next_k: usize },
    Unmatched,
    Done,
}

struct ScanState {
    rel: PgRelation,
    info: Bm25Index,
    scan: Option<Scan>,
    phase: Phase,
    ready: VecDeque<Tid>,
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambeginscan(index: pg_sys::Relation, nkeys: i32, norderbys: i32) -> pg_sys::IndexScanDesc {
    unsafe {
        let scan = pg_sys::RelationGetIndexScan(index, nkeys, norderbys);
        let state = ScanState {
            rel: PgRelation::new(index, Logging::Generic).with_buffer_hints(),
            info: Bm25Index::cached(index),
            scan: None,
            phase: Phase::NotStarted,
            ready: VecDeque::new(),
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
        so.scan = None;
        so.phase = Phase::NotStarted;
        so.ready.clear();
        rescan_orderbys(scan, orderbys, norderbys);
    }
}

/// Start the scan for `query` (None: a NULL query, which matches nothing).
unsafe fn begin(so: &mut ScanState, index: pg_sys::Relation, query: Option<pg_sys::Datum>) {
    unsafe {
        let q = query.map(|d| Bm25Query::parse(d));
        if let Some(q) = &q {
            if so.info.config != pg_sys::InvalidOid && q.config != pg_sys::InvalidOid && q.config != so.info.config {
                raise(
                    INVALID_PARAMETER_VALUE,
                    format!(
                        "bm25 query was parsed with text search configuration {}, but index \"{}\" uses {}",
                        config_name(q.config),
                        rel_name(index),
                        config_name(so.info.config)
                    ),
                    None,
                    Some("Build the query with bm25_query() for this index's column.".into()),
                );
            }
            if so.info.text && q.config == pg_sys::InvalidOid {
                raise(
                    INVALID_PARAMETER_VALUE,
                    "bm25query has no text search configuration to parse a text document with",
                    None,
                    Some("Build the query with bm25_query() for this index's column.".into()),
                );
            }
        }
        let (lexemes, params) = match &q {
            Some(q) => (q.lexemes.clone(), q.params),
            None => (Vec::new(), Default::default()),
        };
        let terms: Vec<(&[u8], u32)> = lexemes.iter().map(|l| (l.as_bytes(), 1)).collect();
        let mut s = Scan::begin(&so.rel, &terms, params).or_raise_for(index);
        if let Some(q) = q {
            s.set_weights(q.weights, q.avg_len).or_raise_for(index);
        }
        so.scan = Some(s);
        so.phase = if !terms.is_empty() {
            Phase::Matching {
                next_k: gucs::BM25_SCAN_BATCH.get().max(1) as usize,
            }
        } else if gucs::BM25_UNMATCHED_ROWS.get() {
            Phase::Unmatched
        } else {
            Phase::Done
        };
    }
}

pub(crate) unsafe fn config_name(oid: pg_sys::Oid) -> String {
    unsafe {
        let d = pgrx::direct_function_call_as_datum(pg_sys::regconfigout, &[Some(pg_sys::Datum::from(oid))]).expect("regconfigout");
        std::ffi::CStr::from_ptr(d.cast_mut_ptr()).to_string_lossy().into_owned()
    }
}

/// Refill `ready` from the core scan; false at the end.
unsafe fn refill(so: &mut ScanState, index: pg_sys::Relation) -> bool {
    unsafe {
        while so.ready.is_empty() {
            let s = so.scan.as_mut().expect("scan begun");
            match so.phase {
                Phase::Matching { next_k } => {
                    let hits = s.next_batch(&so.rel, next_k, Strategy::BlockMaxWand).or_raise_for(index);
                    let short = hits.len() < next_k;
                    so.ready.extend(hits.into_iter().map(|h| h.tid));
                    so.phase = if !short {
                        Phase::Matching {
                            next_k: next_k.saturating_mul(2),
                        }
                    } else if gucs::BM25_UNMATCHED_ROWS.get() {
                        Phase::Unmatched
                    } else {
                        Phase::Done
                    };
                }
                Phase::Unmatched => match s.next_unmatched(&so.rel).or_raise_for(index) {
                    Some(tids) => so.ready.extend(tids),
                    None => so.phase = Phase::Done,
                },
                Phase::Done | Phase::NotStarted => return false,
            }
            pgrx::check_for_interrupts!();
        }
        true
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amgettuple(scan: pg_sys::IndexScanDesc, _dir: pg_sys::ScanDirection::Type) -> bool {
    unsafe {
        pgrx::check_for_interrupts!();
        let index = (*scan).indexRelation;
        let so = &mut *((*scan).opaque as *mut ScanState);
        if matches!(so.phase, Phase::NotStarted) {
            let value = begin_ordered_scan(scan, "bm25");
            begin(so, index, value);
        }
        if !refill(so, index) {
            return false;
        }
        let tid = so.ready.pop_front().expect("refilled");
        return_row(scan, tid);
        true
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amendscan(scan: pg_sys::IndexScanDesc) {
    unsafe {
        let so = &mut *((*scan).opaque as *mut ScanState);
        so.scan = None;
        so.ready.clear();
    }
}
