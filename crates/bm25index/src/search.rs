//! Top-k search: block-max WAND over each segment's posting lists, an exhaustive pass over the
//! memtable, one shared result heap.
//!
//! A [`Scan`] freezes the statistics when it begins (N, total length and every query term's df,
//! from the meta page, the dictionaries and the memtable) and with them the weights and the
//! average length, so a document's score never changes during a scan. [`Scan::next_batch`]
//! returns the next `k` results after the last one it returned, in (score descending, TID
//! ascending) order: each call runs block-max WAND again with the admission rule "strictly after
//! the last result returned", so the executor grows k by doubling (k, 2k, 4k: about as many
//! postings as one search for the final depth). Documents inserted after the scan began may or
//! may not appear (they are invisible to the scan's snapshot anyway); documents VACUUM removes
//! meanwhile disappear (they were dead).
//!
//! Scores are computed by [`Bm25Params::score_frequencies`] with weights `qtf * idf(N, df)` and
//! `avg = total / N`: the same operations as `semvec_bm25_score_counts`, bit for bit.

use crate::codec::{impacts_bound, BlockHeader, BlockReader, Posting};
use crate::error::{not_valid, Bm25IndexError};
use crate::insert::{check_block, read_meta};
use crate::page::{
    decode_dir, decode_part, is_page, next_of, MemCounters, SegmentDesc, TermEntry, PAGE_DICT, PAGE_DIRECTORY, PAGE_MEM, PAGE_POSTINGS,
    PART_DEAD, PART_FIRST,
};
use semvec_bm25::{idf, Bm25Params};
use semvec_storage::{RelationRead, Tid};
use std::collections::{BinaryHeap, HashMap};

/// Look `lexeme` up in a segment's dictionary: the directory pages say which dictionary page
/// may hold it (the last whose first lexeme is not greater), then a binary search of that page.
pub fn lookup<R: RelationRead>(rel: &R, seg: &SegmentDesc, lexeme: &[u8]) -> Result<Option<TermEntry>, Bm25IndexError> {
    let mut dict_page = None;
    let mut blk = Some(seg.dir_head);
    'dir: while let Some(b) = blk {
        check_block(rel, b)?;
        let g = rel.read(b);
        if !is_page(&g, PAGE_DIRECTORY) {
            return Err(not_valid(format!("block {b} is not a directory page")));
        }
        for off in 1..=g.len() {
            let (d, first) = g.get(off).and_then(decode_dir).ok_or_else(|| not_valid("bad directory tuple"))?;
            if first > lexeme {
                break 'dir;
            }
            dict_page = Some(d);
        }
        blk = next_of(&g);
    }
    let Some(d) = dict_page else { return Ok(None) };
    check_block(rel, d)?;
    let g = rel.read(d);
    if !is_page(&g, PAGE_DICT) {
        return Err(not_valid(format!("block {d} is not a dictionary page")));
    }
    let (mut lo, mut hi) = (1u16, g.len() + 1);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let t = g.get(mid).ok_or_else(|| not_valid("bad dictionary tuple"))?;
        match TermEntry::lexeme_of(t).cmp(lexeme) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return TermEntry::decode(t).map(Some).ok_or_else(|| not_valid("bad dictionary tuple")),
        }
    }
    Ok(None)
}

/// Counters of one search, for the measurement test and EXPLAIN-style reporting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Postings in the query terms' lists (dead ones included).
    pub postings_total: u64,
    /// Postings decoded from their blocks.
    pub postings_decoded: u64,
    /// Documents whose full score was computed.
    pub docs_scored: u64,
    /// Posting blocks whose bound let WAND skip them without decoding.
    pub blocks_skipped: u64,
    /// Pages read.
    pub pages_read: u64,
}

/// The search strategy; [`Strategy::Exhaustive`] scores every matching document (the baseline).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    BlockMaxWand,
    Exhaustive,
}

/// A result: the heap TID and its BM25 score.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    pub tid: Tid,
    pub score: f64,
}

/// A candidate in the heap: `Ord` puts the worst (lowest score, then highest key) on top.
#[derive(Clone, Copy, Debug)]
struct Cand {
    score: f64,
    key: u64,
}
impl PartialEq for Cand {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == std::cmp::Ordering::Equal
    }
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        o.score.total_cmp(&self.score).then(self.key.cmp(&o.key))
    }
}

