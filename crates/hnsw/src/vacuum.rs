//! `ambulkdelete`: remove dead heap TIDs and take their elements out of the
//! graph without losing recall.
//!
//! 1. **Remove TIDs.** Page by page, drop the heap TIDs the callback reports
//!    dead. Elements left without TIDs are *dead*: scans skip them, inserts
//!    no longer link to them, but they stay traversable.
//! 2. **Wait for inserts** by taking the update lock exclusively: an insert
//!    that started before step 1 may still have been linking to a dead
//!    element; later ones never do. Under the lock, replace a dead entry
//!    point with the highest live element.
//! 3. **Repair.** Every live element whose list names a dead element gets a
//!    new list chosen by the heuristic among all its live neighbours and the
//!    live neighbours of its dead neighbours, free slots then filled with the
//!    closest remaining candidates (a search from the entry point adds
//!    candidates when too few are left). Keeping all candidates, not only the
//!    closest, preserves the long edges between clusters that the dead
//!    elements carried. Each list is replaced optimistically, only if no
//!    concurrent insert changed it meanwhile (else recomputed).
//! 4. **Reconnect.** Step 3 rewrites lists by the heuristic, which may prune
//!    an element out of the one list that still named it, and with it every
//!    element reachable only through it; an element whose in-links all came
//!    from dead elements is cut off too; and an insert's pruning may have
//!    left one unreachable since the last vacuum. So walk the graph over all
//!    layers from the entry point through live elements only (what
//!    `check_index` will see once the dead are gone), recording for each
//!    element the one whose list first reached it (a spanning tree). Each
//!    element live in step 1 that the walk missed is reconnected like an
//!    insert: a search from the entry point for its vector, the heuristic's
//!    choice among the reached elements found, and a link to it in their
//!    lists (appended, or replacing the entry the heuristic would drop; if
//!    none takes it, the closest list that can spare an entry replaces its
//!    farthest). A list never gives up an entry the walk reached through it,
//!    so what was reached stays reachable; the walk goes on from the
//!    reconnected element and reaches the rest of its island. Then each
//!    element at most one reached layer-0 list names (the walk counts them)
//!    is linked the same way, its nearest neighbour taking it whatever the
//!    heuristic says: reachable through one far element's list, a search for
//!    its own vector would miss it. An element two or three lists name is
//!    searched for (ef = 2m) and linked so only if the search misses it (two
//!    far lists naming it lose it at ef_search 1000 too); one that such a
//!    link pushes out of a list is looked at again. The walk reads each element once (one
//!    page lock) and computes no distance: searches, distances and list
//!    writes are spent only on the elements found cut off or nearly so.
//!    Memory: five bytes per line pointer, plus the walk's stack.
//! 5. **Free.** Take dead elements out of the key posting lists (an index
//!    with filter keys), then mark them deleted and empty their own lists:
//!    nothing links to them any more, and inserts may reuse their slots (the
//!    meta insert hint moves back).
//!
//! Until step 5 is done the index holds dead elements, and live ones may be
//! unreachable (steps 3 and 4 are many page writes). A vacuum cancelled or
//! crashed before that leaves the dead elements behind, and the next vacuum
//! finds them again in step 1 and repeats steps 3 to 5 over them.

use crate::error::HnswError;
use crate::metric::Metric;
use crate::ops::{append_if_room, choose_neighbors, load_elements, read_layer, replace_layer_if, Append, Loaded, PayloadArena};
use crate::relation::{RelationRead, RelationWrite};
use crate::search::{Cand, Core};
use crate::select::{fill_target, select_neighbors, Scored};
use crate::tuple::{ElementMut, ElementRef, Meta, NeighborsMut, NeighborsRef, Tid, META_SIZE};
use crate::write::read_meta;
use std::collections::{BTreeMap, HashMap, HashSet};

/// What [`bulk_delete`] did; maps onto `IndexBulkDeleteResult`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BulkDeleteStats {
    /// `num_pages`.
    pub pages: u32,
    /// `tuples_removed`.
    pub heap_tuples_removed: u64,
    /// `num_index_tuples`.
    pub heap_tuples_remaining: u64,
    /// Elements marked deleted (slots now reusable).
    pub elements_deleted: u64,
    /// Neighbour lists rewritten to route around deleted elements.
    pub lists_repaired: u64,
    /// Live elements no path from the entry point reached after the repair,
    /// linked again from their nearest reachable neighbours (step 4).
    pub elements_reconnected: u64,
    /// Reachable elements that at most one layer-0 list named, or a few
    /// named and a search for their own vector missed, linked from their
    /// nearest neighbour too (step 4).
    pub elements_relinked: u64,
    /// Entries of dead elements taken out of the key posting lists (step 5).
    pub postings_removed: u64,
}

