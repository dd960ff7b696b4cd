//! `cargo test -p semvec-bm25index --test measure_merge -- --ignored --nocapture --test-threads 1`:
//! what the memtable costs searches as it grows, what merging it costs, and how fast segments
//! merge: the numbers behind [`MergePolicy`]'s defaults.

mod common;

use common::{lexeme, random_doc, zipf, Doc};
use semvec_bm25::Bm25Params;
use semvec_bm25index::{check, force_merge, insert_with, merge, read_meta, Builder, MergePolicy, Scan, Strategy};
use semvec_storage::{MemRelation, RelationRead, Rng, Tid};
use std::time::{Duration, Instant};

const VOCAB: u64 = 50_000;

fn queries(rng: &mut Rng, n: usize) -> Vec<Vec<Vec<u8>>> {
    (0..n)
        .map(|i| {
            let (terms, skew) = [(2, 4.0), (3, 2.0), (5, 2.0), (8, 2.5)][i % 4];
            let mut q: Vec<Vec<u8>> = (0..terms).map(|_| lexeme(zipf(rng, VOCAB, skew))).collect();
            q.sort();
            q.dedup();
            q
        })
        .collect()
}

/// Mean time of one search (begin + one batch of k) over `qs`, repeated `reps` times.
fn search_time(rel: &MemRelation, qs: &[Vec<Vec<u8>>], k: usize, reps: usize) -> Duration {
    let params = Bm25Params::default();
    let t = Instant::now();
    for _ in 0..reps {
        for q in qs {
            let qr: Vec<(&[u8], u32)> = q.iter().map(|l| (&l[..], 1)).collect();
            let mut scan = Scan::begin(rel, &qr, params).unwrap();
            std::hint::black_box(scan.next_batch(rel, k, Strategy::BlockMaxWand).unwrap());
        }
    }
    t.elapsed() / (reps * qs.len()) as u32
}

fn build(n: u32, rng: &mut Rng, max_tokens: u64) -> MemRelation {
    let rel = MemRelation::new();
    let mut b = Builder::new(&rel, 64 << 20);
    for i in 0..n {
        let d = random_doc(rng, VOCAB, max_tokens);
        b.add(Tid::new(i / 50, (i % 50 + 1) as u16), &d.refs(), d.len).unwrap();
    }
    b.finish();
    rel
}

#[test]
#[ignore]
fn measure_search_cost_of_the_memtable_and_the_cost_of_merging_it() {
    let never = MergePolicy {
        mem_pages: 0,
        ..MergePolicy::default()
    };
    for (label, max_tokens) in [("documents of ~100 tokens", 200u64), ("documents of ~10 tokens", 20)] {
        println!("--- 100k built {label}, then inserts into the memtable");
        let mut rng = Rng::new(3);
        let rel = build(100_000, &mut rng, max_tokens);
        let qs = queries(&mut rng, 40);
        let base = search_time(&rel, &qs, 10, 3);
        println!("memtable    0 pages: {:>8.1} us/search (k=10)", base.as_secs_f64() * 1e6);
        let mut next_id = 100_000u32;
        let mut docs: Vec<Doc> = Vec::new();
        for target in [16u32, 64, 128, 256, 512, 1024, 2048] {
            while read_meta(&rel).unwrap().mem_pages < target {
                let d = random_doc(&mut rng, VOCAB, max_tokens);
                insert_with(&rel, Tid::new(next_id / 50, (next_id % 50 + 1) as u16), &d.refs(), d.len, &never).unwrap();
                docs.push(d);
                next_id += 1;
            }
            let s = search_time(&rel, &qs, 10, 2);
            println!(
                "memtable {target:>4} pages ({:>6} docs): {:>8.1} us/search, +{:>8.1} us over no memtable",
                check(&rel, false).unwrap().mem_docs,
                s.as_secs_f64() * 1e6,
                (s.as_secs_f64() - base.as_secs_f64()) * 1e6
            );
        }
        // Merge costs, per memtable size: a fresh copy each time.
        println!("--- merging a memtable of P pages ({label}; the insert that crosses the threshold pays it)");
        for pages in [64u32, 128, 256, 512, 1024, 2048] {
            let mut rng = Rng::new(5);
            let rel = build(20_000, &mut rng, max_tokens);
            let mut id = 20_000u32;
            let mut n = 0u64;
            let t_ins = Instant::now();
            while read_meta(&rel).unwrap().mem_pages < pages {
                let d = random_doc(&mut rng, VOCAB, max_tokens);
                insert_with(&rel, Tid::new(id / 50, (id % 50 + 1) as u16), &d.refs(), d.len, &never).unwrap();
                id += 1;
                n += 1;
            }
            let ins = t_ins.elapsed();
            let policy = MergePolicy {
                mem_pages: pages,
                ..MergePolicy::default()
            };
            let t = Instant::now();
            let st = merge(&rel, &policy, false).unwrap();
            let m = t.elapsed();
            assert_eq!(st.memtables, 1);
            let qs = queries(&mut rng, 40);
            println!(
                "P {pages:>4}: {n:>6} docs, merge {:>8.2} ms ({:>6.2} us/doc; the inserts themselves took {:>6.2} us/doc)",
                m.as_secs_f64() * 1e3,
                m.as_secs_f64() * 1e6 / n as f64,
                ins.as_secs_f64() * 1e6 / n as f64,
            );
            std::hint::black_box(search_time(&rel, &qs, 10, 1));
        }
    }
}

