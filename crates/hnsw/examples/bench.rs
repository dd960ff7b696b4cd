//! Build + search benchmark on Fashion-MNIST (or clustered random data):
//! `cargo run --release -p semvec-hnsw --example bench [-- random N DIMS]`.

use semvec_hnsw::metric::{f32_bytes, L2Squared};
use semvec_hnsw::*;
use std::io::Read;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Instant;

fn load(file: &str, limit: usize) -> Vec<Vec<f32>> {
    let f = std::fs::File::open(format!("/usr/share/datasets/fashion-mnist/{file}")).expect("dataset-fashion-mnist installed");
    let mut raw = Vec::new();
    flate2::read::GzDecoder::new(f).read_to_end(&mut raw).unwrap();
    let be = |i: usize| u32::from_be_bytes(raw[i..i + 4].try_into().unwrap()) as usize;
    let (n, dims) = (be(4).min(limit), be(8) * be(12));
    (0..n)
        .map(|i| raw[16 + i * dims..16 + (i + 1) * dims].iter().map(|&p| p as f32).collect())
        .collect()
}

fn random(n: usize, dims: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut s = seed;
    let mut next = move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 40) as f32 / (1u64 << 24) as f32
    };
    let centres: Vec<Vec<f32>> = (0..100).map(|_| (0..dims).map(|_| next() * 2.0 - 1.0).collect()).collect();
    (0..n)
        .map(|_| {
            let c = &centres[(next() * 100.0) as usize % 100];
            c.iter().map(|x| x + (next() - 0.5) * 0.6).collect()
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (data, queries) = if args.get(1).map(|s| s.as_str()) == Some("random") {
        let n: usize = args[2].parse().unwrap();
        let d: usize = args[3].parse().unwrap();
        let mut all = random(n + 1000, d, 7);
        let q = all.split_off(n);
        (all, q)
    } else {
        (
            load("train-images-idx3-ubyte.gz", usize::MAX),
            load("t10k-images-idx3-ubyte.gz", 1000),
        )
    };
    let dims = data[0].len();
    let metric = L2Squared::new();
    let threads: usize = std::env::var("THREADS").ok().and_then(|s| s.parse().ok()).unwrap_or(2);
    let t = Instant::now();
    let mut arena = BuildArena::new();
    for (i, v) in data.iter().enumerate() {
        arena.push(f32_bytes(v), Tid::new(i as u32 / 100, (i % 100) as u16 + 1));
    }
    let params = BuildParams {
        m: 16,
        ef_construction: 64,
        seed: 1,
    };
    let graph = build_graph_parallel(&arena, &params, &metric, threads, &AtomicBool::new(false), &AtomicUsize::new(0)).unwrap();
    let tb = t.elapsed();
    let rel = MemRelation::new();
    write_graph(
        &rel,
        &arena,
        &graph,
        &IndexOptions {
            dims: dims as u32,
            m: 16,
            ef_construction: 64,
            vector_kind: 0,
            key_columns: 0,
            key_vector_len: 0,
        },
    )
    .unwrap();
    eprintln!(
        "build {} x {dims} ({threads} threads): graph {tb:?}, total {:?}, {} pages",
        data.len(),
        t.elapsed(),
        rel.nblocks()
    );
    let truth: Vec<Vec<u32>> = queries
        .iter()
        .map(|q| {
            let mut d: Vec<(f32, u32)> = data
                .iter()
                .enumerate()
                .map(|(i, v)| (metric.distance(f32_bytes(q), f32_bytes(v)), i as u32))
                .collect();
            d.select_nth_unstable_by(10, |a, b| a.0.total_cmp(&b.0));
            d.truncate(10);
            d.into_iter().map(|x| x.1).collect()
        })
        .collect();
    let repeat: usize = std::env::var("REPEAT").ok().and_then(|s| s.parse().ok()).unwrap_or(3);
    for ef in [10, 20, 40, 80, 160] {
        let mut s = Searcher::new(
            metric,
            SearchOptions {
                ef_search: ef,
                ..Default::default()
            },
        );
        let mut hits = 0;
        let reads0 = rel.read_count();
        let t = Instant::now();
        for _ in 0..repeat {
            hits = 0;
            for (q, tr) in queries.iter().zip(&truth) {
                s.begin(f32_bytes(q));
                for _ in 0..10 {
                    let Some((tid, _)) = s.next(&rel) else { break };
                    let row = tid.block * 100 + tid.offset as u32 - 1;
                    hits += tr.contains(&row) as usize;
                }
            }
        }
        let qps = (repeat * queries.len()) as f64 / t.elapsed().as_secs_f64();
        let reads = (rel.read_count() - reads0) as f64 / (repeat * queries.len()) as f64;
        eprintln!(
            "ef_search {ef:>3}: recall@10 {:.4}, {qps:.0} QPS, {:.0} distances/query (last), {reads:.0} page reads/query",
            hits as f64 / (10 * queries.len()) as f64,
            s.stats().evaluated
        );
    }
}