/// [`bulk_delete_with`] without an interrupt hook.
pub fn bulk_delete<R: RelationWrite, M: Metric>(
    rel: &R,
    metric: &M,
    is_dead: impl FnMut(Tid) -> bool,
) -> Result<BulkDeleteStats, HnswError> {
    bulk_delete_with(rel, metric, is_dead, || {})
}

/// Removes every heap TID for which `is_dead` is true and repairs the graph.
/// `checkpoint` is called regularly with no page lock held (the glue runs
/// `CHECK_FOR_INTERRUPTS()` there; an error raised from it leaves the index
/// valid, only less cleaned).
pub fn bulk_delete_with<R: RelationWrite, M: Metric>(
    rel: &R,
    metric: &M,
    mut is_dead: impl FnMut(Tid) -> bool,
    mut checkpoint: impl FnMut(),
) -> Result<BulkDeleteStats, HnswError> {
    let meta = read_meta(rel)?;
    let mut stats = BulkDeleteStats::default();
    // Dead or deleted element -> its neighbour tuple.
    let mut dead: HashMap<u64, Tid> = HashMap::new();
    let mut newly_dead: BTreeMap<u32, Vec<u16>> = BTreeMap::new();
    let mut best_live: Option<(Tid, u8)> = None;
    let mut live_elements = 0u64;
    let nblocks = rel.nblocks();
    let mut slots = Slots::with_blocks(nblocks);

    // 1. Remove TIDs.
    let mut kept = Vec::new();
    for blk in 1..nblocks {
        checkpoint();
        let needs_write = {
            let page = rel.read(blk);
            (1..=page.len()).any(|off| {
                page.get(off)
                    .and_then(ElementRef::parse)
                    .is_some_and(|e| !e.is_deleted() && e.heap_tids().any(&mut is_dead))
            })
        };
        if needs_write {
            let mut page = rel.write(blk);
            for off in 1..=page.len() {
                let Some(mut e) = page.get_mut(off).and_then(ElementMut::parse) else {
                    continue;
                };
                if e.as_ref().is_deleted() {
                    continue;
                }
                kept.clear();
                kept.extend(e.as_ref().heap_tids().filter(|&t| !is_dead(t)));
                let before = e.as_ref().heap_tid_count();
                if kept.len() != before {
                    stats.heap_tuples_removed += (before - kept.len()) as u64;
                    e.set_heap_tids(&kept);
                }
            }
        }
        let page = rel.read(blk);
        slots.add_block(blk, page.len());
        for off in 1..=page.len() {
            let Some(e) = page.get(off).and_then(ElementRef::parse) else {
                continue;
            };
            let tid = Tid::new(blk, off);
            if e.is_live() {
                slots.set_live(tid);
                stats.heap_tuples_remaining += e.heap_tid_count() as u64;
                live_elements += 1;
                if best_live.is_none_or(|(_, l)| e.level() > l) {
                    best_live = Some((tid, e.level()));
                }
            } else if !e.is_deleted() {
                // Only elements this pass found dead: a slot an earlier vacuum freed may be reused
                // by a concurrent insert after this page was scanned, and must not be unlinked.
                dead.insert(tid.to_u64(), e.neighbors());
                newly_dead.entry(blk).or_default().push(off);
            }
        }
    }
    stats.pages = nblocks;
    if newly_dead.is_empty() {
        return Ok(stats);
    }

    // 2. Wait out inserts that may link to dead elements; fix the entry point.
    {
        let _lock = rel.lock_update(true);
        let cur = read_meta(rel)?;
        if cur.entry.is_some_and(|(ep, _)| dead.contains_key(&ep.to_u64())) {
            // Elements inserted since step 1 are live too; look for one if needed.
            let replacement = best_live.or_else(|| find_best_live(rel));
            write_meta(rel, |m| m.entry = replacement);
        }
    }

    // 3. Repair lists that name dead elements.
    let mut rep = Repairer {
        metric,
        ef: (meta.ef_construction as usize).max(1),
        dead: &dead,
        arena: PayloadArena::default(),
        loaded: Vec::new(),
        core: Core::new(),
    };
    for blk in 1..nblocks {
        checkpoint();
        let elements: Vec<(Tid, Tid)> = {
            let page = rel.read(blk);
            (1..=page.len())
                .filter_map(|off| {
                    let e = page.get(off).and_then(ElementRef::parse)?;
                    e.is_live().then(|| (Tid::new(blk, off), e.neighbors()))
                })
                .collect()
        };
        for (tid, nbrs) in elements {
            stats.lists_repaired += rep.repair_element(rel, tid, nbrs);
        }
    }

    // 4. Reconnect what no path from the entry point through live elements
    // reaches any more. Before the dead elements are freed: an interrupted
    // vacuum leaves them behind, and the next one does all of this again.
    let mut rc = Reconnector::new(metric, &meta, slots, rep.arena, rep.loaded, rep.core);
    (stats.elements_reconnected, stats.elements_relinked) = rc.run(rel, &mut checkpoint);

    // 5. Take the dead elements out of the key posting lists, before their slots can be reused
    // by elements with other keys. Then free them, emptying their lists too (no stale links
    // remain anywhere; a neighbour tuple on another page is a second write).
    if meta.key_root != 0 {
        checkpoint();
        stats.postings_removed = crate::postings::remove(rel, meta.key_root, &|t: Tid| dead.contains_key(&t.to_u64()));
    }
    let mut elsewhere = Vec::new();
    for (&blk, offs) in &newly_dead {
        checkpoint();
        let mut page = rel.write(blk);
        for &off in offs {
            let Some(mut e) = page.get_mut(off).and_then(ElementMut::parse) else {
                continue;
            };
            if e.as_ref().is_live() || e.as_ref().is_deleted() {
                continue;
            }
            e.set_deleted();
            stats.elements_deleted += 1;
            let nt = e.as_ref().neighbors();
            if nt.block == blk {
                clear_lists(&mut page, nt.offset);
            } else {
                elsewhere.push(nt);
            }
        }
    }
    for nt in elsewhere {
        clear_lists(&mut rel.write(nt.block), nt.offset);
    }
    let first_free = *newly_dead.keys().next().unwrap();
    write_meta(rel, |m| {
        m.insert_page = m.insert_page.min(first_free);
        m.element_count = live_elements;
        m.vacuums = m.vacuums.wrapping_add(1);
    });

    Ok(stats)
}

