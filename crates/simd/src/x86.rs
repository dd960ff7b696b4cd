//! x86-64 kernels, compiled for a feature level with `#[target_feature]` and
//! only called after runtime detection (see `crate::Backend`). Each keeps
//! four independent vector accumulators so the FMA latency is hidden, and
//! handles the tail with masked or zero-padded loads, never reading past the
//! end of the input. Half-precision input is widened to `f32` exactly (F16C)
//! and accumulated in `f32`, like pgvector.

#![allow(clippy::missing_safety_doc)]

use core::arch::x86_64::*;
use half::f16;

// ---------------------------------------------------------------------------
// AVX2 + FMA + F16C: 8 lanes.

pub mod avx2 {
    use super::*;

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn tail_mask(rem: usize) -> __m256i {
        let idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(rem as i32), idx)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load_f32(p: *const f32) -> __m256 {
        _mm256_loadu_ps(p)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn tail_f32(p: *const f32, rem: usize) -> __m256 {
        _mm256_maskload_ps(p, tail_mask(rem))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn load_f16(p: *const f16) -> __m256 {
        _mm256_cvtph_ps(_mm_loadu_si128(p as *const __m128i))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn tail_f16(p: *const f16, rem: usize) -> __m256 {
        let mut buf = [0u16; 8];
        core::ptr::copy_nonoverlapping(p as *const u16, buf.as_mut_ptr(), rem);
        _mm256_cvtph_ps(_mm_loadu_si128(buf.as_ptr() as *const __m128i))
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn hsum(v: __m256) -> f32 {
        let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_movehdup_ps(s));
        _mm_cvtss_f32(s)
    }

    #[inline]
    #[target_feature(enable = "avx2,fma,f16c")]
    unsafe fn abs(v: __m256) -> __m256 {
        _mm256_andnot_ps(_mm256_set1_ps(-0.0), v)
    }

    macro_rules! reduce2 {
        ($name:ident, $t:ty, $load:ident, $tail:ident, |$acc:ident, $x:ident, $y:ident| $body:expr) => {
            #[target_feature(enable = "avx2,fma,f16c")]
            pub unsafe fn $name(a: &[$t], b: &[$t]) -> f32 {
                assert_eq!(a.len(), b.len());
                let n = a.len();
                let (pa, pb) = (a.as_ptr(), b.as_ptr());
                let mut s = [_mm256_setzero_ps(); 4];
                let mut i = 0usize;
                while i + 32 <= n {
                    for k in 0..4 {
                        let $x = $load(pa.add(i + 8 * k));
                        let $y = $load(pb.add(i + 8 * k));
                        let $acc = s[k];
                        s[k] = $body;
                    }
                    i += 32;
                }
                while i + 8 <= n {
                    let $x = $load(pa.add(i));
                    let $y = $load(pb.add(i));
                    let $acc = s[0];
                    s[0] = $body;
                    i += 8;
                }
                if i < n {
                    let $x = $tail(pa.add(i), n - i);
                    let $y = $tail(pb.add(i), n - i);
                    let $acc = s[1];
                    s[1] = $body;
                }
                hsum(_mm256_add_ps(_mm256_add_ps(s[0], s[1]), _mm256_add_ps(s[2], s[3])))
            }
        };
    }

    macro_rules! cosine3 {
        ($name:ident, $t:ty, $load:ident, $tail:ident) => {
            #[target_feature(enable = "avx2,fma,f16c")]
            pub unsafe fn $name(a: &[$t], b: &[$t]) -> (f32, f32, f32) {
                assert_eq!(a.len(), b.len());
                let n = a.len();
                let (pa, pb) = (a.as_ptr(), b.as_ptr());
                let mut ab = [_mm256_setzero_ps(); 2];
                let mut aa = [_mm256_setzero_ps(); 2];
                let mut bb = [_mm256_setzero_ps(); 2];
                let mut i = 0usize;
                while i + 16 <= n {
                    for k in 0..2 {
                        let x = $load(pa.add(i + 8 * k));
                        let y = $load(pb.add(i + 8 * k));
                        ab[k] = _mm256_fmadd_ps(x, y, ab[k]);
                        aa[k] = _mm256_fmadd_ps(x, x, aa[k]);
                        bb[k] = _mm256_fmadd_ps(y, y, bb[k]);
                    }
                    i += 16;
                }
                if i + 8 <= n {
                    let x = $load(pa.add(i));
                    let y = $load(pb.add(i));
                    ab[0] = _mm256_fmadd_ps(x, y, ab[0]);
                    aa[0] = _mm256_fmadd_ps(x, x, aa[0]);
                    bb[0] = _mm256_fmadd_ps(y, y, bb[0]);
                    i += 8;
                }
                if i < n {
                    let x = $tail(pa.add(i), n - i);
                    let y = $tail(pb.add(i), n - i);
                    ab[1] = _mm256_fmadd_ps(x, y, ab[1]);
                    aa[1] = _mm256_fmadd_ps(x, x, aa[1]);
                    bb[1] = _mm256_fmadd_ps(y, y, bb[1]);
                }
                (
                    hsum(_mm256_add_ps(ab[0], ab[1])),
                    hsum(_mm256_add_ps(aa[0], aa[1])),
                    hsum(_mm256_add_ps(bb[0], bb[1])),
                )
            }
        };
    }

    reduce2!(l2_squared_f32, f32, load_f32, tail_f32, |acc, x, y| {
        let d = _mm256_sub_ps(x, y);
        _mm256_fmadd_ps(d, d, acc)
    });
    reduce2!(dot_f32, f32, load_f32, tail_f32, |acc, x, y| _mm256_fmadd_ps(x, y, acc));
    reduce2!(l1_f32, f32, load_f32, tail_f32, |acc, x, y| _mm256_add_ps(
        acc,
        abs(_mm256_sub_ps(x, y))
    ));
    cosine3!(cosine_sums_f32, f32, load_f32, tail_f32);

    reduce2!(l2_squared_f16, f16, load_f16, tail_f16, |acc, x, y| {
        let d = _mm256_sub_ps(x, y);
        _mm256_fmadd_ps(d, d, acc)
    });
    reduce2!(dot_f16, f16, load_f16, tail_f16, |acc, x, y| _mm256_fmadd_ps(x, y, acc));
    reduce2!(l1_f16, f16, load_f16, tail_f16, |acc, x, y| _mm256_add_ps(
        acc,
        abs(_mm256_sub_ps(x, y))
    ));
    cosine3!(cosine_sums_f16, f16, load_f16, tail_f16);

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn norm_squared_f32(a: &[f32]) -> f32 {
        dot_f32(a, a)
    }

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn norm_squared_f16(a: &[f16]) -> f32 {
        dot_f16(a, a)
    }
}

// ---------------------------------------------------------------------------
// AVX-512F: 16 lanes, masked tails.

pub mod avx512 {
    use super::*;

    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn load_f32(p: *const f32) -> __m512 {
        _mm512_loadu_ps(p)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn tail_f32(p: *const f32, rem: usize) -> __m512 {
        let mask: __mmask16 = ((1u32 << rem) - 1) as __mmask16;
        _mm512_maskz_loadu_ps(mask, p)
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn load_f16(p: *const f16) -> __m512 {
        _mm512_cvtph_ps(_mm256_loadu_si256(p as *const __m256i))
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn tail_f16(p: *const f16, rem: usize) -> __m512 {
        let mut buf = [0u16; 16];
        core::ptr::copy_nonoverlapping(p as *const u16, buf.as_mut_ptr(), rem);
        _mm512_cvtph_ps(_mm256_loadu_si256(buf.as_ptr() as *const __m256i))
    }

    #[inline]
    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    unsafe fn abs(v: __m512) -> __m512 {
        _mm512_abs_ps(v)
    }

    macro_rules! reduce2 {
        ($name:ident, $t:ty, $load:ident, $tail:ident, |$acc:ident, $x:ident, $y:ident| $body:expr) => {
            #[target_feature(enable = "avx512f,avx2,fma,f16c")]
            pub unsafe fn $name(a: &[$t], b: &[$t]) -> f32 {
                assert_eq!(a.len(), b.len());
                let n = a.len();
                let (pa, pb) = (a.as_ptr(), b.as_ptr());
                let mut s = [_mm512_setzero_ps(); 4];
                let mut i = 0usize;
                while i + 64 <= n {
                    for k in 0..4 {
                        let $x = $load(pa.add(i + 16 * k));
                        let $y = $load(pb.add(i + 16 * k));
                        let $acc = s[k];
                        s[k] = $body;
                    }
                    i += 64;
                }
                while i + 16 <= n {
                    let $x = $load(pa.add(i));
                    let $y = $load(pb.add(i));
                    let $acc = s[0];
                    s[0] = $body;
                    i += 16;
                }
                if i < n {
                    let $x = $tail(pa.add(i), n - i);
                    let $y = $tail(pb.add(i), n - i);
                    let $acc = s[1];
                    s[1] = $body;
                }
                _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s[0], s[1]), _mm512_add_ps(s[2], s[3])))
            }
        };
    }

    macro_rules! cosine3 {
        ($name:ident, $t:ty, $load:ident, $tail:ident) => {
            #[target_feature(enable = "avx512f,avx2,fma,f16c")]
            pub unsafe fn $name(a: &[$t], b: &[$t]) -> (f32, f32, f32) {
                assert_eq!(a.len(), b.len());
                let n = a.len();
                let (pa, pb) = (a.as_ptr(), b.as_ptr());
                let mut ab = [_mm512_setzero_ps(); 2];
                let mut aa = [_mm512_setzero_ps(); 2];
                let mut bb = [_mm512_setzero_ps(); 2];
                let mut i = 0usize;
                while i + 32 <= n {
                    for k in 0..2 {
                        let x = $load(pa.add(i + 16 * k));
                        let y = $load(pb.add(i + 16 * k));
                        ab[k] = _mm512_fmadd_ps(x, y, ab[k]);
                        aa[k] = _mm512_fmadd_ps(x, x, aa[k]);
                        bb[k] = _mm512_fmadd_ps(y, y, bb[k]);
                    }
                    i += 32;
                }
                if i + 16 <= n {
                    let x = $load(pa.add(i));
                    let y = $load(pb.add(i));
                    ab[0] = _mm512_fmadd_ps(x, y, ab[0]);
                    aa[0] = _mm512_fmadd_ps(x, x, aa[0]);
                    bb[0] = _mm512_fmadd_ps(y, y, bb[0]);
                    i += 16;
                }
                if i < n {
                    let x = $tail(pa.add(i), n - i);
                    let y = $tail(pb.add(i), n - i);
                    ab[1] = _mm512_fmadd_ps(x, y, ab[1]);
                    aa[1] = _mm512_fmadd_ps(x, x, aa[1]);
                    bb[1] = _mm512_fmadd_ps(y, y, bb[1]);
                }
                (
                    _mm512_reduce_add_ps(_mm512_add_ps(ab[0], ab[1])),
                    _mm512_reduce_add_ps(_mm512_add_ps(aa[0], aa[1])),
                    _mm512_reduce_add_ps(_mm512_add_ps(bb[0], bb[1])),
                )
            }
        };
    }

    reduce2!(l2_squared_f32, f32, load_f32, tail_f32, |acc, x, y| {
        let d = _mm512_sub_ps(x, y);
        _mm512_fmadd_ps(d, d, acc)
    });
    reduce2!(dot_f32, f32, load_f32, tail_f32, |acc, x, y| _mm512_fmadd_ps(x, y, acc));
    reduce2!(l1_f32, f32, load_f32, tail_f32, |acc, x, y| _mm512_add_ps(
        acc,
        abs(_mm512_sub_ps(x, y))
    ));
    cosine3!(cosine_sums_f32, f32, load_f32, tail_f32);

    reduce2!(l2_squared_f16, f16, load_f16, tail_f16, |acc, x, y| {
        let d = _mm512_sub_ps(x, y);
        _mm512_fmadd_ps(d, d, acc)
    });
    reduce2!(dot_f16, f16, load_f16, tail_f16, |acc, x, y| _mm512_fmadd_ps(x, y, acc));
    reduce2!(l1_f16, f16, load_f16, tail_f16, |acc, x, y| _mm512_add_ps(
        acc,
        abs(_mm512_sub_ps(x, y))
    ));
    cosine3!(cosine_sums_f16, f16, load_f16, tail_f16);

    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    pub unsafe fn norm_squared_f32(a: &[f32]) -> f32 {
        dot_f32(a, a)
    }

    #[target_feature(enable = "avx512f,avx2,fma,f16c")]
    pub unsafe fn norm_squared_f16(a: &[f16]) -> f32 {
        dot_f16(a, a)
    }
}

// ---------------------------------------------------------------------------
// Bits: the same word loop as `portable`, compiled with the POPCNT instruction.

pub mod popcnt {
    #[target_feature(enable = "popcnt")]
    pub unsafe fn hamming(a: &[u8], b: &[u8]) -> u64 {
        crate::portable::hamming(a, b)
    }

    #[target_feature(enable = "popcnt")]
    pub unsafe fn jaccard_counts(a: &[u8], b: &[u8]) -> (u64, u64, u64) {
        crate::portable::jaccard_counts(a, b)
    }
}