/// Whether `a` ranks before `b`.
#[inline]
fn better(a: Cand, b: Cand) -> bool {
    a.score > b.score || (a.score == b.score && a.key < b.key)
}

/// Bounds are sums in another order than the score's; widen them by far more than the rounding
/// difference so a bound never falls below the score it bounds.
#[inline]
fn widen(bound: f64) -> f64 {
    bound * (1.0 + 1e-9) + f64::MIN_POSITIVE
}

struct TopK {
    k: usize,
    heap: BinaryHeap<Cand>,
    /// The last result returned by an earlier batch: only candidates after it are admitted.
    after: Option<Cand>,
}

impl TopK {
    /// Scores at or above this may enter; below cannot.
    #[inline]
    fn threshold(&self) -> f64 {
        if self.heap.len() < self.k {
            f64::NEG_INFINITY
        } else {
            self.heap.peek().unwrap().score
        }
    }

    #[inline]
    fn offer(&mut self, c: Cand) {
        if self.after.is_some_and(|a| !better(a, c)) {
            return;
        }
        if self.heap.len() < self.k {
            self.heap.push(c);
        } else if better(c, *self.heap.peek().unwrap()) {
            self.heap.pop();
            self.heap.push(c);
        }
    }
}

/// A cursor over one term's posting list in one segment.
struct Cursor {
    /// Index of the query term.
    q: usize,
    weight: f64,
    /// Bound of any posting of the list, weighted.
    ub: f64,
    next_page: Option<(u32, u16)>,
    blocks_left: u32,
    /// The page whose blocks `headers` describes, and each block's item number there: a block's
    /// postings are decoded straight from the page when needed (most blocks of a long list are
    /// skipped on their header alone).
    page: u32,
    items: Vec<u16>,
    headers: Vec<BlockHeader>,
    bounds: Vec<f64>,
    bi: usize,
    exhausted: bool,
    positioned: bool,
    /// Whether `doc` is a posting of the list (false after [`Cursor::skip_to`]: then `doc` is
    /// only a lower bound of the next posting's key, and `tf` / `len` are stale).
    exact: bool,
    /// The block under decoding (`decoded_bi`): its postings so far, and the reader of the rest.
    decoded: Vec<Posting>,
    reader: BlockReader,
    decoded_bi: usize,
    pi: usize,
    doc: u64,
    tf: u32,
    len: u32,
}

const DONE: u64 = u64::MAX;

impl Cursor {
    fn new(q: usize, weight: f64, ub: f64, e: &TermEntry) -> Cursor {
        Cursor {
            q,
            weight,
            ub,
            next_page: (e.n_blocks > 0).then_some((e.head_blk, e.head_off)),
            blocks_left: e.n_blocks,
            page: 0,
            items: Vec::new(),
            headers: Vec::new(),
            bounds: Vec::new(),
            bi: 0,
            exhausted: false,
            positioned: false,
            exact: false,
            decoded: Vec::new(),
            reader: BlockReader::default(),
            decoded_bi: usize::MAX,
            pi: 0,
            doc: 0,
            tf: 0,
            len: 0,
        }
    }

    /// Copy this term's blocks on the next page; false at the end of the list.
    fn load_page<R: RelationRead>(&mut self, rel: &R, st: &mut SearchStats) -> Result<bool, Bm25IndexError> {
        let Some((blk, off)) = self.next_page.take() else {
            return Ok(false);
        };
        if self.blocks_left == 0 {
            return Ok(false);
        }
        check_block(rel, blk)?;
        let g = rel.read(blk);
        st.pages_read += 1;
        if !is_page(&g, PAGE_POSTINGS) {
            return Err(not_valid(format!("block {blk} is not a posting page")));
        }
        self.page = blk;
        self.items.clear();
        self.headers.clear();
        self.bounds.clear();
        let last = (g.len() as u32).min(off as u32 + self.blocks_left - 1) as u16;
        for o in off..=last {
            let t = g.get(o).ok_or_else(|| not_valid("bad posting block"))?;
            self.headers
                .push(BlockHeader::read(t).ok_or_else(|| not_valid("bad posting block header"))?);
            self.items.push(o);
            self.bounds.push(f64::NAN);
        }
        self.blocks_left -= (last + 1 - off) as u32;
        if self.blocks_left > 0 {
            let n = next_of(&g).ok_or_else(|| not_valid("posting chain ends inside a list"))?;
            self.next_page = Some((n, 1));
        }
        self.bi = 0;
        self.decoded_bi = usize::MAX;
        Ok(true)
    }