fn clear_lists(page: &mut crate::page::Page, off: u16) {
    if let Some(mut n) = page.get_mut(off).and_then(NeighborsMut::parse) {
        for layer in 0..=n.as_ref().level() {
            n.set_layer(layer, &[]);
        }
    }
}

fn write_meta<R: RelationWrite>(rel: &R, f: impl FnOnce(&mut Meta)) {
    let mut page = rel.write(0);
    let Some(b) = page.get_mut(1) else { return };
    let Some(mut meta) = Meta::decode(b) else { return };
    f(&mut meta);
    b[..META_SIZE].copy_from_slice(&meta.encode());
}

fn find_best_live<R: RelationRead>(rel: &R) -> Option<(Tid, u8)> {
    let mut best: Option<(Tid, u8)> = None;
    for blk in 1..rel.nblocks() {
        let page = rel.read(blk);
        for off in 1..=page.len() {
            if let Some(e) = page.get(off).and_then(ElementRef::parse) {
                if e.is_live() && best.is_none_or(|(_, l)| e.level() > l) {
                    best = Some((Tid::new(blk, off), e.level()));
                }
            }
        }
    }
    best
}

struct Repairer<'a, M> {
    metric: &'a M,
    ef: usize,
    dead: &'a HashMap<u64, Tid>,
    arena: PayloadArena,
    loaded: Vec<Option<Loaded>>,
    core: Core,
}

