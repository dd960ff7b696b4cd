//! Merges: the memtable into a new segment, and small segments into larger ones, each
//! published by one write of the meta page.
//!
//! **The memtable.** Searches score memtable documents exhaustively, so an insert that finds the
//! memtable at [`MergePolicy::mem_pages`] pages merges it (after its own insert, with no lock
//! held), as GIN's insert cleans its pending list:
//! 1. *freeze*: under the update lock taken exclusive (so no insert is in flight: every insert
//!    reads the memtable's tail and adds to it under the shared lock), a fresh memtable page is
//!    extended, then one meta write moves the memtable to `frozen_head` and points `mem_head` at
//!    the fresh page. The lock is released at once: inserts wait only for these two writes.
//! 2. the frozen chain's live documents are read (no insert adds to it any more; only VACUUM
//!    marks parts dead) and written as a segment, pages nobody reaches yet;
//! 3. *publish*: one meta write adds the segment and clears `frozen_head`.
//!
//! Searches read the frozen chain as part of the memtable (it is still counted in N and df),
//! so every document is in exactly one place reachable from any meta page: before step 1 in the
//! memtable, between 1 and 3 in the frozen chain, after 3 in the segment. A scan that read the
//! meta page before a publish still reads the old pages, which stay intact: pages a merge
//! leaves are never written again (VACUUM excepted, which only marks dead rows) nor reused, so
//! they stay unreachable: `RelationWrite` has no free space map to return them to, and a
//! recycler would need to know that no scan that began before the publish still runs (an xid
//! horizon the glue would have to supply). [`crate::check`] counts them.
//!
//! **Segments.** After merging the memtable (and on every explicit [`merge`]) the tiered policy
//! ([`MergePolicy::pick`]) merges the `merge_factor` smallest segments of one size tier, and
//! the smallest ones whatever their size when there are more than `max_segments` (the meta page
//! holds [`MAX_SEGMENTS`]). The input is streamed term by term (each segment's dictionary and
//! posting chain are read in order, one page at a time); a term's merged list is its postings
//! of every input, sorted by TID. Publishing removes the inputs and adds the output in one write.
//!
//! **Statistics.** A merge keeps every document VACUUM has not removed, dead rows included: N,
//! total length and df are the same sums before and after, so scores do not change. What VACUUM
//! removed is gone from the output, and its counts are recomputed from what is written, so a
//! segment left with counts too high by a VACUUM that crashed comes out exact.
//!
//! **Concurrency and crashes.** Every step is a sequence of single-page writes; before the
//! publish the new pages are unreachable, so a crash at any point leaves either the old state
//! or the new one (a crash after the freeze leaves a frozen chain, which searches read and the
//! next merge adopts). A publish is a check-and-set under the meta page's lock: it happens only
//! if its inputs are still listed (the same frozen chain, every input segment) and the meta's
//! `epoch` is the one read before the input was: VACUUM bumps it when it removed something, so
//! a merge that may have copied a row VACUUM removed from its input gives up (VACUUM itself
//! re-reads the meta page until it has processed every structure a merge published meanwhile).
//! A merge that gives up leaves its pages unreachable. Two merges of the same input race only
//! when one adopts a frozen chain whose merge is still running (inserts adopt only once the new
//! memtable has reached twice the threshold, an explicit merge always) or when two tier
//! merges pick the same segments; the loser gives up.

use crate::build::{init_mem_page, SegmentWriter};
use crate::codec::{decode_block, Posting};
use crate::error::{not_valid, Bm25IndexError};
use crate::insert::{check_block, read_meta};
use crate::page::{
    decode_part, is_page, next_of, Meta, SegmentDesc, TermEntry, MAX_SEGMENTS, META_BLKNO, PAGE_DICT, PAGE_MEM, PAGE_POSTINGS, PART_DEAD,
};
use crate::search::is_first;
use semvec_storage::{RelationWrite, Tid};
use std::collections::{HashMap, VecDeque};

/// When to merge. Sizes of segments are `n_docs + total_len` (about their postings).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergePolicy {
    /// An insert that finds the memtable at this many pages merges it into a segment
    /// (0: inserts never merge; [`merge`] with `flush` still does).
    pub mem_pages: u32,
    /// Segments of one tier merged at once, and the size ratio between tiers (at least 2).
    pub merge_factor: usize,
    /// Segments up to this size are all in the lowest tier.
    pub floor_size: u64,
    /// The tiered policy never writes a segment larger than this (the `max_segments` cap
    /// excepted), so no single merge runs too long.
    pub max_merge_size: u64,
    /// Above this many segments the smallest are merged whatever their sizes (at most
    /// [`MAX_SEGMENTS`] - 1, so a memtable merge always finds a slot).
    pub max_segments: usize,
}

