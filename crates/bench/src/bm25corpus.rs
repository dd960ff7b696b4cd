//! BM25 benchmark corpora grown from Debian's English package descriptions (issue 14).
//!
//! `semvec-bench bm25-corpus --docs 64000,256000,1000000` writes, under `<cache>/bm25/`:
//!
//! - `corpus-<N>.copy`: N documents as `COPY docs (id, body) FROM ...` text format (`id<TAB>body`,
//!   newlines escaped). Every corpus is a prefix of one deterministic stream: ids 1..R are the real
//!   descriptions (all but a held-out 1%, in a fixed shuffled order), the rest are generated.
//! - `inserts-<N>.copy`: the next `--inserts` documents of the stream (ids N+1..), for the insert
//!   throughput figure of a table holding `corpus-<N>`.
//! - `sources.copy`: `id<TAB>source<TAB>kind` for every document written: the index (in
//!   `descriptions.tsv` order) of the real description a document was derived from, `real` or `gen`;
//!   the vector stand-in of the benchmark gives a document its source's embedding plus noise.
//! - `queries.tsv`: `qid<TAB>kind<TAB>package<TAB>synopsis`, the query set: 200 real synopses, half
//!   of packages held out of every corpus (never a source of any text), half of packages whose real
//!   description is in every corpus.
//! - `stats.md`: the term statistics of the real set and of each corpus (vocabulary growth against
//!   Heaps' law, document lengths, document frequencies, query candidate counts).
//!
//! How a document is generated (see benches/bm25.md for why the statistics stay realistic):
//! pick a base package P uniformly among the real ones; a target length L (whitespace words) drawn
//! from the real documents' length distribution; the document is P's synopsis, then P's own
//! sentences in order (each kept with probability 0.8), then sentences drawn half from P's
//! neighbours in package-name order (the same family: `libfoo-dev`, `libfoo-doc`, ...) and half
//! from all sentence occurrences of the real corpus (so boilerplate is reused as often as it is in
//! Debian: Zipf-like), until L words. 3% of the words of four or more letters are replaced by a word
//! drawn from the real token stream (by frequency). New vocabulary: the real corpus' vocabulary
//! growth is fitted to Heaps' law V(n) = K n^β, and whenever the stream's vocabulary falls behind
//! V(R) (n/R)^β a new word is made (a splice of two real words) and placed in the document; it
//! belongs to P's "family" and is reused by later documents of the same base with probability
//! 0.35 each, so new words get a realistic df spread rather than all being hapaxes.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::datasets::{self, copy_text, Description};

/// Bumped whenever the stream changes; part of the manifest that decides whether a cache is reused.
pub const FORMAT: &str = "bm25-corpus v2";
const SEED: u64 = 0xB325_0014_5EED;
/// One real package in this many is held out of every corpus (its synopsis can be a query).
const HELD_OUT_EVERY: usize = 100;
const KEEP_OWN_SENTENCE: f64 = 0.8;
const NEIGHBOUR_SENTENCE: f64 = 0.5;
const NEIGHBOUR_WINDOW: usize = 8;
const SUBSTITUTE_WORD: f64 = 0.03;
/// A new word's document frequency is drawn from Zipf's frequency spectrum P(df = k) ∝ k^-(1+β)
/// (β: the fitted Heaps exponent), up to this; it then comes back in that many documents of its base.
const MAX_NEW_WORD_DF: usize = 64;
const SENTENCES_PER_PARAGRAPH: usize = 4;

