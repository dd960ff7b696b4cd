//! Distance kernels for semvec's vector types.
//!
//! Every kernel exists as a scalar reference ([`scalar`], pgvector's exact
//! loop), a portable lane-unrolled version, and on x86-64 AVX2+FMA+F16C and
//! AVX-512F versions. The best variant the CPU supports is detected once, on
//! first use, and cached ([`Backend::detected`]); nothing requires a special
//! `-C target-cpu`.
//!
//! Semantics follow pgvector: dense and half-precision kernels accumulate in
//! `f32` (half-precision elements are widened exactly), and callers widen the
//! result to `f64`. SIMD variants only change the summation order, so inputs
//! whose partial sums are exact (small integers) give exactly pgvector's
//! results. Slices passed together must have equal lengths; a mismatch panics
//! rather than reading out of bounds.

use core::sync::atomic::{AtomicU8, Ordering};
use half::f16;

pub mod portable;
pub mod scalar;
#[cfg(target_arch = "x86_64")]
pub mod x86;

pub use scalar::{sparse_cosine_distance, sparse_dot, sparse_l1, sparse_l2_squared, sparse_norm_squared};

/// A family of kernels for one instruction-set level. Values can only be
/// obtained for levels the running CPU supports ([`Backend::detected`],
/// [`Backend::available`]), which is what makes calling them safe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Backend(Level);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
enum Level {
    /// One element at a time, pgvector's loop order.
    Scalar = 0,
    /// Lane-unrolled code for the compile-time baseline (SSE2 / NEON).
    Portable = 1,
    /// AVX2 + FMA + F16C (+ POPCNT for bits), 8 lanes.
    Avx2 = 2,
    /// AVX-512F (+ AVX2/FMA/F16C/POPCNT), 16 lanes.
    Avx512 = 3,
}

const UNSET: u8 = u8::MAX;
static DETECTED: AtomicU8 = AtomicU8::new(UNSET);

impl Level {
    const ALL: [Level; 4] = [Level::Scalar, Level::Portable, Level::Avx2, Level::Avx512];

    fn is_supported(self) -> bool {
        match self {
            Level::Scalar | Level::Portable => true,
            #[cfg(target_arch = "x86_64")]
            Level::Avx2 => {
                std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                    && std::arch::is_x86_feature_detected!("f16c")
                    && std::arch::is_x86_feature_detected!("popcnt")
            }
            #[cfg(target_arch = "x86_64")]
            Level::Avx512 => Level::Avx2.is_supported() && std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(not(target_arch = "x86_64"))]
            Level::Avx2 | Level::Avx512 => false,
        }
    }
}

impl Backend {
    /// The reference kernels, pgvector's loops one element at a time.
    pub const SCALAR: Backend = Backend(Level::Scalar);
    /// Lane-unrolled kernels for the compile-time baseline.
    pub const PORTABLE: Backend = Backend(Level::Portable);

    /// The best backend this CPU supports, detected once and cached.
    #[inline]
    pub fn detected() -> Backend {
        let v = DETECTED.load(Ordering::Relaxed);
        if v != UNSET {
            return Backend(Level::ALL[v as usize]);
        }
        let best = *Backend::available().last().expect("scalar is always available");
        DETECTED.store(best.0 as u8, Ordering::Relaxed);
        best
    }

    /// Every backend this CPU can run, from the reference up to the best.
    pub fn available() -> Vec<Backend> {
        Level::ALL.into_iter().filter(|l| l.is_supported()).map(Backend).collect()
    }

    /// Short human-readable name.
    pub fn name(self) -> &'static str {
        match self.0 {
            Level::Scalar => "scalar",
            Level::Portable => "portable",
            Level::Avx2 => "avx2+fma+f16c",
            Level::Avx512 => "avx512f",
        }
    }
}

/// Describes what runtime dispatch chose, e.g. `"avx512f"`.
pub fn simd_backend() -> &'static str {
    Backend::detected().name()
}

// Dispatch: each method runs the kernel of one backend.
macro_rules! dispatch {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;) => {
        $(#[$m])*
        #[inline]
        pub fn $name(self, $($arg: $ty),*) -> $ret {
            match self.0 {
                Level::Scalar => scalar::$name($($arg),*),
                Level::Portable => portable::$name($($arg),*),
                // SAFETY: a `Backend` of this level exists only if the CPU
                // supports every feature the kernel is compiled for.
                #[cfg(target_arch = "x86_64")]
                Level::Avx2 => unsafe { x86::avx2::$name($($arg),*) },
                #[cfg(target_arch = "x86_64")]
                Level::Avx512 => unsafe { x86::avx512::$name($($arg),*) },
                #[cfg(not(target_arch = "x86_64"))]
                Level::Avx2 | Level::Avx512 => portable::$name($($arg),*),
            }
        }
    };
}

