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
//! horizon the glue would have to supply). [`crate::check`](fn@crate::check) counts them.
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
//! **Crashes.** Every step is a sequence of single-page writes; before the publish the new
//! pages are unreachable, so a crash at any point leaves either the old state or the new one (a
//! crash after the freeze leaves a frozen chain, which searches read and a later merge adopts).
//!
//! **Correctness under concurrency** rests on the publish alone, a check-and-set under the meta
//! page's lock: it happens only if its inputs are still listed (the same frozen chain, every
//! input segment) and the meta's `epoch` is the one read before the input was. VACUUM bumps it
//! when it removed something, so a merge that may have copied a row VACUUM removed from its
//! input gives up (and VACUUM re-reads the meta page until it has processed every structure a
//! merge published meanwhile). A merge that gives up leaves its pages unreachable.
//!
//! **Leases** keep two backends from doing the same merge (the loser's work and pages would be
//! lost): the meta page has one for the memtable merge and one for segment merges, the unix
//! time at which the merge began or last published. A merge starts only if the lease is free
//! or older than [`MergePolicy::lease_secs`] (its merge died: a crash leaves a frozen memtable
//! with its lease, which the first insert after the lease expires adopts), and frees it when
//! done. Two lanes, so memtable merges go on while a long segment merge runs. The clock only
//! decides who works: a merge outliving its lease costs a duplicate, never a wrong index;
//! [`force_merge`] ignores leases.

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
///
/// The defaults come from `tests/measure_merge.rs` (release build, MemRelation, 100k documents
/// of ~100 or ~10 tokens): every memtable page costs every search 13 to 16 us (it is decoded
/// and scored exhaustively, while a search of the 100k segment documents takes 0.05 to 0.3 ms),
/// and merging costs 0.13 to 0.25 ms per page whatever the memtable's size, paid once by the
/// insert that crosses the threshold: merging a page costs about what 15 searches pay for
/// reading it. So the memtable stays small: 32 pages (256 KB) add at most 0.5 ms to a search
/// and take about 8 ms to merge, where 256 pages (2 MB) would add 3.5 to 4 ms to every search.
/// Inserts do not wait for a merge (the longest concurrent insert stayed under 1 ms while one
/// ran). Segment merges run at 7 to 14 M tokens a second, so `max_merge_size` (4 M) bounds an
/// insert's tier merge to about half a second; the glue can pass a larger one to the [`merge`]
/// it runs from VACUUM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MergePolicy {
    /// An insert that finds the memtable at this many pages merges it into a segment
    /// (0: inserts never merge; [`merge`] with `flush` still does).
    pub mem_pages: u32,
    /// Segments of one tier merged at once, and the size ratio between tiers (at least 2).
    pub merge_factor: usize,
    /// Segments up to this size are all in the lowest tier (about a full memtable's segment).
    pub floor_size: u64,
    /// The tiered policy never writes a segment larger than this (the `max_segments` cap
    /// excepted), so no single merge runs too long.
    pub max_merge_size: u64,
    /// Above this many segments the smallest are merged whatever their sizes (at most
    /// [`MAX_SEGMENTS`] - 1, so a memtable merge always finds a slot).
    pub max_segments: usize,
    /// A lease older than this (seconds) belongs to a merge that died.
    pub lease_secs: u32,
}

impl Default for MergePolicy {
    fn default() -> Self {
        MergePolicy {
            mem_pages: 32,
            merge_factor: 8,
            floor_size: 1 << 15,
            max_merge_size: 1 << 22,
            max_segments: 48,
            lease_secs: 60,
        }
    }
}

impl MergePolicy {
    /// Whether an insert that last saw `meta` at unix time `now` should merge the memtable: it
    /// has reached [`MergePolicy::mem_pages`], or a frozen one's merge died.
    pub fn insert_due(&self, meta: &Meta, now: u32) -> bool {
        self.mem_pages > 0
            && match meta.frozen_head {
                Some(_) => !self.lease_fresh(meta.mem_lease, now),
                None => meta.mem_pages >= self.mem_pages,
            }
    }

