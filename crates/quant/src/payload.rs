//! SQ8 codes as index payloads: the [`Sq8Payloads`] metric compares a
//! prepared query with a code, or two codes, as opaque byte strings.
//!
//! An index with `quantization = 'sq8'` stores each vector's SQ8 code as its
//! payload and searches with a *prepared query* payload
//! ([`prepared_query`]): `sum | |q|² | |q|` (three `f64`) then the query's
//! `dims` native-endian `f32`, 24 + 4·dims bytes. A code is 24 + dims bytes
//! (SQ4: 28 + ceil(dims / 2)), so the two lengths tell the arguments apart: the
//! query is the longer one, from 2 dimensions on for SQ4 ([`SQ4_MIN_DIMS`]; at
//! 1 dimension its code, 29 bytes, is longer than the query's 28).
//!
//! * query to code: [`PayloadMetric::distance_with_key`] gives the estimate (to walk the graph
//!   by) and, as the key rows are returned in the order of, a **lower bound** of the exact distance (estimate minus
//!   its deterministic bound, minus a slack for `f32` summation on both sides:
//!   the estimate's and the exact kernel's). A search ordered by it returns
//!   rows in nondecreasing lower bound, which is what an executor needs to
//!   re-rank them into exact order (it fetches rows until the next lower bound
//!   exceeds the best exact distance it holds). `distance` alone is the lower bound.
//! * code to code (graph building and inserts, whose query is the new
//!   element's code): the estimate itself.
//!
//! Distances are in the exact metric's units: squared L2, or the negative dot
//! product (cosine indexes store normalised vectors).

use crate::{read_f32, Metric, Quantizer, Sq8};
use semvec_storage::metric::Metric as PayloadMetric;

/// Fewest dimensions of SQ4 codes this metric compares (see the module docs).
pub const SQ4_MIN_DIMS: usize = 2;

/// Bytes before the query's values in a prepared query payload.
pub const QUERY_HEADER: usize = 24;

/// Bytes of a prepared query payload for `dims` dimensions.
pub const fn prepared_query_len(dims: usize) -> usize {
    QUERY_HEADER + 4 * dims
}

/// Appends the prepared query payload of `q` to `out`.
pub fn prepared_query(q: &[f32], out: &mut Vec<u8>) {
    let sum: f64 = q.iter().map(|&x| x as f64).sum();
    let norm_sq: f64 = q.iter().map(|&x| x as f64 * x as f64).sum();
    out.extend_from_slice(&sum.to_ne_bytes());
    out.extend_from_slice(&norm_sq.to_ne_bytes());
    out.extend_from_slice(&norm_sq.sqrt().to_ne_bytes());
    for x in q {
        out.extend_from_slice(&x.to_ne_bytes());
    }
}

/// The metric of an index whose payloads are SQ8 (or SQ4) codes (see the module docs).
/// `metric` is [`Metric::L2Squared`] or [`Metric::NegativeDot`].
#[derive(Clone, Copy, Debug)]
pub struct Sq8Payloads {
    metric: Metric,
    bits: u8,
}

impl Sq8Payloads {
    /// Over SQ8 codes.
    pub fn new(metric: Metric) -> Sq8Payloads {
        Sq8Payloads::with_bits(metric, 8)
    }

    /// Over codes of `bits` (8: SQ8, 4: SQ4).
    pub fn with_bits(metric: Metric, bits: u8) -> Sq8Payloads {
        assert!(metric != Metric::Cosine, "cosine indexes store normalised vectors: use NegativeDot");
        assert!(bits == 8 || bits == 4, "SQ codes have 8 or 4 bits, not {bits}");
        Sq8Payloads { metric, bits }
    }

    /// The quantizer of a code (whose length, for SQ8, or header, for SQ4, gives its dimension).
    fn quantizer(&self, code: &[u8]) -> Sq8 {
        let dims = if self.bits == 8 {
            code.len() - crate::sq8::HEADER
        } else {
            Sq8::four_bit_dims(code)
        };
        Sq8::with_bits(dims, self.bits)
    }

    /// Estimate and bound of the exact distance between a prepared query and
    /// a code, with the slack for `f32` summation already in the bound.
    pub fn estimate(&self, query: &[u8], code: &[u8]) -> crate::Estimate {
        let dims = (query.len() - QUERY_HEADER) / 4;
        let sq = Sq8::with_bits(dims, self.bits);
        debug_assert_eq!(code.len(), sq.code_len());
        let f = |at: usize| f64::from_ne_bytes(query[at..at + 8].try_into().unwrap());
        let (sum, norm_sq, norm) = (f(0), f(8), f(16));
        let values = &query[QUERY_HEADER..];
        let mut e = match unsafe { values.align_to::<f32>() } {
            ([], q, []) => sq.estimate_parts(q, sum, norm_sq, norm, self.metric, code),
            _ => {
                let q: Vec<f32> = values.chunks_exact(4).map(|b| f32::from_ne_bytes(b.try_into().unwrap())).collect();
                sq.estimate_parts(&q, sum, norm_sq, norm, self.metric, code)
            }
        };
        e.bound += slack(self.metric, dims, norm, read_f32(code, 8) as f64);
        e
    }
}

/// A bound on the `f32` summation error of both the estimate (sixteen-lane
/// partial sums of `dims` byte products, worst case `dims^1.5 / 8` ulps of
/// `|q| |x|`) and the exact kernel the executor re-ranks with (`dims` ulps of
/// `Σ|q_i x_i| <= |q| |x|`), plus the rounding of the stored norms.
fn slack(metric: Metric, dims: usize, qn: f64, xn: f64) -> f32 {
    let d = dims as f64;
    let ulp = f32::EPSILON as f64 / 2.0;
    let dot = (d * d.sqrt() / 8.0 + 4.0 * d + 8.0) * ulp * qn * xn;
    let s = match metric {
        Metric::L2Squared => 2.0 * dot + 8.0 * ulp * (qn * qn + xn * xn),
        _ => dot,
    };
    s as f32
}

impl PayloadMetric for Sq8Payloads {
    /// Code to code: the estimate; query to code (either order): the lower bound.
    #[inline]
    fn distance(&self, a: &[u8], b: &[u8]) -> f32 {
        self.distance_with_key(a, b).1
    }

    /// A search walks the graph by the estimate (its error is ~25x smaller than its bound) and
    /// returns rows in the order of the lower bound.
    #[inline]
    fn distance_with_key(&self, q: &[u8], p: &[u8]) -> (f32, f32) {
        if q.len() == p.len() {
            let d = self.quantizer(q).estimate_codes(q, p, self.metric).dist;
            return (d, d);
        }
        let (q, code) = if q.len() > p.len() { (q, p) } else { (p, q) };
        let e = self.estimate(q, code);
        (e.dist, e.lower())
    }

    fn to_sql(&self, d: f32) -> f64 {
        match self.metric {
            Metric::L2Squared => (d.max(0.0) as f64).sqrt(),
            _ => d as f64,
        }
    }
}
