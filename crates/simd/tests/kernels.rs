//! Every kernel of every backend the CPU supports, checked against the scalar
//! reference and against an `f64` reference, over every length 1..=2048 (so
//! every tail shape of every vector width) and over random extreme values.

use half::f16;
use proptest::prelude::*;
use semvec_simd::{self as simd, scalar, Backend};

const U: f64 = 1.0 / (1u64 << 24) as f64; // unit roundoff of f32
const TINY: f64 = 1.401298464324817e-45; // smallest subnormal f32

/// Deterministic xorshift so failures are reproducible without proptest.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn unit(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
    fn small_int(&mut self) -> f32 {
        (self.next() % 17) as f32 - 8.0
    }
}

/// Accepts `got` when it is within the worst-case error of an `f32`
/// summation of `n` terms whose absolute values add to `abs_sum`. When the
/// terms are large enough that some summation order may overflow, infinity
/// (or NaN, from adding opposite infinities) is accepted too.
fn assert_close(what: &str, got: f32, reference: f64, abs_sum: f64, n: usize) {
    let n = n as f64 + 4.0;
    let tol = n * U * abs_sum + n * 4.0 * TINY;
    let near_overflow = abs_sum >= f64::from(f32::MAX) / 2.0;
    if near_overflow && !got.is_finite() {
        return;
    }
    assert!(
        got.is_finite() && (f64::from(got) - reference).abs() <= tol,
        "{what}: got {got:e}, reference {reference:e}, tolerance {tol:e} (n = {n})"
    );
}

struct Refs {
    l2: (f64, f64),
    dot: (f64, f64),
    l1: (f64, f64),
    na: (f64, f64),
    nb: (f64, f64),
}

fn refs(a: &[f64], b: &[f64]) -> Refs {
    let mut r = Refs {
        l2: (0.0, 0.0),
        dot: (0.0, 0.0),
        l1: (0.0, 0.0),
        na: (0.0, 0.0),
        nb: (0.0, 0.0),
    };
    for (&x, &y) in a.iter().zip(b) {
        let d = x - y;
        r.l2.0 += d * d;
        r.dot.0 += x * y;
        r.dot.1 += (x * y).abs();
        r.l1.0 += d.abs();
        r.na.0 += x * x;
        r.nb.0 += y * y;
    }
    r.l2.1 = r.l2.0;
    r.l1.1 = r.l1.0;
    r.na.1 = r.na.0;
    r.nb.1 = r.nb.0;
    r
}

fn check_f32_all_backends(a: &[f32], b: &[f32]) {
    let n = a.len();
    let a64: Vec<f64> = a.iter().map(|&x| f64::from(x)).collect();
    let b64: Vec<f64> = b.iter().map(|&x| f64::from(x)).collect();
    let r = refs(&a64, &b64);
    for be in Backend::available() {
        let name = be.name();
        assert_close(&format!("{name} l2"), be.l2_squared_f32(a, b), r.l2.0, r.l2.1, n);
        assert_close(&format!("{name} dot"), be.dot_f32(a, b), r.dot.0, r.dot.1, n);
        assert_close(&format!("{name} l1"), be.l1_f32(a, b), r.l1.0, r.l1.1, n);
        assert_close(&format!("{name} norm"), be.norm_squared_f32(a), r.na.0, r.na.1, n);
        let (ab, aa, bb) = be.cosine_sums_f32(a, b);
        assert_close(&format!("{name} cos.ab"), ab, r.dot.0, r.dot.1, n);
        assert_close(&format!("{name} cos.aa"), aa, r.na.0, r.na.1, n);
        assert_close(&format!("{name} cos.bb"), bb, r.nb.0, r.nb.1, n);
    }
}

