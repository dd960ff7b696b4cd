//! On-disk insert (`aminsert`, and the build's overflow path).
//!
//! 1. Take the update lock shared (exclusive when the new element may become
//!    the entry point), read the meta page.
//! 2. Search like a scan: greedy descent, then `ef_construction` per layer.
//! 3. An exact duplicate of a live element just gets the heap TID added.
//! 4. Otherwise choose neighbours (heuristic), write the element and its
//!    neighbour tuple (same page when they fit: one atomic write; else the
//!    neighbour tuple first), then add the element to each neighbour's list,
//!    one page write each, optimistically (re-read, retry if changed).
//! 5. Raise the entry point in the meta page when the level is higher.
//!
//! Until step 4 links it, the new element is unreachable, so a crash between
//! the page writes never exposes a half-made element.

use crate::build::draw_level;
use crate::error::HnswError;
use crate::metric::Metric;
use crate::ops::{append_if_room, choose_neighbors, read_layer, replace_layer_if, Append, Loaded, PayloadArena};
use crate::page::{HnswPage, Page, PAGE_DATA};
use crate::relation::RelationWrite;
use crate::search::{Cand, Core};
use crate::select::{fill_target, select_neighbors, Scored};
use crate::tuple::{
    element_tuple_size, encode_element, encode_neighbors, neighbor_tuple_size, ElementMut, ElementRef, Meta, NeighborsMut, NeighborsRef,
    Tid, HEAP_TIDS_MAX, MAX_PAYLOAD,
};
use crate::write::{item_cost, read_meta, PAGE_USABLE};
use semvec_storage::Rng;
use std::cell::RefCell;

/// What an insert did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inserted {
    /// A new element at this index TID.
    Element(Tid),
    /// The heap TID joined the existing element with the identical vector.
    Duplicate(Tid),
}

/// Reusable state for many inserts (e.g. the build's overflow path).
pub struct Inserter<M: Metric> {
    metric: M,
    core: Core,
    arena: PayloadArena,
    loaded: Vec<Option<Loaded>>,
    rng: Rng,
    buf: Vec<u8>,
    nbuf: Vec<u8>,
    /// Live elements the current insert's back links pushed out of layer-0 lists.
    dropped: Vec<Tid>,
}

thread_local! {
    static SEED: RefCell<Rng> = RefCell::new(Rng::new(
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
            ^ (std::process::id() as u64) << 32
            ^ (&0u8 as *const u8 as u64),
    ));
}

/// Inserts one heap tuple; see [`Inserter::insert`].
pub fn insert<R: RelationWrite, M: Metric>(rel: &R, metric: &M, payload: &[u8], heap_tid: Tid) -> Result<Inserted, HnswError> {
    Inserter::new(metric).insert(rel, payload, heap_tid)
}

/// Free bytes of a data page (none on other pages: the meta page, key pages).
fn room(page: &Page) -> usize {
    if page.opaque().flags != PAGE_DATA {
        return 0;
    }
    (page.upper() as usize).saturating_sub(page.lower() as usize)
}

impl<M: Metric> Inserter<M> {
    pub fn new(metric: M) -> Inserter<M> {
        let seed = SEED.with(|s| s.borrow_mut().next_u64());
        Inserter::with_seed(metric, seed)
    }

    /// With a fixed seed for the level draws (reproducible tests).
    pub fn with_seed(metric: M, seed: u64) -> Inserter<M> {
        Inserter {
            metric,
            core: Core::new(),
            arena: PayloadArena::default(),
            loaded: Vec::new(),
            rng: Rng::new(seed),
            buf: Vec::new(),
            nbuf: Vec::new(),
            dropped: Vec::new(),
        }
    }

