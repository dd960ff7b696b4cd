//! Recall of "rank by estimate, re-rank the best exactly" on a real data set,
//! for SQ8 and RaBitQ, brute force (no graph): what the codes alone allow.
//!
//! cargo run --release -p semvec-quant --example real_recall -- DIR l2|cosine [QUERIES]
//!
//! DIR holds `base.fvecs` and `queries.fvecs` (the layout of `.cache/bench/<set>/` and of
//! `benches/grow_data.py`'s output). The exact top 10 is computed here in `f64`.

use std::path::Path;

use semvec_quant::{exact_distance, Metric, Quantizer, RaBitQ, Sq8};

fn read_fvecs(path: &Path) -> Vec<Vec<f32>> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let dims = i32::from_le_bytes(bytes[0..4].try_into().unwrap()) as usize;
    bytes
        .chunks_exact(4 * (dims + 1))
        .map(|rec| {
            rec[4..]
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect()
        })
        .collect()
}

const K: usize = 10;

fn run<Q: Quantizer>(name: &str, quant: &Q, base: &[Vec<f32>], queries: &[Vec<f32>], truth: &[Vec<usize>], metric: Metric) {
    let len = quant.code_len();
    let mut codes = Vec::with_capacity(base.len() * len);
    for v in base {
        quant.encode(v, &mut codes);
    }
    let reranks = [10usize, 20, 50, 100, 200, 500];
    let mut hits = vec![0usize; reranks.len()];
    let (mut pruned_hits, mut pruned_n) = (0usize, 0usize);
    for (q, truth) in queries.iter().zip(truth) {
        let pq = quant.prepare_query(q, metric);
        let est: Vec<_> = codes.chunks_exact(len).map(|c| quant.estimate(&pq, c)).collect();
        let mut order: Vec<usize> = (0..base.len()).collect();
        order.sort_by(|&a, &b| est[a].dist.total_cmp(&est[b].dist));
        for (r, h) in reranks.iter().zip(&mut hits) {
            let mut exact: Vec<(f64, usize)> = order[..*r].iter().map(|&i| (exact_distance(metric, q, &base[i]), i)).collect();
            exact.sort_by(|a, b| a.0.total_cmp(&b.0));
            *h += exact.iter().take(K).filter(|(_, i)| truth.contains(i)).count();
        }
        let mut uppers: Vec<f32> = est.iter().map(|e| e.upper()).collect();
        uppers.select_nth_unstable_by(K - 1, f32::total_cmp);
        let mut exact: Vec<(f64, usize)> = (0..base.len())
            .filter(|&i| est[i].lower() <= uppers[K - 1])
            .map(|i| (exact_distance(metric, q, &base[i]), i))
            .collect();
        pruned_n += exact.len();
        exact.sort_by(|a, b| a.0.total_cmp(&b.0));
        pruned_hits += exact.iter().take(K).filter(|(_, i)| truth.contains(i)).count();
    }
    let nq = queries.len() as f64;
    let cells: Vec<String> = hits.iter().map(|&h| format!("{:.3}", h as f64 / (K as f64 * nq))).collect();
    println!(
        "| {name:<8} | {len:>5} | {} | {:.3} ({:.0} re-ranked) |",
        cells.join(" | "),
        pruned_hits as f64 / (K as f64 * nq),
        pruned_n as f64 / nq
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let dir = Path::new(args.get(1).expect("usage: real_recall DIR l2|cosine [QUERIES]"));
    let metric = match args.get(2).map(String::as_str) {
        Some("l2") => Metric::L2Squared,
        Some("cosine") => Metric::Cosine,
        _ => panic!("metric: l2 or cosine"),
    };
    let nq: usize = args.get(3).map_or(100, |s| s.parse().unwrap());
    let base = read_fvecs(&dir.join("base.fvecs"));
    let mut queries = read_fvecs(&dir.join("queries.fvecs"));
    queries.truncate(nq);
    let dims = base[0].len();
    let truth: Vec<Vec<usize>> = queries
        .iter()
        .map(|q| {
            let mut d: Vec<(f64, usize)> = base.iter().enumerate().map(|(i, v)| (exact_distance(metric, q, v), i)).collect();
            d.select_nth_unstable_by(K - 1, |a, b| a.0.total_cmp(&b.0));
            d[..K].iter().map(|&(_, i)| i).collect()
        })
        .collect();
    println!(
        "{}: {} x {dims}, {} queries, {metric:?}, recall@10 re-ranking the best R by estimate",
        dir.display(),
        base.len(),
        queries.len()
    );
    println!("| quant    | bytes | R=10 (none) | 20 | 50 | 100 | 200 | 500 | bound-pruned |");
    println!("|----------|-------|-------------|----|----|-----|-----|-----|--------------|");
    run("sq8", &Sq8::new(dims), &base, &queries, &truth, metric);
    run("rabitq", &RaBitQ::new(dims, 1), &base, &queries, &truth, metric);
    // The centroid of the base: residuals are smaller, so estimates and bounds tighter.
    let mut mean = vec![0f64; dims];
    for v in &base {
        for (m, &x) in mean.iter_mut().zip(v) {
            *m += x as f64 / base.len() as f64;
        }
    }
    let centroid = mean.iter().map(|&m| m as f32).collect();
    run("rabitq+c", &RaBitQ::with_centroid(centroid, 1), &base, &queries, &truth, metric);
}
