//! A fast, seeded random rotation: `HD₃ HD₂ HD₁`, three rounds of random sign
//! flips (`D`, a diagonal of ±1) each followed by a normalized Fast
//! Walsh–Hadamard transform (`H`), as in Andoni et al.'s cross-polytope LSH
//! (NeurIPS 2015). Each factor is orthogonal, so the product is; three rounds
//! make it behave like a uniformly random rotation for RaBitQ's estimator, at
//! `O(n log n)` per vector instead of the `O(n²)` of a dense random matrix
//! (which at 16,000 dimensions would be a 1 GB matrix).
//!
//! # Padding
//!
//! The Hadamard transform needs a power-of-two length, so vectors are padded
//! with zeros to `padded_dims = dims.next_power_of_two()` and the rotation
//! acts on the padded space: 384 → 512, 768 → 1024, 1536 → 2048,
//! 3072 → 4096, 16000 → 16384. A RaBitQ code has one bit per padded dimension
//! (the rotated vector has energy in all of them), so 3072-d codes are 512
//! bytes rather than 384. Rotating overlapping power-of-two blocks would avoid
//! that; padding is simpler and is what the bounds here were measured with.
//!
//! # Determinism
//!
//! The signs come from SplitMix64 seeded with a `u64`, so the same seed gives
//! the same rotation on every machine and every build: an index stores its
//! seed in its metapage and gets its rotation back.

/// Sign-flip rounds; three is the usual choice for Hadamard-based rotations.
const ROUNDS: usize = 3;

/// A seeded random orthogonal map of `dims`-dimensional vectors into
/// `padded_dims` dimensions.
#[derive(Clone, Debug)]
pub struct Rotation {
    dims: usize,
    padded: usize,
    seed: u64,
    /// `ROUNDS` rows of `padded` signs, ±1.
    signs: Vec<f32>,
}

/// SplitMix64 (Steele, Lea & Flood 2014): tiny, seedable, platform-independent.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Rotation {
    /// The rotation of `dims`-dimensional vectors that `seed` determines.
    pub fn new(dims: usize, seed: u64) -> Rotation {
        assert!(dims >= 1, "rotation of zero dimensions");
        let padded = dims.next_power_of_two();
        let mut rng = SplitMix64(seed);
        let mut signs = Vec::with_capacity(ROUNDS * padded);
        while signs.len() < ROUNDS * padded {
            let bits = rng.next();
            for b in 0..64 {
                if signs.len() == ROUNDS * padded {
                    break;
                }
                signs.push(if bits >> b & 1 == 1 { -1.0 } else { 1.0 });
            }
        }
        Rotation { dims, padded, seed, signs }
    }

    /// Input dimension.
    pub fn dims(&self) -> usize {
        self.dims
    }

    /// Output dimension, `dims.next_power_of_two()`.
    pub fn padded_dims(&self) -> usize {
        self.padded
    }

    /// The seed this rotation was made from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Writes the rotation of `v` (length `dims`) into `out` (length
    /// `padded_dims`). Norms and inner products are preserved up to `f32`
    /// rounding.
    pub fn apply(&self, v: &[f32], out: &mut [f32]) {
        assert_eq!(v.len(), self.dims, "rotation input of the wrong dimension");
        assert_eq!(out.len(), self.padded, "rotation output of the wrong dimension");
        out[..self.dims].copy_from_slice(v);
        out[self.dims..].fill(0.0);
        for signs in self.signs.chunks_exact(self.padded) {
            for (x, s) in out.iter_mut().zip(signs) {
                *x *= s;
            }
            crate::kernels::fwht(out);
        }
        let scale = (self.padded as f32).powf(-(ROUNDS as f32) / 2.0);
        for x in out.iter_mut() {
            *x *= scale;
        }
    }

    /// `apply` into a new vector.
    pub fn rotate(&self, v: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0; self.padded];
        self.apply(v, &mut out);
        out
    }
}
