//! In-process timing of the block-max WAND scan, without PostgreSQL: builds an index in a
//! `MemRelation` from exported tsvectors and times `Scan::begin` + `next_batch` per query.
//! A development tool for the search loop (profile it with `perf record`); the figures that count
//! are `benches/bm25.sh`'s, through the server.
//!
//! Input (exported from a `benches/bm25.sh --keep` database, see benches/bm25.md):
//!   docs file:    `(block,offset)<TAB>lexeme:tf lexeme:tf ...` per row
//!     psql -c "\copy (SELECT ctid, (SELECT string_agg(lexeme || ':' || coalesce(array_length(positions, 1), 1), ' ')
//!                FROM unnest(tsv)) FROM docs) TO 'docs.txt'"
//!   queries file: `qid<TAB>lexeme lexeme ...` (the distinct lexemes of the query)
//!     psql -c "\copy (SELECT qid, array_to_string(tsvector_to_array(to_tsvector('english', text)), ' ')
//!                FROM bench_queries ORDER BY qid) TO 'queries.txt'"
//!
//! Usage: cargo run --release -p semvec-bm25index --example wand_bench -- DOCS QUERIES [K] [PASSES]

use semvec_bm25index::{Builder, Scan, SearchStats, Strategy};
use semvec_storage::{MemRelation, RelationRead, Tid};
use std::io::BufRead;
use std::time::Instant;

fn parse_tid(s: &str) -> Tid {
    let s = s.trim_matches(|c| c == '(' || c == ')');
    let (b, o) = s.split_once(',').expect("ctid");
    Tid {
        block: b.parse().unwrap(),
        offset: o.parse().unwrap(),
    }
}

/// A tsvector's text form has quoted lexemes with escapes; the export above writes bare ones,
/// so `lexeme:tf` splits at the last colon.
fn parse_terms(s: &str) -> Vec<(Vec<u8>, u32)> {
    s.split(' ')
        .filter(|t| !t.is_empty())
        .map(|t| {
            let (l, tf) = t.rsplit_once(':').expect("lexeme:tf");
            (l.as_bytes().to_vec(), tf.parse().unwrap())
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let docs = &args[1];
    let queries = &args[2];
    let k: usize = args.get(3).map_or(20, |s| s.parse().unwrap());
    let passes: usize = args.get(4).map_or(3, |s| s.parse().unwrap());

    let rel = MemRelation::new();
    let t = Instant::now();
    let mut b = Builder::new(&rel, 1 << 30);
    let mut rows = 0u64;
    for line in std::io::BufReader::new(std::fs::File::open(docs).unwrap()).lines() {
        let line = line.unwrap();
        let (tid, terms) = line.split_once('\t').unwrap_or((&line, ""));
        let terms = if terms == "\\N" { Vec::new() } else { parse_terms(terms) };
        let len: u64 = terms.iter().map(|t| t.1 as u64).sum();
        let refs: Vec<(&[u8], u32)> = terms.iter().map(|(l, tf)| (&l[..], *tf)).collect();
        b.add(parse_tid(tid), &refs, len).unwrap();
        rows += 1;
    }
    let st = b.finish();
    eprintln!(
        "built {rows} rows, {} segments, {} blocks in {:.1} s",
        st.segments,
        rel.nblocks(),
        t.elapsed().as_secs_f64()
    );

    let mut qs: Vec<Vec<Vec<u8>>> = Vec::new();
    for line in std::io::BufReader::new(std::fs::File::open(queries).unwrap()).lines() {
        let line = line.unwrap();
        let (_, lex) = line.split_once('\t').unwrap();
        qs.push(lex.split(' ').filter(|l| !l.is_empty()).map(|l| l.as_bytes().to_vec()).collect());
    }
    let params = semvec_bm25index::Bm25Params::default();
    let mut total = SearchStats::default();
    // Per query, the fastest of the passes (the machine's noise is all upward).
    let mut times = vec![f64::INFINITY; qs.len()];
    let mut checksum = 0.0;
    let mut begin_ms = 0.0;
    for pass in 0..passes {
        for (qi, q) in qs.iter().enumerate() {
            let terms: Vec<(&[u8], u32)> = q.iter().map(|l| (&l[..], 1)).collect();
            let t = Instant::now();
            let mut s = Scan::begin(&rel, &terms, params).unwrap();
            begin_ms += t.elapsed().as_secs_f64() * 1e3;
            let hits = s.next_batch(&rel, k, Strategy::BlockMaxWand).unwrap();
            let dt = t.elapsed().as_secs_f64() * 1e3;
            checksum += hits.iter().map(|h| h.score).sum::<f64>();
            times[qi] = times[qi].min(dt);
            if pass == passes - 1 {
                let x = s.stats;
                total.postings_total += x.postings_total;
                total.postings_decoded += x.postings_decoded;
                total.docs_scored += x.docs_scored;
                total.blocks_skipped += x.blocks_skipped;
                total.pages_read += x.pages_read;
            }
        }
    }
    times.sort_by(f64::total_cmp);
    let n = times.len();
    let pct = |p: f64| times[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
    println!(
        "k {k}: {n} queries  p50 {:.3} ms  p95 {:.3} ms  mean {:.3} ms | per query: postings {} decoded {} scored {} blocks skipped {} pages {} | Scan::begin mean {:.3} ms | checksum {checksum:.6}",
        pct(0.5),
        pct(0.95),
        times.iter().sum::<f64>() / n as f64,
        total.postings_total / n as u64,
        total.postings_decoded / n as u64,
        total.docs_scored / n as u64,
        total.blocks_skipped / n as u64,
        total.pages_read / n as u64,
        begin_ms / (n * passes) as f64,
    );
}
