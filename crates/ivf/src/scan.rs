//! Index scans: rank the lists by the distance of their centers to the query, read the entries
//! of the nearest `probes` lists, and return them nearest first.
//!
//! An iterative scan (pgvector's `relaxed_order`) keeps going: once those rows are used up it
//! probes the next `probes` lists, up to `max_probes`, so rows come back sorted within each batch
//! of lists but not across batches. Entries are compared in place on share-locked pages (no copy
//! of the vectors); only (distance, heap TID) pairs are kept. Nothing stays locked between calls.

use crate::error::IvfError;
use crate::insert::for_each_list;
use crate::page::{self, PAGE_ENTRY};
use semvec_storage::page::INVALID_BLOCK;
use semvec_storage::{Metric, RelationRead, Tid};
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// How many lists a scan reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanOptions {
    /// Lists read at once (`ivfflat.probes`).
    pub probes: usize,
    /// Lists read in all (`ivfflat.max_probes` for iterative scans, else `probes`).
    pub max_probes: usize,
}

impl Default for ScanOptions {
    fn default() -> ScanOptions {
        ScanOptions { probes: 1, max_probes: 1 }
    }
}

#[derive(Clone, Copy, Debug)]
struct Candidate {
    distance: f32,
    /// Reading order, so equal distances come back in a stable order.
    seq: u64,
    tid: Tid,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        self.distance.total_cmp(&other.distance).then(self.seq.cmp(&other.seq))
    }
}

/// Statistics of one scan, for tests and EXPLAIN-style reporting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ScanStats {
    pub lists_probed: usize,
    pub pages_read: usize,
    pub entries_compared: usize,
}

/// One index scan; reusable across rescans.
pub struct Scanner<M: Metric> {
    metric: M,
    query: Option<Vec<u8>>,
    /// Start pages of the lists to probe, nearest first.
    lists: Vec<u32>,
    next_list: usize,
    probes: usize,
    heap: BinaryHeap<Reverse<Candidate>>,
    seq: u64,
    stats: ScanStats,
}

impl<M: Metric> Scanner<M> {
    pub fn new(metric: M) -> Scanner<M> {
        Scanner {
            metric,
            query: None,
            lists: Vec::new(),
            next_list: 0,
            probes: 1,
            heap: BinaryHeap::new(),
            seq: 0,
            stats: ScanStats::default(),
        }
    }

    /// Start a scan for `query` (None: every distance is zero, pgvector's NULL query). Reads the
    /// list pages to choose the lists.
    pub fn begin<R: RelationRead>(&mut self, rel: &R, query: Option<&[u8]>, opts: ScanOptions) -> Result<(), IvfError> {
        self.end();
        self.query = query.map(|q| q.to_vec());
        let probes = opts.probes.max(1);
        let max_probes = opts.max_probes.max(probes);
        let mut ranked: Vec<(f32, usize, u32)> = Vec::new();
        let (metric, q) = (&self.metric, self.query.as_deref());
        for_each_list(rel, |i, _, t| {
            let d = q.map_or(0.0, |q| metric.distance(t.center, q));
            ranked.push((d, i, t.start_page));
        })?;
        let order = |a: &(f32, usize, u32), b: &(f32, usize, u32)| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1));
        let take = max_probes.min(ranked.len());
        if take < ranked.len() && take > 0 {
            ranked.select_nth_unstable_by(take - 1, order);
            ranked.truncate(take);
        }
        ranked.sort_unstable_by(order);
        self.lists = ranked.into_iter().take(take).map(|(_, _, start)| start).collect();
        self.probes = probes;
        Ok(())
    }

    /// The next row, nearest first (within each batch of lists for iterative scans), with the
    /// index distance (squared for L2, see [`Metric::to_sql`]).
    pub fn next<R: RelationRead>(&mut self, rel: &R) -> Option<(Tid, f32)> {
        loop {
            if let Some(Reverse(c)) = self.heap.pop() {
                return Some((c.tid, c.distance));
            }
            if self.next_list >= self.lists.len() {
                return None;
            }
            let end = (self.next_list + self.probes).min(self.lists.len());
            let mut batch = Vec::new();
            for i in self.next_list..end {
                self.read_list(rel, self.lists[i], &mut batch);
            }
            self.stats.lists_probed += end - self.next_list;
            self.next_list = end;
            self.heap = BinaryHeap::from(batch);
        }
    }

    fn read_list<R: RelationRead>(&mut self, rel: &R, start: u32, out: &mut Vec<Reverse<Candidate>>) {
        let mut blkno = start;
        while blkno != INVALID_BLOCK && blkno < rel.nblocks() {
            let g = rel.read(blkno);
            if !page::is_page(&g, PAGE_ENTRY) {
                break;
            }
            for off in 1..=g.len() {
                let Some(t) = g.get(off) else { continue };
                let distance = match &self.query {
                    Some(q) => self.metric.distance(page::entry_payload(t), q),
                    None => 0.0,
                };
                out.push(Reverse(Candidate {
                    distance,
                    seq: self.seq,
                    tid: page::entry_tid(t),
                }));
                self.seq += 1;
            }
            self.stats.pages_read += 1;
            self.stats.entries_compared += g.len() as usize;
            blkno = g.opaque().next_blkno;
        }
    }

    /// Forget the current scan.
    pub fn end(&mut self) {
        self.heap = BinaryHeap::new();
        self.lists.clear();
        self.next_list = 0;
        self.seq = 0;
        self.query = None;
        self.stats = ScanStats::default();
    }

    pub fn stats(&self) -> ScanStats {
        self.stats
    }

    pub fn metric(&self) -> &M {
        &self.metric
    }
}
