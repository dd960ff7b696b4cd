//! The hot loops of the estimators, each as a scalar reference (one element
//! at a time, for tests) and a lane-unrolled body that is compiled twice: for
//! the baseline target, and with AVX2 (+POPCNT) enabled, chosen at run time
//! when the CPU has it (`is_x86_feature_detected!` caches its answer). Nothing
//! needs a special `-C target-cpu`. They would sit well in `semvec-simd`
//! once the index uses them; they live here while the crate stays standalone.

/// Accumulator lanes of the autovectorized kernels.
const LANES: usize = 16;

#[cfg(target_arch = "x86_64")]
fn detect_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("popcnt")
}

/// AVX-512 with vector popcount (Ice Lake and later, Zen 4).
#[cfg(target_arch = "x86_64")]
fn detect_avx512() -> bool {
    detect_avx2()
        && std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vl")
        && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
}

/// The detected level, cached once: 0 baseline, 1 AVX2, 2 AVX-512.
#[cfg(target_arch = "x86_64")]
#[inline]
fn level() -> u8 {
    use std::sync::atomic::{AtomicU8, Ordering};
    static LEVEL: AtomicU8 = AtomicU8::new(u8::MAX);
    let l = LEVEL.load(Ordering::Relaxed);
    if l != u8::MAX {
        return l;
    }
    let l = if detect_avx512() { 2 } else { detect_avx2() as u8 };
    LEVEL.store(l, Ordering::Relaxed);
    l
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx2() -> bool {
    level() >= 1
}

#[cfg(target_arch = "x86_64")]
#[inline]
fn has_avx512() -> bool {
    level() >= 2
}

/// Defines `pub fn $name` that runs `$body` compiled for AVX-512 (with
/// VPOPCNTDQ) or AVX2+POPCNT when the CPU has them, else for the baseline;
/// the baseline build and the AVX2 one (where supported) are public for the tests.
macro_rules! dispatched {
    ($(#[$m:meta])* fn $name:ident / $portable:ident / $avx2_checked:ident / $avx2:ident / $avx512:ident ($($arg:ident: $ty:ty),*) -> $ret:ty = $body:ident) => {
        $(#[$m])*
        #[inline]
        pub fn $name($($arg: $ty),*) -> $ret {
            #[cfg(target_arch = "x86_64")]
            if has_avx512() {
                // SAFETY: the CPU supports every feature `$avx512` is compiled for.
                return unsafe { $avx512($($arg),*) };
            }
            #[cfg(target_arch = "x86_64")]
            if has_avx2() {
                // SAFETY: the CPU supports every feature `$avx2` is compiled for.
                return unsafe { $avx2($($arg),*) };
            }
            $body($($arg),*)
        }

        /// The baseline-target build of the same body (tests compare it with the others).
        pub fn $portable($($arg: $ty),*) -> $ret {
            $body($($arg),*)
        }

        /// The AVX2+POPCNT build, `None` where the CPU lacks them.
        pub fn $avx2_checked($($arg: $ty),*) -> Option<$ret> {
            #[cfg(target_arch = "x86_64")]
            if has_avx2() {
                // SAFETY: checked just above.
                return Some(unsafe { $avx2($($arg),*) });
            }
            None
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,popcnt")]
        unsafe fn $avx2($($arg: $ty),*) -> $ret {
            $body($($arg),*)
        }

        #[cfg(target_arch = "x86_64")]
        #[target_feature(enable = "avx2,popcnt,avx512f,avx512bw,avx512vl,avx512vpopcntdq")]
        unsafe fn $avx512($($arg: $ty),*) -> $ret {
            $body($($arg),*)
        }
    };
}

/// Σ q_i c_i, `f32` times byte: SQ8's inner loop. Hand-written for AVX-512 and
/// AVX2 (four independent FMA accumulators; the autovectorized body keeps one
/// and waits on its add latency).
#[inline]
pub fn dot_f32_u8(q: &[f32], c: &[u8]) -> f32 {
    assert_eq!(q.len(), c.len());
    #[cfg(target_arch = "x86_64")]
    if has_avx512() {
        // SAFETY: the CPU has AVX-512F; lengths are equal.
        return unsafe { x86::dot_f32_u8_avx512(q, c) };
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: the CPU has AVX2 and FMA; lengths are equal.
        return unsafe { x86::dot_f32_u8_avx2(q, c) };
    }
    dot_f32_u8_body(q, c)
}

/// The baseline-target build (tests compare it with the others).
pub fn dot_f32_u8_portable(q: &[f32], c: &[u8]) -> f32 {
    dot_f32_u8_body(q, c)
}

/// The AVX2+FMA build, `None` where the CPU lacks them.
pub fn dot_f32_u8_avx2(q: &[f32], c: &[u8]) -> Option<f32> {
    assert_eq!(q.len(), c.len());
    #[cfg(target_arch = "x86_64")]
    if has_avx2() && std::arch::is_x86_feature_detected!("fma") {
        // SAFETY: checked just above.
        return Some(unsafe { x86::dot_f32_u8_avx2(q, c) });
    }
    None
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    /// # Safety
    /// AVX-512F must be available and `q.len() == c.len()`.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn dot_f32_u8_avx512(q: &[f32], c: &[u8]) -> f32 {
        let n = q.len();
        let (qp, cp) = (q.as_ptr(), c.as_ptr());
        let mut acc = [_mm512_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY (all loads): i + 64 <= n, resp. i + 16 <= n, and both slices have n elements.
        unsafe {
            while i + 64 <= n {
                for (k, a) in acc.iter_mut().enumerate() {
                    let at = i + 16 * k;
                    let bytes = _mm_loadu_si128(cp.add(at) as *const __m128i);
                    let x = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes));
                    *a = _mm512_fmadd_ps(_mm512_loadu_ps(qp.add(at)), x, *a);
                }
                i += 64;
            }
            while i + 16 <= n {
                let bytes = _mm_loadu_si128(cp.add(i) as *const __m128i);
                let x = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(bytes));
                acc[0] = _mm512_fmadd_ps(_mm512_loadu_ps(qp.add(i)), x, acc[0]);
                i += 16;
            }
        }
        let sum = _mm512_add_ps(_mm512_add_ps(acc[0], acc[1]), _mm512_add_ps(acc[2], acc[3]));
        let tail: f32 = q[i..].iter().zip(&c[i..]).map(|(&x, &y)| x * y as f32).sum();
        _mm512_reduce_add_ps(sum) + tail
    }

    /// # Safety
    /// AVX2 and FMA must be available and `q.len() == c.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn dot_f32_u8_avx2(q: &[f32], c: &[u8]) -> f32 {
        let n = q.len();
        let (qp, cp) = (q.as_ptr(), c.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        // SAFETY (all loads): i + 32 <= n, resp. i + 8 <= n, and both slices have n elements.
        unsafe {
            while i + 32 <= n {
                for (k, a) in acc.iter_mut().enumerate() {
                    let at = i + 8 * k;
                    let bytes = _mm_loadl_epi64(cp.add(at) as *const __m128i);
                    let x = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
                    *a = _mm256_fmadd_ps(_mm256_loadu_ps(qp.add(at)), x, *a);
                }
                i += 32;
            }
            while i + 8 <= n {
                let bytes = _mm_loadl_epi64(cp.add(i) as *const __m128i);
                let x = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(bytes));
                acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(qp.add(i)), x, acc[0]);
                i += 8;
            }
        }
        let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut lanes = [0f32; 8];
        // SAFETY: lanes holds 8 floats.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), s) };
        let tail: f32 = q[i..].iter().zip(&c[i..]).map(|(&x, &y)| x * y as f32).sum();
        lanes.iter().sum::<f32>() + tail
    }
}
dispatched!(
    /// (Σ a_i b_i, Σ a_i, Σ b_i) of bytes, exact (fits `u32` up to 66,000 dimensions).
    fn dot_u8_u8 / dot_u8_u8_portable / dot_u8_u8_avx2 / dot_u8_u8_avx2_impl / dot_u8_u8_avx512_impl(a: &[u8], b: &[u8]) -> (u32, u32, u32) = dot_u8_u8_body
);
dispatched!(
    /// Σ q_i c_i with 4-bit codes packed two per byte (dimension `2k` in the low nibble of byte
    /// `k`, `2k + 1` in its high nibble): SQ4's inner loop. `c` has `q.len().div_ceil(2)` bytes.
    fn dot_f32_u4 / dot_f32_u4_portable / dot_f32_u4_avx2 / dot_f32_u4_avx2_impl / dot_f32_u4_avx512_impl(q: &[f32], c: &[u8]) -> f32 = dot_f32_u4_body
);
dispatched!(
    /// (Σ a_i b_i, Σ a_i, Σ b_i) of packed 4-bit codes (as [`dot_f32_u4`] packs them; a padding
    /// nibble must be 0), exact.
    fn dot_u4_u4 / dot_u4_u4_portable / dot_u4_u4_avx2 / dot_u4_u4_avx2_impl / dot_u4_u4_avx512_impl(a: &[u8], b: &[u8]) -> (u32, u32, u32) = dot_u4_u4_body
);
dispatched!(
    /// Σ s_i u_i with s_i = +1 where bit i of `bits` is set, else -1.
    fn signed_sum / signed_sum_portable / signed_sum_avx2 / signed_sum_avx2_impl / signed_sum_avx512_impl(bits: &[u8], u: &[f32]) -> f32 = signed_sum_body
);
dispatched!(
    /// (Σ_j 2^j popcount(code & plane_j), popcount(code)) over 64-bit words:
    /// the inner product of a bit code with a 4-bit query stored as four bit
    /// planes per word (`planes[w] = [plane_0, .., plane_3]` of word `w`).
    fn plane_dot4 / plane_dot4_portable / plane_dot4_avx2 / plane_dot4_avx2_impl / plane_dot4_avx512_impl(code: &[u8], planes: &[[u64; 4]]) -> (u32, u32) = plane_dot4_body
);
dispatched!(
    /// Number of differing bits.
    fn hamming / hamming_portable / hamming_avx2 / hamming_avx2_impl / hamming_avx512_impl(a: &[u8], b: &[u8]) -> u32 = hamming_body
);