    /// Move the block pointer (headers only) to the first block that may hold `target` or later.
    fn shallow<R: RelationRead>(&mut self, rel: &R, target: u64, st: &mut SearchStats) -> Result<bool, Bm25IndexError> {
        if self.exhausted {
            return Ok(false);
        }
        loop {
            if self.bi < self.headers.len() {
                if self.headers[self.bi].last >= target {
                    return Ok(true);
                }
                if self.bi != self.decoded_bi {
                    st.blocks_skipped += 1;
                }
                self.bi += 1;
                continue;
            }
            if !self.load_page(rel, st)? {
                self.exhausted = true;
                return Ok(false);
            }
        }
    }

    /// The weighted bound of the block under the block pointer (0 past the end).
    fn block_bound(&mut self, params: &Bm25Params, avg: f64) -> f64 {
        if self.exhausted {
            return 0.0;
        }
        let b = &mut self.bounds[self.bi];
        if b.is_nan() {
            *b = self.weight * impacts_bound(params, self.headers[self.bi].impacts(), avg);
        }
        *b
    }

    /// The weighted bound, for the document `key` of length `len`, of the block under the block
    /// pointer (after `shallow(key)`): 0 when the block starts after `key` or none of its impacts
    /// has a length at most `len` (no posting of that length is there), else the largest score
    /// at length `len` of a covering impact's tf.
    fn block_bound_at(&self, params: &Bm25Params, avg: f64, key: u64, len: u32) -> f64 {
        if self.exhausted {
            return 0.0;
        }
        let h = &self.headers[self.bi];
        if h.first > key {
            return 0.0;
        }
        let tf = h.impacts().iter().filter(|i| i.len <= len).map(|i| i.tf).max().unwrap_or(0);
        self.weight * params.term_score(tf, len as u64, avg)
    }

    fn block_last(&self) -> u64 {
        if self.exhausted {
            DONE
        } else {
            self.headers[self.bi].last
        }
    }

    /// Move past every posting before `target` without decoding: to the block that may hold
    /// `target`, with `doc` a lower bound (`target` or that block's first key) unless the block
    /// is decoded already.
    fn skip_to<R: RelationRead>(&mut self, rel: &R, target: u64, st: &mut SearchStats) -> Result<(), Bm25IndexError> {
        if self.positioned && self.doc >= target {
            return Ok(());
        }
        if !self.shallow(rel, target, st)? {
            (self.doc, self.exact, self.positioned) = (DONE, true, true);
            return Ok(());
        }
        if self.decoded_bi == self.bi {
            return self.advance(rel, target, st);
        }
        self.doc = target.max(self.headers[self.bi].first);
        self.exact = false;
        Ok(())
    }

    /// Position on the first posting with key >= target.
    fn advance<R: RelationRead>(&mut self, rel: &R, target: u64, st: &mut SearchStats) -> Result<(), Bm25IndexError> {
        if self.positioned && self.doc >= target && self.exact {
            return Ok(());
        }
        // Nothing before a lower bound is left to return.
        let target = if self.positioned { target.max(self.doc) } else { target };
        self.positioned = true;
        self.exact = true;
        loop {
            if !self.shallow(rel, target, st)? {
                self.doc = DONE;
                return Ok(());
            }
            if self.decoded_bi != self.bi {
                // Tuples never move and VACUUM only removes postings in place, so the block
                // read now holds at most what its header, read earlier, promised.
                let g = rel.read(self.page);
                st.pages_read += 1;
                let t = g.get(self.items[self.bi]).ok_or_else(|| not_valid("bad posting block"))?;
                self.reader.load(t).ok_or_else(|| not_valid("bad posting block header"))?;
                drop(g);
                self.decoded.clear();
                self.decoded_bi = self.bi;
                self.pi = 0;
            }
            self.pi += self.decoded[self.pi..].partition_point(|p| p.key < target);
            if self.pi == self.decoded.len() {
                // Decode on up to the target.
                while let Some(p) = self.reader.next_posting().map_err(|_| not_valid("bad posting block"))? {
                    st.postings_decoded += 1;
                    self.decoded.push(p);
                    if p.key >= target {
                        break;
                    }
                    self.pi += 1;
                }
            }
            if let Some(p) = self.decoded.get(self.pi) {
                (self.doc, self.tf, self.len) = (p.key, p.tf, p.len);
                return Ok(());
            }
            self.bi += 1;
        }
    }
}