impl<M: Metric> Repairer<'_, M> {
    fn is_dead(&self, t: Tid) -> bool {
        self.dead.contains_key(&t.to_u64())
    }

    /// Repairs every layer of one element; returns how many lists changed.
    fn repair_element<R: RelationWrite>(&mut self, rel: &R, tid: Tid, nbrs: Tid) -> u64 {
        let level = {
            let page = rel.read(nbrs.block);
            let Some(n) = page.get(nbrs.offset).and_then(NeighborsRef::parse) else {
                return 0;
            };
            let affected = (0..=n.level()).any(|l| n.layer(l).any(|t| self.is_dead(t)));
            if !affected {
                return 0;
            }
            n.level()
        };
        // The element's own payload.
        self.arena.clear();
        load_elements(rel, &[tid], &mut self.arena, &mut self.loaded);
        let Some(me) = self.loaded[0] else { return 0 };
        let base = self.arena.get(me.slot).to_vec();
        let mut repaired = 0;
        for layer in 0..=level {
            let mut done = false;
            for _attempt in 0..4 {
                let Some((list, cap)) = read_layer(rel, nbrs, layer) else { break };
                if !list.iter().any(|&t| self.is_dead(t)) {
                    done = true;
                    break;
                }
                let want = self.new_list(rel, &base, tid, layer, &list, cap);
                if replace_layer_if(rel, nbrs, layer, &list, &want) {
                    repaired += 1;
                    done = true;
                    break;
                }
            }
            if !done {
                // Inserts kept changing this list: at least drop the dead
                // links, so no list names a slot step 4 frees for reuse.
                repaired += self.drop_dead_links(rel, nbrs, layer) as u64;
            }
        }
        repaired
    }

    fn drop_dead_links<R: RelationWrite>(&self, rel: &R, nbrs: Tid, layer: u8) -> bool {
        let mut page = rel.write(nbrs.block);
        let Some(mut n) = page.get_mut(nbrs.offset).and_then(NeighborsMut::parse) else {
            return false;
        };
        let kept: Vec<Tid> = n.as_ref().layer(layer).filter(|&t| !self.is_dead(t)).collect();
        n.set_layer(layer, &kept);
        true
    }

    /// The heuristic's choice of at most `cap` neighbours for `base` among `cands` (sorted and
    /// deduplicated here).
    fn choose<R: RelationRead>(&mut self, rel: &R, base: &[u8], cands: &mut Vec<Tid>, cap: usize) -> Vec<Tid> {
        cands.sort_unstable();
        cands.dedup();
        let chosen = choose_neighbors(
            rel,
            self.metric,
            base,
            cands,
            cap,
            cap,
            usize::MAX,
            &mut self.arena,
            &mut self.loaded,
        );
        chosen.into_iter().map(|(t, _)| t).collect()
    }

    fn new_list<R: RelationRead>(&mut self, rel: &R, base: &[u8], me: Tid, layer: u8, list: &[Tid], cap: usize) -> Vec<Tid> {
        let mut cands: Vec<Tid> = list.iter().copied().filter(|&t| !self.is_dead(t)).collect();
        for &d in list.iter().filter(|&&t| self.is_dead(t)) {
            let Some(&dn) = self.dead.get(&d.to_u64()) else { continue };
            if let Some((l, _)) = read_layer(rel, dn, layer) {
                cands.extend(l.into_iter().filter(|&t| t != me && !self.is_dead(t)));
            }
        }
        let chosen = self.choose(rel, base, &mut cands, cap);
        if chosen.len() * 4 >= cap {
            return chosen;
        }
        // Too few left around: find neighbours by searching, as an insert would.
        let mut found = self.search(rel, base, layer);
        found.retain(|&t| t != me && !self.is_dead(t));
        cands.extend(found);
        self.choose(rel, base, &mut cands, cap)
    }

    fn search<R: RelationRead>(&mut self, rel: &R, q: &[u8], layer: u8) -> Vec<Tid> {
        let Ok(meta) = read_meta(rel) else { return Vec::new() };
        let Some((ep, top)) = meta.entry else { return Vec::new() };
        if top < layer {
            return Vec::new();
        }
        self.core.reset();
        let Some(entry) = self.core.evaluate_one(rel, self.metric, q, ep) else {
            return Vec::new();
        };
        let cur = if top > layer {
            self.core.descend(rel, self.metric, q, entry, top, layer + 1)
        } else {
            entry
        };
        self.core.seed([cur]);
        self.core.search_layer(rel, self.metric, q, self.ef, layer, false, usize::MAX);
        self.core
            .results
            .drain()
            .filter(|c| c.live)
            .map(|c| Tid::from_u64(c.elem))
            .collect()
    }
}

/// A dense number for every line pointer step 1 saw (its page's line
/// pointers then), and which of them were live elements. Slots added to a
/// page later (concurrent inserts) have no number.
struct Slots {
    /// First number of each block's line pointers, and their count.
    base: Vec<u32>,
    len: Vec<u16>,
    total: u32,
    /// Bit set: live elements after step 1.
    live: Vec<u64>,
}

impl Slots {
    fn with_blocks(nblocks: u32) -> Slots {
        Slots {
            base: vec![0; nblocks as usize],
            len: vec![0; nblocks as usize],
            total: 0,
            live: Vec::new(),
        }
    }

    fn add_block(&mut self, blk: u32, len: u16) {
        self.base[blk as usize] = self.total;
        self.len[blk as usize] = len;
        self.total += len as u32;
        self.live.resize((self.total as usize).div_ceil(64), 0);
    }

    #[inline]
    fn get(&self, t: Tid) -> Option<u32> {
        let b = t.block as usize;
        (b < self.len.len() && t.offset >= 1 && t.offset <= self.len[b]).then(|| self.base[b] + t.offset as u32 - 1)
    }

    fn set_live(&mut self, t: Tid) {
        if let Some(s) = self.get(t) {
            self.live[s as usize / 64] |= 1 << (s % 64);
        }
    }