/// splitmix64: small, fast and the same on every machine.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 11) as u128 * n as u128) >> 53) as usize
    }
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// FNV-1a, for the vocabulary tables (token -> statistics) without keeping the strings.
pub fn fnv(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.as_bytes() {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The statistics' tokenizer: lowercased runs of letters and digits, minus PostgreSQL's English
/// stop words, plus each compound (hyphenated word, URL, path, version) as a whole, as PostgreSQL's
/// parser makes them. It approximates `to_tsvector('english', ...)` without stemming; the benchmark
/// checks the lexeme counts in the database (`ts_stat`) as well.
pub struct Tokenizer {
    stop: HashSet<String>,
}

impl Tokenizer {
    pub fn new() -> Self {
        let stop = std::fs::read_to_string("/usr/share/postgresql/15/tsearch_data/english.stop")
            .map(|s| s.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect())
            .unwrap_or_else(|_| {
                "a an and are as at be but by for if in into is it no not of on or such that the their \
                 then there these they this to was will with"
                    .split(' ')
                    .map(String::from)
                    .collect()
            });
        Tokenizer { stop }
    }

    pub fn tokens(&self, text: &str, out: &mut Vec<String>) {
        out.clear();
        for chunk in text.split_whitespace() {
            // Like PostgreSQL's parser, a compound (hyphenated word, URL, path, version, e-mail:
            // letters/digits joined by - . / : _ @) is a token of its own besides its parts.
            let c = chunk.trim_matches(|c: char| !c.is_alphanumeric());
            if c.contains(['-', '.', '/', ':', '_', '@']) && c.split(|c: char| !c.is_alphanumeric()).filter(|p| !p.is_empty()).count() > 1 {
                out.push(c.to_lowercase());
            }
            for t in c.split(|c: char| !c.is_alphanumeric()) {
                if t.is_empty() {
                    continue;
                }
                let t = t.to_lowercase();
                if !self.stop.contains(&t) {
                    out.push(t);
                }
            }
        }
    }
}

impl Default for Tokenizer {
    fn default() -> Self {
        Self::new()
    }
}

fn split_sentences(paragraph: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut start = 0;
    let b = paragraph.as_bytes();
    let mut i = 0;
    while i + 2 < b.len() {
        if matches!(b[i], b'.' | b'!' | b'?') && b[i + 1] == b' ' {
            let n = b[i + 2];
            if n.is_ascii_uppercase() || n == b'*' || n.is_ascii_digit() {
                out.push(paragraph[start..=i].trim().to_string());
                start = i + 2;
            }
        }
        i += 1;
    }
    let rest = paragraph[start..].trim();
    if !rest.is_empty() {
        out.push(rest.to_string());
    }
    out
}

fn word_count(s: &str) -> usize {
    s.split_whitespace().count()
}

/// A word that may be substituted: letters only (after trimming punctuation), four or more.
fn core_of(chunk: &str) -> Option<(usize, usize)> {
    let start = chunk.find(|c: char| c.is_alphanumeric())?;
    let (last, ch) = chunk.char_indices().rev().find(|(_, c)| c.is_alphanumeric())?;
    let end = last + ch.len_utf8();
    let core = &chunk[start..end];
    (core.chars().count() >= 4 && core.chars().all(|c| c.is_ascii_alphabetic())).then_some((start, end))
}

fn replace_core(chunk: &str, word: &str) -> String {
    match core_of(chunk) {
        Some((s, e)) => format!("{}{}{}", &chunk[..s], word, &chunk[e..]),
        None => word.to_string(),
    }
}

/// The real corpus cut into what the generator recombines.
pub struct Real {
    pub docs: Vec<Description>,
    synopsis: Vec<String>,
    /// Per description, its sentences (ids into `sentence`), in order.
    sentences: Vec<Vec<u32>>,
    sentence: Vec<String>,
    sentence_words: Vec<u32>,
    /// Real descriptions in the stream's order (all but the held-out ones).
    pub in_corpus: Vec<usize>,
    pub held_out: Vec<usize>,
    /// Every sentence occurrence of the in-corpus descriptions (sampling it reuses a sentence as
    /// often as Debian does).
    sentence_pool: Vec<u32>,
    /// Every substitutable word occurrence of the in-corpus descriptions.
    word_pool: Vec<String>,
    /// Whitespace word counts of the in-corpus descriptions.
    lengths: Vec<u32>,
    /// In-corpus descriptions sorted by package name, and each one's position there.
    by_name: Vec<usize>,
    name_pos: HashMap<usize, usize>,
}

impl Real {
    pub fn new(docs: Vec<Description>) -> Result<Self> {
        if docs.len() < 1000 {
            bail!("only {} Debian descriptions: expected ~64,000", docs.len());
        }
        let mut ids: HashMap<String, u32> = HashMap::new();
        let mut sentence = Vec::new();
        let mut sentence_words = Vec::new();
        let mut synopsis = Vec::with_capacity(docs.len());
        let mut sentences = Vec::with_capacity(docs.len());
        for d in &docs {
            let mut lines = d.text.split('\n');
            synopsis.push(lines.next().unwrap_or("").trim().to_string());
            let mut own = Vec::new();
            for para in lines {
                for s in split_sentences(para) {
                    let id = *ids.entry(s.clone()).or_insert_with(|| {
                        sentence_words.push(word_count(&s) as u32);
                        sentence.push(s);
                        (sentence.len() - 1) as u32
                    });
                    own.push(id);
                }
            }
            sentences.push(own);
        }
        let order = datasets::shuffled(docs.len(), SEED);
        let n_held = docs.len() / HELD_OUT_EVERY;
        let held_out = order[..n_held].to_vec();
        let in_corpus = order[n_held..].to_vec();
        let mut sentence_pool = Vec::new();
        let mut word_pool = Vec::new();
        let mut lengths = Vec::with_capacity(in_corpus.len());
        for &i in &in_corpus {
            sentence_pool.extend_from_slice(&sentences[i]);
            lengths.push(word_count(&docs[i].text) as u32);
            for chunk in docs[i].text.split_whitespace() {
                if let Some((s, e)) = core_of(chunk) {
                    word_pool.push(chunk[s..e].to_string());
                }
            }
        }
        let mut by_name = in_corpus.clone();
        by_name.sort_by(|a, b| docs[*a].package.cmp(&docs[*b].package));
        let name_pos = by_name.iter().enumerate().map(|(p, &i)| (i, p)).collect();
        Ok(Real {
            docs,
            synopsis,
            sentences,
            sentence,
            sentence_words,
            in_corpus,
            held_out,
            sentence_pool,
            word_pool,
            lengths,
            by_name,
            name_pos,
        })
    }

    /// 200 (or `n`) queries: real synopses, alternately of held-out packages and of packages whose
    /// real description is in every corpus; duplicates and synopses without a searchable word skipped.
    pub fn queries(&self, n: usize, tok: &Tokenizer) -> Vec<(String, String, String)> {
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        let mut toks = Vec::new();
        let held = datasets::shuffled(self.held_out.len(), SEED ^ 1);
        let inc = datasets::shuffled(self.in_corpus.len(), SEED ^ 2);
        let (mut hi, mut ii) = (0, 0);
        while out.len() < n && (hi < held.len() || ii < inc.len()) {
            let want_held = out.len() % 2 == 0;
            let pick = if (want_held && hi < held.len()) || ii >= inc.len() {
                hi += 1;
                ("held-out", self.held_out[held[hi - 1]])
            } else {
                ii += 1;
                ("in-corpus", self.in_corpus[inc[ii - 1]])
            };
            let text = self.synopsis[pick.1].clone();
            tok.tokens(&text, &mut toks);
            if toks.is_empty() || !seen.insert(text.to_lowercase()) {
                continue;
            }
            out.push((pick.0.to_string(), self.docs[pick.1].package.clone(), text));
        }
        out
    }
}

/// Running term statistics of a growing corpus.
struct Stats {
    /// token hash -> document frequency
    df: HashMap<u64, u32>,
    lengths: Vec<u32>,
    tokens: u64,
    /// Query token hash -> queries containing it; per query, the documents matching any token.
    query_terms: HashMap<u64, Vec<u16>>,
    candidates: Vec<u64>,
    seen_query: Vec<u32>,
}

impl Stats {
    fn new(queries: &[Vec<String>]) -> Self {
        let mut query_terms: HashMap<u64, Vec<u16>> = HashMap::new();
        for (q, toks) in queries.iter().enumerate() {
            for t in toks {
                let e = query_terms.entry(fnv(t)).or_default();
                if !e.contains(&(q as u16)) {
                    e.push(q as u16);
                }
            }
        }
        Stats {
            df: HashMap::new(),
            lengths: Vec::new(),
            tokens: 0,
            query_terms,
            candidates: vec![0; queries.len()],
            seen_query: vec![u32::MAX; queries.len()],
        }
    }

    fn vocabulary(&self) -> usize {
        self.df.len()
    }

    /// Adds one document's tokens; returns how many types were new.
    fn add(&mut self, toks: &[String]) -> usize {
        let doc = self.lengths.len() as u32;
        self.lengths.push(toks.len() as u32);
        self.tokens += toks.len() as u64;
        let mut distinct: Vec<u64> = toks.iter().map(|t| fnv(t)).collect();
        distinct.sort_unstable();
        distinct.dedup();
        let mut new = 0;
        for h in distinct {
            let e = self.df.entry(h).or_insert(0);
            if *e == 0 {
                new += 1;
            }
            *e += 1;
            if let Some(qs) = self.query_terms.get(&h) {
                for &q in qs {
                    if self.seen_query[q as usize] != doc {
                        self.seen_query[q as usize] = doc;
                        self.candidates[q as usize] += 1;
                    }
                }
            }
        }
        new
    }

    fn contains(&self, token: &str) -> bool {
        self.df.contains_key(&fnv(token))
    }
}

/// A snapshot of the statistics at one corpus size.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub label: String,
    pub n: usize,
    pub vocabulary: usize,
    pub tokens: u64,
    /// Length percentiles (tokens) of all documents, and of the generated ones only.
    pub len_all: [f64; 6],
    pub len_generated: Option<[f64; 6]>,
    /// Fractions of the vocabulary with df 1, 2, 3-9, 10-99, 100-999, >= 1000.
    pub df_hist: [f64; 6],
    /// df / N of the terms at df rank 1, 10, 100, 1000, 10000.
    pub top_df: [f64; 5],
    /// Query candidates (documents matching any query token) / N: mean, median, p90.
    pub candidates: [f64; 3],
}

fn percentiles(v: &[u32]) -> [f64; 6] {
    if v.is_empty() {
        return [0.0; 6];
    }
    let mut s = v.to_vec();
    s.sort_unstable();
    let p = |q: f64| s[((s.len() - 1) as f64 * q).round() as usize] as f64;
    let mean = s.iter().map(|&x| x as f64).sum::<f64>() / s.len() as f64;
    [p(0.1), p(0.5), p(0.9), p(0.99), s[s.len() - 1] as f64, mean]
}

impl Stats {
    fn snapshot(&self, label: &str, generated_from: Option<usize>) -> Snapshot {
        let n = self.lengths.len();
        let mut dfs: Vec<u32> = self.df.values().copied().collect();
        let v = dfs.len().max(1) as f64;
        let mut hist = [0.0; 6];
        for &d in &dfs {
            let b = match d {
                1 => 0,
                2 => 1,
                3..=9 => 2,
                10..=99 => 3,
                100..=999 => 4,
                _ => 5,
            };
            hist[b] += 1.0 / v;
        }
        dfs.sort_unstable_by(|a, b| b.cmp(a));
        let mut top = [0.0; 5];
        for (i, r) in [1usize, 10, 100, 1000, 10000].iter().enumerate() {
            top[i] = dfs.get(r - 1).map_or(0.0, |&d| d as f64 / n as f64);
        }
        let mut c: Vec<f64> = self.candidates.iter().map(|&x| x as f64 / n as f64).collect();
        c.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let cand = if c.is_empty() {
            [0.0; 3]
        } else {
            [
                c.iter().sum::<f64>() / c.len() as f64,
                c[(c.len() - 1) / 2],
                c[((c.len() - 1) as f64 * 0.9).round() as usize],
            ]
        };
        Snapshot {
            label: label.to_string(),
            n,
            vocabulary: self.df.len(),
            tokens: self.tokens,
            len_all: percentiles(&self.lengths),
            len_generated: generated_from.filter(|&g| g < n).map(|g| percentiles(&self.lengths[g..])),
            df_hist: hist,
            top_df: top,
            candidates: cand,
        }
    }
}

/// Heaps' law fit V(n) = K n^beta by least squares in log-log space.
#[derive(Clone, Copy, Debug)]
pub struct Heaps {
    pub k: f64,
    pub beta: f64,
}

impl Heaps {
    pub fn fit(points: &[(usize, usize)]) -> Heaps {
        let xs: Vec<f64> = points.iter().map(|p| (p.0 as f64).ln()).collect();
        let ys: Vec<f64> = points.iter().map(|p| (p.1 as f64).ln()).collect();
        let n = xs.len() as f64;
        let mx = xs.iter().sum::<f64>() / n;
        let my = ys.iter().sum::<f64>() / n;
        let sxy: f64 = xs.iter().zip(&ys).map(|(x, y)| (x - mx) * (y - my)).sum();
        let sxx: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
        let beta = sxy / sxx;
        Heaps {
            k: (my - beta * mx).exp(),
            beta,
        }
    }
    pub fn at(&self, n: usize) -> f64 {
        self.k * (n as f64).powf(self.beta)
    }
}

/// One generated document before it is written: synopsis and body as whitespace chunks.
struct Draft {
    synopsis: Vec<String>,
    sentences: Vec<Vec<String>>,
}

impl Draft {
    fn text(&self) -> String {
        let mut t = self.synopsis.join(" ");
        for (i, s) in self.sentences.iter().enumerate() {
            t.push(if i % SENTENCES_PER_PARAGRAPH == 0 { '\n' } else { ' ' });
            t.push_str(&s.join(" "));
        }
        t
    }
    /// (sentence, chunk) of every substitutable chunk of the body (sentence usize::MAX: synopsis).
    fn slots(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        for (j, c) in self.synopsis.iter().enumerate() {
            if core_of(c).is_some() {
                out.push((usize::MAX, j));
            }
        }
        for (i, s) in self.sentences.iter().enumerate() {
            for (j, c) in s.iter().enumerate() {
                if core_of(c).is_some() {
                    out.push((i, j));
                }
            }
        }
        out
    }
    fn chunk_mut(&mut self, slot: (usize, usize)) -> &mut String {
        if slot.0 == usize::MAX {
            &mut self.synopsis[slot.1]
        } else {
            &mut self.sentences[slot.0][slot.1]
        }
    }
}

fn chunks(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

/// The generator: the real documents first, then generated ones, one at a time.
pub struct Generator<'a> {
    real: &'a Real,
    rng: Rng,
    heaps: Option<Heaps>,
    v_real: usize,
    /// New words made so far, and per base package the ones it owns.
    family_words: HashMap<usize, Vec<(String, u32)>>,
    pub new_words: usize,
    df_cdf: Vec<f64>,
}

impl<'a> Generator<'a> {
    pub fn new(real: &'a Real) -> Self {
        Generator {
            real,
            rng: Rng::new(SEED ^ 0xD0C5),
            heaps: None,
            v_real: 0,
            family_words: HashMap::new(),
            new_words: 0,
            df_cdf: Vec::new(),
        }
    }

    fn sentence_chunks(&self, id: u32) -> Vec<String> {
        chunks(&self.real.sentence[id as usize])
    }

    fn draft(&mut self, base: usize) -> Draft {
        let r = self.real;
        let target = r.lengths[self.rng.below(r.lengths.len())] as usize;
        let mut d = Draft {
            synopsis: chunks(&r.synopsis[base]),
            sentences: Vec::new(),
        };
        let mut words = d.synopsis.len();
        for &s in &r.sentences[base] {
            // add a sentence only while it brings the length closer to the target
            if words + r.sentence_words[s as usize] as usize / 2 >= target {
                break;
            }
            if self.rng.chance(KEEP_OWN_SENTENCE) {
                d.sentences.push(self.sentence_chunks(s));
                words += r.sentence_words[s as usize] as usize;
            }
        }
        let pos = r.name_pos[&base];
        let mut guard = 0;
        while guard < 1000 {
            guard += 1;
            let mut pick = None;
            if self.rng.chance(NEIGHBOUR_SENTENCE) {
                let off = 1 + self.rng.below(NEIGHBOUR_WINDOW);
                let q = if self.rng.chance(0.5) {
                    pos.saturating_sub(off)
                } else {
                    (pos + off).min(r.by_name.len() - 1)
                };
                let own = &r.sentences[r.by_name[q]];
                if !own.is_empty() {
                    pick = Some(own[self.rng.below(own.len())]);
                }
            }
            let s = pick.unwrap_or_else(|| r.sentence_pool[self.rng.below(r.sentence_pool.len())]);
            if words + r.sentence_words[s as usize] as usize / 2 >= target {
                break;
            }
            d.sentences.push(self.sentence_chunks(s));
            words += r.sentence_words[s as usize] as usize;
        }
        // Substitutions from the real token stream.
        for slot in d.slots() {
            if self.rng.chance(SUBSTITUTE_WORD) {
                let w = &r.word_pool[self.rng.below(r.word_pool.len())];
                let c = d.chunk_mut(slot);
                *c = replace_core(c, w);
            }
        }
        // The base's family words come back.
        if let Some(mut words) = self.family_words.remove(&base) {
            let slots = d.slots();
            for (w, left) in words.iter_mut() {
                if !slots.is_empty() {
                    let slot = slots[self.rng.below(slots.len())];
                    let c = d.chunk_mut(slot);
                    *c = replace_core(c, w);
                }
                *left -= 1;
            }
            words.retain(|(_, left)| *left > 0);
            if !words.is_empty() {
                self.family_words.insert(base, words);
            }
        }
        d
    }

    /// A document frequency for a new word from the spectrum P(k) ∝ k^-(1+β), 1..=MAX_NEW_WORD_DF.
    fn target_df(&mut self) -> u32 {
        if self.df_cdf.is_empty() {
            let beta = self.heaps.map_or(0.5, |h| h.beta);
            let w: Vec<f64> = (1..=MAX_NEW_WORD_DF).map(|k| (k as f64).powf(-(1.0 + beta))).collect();
            let total: f64 = w.iter().sum();
            let mut acc = 0.0;
            self.df_cdf = w
                .iter()
                .map(|x| {
                    acc += x / total;
                    acc
                })
                .collect();
        }
        let u = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        (self.df_cdf.iter().position(|&c| u < c).unwrap_or(MAX_NEW_WORD_DF - 1) + 1) as u32
    }

    fn new_word(&mut self, stats: &Stats) -> String {
        let r = self.real;
        loop {
            let a = r.word_pool[self.rng.below(r.word_pool.len())].to_lowercase();
            let b = r.word_pool[self.rng.below(r.word_pool.len())].to_lowercase();
            let w = format!("{}{}", &a[..a.len().div_ceil(2)], &b[b.len() / 2..]);
            if w.len() >= 5 && !stats.contains(&w) {
                return w;
            }
        }
    }
}

/// What one call produced.
pub struct Output {
    pub dir: PathBuf,
    pub snapshots: Vec<Snapshot>,
    pub heaps: Heaps,
    pub report: String,
    pub cached: bool,
}

fn manifest(sizes: &[usize], inserts: usize, n_queries: usize, real: usize) -> String {
    format!(
        "{FORMAT}\nseed {SEED:#x}\nreal descriptions {real}\nsizes {}\ninserts {inserts}\nqueries {n_queries}\n",
        sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",")
    )
}