/// A memtable document matching the query.
struct MemMatch {
    key: u64,
    len: u32,
    tfs: Vec<u32>,
}

/// A top-k scan; see the module docs.
pub struct Scan {
    params: Bm25Params,
    /// Per query term, `qtf * idf(N, df)`, frozen when the scan began.
    weights: Vec<f64>,
    avg_len: f64,
    n_docs: u64,
    total_len: u64,
    segments: Vec<Vec<Option<TermEntry>>>,
    /// Per query term, its document frequency when the scan began.
    df: Vec<u64>,
    mem: Vec<MemMatch>,
    after: Option<Cand>,
    /// Where [`Scan::next_unmatched`] continues: the next segment to list, or past the last
    /// the memtable, then nothing.
    tail: Option<usize>,
    meta_segments: Vec<SegmentDesc>,
    /// The memtable chains (a frozen one first) when the scan began.
    mem_chains: Vec<u32>,
    pub stats: SearchStats,
}

impl Scan {
    /// Begin a scan for the OR of `terms` (lexeme, count in the query). Lexemes should be
    /// distinct (as `bm25_query` makes them); their order is the order of the score's sum.
    /// Empty lexemes never match.
    pub fn begin<R: RelationRead>(rel: &R, terms: &[(&[u8], u32)], params: Bm25Params) -> Result<Scan, Bm25IndexError> {
        let meta = read_meta(rel)?;
        let mut n_docs: u64 = meta.segments.iter().map(|s| s.n_docs).sum();
        let mut total_len: u64 = meta.segments.iter().map(|s| s.total_len).sum();
        let mut df = vec![0u64; terms.len()];
        let mut segments = Vec::with_capacity(meta.segments.len());
        for seg in &meta.segments {
            let mut entries = Vec::with_capacity(terms.len());
            for (i, (lexeme, _)) in terms.iter().enumerate() {
                let e = if lexeme.is_empty() { None } else { lookup(rel, seg, lexeme)? };
                df[i] += e.as_ref().map_or(0, |e| e.df as u64);
                entries.push(e);
            }
            segments.push(entries);
        }
        // The memtable: counters, and every live document that has a query term.
        let mut index: HashMap<&[u8], usize> = HashMap::new();
        for (i, (lexeme, _)) in terms.iter().enumerate() {
            if !lexeme.is_empty() {
                index.entry(lexeme).or_insert(i);
            }
        }
        let mut mem: HashMap<u64, MemMatch> = HashMap::new();
        let mut chains = meta.mem_chains(); // a frozen memtable (see merge.rs), then the memtable
        let mut blk = chains.next();
        while let Some(b) = blk {
            check_block(rel, b)?;
            let g = rel.read(b);
            if !is_page(&g, PAGE_MEM) {
                return Err(not_valid(format!("block {b} is not a memtable page")));
            }
            let c = MemCounters::of(&g).ok_or_else(|| not_valid("memtable counters"))?;
            n_docs += c.n_docs;
            total_len += c.total_len;
            for off in 2..=g.len() {
                let part = g.get(off).and_then(decode_part).ok_or_else(|| not_valid("bad memtable document"))?;
                if part.flags & PART_DEAD != 0 {
                    continue;
                }
                for (lexeme, tf) in &part.terms {
                    if let Some(&i) = index.get(lexeme) {
                        let key = part.tid.to_u64();
                        let m = mem.entry(key).or_insert_with(|| MemMatch {
                            key,
                            len: part.len,
                            tfs: vec![0; terms.len()],
                        });
                        if m.tfs[i] == 0 {
                            df[i] += 1;
                        }
                        m.tfs[i] += tf;
                    }
                }
            }
            blk = next_of(&g).or_else(|| chains.next());
        }
        let avg_len = if n_docs > 0 { total_len as f64 / n_docs as f64 } else { 0.0 };
        let weights = terms
            .iter()
            .zip(&df)
            .map(|((_, count), &df)| *count as f64 * idf(n_docs, df))
            .collect();
        let mut mem: Vec<MemMatch> = mem.into_values().collect();
        mem.sort_unstable_by_key(|m| m.key);
        Ok(Scan {
            params,
            weights,
            avg_len,
            n_docs,
            total_len,
            segments,
            df,
            mem,
            after: None,
            tail: None,
            meta_segments: meta.segments.clone(),
            mem_chains: meta.mem_chains().collect(),
            stats: SearchStats::default(),
        })
    }

