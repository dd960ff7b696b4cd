//! Graph search on pages: the traversal shared by scans and inserts, and the
//! [`Searcher`] behind `amgettuple`.
//!
//! Expanding a candidate reads its neighbour tuple once, evaluates at once
//! the unvisited neighbours stored on that same page, and collects the rest;
//! those are sorted by block, prefetched, and evaluated one page lock per
//! block, computing distances on the payload in place (no copy, no
//! allocation per candidate). At most one page is locked at any time.

use crate::metric::Metric;
use crate::relation::RelationRead;
use crate::tuple::{ElementRef, NeighborsRef, Tid};
use crate::upper::UpperLayers;
use crate::visited::VisitedTids;
use crate::write::read_meta;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;

/// An evaluated element.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cand {
    pub dist: f32,
    /// What rows are returned in the order of: `dist`, or for a quantized index a lower bound of
    /// the exact distance ([`Metric::distance_with_key`]).
    pub key: f32,
    /// Packed element TID.
    pub elem: u64,
    /// Packed TID of its neighbour tuple.
    pub nbrs: u64,
    /// Packed first heap TID (meaningful when `ntids >= 1`).
    pub heap: u64,
    pub ntids: u8,
    pub version: u8,
    pub live: bool,
    /// Whether its keys satisfy the scan's filter (always, without one).
    pub pass: bool,
    /// Scored from a posting's inline vector: the element itself (liveness, keys, heap TIDs) is
    /// read only when the candidate is about to be returned.
    pub unresolved: bool,
}

impl PartialEq for Cand {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Cand {}
impl PartialOrd for Cand {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Cand {
    #[inline]
    fn cmp(&self, o: &Self) -> Ordering {
        self.dist.total_cmp(&o.dist).then(self.elem.cmp(&o.elem))
    }
}

impl Cand {
    #[inline]
    fn from_element(dist: f32, elem: Tid, e: ElementRef<'_>) -> Cand {
        Cand {
            dist,
            key: dist,
            elem: elem.to_u64(),
            nbrs: e.neighbors().to_u64(),
            heap: if e.heap_tid_count() > 0 { e.heap_tid(0).to_u64() } else { 0 },
            ntids: e.heap_tid_count() as u8,
            version: e.version(),
            live: e.is_live(),
            pass: true,
            unresolved: false,
        }
    }

    /// A candidate scored from a posting's inline vector, to be resolved before it is returned.
    #[inline]
    fn unresolved(dist: f32, elem: Tid) -> Cand {
        Cand {
            dist,
            key: dist,
            elem: elem.to_u64(),
            nbrs: 0,
            heap: 0,
            ntids: 0,
            version: 0,
            live: true,
            pass: true,
            unresolved: true,
        }
    }
}

/// Reusable traversal state.
pub(crate) struct Core {
    pub visited: VisitedTids,
    pub candidates: BinaryHeap<Reverse<Cand>>,
    pub results: BinaryHeap<Cand>,
    pub discarded: BinaryHeap<Reverse<Cand>>,
    pub evals: Vec<Cand>,
    nbuf: Vec<u64>,
    batch: Vec<u64>,
    /// Page addresses (`RelationRead::page_hint`) of the batch's blocks.
    hints: Vec<usize>,
    /// Elements whose distance was computed.
    pub evaluated: usize,
    /// The scan's filter on element keys: elements failing it are traversed, never results.
    pub filter: Option<crate::keys::Filter>,
}

impl Core {
    pub fn new() -> Core {
        Core {
            visited: VisitedTids::new(),
            candidates: BinaryHeap::new(),
            results: BinaryHeap::new(),
            discarded: BinaryHeap::new(),
            evals: Vec::new(),
            nbuf: Vec::new(),
            batch: Vec::new(),
            hints: Vec::new(),
            evaluated: 0,
            filter: None,
        }
    }

    pub fn reset(&mut self) {
        self.visited.clear();
        self.candidates.clear();
        self.results.clear();
        self.discarded.clear();
        self.evals.clear();
        self.evaluated = 0;
    }

    /// Evaluates one element (e.g. the entry point).
    pub fn evaluate_one<R: RelationRead, M: Metric>(&mut self, rel: &R, metric: &M, q: &[u8], tid: Tid) -> Option<Cand> {
        let page = rel.read(tid.block);
        let e = ElementRef::parse(page.get(tid.offset)?)?;
        Some(self.score(metric, q, tid, e))
    }