pub fn bm25_dir(cache: &Path) -> PathBuf {
    cache.join("bm25")
}

/// Makes (or finds cached) the corpora of `sizes`, their insert sets, the query set and the
/// statistics report.
pub fn generate(cache: &Path, sizes: &[usize], inserts: usize, n_queries: usize, force: bool) -> Result<Output> {
    let dir = bm25_dir(cache);
    std::fs::create_dir_all(&dir)?;
    let mut sizes = sizes.to_vec();
    sizes.sort_unstable();
    sizes.dedup();
    let t0 = std::time::Instant::now();
    // The real descriptions, as the Debian vector data set reads them (same order: the embeddings
    // of `semvec-bench embed-debian` line up with `sources.copy`).
    datasets::prepare(cache, datasets::DatasetName::Debian).ok();
    let tsv = datasets::dataset_dir(cache, datasets::DatasetName::Debian).join("descriptions.tsv");
    let docs = datasets::read_descriptions(&tsv)
        .with_context(|| format!("{} (needs `apt-get update -o Acquire::Languages=en`)", tsv.display()))?;
    let man = manifest(&sizes, inserts, n_queries, docs.len());
    let manifest_path = dir.join("manifest.txt");
    let have_all = sizes
        .iter()
        .all(|n| dir.join(format!("corpus-{n}.copy")).exists() && dir.join(format!("inserts-{n}.copy")).exists())
        && dir.join("queries.tsv").exists()
        && dir.join("stats.md").exists()
        && std::fs::read_to_string(&manifest_path)
            .is_ok_and(|m| m.starts_with(&format!("{FORMAT}\n")) && covers(&m, &sizes, inserts, n_queries));
    if have_all && !force {
        let report = std::fs::read_to_string(dir.join("stats.md"))?;
        return Ok(Output {
            dir,
            snapshots: Vec::new(),
            heaps: Heaps { k: 0.0, beta: 0.0 },
            report,
            cached: true,
        });
    }
    let _ = std::fs::remove_file(&manifest_path);
    let real = Real::new(docs)?;
    let tok = Tokenizer::new();
    let queries = real.queries(n_queries, &tok);
    {
        let mut w = BufWriter::new(std::fs::File::create(dir.join("queries.tsv"))?);
        for (i, (kind, package, text)) in queries.iter().enumerate() {
            writeln!(w, "{}\t{kind}\t{package}\t{}", i + 1, text.replace(['\t', '\n'], " "))?;
        }
        w.flush()?;
    }
    let query_tokens: Vec<Vec<String>> = queries
        .iter()
        .map(|q| {
            let mut t = Vec::new();
            tok.tokens(&q.2, &mut t);
            t
        })
        .collect();
    let max = *sizes.last().context("no sizes")?;
    let total = max + inserts;
    let mut corpus_w: Vec<(usize, BufWriter<std::fs::File>)> = sizes
        .iter()
        .map(|&n| {
            Ok((
                n,
                BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join(format!("corpus-{n}.copy")))?),
            ))
        })
        .collect::<Result<_>>()?;
    let mut insert_w: Vec<(usize, BufWriter<std::fs::File>)> = sizes
        .iter()
        .map(|&n| Ok((n, BufWriter::new(std::fs::File::create(dir.join(format!("inserts-{n}.copy")))?))))
        .collect::<Result<_>>()?;
    let mut sources = BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join("sources.copy"))?);

    let mut stats = Stats::new(&query_tokens);
    let mut gen = Generator::new(&real);
    let r = real.in_corpus.len();
    let mut curve: Vec<(usize, usize)> = Vec::new();
    let mut snapshots = Vec::new();
    let mut toks = Vec::new();
    let mut next_checkpoint = 1000usize;
    for i in 0..total {
        let id = i + 1;
        let (text, source, kind) = if i < r {
            let src = real.in_corpus[i];
            tok.tokens(&real.docs[src].text, &mut toks);
            stats.add(&toks);
            (real.docs[src].text.clone(), src, "real")
        } else {
            if gen.heaps.is_none() {
                let h = Heaps::fit(&curve.iter().copied().filter(|p| p.0 >= 2000).collect::<Vec<_>>());
                gen.heaps = Some(h);
                gen.v_real = stats.vocabulary();
            }
            let base = real.in_corpus[gen.rng.below(r)];
            let mut d = gen.draft(base);
            let h = gen.heaps.unwrap();
            let target = gen.v_real as f64 * ((id as f64) / r as f64).powf(h.beta);
            tok.tokens(&d.text(), &mut toks);
            let mut distinct: HashSet<&String> = HashSet::new();
            let fresh = toks.iter().filter(|t| !stats.contains(t) && distinct.insert(t)).count();
            let deficit = target - (stats.vocabulary() + fresh) as f64;
            let make = if deficit >= 1.0 { (deficit as usize).min(16) } else { 0 };
            if make > 0 {
                let mut slots = d.slots();
                for _ in 0..make {
                    let w = gen.new_word(&stats);
                    if slots.is_empty() {
                        d.sentences.push(vec![w.clone()]);
                    } else {
                        let k = gen.rng.below(slots.len());
                        let slot = slots.swap_remove(k);
                        let c = d.chunk_mut(slot);
                        *c = replace_core(c, &w);
                    }
                    let df = gen.target_df();
                    if df > 1 {
                        gen.family_words.entry(base).or_default().push((w, df - 1));
                    }
                    gen.new_words += 1;
                }
                tok.tokens(&d.text(), &mut toks);
            }
            stats.add(&toks);
            (d.text(), base, "gen")
        };
        if id == next_checkpoint || id == r || (id > r && sizes.contains(&id)) {
            curve.push((id, stats.vocabulary()));
            if id == next_checkpoint {
                next_checkpoint *= 2;
            }
        }
        let line = format!("{id}\t{}\n", copy_text(&text));
        for (n, w) in corpus_w.iter_mut() {
            if id <= *n {
                w.write_all(line.as_bytes())?;
            }
        }
        for (n, w) in insert_w.iter_mut() {
            if id > *n && id <= *n + inserts {
                w.write_all(line.as_bytes())?;
            }
        }
        writeln!(sources, "{id}\t{source}\t{kind}")?;
        if id == r / 4 || id == r / 2 {
            snapshots.push(stats.snapshot(&format!("real, first {id}"), None));
        }
        if id == r {
            snapshots.push(stats.snapshot(&format!("real ({r} in-corpus descriptions)"), None));
        }
        if sizes.contains(&id) {
            snapshots.push(stats.snapshot(&format!("corpus {}", human(id)), Some(r)));
        }
    }
    for (_, w) in corpus_w.iter_mut().chain(insert_w.iter_mut()) {
        w.flush()?;
    }
    sources.flush()?;
    let heaps = gen
        .heaps
        .unwrap_or_else(|| Heaps::fit(&curve.iter().copied().filter(|p| p.0 >= 2000).collect::<Vec<_>>()));
    let report = report(
        &real,
        &snapshots,
        heaps,
        &curve,
        r,
        gen.new_words,
        &queries,
        t0.elapsed().as_secs_f64(),
        &sizes,
        inserts,
    );
    std::fs::write(dir.join("stats.md"), &report)?;
    std::fs::write(&manifest_path, &man)?;
    Ok(Output {
        dir,
        snapshots,
        heaps,
        report,
        cached: false,
    })
}

