//! k-means for the list centers: k-means++ seeding, then Elkan's algorithm (triangle-inequality
//! bounds skip most distance computations), parallel over samples with rayon.
//!
//! Runs on the ambient rayon pool (the glue wraps calls in `pool.install`) and never calls
//! anything outside this crate, so it is safe on worker threads. Inner product and cosine use
//! spherical k-means: samples are unit vectors and every new center is normalised.

use crate::error::{check_memory, IvfError};
use crate::types::{Payloads, VectorType};
use rayon::prelude::*;
use semvec_storage::Metric;
use semvec_storage::Rng;
use std::sync::atomic::{AtomicBool, Ordering};

/// pgvector gives k-means this many iterations to converge.
pub const MAX_ITERATIONS: usize = 500;

/// `MAXALIGN` of 64-bit platforms.
fn maxalign(n: usize) -> usize {
    (n + 7) & !7
}

/// pgvector's size of an array of `n` vectors of `item_size` bytes (`VECTOR_ARRAY_SIZE`).
pub fn vector_array_size(n: usize, item_size: usize) -> usize {
    32usize.saturating_add(n.saturating_mul(maxalign(item_size)))
}

/// Sample count pgvector targets: 50 per list, at least 10,000, at most what the table can hold
/// (`max_rows`), at least one.
pub fn sample_target(lists: usize, max_rows: u64) -> usize {
    let want = (lists * 50).max(10_000) as u64;
    want.min(max_rows).max(1) as usize
}

/// The memory Elkan's k-means needs besides samples and centers, in bytes, as pgvector accounts
/// it: new centers, sums, counts, assignments, n x k lower bounds, upper bounds, k x k center
/// distances.
pub fn elkan_memory(vtype: &VectorType, samples: usize, lists: usize) -> usize {
    let (n, k, d) = (samples, lists, vtype.dims as usize);
    [
        vector_array_size(k, vtype.item_size()),
        4 * k * d,
        4 * k,
        4 * n,
        4 * n * k,
        4 * n,
        4 * k,
        4 * k * k,
        4 * k,
    ]
    .iter()
    .fold(0usize, |a, b| a.saturating_add(*b))
}

/// Computes `lists` centers from `samples` (normalised already under spherical k-means).
///
/// With no samples the centers are random (an index over an empty table). `used` is the memory
/// already accounted (samples and centers); the bounds Elkan needs are checked against
/// `budget_kb` like pgvector does. `cancel` is polled between steps.
pub fn kmeans(
    vtype: &VectorType,
    samples: &Payloads,
    lists: usize,
    seed: u64,
    used: usize,
    budget_kb: usize,
    cancel: &AtomicBool,
) -> Result<Payloads, IvfError> {
    kmeans_with_stats(vtype, samples, lists, seed, used, budget_kb, cancel).map(|(c, _)| c)
}

/// What a k-means run did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KmeansStats {
    /// Elkan iterations (0 without samples).
    pub iterations: usize,
    /// Samples that changed center in the last iteration (0 when it converged).
    pub last_changes: usize,
}

/// [`kmeans`], also telling how it went.
pub fn kmeans_with_stats(
    vtype: &VectorType,
    samples: &Payloads,
    lists: usize,
    seed: u64,
    used: usize,
    budget_kb: usize,
    cancel: &AtomicBool,
) -> Result<(Payloads, KmeansStats), IvfError> {
    let mut rng = Rng::new(seed);
    let len = vtype.payload_len();
    if samples.is_empty() {
        let mut centers = Payloads::zeroed(len, lists);
        for i in 0..lists {
            vtype.random_center(&mut rng, centers.get_mut(i));
        }
        return Ok((centers, KmeansStats::default()));
    }
    check_memory(used.saturating_add(elkan_memory(vtype, samples.len(), lists)), budget_kb)?;
    Elkan::new(vtype, samples, lists, cancel).run(&mut rng)
}

struct Elkan<'a> {
    vtype: &'a VectorType,
    metric: crate::types::KmeansMetric,
    samples: &'a Payloads,
    n: usize,
    k: usize,
    cancel: &'a AtomicBool,
    centers: Payloads,
    /// n x k lower bounds of d(sample, center).
    lower: Vec<f32>,
    /// Upper bound of d(sample, its center).
    upper: Vec<f32>,
    assigned: Vec<u32>,
    /// k x dims sums of each center's samples (f64: exact enough to update incrementally).
    sums: Vec<f64>,
    counts: Vec<u64>,
}

