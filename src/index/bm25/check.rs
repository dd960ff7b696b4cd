//! `semvec_index_check` for a bm25 index: the core crate's page and posting checks
//! (`semvec_bm25index::check`: pages, dictionaries, posting order, block impacts and counts,
//! the memtable), and with `heapallindexed` every row visible to a fresh MVCC snapshot must be
//! indexed with the document it holds (its TID among the index's documents, with the same
//! length). Called by `semvec_index_check` after it has taken the locks and the privilege check.

use super::Bm25Index;
use crate::index::am::item_pointer_tid;
use crate::index::hnsw::check::{json_str, visible_rows};
use crate::index::storage::{Logging, PgRelation};
use pgrx::pg_sys;
use pgrx::PgMemoryContexts;
use std::collections::HashSet;
use std::fmt::Write;

const MAX_PROBLEMS: usize = 100;

struct HeapState {
    info: Bm25Index,
    docs: HashSet<u64>,
    tmp: PgMemoryContexts,
    tuples: u64,
    unindexed: u64,
    problems: Vec<String>,
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn heap_callback(
    _index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _alive: bool,
    state: *mut std::ffi::c_void,
) {
    unsafe {
        let st = &mut *(state as *mut HeapState);
        if *isnull {
            return;
        }
        st.tuples += 1;
        if st.tuples.is_multiple_of(1024) {
            pgrx::check_for_interrupts!();
        }
        let t = item_pointer_tid(tid);
        // Converting the value checks that its document can be read (text through the index's
        // configuration) the way an insert would.
        let info = st.info;
        st.tmp.switch_to(|_| info.with_document(*values, |_, _| ()));
        st.tmp.reset();
        if !st.docs.contains(&t.to_u64()) {
            st.unindexed += 1;
            if st.problems.len() < MAX_PROBLEMS {
                st.problems.push(format!("heap tuple ({},{}) is not indexed", t.block, t.offset));
            }
        }
    }
}

/// The report as JSON text.
///
/// # Safety
/// `heap` and `index` are open and locked against writers.
pub unsafe fn check(heap: pg_sys::Relation, index: pg_sys::Relation, name: &str, heapallindexed: bool) -> String {
    unsafe {
        let info = Bm25Index::of(index);
        let rel = PgRelation::new(index, Logging::Generic);
        let mut problems: Vec<String> = Vec::new();
        let report = match semvec_bm25index::check(&rel, false) {
            Ok(r) => Some(r),
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        };
        if let Some(r) = &report {
            problems.extend(r.problems.iter().cloned());
        }
        let mut heap_note = None;
        let mut heap_counts = None;
        if heapallindexed && problems.is_empty() {
            // Every document of the index, through a scan without query terms.
            let mut docs = HashSet::new();
            let listed = semvec_bm25index::Scan::begin(&rel, &[], Default::default()).and_then(|mut s| {
                while let Some(tids) = s.next_unmatched(&rel)? {
                    docs.extend(tids.into_iter().map(|t| t.to_u64()));
                    pgrx::check_for_interrupts!();
                }
                Ok(())
            });
            match listed {
                Err(e) => problems.push(e.to_string()),
                Ok(()) => {
                    let mut st = HeapState {
                        info,
                        docs,
                        tmp: PgMemoryContexts::new("semvec_index_check"),
                        tuples: 0,
                        unindexed: 0,
                        problems: Vec::new(),
                    };
                    match visible_rows(heap, index, heap_callback, &mut st as *mut HeapState as *mut std::ffi::c_void) {
                        Err(note) => heap_note = Some(note),
                        Ok(()) => {
                            problems.append(&mut st.problems);
                            heap_counts = Some((st.tuples, st.unindexed));
                        }
                    }
                }
            }
        }
        let mut s = String::with_capacity(512);
        s.push_str("{\"index\": ");
        json_str(&mut s, name);
        let _ = write!(
            s,
            ", \"ok\": {}, \"am\": \"bm25\", \"pages\": {}",
            problems.is_empty(),
            semvec_storage::RelationRead::nblocks(&rel)
        );
        if let Some(r) = &report {
            let _ = write!(
                s,
                ", \"documents\": {}, \"total_length\": {}, \"segments\": {}, \"terms\": {}, \"postings\": {}, \"memtable_documents\": {}",
                r.n_docs, r.total_len, r.segments, r.terms, r.postings, r.mem_docs
            );
            let _ = write!(
                s,
                ", \"frozen_memtable\": {}, \"unreachable_pages\": {}, \"stray_postings\": {}",
                r.frozen, r.unreachable_pages, r.stray_postings
            );
        }
        if info.config != pg_sys::InvalidOid {
            s.push_str(", \"text_config\": ");
            json_str(&mut s, &super::scan::config_name(info.config));
        }
        let _ = write!(s, ", \"heap_checked\": {}", heap_counts.is_some());
        if let Some((tuples, unindexed)) = heap_counts {
            let _ = write!(s, ", \"heap_tuples_checked\": {tuples}, \"unindexed_rows\": {unindexed}");
        }
        if let Some(note) = heap_note {
            s.push_str(", \"heap_note\": ");
            json_str(&mut s, note);
        }
        let _ = write!(s, ", \"problem_count\": {}, \"problems\": [", problems.len());
        for (i, p) in problems.iter().take(MAX_PROBLEMS).enumerate() {
            if i > 0 {
                s.push_str(", ");
            }
            json_str(&mut s, p);
        }
        s.push_str("]}");
        s
    }
}
