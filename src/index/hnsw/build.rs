//! ambuild / ambuildempty: scan the heap into an in-memory arena, build the graph in parallel in
//! the core crate (rayon, no Postgres calls from its threads), then write all pages in one pass
//! and WAL-log them in bulk. Past `maintenance_work_mem` the part gathered so far is built and
//! written, a NOTICE is raised, and the remaining rows go through the on-disk insert path.

use super::opclass::{AnyMetric, IndexType};
use super::{options, PHASE_GRAPH, PHASE_LOAD, PHASE_WRITE};
use crate::error::{raise, INVALID_PARAMETER_VALUE, PROGRAM_LIMIT_EXCEEDED};
use crate::index::storage::{Logging, PgRelation};
use pgrx::pg_sys;
use crate::index::{build_threads, needs_wal, progress};
use semvec_hnsw::{build_graph_parallel, init_empty, write_graph, BuildArena, BuildParams, IndexOptions, Inserter, Tid};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

struct BuildState {
    index: pg_sys::Relation,
    fork: pg_sys::ForkNumber::Type,
    itype: IndexType,
    opts: IndexOptions,
    params: BuildParams,
    threads: usize,
    budget: usize,
    arena: BuildArena,
    buf: Vec<u8>,
    indexed: u64,
    /// Set once the in-memory part is written: later rows are inserted on disk.
    overflow: Option<Inserter<AnyMetric>>,
    /// Reset after every row: detoasted copies of vectors stored out of line would otherwise
    /// pile up in the statement's context until the build ends (on top of the arena's copy).
    tuple_cxt: pgrx::PgMemoryContexts,
}

pub fn item_pointer_tid(tid: pg_sys::ItemPointer) -> Tid {
    unsafe {
        let t = &*tid;
        let block = ((t.ip_blkid.bi_hi as u32) << 16) | t.ip_blkid.bi_lo as u32;
        Tid { block, offset: t.ip_posid }
    }
}

pub fn tid_item_pointer(tid: Tid, out: &mut pg_sys::ItemPointerData) {
    out.ip_blkid.bi_hi = (tid.block >> 16) as u16;
    out.ip_blkid.bi_lo = (tid.block & 0xFFFF) as u16;
    out.ip_posid = tid.offset;
}

/// Raise a core-crate HNSW error with pgvector's wording.
pub fn raise_hnsw(index: pg_sys::Relation, e: semvec_hnsw::HnswError) -> ! {
    let msg = match &e {
        semvec_hnsw::HnswError::ElementTooLarge { size, max } => {
            format!("index row size {size} exceeds maximum {max} for index \"{}\"", unsafe { rel_name(index) })
        }
        other => other.to_string(),
    };
    raise(e.sqlstate(), msg, None, None)
}

pub unsafe fn rel_name(rel: pg_sys::Relation) -> String {
    unsafe { std::ffi::CStr::from_ptr((*(*rel).rd_rel).relname.data.as_ptr()).to_string_lossy().into_owned() }
}