    /// The candidate for element `e` at `tid`: its distance from `q`, counted.
    #[inline(always)]
    fn score<M: Metric>(&mut self, metric: &M, q: &[u8], tid: Tid, e: ElementRef<'_>) -> Cand {
        self.evaluated += 1;
        let (d, key) = metric.distance_with_key(q, e.payload());
        let mut c = Cand::from_element(d, tid, e);
        c.key = key;
        if let Some(f) = &self.filter {
            c.pass = f.matches_payload(e.payload());
        }
        c
    }

    /// Evaluates the neighbours of `c` at `layer` into `self.evals`, skipping
    /// (and marking) visited ones when `use_visited`.
    pub fn expand<R: RelationRead, M: Metric>(&mut self, rel: &R, metric: &M, q: &[u8], c: &Cand, layer: u8, use_visited: bool) {
        self.evals.clear();
        self.batch.clear();
        let nt = Tid::from_u64(c.nbrs);
        {
            let page = rel.read(nt.block);
            let Some(list) = page.get(nt.offset).and_then(NeighborsRef::parse) else {
                return;
            };
            self.nbuf.clear();
            self.nbuf.extend(list.layer(layer).map(Tid::to_u64));
            for i in 0..self.nbuf.len() {
                let n = self.nbuf[i];
                if use_visited && !self.visited.insert(n) {
                    continue;
                }
                let t = Tid::from_u64(n);
                if t.block != nt.block {
                    self.batch.push(n);
                    continue;
                }
                // Same page as the neighbour tuple: evaluate under this lock.
                if let Some(e) = page.get(t.offset).and_then(ElementRef::parse) {
                    let c = self.score(metric, q, t, e);
                    self.evals.push(c);
                }
            }
        }
        if self.batch.is_empty() {
            return;
        }
        self.batch.sort_unstable();
        // Start the cache misses of the whole batch before taking the first
        // lock: page headers first, then (once their line pointers have had
        // time to arrive) the element tuples.
        self.hints.clear();
        let mut last = u32::MAX;
        for &n in &self.batch {
            let b = (n >> 16) as u32;
            if b != last {
                rel.prefetch(b);
                let p = rel.page_hint(b);
                prefetch_line(p);
                self.hints.push(p as usize);
                last = b;
            }
        }
        let mut h = 0;
        last = (self.batch[0] >> 16) as u32;
        for &n in &self.batch {
            let b = (n >> 16) as u32;
            if b != last {
                h += 1;
                last = b;
            }
            prefetch_tuple(self.hints[h] as *const u8, n as u16, TUPLE_PREFETCH_LINES);
        }
        let mut i = 0;
        while i < self.batch.len() {
            let blk = (self.batch[i] >> 16) as u32;
            let page = rel.read(blk);
            while i < self.batch.len() && (self.batch[i] >> 16) as u32 == blk {
                let t = Tid::from_u64(self.batch[i]);
                i += 1;
                if let Some(e) = page.get(t.offset).and_then(ElementRef::parse) {
                    let c = self.score(metric, q, t, e);
                    self.evals.push(c);
                }
            }
        }
    }

    /// Greedy descent (ef = 1) from `cur` through layers `from` down to `to`
    /// inclusive; returns the closest element found.
    pub fn descend<R: RelationRead, M: Metric>(&mut self, rel: &R, metric: &M, q: &[u8], mut cur: Cand, from: u8, to: u8) -> Cand {
        if from < to {
            return cur;
        }
        for layer in (to..=from).rev() {
            loop {
                self.expand(rel, metric, q, &cur, layer, false);
                match self.evals.iter().min() {
                    Some(best) if best.dist < cur.dist => cur = *best,
                    _ => break,
                }
            }
        }
        cur
    }

    /// Seeds a fresh layer search with `entries`.
    pub fn seed(&mut self, entries: impl IntoIterator<Item = Cand>) {
        self.visited.clear();
        self.candidates.clear();
        self.results.clear();
        for e in entries {
            self.visited.insert(e.elem);
            self.candidates.push(Reverse(e));
            if e.pass {
                self.results.push(e);
            }
        }
    }