    /// Score with these weights (one per query term, in query order) and this average length
    /// instead of the ones computed from the index's statistics when the scan began: the SQL
    /// query value carries its own (computed from the same statistics when it was built), so the
    /// scan and the `<@>` operator agree bit for bit even while concurrent writers change the
    /// statistics. Block bounds stay valid for any weights and average length (impacts are raw).
    pub fn set_weights(&mut self, weights: Vec<f64>, avg_len: f64) -> Result<(), Bm25IndexError> {
        if weights.len() != self.weights.len() {
            return Err(Bm25IndexError::BadQuery(format!(
                "{} weights for {} query terms",
                weights.len(),
                self.weights.len()
            )));
        }
        if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || !avg_len.is_finite() || avg_len < 0.0 {
            return Err(Bm25IndexError::BadQuery(
                "weights and the average length must be finite and not negative".into(),
            ));
        }
        self.weights = weights;
        self.avg_len = avg_len;
        Ok(())
    }

    /// Each query term's document frequency when the scan began (dead rows included until VACUUM).
    pub fn df(&self) -> &[u64] {
        &self.df
    }

    /// After [`Scan::next_batch`] has returned every matching document (a batch shorter than
    /// asked for): the next documents that contain no query term (score 0), one segment (or the
    /// memtable) per call, in TID order within it (maybe none); `None` at the end. With this an
    /// index scan returns every indexed row, as `ORDER BY doc <@> query` over the table does.
    pub fn next_unmatched<R: RelationRead>(&mut self, rel: &R) -> Result<Option<Vec<Tid>>, Bm25IndexError> {
        let seg = self.tail.unwrap_or(0);
        let mut out = Vec::new();
        if seg < self.meta_segments.len() {
            self.tail = Some(seg + 1);
            let desc = self.meta_segments[seg];
            let Some(docs) = lookup(rel, &desc, b"")? else {
                return Ok(Some(out));
            };
            let st = &mut self.stats;
            let mut all = Cursor::new(usize::MAX, 0.0, 0.0, &docs);
            let mut cursors: Vec<Cursor> = self
                .segments
                .get(seg)
                .into_iter()
                .flatten()
                .flatten()
                .filter(|e| e.n_blocks > 0)
                .map(|e| Cursor::new(0, 0.0, 0.0, e))
                .collect();
            all.advance(rel, 0, st)?;
            while all.doc != DONE {
                let key = all.doc;
                let mut matched = false;
                for c in cursors.iter_mut() {
                    c.advance(rel, key, st)?;
                    matched |= c.doc == key;
                }
                if !matched {
                    out.push(Tid::from_u64(key));
                }
                all.advance(rel, key + 1, st)?;
            }
            return Ok(Some(out));
        }
        if seg == self.meta_segments.len() {
            self.tail = Some(seg + 1);
            let mut chains = self.mem_chains.clone().into_iter();
            let mut blk = chains.next();
            while let Some(b) = blk {
                check_block(rel, b)?;
                let g = rel.read(b);
                if !is_page(&g, PAGE_MEM) {
                    return Err(not_valid(format!("block {b} is not a memtable page")));
                }
                for off in 2..=g.len() {
                    let part = g.get(off).and_then(decode_part).ok_or_else(|| not_valid("bad memtable document"))?;
                    let key = part.tid.to_u64();
                    if part.flags & PART_DEAD == 0 && is_first(part.flags) && self.mem.binary_search_by_key(&key, |m| m.key).is_err() {
                        out.push(part.tid);
                    }
                }
                blk = next_of(&g).or_else(|| chains.next());
            }
            out.sort_unstable_by_key(|t| t.to_u64());
            return Ok(Some(out));
        }
        Ok(None)
    }