    /// Whether a lease taken at `lease` still holds at `now` (a clock set back counts as
    /// elapsed time too).
    pub fn lease_fresh(&self, lease: u32, now: u32) -> bool {
        lease != 0 && (now as i64 - lease as i64).abs() < self.lease_secs as i64
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

/// The unix time in seconds (never 0: that is "no lease").
pub fn now_secs() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (t as u32).max(1)
}

/// Run the merges that are due (`amvacuumcleanup` can call it, or a maintenance function),
/// unless another backend holds their lease: adopt a frozen memtable whose merge died, merge
/// the memtable when it has [`MergePolicy::mem_pages`] pages or, with `flush`, any documents at
/// all; then merge segments while [`MergePolicy::pick`] finds some.
pub fn merge<R: RelationWrite>(rel: &R, policy: &MergePolicy, flush: bool) -> Result<MergeStats, Bm25IndexError> {
    let mut st = MergeStats::default();
    let mode = if flush { Mode::Flush } else { Mode::Due };
    if memtable_lane(rel, policy, mode, &mut st)? == Lane::Adopted {
        // That was a frozen memtable: now the memtable.
        memtable_lane(rel, policy, mode, &mut st)?;
    }
    tier_lane(rel, policy, None, &mut st)?;
    Ok(st)
}

/// Merge the memtable (if it has documents) and then segments, smallest first, until at most
/// `target` (at least 1) remain: one segment per merge, however large (Lucene's
/// `forceMerge`). For maintenance, not for the insert path: it may write the whole index anew,
/// and it ignores leases (a merge running meanwhile may have to give up).
pub fn force_merge<R: RelationWrite>(rel: &R, target: usize) -> Result<MergeStats, Bm25IndexError> {
    let mut st = MergeStats::default();
    let policy = MergePolicy::default();
    if memtable_lane(rel, &policy, Mode::Force, &mut st)? == Lane::Adopted {
        memtable_lane(rel, &policy, Mode::Force, &mut st)?;
    }
    tier_lane(rel, &policy, Some(target.max(1)), &mut st)?;
    Ok(st)
}

/// The merge an insert runs when [`MergePolicy::insert_due`] says so.
pub(crate) fn merge_after_insert<R: RelationWrite>(rel: &R, policy: &MergePolicy) -> Result<MergeStats, Bm25IndexError> {
    let mut st = MergeStats::default();
    if memtable_lane(rel, policy, Mode::Due, &mut st)? != Lane::Idle {
        tier_lane(rel, policy, None, &mut st)?;
    }
    Ok(st)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Freeze the memtable at the policy's threshold.
    Due,
    /// Also when it has any document.
    Flush,
    /// Flush, and ignore the lease.
    Force,
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

/// What [`memtable_lane`] did.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Lane {
    /// Nothing (nothing due, or another backend's lease).
    Idle,
    /// Merged (or tried to) a frozen memtable it found.
    Adopted,
    /// Froze the memtable and merged (or tried to) it.
    Froze,
}

/// The memtable lane: take its lease, adopting a frozen memtable whose lease expired or
/// freezing the memtable if `mode` finds it due; then merge and publish.
fn memtable_lane<R: RelationWrite>(rel: &R, policy: &MergePolicy, mode: Mode, st: &mut MergeStats) -> Result<Lane, Bm25IndexError> {
    let Some((head, epoch, froze)) = claim_memtable(rel, policy, mode)? else {
        return Ok(Lane::Idle);
    };
    if read_meta(rel)?.segments.len() >= MAX_SEGMENTS {
        // No slot for the segment (segment merges fell behind): make one first.
        tier_lane(rel, policy, None, st)?;
    }
    merge_frozen(rel, head, epoch, st)?;
    Ok(if froze { Lane::Froze } else { Lane::Adopted })
}

/// Under the update lock taken exclusive (no insert in flight), take the memtable lease: adopt
/// the frozen memtable if its lease expired, or freeze the memtable if it is due, extending a
/// fresh page for inserts to go to. Returns the frozen chain's head, the epoch the merge must
/// still find at its publish, and whether it froze (rather than adopted) the chain.
fn claim_memtable<R: RelationWrite>(rel: &R, policy: &MergePolicy, mode: Mode) -> Result<Option<(u32, u32, bool)>, Bm25IndexError> {
    let now = now_secs();
    let _lock = rel.lock_update(true);
    let meta = read_meta(rel)?;
    let fresh = match meta.frozen_head {
        Some(_) if mode != Mode::Force && policy.lease_fresh(meta.mem_lease, now) => return Ok(None),
        Some(_) => None,
        None => {
            let at_threshold = policy.mem_pages > 0 && meta.mem_pages >= policy.mem_pages;
            let due = match mode {
                Mode::Due => at_threshold,
                Mode::Flush | Mode::Force => at_threshold || has_documents(rel, &meta),
            };
            if !due {
                return Ok(None);
            }
            let (fresh, mut g) = rel.extend();
            init_mem_page(&mut g);
            Some(fresh)
        }
    };
    let mut m = rel.write(META_BLKNO);
    let mut now_meta = m.get(1).and_then(Meta::decode).ok_or_else(|| not_valid("bad meta tuple"))?;
    if now_meta.frozen_head != meta.frozen_head {
        return Ok(None); // only a claim changes it, and we hold the lock: not reached
    }
    if let Some(fresh) = fresh {
        now_meta.frozen_head = Some(now_meta.mem_head);
        now_meta.mem_head = fresh;
        now_meta.mem_tail = fresh;
        now_meta.mem_pages = 1;
    }
    now_meta.mem_lease = now;
    m.get_mut(1).unwrap().copy_from_slice(&now_meta.encode());
    Ok(now_meta.frozen_head.map(|h| (h, now_meta.epoch, fresh.is_some())))
}

/// The segment lane: take its lease if free (or, with `force`, always) and something is due,
/// then merge while [`MergePolicy::pick`] (with `force`: the smallest segments down to that
/// many) finds segments, renewing the lease at each publish; free it at the end.
fn tier_lane<R: RelationWrite>(rel: &R, policy: &MergePolicy, force: Option<usize>, st: &mut MergeStats) -> Result<(), Bm25IndexError> {
    let pick = |segs: &[SegmentDesc]| match force {
        Some(target) if segs.len() > target => {
            let mut order: Vec<usize> = (0..segs.len()).collect();
            order.sort_by_key(|&i| (MergePolicy::size(&segs[i]), i));
            order.truncate(segs.len() - target + 1);
            Some(order)
        }
        Some(_) => None,
        None => policy.pick(segs),
    };
    let claimable = |m: &Meta| (force.is_some() || !policy.lease_fresh(m.tier_lease, now_secs())) && pick(&m.segments).is_some();
    if !claimable(&read_meta(rel)?) {
        return Ok(());
    }
    {
        let mut m = rel.write(META_BLKNO);
        let mut now = m.get(1).and_then(Meta::decode).ok_or_else(|| not_valid("bad meta tuple"))?;
        if !claimable(&now) {
            return Ok(());
        }
        now.tier_lease = now_secs();
        m.get_mut(1).unwrap().copy_from_slice(&now.encode());
    }
    loop {
        let meta = read_meta(rel)?;
        let Some(p) = pick(&meta.segments) else { break };
        let inputs: Vec<SegmentDesc> = p.iter().map(|&i| meta.segments[i]).collect();
        if !merge_segments(rel, &inputs, meta.epoch, st)? {
            break;
        }
    }
    let mut m = rel.write(META_BLKNO);
    let mut now = m.get(1).and_then(Meta::decode).ok_or_else(|| not_valid("bad meta tuple"))?;
    now.tier_lease = 0;
    m.get_mut(1).unwrap().copy_from_slice(&now.encode());
    Ok(())
}

/// Steps 2 and 3: write the frozen chain at `head` as a segment and publish it.
fn merge_frozen<R: RelationWrite>(rel: &R, head: u32, epoch: u32, st: &mut MergeStats) -> Result<bool, Bm25IndexError> {
    // Documents (whether their first part was seen, which counts them, and their length), the
    // lexemes as ids, and every (term id, document, tf) occurrence.
    let mut docs: HashMap<u64, (bool, u32)> = HashMap::new();
    let mut ids: HashMap<Vec<u8>, u32> = HashMap::new();
    let mut lexemes: Vec<Vec<u8>> = Vec::new();
    let mut occs: Vec<(u32, u64, u32)> = Vec::new();
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
            let key = part.tid.to_u64();
            let d = docs.entry(key).or_default();
            if is_first(part.flags) {
                *d = (true, part.len);
            }
            for &(lexeme, tf) in &part.terms {
                let id = match ids.get(lexeme) {
                    Some(&id) => id,
                    None => {
                        let id = lexemes.len() as u32;
                        lexemes.push(lexeme.to_vec());
                        ids.insert(lexeme.to_vec(), id);
                        id
                    }
                };
                occs.push((id, key, tf));
            }
        }
        pages += 1;
        blk = next_of(&g);
        if pages > rel.nblocks() as u64 {
            return Err(not_valid("the frozen memtable chain is cyclic"));
        }
    }
    drop(ids);
    // The segment: the documents that are counted, by TID; the lists in lexeme order, each by TID.
    let mut doc_list: Vec<Posting> = docs
        .iter()
        .filter(|(_, d)| d.0)
        .map(|(&key, d)| Posting { key, tf: 0, len: d.1 })
        .collect();
    doc_list.sort_unstable_by_key(|p| p.key);
    let mut order: Vec<u32> = (0..lexemes.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| lexemes[a as usize].cmp(&lexemes[b as usize]));
    let mut rank = vec![0u32; lexemes.len()];
    for (r, &id) in order.iter().enumerate() {
        rank[id as usize] = r as u32;
    }
    for o in occs.iter_mut() {
        o.0 = rank[o.0 as usize];
    }
    occs.sort_unstable_by_key(|&(r, key, _)| (r, key));
    let desc = if doc_list.is_empty() {
        None
    } else {
        let mut w = SegmentWriter::new(rel);
        w.push(b"", &doc_list);
        let mut list: Vec<Posting> = Vec::new();
        for group in occs.chunk_by(|a, b| a.0 == b.0) {
            list.clear();
            for &(_, key, tf) in group {
                match list.last_mut() {
                    // A lexeme may come twice in a document (insert accepts repeats): add its counts.
                    Some(p) if p.key == key => p.tf = p.tf.saturating_add(tf),
                    // (A part whose document has no first part is not counted: skip it.)
                    _ => {
                        if let Some(&(true, len)) = docs.get(&key) {
                            list.push(Posting { key, tf, len });
                        }
                    }
                }
            }
            if !list.is_empty() {
                w.push(&lexemes[order[group[0].0 as usize] as usize], &list);
            }
        }
        Some(w.finish())
    };
    // Publish.
    let mut m = rel.write(META_BLKNO);
    let mut now = m.get(1).and_then(Meta::decode).ok_or_else(|| not_valid("bad meta tuple"))?;
    if now.frozen_head != Some(head) || now.epoch != epoch || (desc.is_some() && now.segments.len() >= MAX_SEGMENTS) {
        st.aborted += 1;
        if now.frozen_head == Some(head) {
            // Free the lease: the next insert adopts the chain (and reads it anew).
            now.mem_lease = 0;
            m.get_mut(1).unwrap().copy_from_slice(&now.encode());
        }
        return Ok(false);
    }
    now.frozen_head = None;
    now.mem_lease = 0;
    now.segments.extend(desc);
    m.get_mut(1).unwrap().copy_from_slice(&now.encode());
    st.memtables += 1;
    st.mem_pages += pages;
    st.mem_docs += doc_list.len() as u64;
    st.segments_written += desc.is_some() as u32;
    Ok(true)
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
    now.tier_lease = now_secs();
    m.get_mut(1).unwrap().copy_from_slice(&now.encode());
    st.segment_merges += 1;
    st.segments_merged += inputs.len() as u32;
    st.segments_written += desc.is_some() as u32;
    Ok(true)
}