    /// Best-first search of `layer` keeping the `ef` closest in `results`.
    /// With `keep_discarded`, every evaluated element that leaves or never
    /// enters `results` goes to `discarded` (for iterative scans). Stops early
    /// once `evaluated >= max_evaluated`.
    #[allow(clippy::too_many_arguments)]
    pub fn search_layer<R: RelationRead, M: Metric>(
        &mut self,
        rel: &R,
        metric: &M,
        q: &[u8],
        ef: usize,
        layer: u8,
        keep_discarded: bool,
        max_evaluated: usize,
    ) {
        while let Some(Reverse(c)) = self.candidates.pop() {
            if self.results.len() >= ef && c.dist > self.results.peek().unwrap().dist {
                self.candidates.push(Reverse(c));
                break;
            }
            if !self.visited.set_expanded(c.elem) {
                continue;
            }
            self.expand(rel, metric, q, &c, layer, true);
            for i in 0..self.evals.len() {
                let n = self.evals[i];
                if self.results.len() < ef || n.dist < self.results.peek().unwrap().dist {
                    self.candidates.push(Reverse(n));
                    if !n.pass {
                        // Filtered out: a way through the graph, never a result.
                        if keep_discarded {
                            self.discarded.push(Reverse(n));
                        }
                        continue;
                    }
                    self.results.push(n);
                    if self.results.len() > ef {
                        let out = self.results.pop().unwrap();
                        if keep_discarded {
                            self.discarded.push(Reverse(out));
                        }
                    }
                } else if keep_discarded {
                    self.discarded.push(Reverse(n));
                }
            }
            if self.evaluated >= max_evaluated {
                break;
            }
        }
    }
}

/// Cache lines of each element tuple prefetched ahead of its evaluation: the
/// whole tuple up to 4 kB (a 1000-dimension `vector`). Prefetching only the
/// first 8 lines and leaving the rest to the hardware prefetcher left the
/// distance kernel waiting on memory: on 384-dimension embeddings the whole
/// tuple made queries 13-24% faster (benches/RESULTS.md).
const TUPLE_PREFETCH_LINES: usize = 64;

#[inline(always)]
fn prefetch_ptr(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch(p as *const i8, std::arch::x86_64::_MM_HINT_T0)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// Prefetches the first cache line (header and line pointers) of a page hint.
#[inline(always)]
fn prefetch_line(page: *const u8) {
    if !page.is_null() {
        prefetch_ptr(page);
    }
}

/// Prefetches up to `lines` cache lines of the tuple at 1-based `offset` of
/// the page hint `page`. The line pointer is read without a lock (the page
/// may be changing or replaced): its value only chooses what to prefetch,
/// and is bounds-checked so the prefetch stays inside the page.
#[inline(always)]
fn prefetch_tuple(page: *const u8, offset: u16, lines: usize) {
    use crate::page::{BLCKSZ, ITEM_ID_SIZE, PAGE_HEADER_SIZE};
    const MAX_OFFSET: usize = (BLCKSZ - PAGE_HEADER_SIZE) / ITEM_ID_SIZE;
    if page.is_null() || offset == 0 || offset as usize > MAX_OFFSET {
        return;
    }
    // SAFETY: `page` points to BLCKSZ mapped bytes (RelationRead::page_hint)
    // and the line pointer lies inside them; the load is volatile because
    // other processes may write it concurrently.
    let lp = unsafe { std::ptr::read_volatile(page.add(PAGE_HEADER_SIZE + (offset as usize - 1) * ITEM_ID_SIZE) as *const u32) };
    let start = (lp & 0x7FFF) as usize;
    let len = (lp >> 17) as usize;
    if !(PAGE_HEADER_SIZE..BLCKSZ).contains(&start) {
        return;
    }
    let end = (start + len.max(1)).min(BLCKSZ);
    let mut at = start & !63;
    let mut n = 0;
    while at < end && n < lines {
        // SAFETY: `at` < BLCKSZ, inside the mapped page.
        prefetch_ptr(unsafe { page.add(at) });
        at += 64;
        n += 1;
    }
}

/// The first `len` bytes of `words` (the query, kept in `u64`s so the kernels
/// get 8-byte aligned input).
#[inline]
fn words_as_bytes(words: &[u64], len: usize) -> &[u8] {
    debug_assert!(len <= words.len() * 8);
    // SAFETY: u64 storage viewed as bytes, `len` within it.
    unsafe { std::slice::from_raw_parts(words.as_ptr() as *const u8, len) }
}

/// `hnsw.iterative_scan`.
///
/// An iterative scan returns the `ef_search` results of the ordinary search,
/// then resumes it round after round from the closest elements it evaluated
/// but has not returned yet (the *discarded* ones), returning each round's
/// `ef_search` closest. Once [`SearchOptions::max_scan_tuples`] stops it
/// from expanding further, it still returns, closest first, every element it
/// evaluated and has not returned (in `Strict` order, those not closer than a
/// row already returned): a filter applied by the executor gets to see every
/// row the scan paid a distance for, as with pgvector.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IterativeScan {
    /// Return at most the first `ef_search` results.
    Off,
    /// Keep searching when they run out; never return a row closer than one
    /// already returned (rows found late and closer are skipped), so the
    /// distances returned never decrease.
    Strict,
    /// Keep searching; later rows may be slightly closer than earlier ones.
    Relaxed,
}

/// Per-scan settings (`hnsw.ef_search`, `hnsw.iterative_scan`, `hnsw.max_scan_tuples`).
#[derive(Clone, Copy, Debug)]
pub struct SearchOptions {
    pub ef_search: usize,
    pub iterative: IterativeScan,
    /// An iterative scan expands no more candidates once it has computed
    /// this many distances at layer 0 (the greedy descent through the upper
    /// layers is not counted, as pgvector counts only layer-0 tuples). The
    /// first round, the ordinary `ef_search` search, always runs to its end,
    /// so an iterative scan never returns less than a plain one; later
    /// rounds stop as soon as the budget is spent. Either way the scan then
    /// returns the evaluated elements it has not returned yet, closest first,
    /// before it ends. Also the bound the caller puts on the scan's memory:
    /// it holds one candidate per distance computed (see
    /// [`Searcher::memory_per_scan_tuple`]).
    pub max_scan_tuples: usize,
    /// With a filter ([`Searcher::set_filter`]) on an index with posting lists: compute the
    /// distance of every matching element (exact, no graph) when at most this many match; `None`
    /// decides by cost (see [`exact_is_cheaper`]).
    pub filter_exact_limit: Option<usize>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions {
            ef_search: 40,
            iterative: IterativeScan::Off,
            max_scan_tuples: 20_000,
            filter_exact_limit: None,
        }
    }
}

/// Whether computing the distance of all `matching` elements costs less than a graph search
/// that skips the others: that search computes about `ef_search * 2m` distances unfiltered,
/// and `1 / selectivity` times as many to collect the same number of matching ones. With the
/// vectors inline in the posting lists (`inline`), an exact distance costs a sequential read of
/// the list instead of a page access per element: [`INLINE_EXACT_ADVANTAGE`] times less.
pub fn exact_is_cheaper(matching: u64, elements: u64, ef_search: usize, m: usize, inline: bool) -> bool {
    let per_search = (ef_search.max(1) * 2 * m.max(1)) as f64;
    let elements = elements.max(matching).max(1) as f64;
    let matching = matching as f64;
    let advantage = if inline { INLINE_EXACT_ADVANTAGE } else { 1.0 };
    matching * matching <= advantage * per_search * elements
}

/// How many times cheaper a distance from a posting's inline vector is than one the graph search
/// computes (page lookup, lock, neighbour list, visited set). A judgement, checked at 10%
/// selectivity (where the rule above first prefers the graph without it): GloVe-50 200k, the exact
/// plan from inline vectors 1,700-2,800 QPS (2 clients) against the graph plan's 940 at ef_search
/// 40; Debian descriptions 58k x 384, 1,800-2,900 against 940 (benches/RESULTS.md, "Filtered search
/// with key_vectors").
pub const INLINE_EXACT_ADVANTAGE: f64 = 4.0;

/// Counters of one scan.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Distances computed.
    pub evaluated: usize,
    /// Of those, the ones computed at layer 0: what
    /// [`SearchOptions::max_scan_tuples`] bounds.
    pub scan_tuples: usize,
    /// Search rounds run (1 + resumptions of an iterative scan).
    pub rounds: usize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum State {
    Idle,
    Start,
    Running,
    /// An iterative scan out of budget: returning what it has evaluated and
    /// not returned (the discarded heap), closest first.
    Draining,
    Done,
}

/// An index scan: [`Searcher::begin`] in `amrescan`, [`Searcher::next`] in
/// `amgettuple`. Holds no page lock between calls; one `Searcher` can be
/// reused for many queries without reallocating.
pub struct Searcher<M: Metric> {
    metric: M,
    opts: SearchOptions,
    core: Core,
    query: Vec<u64>,
    query_len: usize,
    state: State,
    /// Results of the last round, farthest first (we pop the closest).
    out: Vec<Cand>,
    /// Further heap TIDs of a duplicate element being returned.
    pending: Vec<(Tid, f32)>,
    last_emitted: f32,
    rounds: usize,
    /// The meta page's entry point, when the caller read it for this query.
    entry: Option<Option<(Tid, u8)>>,
    /// The whole meta page, when the caller read it for this query ([`Searcher::begin_with_meta`]).
    meta: Option<crate::tuple::Meta>,
    upper: Option<Arc<UpperLayers>>,
    /// An iterative scan that ran out of layer-0 candidates has restarted
    /// from the upper layers' elements (done at most once per query).
    reseeded: bool,
    /// `core.evaluated` when the layer-0 search began: distances computed
    /// since count against `max_scan_tuples`.
    layer0_from: usize,
    /// How the last query with a filter was answered (None: no filter).
    filter_plan: Option<FilterPlan>,
    /// The exact plan's matching elements not yet moved to `out`, unsorted: each batch of the
    /// closest is sorted when `out` runs dry (a LIMIT 10 sorts 64 of 2000, not all).
    exact_rest: Vec<Cand>,
}

/// How a filtered query was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterPlan {
    /// Every matching element's distance from the posting lists (this many candidates).
    Exact { candidates: u64 },
    /// The graph, skipping elements that fail the filter (about this many match).
    Graph { matching: u64 },
    /// No element can match.
    Empty,
}

