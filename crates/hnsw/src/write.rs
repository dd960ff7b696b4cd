//! Writing a built graph (or an empty index) to pages.

use crate::build::{BuildArena, Graph};
use crate::error::HnswError;
use crate::page::{maxalign, HnswPage, Page, BLCKSZ, INVALID_BLOCK, ITEM_ID_SIZE, PAGE_DATA, PAGE_HEADER_SIZE, PAGE_META, SPECIAL_SIZE};
use crate::relation::{RelationRead, RelationWrite};
use crate::tuple::{
    element_tuple_size, encode_element, encode_neighbors, neighbor_tuple_size, Meta, NeighborsMut, Tid, HEAP_TIDS_MAX, MAX_PAYLOAD,
};

/// The settings an index is created with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IndexOptions {
    pub dims: u32,
    pub m: u16,
    pub ef_construction: u16,
    /// Stored in the meta page for the glue; this crate ignores it.
    pub vector_kind: u16,
    /// Filter key columns after the vector (see [`crate::keys`]): payloads are keyed and the
    /// index keeps posting lists ([`crate::postings`]).
    pub key_columns: u16,
    /// With key columns: bytes of the vector every posting keeps inline (`key_vectors = on`;
    /// the glue knows the vector format), at most [`crate::postings::max_inline_vector_len`];
    /// 0: postings hold TIDs only.
    pub key_vector_len: u16,
}

impl IndexOptions {
    /// pgvector's reloption ranges: m in 2..=100, ef_construction in 4..=1000.
    pub const M_RANGE: std::ops::RangeInclusive<u16> = 2..=100;
    pub const EF_CONSTRUCTION_RANGE: std::ops::RangeInclusive<u16> = 4..=1000;

    /// The inline vector length the index gets: `key_vector_len` when there are key columns and
    /// it fits, else 0.
    pub fn inline_len(&self) -> u16 {
        if self.key_columns > 0 && (self.key_vector_len as usize) <= crate::postings::max_inline_vector_len() {
            self.key_vector_len
        } else {
            0
        }
    }

    /// The cross-option check pgvector makes at build time (the ranges
    /// above are checked by the reloption machinery).
    pub fn validate(&self) -> Result<(), HnswError> {
        if (self.ef_construction as u32) < 2 * self.m as u32 {
            return Err(HnswError::EfConstructionTooSmall);
        }
        Ok(())
    }
}

/// What [`write_graph`] wrote.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteStats {
    pub pages: u32,
    pub elements: u64,
    pub heap_tuples: u64,
}

/// Initialises an empty index: the meta page only (`ambuildempty`, or a build
/// over an empty table). `rel` must have no blocks.
pub fn init_empty<R: RelationWrite>(rel: &R, opts: &IndexOptions) {
    write_meta_page(
        rel,
        &Meta {
            dims: opts.dims,
            m: opts.m,
            ef_construction: opts.ef_construction,
            entry: None,
            element_count: 0,
            insert_page: 1,
            vector_kind: opts.vector_kind,
            key_columns: opts.key_columns,
            key_root: if opts.key_columns > 0 { 1 } else { 0 },
            key_vector_len: opts.inline_len(),
            vacuums: 0,
        },
    );
    if opts.key_columns > 0 {
        let root = crate::postings::init_root(rel);
        debug_assert_eq!(root, 1);
    }
}

fn write_meta_page<R: RelationWrite>(rel: &R, meta: &Meta) {
    let (blk, mut page) = rel.extend();
    assert_eq!(blk, 0, "the meta page must be block 0 of an empty relation");
    page.init_hnsw(PAGE_META);
    page.alloc(&meta.encode()).expect("meta fits an empty page");
}

/// Reads the meta page.
pub fn read_meta<R: RelationRead>(rel: &R) -> Result<Meta, HnswError> {
    if rel.nblocks() == 0 {
        return Err(HnswError::NotAnIndex);
    }
    read_meta_page(rel)
}

/// [`read_meta`] of a relation known to have a block 0 (every index that was
/// built or initialised does), without asking for its size: in Postgres that
/// is a system call per query.
pub fn read_meta_page<R: RelationRead>(rel: &R) -> Result<Meta, HnswError> {
    let page = rel.read(0);
    page.get(1).and_then(Meta::decode).ok_or(HnswError::NotAnIndex)
}

