//! Speed and bound tightness of SQ8 and RaBitQ estimates, to choose between
//! them for the compressed hnsw index (issue 15).
//!
//! CARGO_BUILD_JOBS=1 cargo run --release -p semvec-quant --example quant_speed
//!
//! Per dimension: ns per estimate (best of 5 passes of 20 queries against
//! codes stored back to back, all of them and the first 256 that stay in L2,
//! as a graph search reads a neighbour list's codes) next to an exact `f32`
//! distance on the full vectors (`semvec-simd`'s dispatched `dot_f32`), encode and query-preparation times, and
//! on clustered unit vectors (cosine) the mean |error|, the mean bound and
//! their ratio, over all pairs and over each query's 100 nearest.

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;
use std::time::Instant;

use common::{clustered, Rng};
use semvec_quant::{exact_distance, Metric, Quantizer, RaBitQ, Sq8};

/// Codes in the cache-resident measurement.
const HOT: usize = 256;

/// Best of 5 runs, in ns: the box is shared, the minimum is the least disturbed.
fn best_of_5(mut f: impl FnMut()) -> f64 {
    (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn report<Q: Quantizer>(name: &str, quant: &Q, base: &[Vec<f32>], queries: &[Vec<f32>]) {
    let metric = Metric::Cosine;
    let len = quant.code_len();
    let t = Instant::now();
    let mut codes = Vec::with_capacity(base.len() * len);
    for v in base {
        quant.encode(v, &mut codes);
    }
    let encode_ns = t.elapsed().as_nanos() as f64 / base.len() as f64;
    let t = Instant::now();
    let prepared: Vec<_> = queries.iter().map(|q| quant.prepare_query(q, metric)).collect();
    let prep_ns = t.elapsed().as_nanos() as f64 / queries.len() as f64;

    let est_ns = best_of_5(|| {
        let mut sink = 0f32;
        for pq in &prepared {
            for code in codes.chunks_exact(len) {
                sink += quant.estimate(pq, black_box(code)).dist;
            }
        }
        black_box(sink);
    }) / (prepared.len() * base.len()) as f64;
    // The same on the first HOT codes only, which stay in L2 cache.
    let hot = &codes[..HOT * len];
    let hot_ns = best_of_5(|| {
        let mut sink = 0f32;
        for _ in 0..10 {
            for pq in &prepared {
                for code in hot.chunks_exact(len) {
                    sink += quant.estimate(pq, black_box(code)).dist;
                }
            }
        }
        black_box(sink);
    }) / (10 * prepared.len() * HOT) as f64;

    // Bound tightness: all pairs, and each query's 100 nearest.
    let (mut err_all, mut bound_all, mut err_near, mut bound_near, mut n_near) = (0.0, 0.0, 0.0, 0.0, 0);
    for (q, pq) in queries.iter().zip(&prepared) {
        let mut pairs: Vec<(f64, f64, f64)> = base
            .iter()
            .zip(codes.chunks_exact(len))
            .map(|(v, code)| {
                let e = quant.estimate(pq, code);
                let exact = exact_distance(metric, q, v);
                (exact, (e.dist as f64 - exact).abs(), e.bound as f64)
            })
            .collect();
        err_all += pairs.iter().map(|p| p.1).sum::<f64>();
        bound_all += pairs.iter().map(|p| p.2).sum::<f64>();
        pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
        for p in pairs.iter().take(100) {
            err_near += p.1;
            bound_near += p.2;
            n_near += 1;
        }
    }
    let n_all = (queries.len() * base.len()) as f64;
    println!(
        "| {name:<8} | {:>5} | {len:>6} | {est_ns:>7.1} | {hot_ns:>6.1} | {encode_ns:>8.0} | {prep_ns:>7.0} | {:.2e} / {:.2e} = {:>4.1}x | {:.2e} / {:.2e} = {:>4.1}x |",
        quant.dims(),
        bound_all / n_all,
        err_all / n_all,
        bound_all / err_all,
        bound_near / n_near as f64,
        err_near / n_near as f64,
        bound_near / err_near,
    );
}

fn main() {
    println!("| quant    | dims  | code B | ns/est  | in L2  | encode ns | prep ns | all pairs: mean bound / mean abs err | 100 nearest: mean bound / mean abs err |");
    println!("|----------|-------|--------|---------|--------|-----------|---------|--------------------------------------|----------------------------------------|");
    for (dims, n) in [(384usize, 20_000usize), (1536, 5_000), (3072, 2_500)] {
        let mut rng = Rng::new(dims as u64);
        let mut all = clustered(&mut rng, n + 20, dims, 50, 0.8);
        let queries = all.split_off(n);

        let simd = semvec_simd::Backend::detected();
        let exact_ns = best_of_5(|| {
            let mut sink = 0f32;
            for q in &queries {
                for v in &all {
                    sink += simd.dot_f32(q, black_box(v));
                }
            }
            black_box(sink);
        }) / (queries.len() * all.len()) as f64;
        let exact_hot_ns = best_of_5(|| {
            let mut sink = 0f32;
            for _ in 0..10 {
                for q in &queries {
                    for v in &all[..HOT] {
                        sink += simd.dot_f32(q, black_box(v));
                    }
                }
            }
            black_box(sink);
        }) / (10 * queries.len() * HOT) as f64;
        println!("| exact    | {dims:>5} | {:>6} | {exact_ns:>7.1} | {exact_hot_ns:>6.1} |           |         |                                      |                                        |", dims * 4);
        report("sq8", &Sq8::new(dims), &all, &queries);
        report("rabitq", &RaBitQ::new(dims, 1), &all, &queries);
        report("rabitq32", &RaBitQ::new(dims, 1).with_f32_query(), &all, &queries);
    }
}