    /// Adds `payload` for heap row `heap_tid`.
    pub fn insert<R: RelationWrite>(&mut self, rel: &R, payload: &[u8], heap_tid: Tid) -> Result<Inserted, HnswError> {
        if payload.len() > MAX_PAYLOAD {
            return Err(HnswError::ElementTooLarge {
                size: element_tuple_size(payload.len(), HEAP_TIDS_MAX),
                max: element_tuple_size(MAX_PAYLOAD, HEAP_TIDS_MAX),
            });
        }
        let u = self.rng.next_unit();
        let mut lock = rel.lock_update(false);
        let mut meta = read_meta(rel)?;
        let level = draw_level(u, meta.m as usize);
        if meta.entry.is_none_or(|(_, top)| level > top) {
            drop(lock);
            lock = rel.lock_update(true);
            meta = read_meta(rel)?;
        }
        // Aligned copy of the query for the kernels.
        let mut words = vec![0u64; payload.len().div_ceil(8)];
        // SAFETY: `words` holds at least payload.len() bytes.
        unsafe { std::ptr::copy_nonoverlapping(payload.as_ptr(), words.as_mut_ptr() as *mut u8, payload.len()) };
        // SAFETY: u64 storage viewed as bytes.
        let q = unsafe { std::slice::from_raw_parts(words.as_ptr() as *const u8, payload.len()) };
        let r = self.insert_locked(rel, &meta, q, level, heap_tid);
        // A new element is listed under each of its keys (a duplicate joined one that is).
        if let (Ok(Inserted::Element(tid)), true) = (&r, meta.key_columns > 0 && meta.key_root != 0) {
            let (vector, keys) = crate::keys::split(payload);
            // Another length than the index's (never, for a column with dimensions): a zeroed
            // slot, or a TID-only chain when it starts one; scans read such elements' pages.
            let inline = if meta.key_vector_len > 0 && vector.len() == meta.key_vector_len as usize {
                vector
            } else {
                &[]
            };
            for (col, vals) in crate::keys::columns(keys).enumerate() {
                for v in vals {
                    crate::postings::append(rel, meta.key_root, col as u16, v, *tid, inline);
                }
            }
        }
        drop(lock);
        r
    }

    fn insert_locked<R: RelationWrite>(&mut self, rel: &R, meta: &Meta, q: &[u8], level: u8, heap_tid: Tid) -> Result<Inserted, HnswError> {
        let m = meta.m as usize;
        let ef = (meta.ef_construction as usize).max(1);
        self.core.reset();
        let entry = meta
            .entry
            .and_then(|(ep, top)| Some((self.core.evaluate_one(rel, &self.metric, q, ep)?, top)));
        let Some((entry, top)) = entry else {
            let (tid, _) = self.store(rel, meta, q, level, (heap_tid, 1), &[])?;
            set_entry(rel, tid, level);
            return Ok(Inserted::Element(tid));
        };

        // Search: greedy down to level + 1, then ef_construction per layer.
        let cur = if top > level {
            self.core.descend(rel, &self.metric, q, entry, top, level + 1)
        } else {
            entry
        };
        let top_layer = level.min(top);
        let mut found: Vec<Vec<Cand>> = vec![Vec::new(); top_layer as usize + 1];
        self.core.seed([cur]);
        for layer in (0..=top_layer).rev() {
            self.core.search_layer(rel, &self.metric, q, ef, layer, false, usize::MAX);
            let mut w: Vec<Cand> = self.core.results.drain().collect();
            w.sort_unstable();
            self.core.seed(w.iter().copied());
            found[layer as usize] = w;
        }

        // An identical live vector takes the TID instead (pgvector's duplicates). When all
        // such elements are full, the new one gets room for more duplicates.
        let self_dist = self.metric.distance(q, q);
        let mut duplicated = false;
        for c in found[0].iter().take_while(|c| c.dist <= self_dist) {
            if c.live && c.dist == self_dist {
                duplicated = true;
                if try_add_duplicate(rel, c, q, heap_tid) {
                    return Ok(Inserted::Duplicate(Tid::from_u64(c.elem)));
                }
            }
        }
        let slots = if duplicated { HEAP_TIDS_MAX } else { 1 };

        // Neighbours of the new element, per layer.
        let mut chosen: Vec<Vec<(Tid, f32, Tid)>> = Vec::with_capacity(found.len());
        for (layer, w) in found.iter().enumerate() {
            let cap = if layer == 0 { 2 * m } else { m };
            let tids: Vec<Tid> = w.iter().filter(|c| c.live).map(|c| Tid::from_u64(c.elem)).collect();
            let sel = choose_neighbors(
                rel,
                &self.metric,
                q,
                &tids,
                cap,
                fill_target(layer as u8, cap),
                ef,
                &mut self.arena,
                &mut self.loaded,
            );
            // Remember each neighbour's neighbour tuple for the back links.
            let nb_of = |t: Tid| w.iter().find(|c| c.elem == t.to_u64()).map(|c| Tid::from_u64(c.nbrs)).unwrap();
            chosen.push(sel.into_iter().map(|(t, d)| (t, d, nb_of(t))).collect());
        }
        let lists: Vec<Vec<Tid>> = chosen.iter().map(|l| l.iter().map(|x| x.0).collect()).collect();
        let (tid, nbrs) = self.store(rel, meta, q, level, (heap_tid, slots), &lists)?;

        self.dropped.clear();
        for (layer, sel) in chosen.iter().enumerate() {
            for &(n, d, nbrs) in sel {
                self.add_back_link(rel, n, nbrs, tid, d, layer as u8);
            }
        }
        self.hand_dropped_to(rel, tid, nbrs);
        if level > top {
            set_entry(rel, tid, level);
        }
        Ok(Inserted::Element(tid))
    }

