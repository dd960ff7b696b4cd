//! A private, read-only copy of an index's upper layers for the greedy descent of scans.
//!
//! Every query first descends greedily through the upper layers (ef = 1) before
//! searching layer 0. Those layers hold few elements (a fraction 1/m per level)
//! but every query visits them: on Fashion-MNIST (60k rows, m = 16) the descent
//! is a third of the distances a query computes at `ef_search` 10, and in
//! Postgres each of them is a page read (pin, lock, unlock, unpin). An
//! [`UpperLayers`] copies the top layers that fit in a memory budget — element
//! TIDs, payloads and neighbour lists — so the descent through them is plain
//! memory access; the search then continues on the pages from the element it
//! reached.
//!
//! The copy is a snapshot. Inserts and vacuum keep changing the pages, so the
//! search never trusts it for anything but the choice of where layer-0 (or the
//! first uncached layer) starts: it re-reads that element from its page and
//! falls back to the ordinary descent when the element is gone or its version
//! changed ([`Searcher::set_upper_layers`](crate::Searcher::set_upper_layers)).
//! A stale copy can only make that start point worse, never a result wrong.
//! [`UpperLayers::matches`] tells the owner when the entry point moved, which
//! is when a rebuild pays off most.

use crate::metric::Metric;
use crate::relation::RelationRead;
use crate::tuple::{ElementRef, Meta, NeighborsRef, Tid};
use std::collections::HashMap;

/// One cached element.
#[derive(Clone, Copy, Debug)]
struct Node {
    /// Packed element TID.
    elem: u64,
    version: u8,
    /// First byte of its payload in `words` and its length.
    start: usize,
    len: usize,
}

/// Neighbour lists of one layer in compressed-row form over node ids.
#[derive(Default)]
struct Layer {
    /// `links[starts[i]..starts[i + 1]]` are the neighbours of node `i`.
    starts: Vec<u32>,
    links: Vec<u32>,
}

/// A copy of the layers `lowest..=top` of an index (see the module docs).
pub struct UpperLayers {
    entry: (Tid, u8),
    insert_page: u32,
    /// The meta page's count of VACUUM passes that removed elements.
    vacuums: u16,
    lowest: u8,
    nodes: Vec<Node>,
    words: Vec<u64>,
    /// Layer `lowest + i` at index `i`.
    layers: Vec<Layer>,
}

/// Where a descent through the copy ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Reached {
    pub elem: Tid,
    pub version: u8,
    /// The layer below the lowest cached one: the descent continues there on pages.
    pub next_layer: u8,
}

struct Builder {
    nodes: Vec<Node>,
    words: Vec<u64>,
    /// Packed element TID -> node id.
    ids: HashMap<u64, u32>,
    /// TID of each node's neighbour tuple.
    nbrs: Vec<Tid>,
}

impl Builder {
    /// Copies the element at `tid` if it is one of at least `level`; its node id.
    fn load<R: RelationRead>(&mut self, rel: &R, nblocks: u32, tid: Tid, level: u8) -> Option<u32> {
        if let Some(&id) = self.ids.get(&tid.to_u64()) {
            return Some(id);
        }
        if tid.block == 0 || tid.block >= nblocks {
            return None;
        }
        let page = rel.read(tid.block);
        let e = ElementRef::parse(page.get(tid.offset)?)?;
        if e.level() < level {
            return None;
        }
        let p = e.payload();
        let start = self.words.len() * 8;
        self.words.resize(self.words.len() + p.len().div_ceil(8), 0);
        // SAFETY: the words just added cover p.len() bytes from `start`.
        unsafe { std::ptr::copy_nonoverlapping(p.as_ptr(), (self.words.as_mut_ptr() as *mut u8).add(start), p.len()) };
        let id = self.nodes.len() as u32;
        self.nodes.push(Node {
            elem: tid.to_u64(),
            version: e.version(),
            start,
            len: p.len(),
        });
        self.nbrs.push(e.neighbors());
        self.ids.insert(tid.to_u64(), id);
        Some(id)
    }

    fn memory(&self, layers: &[Layer]) -> usize {
        self.words.len() * 8
            + self.nodes.len() * (std::mem::size_of::<Node>() + 24)
            + layers.iter().map(|l| (l.starts.len() + l.links.len()) * 4).sum::<usize>()
    }
}

