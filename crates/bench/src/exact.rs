//! Exact nearest neighbours by brute force (the ground truth) and recall against it.

use crate::vecio::Vectors;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Metric {
    L2,
    Cosine,
}

impl Metric {
    pub fn operator(self) -> &'static str {
        match self {
            Metric::L2 => "<->",
            Metric::Cosine => "<=>",
        }
    }

    /// The hnsw operator class for this metric on `ty` (`vector`, `halfvec`).
    pub fn opclass(self, ty: &str) -> String {
        format!("{ty}_{}_ops", self.name())
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::Cosine => "cosine",
        }
    }

    /// The distance in double precision: an order-preserving form (squared L2; 1 - cosine).
    pub fn distance(self, a: &[f32], b: &[f32]) -> f64 {
        match self {
            Metric::L2 => {
                let mut acc = [0f64; 4];
                let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
                let (ta, tb) = (ca.remainder(), cb.remainder());
                for (x, y) in ca.zip(cb) {
                    for l in 0..4 {
                        let d = x[l] as f64 - y[l] as f64;
                        acc[l] += d * d;
                    }
                }
                let tail: f64 = ta.iter().zip(tb).map(|(x, y)| (*x as f64 - *y as f64).powi(2)).sum();
                acc.iter().sum::<f64>() + tail
            }
            Metric::Cosine => {
                let (mut dot, mut na, mut nb) = (0f64, 0f64, 0f64);
                for (x, y) in a.iter().zip(b) {
                    let (x, y) = (*x as f64, *y as f64);
                    dot += x * y;
                    na += x * x;
                    nb += y * y;
                }
                if na == 0.0 || nb == 0.0 {
                    f64::NAN
                } else {
                    1.0 - dot / (na.sqrt() * nb.sqrt())
                }
            }
        }
    }
}

/// For each query, the ids (row numbers of `base`) of its `k` nearest rows, nearest first; ties go
/// to the smaller id. Runs on `threads` threads.
pub fn exact_top_k(base: &Vectors, queries: &Vectors, k: usize, metric: Metric, threads: usize) -> Vec<Vec<u32>> {
    assert_eq!(base.dim, queries.dim);
    let threads = threads.max(1).min(queries.len().max(1));
    let mut out: Vec<Vec<u32>> = vec![Vec::new(); queries.len()];
    let per = queries.len().div_ceil(threads);
    std::thread::scope(|s| {
        for (t, slot) in out.chunks_mut(per.max(1)).enumerate() {
            s.spawn(move || {
                for (j, res) in slot.iter_mut().enumerate() {
                    let q = queries.row(t * per + j);
                    *res = top_k_of(base, q, k, metric);
                }
            });
        }
    });
    out
}

fn top_k_of(base: &Vectors, q: &[f32], k: usize, metric: Metric) -> Vec<u32> {
    // A sorted list of the best k so far; k is small, so insertion beats a heap.
    let mut best: Vec<(f64, u32)> = Vec::with_capacity(k + 1);
    for (i, row) in base.rows().enumerate() {
        let d = metric.distance(q, row);
        if d.is_nan() {
            continue;
        }
        if best.len() == k && d >= best[k - 1].0 {
            continue;
        }
        let at = best.partition_point(|&(bd, _)| bd <= d);
        best.insert(at, (d, i as u32));
        best.truncate(k);
    }
    best.into_iter().map(|(_, i)| i).collect()
}

/// Recall@k of one result list, counting ties as hits the way ann-benchmarks does: a returned id is
/// correct when its distance is within the k-th true neighbour's (so an equally near duplicate is
/// not a miss). Ids outside `base` (rows inserted later) never count.
pub fn recall(base: &Vectors, query: &[f32], truth: &[u32], returned: &[u32], metric: Metric) -> f64 {
    let k = truth.len();
    if k == 0 {
        return 1.0;
    }
    let kth = truth
        .iter()
        .map(|&i| metric.distance(query, base.row(i as usize)))
        .fold(f64::MIN, f64::max);
    let bound = kth + kth.abs() * 1e-6 + 1e-9;
    let mut seen = std::collections::HashSet::new();
    let hits = returned
        .iter()
        .filter(|&&i| (i as usize) < base.len() && seen.insert(i))
        .filter(|&&i| metric.distance(query, base.row(i as usize)) <= bound)
        .count();
    hits.min(k) as f64 / k as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: usize) -> Vectors {
        let mut v = Vectors::new(2);
        for i in 0..n {
            v.push(&[i as f32, 0.0]);
        }
        v
    }

    #[test]
    fn exact_search_finds_nearest_points_on_a_line() {
        let base = line(100);
        let mut q = Vectors::new(2);
        q.push(&[10.2, 1.0]);
        q.push(&[99.0, 0.0]);
        q.push(&[-5.0, 0.0]);
        let gt = exact_top_k(&base, &q, 3, Metric::L2, 2);
        assert_eq!(gt, vec![vec![10, 11, 9], vec![99, 98, 97], vec![0, 1, 2]]);
    }

    #[test]
    fn exact_search_is_the_same_on_any_thread_count() {
        let mut base = Vectors::new(5);
        let mut x = 1u32;
        for _ in 0..300 {
            let row: Vec<f32> = (0..5)
                .map(|_| {
                    x = x.wrapping_mul(1664525).wrapping_add(1013904223);
                    (x >> 8) as f32 / (1 << 24) as f32
                })
                .collect();
            base.push(&row);
        }
        let q = base.head(17);
        let one = exact_top_k(&base, &q, 10, Metric::Cosine, 1);
        assert_eq!(one, exact_top_k(&base, &q, 10, Metric::Cosine, 3));
        assert!(
            one.iter().enumerate().all(|(i, r)| r[0] == i as u32),
            "each point is its own nearest"
        );
    }

    #[test]
    fn cosine_distance_ignores_length() {
        let d = Metric::Cosine.distance(&[1.0, 1.0], &[3.0, 3.0]);
        assert!(d.abs() < 1e-12);
        assert!((Metric::Cosine.distance(&[1.0, 0.0], &[0.0, 2.0]) - 1.0).abs() < 1e-12);
        assert!(Metric::Cosine.distance(&[0.0, 0.0], &[1.0, 0.0]).is_nan());
    }

    #[test]
    fn recall_counts_hits_and_equally_near_ties() {
        let mut base = line(10);
        base.push(&[3.0, 0.0]); // id 10 duplicates id 3
        let q = [2.0, 0.0];
        let truth = [2, 1, 3]; // distances 0, 1, 1
        assert_eq!(recall(&base, &q, &truth, &[2, 1, 3], Metric::L2), 1.0);
        assert_eq!(recall(&base, &q, &truth, &[2, 10, 1], Metric::L2), 1.0, "a tie is not a miss");
        assert!((recall(&base, &q, &truth, &[2, 5, 6], Metric::L2) - 1.0 / 3.0).abs() < 1e-12);
        assert_eq!(
            recall(&base, &q, &truth, &[2, 2, 2], Metric::L2),
            1.0 / 3.0,
            "duplicates count once"
        );
        assert_eq!(recall(&base, &q, &truth, &[2, 1, 999], Metric::L2), 2.0 / 3.0, "unknown ids miss");
    }
}