    /// Adds `new` to the list of `node` at `layer`, pruning when full.
    fn add_back_link<R: RelationWrite>(&mut self, rel: &R, node: Tid, nbrs: Tid, new: Tid, d: f32, layer: u8) {
        // Every failed attempt means another backend changed this list in
        // between, so the loop makes progress; the bound only guards against
        // a pathological livelock. Giving up early loses the link, and early
        // in a build the lost link can be the only one into a cluster.
        for _attempt in 0..64 {
            let (list, cap) = match append_if_room(rel, nbrs, layer, new) {
                Append::Done | Append::Gone => return,
                Append::Full(list, cap) => (list, cap),
            };
            let (want, gone) = {
                // Full: the heuristic decides whether the new element gets in.
                self.arena.clear();
                let mut tids = list.clone();
                tids.push(node);
                crate::ops::load_elements(rel, &tids, &mut self.arena, &mut self.loaded);
                let Some(base) = self.loaded[list.len()] else { return };
                let base = self.arena.get(base.slot).to_vec();
                let mut scored: Vec<Scored> = Vec::with_capacity(list.len() + 1);
                let mut stale = None;
                for (i, l) in self.loaded[..list.len()].iter().enumerate() {
                    match l.filter(|l| l.live) {
                        Some(l) => scored.push(Scored {
                            dist: self.metric.distance(&base, self.arena.get(l.slot)),
                            id: i as u32,
                        }),
                        None => stale = Some(i),
                    }
                }
                if let Some(i) = stale {
                    // An entry that is no live element (being vacuumed, or its
                    // slot freed): the new element takes its place.
                    let mut want = list.clone();
                    want[i] = new;
                    if replace_layer_if(rel, nbrs, layer, &list, &want) {
                        return;
                    }
                    continue;
                }
                // The new element is not loaded: give it an id past the list.
                let new_id = list.len() as u32 + 1;
                scored.push(Scored { dist: d, id: new_id });
                scored.sort_unstable();
                let mut out = Vec::new();
                let (metric, arena, loaded) = (&self.metric, &self.arena, &self.loaded);
                // The heuristic compares the new element with kept ones: use the query copy.
                let new_payload = self.nbuf.clone();
                select_neighbors(
                    &scored,
                    cap,
                    fill_target(layer, cap),
                    |a, b| {
                        let pa = if a == new_id {
                            &new_payload[..]
                        } else {
                            arena.get(loaded[a as usize].unwrap().slot)
                        };
                        let pb = if b == new_id {
                            &new_payload[..]
                        } else {
                            arena.get(loaded[b as usize].unwrap().slot)
                        };
                        metric.distance(pa, pb)
                    },
                    &mut out,
                );
                if !out.iter().any(|s| s.id == new_id) {
                    return;
                }
                // The new element replaces one entry, the closest the heuristic
                // drops (pgvector's choice: an entry it keeps is closer to that
                // one than this node is), and the list stays full: a list cut
                // back to the heuristic's choice drops many entries at once,
                // and any of them may lose its last in-link.
                let Some(dropped) = scored.iter().find(|c| c.id != new_id && !out.iter().any(|k| k.id == c.id)) else {
                    return;
                };
                let mut want = list.clone();
                want[dropped.id as usize] = new;
                (want, list[dropped.id as usize])
            };
            if replace_layer_if(rel, nbrs, layer, &list, &want) {
                if layer == 0 {
                    self.dropped.push(gone);
                }
                return;
            }
        }
    }

