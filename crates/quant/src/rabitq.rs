//! RaBitQ: one bit per dimension with an unbiased estimator and an error bound
//! (Gao & Long, "RaBitQ: Quantizing High-Dimensional Vectors with a
//! Theoretical Error Bound for Approximate Nearest Neighbor Search", SIGMOD
//! 2024).
//!
//! # Encoding
//!
//! With centroid `c` (zero by default) and the seeded [`Rotation`] `R` into
//! `D = padded_dims` dimensions, a vector `x` becomes its residual
//! `r = x - c`, the unit vector `o = R r / |r|`, and the code
//! `b_i = [o_i > 0]`. The code stands for the unit vector
//! `x̄_i = ±1/√D` (+ where `b_i = 1`), the vertex of the hypercube nearest `o`.
//! Its alignment with `o`, `α = <x̄, o> = Σ|o_i| / √D` (about 0.8 for random
//! directions), is stored with the code.
//!
//! # Estimator and bound
//!
//! For any vector `u` rotated alike (`u' = R u`),
//! `<o, u'> ≈ <x̄, u'> / α`. Over the random rotation this is unbiased, and
//! (Theorem 3.2 of the paper, for unit `u`)
//!
//! `|<x̄, u'>/α - <o, u'>| <= |u| · sqrt(1 - α²) / α · ε₀ / sqrt(D - 1)`
//!
//! with probability at least `1 - 2 exp(-c₀ ε₀²)`. The error is the
//! projection of a random direction in `D - 1` dimensions, close to a normal
//! of standard deviation `|u⊥| sqrt(1 - α²) / (α sqrt(D - 1))`, where `u⊥`
//! is `u`'s component orthogonal to `o`; with `|u| >= |u⊥|`, `ε₀` is a
//! number of standard deviations. The paper's `ε₀ = 1.9` ([`RaBitQ::EPSILON0`])
//! is a two-sided 1.9σ, so the bound holds for at least ~94% of estimates
//! (more in practice: `|u⊥| < |u|`); the property tests check >= 90%.
//! [`RaBitQ::with_epsilon0`] trades tightness for confidence (3.0: ~99.7%).
//!
//! The metrics follow from `<r, u> = |r| <o, u>`:
//!
//! * `<->` squared, `u = q - c`: `|r|² + |u|² - 2 |r| <o, u'>`, bound `2|r|·b`;
//! * `<#>`, `u = q`: `-(|r| <o, u'> + <c, q>)`, bound `|r|·b`;
//! * `<=>`, `u = q`: `1 - (|r| <o, u'> + <c, q>) / (|x| |q|)`, bound
//!   `|r|·b / (|x| |q|)`.
//!
//! # The query in 4 bits
//!
//! As in the paper, the rotated query is quantized to `B_q = 4` bits per
//! coordinate, `u' ≈ û = lo + Δ·q` with `q_i ∈ 0..=15`, stored as four bit
//! planes, so that `<b, û> = lo·popcount(b) + Δ Σ_j 2^j popcount(b & plane_j)`:
//! four ANDs and popcounts per 64 dimensions instead of 64 multiply-adds.
//! With `Σû` in place of `Σu'`, the rounding error of the estimate is
//! `<x̄, δ>`, `δ = u' - û`, `|δ_i| <= Δ/2`: zero-mean, standard deviation about
//! `Δ/√12` (independent of `D`, since `|x̄| = 1`), independent of the code's
//! own error, so `ε₀ · |r| Δ / (√12 α)` is added to the bound in quadrature. [`RaBitQ::with_f32_query`]
//! keeps the rotated query in `f32` instead (a sign-flipped sum, one table
//! lookup of eight signs per code byte), without that term.
//!
//! # Code layout (`16 + D / 8` bytes, little-endian `f32`s)
//!
//! | bytes  | field    | meaning                                  |
//! |--------|----------|------------------------------------------|
//! | 0..4   | `r_norm` | `|x - c|`                                |
//! | 4..8   | `x_norm` | `|x|` (cosine; with `r_norm` and `|c|` it gives `<c, x - c>`) |
//! | 8..12  | `r_over_alpha` | `|x - c| / α`, scales `<x̄, u'>` to `<x - c, u>` |
//! | 12..16 | `err`    | `|x - c| sqrt(1 - α²) / α`, the bound per `ε₀ |u| / sqrt(D - 1)` |
//! | 16..   | bits     | `b_i` at bit `i % 8` of byte `i / 8`     |
//!
//! The header stores products rather than `α` itself so that an estimate costs
//! no division or square root beyond the query's own.
//!
//! # Code to code
//!
//! Two codes carry no query in full precision, and the paper's estimator
//! needs one. The bits of a rotated vector behave like SimHash (Charikar,
//! STOC 2002) signs of Gaussian projections: two directions at angle `θ`
//! disagree in each bit with probability `θ / π`. So
//! `cos θ ≈ cos(π · hamming / D)`, one popcount pass, consistent and nearly
//! unbiased for large `D`. The fraction of disagreeing bits has standard
//! deviation at most `1 / (2 √D)`, so `θ` is within
//! `Δ = π ε₀ / (2 √D)` with about the same confidence as the query
//! estimates; the bound is the largest change of `cos` over `θ̂ ± Δ`, scaled
//! by `|r_a| |r_b|`. Coordinates of a rotated vector are only approximately
//! independent, so this bound is empirical (checked by the tests), and looser
//! than the query estimator's: a graph build that has the exact vectors at
//! hand should use them.

