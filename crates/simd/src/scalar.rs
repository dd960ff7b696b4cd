//! Reference kernels: one element at a time, accumulating in `f32` in index
//! order, exactly the loop pgvector's C code runs. Every dispatched kernel is
//! tested against these, and they are the fallback on CPUs without SIMD.

use half::f16;

/// Sum of squared differences.
pub fn l2_squared_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        let d = x - y;
        sum += d * d;
    }
    sum
}

/// Inner product.
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        sum += x * y;
    }
    sum
}

/// Sum of absolute differences.
pub fn l1_f32(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        sum += (x - y).abs();
    }
    sum
}

/// Squared L2 norm.
pub fn norm_squared_f32(a: &[f32]) -> f32 {
    let mut sum = 0.0f32;
    for x in a {
        sum += x * x;
    }
    sum
}

/// The three sums cosine distance needs: (a·b, |a|², |b|²).
pub fn cosine_sums_f32(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    assert_eq!(a.len(), b.len());
    let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    (ab, aa, bb)
}

/// Cosine distance with pgvector's semantics (see [`crate::cosine_from_sums`]).
pub fn cosine_distance_f32(a: &[f32], b: &[f32]) -> f64 {
    let (ab, aa, bb) = cosine_sums_f32(a, b);
    crate::cosine_from_sums(ab, aa, bb)
}

/// Sum of squared differences of half-precision vectors, in `f32`.
pub fn l2_squared_f16(a: &[f16], b: &[f16]) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        let d = x.to_f32() - y.to_f32();
        sum += d * d;
    }
    sum
}

/// Inner product of half-precision vectors, in `f32`.
pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        sum += x.to_f32() * y.to_f32();
    }
    sum
}

/// Sum of absolute differences of half-precision vectors, in `f32`.
pub fn l1_f16(a: &[f16], b: &[f16]) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut sum = 0.0f32;
    for (x, y) in a.iter().zip(b) {
        sum += (x.to_f32() - y.to_f32()).abs();
    }
    sum
}

/// Squared L2 norm of a half-precision vector, in `f32`.
pub fn norm_squared_f16(a: &[f16]) -> f32 {
    let mut sum = 0.0f32;
    for x in a {
        let x = x.to_f32();
        sum += x * x;
    }
    sum
}

/// (a·b, |a|², |b|²) of half-precision vectors, in `f32`.
pub fn cosine_sums_f16(a: &[f16], b: &[f16]) -> (f32, f32, f32) {
    assert_eq!(a.len(), b.len());
    let (mut ab, mut aa, mut bb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (x.to_f32(), y.to_f32());
        ab += x * y;
        aa += x * x;
        bb += y * y;
    }
    (ab, aa, bb)
}

/// Cosine distance of half-precision vectors with pgvector's semantics.
pub fn cosine_distance_f16(a: &[f16], b: &[f16]) -> f64 {
    let (ab, aa, bb) = cosine_sums_f16(a, b);
    crate::cosine_from_sums(ab, aa, bb)
}

/// Number of differing bits.
pub fn hamming(a: &[u8], b: &[u8]) -> u64 {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| u64::from((x ^ y).count_ones())).sum()
}

/// Popcounts of (a & b, a, b).
pub fn jaccard_counts(a: &[u8], b: &[u8]) -> (u64, u64, u64) {
    assert_eq!(a.len(), b.len());
    let (mut ab, mut aa, mut bb) = (0u64, 0u64, 0u64);
    for (x, y) in a.iter().zip(b) {
        ab += u64::from((x & y).count_ones());
        aa += u64::from(x.count_ones());
        bb += u64::from(y.count_ones());
    }
    (ab, aa, bb)
}

/// Jaccard distance with pgvector's semantics (see [`crate::jaccard_from_counts`]).
pub fn jaccard_distance(a: &[u8], b: &[u8]) -> f64 {
    let (ab, aa, bb) = jaccard_counts(a, b);
    crate::jaccard_from_counts(ab, aa, bb)
}

// Sparse vectors: ascending `u32` indices with parallel `f32` values. The
// merge visits shared and lone entries in ascending index order, which is the
// order pgvector's loops add them in, so results match it bit for bit.

/// Inner product of two sparse vectors.
pub fn sparse_dot(ai: &[u32], av: &[f32], bi: &[u32], bv: &[f32]) -> f32 {
    assert_eq!(ai.len(), av.len());
    assert_eq!(bi.len(), bv.len());
    let (mut i, mut j) = (0usize, 0usize);
    let mut sum = 0.0f32;
    while i < ai.len() && j < bi.len() {
        match ai[i].cmp(&bi[j]) {
            core::cmp::Ordering::Less => i += 1,
            core::cmp::Ordering::Greater => j += 1,
            core::cmp::Ordering::Equal => {
                sum += av[i] * bv[j];
                i += 1;
                j += 1;
            }
        }
    }
    sum
}

/// Sum of squared differences of two sparse vectors of the same dimension.
pub fn sparse_l2_squared(ai: &[u32], av: &[f32], bi: &[u32], bv: &[f32]) -> f32 {
    sparse_merge(ai, av, bi, bv, |d| d * d)
}

/// Sum of absolute differences of two sparse vectors of the same dimension.
pub fn sparse_l1(ai: &[u32], av: &[f32], bi: &[u32], bv: &[f32]) -> f32 {
    sparse_merge(ai, av, bi, bv, f32::abs)
}

/// Squared L2 norm of a sparse vector's values.
pub fn sparse_norm_squared(av: &[f32]) -> f32 {
    norm_squared_f32(av)
}

/// Cosine distance of two sparse vectors with pgvector's semantics.
pub fn sparse_cosine_distance(ai: &[u32], av: &[f32], bi: &[u32], bv: &[f32]) -> f64 {
    let ab = sparse_dot(ai, av, bi, bv);
    crate::cosine_from_sums(ab, norm_squared_f32(av), norm_squared_f32(bv))
}

#[inline]
fn sparse_merge(ai: &[u32], av: &[f32], bi: &[u32], bv: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    assert_eq!(ai.len(), av.len());
    assert_eq!(bi.len(), bv.len());
    let (mut i, mut j) = (0usize, 0usize);
    let mut sum = 0.0f32;
    while i < ai.len() && j < bi.len() {
        match ai[i].cmp(&bi[j]) {
            core::cmp::Ordering::Less => {
                sum += f(av[i]);
                i += 1;
            }
            core::cmp::Ordering::Greater => {
                sum += f(bv[j]);
                j += 1;
            }
            core::cmp::Ordering::Equal => {
                sum += f(av[i] - bv[j]);
                i += 1;
                j += 1;
            }
        }
    }
    for &x in &av[i..] {
        sum += f(x);
    }
    for &y in &bv[j..] {
        sum += f(y);
    }
    sum
}