impl<M: Metric> Searcher<M> {
    pub fn new(metric: M, opts: SearchOptions) -> Searcher<M> {
        Searcher {
            metric,
            opts,
            core: Core::new(),
            query: Vec::new(),
            query_len: 0,
            state: State::Idle,
            out: Vec::new(),
            pending: Vec::new(),
            last_emitted: f32::NEG_INFINITY,
            rounds: 0,
            entry: None,
            meta: None,
            upper: None,
            reseeded: false,
            layer0_from: 0,
            filter_plan: None,
            exact_rest: Vec::new(),
        }
    }

    /// Filters the next queries' results by their keys (an index with key columns); `None`
    /// removes it. Takes effect at the next [`Searcher::begin`].
    pub fn set_filter(&mut self, filter: Option<crate::keys::Filter>) {
        self.core.filter = filter.filter(|f| !f.is_empty());
    }

    /// How the current (or last) query's filter was answered.
    pub fn filter_plan(&self) -> Option<FilterPlan> {
        self.filter_plan
    }

    pub fn options(&self) -> &SearchOptions {
        &self.opts
    }
    pub fn set_options(&mut self, opts: SearchOptions) {
        self.opts = opts;
    }
    pub fn metric(&self) -> &M {
        &self.metric
    }
    /// The payload of the current query ([`Searcher::begin`]).
    pub fn query(&self) -> &[u8] {
        words_as_bytes(&self.query, self.query_len)
    }
    /// Descends through this copy of the upper layers instead of their pages
    /// while it was made for the current entry point (see [`UpperLayers`]).
    pub fn set_upper_layers(&mut self, upper: Option<Arc<UpperLayers>>) {
        self.upper = upper;
    }

