//! Filtered iterative scans, as the executor runs them: for `WHERE t = $1
//! ORDER BY v <=> $2 LIMIT 10` over an hnsw index it calls `amgettuple`
//! ([`Searcher::next`]) and drops the rows failing the filter, until ten pass
//! or the scan returns no more.
//!
//! When may such a scan come back short (fewer than ten rows although ten
//! rows pass the filter)? In relaxed order, only when fewer than ten matching
//! rows are among the elements it evaluated before `max_scan_tuples` stopped
//! it, for it returns every element it evaluated before it ends
//! (`a_scan_returns_every_element_it_evaluated`); strict order also skips the
//! rows it finds after farther ones were returned. So with a budget that
//! covers the whole index no scan may be short
//! (`with_a_budget_covering_the_index_no_filtered_scan_is_short`), and with
//! the default limits short scans and recall are held near what the fix
//! measured, at least what pgvector does.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use semvec_hnsw::metric::{f32_bytes, Cosine};
use semvec_hnsw::*;
use std::collections::HashSet;
use std::sync::OnceLock;

const K: usize = 10;

/// 30k points of 48 dimensions around 40 centres, with noise wide enough
/// that the clusters overlap (the graph is not a set of islands), and 100
/// queries from the same clusters, in an index with cosine distance (m 16,
/// ef_construction 64).
struct Fixture {
    data: Vec<Vec<f32>>,
    label: Vec<usize>,
    centres: Vec<Vec<f32>>,
    queries: Vec<Vec<f32>>,
    rel: MemRelation,
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let (n, dims, clusters) = (env("FS_N", 30_000), env("FS_DIMS", 48), env("FS_CLUSTERS", 40));
        let spread = env("FS_SPREAD", 100) as f32 / 100.0;
        let mut rng = StdRng::seed_from_u64(env("FS_SEED", 13) as u64);
        let centres: Vec<Vec<f32>> = (0..clusters)
            .map(|_| (0..dims).map(|_| rng.random_range(-1.0f32..1.0)).collect())
            .collect();
        let point = |rng: &mut StdRng| {
            let c = rng.random_range(0..clusters);
            (
                c,
                centres[c]
                    .iter()
                    .map(|x| x + rng.random_range(-spread..spread))
                    .collect::<Vec<f32>>(),
            )
        };
        let (label, data): (Vec<usize>, Vec<Vec<f32>>) = (0..n).map(|_| point(&mut rng)).unzip();
        let queries = (0..env("FS_Q", 100)).map(|_| point(&mut rng).1).collect();
        let rel = build_index(&data, &Cosine::new(), 16, 64);
        Fixture {
            data,
            label,
            centres,
            queries,
            rel,
        }
    })
}

/// A random filter column: row `i` passes with probability `per_10k` / 10000.
fn random_filter(per_10k: u64) -> impl Fn(usize) -> bool + Copy {
    let seed = env("FS_FILTER_SEED", 0) as u64;
    move |i| {
        let mut x = (i as u64 ^ seed << 32).wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        x % 10_000 < per_10k
    }
}

/// A filter far from query `q`: 20% of the rows of the cluster whose centre
/// is the `rank`-th nearest to `q` (0: its own cluster).
fn far_filter(q: &[f32], rank: usize) -> impl Fn(usize) -> bool + Copy {
    let f = fixture();
    let metric = Cosine::new();
    let mut by_distance: Vec<(f32, usize)> = f
        .centres
        .iter()
        .enumerate()
        .map(|(i, c)| (metric.distance(f32_bytes(q), f32_bytes(c)), i))
        .collect();
    by_distance.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (cluster, label, some) = (by_distance[rank].1, &f.label, random_filter(2000));
    move |i| label[i] == cluster && some(i)
}