    /// Appends the elements the back links pushed out of layer-0 lists to the
    /// new element `tid`'s own layer-0 list (neighbour tuple `nbrs`), while it has room: the list that
    /// dropped one may have been its last in-link, and the new element is
    /// reachable from that list and near the dropped entry. One list write.
    fn hand_dropped_to<R: RelationWrite>(&mut self, rel: &R, tid: Tid, nbrs: Tid) {
        if self.dropped.is_empty() {
            return;
        }
        // Concurrent inserts may be adding back links to the new element
        // meanwhile: read again and retry when its list changed.
        for _attempt in 0..8 {
            let Some((list, cap)) = read_layer(rel, nbrs, 0) else { return };
            let mut want = list.clone();
            for &d in &self.dropped {
                if want.len() >= cap {
                    break;
                }
                if d != tid && !want.contains(&d) {
                    want.push(d);
                }
            }
            if want.len() == list.len() || replace_layer_if(rel, nbrs, 0, &list, &want) {
                return;
            }
        }
    }

    /// Writes the element and its neighbour tuple; returns their TIDs (element, neighbours).
    fn store<R: RelationWrite>(
        &mut self,
        rel: &R,
        meta: &Meta,
        q: &[u8],
        level: u8,
        (heap_tid, slots): (Tid, usize),
        lists: &[Vec<Tid>],
    ) -> Result<(Tid, Tid), HnswError> {
        let m = meta.m as usize;
        // Keep the payload for the back links' heuristic.
        self.nbuf.clear();
        self.nbuf.extend_from_slice(q);
        let mut nb = Vec::new();
        encode_neighbors(&mut nb, level, m);
        {
            let mut n = NeighborsMut::parse(&mut nb).unwrap();
            for (layer, l) in lists.iter().enumerate() {
                n.set_layer(layer as u8, l);
            }
        }
        let elen = element_tuple_size(q.len(), slots);
        let nlen = neighbor_tuple_size(level, m);
        let both = item_cost(elen) + item_cost(nlen);
        let start = meta.insert_page.max(1);
        let nblocks = rel.nblocks();

        if both <= PAGE_USABLE {
            // The hint only moves past pages where not even a level-0 element
            // fits: a rare high-level element must not skip freed slots.
            let nlen0 = neighbor_tuple_size(0, m);
            let both0 = item_cost(elen) + item_cost(nlen0);
            let mut first_fit0: Option<u32> = None;
            let mut stored = None;
            for blk in start..nblocks {
                let fits = {
                    let page = rel.read(blk);
                    let fits = room(&page) >= both || find_reusable(&page, blk, elen, nlen).is_some();
                    if first_fit0.is_none() && (fits || room(&page) >= both0 || find_reusable(&page, blk, elen, nlen0).is_some()) {
                        first_fit0 = Some(blk);
                    }
                    fits
                };
                if !fits {
                    continue;
                }
                let mut page = rel.write(blk);
                if let Some(t) = self.store_on(&mut page, blk, level, (heap_tid, slots), q, &nb, elen, nlen, both) {
                    stored = Some((blk, t));
                    break;
                }
            }
            let (blk, t) = match stored {
                Some(x) => x,
                None => {
                    let (blk, mut page) = rel.extend();
                    page.init_hnsw(PAGE_DATA);
                    let t = self
                        .store_on(&mut page, blk, level, (heap_tid, slots), q, &nb, elen, nlen, both)
                        .expect("fits an empty page");
                    (blk, t)
                }
            };
            let hint = first_fit0.map_or(blk, |f| f.min(blk));
            if hint != meta.insert_page {
                set_insert_page(rel, hint);
            }
            return Ok(t);
        }

        // Too big for one page together: neighbour tuple first, then the element.
        let ntid = alloc_anywhere(rel, start, &nb);
        encode_element(&mut self.buf, level, 0, &[heap_tid], slots, ntid, q);
        let etid = alloc_anywhere(rel, start, &self.buf);
        Ok((etid, ntid))
    }

