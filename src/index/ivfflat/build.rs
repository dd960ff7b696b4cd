//! ambuild / ambuildempty, like pgvector: sample rows from random heap blocks (50 per list, at
//! least 10,000), k-means in the core crate on a rayon pool (polled for cancellation from this
//! thread, which alone talks to PostgreSQL), write the meta and list pages, then scan the heap,
//! assign each row to its nearest center in parallel batches and write each list's pages; all
//! pages are WAL-logged in bulk at the end.

use super::{options, IvfIndex, PHASE_ASSIGN, PHASE_KMEANS, PHASE_LOAD};
use crate::error::{raise, sqlstate, INVALID_PARAMETER_VALUE};
use crate::index::am::{build_dims, item_pointer_tid, run_polling, OrRaiseFor};
use crate::index::storage::{Logging, PgRelation};
use crate::index::{build_threads, progress};
use pgrx::pg_sys;
use pgrx::pg_sys::panic::ErrorReport;
use pgrx::PgLogLevel;
use semvec_ivf::{
    check_memory, kmeans_with_stats, sample_target, vector_array_size, write_lists, Distance, IvfError, KmeansStats, Loader, Meta,
    Payloads, Reservoir, ThreadPool, VectorType, BUILD_SEED,
};
use semvec_storage::RelationWrite;
use std::sync::atomic::AtomicBool;

/// `MaxHeapTuplesPerPage` of 8 KB pages.
const MAX_HEAP_TUPLES_PER_PAGE: u64 = 291;

/// A memory context for each row's detoasted value, reset after the row.
struct RowContext(pg_sys::MemoryContext);

impl RowContext {
    unsafe fn new() -> RowContext {
        unsafe {
            RowContext(pg_sys::AllocSetContextCreateInternal(
                pg_sys::CurrentMemoryContext,
                c"ivfflat build temporary context".as_ptr(),
                pg_sys::ALLOCSET_DEFAULT_MINSIZE as usize,
                pg_sys::ALLOCSET_DEFAULT_INITSIZE as usize,
                pg_sys::ALLOCSET_DEFAULT_MAXSIZE as usize,
            ))
        }
    }

    /// Run `f` with this context current, then free what it allocated.
    unsafe fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        unsafe {
            let old = pg_sys::MemoryContextSwitchTo(self.0);
            let r = f();
            pg_sys::MemoryContextSwitchTo(old);
            pg_sys::MemoryContextReset(self.0);
            r
        }
    }
}

impl Drop for RowContext {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            unsafe { pg_sys::MemoryContextDelete(self.0) }
        }
    }
}

struct SampleState<'a> {
    ivf: IvfIndex,
    vtype: VectorType,
    reservoir: Reservoir,
    samples: &'a mut Payloads,
    rows: &'a RowContext,
    buf: Vec<u8>,
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn sample_callback(
    _index: pg_sys::Relation,
    _tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _alive: bool,
    state: *mut std::ffi::c_void,
) {
    unsafe {
        let st = &mut *(state as *mut SampleState);
        if *isnull {
            return;
        }
        let mut buf = std::mem::take(&mut st.buf);
        st.rows.run(|| {
            if !st.vtype.spherical() {
                // Under L2 and Hamming every row is a candidate: draw first, decode only kept rows.
                if let Some(slot) = st.reservoir.offer() {
                    st.ivf.itype.payload(*values, &mut buf);
                    keep_sample(st.samples, slot, &buf);
                }
                return;
            }
            // Spherical k-means needs unit vectors (cosine payloads already are): rows without a
            // direction are not sampled.
            if st.ivf.itype.payload(*values, &mut buf).is_none() {
                return;
            }
            if st.vtype.distance == Distance::InnerProduct && !st.vtype.normalize(&mut buf) {
                return;
            }
            if let Some(slot) = st.reservoir.offer() {
                keep_sample(st.samples, slot, &buf);
            }
        });
        st.buf = buf;
    }
}

/// Store a sample in the reservoir slot it drew (`slot == len` appends).
fn keep_sample(samples: &mut Payloads, slot: usize, payload: &[u8]) {
    if slot == samples.len() {
        samples.push(payload);
    } else {
        samples.set(slot, payload);
    }
}

/// Rows from random blocks, reservoir-sampled, like ANALYZE and pgvector.
unsafe fn sample_rows(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
    ivf: IvfIndex,
    vtype: VectorType,
    target: usize,
    samples: &mut Payloads,
) {
    unsafe {
        let rows = RowContext::new();
        let mut st = SampleState {
            ivf,
            vtype,
            reservoir: Reservoir::new(target, BUILD_SEED),
            samples,
            rows: &rows,
            buf: Vec::new(),
        };
        let nblocks = pg_sys::RelationGetNumberOfBlocksInFork(heap, pg_sys::ForkNumber::MAIN_FORKNUM);
        let mut bs: pg_sys::BlockSamplerData = std::mem::zeroed();
        pg_sys::BlockSampler_Init(&mut bs, nblocks, target.min(i32::MAX as usize) as i32, BUILD_SEED as u32);
        while pg_sys::BlockSampler_HasMore(&mut bs) {
            let block = pg_sys::BlockSampler_Next(&mut bs);
            pg_sys::table_index_build_range_scan(
                heap,
                index,
                info,
                false,
                false,
                false,
                block,
                1,
                Some(sample_callback),
                &mut st as *mut SampleState as *mut std::ffi::c_void,
                std::ptr::null_mut(),
            );
        }
    }
}