    /// Reuses this searcher (and its grown buffers) with another metric.
    pub fn set_metric(&mut self, metric: M) {
        self.metric = metric;
        self.end();
    }

    /// Starts a new query (the payload of the ORDER BY argument). No I/O
    /// happens until the first [`Searcher::next`].
    pub fn begin(&mut self, query: &[u8]) {
        self.query.clear();
        self.query.resize(query.len().div_ceil(8), 0);
        self.query_len = query.len();
        // SAFETY: u64 storage viewed as bytes, long enough.
        unsafe { std::ptr::copy_nonoverlapping(query.as_ptr(), self.query.as_mut_ptr() as *mut u8, query.len()) };
        self.core.reset();
        self.out.clear();
        self.exact_rest.clear();
        self.pending.clear();
        self.last_emitted = f32::NEG_INFINITY;
        self.rounds = 0;
        self.entry = None;
        self.meta = None;
        self.reseeded = false;
        self.layer0_from = 0;
        self.state = State::Start;
    }

    /// [`Searcher::begin`] with the entry point (`Meta::entry`) the caller
    /// has just read from the meta page, which the search then does not read again.
    pub fn begin_with_entry(&mut self, query: &[u8], entry: Option<(Tid, u8)>) {
        self.begin(query);
        self.entry = Some(entry);
    }

    /// [`Searcher::begin_with_entry`] with the whole meta page the caller has just read: a
    /// filtered query then finds its posting lists without reading it again.
    pub fn begin_with_meta(&mut self, query: &[u8], meta: &crate::tuple::Meta) {
        self.begin_with_entry(query, meta.entry);
        self.meta = Some(*meta);
    }

    /// Ends the query; [`Searcher::next`] returns `None` until the next `begin`.
    pub fn end(&mut self) {
        self.state = State::Done;
        self.out.clear();
        self.exact_rest.clear();
        self.pending.clear();
    }

    pub fn stats(&self) -> SearchStats {
        SearchStats {
            evaluated: self.core.evaluated,
            scan_tuples: self.scan_tuples(),
            rounds: self.rounds,
        }
    }

    /// Distances computed at layer 0 so far (what `max_scan_tuples` bounds).
    fn scan_tuples(&self) -> usize {
        self.core.evaluated.saturating_sub(self.layer0_from)
    }

    /// Bytes an iterative scan holds per distance computed, an upper
    /// estimate (45-70 measured): its candidate in a heap whose buffer may
    /// have just doubled, and its visited-set slot, the set growing at half
    /// full. For callers bounding [`SearchOptions::max_scan_tuples`] by a
    /// memory budget (`work_mem * hnsw.scan_mem_multiplier`).
    pub const fn memory_per_scan_tuple() -> usize {
        2 * std::mem::size_of::<Cand>() + 4 * (std::mem::size_of::<u64>() + std::mem::size_of::<u32>())
    }

