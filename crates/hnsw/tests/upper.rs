//! The private copy of the upper layers (`UpperLayers`): what it holds, that searches through it
//! read fewer pages for the same results, and that a stale copy never makes a result wrong.

mod common;
use common::*;
use semvec_hnsw::metric::{f32_bytes, L2Squared};
use semvec_hnsw::*;
use std::sync::Arc;

const N: usize = 6000;
const EF_SEARCH: usize = 40;

fn data() -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    // m = 4 gives several upper layers even for a small table.
    clustered_with_queries(N, 50, 24, 12, 77)
}

fn recall_and_reads(rel: &MemRelation, data: &[Vec<f32>], queries: &[Vec<f32>], upper: Option<Arc<UpperLayers>>) -> (f64, u64) {
    let metric = L2Squared::new();
    let mut s = Searcher::new(
        metric,
        SearchOptions {
            ef_search: 40,
            ..Default::default()
        },
    );
    s.set_upper_layers(upper);
    let reads0 = rel.read_count();
    let mut hits = 0;
    for q in queries {
        let truth = brute_force(&metric, data, q, 10, |_| true);
        let got = search(&mut s, rel, q, 10);
        hits += truth.iter().filter(|t| got.contains(t)).count();
    }
    (hits as f64 / (10 * queries.len()) as f64, rel.read_count() - reads0)
}

#[test]
fn copy_holds_the_top_layers_within_its_budget() {
    let (data, _) = data();
    let rel = build_index(&data, &L2Squared::new(), 4, 32);
    let meta = read_meta(&rel).unwrap();
    let (entry, top) = meta.entry.unwrap();
    assert!(top >= 3, "test needs several upper layers, top is {top}");

    let all = UpperLayers::build(&rel, &meta, usize::MAX).unwrap();
    assert_eq!(all.entry(), (entry, top));
    assert_eq!(all.lowest_layer(), 1);
    // P(level >= 1) = 1/m: about N/4 elements, and never layer-0-only ones.
    assert!(all.len() > N / 8 && all.len() < N / 2, "{} elements", all.len());
    assert_eq!(all.matches(&meta), (true, true));

    // A budget too small for layer 1 keeps only the layers above it.
    let budget = all.memory_usage() / 3;
    let some = UpperLayers::build(&rel, &meta, budget).unwrap();
    assert!(some.lowest_layer() > 1);
    assert!(some.memory_usage() <= budget);
    assert!(some.len() < all.len());

    assert!(UpperLayers::build(&rel, &meta, 16).is_none(), "not even the top layer fits");
}

#[test]
fn descending_through_the_copy_reads_fewer_pages_for_the_same_recall() {
    let (data, queries) = data();
    let rel = build_index(&data, &L2Squared::new(), 4, 32);
    let meta = read_meta(&rel).unwrap();
    let upper = UpperLayers::build(&rel, &meta, usize::MAX).map(Arc::new);
    let (r_pages, reads_pages) = recall_and_reads(&rel, &data, &queries, None);
    let (r_copy, reads_copy) = recall_and_reads(&rel, &data, &queries, upper);
    eprintln!("pages: recall {r_pages:.3}, {reads_pages} reads; copy: recall {r_copy:.3}, {reads_copy} reads");
    assert!(r_copy >= r_pages - 0.01, "recall {r_copy} vs {r_pages}");
    assert!(reads_copy * 10 < reads_pages * 9, "{reads_copy} reads vs {reads_pages}");
}

#[test]
fn a_stale_copy_after_vacuum_and_reinserts_still_gives_correct_results() {
    let (data, queries) = data();
    let metric = L2Squared::new();
    let rel = build_index(&data, &metric, 4, 32);
    let meta = read_meta(&rel).unwrap();
    let upper = UpperLayers::build(&rel, &meta, usize::MAX).map(Arc::new);

    // Delete every other row (vacuum frees their slots), then insert other vectors into them. The
    // entry point stays, so the copy remains in use although much of it now names freed or reused slots.
    let entry_row = entry_row(&rel, &meta);
    bulk_delete(&rel, &metric, |t| row_of(t) % 2 == 1 && row_of(t) != entry_row).unwrap();
    let fresh = clustered(N / 2, 24, 12, 99);
    let mut ins = Inserter::with_seed(metric, 3);
    for (j, v) in fresh.iter().enumerate() {
        ins.insert(&rel, f32_bytes(v), heap_tid(N + j)).unwrap();
    }
    let mut rows: Vec<Vec<f32>> = data.clone();
    rows.extend(fresh.iter().cloned());
    let live = |i: usize| i >= N || i.is_multiple_of(2) || i == entry_row;

    assert_eq!(read_meta(&rel).unwrap().entry, meta.entry, "same entry point");
    stale_copy_recall_holds("after vacuum and reinserts", &rel, &rows, &queries, live, upper.unwrap());
}