impl UpperLayers {
    /// Copies the upper layers of the index `meta` describes, from the top
    /// down, as long as the copy stays within `budget` bytes; `None` when not
    /// even the top layer fits or the index has no upper layer. Reads each
    /// copied element's page once per layer, one page lock at a time.
    pub fn build<R: RelationRead>(rel: &R, meta: &Meta, budget: usize) -> Option<UpperLayers> {
        let (ep, top) = meta.entry?;
        if top == 0 {
            return None;
        }
        let nblocks = rel.nblocks();
        let mut b = Builder {
            nodes: Vec::new(),
            words: Vec::new(),
            ids: HashMap::new(),
            nbrs: Vec::new(),
        };
        b.load(rel, nblocks, ep, top)?;
        // Built top-down; reversed at the end.
        let mut layers: Vec<Layer> = Vec::new();
        let mut tids: Vec<Tid> = Vec::new();
        for layer in (1..=top).rev() {
            let (nodes_before, words_before) = (b.nodes.len(), b.words.len());
            let mut l = Layer {
                starts: vec![0],
                links: Vec::new(),
            };
            let mut over = false;
            // Breadth-first from every node already known (all of them are on this layer too).
            let mut i = 0;
            while i < b.nodes.len() {
                tids.clear();
                {
                    let nt = b.nbrs[i];
                    if nt.block != 0 && nt.block < nblocks {
                        let page = rel.read(nt.block);
                        if let Some(list) = page.get(nt.offset).and_then(NeighborsRef::parse) {
                            tids.extend(list.layer(layer));
                        }
                    }
                }
                for &t in &tids {
                    if let Some(id) = b.load(rel, nblocks, t, layer) {
                        l.links.push(id);
                    }
                }
                l.starts.push(l.links.len() as u32);
                i += 1;
                if b.memory(&layers) + (l.starts.len() + l.links.len()) * 4 > budget {
                    over = true;
                    break;
                }
            }
            if over {
                // This layer does not fit: forget the nodes it added.
                for n in &b.nodes[nodes_before..] {
                    b.ids.remove(&n.elem);
                }
                b.nodes.truncate(nodes_before);
                b.nbrs.truncate(nodes_before);
                b.words.truncate(words_before);
                break;
            }
            layers.push(l);
        }
        if layers.is_empty() {
            return None;
        }
        let lowest = top + 1 - layers.len() as u8;
        layers.reverse();
        Some(UpperLayers {
            entry: (ep, top),
            insert_page: meta.insert_page,
            vacuums: meta.vacuums,
            lowest,
            nodes: b.nodes,
            words: b.words,
            layers,
        })
    }

    /// Whether the copy was made with the entry point `meta` names and no VACUUM has run since
    /// (VACUUM rewrites the upper layers' lists around the elements it removes: a copy from
    /// before gives correct results but may start layer 0 from a worse element); and whether
    /// the index's insert page has not moved since (no page was added).
    pub fn matches(&self, meta: &Meta) -> (bool, bool) {
        (
            meta.entry == Some(self.entry) && meta.vacuums == self.vacuums,
            meta.insert_page == self.insert_page,
        )
    }

    /// The entry point (element, level) the copy starts from.
    pub fn entry(&self) -> (Tid, u8) {
        self.entry
    }

    /// Lowest layer copied (>= 1).
    pub fn lowest_layer(&self) -> u8 {
        self.lowest
    }

    /// Number of elements copied.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Bytes held.
    pub fn memory_usage(&self) -> usize {
        self.words.len() * 8
            + self.nodes.len() * std::mem::size_of::<Node>()
            + self.layers.iter().map(|l| (l.starts.len() + l.links.len()) * 4).sum::<usize>()
    }

    #[inline]
    fn payload(&self, n: u32) -> &[u8] {
        let node = &self.nodes[n as usize];
        // SAFETY: u64 storage viewed as bytes; the span was written by `load`.
        unsafe { std::slice::from_raw_parts((self.words.as_ptr() as *const u8).add(node.start), node.len) }
    }

    /// Greedy descent (ef = 1) from the entry point through every copied layer.
    pub(crate) fn descend<M: Metric>(&self, metric: &M, q: &[u8]) -> Reached {
        let mut cur = 0u32;
        let mut best = metric.distance(q, self.payload(0));
        for l in self.layers.iter().rev() {
            loop {
                let (s, e) = (l.starts[cur as usize] as usize, l.starts[cur as usize + 1] as usize);
                let links = &l.links[s..e];
                for &n in links {
                    crate::build::prefetch(self.payload(n));
                }
                let mut moved = false;
                for &n in links {
                    let d = metric.distance(q, self.payload(n));
                    if d < best {
                        best = d;
                        cur = n;
                        moved = true;
                    }
                }
                if !moved {
                    break;
                }
            }
        }
        let node = &self.nodes[cur as usize];
        Reached {
            elem: Tid::from_u64(node.elem),
            version: node.version,
            next_layer: self.lowest - 1,
        }
    }
}