#[inline(always)]
fn dot_f32_u8_body(q: &[f32], c: &[u8]) -> f32 {
    assert_eq!(q.len(), c.len());
    let (qc, qt) = q.as_chunks::<LANES>();
    let (cc, ct) = c.as_chunks::<LANES>();
    let mut acc = [0f32; LANES];
    for (qa, ca) in qc.iter().zip(cc) {
        for j in 0..LANES {
            acc[j] += qa[j] * ca[j] as f32;
        }
    }
    let tail: f32 = qt.iter().zip(ct).map(|(&x, &y)| x * y as f32).sum();
    acc.iter().sum::<f32>() + tail
}

dispatched!(
    /// In-place unnormalized Walsh–Hadamard transform of a power-of-two length.
    fn fwht / fwht_portable / fwht_avx2 / fwht_avx2_impl / fwht_avx512_impl(x: &mut [f32]) -> () = fwht_body
);

#[inline(always)]
fn fwht_body(x: &mut [f32]) {
    let n = x.len();
    assert!(n.is_power_of_two());
    let mut h = 1;
    if n >= 8 {
        // The first three stages within each block of eight, in registers.
        for b in x.as_chunks_mut::<8>().0 {
            let [a0, a1, a2, a3, a4, a5, a6, a7] = *b;
            let (b0, b1, b2, b3, b4, b5, b6, b7) = (a0 + a1, a0 - a1, a2 + a3, a2 - a3, a4 + a5, a4 - a5, a6 + a7, a6 - a7);
            let (c0, c1, c2, c3, c4, c5, c6, c7) = (b0 + b2, b1 + b3, b0 - b2, b1 - b3, b4 + b6, b5 + b7, b4 - b6, b5 - b7);
            *b = [c0 + c4, c1 + c5, c2 + c6, c3 + c7, c0 - c4, c1 - c5, c2 - c6, c3 - c7];
        }
        h = 8;
    }
    // Later stages pair runs of at least eight: these loops vectorize.
    while h < n {
        for block in x.chunks_exact_mut(2 * h) {
            let (a, b) = block.split_at_mut(h);
            for (u, v) in a.iter_mut().zip(b.iter_mut()) {
                let (s, d) = (*u + *v, *u - *v);
                *u = s;
                *v = d;
            }
        }
        h *= 2;
    }
}

