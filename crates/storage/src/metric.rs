//! Distances between opaque vector payloads.
//!
//! The graph code never looks inside a payload: a [`Metric`] turns two
//! payloads into an `f32` where smaller means closer. Built-ins read the
//! payload layouts the glue stores:
//!
//! * `vector`: `dims` native-endian `f32` ([`L2Squared`], [`NegativeDot`], [`Cosine`], [`L1`]);
//! * `halfvec`: `dims` native-endian IEEE half floats ([`HalfL2Squared`], ...);
//! * `bit`: packed bits, most significant bit first ([`Hamming`], [`Jaccard`]);
//! * `sparsevec`: `nnz u32 | indices u32 x nnz | values f32 x nnz` ([`SparseL2Squared`], ...).
//!
//! Distances only need to *order* like the SQL operator: [`L2Squared`]
//! returns the squared distance and [`NegativeDot`] `-a·b`. The glue returns
//! rows in this order; when it reports distances (`xs_orderbyvals`) it must
//! convert (`sqrt` for L2) — see [`Metric::to_sql`].
//!
//! Payloads on our pages start 4-byte aligned and an index scan (hnsw's `Searcher`)
//! copies the query into an aligned buffer, so the kernels take the zero-copy
//! path; an unaligned payload is copied to an aligned stack buffer first.

use half::f16;
use semvec_simd::Backend;

/// A distance between two payloads; smaller is closer.
pub trait Metric: Send + Sync {
    fn distance(&self, a: &[u8], b: &[u8]) -> f32;
    /// The distance of query `q` and payload `p` for ordering a search, and the value rows are
    /// *returned* in the order of: the same for exact metrics; for a quantized index the
    /// estimate, and a lower bound of the exact distance that the executor re-ranks by.
    #[inline]
    fn distance_with_key(&self, q: &[u8], p: &[u8]) -> (f32, f32) {
        let d = self.distance(q, p);
        (d, d)
    }
    /// Converts a distance of this metric to the SQL operator's value.
    #[inline]
    fn to_sql(&self, d: f32) -> f64 {
        d as f64
    }
}

impl<M: Metric + ?Sized> Metric for &M {
    #[inline]
    fn distance(&self, a: &[u8], b: &[u8]) -> f32 {
        (**self).distance(a, b)
    }
    #[inline]
    fn distance_with_key(&self, q: &[u8], p: &[u8]) -> (f32, f32) {
        (**self).distance_with_key(q, p)
    }
    #[inline]
    fn to_sql(&self, d: f32) -> f64 {
        (**self).to_sql(d)
    }
}

impl<M: Metric + ?Sized> Metric for Box<M> {
    #[inline]
    fn distance(&self, a: &[u8], b: &[u8]) -> f32 {
        (**self).distance(a, b)
    }
    #[inline]
    fn distance_with_key(&self, q: &[u8], p: &[u8]) -> (f32, f32) {
        (**self).distance_with_key(q, p)
    }
    #[inline]
    fn to_sql(&self, d: f32) -> f64 {
        (**self).to_sql(d)
    }
}

/// Views `bytes` as `[T]` (`T` = f32/f16/u32) and calls `f`, copying to an
/// aligned stack buffer only when `bytes` is misaligned.
#[inline(always)]
fn with_slice<T: Copy + Default, R>(bytes: &[u8], f: impl FnOnce(&[T]) -> R) -> R {
    let n = bytes.len() / size_of::<T>();
    if (bytes.as_ptr() as usize).is_multiple_of(align_of::<T>()) {
        // SAFETY: aligned, in bounds, and every bit pattern is a valid T.
        f(unsafe { std::slice::from_raw_parts(bytes.as_ptr() as *const T, n) })
    } else {
        unaligned(bytes, n, f)
    }
}

#[cold]
#[inline(never)]
fn unaligned<T: Copy + Default, R>(bytes: &[u8], n: usize, f: impl FnOnce(&[T]) -> R) -> R {
    let mut buf = vec![T::default(); n];
    // SAFETY: copies n * size_of::<T>() bytes into a buffer of that size.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.as_mut_ptr() as *mut u8, n * size_of::<T>()) };
    f(&buf)
}

