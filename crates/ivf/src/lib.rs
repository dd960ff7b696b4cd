//! The IVFFlat index of semvec, in pure Rust: k-means centers, one list of entries per center
//! on PostgreSQL pages, inserts, scans that probe the nearest lists (with pgvector 0.8's relaxed
//! iterative scans) and vacuum.
//!
//! It runs on the page and relation traits of `semvec-storage` ([`semvec_storage::RelationRead`],
//! [`semvec_storage::RelationWrite`], [`semvec_storage::MemRelation`] for tests) and compares payloads
//! with its kernels ([`semvec_storage::Metric`]). The pgrx glue calls:
//!
//! | callback       | this crate |
//! |----------------|------------|
//! | `ambuild`      | [`Reservoir`] over sampled rows, [`kmeans`] (inside a rayon pool), [`write_lists`], [`Loader::push`] per heap row, [`Loader::finish`] |
//! | `ambuildempty` | the same with no rows (random centers) |
//! | `aminsert`     | [`insert`] |
//! | `amrescan` / `amgettuple` | [`Scanner::begin`] / [`Scanner::next`] |
//! | `ambulkdelete` | [`bulk_delete`] |
//! | cost estimate  | [`read_meta`] (number of lists) |
//!
//! Behaviour follows pgvector 0.8: samples are 50 rows per list (at least 10,000), k-means++ then
//! Elkan's k-means (spherical for inner product and cosine), pgvector's `maintenance_work_mem`
//! accounting and error; rows go to the nearest center by the index distance; a scan reads
//! `probes` lists and returns their rows sorted.
//!
//! # Locking
//!
//! Page locks are PostgreSQL buffer locks. Scans and vacuum lock one page at a time; an insert
//! locks one page at a time except while adding a page to a full chain (see [`mod@insert`]).
//! There is no coarse lock: list tuples never move, a list's chain only grows at its end, and
//! vacuum compacts pages in place.

pub mod build;
pub mod error;
pub mod insert;
pub mod kmeans;
pub mod page;
pub mod scan;
pub mod types;
pub mod vacuum;

pub use build::{build_from, write_lists, EntryWriter, Loader};
pub use error::{check_memory, IvfError};
pub use insert::{for_each_list, insert, nearest_list, read_meta};
pub use kmeans::{assign, elkan_memory, kmeans, kmeans_with_stats, nearest, sample_target, vector_array_size, KmeansStats};
pub use page::{ListLoc, Meta};
pub use scan::{ScanOptions, ScanStats, Scanner};
pub use semvec_storage::{Reservoir, Rng};
pub use types::{Distance, Elements, IndexMetric, KmeansMetric, Payloads, VectorType};
pub use vacuum::{bulk_delete, count_entries, VacuumStats};

/// The pool type the glue hands to [`Loader`] and runs [`kmeans`] in.
pub use rayon::ThreadPool;

/// A rayon pool of `threads` threads; None when no thread can be started (then work runs on
/// the caller's thread or rayon's global pool).
pub fn thread_pool(threads: usize) -> Option<ThreadPool> {
    rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build().ok()
}

/// Lists an index has unless `WITH (lists = ...)` says otherwise, and the allowed range.
pub const DEFAULT_LISTS: i32 = 100;
pub const MIN_LISTS: i32 = 1;
pub const MAX_LISTS: i32 = 32768;
/// Largest column typmod per element type (each entry fits a page).
pub const MAX_DIMS_VECTOR: i32 = 2000;
pub const MAX_DIMS_HALFVEC: i32 = 4000;
pub const MAX_DIMS_BIT: i32 = 64000;
/// The seed of every build's sampling and k-means: the same rows give the same index.
pub const BUILD_SEED: u64 = 0x1F_F1A7;