    #[allow(clippy::too_many_arguments)]
    fn store_on(
        &mut self,
        page: &mut Page,
        blk: u32,
        level: u8,
        (heap_tid, slots): (Tid, usize),
        q: &[u8],
        nb: &[u8],
        elen: usize,
        nlen: usize,
        both: usize,
    ) -> Option<(Tid, Tid)> {
        if let Some((eoff, noff, version)) = find_reusable(page, blk, elen, nlen) {
            encode_element(
                &mut self.buf,
                level,
                version.wrapping_add(1),
                &[heap_tid],
                slots,
                Tid::new(blk, noff),
                q,
            );
            let slot = page.get_mut(noff)?;
            slot[..nb.len()].copy_from_slice(nb);
            slot[nb.len()..].fill(0);
            let slot = page.get_mut(eoff)?;
            slot[..self.buf.len()].copy_from_slice(&self.buf);
            slot[self.buf.len()..].fill(0);
            return Some((Tid::new(blk, eoff), Tid::new(blk, noff)));
        }
        if room(page) < both {
            return None;
        }
        let eoff = page.len() + 1;
        encode_element(&mut self.buf, level, 0, &[heap_tid], slots, Tid::new(blk, eoff + 1), q);
        let got_e = page.alloc(&self.buf)?;
        let got_n = page.alloc(nb)?;
        debug_assert_eq!((got_e, got_n), (eoff, eoff + 1));
        Some((Tid::new(blk, got_e), Tid::new(blk, got_n)))
    }
}

/// A deleted element on `page` whose slot (and its neighbour tuple's slot,
/// on the same page) can hold the new ones: (element off, neighbour off, version).
fn find_reusable(page: &Page, blk: u32, elen: usize, nlen: usize) -> Option<(u16, u16, u8)> {
    for off in 1..=page.len() {
        let Some(b) = page.get(off) else { continue };
        let Some(e) = ElementRef::parse(b) else { continue };
        if !e.is_deleted() || b.len() < elen {
            continue;
        }
        let nt = e.neighbors();
        if nt.block != blk {
            continue;
        }
        if page
            .get(nt.offset)
            .is_some_and(|n| n.len() >= nlen && NeighborsRef::parse(n).is_some())
        {
            return Some((off, nt.offset, e.version()));
        }
    }
    None
}

/// Appends `tuple` on the first page from `start` with room, or a new page.
fn alloc_anywhere<R: RelationWrite>(rel: &R, start: u32, tuple: &[u8]) -> Tid {
    let cost = item_cost(tuple.len());
    for blk in start..rel.nblocks() {
        if room(&rel.read(blk)) < cost {
            continue;
        }
        let mut page = rel.write(blk);
        if let Some(off) = page.alloc(tuple) {
            return Tid::new(blk, off);
        }
    }
    let (blk, mut page) = rel.extend();
    page.init_hnsw(PAGE_DATA);
    let off = page.alloc(tuple).expect("an element tuple fits an empty page");
    Tid::new(blk, off)
}

fn try_add_duplicate<R: RelationWrite>(rel: &R, c: &Cand, q: &[u8], heap_tid: Tid) -> bool {
    let t = Tid::from_u64(c.elem);
    let mut page = rel.write(t.block);
    let Some(b) = page.get_mut(t.offset) else { return false };
    let Some(mut e) = ElementMut::parse(b) else { return false };
    let r = e.as_ref();
    if !r.is_live() || r.version() != c.version || r.payload() != q {
        return false;
    }
    e.push_heap_tid(heap_tid)
}

/// Makes `tid` the entry point if it is higher than the current one (or the
/// index is empty). Callers hold the update lock exclusively.
fn set_entry<R: RelationWrite>(rel: &R, tid: Tid, level: u8) {
    let mut page = rel.write(0);
    let Some(b) = page.get_mut(1) else { return };
    let Some(mut meta) = Meta::decode(b) else { return };
    if meta.entry.is_none_or(|(_, l)| l < level) {
        meta.entry = Some((tid, level));
        b[..crate::tuple::META_SIZE].copy_from_slice(&meta.encode());
    }
}

fn set_insert_page<R: RelationWrite>(rel: &R, blk: u32) {
    if read_meta(rel).is_ok_and(|m| m.insert_page == blk) {
        return;
    }
    let mut page = rel.write(0);
    let Some(b) = page.get_mut(1) else { return };
    let Some(mut meta) = Meta::decode(b) else { return };
    meta.insert_page = blk;
    b[..crate::tuple::META_SIZE].copy_from_slice(&meta.encode());
}