#[test]
#[ignore]
fn measure_segment_merge_throughput() {
    println!("--- merging 8 segments of N documents (~100 tokens each) into one");
    for n in [2_000u32, 10_000, 50_000] {
        let mut rng = Rng::new(9);
        let rel = MemRelation::new();
        init(&rel);
        let mut id = 0u32;
        let mut tokens = 0u64;
        for _ in 0..8 {
            for _ in 0..n {
                let d = random_doc(&mut rng, VOCAB, 200);
                tokens += d.len;
                let never = MergePolicy {
                    mem_pages: 0,
                    ..MergePolicy::default()
                };
                insert_with(&rel, Tid::new(id / 50, (id % 50 + 1) as u16), &d.refs(), d.len, &never).unwrap();
                id += 1;
            }
            // One segment per round.
            merge(
                &rel,
                &MergePolicy {
                    merge_factor: 1000,
                    ..MergePolicy::default()
                },
                true,
            )
            .unwrap();
        }
        assert_eq!(read_meta(&rel).unwrap().segments.len(), 8);
        let pages = rel.nblocks();
        let t = Instant::now();
        let st = force_merge(&rel, 1).unwrap();
        let el = t.elapsed();
        assert_eq!(st.segment_merges, 1);
        println!(
            "8 x {n:>6} docs ({:>9} tokens, ~{} pages): {:>8.1} ms, {:>6.1} M tokens/s, {} pages written",
            tokens,
            pages,
            el.as_secs_f64() * 1e3,
            tokens as f64 / el.as_secs_f64() / 1e6,
            rel.nblocks() - pages
        );
    }
}

#[test]
#[ignore]
fn measure_insert_latency_while_a_memtable_merge_runs() {
    println!("--- the longest insert of a concurrent writer while another backend merges P pages");
    let never = MergePolicy {
        mem_pages: 0,
        ..MergePolicy::default()
    };
    for pages in [64u32, 256, 1024] {
        let mut rng = Rng::new(5);
        let rel = build(20_000, &mut rng, 200);
        let mut id = 20_000u32;
        while read_meta(&rel).unwrap().mem_pages < pages {
            let d = random_doc(&mut rng, VOCAB, 200);
            insert_with(&rel, Tid::new(id / 50, (id % 50 + 1) as u16), &d.refs(), d.len, &never).unwrap();
            id += 1;
        }
        let done = std::sync::atomic::AtomicBool::new(false);
        let (merge_time, (max, n)) = std::thread::scope(|s| {
            let writer = s.spawn(|| {
                let mut rng = Rng::new(77);
                let (mut max, mut n, mut id) = (Duration::ZERO, 0u32, 1_000_000u32);
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let d = random_doc(&mut rng, VOCAB, 200);
                    let t = Instant::now();
                    insert_with(&rel, Tid::new(id / 50, (id % 50 + 1) as u16), &d.refs(), d.len, &never).unwrap();
                    max = max.max(t.elapsed());
                    n += 1;
                    id += 1;
                }
                (max, n)
            });
            std::thread::sleep(Duration::from_millis(20));
            let t = Instant::now();
            let st = merge(&rel, &MergePolicy { mem_pages: pages, ..never }, false).unwrap();
            let el = t.elapsed();
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            assert_eq!(st.memtables, 1);
            (el, writer.join().unwrap())
        });
        println!(
            "P {pages:>4}: merge {:>8.1} ms; the writer inserted {n} documents meanwhile, the longest took {:>7.2} ms",
            merge_time.as_secs_f64() * 1e3,
            max.as_secs_f64() * 1e3
        );
        assert!(check(&rel, true).unwrap().is_clean());
    }
}

fn init(rel: &MemRelation) {
    semvec_bm25index::init_empty(rel);
}
