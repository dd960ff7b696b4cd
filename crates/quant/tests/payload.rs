//! The SQ8 payload metric of a compressed index: its query-to-code value is a lower bound of the
//! exact distance as the SQL kernels compute it (in `f32`), always, for the executor's re-ranking;
//! and ordering by it then re-ranking exactly gives exact order.

mod common;
use common::Rng;
use proptest::prelude::*;
use semvec_quant::{prepared_query, Metric, Quantizer, Sq8, Sq8Payloads};
use semvec_storage::metric::Metric as PayloadMetric;

/// The exact distance as the index's SQL kernels compute it: `f32` products summed in `f32`.
fn sql_f32(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    match metric {
        Metric::L2Squared => a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum(),
        _ => -a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>(),
    }
}

fn payloads(v: &[f32], bits: u8) -> Vec<u8> {
    let mut c = Vec::new();
    Sq8::with_bits(v.len(), bits).encode(v, &mut c);
    c
}

fn query(v: &[f32]) -> Vec<u8> {
    let mut q = Vec::new();
    prepared_query(v, &mut q);
    q
}

/// Vectors of one of several shapes: gaussian, offset (all positive, like pixels), a few large
/// entries among small ones, and scaled far from unit norm.
fn vector(rng: &mut Rng, dims: usize, shape: usize, scale: f32) -> Vec<f32> {
    (0..dims)
        .map(|i| {
            let g = rng.normal() as f32;
            scale
                * match shape {
                    0 => g,
                    1 => 3.0 + g.abs(),
                    2 => {
                        if i % 37 == 0 {
                            20.0 * g
                        } else {
                            0.01 * g
                        }
                    }
                    _ => (rng.below(256) as f32) / 255.0,
                }
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn query_to_code_is_a_lower_bound_of_the_f32_and_f64_exact_distance(
        seed in any::<u64>(), dims in 1usize..1600, shape in 0usize..4, scale_exp in -6i32..6, near in any::<bool>(), l2 in any::<bool>(),
        four_bit in any::<bool>(),
    ) {
        let bits = if four_bit { 4 } else { 8 };
        let dims = if four_bit { dims.max(semvec_quant::SQ4_MIN_DIMS) } else { dims };
        let mut rng = Rng::new(seed);
        let scale = 2f32.powi(scale_exp);
        let metric = if l2 { Metric::L2Squared } else { Metric::NegativeDot };
        let m = Sq8Payloads::with_bits(metric, bits);
        let x = vector(&mut rng, dims, shape, scale);
        // A query near x (its nearest neighbours are where bounds are tight) or independent.
        let q: Vec<f32> = if near {
            x.iter().map(|&v| v + 0.01 * scale * rng.normal() as f32).collect()
        } else {
            vector(&mut rng, dims, shape, scale)
        };
        let (code, qp) = (payloads(&x, bits), query(&q));
        let lb = m.distance(&qp, &code);
        let lb_other_order = m.distance(&code, &qp);
        prop_assert_eq!(lb.to_bits(), lb_other_order.to_bits());
        let exact32 = sql_f32(metric, &q, &x);
        let exact64 = semvec_quant::exact_distance(metric, &q, &x);
        prop_assert!(lb <= exact32, "lower bound {lb} above the f32 exact {exact32} (dims {dims}, shape {shape})");
        prop_assert!((lb as f64) <= exact64, "lower bound {lb} above the exact {exact64}");
        // Tight enough to be useful: within the estimate's own bound of it.
        let e = m.estimate(&qp, &code);
        prop_assert!(e.dist - e.bound <= exact32 && exact32 <= e.dist + e.bound);
    }
}

#[test]
fn code_to_code_is_the_estimate_and_symmetric() {
    let mut rng = Rng::new(3);
    // SQ4's steps are 17x SQ8's; an odd dimension count leaves a padding nibble.
    for (bits, dims, tolerance) in [(8, 384, 0.02), (4, 384, 0.3), (4, 383, 0.3)] {
        let m = Sq8Payloads::with_bits(Metric::L2Squared, bits);
        for _ in 0..100 {
            let (a, b) = (rng.gaussian(dims), rng.gaussian(dims));
            let (ca, cb) = (payloads(&a, bits), payloads(&b, bits));
            let d = m.distance(&ca, &cb);
            let exact = semvec_quant::exact_distance(Metric::L2Squared, &a, &b);
            assert!(((d as f64) - exact).abs() <= tolerance * exact, "{bits} bits: {d} vs {exact}");
            // The dimension count comes from the codes alone (SQ4's header: its length would
            // count a padding nibble).
            let sq = Sq8::with_bits(dims, bits);
            assert_eq!(d.to_bits(), sq.estimate_codes(&ca, &cb, Metric::L2Squared).dist.to_bits());
            assert_eq!(d.to_bits(), m.distance(&cb, &ca).to_bits());
        }
    }
}

/// What the executor does with an index scan whose ORDER BY values are lower bounds: take rows in
/// lower-bound order, and return the best exact one as soon as no later lower bound can beat it.
/// That yields exact order and the exact top 10; returning rows in lower-bound order without it
/// does not (the test fails if the re-ranking is skipped).
#[test]
fn lower_bound_order_plus_reranking_gives_exact_order() {
    for bits in [8, 4] {
        lower_bound_order_plus_reranking_gives_exact_order_with(bits);
    }
}

fn lower_bound_order_plus_reranking_gives_exact_order_with(bits: u8) {
    let mut rng = Rng::new(11);
    let centres: Vec<Vec<f32>> = (0..20).map(|_| rng.gaussian(384)).collect();
    let data: Vec<Vec<f32>> = (0..3000)
        .map(|i| centres[i % 20].iter().map(|&c| c + 0.3 * rng.normal() as f32).collect())
        .collect();
    let codes: Vec<Vec<u8>> = data.iter().map(|v| payloads(v, bits)).collect();
    let m = Sq8Payloads::with_bits(Metric::L2Squared, bits);
    let (mut inversions_without, mut reranked) = (0usize, 0usize);
    for qi in 0..30 {
        let q: Vec<f32> = data[qi * 7].iter().map(|&v| v + 0.1 * rng.normal() as f32).collect();
        let qp = query(&q);
        let mut by_lb: Vec<(f32, usize)> = codes.iter().enumerate().map(|(i, c)| (m.distance(&qp, c), i)).collect();
        by_lb.sort_by(|a, b| a.0.total_cmp(&b.0));
        let exact = |i: usize| sql_f32(Metric::L2Squared, &q, &data[i]);
        // Without re-ranking: the first 10 in lower-bound order.
        let plain: Vec<f32> = by_lb[..10].iter().map(|&(_, i)| exact(i)).collect();
        inversions_without += plain.windows(2).filter(|w| w[1] < w[0]).count();
        // The executor's reorder queue.
        let mut queue: Vec<(f32, usize)> = Vec::new();
        let mut out = Vec::new();
        let mut next = 0;
        while out.len() < 10 {
            let bound = by_lb.get(next).map_or(f32::INFINITY, |x| x.0);
            queue.sort_by(|a, b| b.0.total_cmp(&a.0));
            if queue.last().is_some_and(|&(d, _)| d <= bound) {
                out.push(queue.pop().unwrap());
                continue;
            }
            let (_, i) = by_lb[next];
            next += 1;
            reranked += 1;
            queue.push((exact(i), i));
        }
        let mut truth: Vec<(f32, usize)> = (0..data.len()).map(|i| (exact(i), i)).collect();
        truth.sort_by(|a, b| a.0.total_cmp(&b.0));
        let got: Vec<usize> = out.iter().map(|x| x.1).collect();
        let want: Vec<usize> = truth[..10].iter().map(|x| x.1).collect();
        assert_eq!(got, want, "query {qi}: re-ranked top 10 is the exact top 10, in order");
    }
    assert!(
        inversions_without > 0,
        "lower-bound order alone was exact: the test would not see a skipped re-rank"
    );
    eprintln!(
        "{bits} bits: rows re-ranked per query for the top 10: {:.1}; inversions without re-ranking: {inversions_without}",
        reranked as f64 / 30.0
    );
}