/// What the executor does: the first `k` rows passing `keep`, in the order the scan returns them.
fn filtered_scan(s: &mut Searcher<Cosine>, q: &[f32], k: usize, keep: impl Fn(usize) -> bool) -> Vec<usize> {
    s.begin(f32_bytes(q));
    let mut got = Vec::new();
    while got.len() < k {
        let Some((t, _)) = s.next(&fixture().rel) else { break };
        if keep(row_of(t)) {
            got.push(row_of(t));
        }
    }
    got
}

/// Everything a scan returns, to its end: (row, distance).
fn full_scan(s: &mut Searcher<Cosine>, q: &[f32]) -> Vec<(usize, f32)> {
    s.begin(f32_bytes(q));
    std::iter::from_fn(|| s.next(&fixture().rel)).map(|(t, d)| (row_of(t), d)).collect()
}

/// Filtered scans of every query against the exact filtered top ten.
#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    queries: usize,
    /// Queries with fewer rows than the exact answer has.
    short: usize,
    hits: usize,
    wanted: usize,
}

impl Outcome {
    fn short_rate(&self) -> f64 {
        self.short as f64 / self.queries as f64
    }
    fn recall(&self) -> f64 {
        self.hits as f64 / self.wanted as f64
    }
}

fn filtered_scans<F: Fn(usize) -> bool>(opts: SearchOptions, queries: &[Vec<f32>], filter_for: impl Fn(&[f32]) -> F) -> Outcome {
    let f = fixture();
    let metric = Cosine::new();
    let mut s = Searcher::new(metric, opts);
    let mut o = Outcome::default();
    for q in queries {
        let keep = filter_for(q);
        let truth = brute_force(&metric, &f.data, q, K, &keep);
        let got = filtered_scan(&mut s, q, K, &keep);
        o.queries += 1;
        o.short += (got.len() < truth.len()) as usize;
        o.hits += truth.iter().filter(|t| got.contains(t)).count();
        o.wanted += truth.len();
    }
    o
}

fn iterative(mode: IterativeScan, max_scan_tuples: usize) -> SearchOptions {
    SearchOptions {
        iterative: mode,
        max_scan_tuples,
        ..Default::default()
    }
}

/// Selectivities of the random filter, in rows per 10 000.
const SELECTIVITIES: [u64; 3] = [1000, 100, 10];

/// Ranks (by centre distance from the query) of the clusters far filters pick from.
const FAR_RANKS: [usize; 3] = [1, 5, 20];

/// The share of queries that may come back short with the default limits
/// where few matching rows may lie within the budget (at 0.1% some 20; with
/// a far filter none until the scan reaches its cluster); none may with 10%
/// and 1% filters. pgvector: 1% at 0.1% on issue 13's 200k GloVe rows, 14%
/// with a far filter.
const MAX_SHORT: f64 = 0.02;