fn covers(manifest: &str, sizes: &[usize], inserts: usize, n_queries: usize) -> bool {
    let field = |k: &str| manifest.lines().find_map(|l| l.strip_prefix(k)).map(str::trim).unwrap_or("");
    let have: HashSet<usize> = field("sizes ").split(',').filter_map(|s| s.parse().ok()).collect();
    sizes.iter().all(|s| have.contains(s)) && field("inserts ") == inserts.to_string() && field("queries ") == n_queries.to_string()
}

pub fn human(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}M", n / 1_000_000)
    } else if n >= 1000 && n.is_multiple_of(1000) {
        format!("{}k", n / 1000)
    } else {
        n.to_string()
    }
}

#[allow(clippy::too_many_arguments)]
fn report(
    real: &Real,
    snaps: &[Snapshot],
    heaps: Heaps,
    curve: &[(usize, usize)],
    r: usize,
    new_words: usize,
    queries: &[(String, String, String)],
    secs: f64,
    sizes: &[usize],
    inserts: usize,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# BM25 benchmark corpora: term statistics\n");
    let _ = writeln!(
        s,
        "Command: `semvec-bench bm25-corpus --docs {} --inserts {inserts}` ({FORMAT}, seed {SEED:#x}); generated in {secs:.0} s.\n",
        sizes.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(",")
    );
    let _ = writeln!(
        s,
        "Source: {} Debian bookworm English descriptions; {} held out of every corpus (query-only), {} in every corpus as ids 1..{}; {} queries ({} of held-out packages). Tokens: lowercased letter/digit runs minus PostgreSQL's english.stop, not stemmed (`ts_stat` lexeme counts are in the benchmark output).\n",
        real.docs.len(),
        real.held_out.len(),
        r,
        r,
        queries.len(),
        queries.iter().filter(|q| q.0 == "held-out").count()
    );
    let _ = writeln!(
        s,
        "Heaps' law fitted on the real documents (vocabulary at n = 2000, 4000, ... {r}, in stream order): V(n) = {:.1} n^{:.3}. Generated documents add a new word whenever the vocabulary falls behind V({r}) (n/{r})^{:.3}; {new_words} new words were made.\n",
        heaps.k, heaps.beta, heaps.beta
    );
    let _ = writeln!(
        s,
        "Vocabulary growth. Up to n = {r} it is the real corpus' own; beyond, the generator keeps it on the law anchored at the real vocabulary (the ratio to the plain fit then stays at its value at n = {r}), so this table is a construction check: the independent one is the lexeme count of the loaded corpora (`ts_stat`, printed by benches/bm25.sh).\n"
    );
    let _ = writeln!(s, "| n | vocabulary | Heaps fit K n^β | ratio |");
    let _ = writeln!(s, "|---:|---:|---:|---:|");
    for &(n, v) in curve {
        let _ = writeln!(s, "| {n} | {v} | {:.0} | {:.3} |", heaps.at(n), v as f64 / heaps.at(n));
    }
    let _ = writeln!(s, "\nDocument length (tokens per document; BM25's |D| is close to this):\n");
    let _ = writeln!(s, "| set | documents | p10 | p50 | p90 | p99 | max | mean |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
    for sn in snaps {
        let l = sn.len_all;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {} | {} | {:.1} |",
            sn.label, sn.n, l[0], l[1], l[2], l[3], l[4], l[5]
        );
        if let Some(l) = sn.len_generated {
            let _ = writeln!(
                s,
                "| {}, generated documents only | {} | {} | {} | {} | {} | {} | {:.1} |",
                sn.label,
                sn.n - r,
                l[0],
                l[1],
                l[2],
                l[3],
                l[4],
                l[5]
            );
        }
    }
    let _ = writeln!(
        s,
        "\nDocument frequencies: share of the vocabulary by df, and df/N of the terms ranked 1, 10, 100, 1000, 10000 by df:\n"
    );
    let _ = writeln!(
        s,
        "| set | N | vocabulary | df=1 | df=2 | 3-9 | 10-99 | 100-999 | ≥1000 | #1 | #10 | #100 | #1000 | #10000 |"
    );
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for sn in snaps {
        let h = sn.df_hist;
        let t = sn.top_df;
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.4} | {:.4} | {:.3} | {:.3} | {:.4} | {:.5} | {:.6} |",
            sn.label, sn.n, sn.vocabulary, h[0], h[1], h[2], h[3], h[4], h[5], t[0], t[1], t[2], t[3], t[4]
        );
    }
    let _ = writeln!(
        s,
        "\nQuery candidates (documents containing any query token: what today's `bm25_search` scores), as a share of N:\n"
    );
    let _ = writeln!(s, "| set | N | mean | median | p90 | mean documents |");
    let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|");
    for sn in snaps {
        let c = sn.candidates;
        let _ = writeln!(
            s,
            "| {} | {} | {:.4} | {:.4} | {:.4} | {:.0} |",
            sn.label,
            sn.n,
            c[0],
            c[1],
            c[2],
            c[0] * sn.n as f64
        );
    }
    s
}

