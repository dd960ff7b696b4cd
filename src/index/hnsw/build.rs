//! ambuild / ambuildempty: the heap is scanned into the core crate's `IndexBuilder`, which builds
//! the graph in memory in parallel (rayon, no Postgres calls from its threads) and writes all
//! pages in one pass, WAL-logged in bulk. Past `maintenance_work_mem` the part gathered so far is
//! built and written, a NOTICE is raised, and the remaining rows go through the on-disk insert
//! path. This file only feeds rows, reports progress and polls for cancellation.

use super::opclass::{AnyMetric, IndexType, Quant};
use super::{options, PHASE_GRAPH, PHASE_LOAD, PHASE_WRITE};
use crate::error::{raise, INVALID_PARAMETER_VALUE};
use crate::index::am::{build_dims, cancel_requested, item_pointer_tid, OrRaiseFor};
use crate::index::storage::{Logging, PgRelation};
use crate::index::{build_threads, progress};
use pgrx::pg_sys;
use semvec_hnsw::{BuildHooks, BuildParams, BuildPhase, IndexBuilder, IndexOptions};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

/// Progress reporting and cancellation for the core crate's parallel phases (on this thread).
struct Hooks<'a> {
    cancel: &'a AtomicBool,
    done: &'a AtomicUsize,
}

impl BuildHooks for Hooks<'_> {
    fn poll(&mut self) {
        progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, self.done.load(Ordering::Relaxed) as i64);
        if cancel_requested() {
            self.cancel.store(true, Ordering::Relaxed);
        }
    }

    fn phase(&mut self, phase: BuildPhase) {
        match phase {
            BuildPhase::Graph { elements } => {
                progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_GRAPH);
                progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, elements as i64);
            }
            BuildPhase::Write => progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_WRITE),
        }
    }
}

struct BuildState<'a> {
    index: pg_sys::Relation,
    itype: IndexType,
    rel: PgRelation,
    builder: IndexBuilder<'a, AnyMetric>,
    hooks: Hooks<'a>,
    buf: Vec<u8>,
    /// Reset after every row: detoasted copies of vectors stored out of line would otherwise
    /// pile up in the statement's context until the build ends (on top of the builder's copy).
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
        let mut buf = std::mem::take(&mut st.buf);
        let outer = pg_sys::MemoryContextSwitchTo(st.tuple_cxt.value());
        let added = match st.itype.row_payload(st.index, values, isnull, &mut buf) {
            Some(payload) => Some(st.builder.add(&st.rel, payload, heap_tid, &mut st.hooks).or_raise_for(st.index)),
            None => None,
        };
        pg_sys::MemoryContextSwitchTo(outer);
        st.tuple_cxt.reset();
        st.buf = buf;
        let Some(spilled) = added else { return };
        if spilled {
            pgrx::notice!(
                "hnsw graph no longer fits into maintenance_work_mem after {} tuples",
                st.builder.heap_tuples() - 1
            );
            progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_LOAD);
        }
        if st.builder.heap_tuples() % 1024 == 0 {
            progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, st.builder.heap_tuples() as i64);
            pgrx::check_for_interrupts!();
        }
    }
}

/// Bytes of the vector each posting keeps (`WITH (key_vectors = on)` on an index with key
/// columns), else 0. Refused where it cannot pay: sparse vectors (no fixed size), and vectors so
/// large that a page of postings holds fewer than two (their own element pages are as dense).
unsafe fn key_vector_len(index: pg_sys::Relation, itype: &IndexType, dims: u32) -> u16 {
    unsafe {
        if itype.keys.is_empty() || !options::key_vectors(index) {
            return 0;
        }
        let max = semvec_hnsw::postings::max_inline_vector_len();
        match itype.payload_len(dims as i32) {
            None => raise(INVALID_PARAMETER_VALUE, "key_vectors is not supported for sparsevec", None, None),
            Some(n) if n > max => raise(
                INVALID_PARAMETER_VALUE,
                format!("key_vectors supports vectors of at most {max} bytes, this column's have {n}"),
                None,
                Some(format!(
                    "That is {} dimensions of vector or {} of halfvec; larger vectors fill a page each, where key_vectors saves nothing.",
                    max / 4,
                    max / 2
                )),
            ),
            Some(n) => n as u16,
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
        let itype = IndexType::of(index);
        itype.check_quantization();
        let dims = build_dims(
            index,
            "hnsw",
            itype.max_dims(),
            (itype.quant == Quant::Sq8).then_some("quantization = 'sq4' indexes up to 16000 dimensions."),
        );
        if itype.quant == Quant::Sq4 && (dims as usize) < semvec_quant::SQ4_MIN_DIMS {
            raise(
                INVALID_PARAMETER_VALUE,
                format!("quantization = 'sq4' needs at least {} dimensions", semvec_quant::SQ4_MIN_DIMS),
                None,
                None,
            );
        }
        let (m, ef) = options::get(index);
        if ef / 2 < m {
            raise(
                INVALID_PARAMETER_VALUE,
                "ef_construction must be greater than or equal to 2 * m",
                None,
                None,
            );
        }
        let threads = build_threads();
        let opts = IndexOptions {
            dims,
            m: m as u16,
            ef_construction: ef as u16,
            vector_kind: itype.meta_kind(),
            key_columns: itype.keys.len() as u16,
            key_vector_len: key_vector_len(index, &itype, dims),
        };
        let params = BuildParams {
            m: m as usize,
            ef_construction: ef as usize,
            ..BuildParams::default()
        };
        let budget = pg_sys::maintenance_work_mem.max(64) as usize * 1024;
        let (cancel, done) = (AtomicBool::new(false), AtomicUsize::new(0));
        let mut st = BuildState {
            index,
            itype,
            rel: PgRelation::with_fork(index, fork, Logging::Bulk),
            builder: IndexBuilder::new(opts, params, itype.metric(), threads, budget, &cancel, &done),
            hooks: Hooks {
                cancel: &cancel,
                done: &done,
            },
            buf: Vec::new(),
            tuple_cxt: pgrx::PgMemoryContexts::new("hnsw build tuple"),
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
        let BuildState {
            rel, builder, mut hooks, ..
        } = st;
        // The builder logged the in-memory part in bulk when it wrote it (finish_bulk_write);
        // rows inserted on disk after a spill were logged one change at a time.
        let stats = builder.finish(&rel, &mut hooks).or_raise_for(index);
        (reltuples, stats.heap_tuples)
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
