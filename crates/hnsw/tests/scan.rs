//! Scan behaviour: ordering, iterative scans, limits.

mod common;
use common::*;
use semvec_hnsw::metric::{f32_bytes, L2Squared};
use semvec_hnsw::*;
use std::collections::HashSet;
use std::sync::OnceLock;

/// Data, queries, and the index built over the data.
type Fixture = (Vec<Vec<f32>>, Vec<Vec<f32>>, MemRelation);

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let (data, queries) = clustered_with_queries(3000, 20, 32, 8, 21);
        let rel = build_index(&data, &L2Squared::new(), 16, 64);
        (data, queries, rel)
    })
}

fn stream(s: &mut Searcher<L2Squared>, rel: &MemRelation, q: &[f32], limit: usize) -> Vec<(usize, f32)> {
    s.begin(f32_bytes(q));
    let mut out = Vec::new();
    while out.len() < limit {
        match s.next(rel) {
            Some((t, d)) => out.push((row_of(t), d)),
            None => break,
        }
    }
    out
}

#[test]
fn plain_scan_returns_at_most_ef_search_rows_in_distance_order() {
    let (data, queries, rel) = fixture();
    let mut s = Searcher::new(
        L2Squared::new(),
        SearchOptions {
            ef_search: 25,
            ..Default::default()
        },
    );
    for q in queries {
        let got = stream(&mut s, rel, q, usize::MAX);
        assert_eq!(got.len(), 25);
        assert!(got.windows(2).all(|w| w[0].1 <= w[1].1));
        for (row, d) in got {
            assert_eq!(d, L2Squared::new().distance(f32_bytes(q), f32_bytes(&data[row])));
        }
    }
}

#[test]
fn iterative_scan_finds_rows_passing_a_selective_filter() {
    let (data, queries, rel) = fixture();
    let keep = |i: usize| i.is_multiple_of(25); // 4% of rows
    let metric = L2Squared::new();
    let mut plain = Searcher::new(
        metric,
        SearchOptions {
            ef_search: 40,
            ..Default::default()
        },
    );
    let mut iter = Searcher::new(
        metric,
        SearchOptions {
            ef_search: 40,
            iterative: IterativeScan::Relaxed,
            max_scan_tuples: 20_000,
            filter_exact_limit: None,
        },
    );
    let (mut hits, mut plain_found, mut total) = (0, 0, 0);
    for q in queries {
        let truth = brute_force(&metric, data, q, 10, keep);
        plain_found += stream(&mut plain, rel, q, usize::MAX).iter().filter(|r| keep(r.0)).count();
        iter.begin(f32_bytes(q));
        let mut got = Vec::new();
        while got.len() < 10 {
            let Some((t, _)) = iter.next(rel) else { break };
            if keep(row_of(t)) {
                got.push(row_of(t));
            }
        }
        assert_eq!(got.len(), 10, "iterative scan keeps going until the filter is satisfied");
        hits += truth.iter().filter(|t| got.contains(t)).count();
        total += 10;
    }
    let r = hits as f64 / total as f64;
    eprintln!("filtered recall {r:.3}; plain scans found {plain_found} of {total} wanted");
    assert!(r >= 0.95, "filtered recall {r}");
    assert!(plain_found < total / 2, "without iterative scan the filter starves the result");
}

#[test]
fn unbounded_iterative_scan_returns_every_row_exactly_once() {
    let (data, queries, rel) = fixture();
    for mode in [IterativeScan::Relaxed, IterativeScan::Strict] {
        let mut s = Searcher::new(
            L2Squared::new(),
            SearchOptions {
                ef_search: 40,
                iterative: mode,
                max_scan_tuples: usize::MAX,
                filter_exact_limit: None,
            },
        );
        let got = stream(&mut s, rel, &queries[0], usize::MAX);
        let rows: HashSet<usize> = got.iter().map(|r| r.0).collect();
        assert_eq!(rows.len(), got.len(), "{mode:?}: no row twice");
        if mode == IterativeScan::Relaxed {
            assert_eq!(rows.len(), data.len(), "relaxed order reaches every row");
        } else {
            assert!(got.windows(2).all(|w| w[0].1 <= w[1].1), "strict order never goes back");
            assert!(
                rows.len() >= data.len() * 9 / 10,
                "strict order drops only late, closer rows: {}",
                rows.len()
            );
        }
        assert!(s.stats().rounds > 1);
    }
}