macro_rules! dense_metric {
    ($(#[$doc:meta])* $name:ident, $t:ty, |$be:ident, $a:ident, $b:ident| $body:expr, |$d:ident| $sql:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug)]
        pub struct $name(Backend);
        impl $name {
            /// With the fastest kernels this CPU supports.
            pub fn new() -> Self {
                $name(Backend::detected())
            }
            /// With an explicit kernel backend (tests, benchmarks).
            pub fn with_backend(b: Backend) -> Self {
                $name(b)
            }
        }
        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }
        impl Metric for $name {
            #[inline]
            fn distance(&self, a: &[u8], b: &[u8]) -> f32 {
                let $be = self.0;
                with_slice::<$t, f32>(a, |$a| with_slice::<$t, f32>(b, |$b| $body))
            }
            #[inline]
            fn to_sql(&self, $d: f32) -> f64 {
                $sql
            }
        }
    };
}

fn finite(d: f64) -> f32 {
    if d.is_nan() {
        f32::INFINITY
    } else {
        d as f32
    }
}

dense_metric!(
    /// `vector <-> vector`, as the squared Euclidean distance.
    L2Squared, f32, |be, a, b| be.l2_squared_f32(a, b), |d| (d as f64).sqrt());
dense_metric!(
    /// `vector <#> vector`: the negative inner product.
    NegativeDot, f32, |be, a, b| -be.dot_f32(a, b), |d| d as f64);
dense_metric!(
    /// `vector <=> vector`: cosine distance (a zero vector is infinitely far).
    /// Faster alternative, as pgvector does: store normalised vectors and use [`NegativeDot`].
    Cosine, f32, |be, a, b| finite(be.cosine_distance_f32(a, b)), |d| d as f64);
dense_metric!(
    /// `vector <+> vector`: taxicab distance.
    L1, f32, |be, a, b| be.l1_f32(a, b), |d| d as f64);
dense_metric!(
    /// `halfvec <-> halfvec`, squared.
    HalfL2Squared, f16, |be, a, b| be.l2_squared_f16(a, b), |d| (d as f64).sqrt());
dense_metric!(
    /// `halfvec <#> halfvec`.
    HalfNegativeDot, f16, |be, a, b| -be.dot_f16(a, b), |d| d as f64);
dense_metric!(
    /// `halfvec <=> halfvec`.
    HalfCosine, f16, |be, a, b| finite(be.cosine_distance_f16(a, b)), |d| d as f64);
dense_metric!(
    /// `halfvec <+> halfvec`.
    HalfL1, f16, |be, a, b| be.l1_f16(a, b), |d| d as f64);
dense_metric!(
    /// `bit <~> bit`: Hamming distance.
    Hamming, u8, |be, a, b| be.hamming(a, b) as f32, |d| d as f64);
dense_metric!(
    /// `bit <%> bit`: Jaccard distance.
    Jaccard, u8, |be, a, b| finite(be.jaccard_distance(a, b)), |d| d as f64);

/// Splits a sparse payload into (indices, values) byte ranges.
#[inline]
fn sparse_parts(p: &[u8]) -> (&[u8], &[u8]) {
    let nnz = u32::from_le_bytes(p[0..4].try_into().unwrap()) as usize;
    (&p[4..4 + 4 * nnz], &p[4 + 4 * nnz..4 + 8 * nnz])
}

/// Builds a sparse payload (`nnz | indices | values`) from sorted indices.
pub fn encode_sparse(indices: &[u32], values: &[f32]) -> Vec<u8> {
    assert_eq!(indices.len(), values.len());
    let mut out = Vec::with_capacity(4 + 8 * indices.len());
    out.extend_from_slice(&(indices.len() as u32).to_le_bytes());
    indices.iter().for_each(|i| out.extend_from_slice(&i.to_le_bytes()));
    values.iter().for_each(|v| out.extend_from_slice(&v.to_le_bytes()));
    out
}