/// The stand-in vectors' sources: the Debian data set's embeddings (from `embed-debian`), one per
/// real description in `descriptions.tsv` order, as a binary COPY stream `(id int4, embedding
/// vector)` with id = the description's index. Returns None when that data set is not embedded.
pub fn source_vectors(cache: &Path) -> Result<Option<PathBuf>> {
    let ddir = datasets::dataset_dir(cache, datasets::DatasetName::Debian);
    let out = bm25_dir(cache).join("source-vectors.copy");
    let files = ["queries.fvecs", "inserts.fvecs", "base.fvecs"].map(|f| ddir.join(f));
    if !files.iter().all(|f| f.exists()) {
        return Ok(None);
    }
    if out.exists() {
        return Ok(Some(out));
    }
    let docs = datasets::read_descriptions(&ddir.join("descriptions.tsv"))?;
    let q = crate::vecio::read_fvecs(&files[0])?;
    let ins = crate::vecio::read_fvecs(&files[1])?;
    let base = crate::vecio::read_fvecs(&files[2])?;
    if q.len() + ins.len() + base.len() != docs.len() {
        bail!(
            "the Debian embeddings ({} rows) do not match descriptions.tsv ({} rows): re-run embed-debian",
            q.len() + ins.len() + base.len(),
            docs.len()
        );
    }
    // embed_debian's split: order[..QUERIES] queries, then INSERTS inserts, then base.
    let order = datasets::shuffled(docs.len(), 0x5eed);
    let mut rows: Vec<Option<&[f32]>> = vec![None; docs.len()];
    for (i, &d) in order.iter().enumerate() {
        rows[d] = Some(if i < q.len() {
            q.row(i)
        } else if i < q.len() + ins.len() {
            ins.row(i - q.len())
        } else {
            base.row(i - q.len() - ins.len())
        });
    }
    let mut v = crate::vecio::Vectors::new(q.dim);
    for r in rows {
        v.push(r.context("missing embedding")?);
    }
    std::fs::create_dir_all(bm25_dir(cache))?;
    std::fs::write(&out, crate::vecio::copy_binary(0, &v))?;
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_on_capitalised_starts() {
        assert_eq!(
            split_sentences("It is a tool. It works. Version 2.0 is e.g. fine. * item"),
            vec!["It is a tool.", "It works.", "Version 2.0 is e.g. fine.", "* item"]
        );
    }

    #[test]
    fn cores_keep_punctuation() {
        assert_eq!(replace_core("(library),", "widget"), "(widget),");
        assert_eq!(core_of("a1b2"), None);
        assert_eq!(core_of("abc"), None);
    }

    #[test]
    fn compounds_count_whole_and_parts() {
        let mut t = Vec::new();
        Tokenizer::new().tokens("The python3-foo tool, see http://x.org/a.", &mut t);
        assert_eq!(
            t,
            vec!["python3-foo", "python3", "foo", "tool", "see", "http://x.org/a", "http", "x", "org"]
        );
    }

    #[test]
    fn heaps_fit_recovers_exponent() {
        let pts: Vec<(usize, usize)> = [1000, 2000, 4000, 8000]
            .iter()
            .map(|&n| (n, (30.0 * (n as f64).powf(0.6)) as usize))
            .collect();
        let h = Heaps::fit(&pts);
        assert!((h.beta - 0.6).abs() < 0.01, "{h:?}");
    }

    #[test]
    fn rng_is_deterministic_and_in_range() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        for _ in 0..1000 {
            let x = a.below(10);
            assert!(x < 10);
            assert_eq!(x, b.below(10));
        }
    }
}