use crate::kernels::{hamming, plane_dot4, signed_sum};
use crate::rotation::Rotation;
use crate::{read_f32, Estimate, Metric, Quantizer};

const HEADER: usize = 16;
/// Bits per coordinate of the quantized query (the paper's `B_q`; the kernel is `plane_dot4`).
const QUERY_BITS: usize = 4;

/// 1-bit RaBitQ quantizer for vectors of one dimension (see the module docs).
#[derive(Clone, Debug)]
pub struct RaBitQ {
    rotation: Rotation,
    centroid: Vec<f32>,
    rotated_centroid: Vec<f32>,
    epsilon0: f64,
    f32_query: bool,
    /// `|c|²`.
    centroid_norm_sq: f64,
}

/// A query prepared for RaBitQ estimates of one metric.
#[derive(Clone, Debug)]
pub struct RaBitQQuery {
    metric: Metric,
    /// `R u`, `padded_dims` long (the `f32` path).
    rotated: Vec<f32>,
    /// `R u` quantized to `QUERY_BITS`, as bit planes `planes[word][j]`
    /// (empty on the `f32` path): `R u ≈ lo + step * Σ_j 2^j plane_j`.
    planes: Vec<[u64; QUERY_BITS]>,
    /// `|u|`.
    u_norm: f64,
    /// `|q|`.
    q_norm: f64,
    /// `<c, q>`.
    c_dot_q: f64,
    /// `ε₀ |u| / sqrt(D - 1)`: times a code's `err`, the bound of the code's error.
    code_scale: f64,
    /// `ε₀ Δ / √12` (0 on the `f32` path): times `r_over_alpha`, the bound of the query's rounding.
    rounding: f64,
    /// `2 lo / √D`, `2 Δ / √D`, `Σû / √D` (4-bit path): `<x̄, û> = a·ones + b·dot - c`.
    xbar_lo: f64,
    xbar_step: f64,
    xbar_sum: f64,
}

struct Header {
    r_norm: f64,
    x_norm: f64,
    r_over_alpha: f64,
    err: f64,
}

impl Header {
    fn read(code: &[u8]) -> Header {
        Header {
            r_norm: read_f32(code, 0) as f64,
            x_norm: read_f32(code, 4) as f64,
            r_over_alpha: read_f32(code, 8) as f64,
            err: read_f32(code, 12) as f64,
        }
    }
}

fn dot64(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&x, &y)| x as f64 * y as f64).sum()
}

impl RaBitQ {
    /// The paper's `ε₀`: a two-sided ~1.9σ bound (see the module docs).
    pub const EPSILON0: f64 = 1.9;

    /// A quantizer for `dims`-dimensional vectors with a zero centroid and the
    /// rotation `seed` determines.
    pub fn new(dims: usize, seed: u64) -> RaBitQ {
        RaBitQ::with_centroid(vec![0.0; dims], seed)
    }

    /// A quantizer whose residuals are taken from `centroid` (for example the
    /// mean of a sample of the data; the closer the data sits around it, the
    /// smaller `|x - c|` and the tighter every bound).
    pub fn with_centroid(centroid: Vec<f32>, seed: u64) -> RaBitQ {
        let dims = centroid.len();
        assert!((1..=crate::MAX_DIMS).contains(&dims), "RaBitQ dimension {dims} out of range");
        let rotation = Rotation::new(dims, seed);
        let rotated_centroid = rotation.rotate(&centroid);
        let centroid_norm_sq = dot64(&centroid, &centroid);
        RaBitQ {
            rotation,
            centroid,
            rotated_centroid,
            epsilon0: RaBitQ::EPSILON0,
            f32_query: false,
            centroid_norm_sq,
        }
    }

