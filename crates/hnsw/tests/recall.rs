//! Recall of index scans against brute force, after each way an index changes.

mod common;
use common::*;
use semvec_hnsw::metric::{Cosine, L1, L2Squared, NegativeDot};
use semvec_hnsw::Metric;
use std::time::Instant;

const N: usize = 5000;
const DIMS: usize = 64;

fn check_build_recall<M: Metric + Clone>(metric: M, name: &str) {
    let data = clustered(N, DIMS, 50, 1);
    let queries = clustered(50, DIMS, 50, 2);
    let t = Instant::now();
    let rel = build_index(&data, &metric, 16, 64);
    let built = t.elapsed();
    let r = recall(&rel, &metric, &data, &queries, 10, 40, |_| true);
    eprintln!("{name}: build {built:?}, recall@10 {r:.3}");
    assert!(r >= 0.95, "{name}: recall {r}");
}

#[test]
fn parallel_build_has_high_recall_for_l2() {
    check_build_recall(L2Squared::new(), "l2");
}