pub(crate) const PAGE_USABLE: usize = BLCKSZ - PAGE_HEADER_SIZE - SPECIAL_SIZE;

#[inline]
pub(crate) fn item_cost(len: usize) -> usize {
    maxalign(len) + ITEM_ID_SIZE
}

/// The order elements are laid out in: pages of `group` elements, each a
/// small breadth-first neighbourhood on layer 0, seeded in breadth-first
/// order from the entry point. A node and several of its neighbours then
/// share a page, so a search reads fewer pages (and the expansion of a node
/// evaluates those neighbours under the lock it already holds).
fn locality_order(graph: &Graph, group: usize) -> Vec<u32> {
    let n = graph.len();
    let mut bfs = Vec::with_capacity(n);
    let mut seen = vec![false; n];
    let mut buf = Vec::new();
    for s in graph.entry_point().into_iter().chain(0..n as u32) {
        if seen[s as usize] {
            continue;
        }
        seen[s as usize] = true;
        let mut head = bfs.len();
        bfs.push(s);
        while head < bfs.len() {
            graph.neighbors_into(bfs[head], 0, &mut buf);
            head += 1;
            for &y in &buf {
                if !seen[y as usize] {
                    seen[y as usize] = true;
                    bfs.push(y);
                }
            }
        }
    }
    let group = group.max(1);
    let mut order = Vec::with_capacity(n);
    let mut placed = vec![false; n];
    for &s in &bfs {
        if placed[s as usize] {
            continue;
        }
        placed[s as usize] = true;
        let first = order.len();
        order.push(s);
        let mut head = first;
        while head < order.len() && order.len() - first < group {
            graph.neighbors_into(order[head], 0, &mut buf);
            head += 1;
            for &y in &buf {
                if order.len() - first >= group {
                    break;
                }
                if !placed[y as usize] {
                    placed[y as usize] = true;
                    order.push(y);
                }
            }
        }
    }
    order
}

