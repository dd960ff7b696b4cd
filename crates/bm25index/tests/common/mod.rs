//! Random corpora and a brute-force BM25 with the same scoring code.
#![allow(dead_code)]

use semvec_bm25::{idf, Bm25Params};
use semvec_storage::{Rng, Tid};
use std::collections::BTreeMap;

/// A document: its distinct lexemes with term frequencies (sorted), and its length.
#[derive(Clone, Debug)]
pub struct Doc {
    pub terms: Vec<(Vec<u8>, u32)>,
    pub len: u64,
}

impl Doc {
    pub fn refs(&self) -> Vec<(&[u8], u32)> {
        self.terms.iter().map(|(l, tf)| (&l[..], *tf)).collect()
    }
    pub fn tf(&self, lexeme: &[u8]) -> u32 {
        self.terms
            .binary_search_by(|(l, _)| l[..].cmp(lexeme))
            .map_or(0, |i| self.terms[i].1)
    }
}

/// A Zipf-ish term id in 0..vocab (rank ~ vocab * u^skew).
pub fn zipf(rng: &mut Rng, vocab: u64, skew: f64) -> u64 {
    ((vocab as f64 * rng.next_unit().powf(skew)) as u64).min(vocab - 1)
}

pub fn lexeme(id: u64) -> Vec<u8> {
    format!("w{id}").into_bytes()
}

/// A random document of up to `max_tokens` tokens (possibly none); some lexemes "stripped"
/// (tf 1 however often they occur, length counting 1 for them).
pub fn random_doc(rng: &mut Rng, vocab: u64, max_tokens: u64) -> Doc {
    let n = rng.below(max_tokens + 1);
    let mut m: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    for _ in 0..n {
        *m.entry(lexeme(zipf(rng, vocab, 2.5))).or_default() += 1;
    }
    let strip = rng.below(10) == 0;
    let terms: Vec<(Vec<u8>, u32)> = m.into_iter().map(|(l, tf)| (l, if strip { 1 } else { tf.min(255) })).collect();
    let len = terms.iter().map(|(_, tf)| *tf as u64).sum();
    Doc { terms, len }
}

/// Brute-force BM25 top-k over `counted` (the corpus the statistics come from), returning only
/// documents for which `eligible` holds, ties by TID ascending.
pub fn brute_force(
    counted: &BTreeMap<Tid, Doc>,
    query: &[(&[u8], u32)],
    params: Bm25Params,
    k: usize,
    eligible: impl Fn(Tid) -> bool,
) -> Vec<(Tid, f64)> {
    let n = counted.len() as u64;
    let total: u64 = counted.values().map(|d| d.len).sum();
    let avg = if n > 0 { total as f64 / n as f64 } else { 0.0 };
    let weights: Vec<f64> = query
        .iter()
        .map(|(l, c)| {
            let df = if l.is_empty() {
                0
            } else {
                counted.values().filter(|d| d.tf(l) > 0).count() as u64
            };
            *c as f64 * idf(n, df)
        })
        .collect();
    let mut hits: Vec<(Tid, f64)> = counted
        .iter()
        .filter(|(t, _)| eligible(**t))
        .filter_map(|(t, d)| {
            let tfs: Vec<u32> = query.iter().map(|(l, _)| if l.is_empty() { 0 } else { d.tf(l) }).collect();
            tfs.iter()
                .any(|&x| x > 0)
                .then(|| (*t, params.score_frequencies(&tfs, d.len, &weights, avg)))
        })
        .collect();
    hits.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    hits.truncate(k);
    hits
}

/// A random query of 1..=max_terms distinct lexemes with counts 1..=2, sorted like bm25_query's.
pub fn random_query(rng: &mut Rng, vocab: u64, max_terms: u64) -> Vec<(Vec<u8>, u32)> {
    let n = 1 + rng.below(max_terms);
    let mut m: BTreeMap<Vec<u8>, u32> = BTreeMap::new();
    for _ in 0..n {
        // Mix frequent and rare terms, and now and then one absent from the corpus.
        let id = if rng.below(8) == 0 {
            vocab + rng.below(5)
        } else {
            zipf(rng, vocab, 1.5)
        };
        *m.entry(lexeme(id)).or_default() += 1;
    }
    m.into_iter().map(|(l, c)| (l, c.min(2))).collect()
}