    /// The next `(heap TID, distance)` in distance order (see
    /// [`IterativeScan`]), or `None` when the scan is over. Distances are the
    /// metric's (e.g. squared for L2; see [`Metric::to_sql`]).
    pub fn next<R: RelationRead>(&mut self, rel: &R) -> Option<(Tid, f32)> {
        loop {
            if let Some(x) = self.pending.pop() {
                return Some(x);
            }
            if let Some(mut c) = self.out.pop() {
                if c.unresolved {
                    match self.resolve(rel, &c) {
                        Some(r) if r.dist.to_bits() == c.dist.to_bits() => c = r,
                        Some(r) => {
                            // The posting's vector is not the element's (a damaged posting):
                            // back into the pool at the element's own distance.
                            self.exact_rest.push(r);
                            continue;
                        }
                        None => continue,
                    }
                }
                if self.opts.iterative == IterativeScan::Strict && c.key < self.last_emitted {
                    continue;
                }
                self.last_emitted = self.last_emitted.max(c.key);
                if c.ntids == 1 {
                    return Some((Tid::from_u64(c.heap), c.key));
                }
                self.load_duplicates(rel, &c);
                continue;
            }
            if !self.exact_rest.is_empty() {
                self.next_exact_batch();
                continue;
            }
            match self.state {
                State::Idle | State::Done => return None,
                State::Start => self.first_round(rel),
                State::Running => self.next_round(rel),
                State::Draining => self.drain(),
            }
        }
    }

    /// Reads the element of a candidate scored from a posting's inline vector: the candidate
    /// as the element gives it, or `None` when it is gone, deleted or fails the filter.
    fn resolve<R: RelationRead>(&mut self, rel: &R, c: &Cand) -> Option<Cand> {
        let t = Tid::from_u64(c.elem);
        let q = words_as_bytes(&self.query, self.query_len);
        let page = rel.read(t.block);
        let e = page.get(t.offset).and_then(ElementRef::parse)?;
        if !e.is_live() {
            return None;
        }
        // The exact plan ranks by the key (it searches no graph).
        let (_, key) = self.metric.distance_with_key(q, e.payload());
        let mut r = Cand::from_element(key, t, e);
        if let Some(f) = &self.core.filter {
            r.pass = f.matches_payload(e.payload());
        }
        r.pass.then_some(r)
    }

    /// Re-reads an element with several heap TIDs and queues them all.
    fn load_duplicates<R: RelationRead>(&mut self, rel: &R, c: &Cand) {
        let t = Tid::from_u64(c.elem);
        let page = rel.read(t.block);
        if let Some(e) = page.get(t.offset).and_then(ElementRef::parse) {
            if e.version() == c.version && e.is_live() {
                let mut tids: Vec<Tid> = e.heap_tids().collect();
                tids.reverse();
                self.pending.extend(tids.into_iter().map(|t| (t, c.key)));
            }
        }
    }

    /// The entry point the caller passed to [`Searcher::begin_with_entry`], else the meta page's.
    fn entry_point<R: RelationRead>(&self, rel: &R) -> Option<(Tid, u8)> {
        self.entry.unwrap_or_else(|| read_meta(rel).ok().and_then(|m| m.entry))
    }

    /// Layer 0 of an HNSW graph need not be connected: pruning can drop the
    /// last layer-0 link into a far cluster that only the upper layers still
    /// reach. When an iterative scan has exhausted everything reachable from
    /// its start, every element of the upper layers reachable from the entry
    /// point that the scan has not seen becomes a candidate, so the scan goes
    /// on into those parts. Returns whether anything new was found.
    fn reseed<R: RelationRead>(&mut self, rel: &R) -> bool {
        self.reseeded = true;
        let Some((ep, _)) = self.entry_point(rel) else { return false };
        // Moved out of `self` so the core can be borrowed mutably.
        let query = std::mem::take(&mut self.query);
        let q = words_as_bytes(&query, self.query_len);
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![ep];
        seen.insert(ep.to_u64());
        let mut found = false;
        let mut nbuf = Vec::new();
        while let Some(t) = stack.pop() {
            let (nt, level) = {
                let page = rel.read(t.block);
                let Some(e) = page.get(t.offset).and_then(ElementRef::parse) else {
                    continue;
                };
                if self.core.visited.insert(t.to_u64()) {
                    let c = self.core.score(&self.metric, q, t, e);
                    self.core.discarded.push(Reverse(c));
                    found = true;
                }
                (e.neighbors(), e.level())
            };
            if level == 0 {
                continue;
            }
            nbuf.clear();
            {
                let page = rel.read(nt.block);
                let Some(list) = page.get(nt.offset).and_then(NeighborsRef::parse) else {
                    continue;
                };
                for l in 1..=level.min(list.level()) {
                    nbuf.extend(list.layer(l));
                }
            }
            for &n in &nbuf {
                if seen.insert(n.to_u64()) {
                    stack.push(n);
                }
            }
        }
        self.query = query;
        found
    }

