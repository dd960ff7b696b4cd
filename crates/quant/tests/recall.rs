//! Recall of "rank by estimate, re-rank the best exactly" on clustered
//! synthetic embeddings: what a compressed index does, without the graph.

mod common;

use common::{clustered, Rng};
use semvec_quant::{exact_distance, Metric, Quantizer, RaBitQ, Sq8};

const N: usize = 2000;
const DIMS: usize = 384;
const QUERIES: usize = 50;
const K: usize = 10;

struct Data {
    base: Vec<Vec<f32>>,
    queries: Vec<Vec<f32>>,
    truth: Vec<Vec<usize>>,
}

fn data(metric: Metric) -> Data {
    let mut rng = Rng::new(2024);
    let mut all = clustered(&mut rng, N + QUERIES, DIMS, 40, 0.8);
    let queries = all.split_off(N);
    let truth = queries
        .iter()
        .map(|q| top(&all, |i| exact_distance(metric, q, &all[i]), K))
        .collect();
    Data { base: all, queries, truth }
}

/// Ids of the `k` smallest `dist(i)`, ascending.
fn top(base: &[Vec<f32>], dist: impl Fn(usize) -> f64, k: usize) -> Vec<usize> {
    let mut ids: Vec<(f64, usize)> = (0..base.len()).map(|i| (dist(i), i)).collect();
    ids.sort_by(|a, b| a.0.total_cmp(&b.0));
    ids.truncate(k);
    ids.into_iter().map(|(_, i)| i).collect()
}

/// Mean recall@10 of: rank all points by the estimate, keep the best
/// `rerank`, order those by exact distance, return the first 10.
/// `rerank = 10` is the control: the estimate's own order, no re-ranking.
fn recall<Q: Quantizer>(quant: &Q, d: &Data, metric: Metric, rerank: usize) -> f64 {
    let len = quant.code_len();
    let mut codes = Vec::with_capacity(N * len);
    for v in &d.base {
        quant.encode(v, &mut codes);
    }
    let mut hits = 0;
    for (q, truth) in d.queries.iter().zip(&d.truth) {
        let pq = quant.prepare_query(q, metric);
        let mut cands: Vec<(f32, usize)> = (0..N)
            .map(|i| (quant.estimate(&pq, &codes[i * len..(i + 1) * len]).dist, i))
            .collect();
        cands.sort_by(|a, b| a.0.total_cmp(&b.0));
        cands.truncate(rerank);
        let mut exact: Vec<(f64, usize)> = cands.iter().map(|&(_, i)| (exact_distance(metric, q, &d.base[i]), i)).collect();
        exact.sort_by(|a, b| a.0.total_cmp(&b.0));
        hits += exact.iter().take(K).filter(|(_, i)| truth.contains(i)).count();
    }
    hits as f64 / (K * d.queries.len()) as f64
}

#[test]
fn sq8_rerank_of_top_50_recovers_the_exact_top_10() {
    for metric in [Metric::Cosine, Metric::L2Squared, Metric::NegativeDot] {
        let d = data(metric);
        let sq8 = Sq8::new(DIMS);
        let (plain, reranked) = (recall(&sq8, &d, metric, K), recall(&sq8, &d, metric, 50));
        eprintln!("sq8 {metric:?}: recall@10 without re-rank {plain:.3}, re-ranking 50 {reranked:.3}");
        assert!(reranked >= 0.95, "{metric:?}: {reranked}");
    }
}

#[test]
fn rabitq_needs_and_is_rescued_by_a_larger_rerank() {
    let metric = Metric::Cosine;
    let d = data(metric);
    let rq = RaBitQ::new(DIMS, 99);
    let plain = recall(&rq, &d, metric, K);
    let r50 = recall(&rq, &d, metric, 50);
    let r200 = recall(&rq, &d, metric, 200);
    eprintln!("rabitq {metric:?}: recall@10 without re-rank {plain:.3}, re-ranking 50 {r50:.3}, 200 {r200:.3}");
    assert!(r50 >= 0.9, "re-ranking 50: {r50}");
    assert!(r200 >= 0.95, "re-ranking 200: {r200}");
    // The control: skipping the re-rank must show.
    assert!(plain <= r200 - 0.15, "without re-rank {plain}, with {r200}");
}

/// Re-ranks exactly the candidates whose bound says they might be in the
/// top 10 (`lower() <=` the 10th smallest `upper()`); returns the recall and
/// the mean number re-ranked.
fn bound_pruned_recall<Q: Quantizer>(quant: &Q, d: &Data, metric: Metric) -> (f64, f64) {
    let len = quant.code_len();
    let mut codes = Vec::with_capacity(N * len);
    for v in &d.base {
        quant.encode(v, &mut codes);
    }
    let (mut hits, mut reranked) = (0, 0);
    for (q, truth) in d.queries.iter().zip(&d.truth) {
        let pq = quant.prepare_query(q, metric);
        let est: Vec<_> = (0..N).map(|i| quant.estimate(&pq, &codes[i * len..(i + 1) * len])).collect();
        let mut uppers: Vec<f32> = est.iter().map(|e| e.upper()).collect();
        uppers.select_nth_unstable_by(K - 1, f32::total_cmp);
        let kth_upper = uppers[K - 1];
        let mut exact: Vec<(f64, usize)> = (0..N)
            .filter(|&i| est[i].lower() <= kth_upper)
            .map(|i| (exact_distance(metric, q, &d.base[i]), i))
            .collect();
        reranked += exact.len();
        exact.sort_by(|a, b| a.0.total_cmp(&b.0));
        hits += exact.iter().take(K).filter(|(_, i)| truth.contains(i)).count();
    }
    let nq = d.queries.len() as f64;
    (hits as f64 / (K as f64 * nq), reranked as f64 / nq)
}

#[test]
fn sq8_bounds_prune_safely_no_true_neighbour_is_skipped() {
    let metric = Metric::Cosine;
    let d = data(metric);
    let (recall, reranked) = bound_pruned_recall(&Sq8::new(DIMS), &d, metric);
    eprintln!("sq8 bound-pruned: recall@10 {recall:.3}, re-ranked {reranked:.1} of {N} per query");
    // Deterministic bounds: pruning never loses a true neighbour.
    assert_eq!(recall, 1.0);
    assert!(reranked < N as f64 / 4.0, "the bound pruned too little: {reranked}");
}

#[test]
fn rabitq_bounds_prune_with_high_recall() {
    let metric = Metric::Cosine;
    let d = data(metric);
    let (recall, reranked) = bound_pruned_recall(&RaBitQ::new(DIMS, 99), &d, metric);
    eprintln!("rabitq bound-pruned: recall@10 {recall:.3}, re-ranked {reranked:.1} of {N} per query");
    assert!(recall >= 0.95, "{recall}");
}