    /// The statistics the scan scores with: N, total length, average length.
    pub fn corpus(&self) -> (u64, u64, f64) {
        (self.n_docs, self.total_len, self.avg_len)
    }

    /// Each query term's weight (`qtf * idf`), in query order.
    pub fn weights(&self) -> Vec<f64> {
        self.weights.clone()
    }

    /// The next `k` results after those already returned; fewer at the end.
    pub fn next_batch<R: RelationRead>(&mut self, rel: &R, k: usize, strategy: Strategy) -> Result<Vec<Hit>, Bm25IndexError> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let weights = self.weights();
        let mut top = TopK {
            k,
            heap: BinaryHeap::with_capacity(k.min(1 << 16) + 1),
            after: self.after,
        };
        for m in &self.mem {
            self.stats.docs_scored += 1;
            let score = self.params.score_frequencies(&m.tfs, m.len as u64, &weights, self.avg_len);
            top.offer(Cand { score, key: m.key });
        }
        for seg in 0..self.segments.len() {
            self.search_segment(rel, seg, &weights, &mut top, strategy)?;
        }
        let mut hits = top.heap.into_vec();
        hits.sort_unstable(); // best first: `Ord` ranks worse candidates higher
        self.after = hits.last().copied().or(self.after);
        Ok(hits
            .into_iter()
            .map(|c| Hit {
                tid: Tid::from_u64(c.key),
                score: c.score,
            })
            .collect())
    }

    fn search_segment<R: RelationRead>(
        &mut self,
        rel: &R,
        seg: usize,
        weights: &[f64],
        top: &mut TopK,
        strategy: Strategy,
    ) -> Result<(), Bm25IndexError> {
        let (params, avg) = (self.params, self.avg_len);
        let st = &mut self.stats;
        let mut cursors: Vec<Cursor> = Vec::new();
        for (q, e) in self.segments[seg].iter().enumerate() {
            if let Some(e) = e.as_ref().filter(|e| e.n_blocks > 0) {
                st.postings_total += e.df as u64;
                let ub = weights[q] * impacts_bound(&params, &e.impacts, avg);
                let mut c = Cursor::new(q, weights[q], ub, e);
                c.advance(rel, 0, st)?;
                cursors.push(c);
            }
        }
        let prune = strategy == Strategy::BlockMaxWand;
        let mut tfs = vec![0u32; weights.len()];
        loop {
            cursors.sort_unstable_by_key(|c| c.doc);
            let theta = if prune { top.threshold() } else { f64::NEG_INFINITY };
            // Pivot: the first cursor at which the term bounds so far could reach the threshold.
            let mut acc = 0.0;
            let mut pivot = None;
            for (j, c) in cursors.iter().enumerate() {
                if c.doc == DONE {
                    break;
                }
                acc += c.ub;
                if widen(acc) >= theta {
                    pivot = Some(j);
                    break;
                }
            }
            let Some(mut p) = pivot else { return Ok(()) };
            let pivot_doc = cursors[p].doc;
            while p + 1 < cursors.len() && cursors[p + 1].doc == pivot_doc {
                p += 1;
            }
            if prune {
                let mut bound = 0.0;
                for c in cursors[..=p].iter_mut() {
                    c.shallow(rel, pivot_doc, st)?;
                    bound += c.block_bound(&params, avg);
                }
                if widen(bound) < theta {
                    // No document in [pivot_doc, next) can reach the threshold: every term that
                    // may occur there is among 0..=p, bounded by its current block.
                    let mut next = cursors.get(p + 1).map_or(DONE, |c| c.doc);
                    for c in &cursors[..=p] {
                        next = next.min(c.block_last().saturating_add(1));
                    }
                    for c in cursors[..=p].iter_mut() {
                        c.skip_to(rel, next, st)?;
                    }
                    continue;
                }
            }
            // Cursors on pivot_doc only by a lower bound (skipped there) decode now.
            let mut moved = false;
            for c in cursors[..=p].iter_mut() {
                if c.doc == pivot_doc && !c.exact {
                    c.advance(rel, pivot_doc, st)?;
                    moved |= c.doc != pivot_doc;
                }
            }
            if moved {
                continue;
            }
            if cursors[0].doc == pivot_doc {
                score_pivot(&cursors[..=p], pivot_doc, &params, weights, avg, &mut tfs, top, st);
                for c in cursors[..=p].iter_mut() {
                    c.advance(rel, pivot_doc + 1, st)?;
                }
            } else if prune {
                // cursors[at..=p] sit on pivot_doc, so its length and their tfs are known: their
                // exact contributions plus each earlier cursor's bound at that length (no block
                // decoded) may already fall short. Otherwise probe the earlier cursors, largest
                // bound first, each replacing its bound by its exact contribution, and stop as
                // soon as the document cannot reach the threshold.
                let at = cursors[..=p].iter().position(|c| c.doc == pivot_doc).unwrap();
                let len = cursors[at].len;
                let mut bound = 0.0;
                for c in &cursors[at..=p] {
                    bound += c.weight * params.term_score(c.tf, len as u64, avg);
                }
                let mut probes: Vec<(f64, usize)> = Vec::with_capacity(at);
                for (j, c) in cursors[..at].iter().enumerate() {
                    let b = c.block_bound_at(&params, avg, pivot_doc, len);
                    bound += b;
                    probes.push((b, j));
                }
                probes.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
                let mut probe = probes.iter();
                while widen(bound) >= theta {
                    let Some(&(b, j)) = probe.next() else { break };
                    let c = &mut cursors[j];
                    c.advance(rel, pivot_doc, st)?;
                    bound -= b;
                    if c.doc == pivot_doc {
                        bound += c.weight * params.term_score(c.tf, len as u64, avg);
                    }
                }
                if widen(bound) >= theta {
                    // Every cursor up to p is positioned: score pivot_doc exactly.
                    score_pivot(&cursors[..=p], pivot_doc, &params, weights, avg, &mut tfs, top, st);
                }
                for c in cursors[..=p].iter_mut() {
                    if c.doc == pivot_doc {
                        c.advance(rel, pivot_doc + 1, st)?;
                    }
                }
            } else {
                for c in cursors[..p].iter_mut() {
                    c.advance(rel, pivot_doc, st)?;
                }
            }
        }
    }
}

