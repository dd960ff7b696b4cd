//! Filtered iterative scans, as the executor runs them: `WHERE t = $1 ORDER BY
//! v <=> $2 LIMIT 10` over an hnsw index calls `amgettuple` until ten rows
//! pass the filter or the scan returns no more.

mod common;
use common::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use semvec_hnsw::metric::{f32_bytes, Cosine};
use semvec_hnsw::*;
use std::sync::OnceLock;

const N: usize = 30_000;
const DIMS: usize = 48;
const CLUSTERS: usize = 40;
const QUERIES: usize = 200;
const K: usize = 10;

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
        let n = env("FS_N", N);
        let dims = env("FS_DIMS", DIMS);
        let clusters = env("FS_CLUSTERS", CLUSTERS);
        let spread = env("FS_SPREAD", 50) as f32 / 100.0;
        let mut rng = StdRng::seed_from_u64(13);
        let centres: Vec<Vec<f32>> = (0..clusters).map(|_| (0..dims).map(|_| rng.random_range(-1.0f32..1.0)).collect()).collect();
        let mut point = |rng: &mut StdRng| {
            let c = rng.random_range(0..clusters);
            (c, centres[c].iter().map(|x| x + rng.random_range(-spread..spread)).collect::<Vec<f32>>())
        };
        let (label, data): (Vec<usize>, Vec<Vec<f32>>) = (0..n).map(|_| point(&mut rng)).unzip();
        let queries = (0..env("FS_Q", QUERIES)).map(|_| point(&mut rng).1).collect();
        let t = std::time::Instant::now();
        let rel = build_index(&data, &Cosine::new(), 16, 64);
        eprintln!("built {n} x {dims} in {:?}", t.elapsed());
        Fixture { data, label, centres, queries, rel }
    })
}

/// A pseudo-random per-row filter column: row `i` passes with probability `per_10k` / 10000.
fn random_filter(per_10k: u64) -> impl Fn(usize) -> bool + Copy {
    move |i| {
        let mut x = (i as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        x ^= x >> 31;
        x % 10_000 < per_10k
    }
}

/// What the executor does: the first `k` rows passing `keep`, in the order the scan returns them.
fn filtered_scan(s: &mut Searcher<Cosine>, rel: &MemRelation, q: &[f32], k: usize, keep: impl Fn(usize) -> bool) -> Vec<usize> {
    s.begin(f32_bytes(q));
    let mut got = Vec::new();
    while got.len() < k {
        let Some((t, _)) = s.next(rel) else { break };
        if keep(row_of(t)) {
            got.push(row_of(t));
        }
    }
    got
}

#[derive(Debug, Default, Clone, Copy)]
struct Outcome {
    short: usize,
    queries: usize,
    hits: usize,
    wanted: usize,
    evaluated: usize,
}

impl Outcome {
    fn short_rate(&self) -> f64 {
        self.short as f64 / self.queries.max(1) as f64
    }
    fn recall(&self) -> f64 {
        self.hits as f64 / self.wanted.max(1) as f64
    }
}

fn run(opts: SearchOptions, keep_for: impl Fn(usize) -> Box<dyn Fn(usize) -> bool>) -> Outcome {
    let f = fixture();
    let metric = Cosine::new();
    let mut s = Searcher::new(metric, opts);
    let mut o = Outcome::default();
    for (qi, q) in f.queries.iter().enumerate() {
        let keep = keep_for(qi);
        let truth = brute_force(&metric, &f.data, q, K, &keep);
        let got = filtered_scan(&mut s, &f.rel, q, K, &keep);
        o.queries += 1;
        o.short += (got.len() < truth.len()) as usize;
        o.hits += truth.iter().filter(|t| got.contains(t)).count();
        o.wanted += truth.len();
        o.evaluated += s.stats().evaluated;
    }
    o
}

/// The cluster whose centre is the `rank`-th nearest to `q` (0: its own).
fn cluster_by_rank(q: &[f32], rank: usize) -> usize {
    let f = fixture();
    let metric = Cosine::new();
    let mut d: Vec<(f32, usize)> = f.centres.iter().enumerate().map(|(i, c)| (metric.distance(f32_bytes(q), f32_bytes(c)), i)).collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0));
    d[rank].1
}

#[test]
#[ignore]
fn measure() {
    let f = fixture();
    let max = env("FS_MAX", 20_000);
    let ef = env("FS_EF", 40);
    for mode in [IterativeScan::Relaxed, IterativeScan::Strict] {
        let mut s = Searcher::new(Cosine::new(), SearchOptions { ef_search: ef, iterative: mode, max_scan_tuples: max });
        let (mut returned, mut evaluated) = (0, 0);
        for q in f.queries.iter().take(20) {
            s.begin(f32_bytes(q));
            while s.next(&f.rel).is_some() {
                returned += 1;
            }
            evaluated += s.stats().evaluated;
        }
        eprintln!("{mode:?} max {max}: a scan read to its end returns {} rows, evaluated {}", returned / 20, evaluated / 20);
    }
    for mode in [IterativeScan::Relaxed, IterativeScan::Strict] {
        let opts = SearchOptions { ef_search: ef, iterative: mode, max_scan_tuples: max };
        for per_10k in [1000u64, 100, 10] {
            let o = run(opts, |_| Box::new(random_filter(per_10k)));
            eprintln!(
                "{mode:?} max {max} sel {:.1}%: short {:.3} recall {:.3} evaluated/query {}",
                per_10k as f64 / 100.0,
                o.short_rate(),
                o.recall(),
                o.evaluated / o.queries
            );
        }
        for rank in [1usize, 3, 10] {
            let o = run(opts, |qi| {
                let c = cluster_by_rank(&f.queries[qi], rank);
                let label = &f.label;
                let r = random_filter(2000);
                Box::new(move |i| label[i] == c && r(i))
            });
            eprintln!(
                "{mode:?} max {max} far cluster rank {rank}: short {:.3} recall {:.3} evaluated/query {}",
                o.short_rate(),
                o.recall(),
                o.evaluated / o.queries
            );
        }
    }
}