    fn finish_round(&mut self) {
        self.rounds += 1;
        self.out.clear();
        self.out.extend(self.core.results.drain().filter(|c| c.live));
        self.out.sort_unstable_by(by_key_farthest_first);
    }

    fn first_round<R: RelationRead>(&mut self, rel: &R) {
        self.state = State::Done;
        self.filter_plan = None;
        if self.core.filter.is_some() && self.exact_round(rel) {
            return;
        }
        let Some((ep, top)) = self.entry_point(rel) else { return };
        // Moved out of `self` so the core can be borrowed mutably.
        let query = std::mem::take(&mut self.query);
        let q = words_as_bytes(&query, self.query_len);
        // Through the private copy of the upper layers when it was made for this entry point,
        // then on from the element it reached, re-read from its page: if that element is gone
        // (vacuumed: marked deleted with empty lists, or its slot reused), the ordinary descent.
        let cached = self.upper.as_ref().filter(|u| u.entry() == (ep, top)).and_then(|u| {
            let r = u.descend(&self.metric, q);
            let c = self.core.evaluate_one(rel, &self.metric, q, r.elem)?;
            (c.version == r.version && c.live).then(|| self.core.descend(rel, &self.metric, q, c, r.next_layer, 1))
        });
        let start = match cached {
            Some(c) => Some(c),
            None => self.core.evaluate_one(rel, &self.metric, q, ep).map(|entry| {
                if top > 0 {
                    self.core.descend(rel, &self.metric, q, entry, top, 1)
                } else {
                    entry
                }
            }),
        };
        if let Some(best) = start {
            // The seed was evaluated during the descent: count it at layer 0
            // (as pgvector counts its entry point).
            self.layer0_from = self.core.evaluated.saturating_sub(1);
            self.core.seed([best]);
            let keep = self.opts.iterative != IterativeScan::Off;
            // Not bounded by `max_scan_tuples` even when iterative (as in
            // pgvector): an iterative scan starts with the plain scan's rows.
            self.core
                .search_layer(rel, &self.metric, q, self.opts.ef_search.max(1), 0, keep, usize::MAX);
            self.finish_round();
            if keep {
                self.state = State::Running;
            }
        }
        self.query = query;
    }