/// Score `doc` from the cursors positioned on it (their tfs, its length) and offer it; `tfs`
/// (one slot per query term) is zero before and after.
#[allow(clippy::too_many_arguments)]
fn score_pivot(
    cursors: &[Cursor],
    doc: u64,
    params: &Bm25Params,
    weights: &[f64],
    avg: f64,
    tfs: &mut [u32],
    top: &mut TopK,
    st: &mut SearchStats,
) {
    let on_doc = || cursors.iter().filter(move |c| c.doc == doc);
    let len = on_doc().next().map_or(0, |c| c.len);
    for c in on_doc() {
        tfs[c.q] = c.tf;
    }
    st.docs_scored += 1;
    let score = params.score_frequencies(tfs, len as u64, weights, avg);
    top.offer(Cand { score, key: doc });
    for c in on_doc() {
        tfs[c.q] = 0;
    }
}

/// All hits of a query at once: `Scan::begin` then one batch of `k`.
pub fn search<R: RelationRead>(rel: &R, terms: &[(&[u8], u32)], params: Bm25Params, k: usize) -> Result<Vec<Hit>, Bm25IndexError> {
    Scan::begin(rel, terms, params)?.next_batch(rel, k, Strategy::BlockMaxWand)
}

/// Whether a memtable part counts its document (used by vacuum and check).
pub(crate) fn is_first(flags: u8) -> bool {
    flags & PART_FIRST != 0
}