    #[inline]
    fn was_live(&self, s: u32) -> bool {
        self.live[s as usize / 64] & (1 << (s % 64)) != 0
    }
}

/// Elements that at most this many layer-0 lists name are checked for
/// findability after the walk (a search for their own vector).
const FEW_IN_LINKS: u8 = 3;

/// `Reconnector::parent` of an element not reached yet.
const UNREACHED: u32 = u32::MAX;
/// ... of the entry point.
const ROOT: u32 = u32::MAX - 1;
/// ... of an element first reached from one without a slot number.
const FROM_NEW: u32 = u32::MAX - 2;

/// Step 4: a walk from the entry point, and reconnection of what it misses.
struct Reconnector<'a, M> {
    metric: &'a M,
    m: usize,
    ef: usize,
    slots: Slots,
    /// Per slot: the slot whose list the walk first reached it through (the
    /// walk's spanning tree), or one of the markers above.
    parent: Vec<u32>,
    /// Reached elements without a slot number (inserted meanwhile).
    new_seen: HashSet<u64>,
    stack: Vec<Tid>,
    /// The lists `read_links` read: layer 0's first, `n0` of them.
    links: Vec<Tid>,
    n0: usize,
    /// Per slot: how many layer-0 lists of reached elements name it (saturating).
    in_layer0: Vec<u8>,
    /// Elements a link pushed out of a layer-0 list, leaving at most
    /// [`FEW_IN_LINKS`] lists naming them.
    pushed_out: Vec<Tid>,
    /// The element being reconnected, 8-byte aligned.
    query: Vec<u64>,
    arena: PayloadArena,
    loaded: Vec<Option<Loaded>>,
    core: Core,
}

impl<'a, M: Metric> Reconnector<'a, M> {
    fn new(metric: &'a M, meta: &Meta, slots: Slots, arena: PayloadArena, loaded: Vec<Option<Loaded>>, core: Core) -> Self {
        let parent = vec![UNREACHED; slots.total as usize];
        let in_layer0 = vec![0; slots.total as usize];
        Reconnector {
            metric,
            m: meta.m as usize,
            ef: (meta.ef_construction as usize).max(1),
            slots,
            parent,
            new_seen: HashSet::new(),
            stack: Vec::new(),
            links: Vec::new(),
            n0: 0,
            in_layer0,
            pushed_out: Vec::new(),
            query: Vec::new(),
            arena,
            loaded,
            core,
        }
    }

    /// Walks from the entry point, reconnects every element live in step 1
    /// that the walk missed, then links the reached ones that at most one
    /// layer-0 list names from their nearest neighbour. Returns how many
    /// elements it reconnected and linked so.
    fn run<R: RelationWrite>(&mut self, rel: &R, checkpoint: &mut impl FnMut()) -> (u64, u64) {
        let Some((ep, _)) = read_meta(rel).ok().and_then(|m| m.entry) else {
            return (0, 0);
        };
        // Step 2 made it live; should it not be, every search would start off the graph.
        if ep.block == 0
            || ep.block >= rel.nblocks()
            || !rel
                .read(ep.block)
                .get(ep.offset)
                .and_then(ElementRef::parse)
                .is_some_and(|e| e.is_live())
        {
            return (0, 0);
        }
        self.visit(ep, ROOT);
        self.walk(rel, checkpoint);
        let (mut reconnected, mut relinked) = (0, 0);
        for blk in 1..self.slots.len.len() as u32 {
            checkpoint();
            for off in 1..=self.slots.len[blk as usize] {
                let s = self.slots.base[blk as usize] + off as u32 - 1;
                if !self.slots.was_live(s) || self.parent[s as usize] != UNREACHED {
                    continue;
                }
                let o = Tid::new(blk, off);
                if let Some(p) = self.reconnect(rel, o) {
                    reconnected += 1;
                    self.parent[s as usize] = p;
                    self.stack.push(o);
                    self.walk(rel, checkpoint);
                }
            }
        }
        // Reachable is not findable: a search for an element's own vector only
        // finds it through a list a search near it expands. One that a single
        // layer-0 list names (often a far element's, after pruning took the
        // near ones) gets a link from its nearest neighbour too; one that a few
        // lists name only if a search for its own vector misses it (two far
        // lists naming it, none of its near neighbours: lost at ef_search 1000
        // too). A link that pushes an element out of a list may leave that
        // element so, after its turn: it is looked at again at the end.
        for blk in 1..self.slots.len.len() as u32 {
            checkpoint();
            for off in 1..=self.slots.len[blk as usize] {
                let s = self.slots.base[blk as usize] as usize + off as usize - 1;
                relinked += self.relink_if_needed(rel, s, Tid::new(blk, off)) as u64;
            }
        }
        let mut recheck = std::mem::take(&mut self.pushed_out);
        for _pass in 0..2 {
            recheck.sort_unstable();
            recheck.dedup();
            for &t in &recheck {
                checkpoint();
                if let Some(s) = self.slots.get(t) {
                    relinked += self.relink_if_needed(rel, s as usize, t) as u64;
                }
            }
            recheck = std::mem::take(&mut self.pushed_out);
        }
        (reconnected, relinked)
    }

