//! In-memory parallel graph construction.
//!
//! The glue collects `(payload, heap TID)` pairs into a [`BuildArena`]
//! (merging exact duplicates like pgvector), calls [`build_graph_parallel`]
//! — pure Rust on a dedicated rayon pool, no Postgres call possible — and then
//! [`write_graph`](crate::write_graph) on the backend thread.
//!
//! The graph stores layer-0 lists in one flat array of atomics (`[count, ids..]`
//! per node, stride 2m + 1) and upper layers in a second one. Readers copy a
//! list without locking (each entry is a valid id, a concurrently rewritten
//! list is at worst slightly stale, which HNSW tolerates); writers serialise
//! on a per-node mutex, one node at a time, so there is no lock order.

use crate::metric::Metric;
use crate::select::{fill_target, select_neighbors, Scored};
use crate::tuple::{max_level_for, Tid, HEAP_TIDS_MAX};
use crate::visited::VisitedList;
use rayon::prelude::*;
use semvec_storage::Rng;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::Mutex;

/// Graph construction parameters (`WITH (m = .., ef_construction = ..)`).
#[derive(Clone, Copy, Debug)]
pub struct BuildParams {
    pub m: usize,
    pub ef_construction: usize,
    /// Seeds the level draws; the same seed gives the same levels.
    pub seed: u64,
}

impl Default for BuildParams {
    fn default() -> Self {
        BuildParams {
            m: 16,
            ef_construction: 64,
            seed: 0x5EED,
        }
    }
}

/// The build was interrupted through the `cancel` flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("canceling statement due to user request")]
pub struct Cancelled;

impl Cancelled {
    /// `ERRCODE_QUERY_CANCELED`.
    pub const SQLSTATE: &'static str = "57014";
}

/// Random access to the payloads being indexed.
pub trait VectorSource: Sync {
    fn len(&self) -> usize;
    fn vector(&self, i: usize) -> &[u8];
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl VectorSource for [&[u8]] {
    fn len(&self) -> usize {
        <[&[u8]]>::len(self)
    }
    fn vector(&self, i: usize) -> &[u8] {
        self[i]
    }
}

impl VectorSource for Vec<Vec<u8>> {
    fn len(&self) -> usize {
        <[Vec<u8>]>::len(self)
    }
    fn vector(&self, i: usize) -> &[u8] {
        &self[i]
    }
}

/// Payloads and heap TIDs gathered by the build scan. Payloads are stored
/// 8-byte aligned in one buffer; exact duplicates share an element until it
/// holds [`HEAP_TIDS_MAX`] TIDs.
#[derive(Default)]
pub struct BuildArena {
    words: Vec<u64>,
    /// (start byte, length) of each element's payload.
    spans: Vec<(usize, u32)>,
    /// Whether every payload so far has the length of the first (a `vector`
    /// or `halfvec` column always): then element `i` starts at `i` times that
    /// length rounded up to 8 and [`BuildArena::payload`] does not look up
    /// `spans`, a cache miss per neighbour in the build's inner loop (its
    /// 16 bytes per element are spread over a megabyte for 60k elements).
    mixed_lengths: bool,
    first_tid: Vec<Tid>,
    extra_tids: HashMap<u32, Vec<Tid>>,
    /// Hash of a payload -> newest element with that payload.
    by_hash: HashMap<u64, u32>,
    heap_tuples: usize,
}

fn hash_bytes(b: &[u8]) -> u64 {
    let mut h: u64 = b.len() as u64;
    let mut chunks = b.chunks_exact(8);
    for c in &mut chunks {
        h = (h.rotate_left(5) ^ u64::from_le_bytes(c.try_into().unwrap())).wrapping_mul(0x517C_C1B7_2722_0A95);
    }
    for &x in chunks.remainder() {
        h = (h.rotate_left(5) ^ x as u64).wrapping_mul(0x517C_C1B7_2722_0A95);
    }
    h
}

impl BuildArena {
    pub fn new() -> BuildArena {
        BuildArena::default()
    }