    /// With a filter: when few elements match (by the posting lists), computes all their
    /// distances and queues them in order; returns whether it did (else the graph search runs).
    fn exact_round<R: RelationRead>(&mut self, rel: &R) -> bool {
        let Some(filter) = self.core.filter.clone() else { return false };
        if filter.is_unsatisfiable() {
            self.filter_plan = Some(FilterPlan::Empty);
            return true;
        }
        let meta = match self.meta {
            Some(m) => m,
            None => match read_meta(rel) {
                Ok(m) => m,
                Err(_) => return false,
            },
        };
        if meta.key_root == 0 {
            return false;
        }
        // The condition with the fewest postings drives; the others are checked per element.
        let mut best: Option<(u64, Vec<crate::postings::Entry>)> = None;
        for c in &filter.conds {
            let entries: Vec<_> = c
                .values
                .iter()
                .filter_map(|&v| crate::postings::lookup(rel, meta.key_root, c.col, v))
                .collect();
            let n: u64 = entries.iter().map(|e| e.count as u64).sum();
            if best.as_ref().is_none_or(|(b, _)| n < *b) {
                best = Some((n, entries));
            }
        }
        let Some((matching, entries)) = best else { return false };
        let inline = meta.key_vector_len > 0;
        let exact = match self.opts.filter_exact_limit {
            Some(limit) => matching <= limit as u64,
            None => exact_is_cheaper(matching, meta.element_count, self.opts.ef_search, meta.m as usize, inline),
        };
        if !exact {
            self.filter_plan = Some(FilterPlan::Graph { matching });
            return false;
        }
        let query = std::mem::take(&mut self.query);
        let q = words_as_bytes(&query, self.query_len);
        self.out.clear();
        self.exact_rest.clear();
        // Postings without an inline vector name elements to read.
        let mut tids: Vec<u64> = Vec::with_capacity(if inline { 0 } else { matching as usize });
        for e in &entries {
            let (metric, rest, evaluated) = (&self.metric, &mut self.exact_rest, &mut self.core.evaluated);
            crate::postings::for_each_posting_vector(rel, e.head, |t, v| {
                if v.is_empty() {
                    tids.push(t.to_u64());
                } else {
                    *evaluated += 1;
                    rest.push(Cand::unresolved(metric.distance_with_key(q, v).1, t));
                }
            });
        }
        if entries.len() > 1 && !self.exact_rest.is_empty() {
            // An element in several of the values' lists (labels) is one candidate.
            self.exact_rest.sort_unstable_by_key(|c| c.elem);
            self.exact_rest.dedup_by_key(|c| c.elem);
        }
        // Lists are kept in TID order (build) or nearly (appends): sort only when needed.
        if !tids.is_sorted() {
            tids.sort_unstable();
        }
        tids.dedup();
        if !self.exact_rest.is_empty() && !tids.is_empty() {
            let listed: std::collections::HashSet<u64> = self.exact_rest.iter().map(|c| c.elem).collect();
            tids.retain(|t| !listed.contains(t));
        }
        self.filter_plan = Some(FilterPlan::Exact {
            candidates: (tids.len() + self.exact_rest.len()) as u64,
        });
        let mut i = 0;
        while i < tids.len() {
            let blk = (tids[i] >> 16) as u32;
            let page = rel.read(blk);
            while i < tids.len() && (tids[i] >> 16) as u32 == blk {
                let t = Tid::from_u64(tids[i]);
                i += 1;
                if let Some(e) = page.get(t.offset).and_then(ElementRef::parse) {
                    if e.is_live() {
                        let mut c = self.core.score(&self.metric, q, t, e);
                        if c.pass {
                            // Ranked by the key: it searches no graph.
                            c.dist = c.key;
                            self.exact_rest.push(c);
                        }
                    }
                }
            }
        }
        self.query = query;
        self.rounds = 1;
        self.state = State::Done;
        true
    }

    /// Moves the closest batch of the exact plan's remaining elements to `out`, sorted.
    fn next_exact_batch(&mut self) {
        const BATCH: usize = 64;
        let rest = &mut self.exact_rest;
        let take = BATCH.min(rest.len());
        if take < rest.len() {
            rest.select_nth_unstable(take - 1);
        }
        self.out.clear();
        self.out.extend(rest.drain(..take));
        // Read from the end: farthest first.
        self.out.sort_unstable_by(|a, b| b.cmp(a));
    }

    /// Resumes an iterative scan, or once its budget is spent starts
    /// returning what it has evaluated and not returned.
    fn next_round<R: RelationRead>(&mut self, rel: &R) {
        if self.scan_tuples() >= self.opts.max_scan_tuples {
            self.state = State::Draining;
            return;
        }
        if self.core.discarded.is_empty() && self.core.candidates.is_empty() && (self.reseeded || !self.reseed(rel)) {
            self.state = State::Done;
            return;
        }
        let ef = self.opts.ef_search.max(1);
        self.core.results.clear();
        while self.core.results.len() < ef {
            let Some(Reverse(c)) = self.core.discarded.pop() else { break };
            // Filtered-out elements go on as ways through the graph only.
            if c.pass {
                self.core.results.push(c);
            }
            self.core.candidates.push(Reverse(c));
        }
        // Moved out of `self` so the core can be borrowed mutably.
        let query = std::mem::take(&mut self.query);
        let q = words_as_bytes(&query, self.query_len);
        let max = self.layer0_from.saturating_add(self.opts.max_scan_tuples);
        self.core.search_layer(rel, &self.metric, q, ef, 0, true, max);
        self.query = query;
        self.finish_round();
    }

    /// Moves the next `ef_search` closest discarded candidates to `out`: an
    /// out-of-budget scan returns every element it evaluated and has not
    /// returned yet, in distance order (in `Strict` order those closer than
    /// a row already returned are then skipped by `next`). Each is one heap
    /// pop; nothing is evaluated and nothing grows.
    fn drain(&mut self) {
        self.out.clear();
        let batch = self.opts.ef_search.max(1);
        while self.out.len() < batch {
            let Some(Reverse(c)) = self.core.discarded.pop() else { break };
            if c.live && c.pass {
                self.out.push(c);
            }
        }
        if self.out.is_empty() {
            self.state = State::Done;
        }
        // `out` is read from its end.
        self.out.sort_unstable_by(by_key_farthest_first);
    }
}

/// The order of `out` (read from its end): by key, farthest first.
fn by_key_farthest_first(a: &Cand, b: &Cand) -> Ordering {
    b.key.total_cmp(&a.key).then(b.elem.cmp(&a.elem))
}
