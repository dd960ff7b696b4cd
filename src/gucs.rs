//! Configuration parameters, with pgvector's names, defaults and ranges.

use pgrx::{GucContext, GucFlags, GucRegistry, GucSetting, PostgresGucEnum};
use std::ffi::CString;

#[allow(non_camel_case_types)]
#[derive(PostgresGucEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub enum IterativeScan {
    off,
    relaxed_order,
    strict_order,
}

pub static HNSW_EF_SEARCH: GucSetting<i32> = GucSetting::<i32>::new(40);
pub static HNSW_ITERATIVE_SCAN: GucSetting<IterativeScan> = GucSetting::<IterativeScan>::new(IterativeScan::off);
pub static HNSW_MAX_SCAN_TUPLES: GucSetting<i32> = GucSetting::<i32>::new(20000);
pub static HNSW_SCAN_MEM_MULTIPLIER: GucSetting<f64> = GucSetting::<f64>::new(1.0);
/// `semvec.hnsw_filter_exact_limit`: -1 decides by cost, else the most matching rows a filtered
/// hnsw scan answers exactly from its posting lists (0: always the graph).
pub static HNSW_FILTER_EXACT_LIMIT: GucSetting<i32> = GucSetting::<i32>::new(-1);

pub static BM25_INDEX_SEARCH: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static BM25_UNMATCHED_ROWS: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static BM25_SCAN_BATCH: GucSetting<i32> = GucSetting::<i32>::new(20);

pub static SEMVEC_DEFAULT_MODEL: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"all-MiniLM-L6-v2"));
pub static SEMVEC_EMBED_THREADS: GucSetting<i32> = GucSetting::<i32>::new(1);
pub static SEMVEC_EMBED_BATCH_SIZE: GucSetting<i32> = GucSetting::<i32>::new(32);
pub static SEMVEC_MODEL_DIR: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);
pub static SEMVEC_ONNXRUNTIME_PATH: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(None);

pub static SHARD_LIMIT_PUSHDOWN: GucSetting<bool> = GucSetting::<bool>::new(true);
pub static VECTORIZER_WORKERS: GucSetting<i32> = GucSetting::<i32>::new(1);
pub static VECTORIZER_NAPTIME: GucSetting<i32> = GucSetting::<i32>::new(1000);
pub static VECTORIZER_NICE: GucSetting<i32> = GucSetting::<i32>::new(10);
pub static VECTORIZER_DATABASE: GucSetting<Option<CString>> = GucSetting::<Option<CString>>::new(Some(c"postgres"));

/// A string GUC's value, None when unset or empty.
pub fn string(setting: &GucSetting<Option<CString>>) -> Option<String> {
    setting.get().map(|c| c.to_string_lossy().into_owned()).filter(|s| !s.is_empty())
}

