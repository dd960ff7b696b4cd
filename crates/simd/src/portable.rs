//! Kernels written with independent lane accumulators so that LLVM packs them
//! into whatever SIMD registers the baseline target has (SSE2 on x86-64, NEON
//! on aarch64). Used when no better runtime variant is available.

use half::f16;
use half::slice::HalfFloatSliceExt;

const LANES: usize = 16;

#[inline(always)]
fn reduce(acc: [f32; LANES]) -> f32 {
    // Pairwise, so the result does not depend on one long chain.
    let mut v = acc;
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for k in 0..width {
            v[k] += v[k + width];
        }
    }
    v[0]
}

#[inline(always)]
fn fold2(a: &[f32], b: &[f32], step: impl Fn(f32, f32, f32) -> f32) -> f32 {
    assert_eq!(a.len(), b.len());
    let mut acc = [0.0f32; LANES];
    let full = a.len() / LANES * LANES;
    for i in (0..full).step_by(LANES) {
        let xa: &[f32; LANES] = a[i..i + LANES].try_into().unwrap();
        let xb: &[f32; LANES] = b[i..i + LANES].try_into().unwrap();
        for k in 0..LANES {
            acc[k] = step(acc[k], xa[k], xb[k]);
        }
    }
    for (k, (x, y)) in a[full..].iter().zip(&b[full..]).enumerate() {
        acc[k] = step(acc[k], *x, *y);
    }
    reduce(acc)
}

pub fn l2_squared_f32(a: &[f32], b: &[f32]) -> f32 {
    fold2(a, b, |s, x, y| {
        let d = x - y;
        s + d * d
    })
}

pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    fold2(a, b, |s, x, y| s + x * y)
}

pub fn l1_f32(a: &[f32], b: &[f32]) -> f32 {
    fold2(a, b, |s, x, y| s + (x - y).abs())
}

pub fn norm_squared_f32(a: &[f32]) -> f32 {
    fold2(a, a, |s, x, _| s + x * x)
}

pub fn cosine_sums_f32(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    assert_eq!(a.len(), b.len());
    let mut ab = [0.0f32; LANES];
    let mut aa = [0.0f32; LANES];
    let mut bb = [0.0f32; LANES];
    let mut ca = a.chunks_exact(LANES);
    let mut cb = b.chunks_exact(LANES);
    for (xa, xb) in (&mut ca).zip(&mut cb) {
        for k in 0..LANES {
            ab[k] += xa[k] * xb[k];
            aa[k] += xa[k] * xa[k];
            bb[k] += xb[k] * xb[k];
        }
    }
    for (k, (x, y)) in ca.remainder().iter().zip(cb.remainder()).enumerate() {
        ab[k] += x * y;
        aa[k] += x * x;
        bb[k] += y * y;
    }
    (reduce(ab), reduce(aa), reduce(bb))
}

/// Widens half-precision input block by block, then runs the `f32` kernel
/// shape on each block, carrying the lane accumulators across blocks.
#[inline(always)]
fn fold2_f16(a: &[f16], b: &[f16], step: impl Fn(f32, f32, f32) -> f32) -> f32 {
    assert_eq!(a.len(), b.len());
    const BLOCK: usize = 256;
    let mut acc = [0.0f32; LANES];
    let mut wa = [0.0f32; BLOCK];
    let mut wb = [0.0f32; BLOCK];
    for (ha, hb) in a.chunks(BLOCK).zip(b.chunks(BLOCK)) {
        let n = ha.len();
        ha.convert_to_f32_slice(&mut wa[..n]);
        hb.convert_to_f32_slice(&mut wb[..n]);
        // Zero padding leaves every supported step unchanged.
        let padded = n.div_ceil(LANES) * LANES;
        wa[n..padded].fill(0.0);
        wb[n..padded].fill(0.0);
        for (xa, xb) in wa[..padded].chunks_exact(LANES).zip(wb[..padded].chunks_exact(LANES)) {
            for k in 0..LANES {
                acc[k] = step(acc[k], xa[k], xb[k]);
            }
        }
    }
    reduce(acc)
}

pub fn l2_squared_f16(a: &[f16], b: &[f16]) -> f32 {
    fold2_f16(a, b, |s, x, y| {
        let d = x - y;
        s + d * d
    })
}

pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    fold2_f16(a, b, |s, x, y| s + x * y)
}

pub fn l1_f16(a: &[f16], b: &[f16]) -> f32 {
    fold2_f16(a, b, |s, x, y| s + (x - y).abs())
}

pub fn norm_squared_f16(a: &[f16]) -> f32 {
    fold2_f16(a, a, |s, x, _| s + x * x)
}

pub fn cosine_sums_f16(a: &[f16], b: &[f16]) -> (f32, f32, f32) {
    (dot_f16(a, b), norm_squared_f16(a), norm_squared_f16(b))
}

#[inline(always)]
pub fn hamming(a: &[u8], b: &[u8]) -> u64 {
    assert_eq!(a.len(), b.len());
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    let mut sum = 0u64;
    for (x, y) in (&mut ca).zip(&mut cb) {
        let x = u64::from_ne_bytes(x.try_into().unwrap());
        let y = u64::from_ne_bytes(y.try_into().unwrap());
        sum += u64::from((x ^ y).count_ones());
    }
    sum + crate::scalar::hamming(ca.remainder(), cb.remainder())
}

#[inline(always)]
pub fn jaccard_counts(a: &[u8], b: &[u8]) -> (u64, u64, u64) {
    assert_eq!(a.len(), b.len());
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    let (mut ab, mut aa, mut bb) = (0u64, 0u64, 0u64);
    for (x, y) in (&mut ca).zip(&mut cb) {
        let x = u64::from_ne_bytes(x.try_into().unwrap());
        let y = u64::from_ne_bytes(y.try_into().unwrap());
        ab += u64::from((x & y).count_ones());
        aa += u64::from(x.count_ones());
        bb += u64::from(y.count_ones());
    }
    let (tab, taa, tbb) = crate::scalar::jaccard_counts(ca.remainder(), cb.remainder());
    (ab + tab, aa + taa, bb + tbb)
}