/// Filtered scans with the default limits (`ef_search` 40, `max_scan_tuples`
/// 20 000) on 30k rows, random filters at 10%, 1% and 0.1% (30 matching rows a
/// query, some 20 of them among the 20 000 the scan may evaluate), and
/// filters keeping 20% of one cluster (150 rows), near or far from the query.
/// Short rates and minimum recall are checked per filter; each minimum is
/// some 0.03-0.05 below the lowest of six runs (three data sets, two filter
/// seeds) after the fix.
///
/// Before it, scans returned only the `ef_search` closest of each round, a
/// third of what they evaluated: at 0.1%, 97-98% (relaxed) and 99% (strict)
/// of the queries came back short, at recall 0.50 and 0.47, and with the
/// filter 20 clusters away 9-12% and 32-33%.
fn check_default_limits(mode: IterativeScan, min_recall: [f64; 3], min_recall_far: [f64; 3]) {
    let f = fixture();
    let opts = iterative(mode, SearchOptions::default().max_scan_tuples);
    for (per_10k, min_recall) in SELECTIVITIES.into_iter().zip(min_recall) {
        let o = filtered_scans(opts, &f.queries, |_| random_filter(per_10k));
        let sel = per_10k as f64 / 100.0;
        eprintln!(
            "{mode:?}, {sel}% of rows: {:.1}% short, recall {:.3}",
            100.0 * o.short_rate(),
            o.recall()
        );
        let max_short = if per_10k >= 100 { 0.0 } else { MAX_SHORT };
        assert!(
            o.short_rate() <= max_short,
            "{mode:?}, {sel}%: {:.1}% of queries short",
            100.0 * o.short_rate()
        );
        assert!(o.recall() >= min_recall, "{mode:?}, {sel}%: recall {:.3}", o.recall());
    }
    for (rank, min_recall) in FAR_RANKS.into_iter().zip(min_recall_far) {
        let o = filtered_scans(opts, &f.queries, |q| far_filter(q, rank));
        eprintln!(
            "{mode:?}, cluster {rank} away: {:.1}% short, recall {:.3}",
            100.0 * o.short_rate(),
            o.recall()
        );
        assert!(
            o.short_rate() <= MAX_SHORT,
            "{mode:?}, cluster {rank} away: {:.1}% of queries short",
            100.0 * o.short_rate()
        );
        assert!(o.recall() >= min_recall, "{mode:?}, cluster {rank} away: recall {:.3}", o.recall());
    }
}

/// Measured after the fix: recall 0.991-1.000, 0.952-0.965, 0.945-0.984 at
/// 10%, 1%, 0.1%; 0.981-0.990, 0.962-0.971, 0.941-0.964 for the far filters;
/// no query short.
#[test]
fn relaxed_filtered_scans_with_default_limits_are_rarely_short() {
    check_default_limits(IterativeScan::Relaxed, [0.96, 0.92, 0.90], [0.95, 0.93, 0.90]);
}

/// Strict order skips rows found after farther ones were returned, so its
/// recall is lower, most of all when the matching rows lie far away.
/// Measured after the fix: 0.980-0.993, 0.876-0.913, 0.905-0.930; 0.742-0.770,
/// 0.625-0.692, 0.588-0.645 for the far filters; no query short.
#[test]
fn strict_filtered_scans_with_default_limits_are_rarely_short() {
    check_default_limits(IterativeScan::Strict, [0.94, 0.83, 0.86], [0.70, 0.58, 0.54]);
}

/// Every element evaluated at layer 0 is returned once, whatever stopped the
/// scan: a filter gets to see every row the scan paid a distance for. (The
/// fixture has no dead elements and no duplicate vectors, so elements and
/// rows are one to one.)
#[test]
fn a_scan_returns_every_element_it_evaluated() {
    let f = fixture();
    for mode in [IterativeScan::Relaxed, IterativeScan::Strict] {
        for max in [1, 500, 5000, 20_000, usize::MAX] {
            let mut s = Searcher::new(Cosine::new(), iterative(mode, max));
            for q in f.queries.iter().take(5) {
                let got = full_scan(&mut s, q);
                let rows: HashSet<usize> = got.iter().map(|r| r.0).collect();
                assert_eq!(rows.len(), got.len(), "{mode:?}, budget {max}: no row twice");
                let evaluated = s.stats().scan_tuples;
                assert!(
                    evaluated >= max.min(f.data.len()),
                    "{mode:?}: budget {max} unused: {evaluated} evaluated"
                );
                if mode == IterativeScan::Relaxed {
                    assert_eq!(got.len(), evaluated, "relaxed, budget {max}: every evaluated element returned");
                } else {
                    // Strict order skips the elements found closer than a row already returned.
                    assert!(
                        got.len() >= evaluated * 9 / 10,
                        "strict, budget {max}: {} of {evaluated} returned",
                        got.len()
                    );
                }
            }
        }
    }
}