    /// Links element `o` (slot `s`) from its nearest neighbour if it is a
    /// reached element live in step 1 that at most [`FEW_IN_LINKS`] layer-0
    /// lists name: always if one or none does, else only if a search for its
    /// own vector does not find it. Returns whether it linked.
    fn relink_if_needed<R: RelationWrite>(&mut self, rel: &R, s: usize, o: Tid) -> bool {
        if !self.slots.was_live(s as u32) || matches!(self.parent[s], UNREACHED | ROOT) || self.in_layer0[s] > FEW_IN_LINKS {
            return false;
        }
        let verify = self.in_layer0[s] > 1;
        self.with_element(rel, o, |this, _, q| this.relink_query(rel, o, q, verify))
            .unwrap_or(false)
    }

    /// Marks `t` reached through `from` (a slot or marker) and queues it.
    fn visit(&mut self, t: Tid, from: u32) {
        match self.slots.get(t) {
            Some(s) => {
                if self.parent[s as usize] == UNREACHED {
                    self.parent[s as usize] = from;
                    self.stack.push(t);
                }
            }
            None => {
                if self.new_seen.insert(t.to_u64()) {
                    self.stack.push(t);
                }
            }
        }
    }

    /// Expands queued elements until none is left: every layer's list, each
    /// element read once (one page lock; two when its neighbour tuple is on
    /// another page).
    fn walk<R: RelationRead>(&mut self, rel: &R, checkpoint: &mut impl FnMut()) {
        let mut expanded = 0u32;
        while let Some(t) = self.stack.pop() {
            expanded += 1;
            if expanded.is_multiple_of(1024) {
                checkpoint();
            }
            self.read_links(rel, t);
            let from = self.slots.get(t).unwrap_or(FROM_NEW);
            for i in 0..self.links.len() {
                let x = self.links[i];
                if i < self.n0 {
                    self.count_layer0_link(x);
                }
                self.visit(x, from);
            }
        }
    }

    /// Every layer's list of element `t` into `self.links` (empty unless `t`
    /// is a live element: dead ones are about to be freed).
    fn read_links<R: RelationRead>(&mut self, rel: &R, t: Tid) {
        self.links.clear();
        self.n0 = 0;
        let nblocks = rel.nblocks();
        if t.block == 0 || t.block >= nblocks {
            return;
        }
        let elsewhere = {
            let page = rel.read(t.block);
            let Some(e) = page.get(t.offset).and_then(ElementRef::parse) else {
                return;
            };
            if !e.is_live() {
                return;
            }
            let nt = e.neighbors();
            if nt.block != t.block {
                Some(nt)
            } else {
                self.n0 = push_links(&page, nt.offset, &mut self.links);
                None
            }
        };
        if let Some(nt) = elsewhere.filter(|nt| nt.block != 0 && nt.block < nblocks) {
            self.n0 = push_links(&rel.read(nt.block), nt.offset, &mut self.links);
        }
    }

    /// Runs `f` on live element `o`'s level and payload (an aligned copy);
    /// `None` if `o` is no live element any more.
    fn with_element<R: RelationRead, T>(&mut self, rel: &R, o: Tid, f: impl FnOnce(&mut Self, u8, &[u8]) -> T) -> Option<T> {
        let (level, len) = {
            let page = rel.read(o.block);
            let e = page.get(o.offset).and_then(ElementRef::parse)?;
            if !e.is_live() {
                return None;
            }
            let p = e.payload();
            self.query.clear();
            self.query.resize(p.len().div_ceil(8), 0);
            // SAFETY: `query` holds at least p.len() bytes.
            unsafe { std::ptr::copy_nonoverlapping(p.as_ptr(), self.query.as_mut_ptr() as *mut u8, p.len()) };
            (e.level(), p.len())
        };
        let query = std::mem::take(&mut self.query);
        // SAFETY: u64 storage viewed as bytes; `len` of them were written.
        let q = unsafe { std::slice::from_raw_parts(query.as_ptr() as *const u8, len) };
        let r = f(self, level, q);
        self.query = query;
        Some(r)
    }