/// Writes the meta page and all element and neighbour tuples of `graph`
/// (whose element `i` is `arena`'s element `i`) into the empty `rel`,
/// strictly sequentially through `extend()`: one page at a time, each fully
/// written once, so the glue may skip per-page WAL and log the range in bulk.
pub fn write_graph<R: RelationWrite>(rel: &R, arena: &BuildArena, graph: &Graph, opts: &IndexOptions) -> Result<WriteStats, HnswError> {
    assert_eq!(arena.len(), graph.len(), "arena and graph disagree");
    let m = graph.m();
    assert_eq!(m, opts.m as usize, "graph built with another m");
    let n = graph.len();
    for i in 0..n {
        if arena.payload(i).len() > MAX_PAYLOAD {
            return Err(HnswError::ElementTooLarge {
                size: element_tuple_size(arena.payload(i).len(), HEAP_TIDS_MAX),
                max: element_tuple_size(MAX_PAYLOAD, HEAP_TIDS_MAX),
            });
        }
    }
    let per_element = item_cost(element_tuple_size(arena.payload(0).len(), 1)) + item_cost(neighbor_tuple_size(0, m));
    let mut order = if n == 0 {
        Vec::new()
    } else {
        locality_order(graph, PAGE_USABLE / per_element)
    };
    if opts.key_columns > 0 {
        // Elements with the same first key (a tenant) on the same pages: a filtered scan that
        // ranks a key's elements exactly reads a few pages instead of one per element. Within a
        // key the graph's locality order stays.
        let first_key = |node: u32| {
            let (_, keys) = crate::keys::split(arena.payload(node as usize));
            crate::keys::columns(keys).next().and_then(|mut c| c.next()).unwrap_or(u64::MAX)
        };
        order.sort_by_cached_key(|&node| first_key(node));
    }

    // Pass 1: place every tuple, so neighbour lists can name their TIDs.
    #[derive(Clone, Copy)]
    struct Item {
        node: u32,
        neighbors: bool,
    }
    let mut pages: Vec<Vec<Item>> = vec![Vec::new()];
    let mut used = 0usize;
    let mut element_tid = vec![Tid::INVALID; n];
    let mut neighbor_tid = vec![Tid::INVALID; n];
    let place = |pages: &mut Vec<Vec<Item>>, used: &mut usize, cost: usize, item: Item| -> Tid {
        if *used + cost > PAGE_USABLE {
            pages.push(Vec::new());
            *used = 0;
        }
        *used += cost;
        let blk = pages.len() as u32;
        let p = pages.last_mut().unwrap();
        p.push(item);
        Tid::new(blk, p.len() as u16)
    };
    for &node in &order {
        let e = item_cost(element_tuple_size(
            arena.payload(node as usize).len(),
            arena.heap_tid_slots(node as usize),
        ));
        let nb = item_cost(neighbor_tuple_size(graph.level(node), m));
        if used + e + nb > PAGE_USABLE && used > 0 {
            pages.push(Vec::new());
            used = 0;
        }
        element_tid[node as usize] = place(&mut pages, &mut used, e, Item { node, neighbors: false });
        neighbor_tid[node as usize] = place(&mut pages, &mut used, nb, Item { node, neighbors: true });
    }
    if pages.last().is_some_and(|p| p.is_empty()) {
        pages.pop();
    }

    let entry = graph.entry_point().map(|e| (element_tid[e as usize], graph.level(e)));
    let last_page = pages.len() as u32;
    write_meta_page(
        rel,
        &Meta {
            dims: opts.dims,
            m: opts.m,
            ef_construction: opts.ef_construction,
            entry,
            element_count: n as u64,
            insert_page: last_page.max(1),
            vector_kind: opts.vector_kind,
            key_columns: opts.key_columns,
            // The posting lists follow the data pages.
            key_root: if opts.key_columns > 0 { last_page + 1 } else { 0 },
            key_vector_len: opts.inline_len(),
            vacuums: 0,
        },
    );

    // Pass 2: fill the pages in order.
    let mut buf = Vec::new();
    let mut ids = Vec::new();
    let mut tids = Vec::new();
    for (i, items) in pages.iter().enumerate() {
        let (blk, mut page) = rel.extend();
        assert_eq!(blk as usize, i + 1, "relation grew concurrently during write_graph");
        let page: &mut Page = &mut page;
        page.init_hnsw(PAGE_DATA);
        page.opaque_mut().next_blkno = if blk < last_page { blk + 1 } else { INVALID_BLOCK };
        for it in items {
            let node = it.node as usize;
            if it.neighbors {
                let level = graph.level(it.node);
                encode_neighbors(&mut buf, level, m);
                let mut nm = NeighborsMut::parse(&mut buf).unwrap();
                for layer in 0..=level {
                    graph.neighbors_into(it.node, layer, &mut ids);
                    tids.clear();
                    tids.extend(ids.iter().map(|&x| element_tid[x as usize]));
                    nm.set_layer(layer, &tids);
                }
            } else {
                encode_element(
                    &mut buf,
                    graph.level(it.node),
                    0,
                    &arena.heap_tids(node),
                    arena.heap_tid_slots(node),
                    neighbor_tid[node],
                    arena.payload(node),
                );
            }
            let off = page.alloc(&buf).expect("layout pass reserved the space");
            let want = if it.neighbors { neighbor_tid[node] } else { element_tid[node] };
            debug_assert_eq!(Tid::new(blk, off), want);
        }
    }
    let mut pages_written = last_page + 1;
    if opts.key_columns > 0 {
        let mut lists: std::collections::HashMap<(u16, u64), Vec<(Tid, u32)>> = std::collections::HashMap::new();
        for (node, &tid) in element_tid.iter().enumerate().take(n) {
            let (_, keys) = crate::keys::split(arena.payload(node));
            for (col, vals) in crate::keys::columns(keys).enumerate() {
                for v in vals {
                    lists.entry((col as u16, v)).or_default().push((tid, node as u32));
                }
            }
        }
        for l in lists.values_mut() {
            l.sort_unstable();
        }
        let vlen = opts.inline_len() as usize;
        // A vector of another length is written as zeros (write_item), as an insert would.
        let root = crate::postings::write_all_with(
            rel,
            &lists,
            |&(t, _)| t,
            vlen,
            |&(_, node)| crate::keys::split(arena.payload(node as usize)).0,
        );
        assert_eq!(root, last_page + 1);
        pages_written = rel.nblocks();
    }
    Ok(WriteStats {
        pages: pages_written,
        elements: n as u64,
        heap_tuples: arena.heap_tuples() as u64,
    })
}