impl Default for MergePolicy {
    fn default() -> Self {
        MergePolicy {
            mem_pages: 256,
            merge_factor: 8,
            floor_size: 1 << 18,
            max_merge_size: 1 << 26,
            max_segments: 48,
        }
    }
}

impl MergePolicy {
    /// Whether an insert that saw the memtable at `mem_pages` pages should merge: at the
    /// threshold, or at twice it when a frozen memtable waits (its merge may have died).
    pub fn insert_due(&self, mem_pages: u32, frozen: bool) -> bool {
        let at = if frozen { self.mem_pages.saturating_mul(2) } else { self.mem_pages };
        self.mem_pages > 0 && mem_pages >= at
    }

    /// The size the tiered policy sees.
    pub fn size(s: &SegmentDesc) -> u64 {
        s.n_docs.saturating_add(s.total_len)
    }

    /// The segments (positions in `segs`) to merge next, or None: over `max_segments`, the
    /// `merge_factor` smallest; otherwise the `merge_factor` smallest of the lowest tier that has
    /// that many, if together they stay within `max_merge_size`. Tier 0 holds sizes up to
    /// `floor_size`, tier t+1 up to `merge_factor` times tier t's bound.
    pub fn pick(&self, segs: &[SegmentDesc]) -> Option<Vec<usize>> {
        let f = self.merge_factor.max(2);
        let mut order: Vec<usize> = (0..segs.len()).collect();
        order.sort_by_key(|&i| (Self::size(&segs[i]), i));
        if segs.len() > self.max_segments.clamp(2, MAX_SEGMENTS - 1) {
            return Some(order[..f.min(segs.len())].to_vec());
        }
        let tier = |s: u64| {
            let (mut t, mut cap) = (0u32, self.floor_size.max(1));
            while s > cap {
                cap = cap.saturating_mul(f as u64);
                t += 1;
            }
            t
        };
        let mut tiers: Vec<(u32, usize)> = order.iter().map(|&i| (tier(Self::size(&segs[i])), i)).collect();
        tiers.sort_by_key(|&(t, i)| (t, Self::size(&segs[i]), i));
        for group in tiers.chunk_by(|a, b| a.0 == b.0) {
            if group.len() >= f {
                let pick: Vec<usize> = group[..f].iter().map(|&(_, i)| i).collect();
                let total = pick.iter().fold(0u64, |a, &i| a.saturating_add(Self::size(&segs[i])));
                if total <= self.max_merge_size {
                    return Some(pick);
                }
                // Higher tiers only get larger.
                return None;
            }
        }
        None
    }
}

/// What merges did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MergeStats {
    /// Memtable chains turned into segments, their pages and their live documents.
    pub memtables: u32,
    pub mem_pages: u64,
    pub mem_docs: u64,
    /// Tier merges published, and the segments they replaced.
    pub segment_merges: u32,
    pub segments_merged: u32,
    /// Segments written and published.
    pub segments_written: u32,
    /// Merges that gave up at their publish (input gone, or VACUUM removed rows meanwhile).
    pub aborted: u32,
}

/// Run the merges that are due (`ambulkdelete`'s cleanup can call it, or a maintenance
/// function): adopt a frozen memtable (a merge died, or still runs: then one of the two gives
/// up), merge the memtable when it has [`MergePolicy::mem_pages`] pages or, with `flush`, any
/// documents at all, then merge segments while [`MergePolicy::pick`] finds some.
pub fn merge<R: RelationWrite>(rel: &R, policy: &MergePolicy, flush: bool) -> Result<MergeStats, Bm25IndexError> {
    let mut st = MergeStats::default();
    let meta = read_meta(rel)?;
    make_room(rel, policy, &meta, &mut st)?;
    if let Some(head) = meta.frozen_head {
        merge_frozen(rel, head, meta.epoch, &mut st)?;
    }
    let due = |m: &Meta| policy.mem_pages > 0 && m.mem_pages >= policy.mem_pages;
    if let Some((head, epoch)) = freeze(rel, |m| due(m) || (flush && has_documents(rel, m)))? {
        merge_frozen(rel, head, epoch, &mut st)?;
    }
    merge_tiers(rel, policy, &mut st)?;
    Ok(st)
}