/// k-means on a helper thread (inside the pool) while this thread watches for cancellation;
/// on cancel the workers stop and are joined before the interrupt is serviced.
fn run_kmeans(
    vtype: &VectorType,
    samples: &Payloads,
    lists: usize,
    used: usize,
    budget_kb: usize,
    pool: Option<&ThreadPool>,
) -> Result<(Payloads, KmeansStats), IvfError> {
    let cancel = AtomicBool::new(false);
    let work = || kmeans_with_stats(vtype, samples, lists, BUILD_SEED, used, budget_kb, &cancel);
    run_polling(
        &cancel,
        || match pool {
            Some(p) => p.install(work),
            None => work(),
        },
        || {},
    )
}

struct LoadState<'a> {
    ivf: IvfIndex,
    rel: &'a PgRelation,
    loader: Loader<'a>,
    rows: &'a RowContext,
    buf: Vec<u8>,
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn load_callback(
    index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _alive: bool,
    state: *mut std::ffi::c_void,
) {
    unsafe {
        let st = &mut *(state as *mut LoadState);
        if *isnull {
            return;
        }
        pgrx::check_for_interrupts!();
        let heap_tid = item_pointer_tid(tid);
        let mut buf = std::mem::take(&mut st.buf);
        let result = st.rows.run(|| match st.ivf.itype.payload(*values, &mut buf) {
            // zero vectors are not indexed under cosine
            None => Ok(()),
            Some(p) => st.loader.push(st.rel, heap_tid, p),
        });
        result.or_raise_for(index);
        st.buf = buf;
    }
}

unsafe fn build(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    info: *mut pg_sys::IndexInfo,
    fork: pg_sys::ForkNumber::Type,
) -> (f64, u64) {
    unsafe {
        let ivf = IvfIndex::of(index);
        let lists = options::lists(index) as usize;
        let dims = build_dims(index, "ivfflat", ivf.max_dims(), None);
        let vtype = ivf.vector_type(dims);
        if vtype.spherical() && dims == 1 {
            raise(
                INVALID_PARAMETER_VALUE,
                "dimensions must be greater than one for this opclass",
                None,
                None,
            );
        }
        let budget_kb = pg_sys::maintenance_work_mem.max(0) as usize;
        let mut used = vector_array_size(lists, vtype.item_size());
        check_memory(used, budget_kb).or_raise_for(index);

        // Sample and compute the centers.
        progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_KMEANS);
        let target = if heap.is_null() {
            1
        } else {
            let nblocks = pg_sys::RelationGetNumberOfBlocksInFork(heap, pg_sys::ForkNumber::MAIN_FORKNUM) as u64;
            sample_target(lists, nblocks * MAX_HEAP_TUPLES_PER_PAGE)
        };
        used += vector_array_size(target, vtype.item_size());
        check_memory(used, budget_kb).or_raise_for(index);
        let mut samples = Payloads::new(vtype.payload_len());
        if !heap.is_null() {
            samples.reserve(target);
            sample_rows(heap, index, info, ivf, vtype, target, &mut samples);
            if samples.len() < lists {
                ErrorReport::new(sqlstate("00000"), "ivfflat index created with little data", "semvec")
                    .set_detail("This will cause low recall.")
                    .set_hint("Drop the index until the table has more data.")
                    .report(PgLogLevel::NOTICE);
            }
        }
        let pool = semvec_ivf::thread_pool(build_threads());
        let started = std::time::Instant::now();
        let (centers, stats) = run_kmeans(&vtype, &samples, lists, used, budget_kb, pool.as_ref()).or_raise_for(index);
        pgrx::debug1!(
            "ivfflat k-means: {} samples, {} lists, {} iterations ({} changes in the last) in {:?}",
            samples.len(),
            lists,
            stats.iterations,
            stats.last_changes,
            started.elapsed()
        );
        drop(samples);

        // Meta and list pages, then every row into its list.
        let rel = PgRelation::with_fork(index, fork, Logging::Bulk);
        let locs = write_lists(
            &rel,
            &Meta {
                vtype,
                lists: lists as u32,
            },
            &centers,
        )
        .or_raise_for(index);
        progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_ASSIGN);
        let rows = RowContext::new();
        let mut st = LoadState {
            ivf,
            rel: &rel,
            loader: Loader::new(&vtype, &centers, budget_kb * 1024, pool.as_ref()),
            rows: &rows,
            buf: Vec::new(),
        };
        let mut reltuples = 0.0;
        if !heap.is_null() {
            reltuples = pg_sys::table_index_build_scan(
                heap,
                index,
                info,
                true,
                true,
                Some(load_callback),
                &mut st as *mut LoadState as *mut std::ffi::c_void,
                std::ptr::null_mut(),
            );
        }
        progress(pg_sys::PROGRESS_CREATEIDX_SUBPHASE, PHASE_LOAD);
        progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_TOTAL, st.loader.indexed() as i64);
        let indexed = st.loader.finish(&rel, &locs);
        progress(pg_sys::PROGRESS_CREATEIDX_TUPLES_DONE, indexed as i64);
        rel.finish_bulk_write();
        (reltuples, indexed)
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

/// The init fork of an UNLOGGED index: an index over no rows (random centers), WAL-logged.
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn ambuildempty(index: pg_sys::Relation) {
    unsafe {
        let info = pg_sys::BuildIndexInfo(index);
        build(std::ptr::null_mut(), index, info, pg_sys::ForkNumber::INIT_FORKNUM);
    }
}