    /// Links the unreached element `o` from its nearest reached neighbours,
    /// as an insert links a new element; returns the slot of the first
    /// element now linking to it, or `None` if it could not be linked (not
    /// live any more, or no list would take it).
    fn reconnect<R: RelationWrite>(&mut self, rel: &R, o: Tid) -> Option<u32> {
        self.with_element(rel, o, |this, level, q| this.reconnect_query(rel, o, q, level))
            .flatten()
    }

    /// Links the reached element `o` (payload `q`) from the nearest reached
    /// element a layer-0 search for it finds (ef = 2m) that can spare an
    /// entry, whatever the heuristic says; with `verify`, only if that search
    /// does not find `o` itself. Returns whether it linked.
    fn relink_query<R: RelationWrite>(&mut self, rel: &R, o: Tid, q: &[u8], verify: bool) -> bool {
        let Some((ep, top)) = read_meta(rel).ok().and_then(|m| m.entry) else {
            return false;
        };
        self.core.reset();
        let Some(entry) = self.core.evaluate_one(rel, self.metric, q, ep) else {
            return false;
        };
        let cur = if top > 0 {
            self.core.descend(rel, self.metric, q, entry, top, 1)
        } else {
            entry
        };
        self.core.seed([cur]);
        self.core
            .search_layer(rel, self.metric, q, (2 * self.m).min(self.ef), 0, false, usize::MAX);
        let mut w: Vec<Cand> = self.core.results.drain().collect();
        if verify && w.iter().any(|c| c.elem == o.to_u64()) {
            return false;
        }
        w.sort_unstable();
        for c in &w {
            let n = Tid::from_u64(c.elem);
            if c.live
                && n != o
                && self.slots.get(n).is_some_and(|s| self.parent[s as usize] != UNREACHED)
                && self.link(rel, n, Tid::from_u64(c.nbrs), 0, o, q, c.dist, true)
            {
                return true;
            }
        }
        false
    }

    fn reconnect_query<R: RelationWrite>(&mut self, rel: &R, o: Tid, q: &[u8], level: u8) -> Option<u32> {
        let (ep, top) = read_meta(rel).ok()?.entry?;
        self.core.reset();
        let entry = self.core.evaluate_one(rel, self.metric, q, ep)?;
        let cur = if top > level {
            self.core.descend(rel, self.metric, q, entry, top, level + 1)
        } else {
            entry
        };
        self.core.seed([cur]);
        let mut parent = None;
        for layer in (0..=level.min(top)).rev() {
            self.core.search_layer(rel, self.metric, q, self.ef, layer, false, usize::MAX);
            let mut w: Vec<Cand> = self.core.results.drain().collect();
            w.sort_unstable();
            self.core.seed(w.iter().copied());
            // Only lists of reached elements with a slot number: the walk
            // knows which of their entries it reached through them.
            w.retain(|c| {
                let t = Tid::from_u64(c.elem);
                c.live && t != o && self.slots.get(t).is_some_and(|s| self.parent[s as usize] != UNREACHED)
            });
            let tids: Vec<Tid> = w.iter().map(|c| Tid::from_u64(c.elem)).collect();
            let cap = if layer == 0 { 2 * self.m } else { self.m };
            let chosen = choose_neighbors(
                rel,
                self.metric,
                q,
                &tids,
                cap,
                fill_target(layer, cap),
                self.ef,
                &mut self.arena,
                &mut self.loaded,
            );
            let nbrs_of = |t: Tid| w.iter().find(|c| c.elem == t.to_u64()).map(|c| Tid::from_u64(c.nbrs)).unwrap();
            for &(n, d) in &chosen {
                if self.link(rel, n, nbrs_of(n), layer, o, q, d, false) {
                    parent.get_or_insert(self.slots.get(n).unwrap());
                }
            }
            if layer == 0 && parent.is_none() {
                // Nobody took it by the heuristic: the closest reached element
                // that can spare an entry must.
                for c in &w {
                    let n = Tid::from_u64(c.elem);
                    if self.link(rel, n, Tid::from_u64(c.nbrs), 0, o, q, c.dist, true) {
                        parent = self.slots.get(n);
                        break;
                    }
                }
            }
        }
        parent
    }