    /// The same quantizer, estimating with the rotated query in `f32` rather
    /// than quantized to 4 bits: slower, and the reference the fast path is
    /// tested against.
    pub fn with_f32_query(mut self) -> RaBitQ {
        self.f32_query = true;
        self
    }

    /// The same quantizer with another confidence parameter `ε₀`.
    pub fn with_epsilon0(mut self, epsilon0: f64) -> RaBitQ {
        self.epsilon0 = epsilon0;
        self
    }

    /// Bytes per code for `dims` dimensions: 16 header bytes plus one bit per
    /// padded dimension (`dims.next_power_of_two()`, at least one byte).
    pub const fn code_len_for(dims: usize) -> usize {
        HEADER + dims.next_power_of_two().div_ceil(8)
    }

    /// The rotation codes are taken in.
    pub fn rotation(&self) -> &Rotation {
        &self.rotation
    }

    fn padded(&self) -> usize {
        self.rotation.padded_dims()
    }

    /// `<c, x - c>` of a code, from its norms: `|x|² = |x - c|² + 2<c, x - c> + |c|²`.
    fn c_dot_r(&self, h: &Header) -> f64 {
        (h.x_norm * h.x_norm - h.r_norm * h.r_norm - self.centroid_norm_sq) / 2.0
    }
}

impl Quantizer for RaBitQ {
    type Query = RaBitQQuery;

    fn dims(&self) -> usize {
        self.rotation.dims()
    }

    fn code_len(&self) -> usize {
        RaBitQ::code_len_for(self.dims())
    }

    fn encode(&self, v: &[f32], out: &mut Vec<u8>) {
        assert_eq!(v.len(), self.dims(), "RaBitQ encode: vector of the wrong dimension");
        let d = self.padded();
        let residual: Vec<f32> = v.iter().zip(&self.centroid).map(|(&x, &c)| x - c).collect();
        let rotated = self.rotation.rotate(&residual);
        let r_norm = dot64(&rotated, &rotated).sqrt();
        let x_norm = dot64(v, v).sqrt();
        // alpha = <x̄, o> = Σ|o_i| / √D; a zero residual has nothing to estimate (every
        // estimate is scaled by r_norm = 0), and alpha = 1 keeps the arithmetic finite.
        let alpha = if r_norm > 0.0 {
            rotated.iter().map(|&x| (x as f64).abs()).sum::<f64>() / (r_norm * (d as f64).sqrt())
        } else {
            1.0
        };
        let err = r_norm * (1.0 - alpha * alpha).max(0.0).sqrt() / alpha;
        for f in [r_norm as f32, x_norm as f32, (r_norm / alpha) as f32, err as f32] {
            out.extend_from_slice(&f.to_le_bytes());
        }
        let start = out.len();
        out.resize(start + d.div_ceil(8), 0);
        for (i, &x) in rotated.iter().enumerate() {
            if x > 0.0 {
                out[start + i / 8] |= 1 << (i % 8);
            }
        }
    }

    fn prepare_query(&self, q: &[f32], metric: Metric) -> RaBitQQuery {
        assert_eq!(q.len(), self.dims(), "RaBitQ query of the wrong dimension");
        let mut rotated = self.rotation.rotate(q);
        if metric == Metric::L2Squared {
            for (x, c) in rotated.iter_mut().zip(&self.rotated_centroid) {
                *x -= c;
            }
        }
        let q_norm = dot64(q, q).sqrt();
        let u_norm = match metric {
            Metric::L2Squared => q
                .iter()
                .zip(&self.centroid)
                .map(|(&x, &c)| (x as f64 - c as f64).powi(2))
                .sum::<f64>()
                .sqrt(),
            Metric::NegativeDot | Metric::Cosine => q_norm,
        };
        let (d, sqrt_d) = (self.padded(), (self.padded() as f64).sqrt());
        // û = lo + step * q, Σû (4-bit path).
        let (mut planes, mut lo, mut step, mut sum_hat) = (Vec::new(), 0.0, 0.0, 0.0);
        if !self.f32_query {
            let levels = ((1 << QUERY_BITS) - 1) as f32;
            let min = rotated.iter().copied().fold(f32::INFINITY, f32::min);
            let max = rotated.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let s = (max - min) / levels;
            planes = vec![[0u64; QUERY_BITS]; rotated.len().div_ceil(64)];
            let mut sum_q = 0u64;
            for (i, &x) in rotated.iter().enumerate() {
                let v = if s > 0.0 {
                    ((x - min) / s).round().clamp(0.0, levels) as u64
                } else {
                    0
                };
                sum_q += v;
                for (j, plane) in planes[i / 64].iter_mut().enumerate() {
                    *plane |= (v >> j & 1) << (i % 64);
                }
            }
            (lo, step) = (min as f64, s as f64);
            sum_hat = rotated.len() as f64 * lo + step * sum_q as f64;
        }
        RaBitQQuery {
            metric,
            rotated,
            planes,
            u_norm,
            q_norm,
            c_dot_q: dot64(&self.centroid, q),
            code_scale: self.epsilon0 * u_norm / (d as f64 - 1.0).max(1.0).sqrt(),
            rounding: self.epsilon0 * step / 12f64.sqrt(),
            xbar_lo: 2.0 * lo / sqrt_d,
            xbar_step: 2.0 * step / sqrt_d,
            xbar_sum: sum_hat / sqrt_d,
        }
    }

