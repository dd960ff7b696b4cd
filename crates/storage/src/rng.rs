//! A small deterministic random number generator (SplitMix64) and reservoir sampling.
//!
//! Builds use a fixed seed, so the same rows give the same index (hnsw's level draws, ivfflat's
//! sampling and k-means++ seeding).

/// SplitMix64: fast, statistically sound for sampling and k-means++ seeding.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in (0, 1]: never 0, so safe under `ln` (hnsw's level draw).
    pub fn next_unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 1.0) * (1.0 / (1u64 << 53) as f64)
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }
}

/// A uniform sample of fixed size from a stream of unknown length (Vitter's Algorithm R).
#[derive(Clone, Debug)]
pub struct Reservoir {
    target: usize,
    seen: u64,
    rng: Rng,
}

impl Reservoir {
    pub fn new(target: usize, seed: u64) -> Reservoir {
        Reservoir {
            target,
            seen: 0,
            rng: Rng::new(seed),
        }
    }

    /// Offer the next row: `Some(slot)` to store it there (`slot` equal to the number stored so
    /// far means append), `None` to skip it.
    pub fn offer(&mut self) -> Option<usize> {
        self.seen += 1;
        if self.seen <= self.target as u64 {
            return Some(self.seen as usize - 1);
        }
        let j = self.rng.below(self.seen);
        (j < self.target as u64).then_some(j as usize)
    }

    /// Rows offered so far.
    pub fn seen(&self) -> u64 {
        self.seen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_are_in_unit_interval_and_below_is_bounded() {
        let mut r = Rng::new(7);
        for _ in 0..10_000 {
            let x = r.next_f64();
            assert!((0.0..1.0).contains(&x));
            assert!(r.below(13) < 13);
            let u = r.next_unit();
            assert!(u > 0.0 && u <= 1.0);
        }
    }

    #[test]
    fn reservoir_keeps_every_row_equally_likely() {
        // 20 rows into 5 slots, many times: each row should be kept about 1/4 of the time.
        let mut kept = [0u32; 20];
        for seed in 0..4000 {
            let mut res = Reservoir::new(5, seed);
            let mut slots = [usize::MAX; 5];
            for row in 0..20 {
                if let Some(s) = res.offer() {
                    slots[s] = row;
                }
            }
            slots.iter().for_each(|&r| kept[r] += 1);
        }
        for (row, &k) in kept.iter().enumerate() {
            assert!((800..1200).contains(&k), "row {row} kept {k} times of 4000, expected ~1000");
        }
    }

    #[test]
    fn reservoir_fills_slots_in_order_first() {
        let mut res = Reservoir::new(3, 1);
        assert_eq!((res.offer(), res.offer(), res.offer()), (Some(0), Some(1), Some(2)));
        assert_eq!(res.seen(), 3);
    }
}