unsafe fn init_state(index: pg_sys::Relation, fork: pg_sys::ForkNumber::Type) -> BuildState {
    unsafe {
        let itype = IndexType::of(index);
        let attr = (*(*index).rd_att).attrs.as_slice(1)[0];
        let dims = attr.atttypmod;
        let (m, ef) = options::get(index);
        if dims < 0 {
            raise(INVALID_PARAMETER_VALUE, "column does not have dimensions", None, None);
        }
        if dims > itype.kind.max_dims() {
            raise(
                PROGRAM_LIMIT_EXCEEDED,
                format!("column cannot have more than {} dimensions for hnsw index", itype.kind.max_dims()),
                None,
                None,
            );
        }
        if ef / 2 < m {
            raise(INVALID_PARAMETER_VALUE, "ef_construction must be greater than or equal to 2 * m", None, None);
        }
        let threads = build_threads();
        BuildState {
            index,
            fork,
            itype,
            opts: IndexOptions { dims: dims as u32, m: m as u16, ef_construction: ef as u16, vector_kind: itype.kind as u16 },
            params: BuildParams { m: m as usize, ef_construction: ef as usize, ..BuildParams::default() },
            threads,
            budget: pg_sys::maintenance_work_mem.max(64) as usize * 1024,
            arena: BuildArena::new(),
            buf: Vec::new(),
            indexed: 0,
            overflow: None,
            tuple_cxt: pgrx::PgMemoryContexts::new("hnsw build tuple"),
        }
    }
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
        let mut indexed = false;
        if let Some(payload) = st.itype.payload(*values, &mut buf) {
            if let Some(inserter) = st.overflow.as_mut() {
                let rel = PgRelation::with_fork(st.index, st.fork, Logging::Generic);
                inserter.insert(&rel, payload, heap_tid).unwrap_or_else(|e| raise_hnsw(st.index, e));
            } else {
                if payload.len() > semvec_hnsw::MAX_PAYLOAD {
                    raise_hnsw(
                        st.index,
                        semvec_hnsw::HnswError::ElementTooLarge {
                            size: semvec_hnsw::tuple::element_tuple_size(payload.len()),
                            max: semvec_hnsw::tuple::element_tuple_size(semvec_hnsw::MAX_PAYLOAD),
                        },
                    );
                }
                st.arena.push(payload, heap_tid);
            }
            indexed = true;
        }
        pg_sys::MemoryContextSwitchTo(outer);
        st.tuple_cxt.reset();
        if indexed {
            st.indexed += 1;
            if st.indexed % 1024 == 0 {
                progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, st.indexed as i64);
                if st.overflow.is_none() && st.arena.estimate_build_memory(st.opts.m as usize, st.threads) > st.budget {
                    pgrx::notice!(
                        "hnsw graph no longer fits into maintenance_work_mem after {} tuples",
                        st.indexed
                    );
                    flush_in_memory(st);
                    st.overflow = Some(Inserter::new(st.itype.metric()));
                }
            }
        }
        st.buf = buf;
    }
}

/// Build the graph of everything gathered so far and write it, WAL-logged in bulk.
unsafe fn flush_in_memory(st: &mut BuildState) {
    unsafe {
        let rel = PgRelation::with_fork(st.index, st.fork, Logging::Bulk);
        if st.arena.is_empty() {
            init_empty(&rel, &st.opts);
        } else {
            progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_GRAPH);
            progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, st.arena.len() as i64);
            let metric = st.itype.metric();
            let graph = run_parallel_build(&st.arena, &st.params, &metric, st.threads);
            progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_WRITE);
            write_graph(&rel, &st.arena, &graph, &st.opts).unwrap_or_else(|e| raise_hnsw(st.index, e));
        }
        if needs_wal(st.index, st.fork) {
            rel.log_all_pages();
        }
        st.arena = BuildArena::new();
    }
}

/// Runs the rayon build on a helper thread while this (the backend's only Postgres) thread
/// reports progress and watches for query cancellation; on cancel the workers are stopped and
/// joined before the interrupt is serviced.
fn run_parallel_build(arena: &BuildArena, params: &BuildParams, metric: &AnyMetric, threads: usize) -> semvec_hnsw::Graph {
    let cancel = AtomicBool::new(false);
    let done = AtomicUsize::new(0);
    let result = std::thread::scope(|s| {
        let worker = s.spawn(|| build_graph_parallel(arena, params, metric, threads, &cancel, &done));
        while !worker.is_finished() {
            std::thread::sleep(std::time::Duration::from_millis(20));
            progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, done.load(Ordering::Relaxed) as i64);
            // Only a cancel or termination request stops the workers: InterruptPending is also
            // raised for harmless timeouts (e.g. the idle statistics flush) that the next
            // CHECK_FOR_INTERRUPTS services without an error.
            let cancel_requested = unsafe {
                std::ptr::read_volatile(&raw const pg_sys::QueryCancelPending) != 0
                    || std::ptr::read_volatile(&raw const pg_sys::ProcDiePending) != 0
            };
            if cancel_requested {
                cancel.store(true, Ordering::Relaxed);
            }
        }
        worker.join()
    });
    match result {
        Ok(Ok(graph)) => graph,
        Ok(Err(_cancelled)) => {
            pgrx::check_for_interrupts!();
            raise(semvec_hnsw::Cancelled::SQLSTATE, "canceling statement due to user request", None, None)
        }
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

unsafe fn build(heap: pg_sys::Relation, index: pg_sys::Relation, info: *mut pg_sys::IndexInfo, fork: pg_sys::ForkNumber::Type) -> (f64, u64) {
    unsafe {
        let mut st = init_state(index, fork);
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
        if st.overflow.is_none() {
            flush_in_memory(&mut st);
        }
        (reltuples, st.indexed)
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