#[inline(always)]
fn dot_u8_u8_body(a: &[u8], b: &[u8]) -> (u32, u32, u32) {
    byte_pair_sums(a, b, |x, y| (x * y, x, y))
}

/// (Σ d, Σ sa, Σ sb) of `pair(a_i, b_i)` over byte pairs, in `LANES` accumulators: the shared body of
/// the exact byte-code dot products ([`dot_u8_u8`], [`dot_u4_u4`]).
#[inline(always)]
fn byte_pair_sums(a: &[u8], b: &[u8], pair: impl Fn(u32, u32) -> (u32, u32, u32)) -> (u32, u32, u32) {
    assert_eq!(a.len(), b.len());
    let (ac, at) = a.as_chunks::<LANES>();
    let (bc, bt) = b.as_chunks::<LANES>();
    let (mut d, mut sa, mut sb) = ([0u32; LANES], [0u32; LANES], [0u32; LANES]);
    for (x, y) in ac.iter().zip(bc) {
        for j in 0..LANES {
            let (pd, pa, pb) = pair(x[j] as u32, y[j] as u32);
            d[j] += pd;
            sa[j] += pa;
            sb[j] += pb;
        }
    }
    let mut out = (d.iter().sum::<u32>(), sa.iter().sum::<u32>(), sb.iter().sum::<u32>());
    for (&x, &y) in at.iter().zip(bt) {
        let (pd, pa, pb) = pair(x as u32, y as u32);
        out.0 += pd;
        out.1 += pa;
        out.2 += pb;
    }
    out
}