/// Vacuum without reinserts: the copy's descent may end on an element vacuum marked deleted (its
/// version unchanged, its lists emptied). The search must then descend through the pages, not start
/// layer 0 from a dead end (it returned no rows at all).
#[test]
fn a_stale_copy_after_vacuum_alone_never_starts_from_a_deleted_element() {
    let (data, queries) = data();
    let metric = L2Squared::new();
    let rel = build_index(&data, &metric, 4, 32);
    let meta = read_meta(&rel).unwrap();
    let upper = UpperLayers::build(&rel, &meta, usize::MAX).map(Arc::new).unwrap();
    let entry_row = entry_row(&rel, &meta);
    // Every row but every fifth and the entry point's.
    bulk_delete(&rel, &metric, |t| !row_of(t).is_multiple_of(5) && row_of(t) != entry_row).unwrap();
    let after = read_meta(&rel).unwrap();
    assert_eq!(after.entry, meta.entry, "same entry point");
    // The copy says it is stale (a scan makes a new one), yet one still in use stays correct.
    assert_eq!(upper.matches(&meta), (true, true));
    assert!(!upper.matches(&after).0, "a copy from before VACUUM must not match after it");
    let live = |i: usize| i.is_multiple_of(5) || i == entry_row;
    stale_copy_recall_holds("after vacuum", &rel, &data, &queries, live, upper);
}

/// The row of the entry point's element.
fn entry_row(rel: &MemRelation, meta: &semvec_hnsw::Meta) -> usize {
    let (entry, _) = meta.entry.unwrap();
    let page = rel.read(entry.block);
    row_of(
        semvec_hnsw::tuple::ElementRef::parse(page.get(entry.offset).unwrap())
            .unwrap()
            .heap_tid(0),
    )
}

/// Scans through the stale copy `upper` find as much as scans through the pages.
fn stale_copy_recall_holds(
    what: &str,
    rel: &MemRelation,
    rows: &[Vec<f32>],
    queries: &[Vec<f32>],
    live: impl Fn(usize) -> bool + Copy,
    upper: Arc<UpperLayers>,
) {
    let stale_copy = run_checked(rel, rows, queries, live, Some(upper));
    let no_copy = run_checked(rel, rows, queries, live, None);
    eprintln!("{what}: recall {stale_copy:.3} with the stale copy, {no_copy:.3} without");
    // The two differ only in where layer 0 starts. With m = 4 the gap varies from one
    // (parallel, unordered) build to the next: -0.02..+0.02 in 16 local runs, -0.056 once in CI.
    // A dead-end start is caught exactly by `run_checked` (every query returns ef_search rows);
    // this bound catches starts that are wrong more broadly.
    assert!(
        stale_copy >= no_copy - 0.10,
        "recall with a stale copy {stale_copy}, without {no_copy}"
    );
}

/// Recall@10 of scans over `rel`, checking every returned row: live, exact distance, in order.
fn run_checked(
    rel: &MemRelation,
    rows: &[Vec<f32>],
    queries: &[Vec<f32>],
    live: impl Fn(usize) -> bool + Copy,
    upper: Option<Arc<UpperLayers>>,
) -> f64 {
    let metric = L2Squared::new();
    let mut s = Searcher::new(
        metric,
        SearchOptions {
            ef_search: EF_SEARCH,
            ..Default::default()
        },
    );
    s.set_upper_layers(upper);
    let mut hits = 0;
    for q in queries {
        s.begin(f32_bytes(q));
        let mut got = Vec::new();
        while let Some((t, d)) = s.next(rel) {
            let row = row_of(t);
            assert!(live(row), "dead row {row} returned");
            assert_eq!(d, metric.distance(f32_bytes(q), f32_bytes(&rows[row])), "distance of row {row}");
            got.push((row, d));
        }
        assert!(got.windows(2).all(|w| w[0].1 <= w[1].1), "results out of order");
        // At least a fifth of the rows are live and layer 0 stays connected: a scan that
        // starts well fills its ef_search candidates.
        assert_eq!(got.len(), EF_SEARCH, "rows returned by a scan");
        let truth = brute_force(&metric, rows, q, 10, live);
        hits += truth.iter().filter(|t| got.iter().take(10).any(|g| g.0 == **t)).count();
    }
    hits as f64 / (10 * queries.len()) as f64
}