/// The merge an insert runs when [`MergePolicy::insert_due`] says so.
pub(crate) fn merge_after_insert<R: RelationWrite>(rel: &R, policy: &MergePolicy) -> Result<MergeStats, Bm25IndexError> {
    let mut st = MergeStats::default();
    let meta = read_meta(rel)?;
    make_room(rel, policy, &meta, &mut st)?;
    if let Some(head) = meta.frozen_head.filter(|_| policy.insert_due(meta.mem_pages, true)) {
        merge_frozen(rel, head, meta.epoch, &mut st)?;
    }
    if let Some((head, epoch)) = freeze(rel, |m| policy.insert_due(m.mem_pages, false))? {
        merge_frozen(rel, head, epoch, &mut st)?;
        merge_tiers(rel, policy, &mut st)?;
    }
    Ok(st)
}

/// A memtable merge needs a free segment slot: merge segments first when there is none.
fn make_room<R: RelationWrite>(rel: &R, policy: &MergePolicy, meta: &Meta, st: &mut MergeStats) -> Result<(), Bm25IndexError> {
    if meta.segments.len() >= MAX_SEGMENTS - 1 {
        merge_tiers(rel, policy, st)?;
    }
    Ok(())
}

/// Whether the memtable holds any document (live or dead): its first page has some, or it has
/// more pages.
fn has_documents<R: RelationWrite>(rel: &R, m: &Meta) -> bool {
    if m.mem_pages > 1 || m.mem_head >= rel.nblocks() {
        return true;
    }
    let g = rel.read(m.mem_head);
    next_of(&g).is_some() || g.len() > 1
}

/// Step 1: if `due` says so (asked under the lock) and no frozen memtable waits, freeze the
/// memtable. Returns the frozen chain's head and the epoch of the freezing write.
fn freeze<R: RelationWrite>(rel: &R, due: impl Fn(&Meta) -> bool) -> Result<Option<(u32, u32)>, Bm25IndexError> {
    let _lock = rel.lock_update(true);
    let meta = read_meta(rel)?;
    if meta.frozen_head.is_some() || !due(&meta) {
        return Ok(None);
    }
    let (fresh, mut g) = rel.extend();
    init_mem_page(&mut g);
    drop(g);
    let mut m = rel.write(META_BLKNO);
    let mut now = m.get(1).and_then(Meta::decode).ok_or_else(|| not_valid("bad meta tuple"))?;
    if now.frozen_head.is_some() {
        return Ok(None);
    }
    let head = now.mem_head;
    now.frozen_head = Some(head);
    now.mem_head = fresh;
    now.mem_tail = fresh;
    now.mem_pages = 1;
    m.get_mut(1).unwrap().copy_from_slice(&now.encode());
    Ok(Some((head, now.epoch)))
}

/// A memtable document gathered from its parts.
#[derive(Default)]
struct MemDoc {
    /// Its first part was seen (only then is it counted).
    counted: bool,
    len: u32,
    terms: Vec<(Vec<u8>, u32)>,
}