/// Bytes per chunk of the 4-bit kernels: two dimensions each, `LANES` accumulators.
const U4_CHUNK: usize = LANES / 2;

#[inline(always)]
fn dot_f32_u4_body(q: &[f32], c: &[u8]) -> f32 {
    assert_eq!(q.len().div_ceil(2), c.len());
    let full = q.len() / LANES;
    let mut acc = [0f32; LANES];
    for (qa, ca) in q.as_chunks::<LANES>().0.iter().zip(c.as_chunks::<U4_CHUNK>().0) {
        for j in 0..U4_CHUNK {
            acc[2 * j] += qa[2 * j] * (ca[j] & 15) as f32;
            acc[2 * j + 1] += qa[2 * j + 1] * (ca[j] >> 4) as f32;
        }
    }
    let tail: f32 = q[full * LANES..]
        .iter()
        .enumerate()
        .map(|(i, &x)| x * nibble(&c[full * U4_CHUNK..], i) as f32)
        .sum();
    acc.iter().sum::<f32>() + tail
}

#[inline(always)]
fn dot_u4_u4_body(a: &[u8], b: &[u8]) -> (u32, u32, u32) {
    byte_pair_sums(a, b, |x, y| {
        let (xl, xh, yl, yh) = (x & 15, x >> 4, y & 15, y >> 4);
        (xl * yl + xh * yh, xl + xh, yl + yh)
    })
}

/// The `i`-th 4-bit code of a packed code.
#[inline(always)]
pub fn nibble(c: &[u8], i: usize) -> u8 {
    (c[i / 2] >> (4 * (i % 2))) & 15
}

/// Eight ±1 signs per byte value: `SIGNS[b][j] = +1` iff bit `j` of `b` is set.
static SIGNS: [[f32; 8]; 256] = {
    let mut t = [[0f32; 8]; 256];
    let mut b = 0;
    while b < 256 {
        let mut j = 0;
        while j < 8 {
            t[b][j] = if (b >> j) & 1 == 1 { 1.0 } else { -1.0 };
            j += 1;
        }
        b += 1;
    }
    t
};

#[inline(always)]
fn signed_sum_body(bits: &[u8], u: &[f32]) -> f32 {
    assert!(bits.len() >= u.len().div_ceil(8));
    let (uc, ut) = u.as_chunks::<16>();
    let mut acc = [0f32; 16];
    for (pair, lane) in bits.chunks_exact(2).zip(uc) {
        let (s0, s1) = (&SIGNS[pair[0] as usize], &SIGNS[pair[1] as usize]);
        for j in 0..8 {
            acc[j] += s0[j] * lane[j];
            acc[8 + j] += s1[j] * lane[8 + j];
        }
    }
    let mut tail = 0f32;
    for (i, &x) in ut.iter().enumerate() {
        let k = uc.len() * 16 + i;
        tail += SIGNS[bits[k / 8] as usize][k % 8] * x;
    }
    acc.iter().sum::<f32>() + tail
}

