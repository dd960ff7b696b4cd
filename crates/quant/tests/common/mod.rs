//! Seeded test data: no `rand` dependency, the same numbers on every machine.
#![allow(dead_code)]

/// semvec-storage's SplitMix64 (the one every index build uses), with the seed offset these tests
/// were written against, plus the draws they need.
pub struct Rng(semvec_storage::Rng);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(semvec_storage::Rng::new(seed ^ 0x5DEE_CE66_D1CE_F00D))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        self.0.next_f64()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f64 {
        let u = self.uniform().max(1e-300);
        let v = self.uniform();
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn gaussian(&mut self, dims: usize) -> Vec<f32> {
        (0..dims).map(|_| self.normal() as f32).collect()
    }
}

pub fn norm(v: &[f32]) -> f64 {
    v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt()
}

pub fn normalized(v: &[f32]) -> Vec<f32> {
    let n = norm(v);
    v.iter().map(|&x| (x as f64 / n) as f32).collect()
}

/// `a + scale * N(0, I)`.
pub fn perturbed(rng: &mut Rng, a: &[f32], scale: f64) -> Vec<f32> {
    a.iter().map(|&x| (x as f64 + scale * rng.normal()) as f32).collect()
}

/// Clustered unit vectors, like sentence embeddings: `clusters` random centres,
/// each point a centre plus isotropic noise of norm about `spread`, normalized.
pub fn clustered(rng: &mut Rng, n: usize, dims: usize, clusters: usize, spread: f64) -> Vec<Vec<f32>> {
    let centres: Vec<Vec<f32>> = (0..clusters).map(|_| normalized(&rng.gaussian(dims))).collect();
    let per_dim = spread / (dims as f64).sqrt();
    (0..n)
        .map(|_| {
            let c = &centres[rng.below(clusters)];
            normalized(&perturbed(rng, c, per_dim))
        })
        .collect()
}
