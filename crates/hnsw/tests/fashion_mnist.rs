//! Real data: Fashion-MNIST (Debian package dataset-fashion-mnist), 60k x 784.
//! Slow in debug builds; run with
//! `cargo test --release -p semvec-hnsw --test fashion_mnist -- --ignored --nocapture`.

mod common;
use common::*;
use semvec_hnsw::metric::{f32_bytes, L2Squared};
use semvec_hnsw::*;
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Instant;

const DIR: &str = "/usr/share/datasets/fashion-mnist";

fn load_images(file: &str, limit: usize) -> Option<Vec<Vec<f32>>> {
    let f = std::fs::File::open(Path::new(DIR).join(file)).ok()?;
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(f).read_to_end(&mut raw).ok()?;
    let be = |i: usize| u32::from_be_bytes(raw[i..i + 4].try_into().unwrap()) as usize;
    assert_eq!(be(0), 2051, "idx3 magic");
    let (n, dims) = (be(4).min(limit), be(8) * be(12));
    Some(
        (0..n)
            .map(|i| raw[16 + i * dims..16 + (i + 1) * dims].iter().map(|&p| p as f32).collect())
            .collect(),
    )
}

#[test]
#[ignore = "needs the fashion-mnist data set and a release build"]
fn fashion_mnist_recall_and_speed() {
    let Some(data) = load_images("train-images-idx3-ubyte.gz", usize::MAX) else {
        eprintln!("{DIR} not installed; skipping");
        return;
    };
    let queries = load_images("t10k-images-idx3-ubyte.gz", 1000).unwrap();
    let metric = L2Squared::new();
    let t = Instant::now();
    let mut arena = BuildArena::new();
    for (i, v) in data.iter().enumerate() {
        arena.push(f32_bytes(v), heap_tid(i));
    }
    let params = BuildParams {
        m: 16,
        ef_construction: 64,
        seed: 1,
    };
    let graph = build_graph_parallel(&arena, &params, &metric, 2, &AtomicBool::new(false), &AtomicUsize::new(0)).unwrap();
    let rel = MemRelation::new();
    write_graph(&rel, &arena, &graph, &options(784, 16, 64)).unwrap();
    eprintln!("build {} x 784 (2 threads): {:?}, {} pages", data.len(), t.elapsed(), rel.nblocks());

    let truth: Vec<Vec<usize>> = queries.iter().map(|q| brute_force(&metric, &data, q, 10, |_| true)).collect();
    for ef in [10, 20, 40, 80, 160] {
        let mut s = Searcher::new(
            metric,
            SearchOptions {
                ef_search: ef,
                ..Default::default()
            },
        );
        let t = Instant::now();
        let got: Vec<Vec<usize>> = queries.iter().map(|q| search(&mut s, &rel, q, 10)).collect();
        let secs = t.elapsed().as_secs_f64();
        let hits: usize = truth
            .iter()
            .zip(&got)
            .map(|(t, g)| t.iter().filter(|x| g.contains(x)).count())
            .sum();
        let r = hits as f64 / (10 * queries.len()) as f64;
        eprintln!(
            "ef_search {ef:>3}: recall@10 {r:.4}, {:.0} QPS (1 thread)",
            queries.len() as f64 / secs
        );
        if ef == 40 {
            assert!(r >= 0.95, "recall {r}");
        }
    }

    // On-disk inserts: the last 10% again, through insert().
    let t = Instant::now();
    let rel2 = MemRelation::new();
    let n0 = data.len() * 9 / 10;
    let mut arena = BuildArena::new();
    for (i, v) in data.iter().enumerate().take(n0) {
        arena.push(f32_bytes(v), heap_tid(i));
    }
    let graph = build_graph_parallel(&arena, &params, &metric, 2, &AtomicBool::new(false), &AtomicUsize::new(0)).unwrap();
    write_graph(&rel2, &arena, &graph, &options(784, 16, 64)).unwrap();
    let t_ins = Instant::now();
    let mut ins = Inserter::with_seed(metric, 3);
    for (i, v) in data.iter().enumerate().skip(n0) {
        ins.insert(&rel2, f32_bytes(v), heap_tid(i)).unwrap();
    }
    eprintln!(
        "{} on-disk inserts: {:.0}/s (total {:?})",
        data.len() - n0,
        (data.len() - n0) as f64 / t_ins.elapsed().as_secs_f64(),
        t.elapsed()
    );
    let r = recall(&rel2, &metric, &data, &queries[..200], 10, 40, |_| true);
    eprintln!("recall after inserts {r:.4}");
    assert!(r >= 0.95);
}
