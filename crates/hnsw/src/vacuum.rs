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
//! 4. **Free.** Mark dead elements deleted and empty their own lists:
//!    nothing links to them any more, and inserts may reuse their slots (the
//!    meta insert hint moves back).

use crate::error::HnswError;
use crate::metric::Metric;
use crate::ops::{choose_neighbors, load_elements, read_layer, replace_layer_if, Loaded, PayloadArena};
use crate::relation::{RelationRead, RelationWrite};
use crate::search::Core;
use crate::tuple::{ElementMut, ElementRef, Meta, NeighborsMut, NeighborsRef, Tid, META_SIZE};
use crate::write::read_meta;
use std::collections::{BTreeMap, HashMap};

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
}

/// [`bulk_delete_with`] without an interrupt hook.
pub fn bulk_delete<R: RelationWrite, M: Metric>(rel: &R, metric: &M, is_dead: impl FnMut(Tid) -> bool) -> Result<BulkDeleteStats, HnswError> {
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

    // 1. Remove TIDs.
    let mut kept = Vec::new();
    for blk in 1..nblocks {
        checkpoint();
        let needs_write = {
            let page = rel.read(blk);
            (1..=page.len()).any(|off| {
                page.get(off).and_then(ElementRef::parse).is_some_and(|e| !e.is_deleted() && e.heap_tids().any(&mut is_dead))
            })
        };
        if needs_write {
            let mut page = rel.write(blk);
            for off in 1..=page.len() {
                let Some(mut e) = page.get_mut(off).and_then(ElementMut::parse) else { continue };
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
        for off in 1..=page.len() {
            let Some(e) = page.get(off).and_then(ElementRef::parse) else { continue };
            let tid = Tid::new(blk, off);
            if e.is_live() {
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
    let mut rep = Repairer { metric, ef: (meta.ef_construction as usize).max(1), dead: &dead, arena: PayloadArena::default(), loaded: Vec::new(), core: Core::new() };
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

    // 4. Free the dead elements, emptying their lists too (no stale links
    // remain anywhere; a neighbour tuple on another page is a second write).
    let mut elsewhere = Vec::new();
    for (&blk, offs) in &newly_dead {
        checkpoint();
        let mut page = rel.write(blk);
        for &off in offs {
            let Some(mut e) = page.get_mut(off).and_then(ElementMut::parse) else { continue };
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
            let Some(n) = page.get(nbrs.offset).and_then(NeighborsRef::parse) else { return 0 };
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
        let Some(mut n) = page.get_mut(nbrs.offset).and_then(NeighborsMut::parse) else { return false };
        let kept: Vec<Tid> = n.as_ref().layer(layer).filter(|&t| !self.is_dead(t)).collect();
        n.set_layer(layer, &kept);
        true
    }

    fn new_list<R: RelationRead>(&mut self, rel: &R, base: &[u8], me: Tid, layer: u8, list: &[Tid], cap: usize) -> Vec<Tid> {
        let mut cands: Vec<Tid> = list.iter().copied().filter(|&t| !self.is_dead(t)).collect();
        for &d in list.iter().filter(|&&t| self.is_dead(t)) {
            let Some(&dn) = self.dead.get(&d.to_u64()) else { continue };
            if let Some((l, _)) = read_layer(rel, dn, layer) {
                cands.extend(l.into_iter().filter(|&t| t != me && !self.is_dead(t)));
            }
        }
        cands.sort_unstable();
        cands.dedup();
        let chosen = choose_neighbors(rel, self.metric, base, &cands, cap, cap, usize::MAX, &mut self.arena, &mut self.loaded);
        if chosen.len() * 4 >= cap {
            return chosen.into_iter().map(|(t, _)| t).collect();
        }
        // Too few left around: find neighbours by searching, as an insert would.
        let mut found = self.search(rel, base, layer);
        found.retain(|&t| t != me && !self.is_dead(t));
        cands.extend(found);
        cands.sort_unstable();
        cands.dedup();
        let chosen = choose_neighbors(rel, self.metric, base, &cands, cap, cap, usize::MAX, &mut self.arena, &mut self.loaded);
        chosen.into_iter().map(|(t, _)| t).collect()
    }

    fn search<R: RelationRead>(&mut self, rel: &R, q: &[u8], layer: u8) -> Vec<Tid> {
        let Ok(meta) = read_meta(rel) else { return Vec::new() };
        let Some((ep, top)) = meta.entry else { return Vec::new() };
        if top < layer {
            return Vec::new();
        }
        self.core.reset();
        let Some(entry) = self.core.evaluate_one(rel, self.metric, q, ep) else { return Vec::new() };
        let cur = if top > layer { self.core.descend(rel, self.metric, q, entry, top, layer + 1) } else { entry };
        self.core.seed([cur]);
        self.core.search_layer(rel, self.metric, q, self.ef, layer, false, usize::MAX);
        self.core.results.drain().filter(|c| c.live).map(|c| Tid::from_u64(c.elem)).collect()
    }
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