/// With `max_scan_tuples` at least the number of elements, the scan may
/// evaluate every element, so it must never come back short.
#[test]
fn with_a_budget_covering_the_index_no_filtered_scan_is_short() {
    let f = fixture();
    let queries = &f.queries[..30];
    for mode in [IterativeScan::Relaxed, IterativeScan::Strict] {
        for per_10k in SELECTIVITIES {
            let o = filtered_scans(iterative(mode, f.data.len()), queries, |_| random_filter(per_10k));
            assert_eq!(o.short, 0, "{mode:?}, {}% of rows", per_10k as f64 / 100.0);
        }
        for rank in FAR_RANKS {
            let o = filtered_scans(iterative(mode, f.data.len()), queries, |q| far_filter(q, rank));
            assert_eq!(o.short, 0, "{mode:?}, cluster {rank} away");
        }
    }
}

/// Once the budget stops the scan from expanding, what it found and has not
/// returned comes out closest first; in strict order the distances returned
/// never decrease. The first `ef_search` rows are the plain scan's, however
/// small the budget.
#[test]
fn once_the_budget_is_spent_the_rows_found_are_still_returned_in_order() {
    let f = fixture();
    let ef = SearchOptions::default().ef_search;
    let mut plain = Searcher::new(Cosine::new(), SearchOptions::default());
    for max in [1, 2000] {
        for q in f.queries.iter().take(10) {
            let first = full_scan(&mut plain, q);
            assert_eq!(first.len(), ef);

            let mut s = Searcher::new(Cosine::new(), iterative(IterativeScan::Relaxed, max));
            let got = full_scan(&mut s, q);
            assert_eq!(got[..ef], first[..], "budget {max}: the plain scan's rows first");
            assert!(got.len() >= max, "budget {max}: {} rows", got.len());
            // Each round returns at most `ef` rows; past them, the rest of what was found.
            let rest = &got[(s.stats().rounds * ef).min(got.len())..];
            assert!(rest.len() >= got.len() / 2, "budget {max}: most rows come after the budget ran out");
            assert!(
                rest.windows(2).all(|w| w[0].1 <= w[1].1),
                "budget {max}: the rest in distance order"
            );

            let mut s = Searcher::new(Cosine::new(), iterative(IterativeScan::Strict, max));
            let got = full_scan(&mut s, q);
            assert_eq!(got[..ef], first[..], "strict, budget {max}: the plain scan's rows first");
            assert!(
                got.windows(2).all(|w| w[0].1 <= w[1].1),
                "strict, budget {max}: never closer than a row returned"
            );
            assert!(got.len() >= max * 9 / 10, "strict, budget {max}: {} rows", got.len());
        }
    }
}

/// Prints short rates and recall per mode, selectivity and budget (the
/// fixture's size, queries and seeds from FS_* variables): `cargo test -p
/// semvec-hnsw --test filtered_scan -- --ignored --nocapture`.
#[test]
#[ignore]
fn measure() {
    let max = env("FS_MAX", SearchOptions::default().max_scan_tuples);
    let t = std::time::Instant::now();
    fixture();
    eprintln!("fixture in {:?}", t.elapsed());
    for mode in [IterativeScan::Relaxed, IterativeScan::Strict] {
        let opts = SearchOptions {
            ef_search: env("FS_EF", 40),
            ..iterative(mode, max)
        };
        for per_10k in SELECTIVITIES {
            let o = filtered_scans(opts, &fixture().queries, |_| random_filter(per_10k));
            let sel = per_10k as f64 / 100.0;
            eprintln!(
                "{mode:?}, budget {max}, {sel}% of rows: {:.1}% short, recall {:.3}",
                100.0 * o.short_rate(),
                o.recall()
            );
        }
        for rank in FAR_RANKS {
            let o = filtered_scans(opts, &fixture().queries, |q| far_filter(q, rank));
            eprintln!(
                "{mode:?}, budget {max}, cluster {rank} away: {:.1}% short, recall {:.3}",
                100.0 * o.short_rate(),
                o.recall()
            );
        }
    }
}
