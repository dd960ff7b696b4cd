//! Embedding throughput of the Rust embedder, comparable with scripts/models/bench_python_ort.py
//! (same texts: the untruncated fixture sentences cycled to --count, batches of --batch).
//!
//!   cargo run --release -p semvec-embed --example embed_throughput -- \
//!       --model-dir /usr/share/postgresql/15/extension/semvec/models/all-MiniLM-L6-v2 --threads 1

use std::path::PathBuf;
use std::time::Instant;

use semvec_embed::{init_runtime, Embedder, EmbedderConfig};

fn main() {
    let mut model_dir = PathBuf::from("/usr/share/postgresql/15/extension/semvec/models/all-MiniLM-L6-v2");
    let mut ort_lib = PathBuf::from("/usr/share/postgresql/15/extension/semvec/lib/libonnxruntime.so.1.32.0");
    let (mut threads, mut batch, mut count, mut rounds) = (1usize, 32usize, 1024usize, 3usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().expect("missing value");
        match a.as_str() {
            "--model-dir" => model_dir = val().into(),
            "--ort-lib" => ort_lib = val().into(),
            "--threads" => threads = val().parse().unwrap(),
            "--batch" => batch = val().parse().unwrap(),
            "--count" => count = val().parse().unwrap(),
            "--rounds" => rounds = val().parse().unwrap(),
            other => panic!("unknown argument {other}"),
        }
    }
    let fixture = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/embed/reference.json");
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let sentences: Vec<String> = json["sentences"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| !s["truncated"].as_bool().unwrap())
        .map(|s| s["text"].as_str().unwrap().to_string())
        .collect();
    let texts: Vec<&str> = (0..count).map(|i| sentences[i % sentences.len()].as_str()).collect();

    init_runtime(&ort_lib).unwrap();
    let mut cfg = EmbedderConfig::from_dir(&model_dir);
    cfg.intra_threads = threads;
    let embedder = Embedder::load(cfg).unwrap();

    let run = || {
        for group in texts.chunks(batch) {
            embedder.embed_batch(group).unwrap();
        }
    };
    run(); // warm-up
    let (mut best, mut best_cpu) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..rounds {
        let (t, c) = (Instant::now(), cpu_seconds());
        run();
        best = best.min(t.elapsed().as_secs_f64());
        best_cpu = best_cpu.min(cpu_seconds() - c);
    }
    println!(
        "rust-ort model={} threads={threads} batch={batch} texts={}: {:.1} sentences/s wall, {:.1} sentences per CPU-second",
        model_dir.file_name().unwrap().to_string_lossy(),
        texts.len(),
        texts.len() as f64 / best,
        texts.len() as f64 / best_cpu
    );
}

/// User + system CPU time of this process (all threads), from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // fields after the ")" of the command name: state is field 3, utime 14, stime 15
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<f64> = rest.split_whitespace().map(|x| x.parse().unwrap_or(0.0)).collect();
    let ticks = f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0);
    ticks / 100.0
}