/// Steps 2 and 3: write the frozen chain at `head` as a segment and publish it.
fn merge_frozen<R: RelationWrite>(rel: &R, head: u32, epoch: u32, st: &mut MergeStats) -> Result<bool, Bm25IndexError> {
    let mut docs: HashMap<u64, MemDoc> = HashMap::new();
    let mut pages = 0u64;
    let mut blk = Some(head);
    while let Some(b) = blk {
        check_block(rel, b)?;
        let g = rel.read(b);
        if !is_page(&g, PAGE_MEM) {
            return Err(not_valid(format!("block {b} is not a memtable page")));
        }
        for off in 2..=g.len() {
            let part = g.get(off).and_then(decode_part).ok_or_else(|| not_valid("bad memtable document"))?;
            if part.flags & PART_DEAD != 0 {
                continue;
            }
            let d = docs.entry(part.tid.to_u64()).or_default();
            if is_first(part.flags) {
                d.counted = true;
                d.len = part.len;
            }
            d.terms.extend(part.terms.iter().map(|&(l, tf)| (l.to_vec(), tf)));
        }
        pages += 1;
        blk = next_of(&g);
        if pages > rel.nblocks() as u64 {
            return Err(not_valid("the frozen memtable chain is cyclic"));
        }
    }
    // The segment: documents by TID, so every list comes out sorted.
    let mut docs: Vec<(u64, MemDoc)> = docs.into_iter().filter(|(_, d)| d.counted).collect();
    docs.sort_unstable_by_key(|(k, _)| *k);
    let mut doc_list = Vec::with_capacity(docs.len());
    let mut lists: HashMap<Vec<u8>, Vec<Posting>> = HashMap::new();
    for (key, mut d) in docs {
        doc_list.push(Posting { key, tf: 0, len: d.len });
        // A lexeme may come twice (the glue dedups, but insert accepts repeats): add its counts.
        d.terms.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (lexeme, tf) in d.terms {
            let list = lists.entry(lexeme).or_default();
            match list.last_mut() {
                Some(p) if p.key == key => p.tf = p.tf.saturating_add(tf),
                _ => list.push(Posting { key, tf, len: d.len }),
            }
        }
    }
    let desc = if doc_list.is_empty() {
        None
    } else {
        let mut terms: Vec<(Vec<u8>, Vec<Posting>)> = lists.into_iter().collect();
        terms.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut w = SegmentWriter::new(rel);
        w.push(b"", &doc_list);
        for (lexeme, list) in &terms {
            w.push(lexeme, list);
        }
        Some(w.finish())
    };
    // Publish.
    let mut m = rel.write(META_BLKNO);
    let mut now = m.get(1).and_then(Meta::decode).ok_or_else(|| not_valid("bad meta tuple"))?;
    if now.frozen_head != Some(head) || now.epoch != epoch || (desc.is_some() && now.segments.len() >= MAX_SEGMENTS) {
        st.aborted += 1;
        return Ok(false);
    }
    now.frozen_head = None;
    now.segments.extend(desc);
    m.get_mut(1).unwrap().copy_from_slice(&now.encode());
    st.memtables += 1;
    st.mem_pages += pages;
    st.mem_docs += doc_list.len() as u64;
    st.segments_written += desc.is_some() as u32;
    Ok(true)
}

/// Tier merges while the policy finds some and they publish.
fn merge_tiers<R: RelationWrite>(rel: &R, policy: &MergePolicy, st: &mut MergeStats) -> Result<(), Bm25IndexError> {
    loop {
        let meta = read_meta(rel)?;
        let Some(pick) = policy.pick(&meta.segments) else { return Ok(()) };
        let inputs: Vec<SegmentDesc> = pick.iter().map(|&i| meta.segments[i]).collect();
        if !merge_segments(rel, &inputs, meta.epoch, st)? {
            return Ok(());
        }
    }
}

/// Reads a segment's lists in dictionary order (the order of its posting chain), one page at a
/// time, holding no lock between calls.
struct SegmentReader<'a, R: RelationWrite> {
    rel: &'a R,
    dict: VecDeque<TermEntry>,
    next_dict: Option<u32>,
    /// The posting page last read: its number, its tuples and its successor.
    page: Option<(u32, Vec<Vec<u8>>, Option<u32>)>,
}

impl<'a, R: RelationWrite> SegmentReader<'a, R> {
    fn new(rel: &'a R, seg: &SegmentDesc) -> Self {
        SegmentReader {
            rel,
            dict: VecDeque::new(),
            next_dict: Some(seg.dict_head),
            page: None,
        }
    }

