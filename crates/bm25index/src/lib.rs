//! The BM25 index of semvec, in pure Rust: PostgreSQL page format, bulk build, insert,
//! block-max WAND top-k search, VACUUM's bulk delete and an invariant check. It returns exactly
//! the scores of today's `bm25_search` (crates/bm25's formula, idf and document length, the same
//! f64 operations in the same order), computed from statistics the index keeps itself.
//!
//! The pgrx glue implements [`RelationRead`](semvec_storage::RelationRead) /
//! [`RelationWrite`](semvec_storage::RelationWrite) on an index relation and calls:
//!
//! | callback       | this crate |
//! |----------------|------------|
//! | `ambuild`      | [`Builder::new`], [`Builder::add`] per heap row (lexemes and tf of its tsvector, its length), [`Builder::finish`] |
//! | `ambuildempty` | [`init_empty`] |
//! | `aminsert`     | [`insert`](fn@insert) (or [`insert_with`] and a [`MergePolicy`] from reloptions): merges the memtable when it is due |
//! | `amrescan` / `amgettuple` | [`Scan::begin`], then [`Scan::next_batch`] with k doubling |
//! | `ambulkdelete` | [`bulk_delete`] |
//! | `amvacuumcleanup` | [`merge`](fn@merge) (what is due, maybe with `flush`), [`check`](fn@check) |
//! | `semvec_index_check` | [`check`](fn@check) |
//! | a maintenance function | [`force_merge`] |
//!
//! # Design
//!
//! **Segments plus a memtable (LSM-like), not an in-place B-tree.** A segment is immutable
//! except for VACUUM's removals: a posting chain, a dictionary and a directory, written once by
//! the build with `extend()` only (so the glue logs them as full page images). Immutability keeps
//! the posting lists compact and sorted with no page splits, and makes every multi-page change a
//! sequence of self-contained page writes. Inserts go to the memtable, a chain of pages holding
//! whole documents (lexeme, tf), where one page write adds a document and its counts together.
//! Searches score memtable documents exhaustively, so its cost grows with it: once it has
//! [`MergePolicy::mem_pages`] pages, an insert merges it into a new segment, and segments of
//! similar size are merged in tiers ([`mod@merge`]), each merge published by one write of the
//! meta page. The pages a merge leaves are never reused (a scan that began before may still read
//! them; recycling needs a horizon the glue does not provide yet): [`check`](fn@check) counts them.
//!
//! **Pages** (page id 0xFF5B, layouts in [`page`] and [`codec`]): block 0 is the meta page (format
//! version, the segments with their N and total length, the memtable's head and tail hint, a
//! frozen memtable being merged, the merges' leases and VACUUM's epoch);
//! a segment's *directory* lists the first lexeme of each *dictionary* page; a dictionary entry
//! holds a lexeme, its df, where its posting list starts, its number of blocks and its term-level
//! impacts; *posting* pages hold blocks of up to 128 postings (delta-coded TID keys, tf, document
//! length as varints) whose headers carry the block's key range and impacts.
//!
//! **Impacts, not scores.** Block and term bounds are Lucene-style impacts: up to four raw
//! (max tf, min document length) pairs of the Pareto frontier of the block's postings; the bound
//! `weight * max term_score(tf, len, avgdl)` is computed at query time, so it stays valid as N,
//! avgdl and df change, and no idf is baked into a posting.
//!
//! **The document list.** Each segment's dictionary starts with the empty lexeme (which a
//! tsvector cannot hold), whose postings are every document of the segment with its length, so
//! documents without lexemes are counted, and VACUUM recounts N and the total length exactly.
//!
//! **Statistics and deletes** (Lucene-like): N, the total length and df count every document
//! inserted and not yet removed by VACUUM, dead rows included; scores are exactly BM25 over that
//! corpus. [`bulk_delete`] removes dead postings and memtable documents and sets N, total length
//! and df to the exact survivors' counts; a merge keeps every document VACUUM has not removed,
//! so the sums, and every score, are the same before and after it. The drift before that is bounded: with
//! `r = avgdl' / avgdl` (with dead rows over without) and, per query term, `ρ = idf' / idf`, every
//! term's contribution, hence every score, lies within `[min(1, r) · min ρ, max(1, r) · max ρ]`
//! times the exact one (the tf part moves by at most the factor r, see the drift test).
//!
//! **Search.** [`Scan::begin`] reads the statistics once; [`Scan::next_batch`] runs block-max
//! WAND (Ding and Suel 2011) per segment with a result heap shared across segments and the
//! memtable; ties are broken by TID ascending. `bm25_search` orders ties by the table's key
//! column instead: the glue keeps pulling batches until the score drops below the k-th one and
//! sorts those ties by key. See [`mod@search`] for why batches (k doubling) rather than a resumable
//! iterator.
//!
//! # Locking protocol
//!
//! As in `semvec-hnsw`: at most one page lock at a time (the build excepted, which holds the
//! meta page while it extends the relation, with nothing running concurrently; a merge writing
//! its new segment also holds the page it fills while extending the next, both unreachable);
//! every write guard leaves the index valid on its own; inserts hold the update lock shared,
//! VACUUM takes it exclusive once to wait for inserts in flight, and a memtable merge takes it
//! exclusive for the two writes that freeze the memtable (never while holding a page); scans
//! take no update lock and hold no page between calls (decoded blocks are copies; tuples never
//! move, so their positions stay valid while VACUUM rewrites blocks in place, and pages a merge
//! leaves are never reused). Merges and VACUUM run concurrently with everything else: a merge's
//! publish is a check-and-set on the meta page, see [`mod@merge`].

pub mod build;
pub mod check;
pub mod codec;
pub mod error;
pub mod insert;
pub mod merge;
pub mod page;
pub mod search;
pub mod vacuum;

pub use build::{init_empty, BuildStats, Builder};
pub use check::{check, CheckReport};
pub use error::Bm25IndexError;
pub use insert::{insert, insert_with, read_meta};
pub use merge::{force_merge, merge, now_secs, MergePolicy, MergeStats};
pub use search::{search, Hit, Scan, SearchStats, Strategy};
pub use semvec_bm25::Bm25Params;
pub use vacuum::{bulk_delete, VacuumStats};