#[test]
fn relaxed_order_is_nearly_sorted() {
    let (_, queries, rel) = fixture();
    let mut s = Searcher::new(
        L2Squared::new(),
        SearchOptions {
            ef_search: 40,
            iterative: IterativeScan::Relaxed,
            max_scan_tuples: usize::MAX,
            filter_exact_limit: None,
        },
    );
    let got = stream(&mut s, rel, &queries[1], 400);
    let inversions = got.windows(2).filter(|w| w[0].1 > w[1].1).count();
    assert!(inversions < got.len() / 10, "{inversions} inversions in {}", got.len());
}

#[test]
fn max_scan_tuples_bounds_the_work_of_an_iterative_scan() {
    let (data, queries, rel) = fixture();
    let mut s = Searcher::new(
        L2Squared::new(),
        SearchOptions {
            ef_search: 40,
            iterative: IterativeScan::Relaxed,
            max_scan_tuples: 500,
            filter_exact_limit: None,
        },
    );
    let got = stream(&mut s, rel, &queries[2], usize::MAX);
    assert!(s.stats().evaluated <= 500 + 64, "evaluated {}", s.stats().evaluated);
    assert!(got.len() < data.len() / 2);
    assert!(got.len() >= 40);
}

#[test]
fn scanning_an_empty_index_returns_nothing() {
    let rel = MemRelation::new();
    init_empty(&rel, &options(4, 16, 64));
    let mut s = Searcher::new(
        L2Squared::new(),
        SearchOptions {
            iterative: IterativeScan::Relaxed,
            ..Default::default()
        },
    );
    assert!(stream(&mut s, &rel, &[0.0, 1.0, 2.0, 3.0], 10).is_empty());
}

#[test]
fn a_searcher_is_reusable_across_queries_and_can_end_early() {
    let (data, queries, rel) = fixture();
    let metric = L2Squared::new();
    let mut s = Searcher::new(metric, SearchOptions::default());
    let first = stream(&mut s, rel, &queries[3], 10);
    s.end();
    assert!(s.next(rel).is_none());
    let again = stream(&mut s, rel, &queries[3], 10);
    assert_eq!(first, again);
    let truth = brute_force(&metric, data, &queries[3], 10, |_| true);
    assert!(truth.iter().filter(|t| again.iter().any(|g| g.0 == **t)).count() >= 9);
}

/// A relation whose `page_hint`s point at memory chosen by the test: a copy of the real page, a
/// page of random bytes, or a page whose line pointers all point past the end.
struct Hinted<'a> {
    rel: &'a MemRelation,
    pages: Vec<Box<Page>>,
}

impl RelationRead for Hinted<'_> {
    type ReadGuard<'b>
        = <MemRelation as RelationRead>::ReadGuard<'b>
    where
        Self: 'b;
    fn read(&self, blkno: u32) -> Self::ReadGuard<'_> {
        self.rel.read(blkno)
    }
    fn nblocks(&self) -> u32 {
        self.rel.nblocks()
    }
    fn page_hint(&self, blkno: u32) -> *const u8 {
        self.pages.get(blkno as usize).map_or(std::ptr::null(), |p| p.as_bytes().as_ptr())
    }
}