fn check_f16_all_backends(a: &[f16], b: &[f16]) {
    let n = a.len();
    let a64: Vec<f64> = a.iter().map(|x| f64::from(x.to_f32())).collect();
    let b64: Vec<f64> = b.iter().map(|x| f64::from(x.to_f32())).collect();
    let r = refs(&a64, &b64);
    for be in Backend::available() {
        let name = be.name();
        assert_close(&format!("{name} l2 f16"), be.l2_squared_f16(a, b), r.l2.0, r.l2.1, n);
        assert_close(&format!("{name} dot f16"), be.dot_f16(a, b), r.dot.0, r.dot.1, n);
        assert_close(&format!("{name} l1 f16"), be.l1_f16(a, b), r.l1.0, r.l1.1, n);
        assert_close(&format!("{name} norm f16"), be.norm_squared_f16(a), r.na.0, r.na.1, n);
        let (ab, aa, bb) = be.cosine_sums_f16(a, b);
        assert_close(&format!("{name} cos.ab f16"), ab, r.dot.0, r.dot.1, n);
        assert_close(&format!("{name} cos.aa f16"), aa, r.na.0, r.na.1, n);
        assert_close(&format!("{name} cos.bb f16"), bb, r.nb.0, r.nb.1, n);
    }
}

#[test]
fn detected_backend_is_the_best_available_one() {
    let available = Backend::available();
    assert_eq!(available[0], Backend::SCALAR);
    assert_eq!(*available.last().unwrap(), Backend::detected());
    assert_eq!(simd::simd_backend(), Backend::detected().name());
}

#[test]
fn every_length_up_to_2048_matches_references_for_f32() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    for n in 1..=2048 {
        let a: Vec<f32> = (0..n).map(|_| rng.unit() * 100.0).collect();
        let b: Vec<f32> = (0..n).map(|_| rng.unit() * 100.0).collect();
        check_f32_all_backends(&a, &b);
    }
}

#[test]
fn every_length_up_to_2048_matches_references_for_f16() {
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    for n in 1..=2048 {
        let a: Vec<f16> = (0..n).map(|_| f16::from_f32(rng.unit() * 10.0)).collect();
        let b: Vec<f16> = (0..n).map(|_| f16::from_f32(rng.unit() * 10.0)).collect();
        check_f16_all_backends(&a, &b);
    }
}

#[test]
fn small_integer_inputs_give_exact_results_on_every_backend() {
    let mut rng = Rng(42);
    for n in 1..=2048 {
        let a: Vec<f32> = (0..n).map(|_| rng.small_int()).collect();
        let b: Vec<f32> = (0..n).map(|_| rng.small_int()).collect();
        let l2: i64 = a.iter().zip(&b).map(|(x, y)| ((x - y) as i64).pow(2)).sum();
        let dot: i64 = a.iter().zip(&b).map(|(x, y)| (*x as i64) * (*y as i64)).sum();
        let l1: i64 = a.iter().zip(&b).map(|(x, y)| ((x - y) as i64).abs()).sum();
        let na: i64 = a.iter().map(|x| (*x as i64).pow(2)).sum();
        let ah: Vec<f16> = a.iter().map(|&x| f16::from_f32(x)).collect();
        let bh: Vec<f16> = b.iter().map(|&x| f16::from_f32(x)).collect();
        for be in Backend::available() {
            assert_eq!(be.l2_squared_f32(&a, &b), l2 as f32, "{} n={n}", be.name());
            assert_eq!(be.dot_f32(&a, &b), dot as f32, "{} n={n}", be.name());
            assert_eq!(be.l1_f32(&a, &b), l1 as f32, "{} n={n}", be.name());
            assert_eq!(be.norm_squared_f32(&a), na as f32, "{} n={n}", be.name());
            assert_eq!(be.l2_squared_f16(&ah, &bh), l2 as f32, "{} n={n}", be.name());
            assert_eq!(be.dot_f16(&ah, &bh), dot as f32, "{} n={n}", be.name());
            assert_eq!(be.l1_f16(&ah, &bh), l1 as f32, "{} n={n}", be.name());
            assert_eq!(be.norm_squared_f16(&ah), na as f32, "{} n={n}", be.name());
        }
    }
}

