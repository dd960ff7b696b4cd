//! `cargo test -p semvec-bm25index --test measure -- --ignored --nocapture`: postings decoded,
//! documents scored and time per query for 100k synthetic documents, block-max WAND against the
//! exhaustive scan (which scores every matching document, as today's bm25_search does).

mod common;

use common::{lexeme, random_doc};
use semvec_bm25::Bm25Params;
use semvec_bm25index::{Builder, Scan, SearchStats, Strategy};
use semvec_storage::{MemRelation, RelationRead, Rng, Tid};
use std::time::{Duration, Instant};

#[test]
#[ignore]
fn measure_wand_against_exhaustive_on_100k_documents() {
    let mut rng = Rng::new(7);
    let vocab = 50_000;
    let rel = MemRelation::new();
    let t0 = Instant::now();
    let mut b = Builder::new(&rel, 64 << 20);
    let mut postings = 0u64;
    for i in 0..100_000u32 {
        let d = random_doc(&mut rng, vocab, 200);
        postings += d.terms.len() as u64;
        b.add(Tid::new(i / 50, (i % 50 + 1) as u16), &d.refs(), d.len).unwrap();
    }
    let bs = b.finish();
    println!(
        "build: {:?} for {} docs, {postings} postings, {} segments, {} pages",
        t0.elapsed(),
        bs.docs,
        bs.segments,
        rel.nblocks()
    );
    let params = Bm25Params::default();
    // Query shapes: (terms, Zipf skew of the query terms: higher = more frequent terms).
    for (name, n_terms, skew) in [
        ("2 frequent", 2, 4.0),
        ("3 mixed", 3, 2.0),
        ("5 mixed", 5, 2.0),
        ("1 rare + 2 frequent", 3, 0.0),
        ("8 mixed", 8, 2.5),
    ] {
        for k in [10, 100] {
            let mut agg = [(SearchStats::default(), Duration::ZERO); 2];
            let n_queries = 50;
            for _ in 0..n_queries {
                let mut q: Vec<Vec<u8>> = (0..n_terms)
                    .map(|j| {
                        let s = if skew == 0.0 && j > 0 {
                            4.0
                        } else if skew == 0.0 {
                            0.7
                        } else {
                            skew
                        };
                        lexeme(common::zipf(&mut rng, vocab, s))
                    })
                    .collect();
                q.sort();
                q.dedup();
                let qr: Vec<(&[u8], u32)> = q.iter().map(|l| (&l[..], 1)).collect();
                let mut results = Vec::new();
                for (i, strategy) in [Strategy::BlockMaxWand, Strategy::Exhaustive].into_iter().enumerate() {
                    let t = Instant::now();
                    let mut scan = Scan::begin(&rel, &qr, params).unwrap();
                    let hits = scan.next_batch(&rel, k, strategy).unwrap();
                    agg[i].1 += t.elapsed();
                    let s = scan.stats;
                    agg[i].0.postings_total += s.postings_total;
                    agg[i].0.postings_decoded += s.postings_decoded;
                    agg[i].0.docs_scored += s.docs_scored;
                    agg[i].0.blocks_skipped += s.blocks_skipped;
                    agg[i].0.pages_read += s.pages_read;
                    results.push(hits);
                }
                assert_eq!(results[0], results[1]);
            }
            for (i, label) in ["wand", "exhaustive"].iter().enumerate() {
                let (s, t) = agg[i];
                println!(
                    "{name:>20} k={k:<3} {label:>10}: {:>9.0} postings/query, {:>8.0} decoded ({:>5.1}%), {:>8.0} scored, {:>6.0} blocks skipped, {:>5.0} pages, {:>8.1} us/query",
                    s.postings_total as f64 / n_queries as f64,
                    s.postings_decoded as f64 / n_queries as f64,
                    100.0 * s.postings_decoded as f64 / s.postings_total.max(1) as f64,
                    s.docs_scored as f64 / n_queries as f64,
                    s.blocks_skipped as f64 / n_queries as f64,
                    s.pages_read as f64 / n_queries as f64,
                    t.as_secs_f64() * 1e6 / n_queries as f64
                );
            }
        }
    }
}