#[test]
fn page_hints_only_steer_prefetching_and_never_change_results() {
    let (_, queries, rel) = fixture();
    let n = rel.nblocks() as usize;
    let real = rel.snapshot();
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let random: Vec<Box<Page>> = (0..n)
        .map(|_| {
            let mut p = Page::boxed();
            for b in p.as_bytes_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            p
        })
        .collect();
    let far: Vec<Box<Page>> = (0..n)
        .map(|_| {
            let mut p = Page::boxed();
            for (i, b) in p.as_bytes_mut().iter_mut().enumerate() {
                *b = if i % 4 == 1 { 0x7F } else { 0xFF };
            }
            p
        })
        .collect();
    for (name, pages) in [("real", real), ("random", random), ("out of range", far)] {
        let hinted = Hinted { rel, pages };
        for iterative in [IterativeScan::Off, IterativeScan::Relaxed] {
            let opts = SearchOptions {
                ef_search: 30,
                iterative,
                ..Default::default()
            };
            let mut plain = Searcher::new(L2Squared::new(), opts);
            let mut with_hints = Searcher::new(L2Squared::new(), opts);
            for q in queries {
                let want = stream(&mut plain, rel, q, 50);
                with_hints.begin(f32_bytes(q));
                let mut got = Vec::new();
                while got.len() < 50 {
                    match with_hints.next(&hinted) {
                        Some((t, d)) => got.push((row_of(t), d)),
                        None => break,
                    }
                }
                assert_eq!(got, want, "{name} hints, {iterative:?}");
            }
        }
    }
}

#[test]
fn an_iterative_scan_reaches_rows_that_only_upper_layers_connect() {
    // Two far clusters whose layer-0 links between each other are all cut:
    // layer 0 is disconnected (HNSW pruning can do this to well-separated
    // data), while an upper-layer link still joins them.
    use semvec_hnsw::tuple::NeighborsMut;
    let data = clustered(600, 16, 2, 5);
    let metric = L2Squared::new();
    let rel = build_index(&data, &metric, 8, 32);
    let d = |a: usize, b: usize| metric.distance(f32_bytes(&data[a]), f32_bytes(&data[b]));
    let (ep, _) = read_meta(&rel).unwrap().entry.unwrap();
    let g = stored_graph(&rel);
    let side = |t: &Tid| d(g[t].row, g[&ep].row) < 4.0;
    assert!(g.keys().any(|t| !side(t)), "two clusters");
    for (t, n) in &g {
        let mut l0: Vec<Tid> = n.layers[0].clone();
        l0.retain(|x| side(x) == side(t));
        let mut page = rel.write(n.neighbors.block);
        let mut nm = NeighborsMut::parse(page.get_mut(n.neighbors.offset).unwrap()).unwrap();
        nm.set_layer(0, &l0);
    }
    // One upper-layer link from the entry point into the other cluster.
    let other = g
        .iter()
        .find(|(t, n)| n.level >= 1 && !side(t))
        .map(|(t, _)| *t)
        .expect("an upper-layer element in the far cluster");
    {
        let e = &g[&ep];
        assert!(e.level >= 1);
        let mut l1 = e.layers[1].clone();
        l1.retain(|x| *x != other);
        l1.truncate(7);
        l1.push(other);
        let mut page = rel.write(e.neighbors.block);
        NeighborsMut::parse(page.get_mut(e.neighbors.offset).unwrap())
            .unwrap()
            .set_layer(1, &l1);
    }
    let near = (0..data.len()).filter(|&i| d(i, g[&ep].row) < 4.0).count();
    assert!(near < data.len());
    let q = &data[g[&ep].row];
    for mode in [IterativeScan::Relaxed, IterativeScan::Strict] {
        let mut s = Searcher::new(
            metric,
            SearchOptions {
                ef_search: 40,
                iterative: mode,
                max_scan_tuples: usize::MAX,
                filter_exact_limit: None,
            },
        );
        let got = stream(&mut s, &rel, q, usize::MAX);
        let rows: HashSet<usize> = got.iter().map(|x| x.0).collect();
        assert_eq!(rows.len(), got.len(), "{mode:?}: no row twice");
        if mode == IterativeScan::Relaxed {
            assert_eq!(rows.len(), data.len(), "relaxed: every row, the far cluster too");
        } else {
            // Strict order skips rows found after farther ones were returned;
            // the far cluster's rows are all farther than the near cluster's.
            assert!(rows.len() > near, "strict: the far cluster too ({} rows)", rows.len());
            assert!(got.windows(2).all(|w| w[0].1 <= w[1].1));
        }
    }
}