#[test]
fn pgvector_regression_values_are_exact() {
    // From pgvector's vector_type test: l2 [0,0]-[3,4] = 5, inner product 11, l1 7.
    assert_eq!(f64::from(simd::l2_squared_f32(&[0.0, 0.0], &[3.0, 4.0])).sqrt(), 5.0);
    assert_eq!(simd::l2_squared_f32(&[1.0; 9], &[1., 1., 1., 1., 1., 1., 1., 4., 5.]), 25.0);
    assert_eq!(simd::dot_f32(&[1.0, 2.0], &[3.0, 4.0]), 11.0);
    assert_eq!(simd::dot_f32(&[1.0; 9], &[1., 2., 3., 4., 5., 6., 7., 8., 9.]), 45.0);
    assert_eq!(simd::l1_f32(&[0.0, 0.0], &[3.0, 4.0]), 7.0);
    assert_eq!(
        simd::l1_f32(&[1., 2., 3., 4., 5., 6., 7., 8., 9.], &[0., 3., 2., 5., 4., 7., 6., 9., 8.]),
        9.0
    );
    assert_eq!(simd::l2_squared_f32(&[3e38], &[-3e38]), f32::INFINITY);
    assert_eq!(simd::dot_f32(&[3e38], &[3e38]), f32::INFINITY);
    assert_eq!(simd::l1_f32(&[3e38], &[-3e38]), f32::INFINITY);
}

#[test]
fn cosine_distance_follows_pgvector_semantics() {
    for be in Backend::available() {
        assert_eq!(be.cosine_distance_f32(&[1.0, 2.0], &[2.0, 4.0]), 0.0);
        assert!(be.cosine_distance_f32(&[1.0, 2.0], &[0.0, 0.0]).is_nan());
        assert!(be.cosine_distance_f32(&[0.0, 0.0], &[0.0, 0.0]).is_nan());
        assert_eq!(be.cosine_distance_f32(&[1.0, 1.0], &[1.0, 1.0]), 0.0);
        assert_eq!(be.cosine_distance_f32(&[1.0, 0.0], &[0.0, 2.0]), 1.0);
        assert_eq!(be.cosine_distance_f32(&[1.0, 1.0], &[-1.0, -1.0]), 2.0);
        // Rounding pushes the similarity past 1; pgvector clamps it.
        assert_eq!(be.cosine_distance_f32(&[1.0, 1.0], &[1.1, 1.1]), 0.0);
        let h = |v: &[f32]| v.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
        assert_eq!(be.cosine_distance_f16(&h(&[1.0, 2.0]), &h(&[2.0, 4.0])), 0.0);
        assert!(be.cosine_distance_f16(&h(&[1.0, 2.0]), &h(&[0.0, 0.0])).is_nan());
        assert_eq!(be.cosine_distance_f16(&h(&[1.0, 1.0]), &h(&[-1.0, -1.0])), 2.0);
    }
    assert_eq!(simd::cosine_from_sums(3.0, 1.0, 1.0), 0.0);
    assert_eq!(simd::cosine_from_sums(-3.0, 1.0, 1.0), 2.0);
}

#[test]
fn cosine_distance_of_ordinary_vectors_agrees_across_backends() {
    let mut rng = Rng(7);
    for n in [1, 3, 7, 8, 15, 16, 17, 31, 33, 100, 384, 768, 1536, 2048] {
        let a: Vec<f32> = (0..n).map(|_| rng.unit()).collect();
        let b: Vec<f32> = (0..n).map(|_| rng.unit()).collect();
        let reference = scalar::cosine_distance_f32(&a, &b);
        for be in Backend::available() {
            let got = be.cosine_distance_f32(&a, &b);
            assert!((got - reference).abs() < 1e-5, "{} n={n}: {got} vs {reference}", be.name());
        }
    }
}

/// Naive bit-by-bit reference.
fn bits_reference(a: &[u8], b: &[u8]) -> (u64, u64, u64, u64) {
    let (mut diff, mut ab, mut aa, mut bb) = (0, 0, 0, 0);
    for (x, y) in a.iter().zip(b) {
        for k in 0..8 {
            let (p, q) = ((x >> k) & 1, (y >> k) & 1);
            diff += u64::from(p != q);
            ab += u64::from(p & q);
            aa += u64::from(p);
            bb += u64::from(q);
        }
    }
    (diff, ab, aa, bb)
}