    fn estimate(&self, q: &RaBitQQuery, code: &[u8]) -> Estimate {
        let h = Header::read(code);
        let d = self.padded();
        let bits = &code[HEADER..HEADER + d.div_ceil(8)];
        // <x̄, u'> (4-bit path: <x̄, û> = (2<b, û> - Σû) / √D).
        let xbar_u = if q.planes.is_empty() {
            signed_sum(bits, &q.rotated) as f64 / (d as f64).sqrt()
        } else {
            let (dot, ones) = plane_dot4(bits, &q.planes);
            q.xbar_lo * ones as f64 + q.xbar_step * dot as f64 - q.xbar_sum
        };
        // <r, u> and its bound. The code's error and the query's rounding are independent
        // and close to normal: their ε₀-σ bounds add in quadrature.
        let r_u = h.r_over_alpha * xbar_u;
        let (code_b, round_b) = (h.err * q.code_scale, h.r_over_alpha * q.rounding);
        let b = (code_b * code_b + round_b * round_b).sqrt();
        let (dist, bound) = match q.metric {
            Metric::L2Squared => ((h.r_norm * h.r_norm + q.u_norm * q.u_norm - 2.0 * r_u).max(0.0), 2.0 * b),
            Metric::NegativeDot => (-(r_u + q.c_dot_q), b),
            Metric::Cosine => {
                let denom = h.x_norm * q.q_norm;
                if denom == 0.0 {
                    (f64::NAN, 0.0)
                } else {
                    (1.0 - (r_u + q.c_dot_q) / denom, b / denom)
                }
            }
        };
        Estimate {
            dist: dist as f32,
            bound: bound as f32,
        }
    }

    fn estimate_codes(&self, a: &[u8], b: &[u8], metric: Metric) -> Estimate {
        let (ha, hb) = (Header::read(a), Header::read(b));
        let d = self.padded();
        let bytes = d.div_ceil(8);
        let theta = std::f64::consts::PI * hamming(&a[HEADER..HEADER + bytes], &b[HEADER..HEADER + bytes]) as f64 / d as f64;
        let delta = std::f64::consts::PI * self.epsilon0 / (2.0 * (d as f64).sqrt());
        let cos = theta.cos();
        let cos_bound = [theta - delta, theta + delta]
            .map(|t| (t.clamp(0.0, std::f64::consts::PI).cos() - cos).abs())
            .into_iter()
            .fold(0.0, f64::max);
        let rr = ha.r_norm * hb.r_norm;
        let (ra_rb, b) = (rr * cos, rr * cos_bound);
        let ip = ra_rb + self.c_dot_r(&ha) + self.c_dot_r(&hb) + self.centroid_norm_sq;
        let (dist, bound) = match metric {
            Metric::L2Squared => ((ha.r_norm * ha.r_norm + hb.r_norm * hb.r_norm - 2.0 * ra_rb).max(0.0), 2.0 * b),
            Metric::NegativeDot => (-ip, b),
            Metric::Cosine => {
                let denom = ha.x_norm * hb.x_norm;
                if denom == 0.0 {
                    (f64::NAN, 0.0)
                } else {
                    (1.0 - ip / denom, b / denom)
                }
            }
        };
        Estimate {
            dist: dist as f32,
            bound: bound as f32,
        }
    }
}