impl<'a> Elkan<'a> {
    fn new(vtype: &'a VectorType, samples: &'a Payloads, k: usize, cancel: &'a AtomicBool) -> Elkan<'a> {
        let n = samples.len();
        Elkan {
            vtype,
            metric: vtype.kmeans_metric(),
            samples,
            n,
            k,
            cancel,
            centers: Payloads::zeroed(vtype.payload_len(), k),
            lower: vec![0.0; n * k],
            upper: vec![0.0; n],
            assigned: vec![0; n],
            sums: vec![0.0; k * vtype.dims as usize],
            counts: vec![0; k],
        }
    }

    fn cancelled(&self) -> Result<(), IvfError> {
        if self.cancel.load(Ordering::Relaxed) {
            Err(IvfError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// k-means++: each next center is a sample drawn with probability proportional to its
    /// squared distance to the nearest center so far. Every sample's distance to every center
    /// is computed on the way, so the bounds start exact.
    fn seed(&mut self, rng: &mut Rng) -> Result<(), IvfError> {
        let (n, k) = (self.n, self.k);
        let mut weight = vec![f32::MAX; n];
        self.centers.set(0, self.samples.get(rng.below(n as u64) as usize));
        for i in 0..k {
            self.cancelled()?;
            let center = self.centers.get(i).to_vec();
            let (samples, metric) = (self.samples, &self.metric);
            self.lower
                .par_chunks_mut(k)
                .zip(weight.par_iter_mut())
                .enumerate()
                .with_min_len(64)
                .for_each(|(j, (row, w))| {
                    let d = metric.distance(samples.get(j), &center);
                    row[i] = d;
                    *w = w.min(d * d);
                });
            if i + 1 == k {
                break;
            }
            // Summed in order on this thread, so the choice does not depend on thread timing.
            let sum: f64 = weight.iter().map(|&w| w as f64).sum();
            let pick = if sum > 0.0 {
                let mut choice = sum * rng.next_f64();
                let mut pick = 0;
                for (j, &w) in weight.iter().enumerate() {
                    if w > 0.0 {
                        pick = j;
                        choice -= w as f64;
                        if choice <= 0.0 {
                            break;
                        }
                    }
                }
                pick
            } else {
                // Fewer distinct samples than lists: the extra centers repeat a sample; their
                // lists stay empty (ties go to the lowest list everywhere).
                rng.below(n as u64) as usize
            };
            self.centers.set(i + 1, self.samples.get(pick));
        }
        for j in 0..n {
            let row = &self.lower[j * k..(j + 1) * k];
            let (best, d) = argmin(row);
            self.assigned[j] = best as u32;
            self.upper[j] = d;
        }
        Ok(())
    }

    fn run(mut self, rng: &mut Rng) -> Result<(Payloads, KmeansStats), IvfError> {
        let (n, k) = (self.n, self.k);
        self.seed(rng)?;
        self.full_sums();
        let mut before = self.assigned.clone();
        let mut half = vec![0f32; k * k];
        let mut nearest_other = vec![f32::MAX; k];
        let mut new_centers = Payloads::zeroed(self.vtype.payload_len(), k);
        let mut moved = vec![0f32; k];
        let mut stats = KmeansStats::default();
        for iteration in 0..MAX_ITERATIONS {
            self.cancelled()?;
            // Half the distances between centers, and each center's nearest other center.
            {
                let (centers, metric) = (&self.centers, &self.metric);
                half.par_chunks_mut(k).enumerate().for_each(|(a, row)| {
                    for (b, h) in row.iter_mut().enumerate().skip(a + 1) {
                        *h = 0.5 * metric.distance(centers.get(a), centers.get(b));
                    }
                });
                for a in 0..k {
                    for b in 0..a {
                        half[a * k + b] = half[b * k + a];
                    }
                }
                nearest_other.par_iter_mut().enumerate().for_each(|(a, s)| {
                    *s = (0..k).filter(|&b| b != a).map(|b| half[a * k + b]).fold(f32::MAX, f32::min);
                });
            }
            // Reassign, skipping every center the bounds rule out. The bounds are exact on the
            // first pass (fresh from seeding), loose afterwards.
            let loose = iteration != 0;
            before.copy_from_slice(&self.assigned);
            let changes: usize = {
                let (centers, metric, samples, half, nearest_other) = (&self.centers, &self.metric, self.samples, &half, &nearest_other);
                self.lower
                    .par_chunks_mut(k)
                    .zip(self.upper.par_iter_mut())
                    .zip(self.assigned.par_iter_mut())
                    .enumerate()
                    .with_min_len(16)
                    .map(|(j, ((lower, upper), assigned))| {
                        let a0 = *assigned as usize;
                        if *upper <= nearest_other[a0] {
                            return 0;
                        }
                        let x = samples.get(j);
                        let mut a = a0;
                        let mut tight = !loose;
                        for c in 0..k {
                            if c == a || *upper <= lower[c] || *upper <= half[a * k + c] {
                                continue;
                            }
                            if !tight {
                                let d = metric.distance(x, centers.get(a));
                                lower[a] = d;
                                *upper = d;
                                tight = true;
                                if *upper <= lower[c] || *upper <= half[a * k + c] {
                                    continue;
                                }
                            }
                            let d = metric.distance(x, centers.get(c));
                            lower[c] = d;
                            if d < *upper {
                                a = c;
                                *upper = d;
                            }
                        }
                        *assigned = a as u32;
                        (a != a0) as usize
                    })
                    .sum()
            };
            self.cancelled()?;
            self.move_sums(&before);
            self.means(&mut new_centers);
            // How far each center moved, then loosen the bounds by it.
            {
                let (centers, new_centers, metric) = (&self.centers, &new_centers, &self.metric);
                moved
                    .par_iter_mut()
                    .enumerate()
                    .for_each(|(c, m)| *m = metric.distance(centers.get(c), new_centers.get(c)));
            }
            self.lower.par_chunks_mut(k).for_each(|row| {
                for (l, m) in row.iter_mut().zip(&moved) {
                    *l = (*l - m).max(0.0);
                }
            });
            for j in 0..n {
                self.upper[j] += moved[self.assigned[j] as usize];
            }
            std::mem::swap(&mut self.centers, &mut new_centers);
            stats = KmeansStats {
                iterations: iteration + 1,
                last_changes: changes,
            };
            if changes == 0 && iteration != 0 {
                break;
            }
        }
        Ok((self.centers, stats))
    }

    /// Each center's sum and count of samples, from scratch (samples grouped by center with a
    /// counting sort, each group summed on one thread).
    fn full_sums(&mut self) {
        let (k, dims) = (self.k, self.vtype.dims as usize);
        let mut starts = vec![0usize; k + 1];
        for &a in &self.assigned {
            starts[a as usize + 1] += 1;
        }
        for c in 0..k {
            starts[c + 1] += starts[c];
        }
        let mut fill = starts.clone();
        let mut members = vec![0u32; self.n];
        for (j, &a) in self.assigned.iter().enumerate() {
            members[fill[a as usize]] = j as u32;
            fill[a as usize] += 1;
        }
        let (vtype, samples) = (self.vtype, self.samples);
        self.sums.par_chunks_mut(dims.max(1)).enumerate().for_each(|(c, acc)| {
            acc.fill(0.0);
            for &j in &members[starts[c]..starts[c + 1]] {
                vtype.add_scaled(samples.get(j as usize), acc, 1.0);
            }
        });
        for c in 0..k {
            self.counts[c] = (starts[c + 1] - starts[c]) as u64;
        }
    }

    /// Move the samples that changed center from their old center's sum to the new one's: after
    /// the first iterations few samples move, so this is much cheaper than summing again.
    fn move_sums(&mut self, before: &[u32]) {
        let dims = self.vtype.dims as usize;
        for (j, (&old, &new)) in before.iter().zip(&self.assigned).enumerate() {
            if old != new {
                let (old, new) = (old as usize, new as usize);
                let x = self.samples.get(j);
                self.vtype.add_scaled(x, &mut self.sums[old * dims..(old + 1) * dims], -1.0);
                self.vtype.add_scaled(x, &mut self.sums[new * dims..(new + 1) * dims], 1.0);
                self.counts[old] -= 1;
                self.counts[new] += 1;
            }
        }
    }

    /// New centers: the mean of each center's samples (normalised under spherical k-means). A
    /// center without samples, or whose mean has no direction, stays where it was.
    fn means(&self, out: &mut Payloads) {
        let dims = self.vtype.dims as usize;
        out.par_iter_mut().enumerate().for_each(|(c, center)| {
            if self.counts[c] == 0 {
                center.copy_from_slice(self.centers.get(c));
                return;
            }
            self.vtype
                .store_mean(&self.sums[c * dims..(c + 1) * dims], self.counts[c] as f64, center);
            if self.vtype.spherical() && !self.vtype.normalize(center) {
                center.copy_from_slice(self.centers.get(c));
            }
        });
    }
}

/// Position and value of the first smallest element.
fn argmin(xs: &[f32]) -> (usize, f32) {
    let mut best = (0, f32::MAX);
    for (i, &x) in xs.iter().enumerate() {
        if x < best.1 {
            best = (i, x);
        }
    }
    best
}

/// The list (center) closest to `v` by the index's distance; ties go to the lowest list.
pub fn nearest<M: Metric>(metric: &M, centers: &Payloads, v: &[u8]) -> usize {
    let mut best = (0, f32::INFINITY);
    for (i, c) in centers.iter().enumerate() {
        let d = metric.distance(v, c);
        if d < best.1 {
            best = (i, d);
        }
    }
    best.0
}

/// [`nearest`] for every payload of a batch, in parallel.
pub fn assign<M: Metric>(metric: &M, centers: &Payloads, batch: &Payloads) -> Vec<u32> {
    (0..batch.len())
        .into_par_iter()
        .with_min_len(8)
        .map(|i| nearest(metric, centers, batch.get(i)) as u32)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::{Distance, Elements};
    use semvec_storage::metric::f32_bytes;

    fn f32_payloads(vs: &[Vec<f32>]) -> Payloads {
        let mut p = Payloads::new(vs[0].len() * 4);
        vs.iter().for_each(|v| p.push(f32_bytes(v)));
        p
    }

    fn centers_as_f32(c: &Payloads) -> Vec<Vec<f32>> {
        c.iter()
            .map(|b| b.chunks_exact(4).map(|x| f32::from_ne_bytes(x.try_into().unwrap())).collect())
            .collect()
    }

    /// Points scattered around `k` well separated centers.
    fn blobs(k: usize, per: usize, dims: usize, seed: u64) -> (Vec<Vec<f32>>, Vec<Vec<f32>>) {
        let mut rng = Rng::new(seed);
        let truth: Vec<Vec<f32>> = (0..k)
            .map(|_| (0..dims).map(|_| (rng.next_f64() * 100.0) as f32).collect())
            .collect();
        let mut pts = Vec::new();
        for _ in 0..per {
            for c in &truth {
                pts.push(c.iter().map(|x| x + (rng.next_f64() - 0.5) as f32).collect());
            }
        }
        (truth, pts)
    }

    #[test]
    fn finds_well_separated_clusters() {
        let (truth, pts) = blobs(8, 50, 4, 3);
        let vt = VectorType::new(Elements::F32, Distance::L2, 4);
        let samples = f32_payloads(&pts);
        let centers = kmeans(&vt, &samples, 8, 1, 0, usize::MAX, &AtomicBool::new(false)).unwrap();
        let found = centers_as_f32(&centers);
        for t in &truth {
            let best = found.iter().map(|f| semvec_simd::l2_squared_f32(f, t)).fold(f32::MAX, f32::min);
            assert!(best < 0.1, "a true center was not found: distance² {best}");
        }
    }

    #[test]
    fn each_distinct_point_gets_its_own_center_when_lists_equal_points() {
        let pts = vec![vec![0.0, 0.0, 0.0], vec![1.0, 2.0, 3.0], vec![1.0, 1.0, 1.0]];
        let vt = VectorType::new(Elements::F32, Distance::L2, 3);
        for seed in 0..20 {
            let centers = kmeans(&vt, &f32_payloads(&pts), 3, seed, 0, usize::MAX, &AtomicBool::new(false)).unwrap();
            let mut found = centers_as_f32(&centers);
            found.sort_by(|a, b| a.partial_cmp(b).unwrap());
            let mut want = pts.clone();
            want.sort_by(|a, b| a.partial_cmp(b).unwrap());
            assert_eq!(found, want, "seed {seed}");
        }
    }

    #[test]
    fn elkan_matches_plain_lloyd_assignments() {
        // The bounds only skip work: the final assignment must be a fixed point of Lloyd's step.
        let (_, pts) = blobs(12, 30, 6, 9);
        let vt = VectorType::new(Elements::F32, Distance::L2, 6);
        let samples = f32_payloads(&pts);
        let centers = kmeans(&vt, &samples, 12, 5, 0, usize::MAX, &AtomicBool::new(false)).unwrap();
        let metric = vt.kmeans_metric();
        // one more Lloyd step from the result changes nothing
        let assigned: Vec<usize> = samples.iter().map(|s| nearest(&metric, &centers, s)).collect();
        for (c, center) in centers_as_f32(&centers).iter().enumerate() {
            let members: Vec<&Vec<f32>> = pts.iter().zip(&assigned).filter(|(_, &a)| a == c).map(|(p, _)| p).collect();
            if members.is_empty() {
                continue;
            }
            for d in 0..6 {
                let mean = members.iter().map(|m| m[d] as f64).sum::<f64>() / members.len() as f64;
                assert!((mean - center[d] as f64).abs() < 1e-3, "center {c} is not the mean of its members");
            }
        }
    }

    #[test]
    fn spherical_kmeans_gives_unit_centers() {
        let (_, pts) = blobs(5, 40, 8, 11);
        let vt = VectorType::new(Elements::F32, Distance::Cosine, 8);
        let mut samples = f32_payloads(&pts);
        for i in 0..samples.len() {
            assert!(vt.normalize(samples.get_mut(i)));
        }
        let centers = kmeans(&vt, &samples, 5, 2, 0, usize::MAX, &AtomicBool::new(false)).unwrap();
        for c in centers.iter() {
            assert!((vt.norm(c) - 1.0).abs() < 1e-5);
        }
    }

    #[test]
    fn bit_kmeans_separates_two_patterns() {
        let vt = VectorType::new(Elements::Bit, Distance::Hamming, 16);
        let mut samples = Payloads::new(2);
        let mut rng = Rng::new(4);
        for i in 0..100 {
            let base: u16 = if i % 2 == 0 { 0xFF00 } else { 0x00FF };
            let noise = 1u16 << rng.below(16);
            samples.push(&(base ^ noise).to_be_bytes());
        }
        let centers = kmeans(&vt, &samples, 2, 3, 0, usize::MAX, &AtomicBool::new(false)).unwrap();
        let mut got: Vec<u16> = centers.iter().map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
        got.sort();
        assert_eq!(got, vec![0x00FF, 0xFF00]);
    }

    #[test]
    fn no_samples_gives_random_centers_inside_the_unit_cube() {
        let vt = VectorType::new(Elements::F32, Distance::L2, 4);
        let centers = kmeans(&vt, &Payloads::new(16), 10, 1, 0, usize::MAX, &AtomicBool::new(false)).unwrap();
        assert_eq!(centers.len(), 10);
        for c in centers_as_f32(&centers) {
            assert!(c.iter().all(|x| (0.0..1.0).contains(x)));
        }
    }

    #[test]
    fn fewer_samples_than_lists_still_gives_every_list_a_center() {
        let pts = vec![vec![1.0, 0.0], vec![0.0, 1.0]];
        let vt = VectorType::new(Elements::F32, Distance::L2, 2);
        let centers = kmeans(&vt, &f32_payloads(&pts), 7, 1, 0, usize::MAX, &AtomicBool::new(false)).unwrap();
        assert_eq!(centers.len(), 7);
        // both points are the center of their own list
        let metric = vt.index_metric();
        for p in &pts {
            let c = nearest(&metric, &centers, f32_bytes(p));
            assert_eq!(centers.get(c), f32_bytes(p));
        }
    }

    #[test]
    fn memory_beyond_the_budget_is_pgvectors_error() {
        let vt = VectorType::new(Elements::F32, Distance::L2, 3);
        let (_, pts) = blobs(4, 100, 3, 1);
        let e = kmeans(&vt, &f32_payloads(&pts), 100, 1, 0, 64, &AtomicBool::new(false)).unwrap_err();
        assert!(matches!(e, IvfError::MemoryRequired { budget_mb: 0, .. }), "{e:?}");
    }

    #[test]
    fn cancel_stops_kmeans() {
        let vt = VectorType::new(Elements::F32, Distance::L2, 3);
        let (_, pts) = blobs(4, 100, 3, 1);
        let e = kmeans(&vt, &f32_payloads(&pts), 4, 1, 0, usize::MAX, &AtomicBool::new(true)).unwrap_err();
        assert_eq!(e, IvfError::Cancelled);
    }

    #[test]
    fn pgvector_memory_accounting_of_the_regression_cases() {
        // vector(2000), 100 lists, one row, maintenance_work_mem 5MB: builds in pgvector.
        let vt = VectorType::new(Elements::F32, Distance::L2, 2000);
        let samples = sample_target(100, 291);
        assert_eq!(samples, 291);
        let used = vector_array_size(100, vt.item_size()) + vector_array_size(samples, vt.item_size());
        assert!(check_memory(used + elkan_memory(&vt, 1, 100), 5 * 1024).is_ok());
        assert!(check_memory(used + elkan_memory(&vt, 1, 100), 1024).is_err());
    }
}