#[test]
fn bit_kernels_match_bit_by_bit_reference_for_every_length() {
    let mut rng = Rng(99);
    for n in 0..=300 {
        let a: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        let b: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
        let (diff, ab, aa, bb) = bits_reference(&a, &b);
        for be in Backend::available() {
            assert_eq!(be.hamming(&a, &b), diff, "{} n={n}", be.name());
            assert_eq!(be.jaccard_counts(&a, &b), (ab, aa, bb), "{} n={n}", be.name());
        }
    }
}

#[test]
fn jaccard_distance_matches_pgvector_examples() {
    // bit strings are MSB-first; only the set bits matter here.
    assert_eq!(simd::jaccard_distance(&[0b1111_0000], &[0b1111_0000]), 0.0);
    assert_eq!(simd::jaccard_distance(&[0b1111_0000], &[0b1110_0000]), 0.25);
    assert_eq!(simd::jaccard_distance(&[0b1111_0000], &[0b1100_0000]), 0.5);
    assert_eq!(simd::jaccard_distance(&[0b1111_0000], &[0b1000_0000]), 0.75);
    assert_eq!(simd::jaccard_distance(&[0b1111_0000], &[0b0000_0000]), 1.0);
    assert_eq!(simd::jaccard_distance(&[0b1100_0000], &[0b1000_0000]), 0.5);
    // Empty and all-zero strings: pgvector returns 1 (no intersection).
    assert_eq!(simd::jaccard_distance(&[], &[]), 1.0);
    assert_eq!(simd::jaccard_distance(&[0, 0], &[0, 0]), 1.0);
    assert_eq!(simd::hamming(&[], &[]), 0);
    assert_eq!(simd::hamming(&[0b1110_0000], &[0b0000_0000]), 3);
}

#[test]
fn norms_in_f64_match_pgvector_examples() {
    assert_eq!(simd::norm_f64_f32(&[3.0, 4.0]), 5.0);
    assert_eq!(simd::norm_f64_f32(&[0.0, 0.0]), 0.0);
    assert_eq!(simd::norm_f64_f32(&[2.0]), 2.0);
    assert_eq!(simd::norm_f64_f32(&[3e37, 4e37]) as f32, 5e37);
    assert_eq!(simd::norm_f64_f16(&[f16::from_f32(3.0), f16::from_f32(4.0)]), 5.0);
}

#[test]
#[should_panic]
fn mismatched_lengths_panic_instead_of_reading_out_of_bounds() {
    simd::l2_squared_f32(&[1.0, 2.0], &[1.0]);
}

// ---------------------------------------------------------------------------
// Sparse kernels: merging in ascending index order must give exactly what
// the scalar dense kernel gives on the densified vectors.

fn densify(dim: usize, idx: &[u32], val: &[f32]) -> Vec<f32> {
    let mut v = vec![0.0; dim];
    for (&i, &x) in idx.iter().zip(val) {
        v[i as usize] = x;
    }
    v
}