/// The `w`-th little-endian 64-bit word of a byte string, zero-padded.
#[inline(always)]
fn word(bytes: &[u8], w: usize) -> u64 {
    let at = w * 8;
    match bytes.get(at..at + 8) {
        Some(b) => u64::from_le_bytes(b.try_into().expect("8 bytes")),
        None => {
            let mut b = [0u8; 8];
            let rest = &bytes[at.min(bytes.len())..];
            b[..rest.len()].copy_from_slice(rest);
            u64::from_le_bytes(b)
        }
    }
}

#[inline(always)]
fn plane_dot4_body(code: &[u8], planes: &[[u64; 4]]) -> (u32, u32) {
    assert_eq!(planes.len(), code.len().div_ceil(8));
    let (full, _) = code.as_chunks::<8>();
    let (mut dot, mut ones) = (0u32, 0u32);
    let mut add = |c: u64, p: &[u64; 4]| {
        ones += c.count_ones();
        dot += (c & p[0]).count_ones() + ((c & p[1]).count_ones() << 1) + ((c & p[2]).count_ones() << 2) + ((c & p[3]).count_ones() << 3);
    };
    for (c, p) in full.iter().zip(planes) {
        add(u64::from_le_bytes(*c), p);
    }
    if full.len() < planes.len() {
        add(word(code, full.len()), &planes[full.len()]);
    }
    (dot, ones)
}

#[inline(always)]
fn hamming_body(a: &[u8], b: &[u8]) -> u32 {
    assert_eq!(a.len(), b.len());
    (0..a.len().div_ceil(8)).map(|w| (word(a, w) ^ word(b, w)).count_ones()).sum()
}

/// One-element-at-a-time references, for tests.
pub mod scalar {
    pub fn dot_f32_u8(q: &[f32], c: &[u8]) -> f64 {
        q.iter().zip(c).map(|(&x, &y)| x as f64 * y as f64).sum()
    }

    pub fn dot_u8_u8(a: &[u8], b: &[u8]) -> (u32, u32, u32) {
        a.iter().zip(b).fold((0, 0, 0), |(d, sa, sb), (&x, &y)| {
            (d + x as u32 * y as u32, sa + x as u32, sb + y as u32)
        })
    }

    /// The `i`-th of packed 4-bit codes.
    fn nibble(c: &[u8], i: usize) -> u32 {
        (c[i / 2] as u32 >> (4 * (i % 2))) & 15
    }

    pub fn dot_f32_u4(q: &[f32], c: &[u8]) -> f64 {
        q.iter().enumerate().map(|(i, &x)| x as f64 * nibble(c, i) as f64).sum()
    }

    pub fn dot_u4_u4(a: &[u8], b: &[u8]) -> (u32, u32, u32) {
        (0..a.len() * 2).fold((0, 0, 0), |(d, sa, sb), i| {
            let (x, y) = (nibble(a, i), nibble(b, i));
            (d + x * y, sa + x, sb + y)
        })
    }

    pub fn signed_sum(bits: &[u8], u: &[f32]) -> f64 {
        u.iter()
            .enumerate()
            .map(|(i, &x)| if bits[i / 8] >> (i % 8) & 1 == 1 { x as f64 } else { -(x as f64) })
            .sum()
    }

    pub fn plane_dot4(code: &[u8], planes: &[[u64; 4]]) -> (u32, u32) {
        let (mut dot, mut ones) = (0, 0);
        for i in 0..code.len() * 8 {
            if code[i / 8] >> (i % 8) & 1 == 1 {
                ones += 1;
                for (j, plane) in planes[i / 64].iter().enumerate() {
                    dot += ((plane >> (i % 64) & 1) as u32) << j;
                }
            }
        }
        (dot, ones)
    }

    pub fn hamming(a: &[u8], b: &[u8]) -> u32 {
        a.iter().zip(b).map(|(x, y)| (x ^ y).count_ones()).sum()
    }

    /// The Walsh–Hadamard transform by its definition: `y_i = Σ_j (-1)^popcount(i & j) x_j`.
    pub fn fwht(x: &[f32]) -> Vec<f64> {
        (0..x.len())
            .map(|i| {
                x.iter()
                    .enumerate()
                    .map(|(j, &v)| if (i & j).count_ones() % 2 == 0 { v as f64 } else { -(v as f64) })
                    .sum()
            })
            .collect()
    }
}