    /// The next term and its postings (dead ones gone: VACUUM removed them).
    fn next_term(&mut self) -> Result<Option<(TermEntry, Vec<Posting>)>, Bm25IndexError> {
        while self.dict.is_empty() {
            let Some(b) = self.next_dict else { return Ok(None) };
            check_block(self.rel, b)?;
            let g = self.rel.read(b);
            if !is_page(&g, PAGE_DICT) {
                return Err(not_valid(format!("block {b} is not a dictionary page")));
            }
            for off in 1..=g.len() {
                let e = g
                    .get(off)
                    .and_then(TermEntry::decode)
                    .ok_or_else(|| not_valid("bad dictionary tuple"))?;
                self.dict.push_back(e);
            }
            self.next_dict = next_of(&g);
        }
        let e = self.dict.pop_front().unwrap();
        let mut list = Vec::with_capacity(e.df as usize);
        let mut block = Vec::new();
        let (mut blk, mut off, mut left) = (e.head_blk, e.head_off as usize, e.n_blocks);
        while left > 0 {
            if self.page.as_ref().is_none_or(|p| p.0 != blk) {
                check_block(self.rel, blk)?;
                let g = self.rel.read(blk);
                if !is_page(&g, PAGE_POSTINGS) {
                    return Err(not_valid(format!("block {blk} is not a posting page")));
                }
                let tuples = (1..=g.len()).map(|o| g.get(o).unwrap_or(&[]).to_vec()).collect();
                self.page = Some((blk, tuples, next_of(&g)));
            }
            let (_, tuples, next) = self.page.as_ref().unwrap();
            while left > 0 && off >= 1 && off <= tuples.len() {
                decode_block(&tuples[off - 1], &mut block).ok_or_else(|| not_valid("bad posting block"))?;
                list.extend_from_slice(&block);
                off += 1;
                left -= 1;
            }
            if left > 0 {
                blk = next.ok_or_else(|| not_valid("posting chain ends inside a list"))?;
                off = 1;
            }
        }
        Ok(Some((e, list)))
    }
}

/// Merge `inputs` into one segment and publish it in their place; false if it gave up.
fn merge_segments<R: RelationWrite>(rel: &R, inputs: &[SegmentDesc], epoch: u32, st: &mut MergeStats) -> Result<bool, Bm25IndexError> {
    let mut readers: Vec<SegmentReader<R>> = inputs.iter().map(|s| SegmentReader::new(rel, s)).collect();
    // The document lists come first in every dictionary.
    let mut docs: Vec<Posting> = Vec::new();
    // A VACUUM that stopped between its steps can leave postings of rows it removed from the
    // document list (and counts too high): then drop postings whose document is gone.
    let mut partial = false;
    for (r, s) in readers.iter_mut().zip(inputs) {
        let (e, list) = r.next_term()?.ok_or_else(|| not_valid("segment without document list"))?;
        if !e.lexeme.is_empty() {
            return Err(not_valid("segment without document list"));
        }
        partial |= list.len() as u64 != s.n_docs || e.df as usize != list.len();
        docs.extend_from_slice(&list);
    }
    docs.sort_unstable_by_key(|p| p.key);
    if let Some(w) = docs.windows(2).find(|w| w[0].key == w[1].key) {
        return Err(not_valid(format!("{:?} is in two segments", Tid::from_u64(w[0].key))));
    }
    let desc = if docs.is_empty() {
        None
    } else {
        let mut w = SegmentWriter::new(rel);
        w.push(b"", &docs);
        let mut heads: Vec<Option<(TermEntry, Vec<Posting>)>> = Vec::with_capacity(readers.len());
        for r in readers.iter_mut() {
            heads.push(r.next_term()?);
        }
        let mut list: Vec<Posting> = Vec::new();
        while let Some(lexeme) = heads.iter().flatten().map(|(e, _)| &e.lexeme).min().cloned() {
            list.clear();
            for (h, r) in heads.iter_mut().zip(readers.iter_mut()) {
                if h.as_ref().is_some_and(|(e, _)| e.lexeme == lexeme) {
                    let (_, l) = h.take().unwrap();
                    list.extend_from_slice(&l);
                    *h = r.next_term()?;
                    if h.as_ref().is_some_and(|(e, _)| e.lexeme <= lexeme) {
                        return Err(not_valid("dictionary lexemes are not strictly ascending"));
                    }
                }
            }
            list.sort_unstable_by_key(|p| p.key);
            if partial {
                list.retain(|p| docs.binary_search_by_key(&p.key, |d| d.key).is_ok());
            }
            if !list.is_empty() {
                w.push(&lexeme, &list);
            }
        }
        Some(w.finish())
    };
    // Publish.
    let mut m = rel.write(META_BLKNO);
    let mut now = m.get(1).and_then(Meta::decode).ok_or_else(|| not_valid("bad meta tuple"))?;
    if now.epoch != epoch || inputs.iter().any(|s| now.segment_at(s.dir_head).is_none()) {
        st.aborted += 1;
        return Ok(false);
    }
    now.segments.retain(|s| !inputs.iter().any(|i| i.dir_head == s.dir_head));
    now.segments.extend(desc);
    m.get_mut(1).unwrap().copy_from_slice(&now.encode());
    st.segment_merges += 1;
    st.segments_merged += inputs.len() as u32;
    st.segments_written += desc.is_some() as u32;
    Ok(true)
}