fn sparse_strategy(dim: usize) -> impl Strategy<Value = (Vec<u32>, Vec<f32>)> {
    proptest::collection::btree_map(0..dim as u32, -1000.0f32..1000.0, 0..dim.min(64)).prop_map(|m| {
        let idx: Vec<u32> = m.keys().copied().collect();
        let val: Vec<f32> = m.values().map(|&v| if v == 0.0 { 1.0 } else { v }).collect();
        (idx, val)
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn sparse_kernels_equal_dense_scalar_bit_for_bit(
        (dim, a, b) in (1usize..200).prop_flat_map(|d| (Just(d), sparse_strategy(d), sparse_strategy(d)))
    ) {
        let (ai, av) = a;
        let (bi, bv) = b;
        let da = densify(dim, &ai, &av);
        let db = densify(dim, &bi, &bv);
        prop_assert_eq!(simd::sparse_l2_squared(&ai, &av, &bi, &bv).to_bits(), scalar::l2_squared_f32(&da, &db).to_bits());
        prop_assert_eq!(simd::sparse_l1(&ai, &av, &bi, &bv).to_bits(), scalar::l1_f32(&da, &db).to_bits());
        prop_assert_eq!(simd::sparse_dot(&ai, &av, &bi, &bv), scalar::dot_f32(&da, &db));
        let sc = simd::sparse_cosine_distance(&ai, &av, &bi, &bv);
        let dc = scalar::cosine_distance_f32(&da, &db);
        prop_assert!(sc == dc || (sc.is_nan() && dc.is_nan()));
    }
}

// ---------------------------------------------------------------------------
// Random extreme values: huge, tiny, subnormal, signed zeros, exact integers.

/// One value from a class of awkward inputs: ordinary, any finite bit
/// pattern (normal, subnormal, zero), the extremes, signed zero, values whose
/// squares overflow or underflow, exact integers. Generated from a seed so
/// that proptest only has to pick lengths and seeds, which keeps it fast.
fn extreme_f32(rng: &mut Rng) -> f32 {
    match rng.next() % 12 {
        0..=3 => rng.unit() * 1.0e3,
        4 | 5 => {
            let x = f32::from_bits(rng.next() as u32);
            if x.is_finite() {
                x
            } else {
                1.5
            }
        }
        6 => f32::from_bits((rng.next() as u32) & 0x807F_FFFF), // subnormal or zero
        7 => [f32::MAX, -f32::MAX][(rng.next() % 2) as usize],
        8 => [f32::MIN_POSITIVE, -0.0, 0.0][(rng.next() % 3) as usize],
        9 => [1.0e19, -1.0e19, 1.0e-19, -1.0e-19][(rng.next() % 4) as usize],
        _ => ((rng.next() % 8192) as i32 - 4096) as f32,
    }
}

fn finite_f16(rng: &mut Rng) -> f16 {
    match rng.next() % 6 {
        0..=2 => {
            let b = rng.next() as u16;
            f16::from_bits(b & 0x7BFF | (b & 0x8000))
        }
        3 => [f16::MAX, f16::MIN][(rng.next() % 2) as usize],
        4 => f16::from_bits((rng.next() as u16) & 0x83FF), // subnormal or zero
        _ => f16::from_f32(((rng.next() % 128) as i32 - 64) as f32),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn f32_kernels_stay_within_error_bounds_on_extreme_values(n in 1usize..=2048, seed in 1u64..) {
        let mut rng = Rng(seed);
        let a: Vec<f32> = (0..n).map(|_| extreme_f32(&mut rng)).collect();
        let b: Vec<f32> = (0..n).map(|_| extreme_f32(&mut rng)).collect();
        check_f32_all_backends(&a, &b);
    }

    #[test]
    fn f16_kernels_stay_within_error_bounds_on_extreme_values(n in 1usize..=2048, seed in 1u64..) {
        let mut rng = Rng(seed);
        let a: Vec<f16> = (0..n).map(|_| finite_f16(&mut rng)).collect();
        let b: Vec<f16> = (0..n).map(|_| finite_f16(&mut rng)).collect();
        check_f16_all_backends(&a, &b);
    }

    #[test]
    fn bit_kernels_agree_with_scalar_on_random_input(
        (a, b) in (0usize..1100).prop_flat_map(|n| (
            proptest::collection::vec(any::<u8>(), n),
            proptest::collection::vec(any::<u8>(), n),
        ))
    ) {
        for be in Backend::available() {
            prop_assert_eq!(be.hamming(&a, &b), scalar::hamming(&a, &b));
            prop_assert_eq!(be.jaccard_counts(&a, &b), scalar::jaccard_counts(&a, &b));
            prop_assert_eq!(be.jaccard_distance(&a, &b).to_bits(), scalar::jaccard_distance(&a, &b).to_bits());
        }
    }
}