    /// Adds a heap tuple; an exact duplicate of an earlier payload joins its element.
    pub fn push(&mut self, payload: &[u8], heap_tid: Tid) {
        self.heap_tuples += 1;
        let h = hash_bytes(payload);
        if let Some(&e) = self.by_hash.get(&h) {
            if self.payload(e as usize) == payload {
                let extra = self.extra_tids.entry(e).or_default();
                if extra.len() + 1 < HEAP_TIDS_MAX {
                    extra.push(heap_tid);
                    return;
                }
            }
        }
        let id = self.spans.len() as u32;
        let start = self.words.len() * 8;
        self.words.resize(self.words.len() + payload.len().div_ceil(8), 0);
        self.bytes_mut()[start..start + payload.len()].copy_from_slice(payload);
        if let Some(&(_, first)) = self.spans.first() {
            self.mixed_lengths |= first as usize != payload.len();
        }
        self.spans.push((start, payload.len() as u32));
        self.first_tid.push(heap_tid);
        self.by_hash.insert(h, id);
    }

    fn bytes(&self) -> &[u8] {
        // SAFETY: u64 storage viewed as bytes.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr() as *const u8, self.words.len() * 8) }
    }
    fn bytes_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above.
        unsafe { std::slice::from_raw_parts_mut(self.words.as_mut_ptr() as *mut u8, self.words.len() * 8) }
    }

    /// Number of elements (distinct payload groups).
    pub fn len(&self) -> usize {
        self.spans.len()
    }
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }
    /// Number of heap tuples pushed.
    pub fn heap_tuples(&self) -> usize {
        self.heap_tuples
    }
    /// The payload of element `i`.
    #[inline]
    pub fn payload(&self, i: usize) -> &[u8] {
        if !self.mixed_lengths {
            debug_assert!(i < self.spans.len());
            let l = self.spans.first().map_or(0, |&(_, l)| l as usize);
            let s = i * l.div_ceil(8) * 8;
            return &self.bytes()[s..s + l];
        }
        let (s, l) = self.spans[i];
        &self.bytes()[s..s + l as usize]
    }
    /// Heap TID slots element `i` is written with: one for a vector seen once, all
    /// [`HEAP_TIDS_MAX`] for one with duplicates (more may come: `crate::tuple`).
    pub fn heap_tid_slots(&self, i: usize) -> usize {
        if self.extra_tids.contains_key(&(i as u32)) {
            HEAP_TIDS_MAX
        } else {
            1
        }
    }
    /// The heap TIDs of element `i` (1..=HEAP_TIDS_MAX).
    pub fn heap_tids(&self, i: usize) -> Vec<Tid> {
        let mut v = vec![self.first_tid[i]];
        if let Some(x) = self.extra_tids.get(&(i as u32)) {
            v.extend_from_slice(x);
        }
        v
    }
    /// Bytes held now (payloads, TIDs, dedup table), roughly.
    pub fn memory_usage(&self) -> usize {
        self.words.capacity() * 8
            + self.spans.capacity() * 16
            + self.first_tid.capacity() * 8
            + self.extra_tids.len() * (48 + HEAP_TIDS_MAX * 8)
            + self.by_hash.capacity() * 24
    }
    /// What the whole build needs if it went ahead now: this arena plus the
    /// graph of [`estimate_graph_memory`] for one more element. Compare with
    /// `maintenance_work_mem` before each push.
    pub fn estimate_build_memory(&self, m: usize, threads: usize) -> usize {
        self.memory_usage() + estimate_graph_memory(self.len() + 1, m, threads)
    }
}

impl VectorSource for BuildArena {
    fn len(&self) -> usize {
        self.spans.len()
    }
    #[inline]
    fn vector(&self, i: usize) -> &[u8] {
        self.payload(i)
    }
}

