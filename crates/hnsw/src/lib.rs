//! The HNSW index of semvec, in pure Rust: PostgreSQL page format, parallel
//! in-memory build, on-disk insert, search (with iterative scans) and vacuum.
//!
//! The pgrx glue implements [`RelationRead`] / [`RelationWrite`] on an index
//! relation and calls:
//!
//! | callback       | this crate |
//! |----------------|------------|
//! | `ambuild`      | [`IndexBuilder::add`] per heap tuple, [`IndexBuilder::finish`] (or by hand: [`BuildArena::push`], [`build_graph_parallel_polling`], [`write_graph`] / [`init_empty`], [`Inserter::insert`] past `maintenance_work_mem`) |
//! | `ambuildempty` | [`init_empty`] |
//! | `aminsert`     | [`fn@insert`] (or a reused [`Inserter`]) |
//! | `amrescan` / `amgettuple` | [`Searcher::set_filter`], [`Searcher::begin`] / [`Searcher::next`] |
//! | `ambulkdelete` | [`bulk_delete_with`] |
//! | `amvacuumcleanup` | [`count_tuples`] when no bulk delete ran |
//!
//! Payloads are opaque bytes compared by a [`Metric`]; see [`metric`] for the
//! built-in payload layouts and [`mod@tuple`] for the on-page format. An index
//! with filter key columns stores keyed payloads ([`keys`]: the vector, then its
//! keys; compare them with [`keys::KeyedMetric`]) and per-key posting lists
//! ([`postings`]) that filtered scans use when few elements match.
//!
//! Notes for the glue:
//! * [`RelationRead::prefetch`] is called once per distinct block of each
//!   neighbour batch, just before those blocks are read. `PrefetchBuffer` costs
//!   a buffer-mapping lookup even when the page is cached, so make it a no-op
//!   when the index fits in `shared_buffers`.
//! * [`RelationRead::page_hint`] lets the search start the cache misses of a
//!   whole neighbour batch (page headers, then element tuples) before taking
//!   its first lock; the glue returns where it last saw the page, unpinned.
//! * A [`Searcher`] reused across scans keeps its grown buffers; pass the
//!   meta page read with [`read_meta_page`] to [`Searcher::begin_with_meta`]
//!   so a query reads the meta page once.
//! * During `ambuild` nothing runs concurrently, so `lock_update` may be a
//!   no-op there; `write_graph` only calls `extend()` (each page written once,
//!   in block order), so the build can skip per-page WAL and
//!   `log_newpage_range` afterwards.
//! * Distances returned by [`Searcher::next`] are the metric's (squared for
//!   L2); convert with [`Metric::to_sql`] if they are ever reported.
//!
//! # Locking protocol
//!
//! Page locks are the buffer content locks of Postgres (`LWLock`s, no
//! deadlock detection), so the rules are strict:
//!
//! * **At most one page lock is held at any time**, by every operation. No
//!   code path holds a page while locking another; meta page changes are
//!   separate single-page writes too. The one exception is the key pages of
//!   an index with filter keys ([`postings`]): a writer holding a key page may
//!   lock a key page with a higher block number (or one it adds at the end), so
//!   those locks are always taken in increasing block order and never wait in a
//!   cycle; no other page is locked meanwhile.
//! * Each [`RelationWrite::write`] guard is one atomic change (one Generic WAL
//!   record) and leaves the index valid on its own. Multi-page changes are
//!   ordered so every intermediate state is valid: an insert writes its new
//!   element (unreachable) before linking it from neighbours, and the entry
//!   point last; vacuum unlinks dead elements before marking them reusable.
//! * Read-modify-write of a neighbour list (insert's back links, vacuum's
//!   repair) is optimistic: read under a share lock, compute, then write only
//!   if the list is unchanged under the exclusive lock, else retry.
//! * The coarse **update lock** ([`RelationWrite::lock_update`], a heavyweight
//!   lock, taken before any page lock and never while holding one): inserts
//!   hold it shared, or exclusive when they may become the new entry point
//!   (new top level or empty index); vacuum takes it exclusive once, briefly,
//!   to wait for inserts that started before it removed heap TIDs. Scans
//!   never take it.
//! * Scans hold nothing between `amgettuple` calls; an element slot reused
//!   meanwhile is detected by its version byte.
//! * The parallel build runs on private memory with one mutex per node, at
//!   most one held at a time (plus a global entry mutex taken before node
//!   mutexes), and never touches Postgres from worker threads.

pub mod build;
/// The shared storage layer's modules, under the paths hnsw code has always used.
pub use semvec_storage::{metric, relation};
pub mod check;
pub mod error;
mod index_build;
pub mod insert;
pub mod keys;
mod ops;
pub mod page;
pub mod postings;
pub mod search;
mod select;
pub mod tuple;
pub mod upper;
pub mod vacuum;
mod visited;
pub mod write;

pub use build::{
    build_graph_parallel, build_graph_parallel_polling, estimate_graph_memory, BuildArena, BuildParams, Cancelled, Graph, VectorSource,
};
pub use check::{check_index, payload_hash, CheckOptions, CheckReport, HeapEntry, Problem, Warnings};
pub use error::HnswError;
pub use index_build::{BuildError, BuildHooks, BuildPhase, BuildStats, IndexBuilder};
pub use insert::{insert, Inserted, Inserter};
pub use metric::Metric;
pub use page::{HnswPage, Page, PageOpaque, BLCKSZ};
pub use relation::{MemRelation, RelationRead, RelationWrite};
pub use search::{exact_is_cheaper, FilterPlan, IterativeScan, SearchOptions, SearchStats, Searcher};
pub use tuple::{Meta, Tid, HEAP_TIDS_MAX, MAX_PAYLOAD};
pub use upper::UpperLayers;
pub use vacuum::{bulk_delete, bulk_delete_with, count_tuples, BulkDeleteStats};
pub use write::{init_empty, read_meta, read_meta_page, write_graph, IndexOptions, WriteStats};
