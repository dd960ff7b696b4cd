//! Shared helpers for the integration tests: data, brute force, index setup.
#![allow(dead_code)]

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use semvec_hnsw::metric::f32_bytes;
use semvec_hnsw::*;
use std::sync::atomic::{AtomicBool, AtomicUsize};

/// `n` points of `dims` dims around `clusters` random centres.
pub fn clustered(n: usize, dims: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = StdRng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dims).map(|_| rng.random_range(-1.0f32..1.0)).collect())
        .collect();
    (0..n)
        .map(|_| {
            let c = &centres[rng.random_range(0..clusters)];
            c.iter().map(|x| x + rng.random_range(-0.25f32..0.25)).collect()
        })
        .collect()
}

/// `n` data points and `nq` queries drawn from the same clusters.
pub fn clustered_with_queries(n: usize, nq: usize, dims: usize, clusters: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
    let mut all = clustered(n + nq, dims, clusters, seed);
    let queries = all.split_off(n);
    (all, queries)
}

/// The heap TID we give row `i`.
pub fn heap_tid(i: usize) -> Tid {
    Tid::new((i / 100) as u32, (i % 100) as u16 + 1)
}

pub fn row_of(t: Tid) -> usize {
    t.block as usize * 100 + t.offset as usize - 1
}

/// Exact top-k rows (by `metric`) among `rows` that pass `keep`.
pub fn brute_force<M: Metric>(metric: &M, data: &[Vec<f32>], q: &[f32], k: usize, keep: impl Fn(usize) -> bool) -> Vec<usize> {
    let mut d: Vec<(f32, usize)> = data
        .iter()
        .enumerate()
        .filter(|(i, _)| keep(*i))
        .map(|(i, v)| (metric.distance(f32_bytes(q), f32_bytes(v)), i))
        .collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    d.into_iter().take(k).map(|x| x.1).collect()
}

pub fn options(dims: usize, m: usize, ef_construction: usize) -> IndexOptions {
    IndexOptions {
        dims: dims as u32,
        m: m as u16,
        ef_construction: ef_construction as u16,
        vector_kind: 0,
        key_columns: 0,
        key_vector_len: 0,
    }
}

/// Builds an index of rows `0..data.len()` into a fresh MemRelation.
pub fn build_index<M: Metric>(data: &[Vec<f32>], metric: &M, m: usize, ef_construction: usize) -> MemRelation {
    build_index_on(data, metric, m, ef_construction, 2)
}

/// [`build_index`] on `threads` threads (one gives the same graph every run).
pub fn build_index_on<M: Metric>(data: &[Vec<f32>], metric: &M, m: usize, ef_construction: usize, threads: usize) -> MemRelation {
    let rel = MemRelation::new();
    let mut arena = BuildArena::new();
    for (i, v) in data.iter().enumerate() {
        arena.push(f32_bytes(v), heap_tid(i));
    }
    let params = BuildParams {
        m,
        ef_construction,
        seed: 42,
    };
    let graph = build_graph_parallel(&arena, &params, metric, threads, &AtomicBool::new(false), &AtomicUsize::new(0)).unwrap();
    if arena.is_empty() {
        init_empty(&rel, &options(data.first().map_or(0, |v| v.len()), m, ef_construction));
    } else {
        write_graph(&rel, &arena, &graph, &options(data[0].len(), m, ef_construction)).unwrap();
    }
    rel
}

/// The first `k` rows a scan returns.
pub fn search<M: Metric, R: RelationRead>(searcher: &mut Searcher<M>, rel: &R, q: &[f32], k: usize) -> Vec<usize> {
    searcher.begin(f32_bytes(q));
    let mut out = Vec::new();
    while out.len() < k {
        match searcher.next(rel) {
            Some((t, _)) => out.push(row_of(t)),
            None => break,
        }
    }
    out
}

/// Mean recall@k of index scans against brute force over `queries`.
pub fn recall<M: Metric + Clone, R: RelationRead>(
    rel: &R,
    metric: &M,
    data: &[Vec<f32>],
    queries: &[Vec<f32>],
    k: usize,
    ef_search: usize,
    keep: impl Fn(usize) -> bool + Copy,
) -> f64 {
    let mut s = Searcher::new(
        metric.clone(),
        SearchOptions {
            ef_search,
            ..Default::default()
        },
    );
    let mut hits = 0usize;
    let mut total = 0usize;
    for q in queries {
        let truth = brute_force(metric, data, q, k, keep);
        let got = search(&mut s, rel, q, k);
        hits += truth.iter().filter(|t| got.contains(t)).count();
        total += truth.len();
    }
    hits as f64 / total.max(1) as f64
}

/// One element of an index as stored: its first heap row, level and
/// neighbour lists per layer (element TIDs).
pub struct StoredNode {
    pub row: usize,
    pub level: u8,
    pub neighbors: Tid,
    pub layers: Vec<Vec<Tid>>,
}

/// Every element of `rel`, read from its pages.
pub fn stored_graph(rel: &MemRelation) -> std::collections::HashMap<Tid, StoredNode> {
    use semvec_hnsw::tuple::{ElementRef, NeighborsRef};
    let mut g = std::collections::HashMap::new();
    for b in 1..rel.nblocks() {
        let p = rel.read(b);
        for off in 1..=p.len() {
            let Some(e) = p.get(off).and_then(ElementRef::parse) else {
                continue;
            };
            let nt = e.neighbors();
            let np = rel.read(nt.block);
            let n = np.get(nt.offset).and_then(NeighborsRef::parse).expect("neighbour tuple");
            let layers = (0..=n.level()).map(|l| n.layer(l).collect()).collect();
            g.insert(
                Tid::new(b, off),
                StoredNode {
                    row: row_of(e.heap_tid(0)),
                    level: e.level(),
                    neighbors: nt,
                    layers,
                },
            );
        }
    }
    g
}