/// Bytes [`build_graph_parallel`] allocates for `n` elements (graph, locks
/// and per-thread scratch), excluding the payloads themselves.
pub fn estimate_graph_memory(n: usize, m: usize, threads: usize) -> usize {
    let layer0 = (2 * m + 1) * 4;
    // P(level >= l) = m^-l, so a node has 1/(m-1) upper layers on average.
    let upper = (m + 1) * 4 / (m.max(2) - 1) + 1;
    let per_node = layer0 + upper + 4 /* upper start */ + 1 /* level */ + 8 /* lock */;
    n * per_node + threads.max(1) * (n * 4 + 64 * 1024)
}

/// A finished in-memory HNSW graph over element ids `0..len()`.
pub struct Graph {
    m: usize,
    levels: Vec<u8>,
    links0: Box<[AtomicU32]>,
    upper_start: Vec<u32>,
    upper: Box<[AtomicU32]>,
    entry: Option<u32>,
}

impl Graph {
    fn allocate(levels: Vec<u8>, m: usize) -> Graph {
        let n = levels.len();
        let stride0 = 2 * m + 1;
        let mut upper_start = Vec::with_capacity(n);
        let mut total = 0usize;
        for &l in &levels {
            upper_start.push(total as u32);
            total += l as usize * (m + 1);
        }
        Graph {
            m,
            links0: (0..n * stride0).map(|_| AtomicU32::new(0)).collect(),
            upper: (0..total).map(|_| AtomicU32::new(0)).collect(),
            upper_start,
            levels,
            entry: None,
        }
    }

    pub fn len(&self) -> usize {
        self.levels.len()
    }
    pub fn is_empty(&self) -> bool {
        self.levels.is_empty()
    }
    pub fn m(&self) -> usize {
        self.m
    }
    pub fn level(&self, node: u32) -> u8 {
        self.levels[node as usize]
    }
    /// The entry point: a node of the highest level.
    pub fn entry_point(&self) -> Option<u32> {
        self.entry
    }

    /// `[count, ids..]` of `node` at `layer`.
    #[inline]
    fn list(&self, node: u32, layer: u8) -> &[AtomicU32] {
        if layer == 0 {
            let s = 2 * self.m + 1;
            &self.links0[node as usize * s..(node as usize + 1) * s]
        } else {
            let s = self.m + 1;
            let start = self.upper_start[node as usize] as usize + (layer as usize - 1) * s;
            &self.upper[start..start + s]
        }
    }

    /// Copies the neighbours of `node` at `layer` into `out`.
    #[inline]
    pub fn neighbors_into(&self, node: u32, layer: u8, out: &mut Vec<u32>) {
        out.clear();
        let l = self.list(node, layer);
        let n = (l[0].load(Ordering::Acquire) as usize).min(l.len() - 1);
        out.extend(l[1..=n].iter().map(|x| x.load(Ordering::Relaxed)));
    }

    /// Starts loading the list of `node` at `layer`.
    #[inline]
    fn prefetch_list(&self, node: u32, layer: u8) {
        let l = self.list(node, layer);
        // SAFETY: u32 atomics viewed as bytes for a prefetch hint.
        prefetch(unsafe { std::slice::from_raw_parts(l.as_ptr() as *const u8, l.len() * 4) });
    }

    /// The neighbours of `node` at `layer`.
    pub fn neighbors(&self, node: u32, layer: u8) -> Vec<u32> {
        let mut v = Vec::new();
        if layer <= self.level(node) {
            self.neighbors_into(node, layer, &mut v);
        }
        v
    }

    /// Replaces a list; the caller holds the node's lock.
    #[inline]
    fn set_list(&self, node: u32, layer: u8, ids: impl ExactSizeIterator<Item = u32>) {
        let l = self.list(node, layer);
        let n = ids.len().min(l.len() - 1);
        for (slot, id) in l[1..].iter().zip(ids) {
            slot.store(id, Ordering::Relaxed);
        }
        l[0].store(n as u32, Ordering::Release);
    }