macro_rules! sparse_metric {
    ($(#[$doc:meta])* $name:ident, |$ai:ident, $av:ident, $bi:ident, $bv:ident| $body:expr, |$d:ident| $sql:expr) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;
        impl Metric for $name {
            #[inline]
            fn distance(&self, a: &[u8], b: &[u8]) -> f32 {
                let (ai, av) = sparse_parts(a);
                let (bi, bv) = sparse_parts(b);
                with_slice::<u32, f32>(ai, |$ai| {
                    with_slice::<f32, f32>(av, |$av| {
                        with_slice::<u32, f32>(bi, |$bi| with_slice::<f32, f32>(bv, |$bv| $body))
                    })
                })
            }
            #[inline]
            fn to_sql(&self, $d: f32) -> f64 {
                $sql
            }
        }
    };
}

sparse_metric!(
    /// `sparsevec <-> sparsevec`, squared.
    SparseL2Squared, |ai, av, bi, bv| semvec_simd::sparse_l2_squared(ai, av, bi, bv), |d| (d as f64).sqrt());
sparse_metric!(
    /// `sparsevec <#> sparsevec`.
    SparseNegativeDot, |ai, av, bi, bv| -semvec_simd::sparse_dot(ai, av, bi, bv), |d| d as f64);
sparse_metric!(
    /// `sparsevec <=> sparsevec`.
    SparseCosine, |ai, av, bi, bv| finite(semvec_simd::sparse_cosine_distance(ai, av, bi, bv)), |d| d as f64);
sparse_metric!(
    /// `sparsevec <+> sparsevec`.
    SparseL1, |ai, av, bi, bv| semvec_simd::sparse_l1(ai, av, bi, bv), |d| d as f64);

/// The native-endian bytes of an `f32` slice (the `vector` payload).
pub fn f32_bytes(v: &[f32]) -> &[u8] {
    // SAFETY: any f32 is 4 initialised bytes.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_metrics_match_definitions() {
        let a = [1.0f32, 2.0, 3.0];
        let b = [4.0f32, 0.0, -1.0];
        let (a, b) = (f32_bytes(&a), f32_bytes(&b));
        assert_eq!(L2Squared::new().distance(a, b), 9.0 + 4.0 + 16.0);
        assert_eq!(L2Squared::new().to_sql(29.0), 29f64.sqrt());
        assert_eq!(NegativeDot::new().distance(a, b), -(4.0 - 3.0));
        assert_eq!(L1::new().distance(a, b), 3.0 + 2.0 + 4.0);
        let c = Cosine::new().distance(a, b) as f64;
        let want = 1.0 - 1.0 / ((14.0f64).sqrt() * (17.0f64).sqrt());
        assert!((c - want).abs() < 1e-6);
        assert_eq!(Cosine::new().distance(a, f32_bytes(&[0.0, 0.0, 0.0])), f32::INFINITY);
    }

    #[test]
    fn misaligned_payloads_give_the_same_distance() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..37).map(|i| (i * i) as f32 * 0.01).collect();
        let mut shifted = vec![0u8; 1];
        shifted.extend_from_slice(f32_bytes(&b));
        let m = L2Squared::new();
        assert_eq!(m.distance(f32_bytes(&a), &shifted[1..]), m.distance(f32_bytes(&a), f32_bytes(&b)));
    }

    #[test]
    fn half_bit_and_sparse_metrics_agree_with_dense_f32() {
        let a = [1.0f32, -2.0, 0.5, 0.0];
        let b = [0.0f32, 1.0, 0.5, 3.0];
        let h = |v: &[f32]| {
            v.iter()
                .flat_map(|x| f16::from_f32(*x).to_bits().to_le_bytes())
                .collect::<Vec<u8>>()
        };
        assert_eq!(
            HalfL2Squared::new().distance(&h(&a), &h(&b)),
            L2Squared::new().distance(f32_bytes(&a), f32_bytes(&b))
        );
        assert_eq!(HalfL1::new().distance(&h(&a), &h(&b)), 1.0 + 3.0 + 0.0 + 3.0);
        let sa = encode_sparse(&[0, 1, 2], &[1.0, -2.0, 0.5]);
        let sb = encode_sparse(&[1, 2, 3], &[1.0, 0.5, 3.0]);
        assert_eq!(
            SparseL2Squared.distance(&sa, &sb),
            L2Squared::new().distance(f32_bytes(&a), f32_bytes(&b))
        );
        assert_eq!(
            SparseNegativeDot.distance(&sa, &sb),
            NegativeDot::new().distance(f32_bytes(&a), f32_bytes(&b))
        );
        assert_eq!(Hamming::new().distance(&[0b1010_0000], &[0b0110_0000]), 2.0);
    }
}