pub fn init() {
    GucRegistry::define_bool_guc(
        c"semvec.bm25_index_search",
        c"Whether bm25_query(), bm25_search() and hybrid_search() use a bm25 index of the column",
        c"Off: they count document frequencies through the GIN index and score every matching row.",
        &BM25_INDEX_SEARCH,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"semvec.shard_limit_pushdown",
        c"Whether ORDER BY distance LIMIT n on a partitioned table of postgres_fdw partitions ships LIMIT n to every shard",
        c"On: the plan's Merge Append of the shards' scans becomes a Sort of an (asynchronous) Append, and every remote query gets the LIMIT (docs/scale-out.md).",
        &SHARD_LIMIT_PUSHDOWN,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_bool_guc(
        c"semvec.bm25_unmatched_rows",
        c"Whether a bm25 index scan returns the rows that match no query term after the others",
        c"On (the default), ORDER BY doc <@> query returns every row, as without the index; off: only matching rows.",
        &BM25_UNMATCHED_ROWS,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"semvec.bm25_scan_batch",
        c"Rows the first block-max WAND pass of a bm25 index scan looks for",
        c"Later passes ask for twice as many more each. Set it above the LIMIT to serve a deep LIMIT in one pass; bm25_search and hybrid_search set it from their depth.",
        &BM25_SCAN_BATCH,
        1,
        1_000_000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"hnsw.ef_search",
        c"Sets the size of the dynamic candidate list for search",
        c"Valid range is 1..1000.",
        &HNSW_EF_SEARCH,
        1,
        1000,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_enum_guc(
        c"hnsw.iterative_scan",
        c"Sets the mode for iterative scans",
        c"off, relaxed_order or strict_order.",
        &HNSW_ITERATIVE_SCAN,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"hnsw.max_scan_tuples",
        c"Sets the max number of tuples to visit for iterative scans",
        c"",
        &HNSW_MAX_SCAN_TUPLES,
        1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"semvec.hnsw_filter_exact_limit",
        c"Most rows matching the filter keys of an hnsw index that a scan ranks exactly from the index's posting lists.",
        c"-1 (default) decides by cost: exact when that computes fewer distances than a graph search skipping the rows that do not match; 0 always searches the graph.",
        &HNSW_FILTER_EXACT_LIMIT,
        -1,
        i32::MAX,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_float_guc(
        c"hnsw.scan_mem_multiplier",
        c"Sets the multiple of work_mem to use for iterative scans",
        c"",
        &HNSW_SCAN_MEM_MULTIPLIER,
        1.0,
        1000.0,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"semvec.default_model",
        c"Model used by embed(text) and embed_batch(text[])",
        c"A name registered in semvec_model.",
        &SEMVEC_DEFAULT_MODEL,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"semvec.embed_threads",
        c"ONNX Runtime intra-op threads per backend",
        c"Keep 1 when many backends embed at once, so they do not oversubscribe the CPU.",
        &SEMVEC_EMBED_THREADS,
        1,
        64,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"semvec.embed_batch_size",
        c"Texts per inference in embed_batch() and semvec_embed_table()",
        c"",
        &SEMVEC_EMBED_BATCH_SIZE,
        1,
        4096,
        GucContext::Userset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"semvec.model_dir",
        c"Folder below which non-superusers may register models",
        c"Empty means the extension's share folder: <sharedir>/extension/semvec/models.",
        &SEMVEC_MODEL_DIR,
        GucContext::Suset,
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"semvec.onnxruntime_path",
        c"Path of the ONNX Runtime shared library",
        c"Empty means <sharedir>/extension/semvec/lib/libonnxruntime.so.1.32.0.",
        &SEMVEC_ONNXRUNTIME_PATH,
        GucContext::Suset,
        GucFlags::default(),
    );
    // The workers are registered (and connect) once, at server start: their settings are
    // PGC_POSTMASTER there. A backend that loads semvec later may not define PGC_POSTMASTER settings,
    // and without them the reserved prefix would drop these lines of postgresql.conf with a warning:
    // there they are defined as reloadable, and change nothing (no workers run).
    let at_server_start = unsafe { pgrx::pg_sys::process_shared_preload_libraries_in_progress };
    let start_context = || {
        if at_server_start {
            GucContext::Postmaster
        } else {
            GucContext::Sighup
        }
    };
    GucRegistry::define_int_guc(
        c"semvec.vectorizer_workers",
        c"Background workers that embed the rows vectorizers queue",
        c"Started when semvec is in shared_preload_libraries; 0 starts none (CALL semvec_vectorizer_run() still works). Each takes a slot of max_worker_processes.",
        &VECTORIZER_WORKERS,
        0,
        64,
        start_context(),
        GucFlags::default(),
    );
    GucRegistry::define_int_guc(
        c"semvec.vectorizer_naptime",
        c"How long a vectorizer worker sleeps when it finds no pending row or after an error",
        c"",
        &VECTORIZER_NAPTIME,
        10,
        3_600_000,
        GucContext::Sighup,
        GucFlags::UNIT_MS,
    );
    GucRegistry::define_int_guc(
        c"semvec.vectorizer_nice",
        c"The scheduling niceness of the vectorizer workers (and their ONNX Runtime threads)",
        c"Above 0, queries and writes get the CPU before the background embedding; 0 gives the workers the priority of any backend. Applied when a worker starts.",
        &VECTORIZER_NICE,
        0,
        19,
        start_context(),
        GucFlags::default(),
    );
    GucRegistry::define_string_guc(
        c"semvec.vectorizer_database",
        c"The database whose vectorizers the background workers serve",
        c"One database per server: the workers connect to it at start.",
        &VECTORIZER_DATABASE,
        start_context(),
        GucFlags::default(),
    );
    unsafe {
        pgrx::pg_sys::MarkGUCPrefixReserved(c"hnsw".as_ptr());
        pgrx::pg_sys::MarkGUCPrefixReserved(c"semvec".as_ptr());
    }
}