macro_rules! dispatch_bits {
    ($(#[$m:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty;) => {
        $(#[$m])*
        #[inline]
        pub fn $name(self, $($arg: $ty),*) -> $ret {
            match self.0 {
                Level::Scalar => scalar::$name($($arg),*),
                Level::Portable => portable::$name($($arg),*),
                // SAFETY: both levels are only detected together with POPCNT.
                #[cfg(target_arch = "x86_64")]
                Level::Avx2 | Level::Avx512 => unsafe { x86::popcnt::$name($($arg),*) },
                #[cfg(not(target_arch = "x86_64"))]
                Level::Avx2 | Level::Avx512 => portable::$name($($arg),*),
            }
        }
    };
}

impl Backend {
    dispatch!(
        /// Σ (a[i] - b[i])², accumulated in `f32`.
        fn l2_squared_f32(a: &[f32], b: &[f32]) -> f32;
    );
    dispatch!(
        /// Σ a[i]·b[i], accumulated in `f32`.
        fn dot_f32(a: &[f32], b: &[f32]) -> f32;
    );
    dispatch!(
        /// Σ |a[i] - b[i]|, accumulated in `f32`.
        fn l1_f32(a: &[f32], b: &[f32]) -> f32;
    );
    dispatch!(
        /// Σ a[i]², accumulated in `f32`.
        fn norm_squared_f32(a: &[f32]) -> f32;
    );
    dispatch!(
        /// (a·b, |a|², |b|²) in one pass, accumulated in `f32`.
        fn cosine_sums_f32(a: &[f32], b: &[f32]) -> (f32, f32, f32);
    );
    dispatch!(
        /// Σ (a[i] - b[i])² of half-precision input, accumulated in `f32`.
        fn l2_squared_f16(a: &[f16], b: &[f16]) -> f32;
    );
    dispatch!(
        /// Σ a[i]·b[i] of half-precision input, accumulated in `f32`.
        fn dot_f16(a: &[f16], b: &[f16]) -> f32;
    );
    dispatch!(
        /// Σ |a[i] - b[i]| of half-precision input, accumulated in `f32`.
        fn l1_f16(a: &[f16], b: &[f16]) -> f32;
    );
    dispatch!(
        /// Σ a[i]² of half-precision input, accumulated in `f32`.
        fn norm_squared_f16(a: &[f16]) -> f32;
    );
    dispatch!(
        /// (a·b, |a|², |b|²) of half-precision input, accumulated in `f32`.
        fn cosine_sums_f16(a: &[f16], b: &[f16]) -> (f32, f32, f32);
    );
    dispatch_bits!(
        /// Number of differing bits.
        fn hamming(a: &[u8], b: &[u8]) -> u64;
    );
    dispatch_bits!(
        /// Popcounts of (a & b, a, b).
        fn jaccard_counts(a: &[u8], b: &[u8]) -> (u64, u64, u64);
    );

    /// Cosine distance of `f32` vectors, pgvector semantics.
    #[inline]
    pub fn cosine_distance_f32(self, a: &[f32], b: &[f32]) -> f64 {
        let (ab, aa, bb) = self.cosine_sums_f32(a, b);
        cosine_from_sums(ab, aa, bb)
    }

    /// Cosine distance of half-precision vectors, pgvector semantics.
    #[inline]
    pub fn cosine_distance_f16(self, a: &[f16], b: &[f16]) -> f64 {
        let (ab, aa, bb) = self.cosine_sums_f16(a, b);
        cosine_from_sums(ab, aa, bb)
    }

    /// Jaccard distance of bit strings, pgvector semantics.
    #[inline]
    pub fn jaccard_distance(self, a: &[u8], b: &[u8]) -> f64 {
        let (ab, aa, bb) = self.jaccard_counts(a, b);
        jaccard_from_counts(ab, aa, bb)
    }
}

/// pgvector's cosine distance from `f32` sums: similarity
/// `ab / sqrt(aa * bb)` computed in `f64`, clamped to [-1, 1], distance
/// `1 - similarity`. NaN when either norm is zero.
#[inline]
pub fn cosine_from_sums(ab: f32, aa: f32, bb: f32) -> f64 {
    let similarity = f64::from(ab) / (f64::from(aa) * f64::from(bb)).sqrt();
    // `clamp` passes NaN through unchanged, as pgvector's comparisons do.
    1.0 - similarity.clamp(-1.0, 1.0)
}

/// pgvector's Jaccard distance from popcounts: `1 - |a∧b| / |a∨b|`, and 1
/// when the intersection is empty (including two all-zero strings).
#[inline]
pub fn jaccard_from_counts(ab: u64, aa: u64, bb: u64) -> f64 {
    if ab == 0 {
        1.0
    } else {
        1.0 - (ab as f64 / (aa + bb - ab) as f64)
    }
}

// ---------------------------------------------------------------------------
// The API the extension calls: detected backend, no choice to make.

/// Σ (a[i] - b[i])²; pgvector's `vector_l2_squared_distance`.
#[inline]
pub fn l2_squared_f32(a: &[f32], b: &[f32]) -> f32 {
    Backend::detected().l2_squared_f32(a, b)
}

/// Σ a[i]·b[i]; pgvector's `inner_product`.
#[inline]
pub fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    Backend::detected().dot_f32(a, b)
}

/// Σ |a[i] - b[i]|; pgvector's `l1_distance`.
#[inline]
pub fn l1_f32(a: &[f32], b: &[f32]) -> f32 {
    Backend::detected().l1_f32(a, b)
}

/// Σ a[i]² in `f32`.
#[inline]
pub fn norm_squared_f32(a: &[f32]) -> f32 {
    Backend::detected().norm_squared_f32(a)
}

/// pgvector's `cosine_distance`; NaN when a norm is zero.
#[inline]
pub fn cosine_distance_f32(a: &[f32], b: &[f32]) -> f64 {
    Backend::detected().cosine_distance_f32(a, b)
}

/// (a·b, |a|², |b|²) in one pass.
#[inline]
pub fn cosine_sums_f32(a: &[f32], b: &[f32]) -> (f32, f32, f32) {
    Backend::detected().cosine_sums_f32(a, b)
}

/// Σ (a[i] - b[i])² of halfvecs, in `f32`.
#[inline]
pub fn l2_squared_f16(a: &[f16], b: &[f16]) -> f32 {
    Backend::detected().l2_squared_f16(a, b)
}

/// Σ a[i]·b[i] of halfvecs, in `f32`.
#[inline]
pub fn dot_f16(a: &[f16], b: &[f16]) -> f32 {
    Backend::detected().dot_f16(a, b)
}

/// Σ |a[i] - b[i]| of halfvecs, in `f32`.
#[inline]
pub fn l1_f16(a: &[f16], b: &[f16]) -> f32 {
    Backend::detected().l1_f16(a, b)
}

/// Σ a[i]² of a halfvec, in `f32`.
#[inline]
pub fn norm_squared_f16(a: &[f16]) -> f32 {
    Backend::detected().norm_squared_f16(a)
}

/// pgvector's `halfvec` cosine distance; NaN when a norm is zero.
#[inline]
pub fn cosine_distance_f16(a: &[f16], b: &[f16]) -> f64 {
    Backend::detected().cosine_distance_f16(a, b)
}

/// (a·b, |a|², |b|²) of halfvecs in one pass.
#[inline]
pub fn cosine_sums_f16(a: &[f16], b: &[f16]) -> (f32, f32, f32) {
    Backend::detected().cosine_sums_f16(a, b)
}

/// Number of differing bits of two equally long packed bit strings: simsimd's runtime-dispatched
/// kernel, with our own backends as the fallback (and the reference its tests compare against).
#[inline]
pub fn hamming(a: &[u8], b: &[u8]) -> u64 {
    assert_eq!(a.len(), b.len(), "bit strings of different lengths");
    match <u8 as simsimd::BinarySimilarity>::hamming(a, b) {
        Some(d) => d as u64,
        None => Backend::detected().hamming(a, b),
    }
}

/// pgvector's `jaccard_distance` of two equally long packed bit strings.
#[inline]
pub fn jaccard_distance(a: &[u8], b: &[u8]) -> f64 {
    Backend::detected().jaccard_distance(a, b)
}

/// L2 norm accumulated in `f64` in index order, bit for bit pgvector's
/// `vector_norm` (its `f64` loop is not reordered by the C compiler).
pub fn norm_f64_f32(a: &[f32]) -> f64 {
    let mut sum = 0.0f64;
    for &x in a {
        sum += f64::from(x) * f64::from(x);
    }
    sum.sqrt()
}

/// L2 norm of a halfvec accumulated in `f64`, pgvector's `l2_norm(halfvec)`.
pub fn norm_f64_f16(a: &[f16]) -> f64 {
    let mut sum = 0.0f64;
    for x in a {
        let x = f64::from(x.to_f32());
        sum += x * x;
    }
    sum.sqrt()
}

#[cfg(test)]
mod simsimd_tests {
    use super::*;

    #[test]
    fn simsimd_hamming_matches_the_scalar_kernel_for_every_length() {
        let mut seed = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed & 0xFF) as u8
        };
        for len in 0..=1100usize {
            let a: Vec<u8> = (0..len).map(|_| next()).collect();
            let b: Vec<u8> = (0..len).map(|_| next()).collect();
            assert_eq!(hamming(&a, &b), Backend::SCALAR.hamming(&a, &b), "length {len}");
            assert_eq!(hamming(&a, &a), 0);
        }
        let ones = vec![0xFFu8; 999];
        let zeros = vec![0u8; 999];
        assert_eq!(hamming(&ones, &zeros), 999 * 8);
    }
}