    /// Capacity of a list at `layer`.
    #[inline]
    pub fn capacity(&self, layer: u8) -> usize {
        if layer == 0 {
            2 * self.m
        } else {
            self.m
        }
    }

    /// Bytes this graph occupies.
    pub fn memory_usage(&self) -> usize {
        self.links0.len() * 4 + self.upper.len() * 4 + self.levels.len() * 5
    }
}

/// Hints the CPU to start loading `v`, whole up to 4 kB (a 1000-dimension
/// `vector`): prefetching only the first 4 lines left the distance kernel
/// waiting on the rest; whole vectors made a 384-dimension build 8% faster.
#[inline(always)]
pub(crate) fn prefetch(v: &[u8]) {
    #[cfg(target_arch = "x86_64")]
    {
        let p = v.as_ptr();
        let lines = v.len().div_ceil(64).min(64);
        for i in 0..lines {
            // SAFETY: prefetch is a hint; the address is inside `v`.
            unsafe { std::arch::x86_64::_mm_prefetch(p.add(i * 64) as *const i8, std::arch::x86_64::_MM_HINT_T0) };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = v;
}

/// HNSW's level draw: floor(-ln(U) / ln(m)), capped so the neighbour tuple fits a page.
pub(crate) fn draw_level(u: f64, m: usize) -> u8 {
    let ml = 1.0 / (m.max(2) as f64).ln();
    let l = (-u.ln() * ml).floor();
    (l.min(max_level_for(m) as f64)) as u8
}

struct Scratch {
    visited: VisitedList,
    candidates: BinaryHeap<Reverse<Scored>>,
    results: BinaryHeap<Scored>,
    buf: Vec<u32>,
    found: Vec<Scored>,
    selected: Vec<Scored>,
    prune: Vec<Scored>,
    /// Per layer, the neighbours chosen for the element being inserted.
    chosen: Vec<Vec<Scored>>,
}

struct Builder<'a, S: ?Sized, M> {
    graph: &'a Graph,
    src: &'a S,
    metric: &'a M,
    ef: usize,
    locks: Vec<Mutex<()>>,
    /// (entry node, its level); held for a whole insert that raises the top level.
    entry: Mutex<(u32, u8)>,
    scratch: Mutex<Vec<Scratch>>,
}

impl<S: VectorSource + ?Sized, M: Metric> Builder<'_, S, M> {
    #[inline]
    fn dist(&self, q: &[u8], node: u32) -> f32 {
        self.metric.distance(q, self.src.vector(node as usize))
    }

    fn take_scratch(&self) -> Scratch {
        if let Some(s) = self.scratch.lock().unwrap().pop() {
            return s;
        }
        Scratch {
            visited: VisitedList::new(self.graph.len()),
            candidates: BinaryHeap::new(),
            results: BinaryHeap::new(),
            buf: Vec::new(),
            found: Vec::new(),
            selected: Vec::new(),
            prune: Vec::new(),
            chosen: Vec::new(),
        }
    }

    /// Best-first search of one layer from the entries in `sc.found`;
    /// leaves the `ef` closest, ascending, in `sc.found`. `me`, the node being
    /// inserted, is never returned: other threads may already link to it.
    fn search_layer(&self, q: &[u8], me: u32, ef: usize, layer: u8, sc: &mut Scratch) {
        let g = self.graph;
        sc.visited.clear();
        sc.visited.insert(me);
        sc.candidates.clear();
        sc.results.clear();
        sc.found.retain(|e| e.id != me);
        for &e in &sc.found {
            sc.visited.insert(e.id);
            sc.candidates.push(Reverse(e));
            sc.results.push(e);
        }
        while let Some(Reverse(c)) = sc.candidates.pop() {
            let worst = sc.results.peek().map_or(f32::INFINITY, |w| w.dist);
            if c.dist > worst && sc.results.len() >= ef {
                break;
            }
            // The likely next candidate's list arrives while this one is expanded.
            if let Some(Reverse(nx)) = sc.candidates.peek() {
                g.prefetch_list(nx.id, layer);
            }
            g.neighbors_into(c.id, layer, &mut sc.buf);
            // Drop visited ones, then prefetch the rest before computing.
            sc.buf.retain(|&n| sc.visited.insert(n));
            for &n in &sc.buf {
                prefetch(self.src.vector(n as usize));
            }
            for &n in &sc.buf {
                let d = self.dist(q, n);
                if sc.results.len() < ef || d < sc.results.peek().unwrap().dist {
                    sc.candidates.push(Reverse(Scored { dist: d, id: n }));
                    sc.results.push(Scored { dist: d, id: n });
                    if sc.results.len() > ef {
                        sc.results.pop();
                    }
                }
            }
        }
        sc.found.clear();
        sc.found.extend(sc.results.drain());
        sc.found.sort_unstable();
    }

    /// Adds `new` (at distance `d` from `node`) to `node`'s list at `layer`,
    /// pruning with the heuristic when the list is full.
    fn connect(&self, node: u32, new: u32, d: f32, layer: u8, sc: &mut Scratch) {
        let g = self.graph;
        let _lock = self.locks[node as usize].lock().unwrap();
        g.neighbors_into(node, layer, &mut sc.buf);
        if sc.buf.contains(&new) {
            return;
        }
        let cap = g.capacity(layer);
        if sc.buf.len() < cap {
            sc.buf.push(new);
            g.set_list(node, layer, sc.buf.iter().copied());
            return;
        }
        let base = self.src.vector(node as usize);
        sc.prune.clear();
        sc.prune.extend(sc.buf.iter().map(|&x| Scored {
            dist: self.dist(base, x),
            id: x,
        }));
        sc.prune.push(Scored { dist: d, id: new });
        sc.prune.sort_unstable();
        select_neighbors(
            &sc.prune,
            cap,
            fill_target(layer, cap),
            |a, b| self.metric.distance(self.src.vector(a as usize), self.src.vector(b as usize)),
            &mut sc.selected,
        );
        g.set_list(node, layer, sc.selected.iter().map(|s| s.id));
    }

    fn insert(&self, q: u32, sc: &mut Scratch) {
        let g = self.graph;
        let level = g.level(q);
        let qv = self.src.vector(q as usize);
        let guard = self.entry.lock().unwrap();
        let (ep, top) = *guard;
        // Rare (a new top level): keep others from using the old entry meanwhile.
        let hold = if level > top {
            Some(guard)
        } else {
            drop(guard);
            None
        };

        let mut cur = Scored {
            dist: self.dist(qv, ep),
            id: ep,
        };
        for layer in (level + 1..=top).rev() {
            loop {
                let mut moved = false;
                g.neighbors_into(cur.id, layer, &mut sc.buf);
                for i in 0..sc.buf.len() {
                    let n = sc.buf[i];
                    if n == q {
                        continue;
                    }
                    let d = self.dist(qv, n);
                    if d < cur.dist {
                        cur = Scored { dist: d, id: n };
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        sc.found.clear();
        sc.found.push(cur);
        // All of q's own lists are set before any back link makes q reachable:
        // a search that reached q through a layer already linked and went
        // down to a layer whose list was still empty would see q alone and
        // give the element it inserts a single neighbour.
        let top_layer = level.min(top);
        let mut chosen = std::mem::take(&mut sc.chosen);
        chosen.resize_with(top_layer as usize + 1, Vec::new);
        for layer in (0..=top_layer).rev() {
            self.search_layer(qv, q, self.ef, layer, sc);
            let cap = g.capacity(layer);
            let selected = &mut chosen[layer as usize];
            select_neighbors(
                &sc.found,
                cap,
                fill_target(layer, cap),
                |a, b| self.metric.distance(self.src.vector(a as usize), self.src.vector(b as usize)),
                selected,
            );
            let _lock = self.locks[q as usize].lock().unwrap();
            g.set_list(q, layer, selected.iter().map(|s| s.id));
        }
        for (layer, selected) in chosen.iter().enumerate() {
            for s in selected {
                self.connect(s.id, q, s.dist, layer as u8, sc);
            }
        }
        sc.chosen = chosen;
        if let Some(mut guard) = hold {
            *guard = (q, level);
        }
    }
}

/// Builds the HNSW graph of all vectors of `src` on a dedicated pool of
/// `threads` threads. `progress` is incremented once per inserted element;
/// setting `cancel` stops the build with [`Cancelled`] at the next element.
pub fn build_graph_parallel<S, M>(
    src: &S,
    params: &BuildParams,
    metric: &M,
    threads: usize,
    cancel: &AtomicBool,
    progress: &AtomicUsize,
) -> Result<Graph, Cancelled>
where
    S: VectorSource + ?Sized,
    M: Metric,
{
    build_graph_parallel_polling(src, params, metric, threads, cancel, progress, &mut || {})
}

/// [`build_graph_parallel`], calling `poll` on the caller's thread about
/// every 20 ms while the pool works. The glue runs `CHECK_FOR_INTERRUPTS()`
/// and progress reporting there (Postgres calls are safe on that thread
/// only). If `poll` panics (a Postgres ERROR through pgrx), the build is
/// cancelled, the workers are joined, and the panic continues.
pub fn build_graph_parallel_polling<S, M>(
    src: &S,
    params: &BuildParams,
    metric: &M,
    threads: usize,
    cancel: &AtomicBool,
    progress: &AtomicUsize,
    poll: &mut dyn FnMut(),
) -> Result<Graph, Cancelled>
where
    S: VectorSource + ?Sized,
    M: Metric,
{
    assert!(params.m >= 2, "m must be at least 2");
    let n = src.len();
    let mut rng = Rng::new(params.seed);
    let levels: Vec<u8> = (0..n).map(|_| draw_level(rng.next_unit(), params.m)).collect();
    let mut graph = Graph::allocate(levels, params.m);
    if n == 0 {
        return Ok(graph);
    }
    let builder = Builder {
        graph: &graph,
        src,
        metric,
        ef: params.ef_construction.max(1),
        locks: (0..n).map(|_| Mutex::new(())).collect(),
        entry: Mutex::new((0, graph.level(0))),
        scratch: Mutex::new(Vec::new()),
    };
    progress.fetch_add(1, Ordering::Relaxed);
    let one = |q: u32| {
        if cancel.load(Ordering::Relaxed) {
            return Err(Cancelled);
        }
        let mut sc = builder.take_scratch();
        builder.insert(q, &mut sc);
        builder.scratch.lock().unwrap().push(sc);
        progress.fetch_add(1, Ordering::Relaxed);
        Ok(())
    };
    let result = std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel::<()>();
        let worker = scope.spawn(|| {
            let r = match rayon::ThreadPoolBuilder::new().num_threads(threads.max(1)).build() {
                Ok(pool) => pool.install(|| (1..n as u32).into_par_iter().with_min_len(16).try_for_each(one)),
                // No threads to be had: build on this one.
                Err(_) => (1..n as u32).try_for_each(one),
            };
            drop(tx);
            r
        });
        while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(std::time::Duration::from_millis(20)) {
            if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(&mut *poll)) {
                cancel.store(true, Ordering::Relaxed);
                let _ = worker.join();
                std::panic::resume_unwind(panic);
            }
        }
        worker.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    });
    result?;
    let entry = builder.entry.lock().unwrap().0;
    drop(builder);
    graph.entry = Some(entry);
    graph.ensure_reachable(src, metric);
    Ok(graph)
}

impl Graph {
    /// Pruning can leave a node that no layer-0 list names, which no search
    /// (not even an unbounded iterative scan) would ever return. Give each
    /// such node an in-edge from its closest reachable neighbour, replacing
    /// that neighbour's farthest edge whose target has other in-edges.
    fn ensure_reachable<S: VectorSource + ?Sized, M: Metric>(&self, src: &S, metric: &M) {
        let n = self.len();
        let Some(entry) = self.entry else { return };
        let mut indeg = vec![0u32; n];
        let mut buf = Vec::new();
        for u in 0..n as u32 {
            self.neighbors_into(u, 0, &mut buf);
            for &v in &buf {
                indeg[v as usize] += 1;
            }
        }
        let mut reached = vec![false; n];
        let mut queue = Vec::new();
        let bfs = |start: u32, reached: &mut Vec<bool>, queue: &mut Vec<u32>| {
            let mut buf = Vec::new();
            reached[start as usize] = true;
            queue.clear();
            queue.push(start);
            while let Some(x) = queue.pop() {
                self.neighbors_into(x, 0, &mut buf);
                for &y in &buf {
                    if !reached[y as usize] {
                        reached[y as usize] = true;
                        queue.push(y);
                    }
                }
            }
        };
        bfs(entry, &mut reached, &mut queue);
        let dist = |a: u32, b: u32| metric.distance(src.vector(a as usize), src.vector(b as usize));
        for u in 0..n as u32 {
            if reached[u as usize] {
                continue;
            }
            self.neighbors_into(u, 0, &mut buf);
            let mut outs: Vec<Scored> = buf
                .iter()
                .filter(|&&v| reached[v as usize])
                .map(|&v| Scored { dist: dist(u, v), id: v })
                .collect();
            outs.sort_unstable();
            if outs.is_empty() {
                outs.push(Scored {
                    dist: dist(u, entry),
                    id: entry,
                });
            }
            for v in outs {
                let mut list = Vec::new();
                self.neighbors_into(v.id, 0, &mut list);
                if list.len() < self.capacity(0) {
                    list.push(u);
                } else {
                    let far = list
                        .iter()
                        .enumerate()
                        .filter(|(_, &w)| indeg[w as usize] > 1)
                        .map(|(i, &w)| (dist(v.id, w), i))
                        .max_by(|a, b| a.0.total_cmp(&b.0));
                    let Some((_, i)) = far else { continue };
                    indeg[list[i] as usize] -= 1;
                    list[i] = u;
                }
                indeg[u as usize] += 1;
                self.set_list(v.id, 0, list.iter().copied());
                break;
            }
            if indeg[u as usize] > 0 {
                bfs(u, &mut reached, &mut queue);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::{f32_bytes, L2Squared};

    #[test]
    fn arena_merges_exact_duplicates_up_to_the_tid_cap() {
        let mut a = BuildArena::new();
        let v = f32_bytes(&[1.0, 2.0, 3.0]).to_vec();
        for i in 0..25u16 {
            a.push(&v, Tid::new(1, i + 1));
        }
        a.push(f32_bytes(&[1.0, 2.0, 4.0]), Tid::new(2, 1));
        assert_eq!(a.heap_tuples(), 26);
        assert_eq!(a.len(), 4, "10 + 10 + 5 duplicates, then one distinct");
        assert_eq!(a.heap_tids(0).len(), 10);
        assert_eq!(a.heap_tids(2).len(), 5);
        assert_eq!(a.heap_tids(3), vec![Tid::new(2, 1)]);
        assert_eq!(a.payload(1), &v[..]);
        assert_eq!(a.payload(1).as_ptr() as usize % 8, 0);
    }

    #[test]
    fn arena_payloads_are_found_with_equal_and_with_mixed_lengths() {
        // 3 floats = 12 bytes, padded to 16: equal lengths are located by stride.
        let mut a = BuildArena::new();
        let vs: Vec<Vec<u8>> = (0..5).map(|i| f32_bytes(&[i as f32, 1.0, 2.0]).to_vec()).collect();
        for (i, v) in vs.iter().enumerate() {
            a.push(v, Tid::new(1, i as u16 + 1));
        }
        for (i, v) in vs.iter().enumerate() {
            assert_eq!(a.payload(i), &v[..], "element {i}");
        }
        // A payload of another length (sparse vectors differ) switches to the recorded spans.
        let odd = f32_bytes(&[9.0, 8.0, 7.0, 6.0, 5.0]).to_vec();
        a.push(&odd, Tid::new(2, 1));
        a.push(&vs[0][..8], Tid::new(2, 2));
        for (i, v) in vs.iter().enumerate() {
            assert_eq!(a.payload(i), &v[..], "element {i}");
        }
        assert_eq!(a.payload(5), &odd[..]);
        assert_eq!(a.payload(6), &vs[0][..8]);
        assert!((0..7).all(|i| (a.payload(i).as_ptr() as usize).is_multiple_of(8)));
    }

    #[test]
    fn levels_follow_the_geometric_distribution() {
        let mut rng = Rng::new(1);
        let n = 100_000;
        let above: usize = (0..n).filter(|_| draw_level(rng.next_unit(), 16) >= 1).count();
        // P(level >= 1) = 1/16
        assert!((above as f64 / n as f64 - 1.0 / 16.0).abs() < 0.005, "{above}");
    }

    #[test]
    fn cancelled_build_stops_with_an_error() {
        let vs: Vec<Vec<u8>> = (0..500).map(|i| f32_bytes(&[i as f32, 0.0]).to_vec()).collect();
        let cancel = AtomicBool::new(true);
        let progress = AtomicUsize::new(0);
        let r = build_graph_parallel(&vs, &BuildParams::default(), &L2Squared::new(), 2, &cancel, &progress);
        assert_eq!(r.err(), Some(Cancelled));
        assert!(progress.load(Ordering::Relaxed) < 500);
    }

    #[test]
    fn every_node_gets_neighbors_and_lists_stay_within_capacity() {
        let vs: Vec<Vec<u8>> = (0..2000)
            .map(|i| f32_bytes(&[(i % 97) as f32, (i / 97) as f32 * 1.3]).to_vec())
            .collect();
        let p = BuildParams {
            m: 8,
            ef_construction: 32,
            seed: 3,
        };
        let progress = AtomicUsize::new(0);
        let g = build_graph_parallel(&vs, &p, &L2Squared::new(), 2, &AtomicBool::new(false), &progress).unwrap();
        assert_eq!(progress.load(Ordering::Relaxed), 2000);
        let top = g.level(g.entry_point().unwrap());
        for i in 0..2000u32 {
            assert!(g.level(i) <= top);
            let n0 = g.neighbors(i, 0);
            assert!(!n0.is_empty() && n0.len() <= 16, "node {i}");
            assert!(!n0.contains(&i));
            for l in 1..=g.level(i) {
                assert!(g.neighbors(i, l).len() <= 8);
                for &n in &g.neighbors(i, l) {
                    assert!(g.level(n) >= l, "edge to a node without layer {l}");
                }
            }
        }
        // Every node is reachable from the entry point through layer 0.
        let mut seen = vec![false; 2000];
        let mut stack = vec![g.entry_point().unwrap()];
        seen[stack[0] as usize] = true;
        while let Some(x) = stack.pop() {
            for y in g.neighbors(x, 0) {
                if !seen[y as usize] {
                    seen[y as usize] = true;
                    stack.push(y);
                }
            }
        }
        assert!(seen.iter().all(|&s| s));
    }
}
