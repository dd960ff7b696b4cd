//! ambuild / ambuildempty: the heap is scanned into the core crate's `Builder`, which gathers
//! postings in memory up to `maintenance_work_mem` and writes a segment whenever they exceed it;
//! every page is WAL-logged in bulk at the end (`finish_bulk_write`). This file feeds documents,
//! reports progress and polls for cancellation.

use super::{Bm25Index, PHASE_LOAD, PHASE_WRITE};
use crate::index::am::{item_pointer_tid, OrRaiseFor};
use crate::index::progress;
use crate::index::storage::{Logging, PgRelation};
use pgrx::pg_sys;
use semvec_bm25index::Builder;

struct BuildState<'a> {
    index: pg_sys::Relation,
    info: Bm25Index,
    builder: Builder<'a, PgRelation>,
    docs: u64,
    /// Reset after every row: detoasted tsvectors and the text form's to_tsvector results.
    tuple_cxt: pgrx::PgMemoryContexts,
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn build_callback(
    _index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _alive: bool,
    state: *mut std::ffi::c_void,
) {
    unsafe {
        let st = &mut *(state as *mut BuildState);
        if *isnull {
            return;
        }
        let heap_tid = item_pointer_tid(tid);
        let outer = pg_sys::MemoryContextSwitchTo(st.tuple_cxt.value());
        let index = st.index;
        let builder = &mut st.builder;
        st.info
            .with_document(*values, |terms, len| builder.add(heap_tid, terms, len).or_raise_for(index));
        pg_sys::MemoryContextSwitchTo(outer);
        st.tuple_cxt.reset();
        st.docs += 1;
        if st.docs.is_multiple_of(1024) {
            progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, st.docs as i64);
            pgrx::check_for_interrupts!();
        }
    }
}

unsafe fn build(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
    fork: pg_sys::ForkNumber::Type,
) -> (f64, u64) {
    unsafe {
        let bm = Bm25Index::of(index);
        let rel = PgRelation::with_fork(index, fork, Logging::Bulk);
        let budget = pg_sys::maintenance_work_mem.max(64) as usize * 1024;
        let mut st = BuildState {
            index,
            info: bm,
            builder: Builder::new(&rel, budget),
            docs: 0,
            tuple_cxt: pgrx::PgMemoryContexts::new("bm25 build tuple"),
        };
        let mut reltuples = 0.0;
        if !heap.is_null() {
            progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_LOAD);
            reltuples = pg_sys::table_index_build_scan(
                heap,
                index,
                info,
                true,
                true,
                Some(build_callback),
                &mut st as *mut BuildState as *mut std::ffi::c_void,
                std::ptr::null_mut(),
            );
        }
        progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_WRITE);
        let docs = st.docs;
        let stats = st.builder.finish();
        debug_assert_eq!(stats.docs, docs);
        (reltuples, docs)
    }
}

#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambuild(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
) -> *mut pg_sys::IndexBuildResult {
    unsafe {
        let (heap_tuples, index_tuples) = build(heap, index, info, pg_sys::ForkNumber::MAIN_FORKNUM);
        crate::index::build_result(heap_tuples, index_tuples as f64)
    }
}

/// The init fork of an UNLOGGED index: an empty index, always WAL-logged.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambuildempty(index: pg_sys::Relation) {
    unsafe {
        build(std::ptr::null_mut(), index, std::ptr::null_mut(), pg_sys::ForkNumber::INIT_FORKNUM);
    }
}