    /// Adds `o` (payload `q`, at distance `d`) to `layer` of `node`'s list
    /// (neighbour tuple `nbrs`); returns whether the list names it now. A full
    /// list gives up the entry the heuristic drops from it plus `o`, if that
    /// is neither `o` nor an entry the walk reached through this list (its
    /// tree edge); else, with `force`, its farthest entry that is not.
    #[allow(clippy::too_many_arguments)]
    fn link<R: RelationWrite>(&mut self, rel: &R, node: Tid, nbrs: Tid, layer: u8, o: Tid, q: &[u8], d: f32, force: bool) -> bool {
        let Some(node_slot) = self.slots.get(node) else { return false };
        for _attempt in 0..4 {
            let (list, cap) = match read_layer(rel, nbrs, layer) {
                Some((list, _)) if list.contains(&o) => return true,
                Some((list, cap)) if list.len() >= cap => (list, cap),
                Some(_) => match append_if_room(rel, nbrs, layer, o) {
                    Append::Done => {
                        if layer == 0 {
                            self.count_layer0_link(o);
                        }
                        return true;
                    }
                    Append::Gone => return false,
                    Append::Full(list, cap) => (list, cap),
                },
                None => return false,
            };
            // An entry the walk reached through this list, or one it does not know: keep.
            let keep = |t: Tid| self.slots.get(t).is_none_or(|s| self.parent[s as usize] == node_slot);
            self.arena.clear();
            let mut tids = list.clone();
            tids.push(node);
            load_elements(rel, &tids, &mut self.arena, &mut self.loaded);
            let Some(base) = self.loaded[list.len()] else { return false };
            let base = self.arena.get(base.slot);
            let mut scored: Vec<Scored> = Vec::with_capacity(list.len() + 1);
            let mut stale = None;
            for (i, l) in self.loaded[..list.len()].iter().enumerate() {
                match l.filter(|l| l.live) {
                    Some(l) => scored.push(Scored {
                        dist: self.metric.distance(base, self.arena.get(l.slot)),
                        id: i as u32,
                    }),
                    None => stale = Some(i),
                }
            }
            let victim = if stale.is_some() {
                // An entry that is no live element any more (a slot freed
                // meanwhile): nothing needs it, replace it.
                stale
            } else {
                let o_id = list.len() as u32;
                scored.push(Scored { dist: d, id: o_id });
                scored.sort_unstable();
                let mut out = Vec::with_capacity(cap);
                let (metric, arena, loaded) = (self.metric, &self.arena, &self.loaded);
                let payload = |i: u32| {
                    if i == o_id {
                        q
                    } else {
                        arena.get(loaded[i as usize].unwrap().slot)
                    }
                };
                select_neighbors(&scored, cap, cap, |a, b| metric.distance(payload(a), payload(b)), &mut out);
                let dropped = scored.iter().find(|c| !out.iter().any(|k| k.id == c.id)).map(|c| c.id);
                match dropped {
                    Some(i) if i != o_id && !keep(list[i as usize]) => Some(i as usize),
                    _ if force => scored
                        .iter()
                        .rev()
                        .find(|c| c.id != o_id && !keep(list[c.id as usize]))
                        .map(|c| c.id as usize),
                    _ => None,
                }
            };
            let Some(v) = victim else { return false };
            let mut want = list.clone();
            want[v] = o;
            if replace_layer_if(rel, nbrs, layer, &list, &want) {
                if layer == 0 {
                    if let Some(s) = self.slots.get(list[v]) {
                        self.in_layer0[s as usize] = self.in_layer0[s as usize].saturating_sub(1);
                        if self.in_layer0[s as usize] <= FEW_IN_LINKS {
                            self.pushed_out.push(list[v]);
                        }
                    }
                    self.count_layer0_link(o);
                }
                return true;
            }
        }
        false
    }

    fn count_layer0_link(&mut self, t: Tid) {
        if let Some(s) = self.slots.get(t) {
            self.in_layer0[s as usize] = self.in_layer0[s as usize].saturating_add(1);
        }
    }
}

fn push_links(page: &crate::page::Page, off: u16, out: &mut Vec<Tid>) -> usize {
    let mut n0 = 0;
    if let Some(n) = page.get(off).and_then(NeighborsRef::parse) {
        for layer in 0..=n.level() {
            out.extend(n.layer(layer));
            if layer == 0 {
                n0 = out.len();
            }
        }
    }
    n0
}

/// Counts live heap TIDs and elements (`amvacuumcleanup` without a bulk delete).
pub fn count_tuples<R: RelationRead>(rel: &R) -> (u64, u64) {
    let (mut tuples, mut elements) = (0, 0);
    for blk in 1..rel.nblocks() {
        let page = rel.read(blk);
        for off in 1..=page.len() {
            if let Some(e) = page.get(off).and_then(ElementRef::parse) {
                if e.is_live() {
                    tuples += e.heap_tid_count() as u64;
                    elements += 1;
                }
            }
        }
    }
    (tuples, elements)
}
