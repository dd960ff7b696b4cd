//! VACUUM's bulk delete: remove the postings and memtable documents of dead rows, and bring N,
//! total length and every df back to exact.
//!
//! Per segment, in this order, each step a set of single-page writes:
//! 1. the posting chain, page by page: blocks with dead postings are re-encoded in place
//!    (fewer postings, exact impacts, `last` kept), counting each term's survivors;
//! 2. the dictionary pages whose terms changed: df and term impacts set to the survivors';
//! 3. the meta page: the segment's N and total length, from its surviving document list.
//!
//! Between steps the counts are too high (a dead row still counted), never too low; a crash in
//! between leaves them so, and the next VACUUM recounts everything from the postings it keeps,
//! so counts never drift further. Impacts only ever shrink to exact, so block bounds stay valid.
//! Then the memtable (and a frozen memtable a merge is turning into a segment), page by page:
//! dead documents get [`PART_DEAD`] and leave their page's counters in the same write.
//!
//! Merges run concurrently and may publish a segment holding rows copied before VACUUM removed
//! them from the merge's input. So VACUUM re-reads the meta page until it has processed every
//! segment and memtable chain listed there (a merge's output too), and its last write, in the
//! same check, bumps the meta's `epoch`: a merge that read its input earlier gives up at its
//! publish instead of bringing removed rows back ([`crate::merge`](mod@crate::merge)). A segment's counts go to
//! the segment with the same directory page, wherever a merge moved it in the list.

use crate::codec::{decode_block, frontier, rewrite_block, Impact, Posting};
use crate::error::{not_valid, Bm25IndexError};
use crate::insert::{check_block, read_meta};
use crate::page::{
    decode_part, is_page, next_of, MemCounters, Meta, SegmentDesc, TermEntry, META_BLKNO, PAGE_DICT, PAGE_MEM, PAGE_POSTINGS, PART_DEAD,
};
use crate::search::is_first;
use semvec_storage::{RelationWrite, Tid};
use std::collections::HashMap;

/// What a bulk delete did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VacuumStats {
    /// Documents removed (segments and memtable).
    pub docs_removed: u64,
    /// Postings removed from term lists (document lists not included).
    pub postings_removed: u64,
    /// Documents left.
    pub docs_remaining: u64,
    /// Pages written.
    pub pages_written: u64,
}

/// Per term of a segment, in dictionary order: its blocks, and what survives.
struct TermTally {
    head_blk: u32,
    n_blocks: u32,
    df: u32,
    impacts: Vec<Impact>,
}

/// `ambulkdelete`: remove every row for which `is_dead` says so.
pub fn bulk_delete<R: RelationWrite>(rel: &R, mut is_dead: impl FnMut(Tid) -> bool) -> Result<VacuumStats, Bm25IndexError> {
    // Wait for inserts that began before the heap's dead rows were chosen.
    drop(rel.lock_update(true));
    let mut stats = VacuumStats::default();
    // Documents left per segment (by directory) and memtable chain (by head) processed.
    let mut segs_done: HashMap<u32, u64> = HashMap::new();
    let mut chains_done: HashMap<u32, u64> = HashMap::new();
    let is_new = |m: &Meta, segs_done: &HashMap<u32, u64>, chains_done: &HashMap<u32, u64>| {
        m.segments.iter().any(|s| !segs_done.contains_key(&s.dir_head)) || m.mem_chains().any(|h| !chains_done.contains_key(&h))
    };
    let last = loop {
        let meta = read_meta(rel)?;
        if !is_new(&meta, &segs_done, &chains_done) {
            if stats.docs_removed + stats.postings_removed == 0 {
                break meta;
            }
            // The last write: bump the epoch, so a merge that read rows removed here gives up.
            let mut m = rel.write(META_BLKNO);
            let mut now = m.get(1).and_then(Meta::decode).ok_or_else(|| not_valid("bad meta tuple"))?;
            if is_new(&now, &segs_done, &chains_done) {
                continue;
            }
            now.epoch = now.epoch.wrapping_add(1);
            m.get_mut(1).unwrap().copy_from_slice(&now.encode());
            stats.pages_written += 1;
            break now;
        }
        for seg in &meta.segments {
            if segs_done.contains_key(&seg.dir_head) {
                continue;
            }
            let left = vacuum_segment(rel, seg, &mut is_dead, &mut stats)?;
            segs_done.insert(seg.dir_head, left);
        }
        for head in meta.mem_chains() {
            if chains_done.contains_key(&head) {
                continue;
            }
            let left = vacuum_chain(rel, head, &mut is_dead, &mut stats)?;
            chains_done.insert(head, left);
        }
    };
    stats.docs_remaining =
        last.segments.iter().map(|s| segs_done[&s.dir_head]).sum::<u64>() + last.mem_chains().map(|h| chains_done[&h]).sum::<u64>();
    Ok(stats)
}

/// One segment's three steps; returns its documents left.
fn vacuum_segment<R: RelationWrite>(
    rel: &R,
    seg: &SegmentDesc,
    is_dead: &mut impl FnMut(Tid) -> bool,
    stats: &mut VacuumStats,
) -> Result<u64, Bm25IndexError> {
    // The dictionary, in order (its order is the posting chain's).
    let mut tallies = Vec::new();
    let mut blk = Some(seg.dict_head);
    while let Some(b) = blk {
        check_block(rel, b)?;
        let g = rel.read(b);
        if !is_page(&g, PAGE_DICT) {
            return Err(not_valid(format!("block {b} is not a dictionary page")));
        }
        for off in 1..=g.len() {
            let e = g
                .get(off)
                .and_then(TermEntry::decode)
                .ok_or_else(|| not_valid("bad dictionary tuple"))?;
            tallies.push(TermTally {
                head_blk: e.head_blk,
                n_blocks: e.n_blocks,
                df: 0,
                impacts: Vec::new(),
            });
        }
        blk = next_of(&g);
    }
    // 1. The posting chain: its blocks belong to the dictionary's terms in order.
    let mut n_docs = 0u64;
    let mut total_len = 0u64;
    let mut term = 0usize;
    let mut left = tallies.first().map_or(0, |t| t.n_blocks);
    let mut blocks: Vec<Vec<Posting>> = Vec::new();
    let mut blk = Some(
        tallies
            .first()
            .map(|t| t.head_blk)
            .ok_or_else(|| not_valid("segment without document list"))?,
    );
    while let Some(b) = blk {
        check_block(rel, b)?;
        // Decide under a share lock; only pages with dead postings are written.
        let (dead_here, next) = {
            let g = rel.read(b);
            if !is_page(&g, PAGE_POSTINGS) {
                return Err(not_valid(format!("block {b} is not a posting page")));
            }
            blocks.clear();
            for off in 1..=g.len() {
                let mut ps = Vec::new();
                decode_block(g.get(off).unwrap_or(&[]), &mut ps).ok_or_else(|| not_valid("bad posting block"))?;
                blocks.push(ps);
            }
            (blocks.iter().flatten().any(|p| is_dead(Tid::from_u64(p.key))), next_of(&g))
        };
        let mut w = if dead_here { Some(rel.write(b)) } else { None };
        for (i, ps) in blocks.iter().enumerate() {
            while left == 0 {
                term += 1;
                left = tallies
                    .get(term)
                    .ok_or_else(|| not_valid("more posting blocks than the dictionary lists"))?
                    .n_blocks;
            }
            let kept: Vec<Posting> = ps
                .iter()
                .copied()
                .filter(|p| !dead_here || !is_dead(Tid::from_u64(p.key)))
                .collect();
            if kept.len() != ps.len() {
                let t = w
                    .as_mut()
                    .unwrap()
                    .get_mut(i as u16 + 1)
                    .ok_or_else(|| not_valid("bad posting block"))?;
                rewrite_block(t, &kept);
                if term == 0 {
                    stats.docs_removed += (ps.len() - kept.len()) as u64;
                } else {
                    stats.postings_removed += (ps.len() - kept.len()) as u64;
                }
            }
            let t = &mut tallies[term];
            t.df += kept.len() as u32;
            t.impacts = frontier(t.impacts.iter().map(|i| (i.tf, i.len)).chain(kept.iter().map(|p| (p.tf, p.len))));
            if term == 0 {
                n_docs += kept.len() as u64;
                total_len += kept.iter().map(|p| p.len as u64).sum::<u64>();
            }
            left -= 1;
        }
        if w.take().is_some() {
            stats.pages_written += 1;
        }
        blk = next;
    }
    if left != 0 || tallies[term + 1..].iter().any(|t| t.n_blocks > 0) {
        return Err(not_valid("the posting chain ends before the dictionary's lists"));
    }
    // 2. The dictionary.
    let mut i = 0usize;
    let mut blk = Some(seg.dict_head);
    while let Some(b) = blk {
        let (n, next, changed) = {
            let g = rel.read(b);
            let n = g.len() as usize;
            let changed = (1..=g.len()).enumerate().any(|(j, off)| {
                let e = g.get(off).and_then(TermEntry::decode);
                e.is_some_and(|e| e.df != tallies[i + j].df)
            });
            (n, next_of(&g), changed)
        };
        if changed {
            let mut g = rel.write(b);
            for off in 1..=n as u16 {
                let t = &tallies[i + off as usize - 1];
                TermEntry::set_counts(g.get_mut(off).ok_or_else(|| not_valid("bad dictionary tuple"))?, t.df, &t.impacts);
            }
            stats.pages_written += 1;
        }
        i += n;
        blk = next;
    }
    // 3. The meta page.
    let mut m = rel.write(META_BLKNO);
    let mut now = m.get(1).and_then(Meta::decode).ok_or_else(|| not_valid("bad meta tuple"))?;
    // By its directory: a merge may have published meanwhile (and if it merged this segment
    // away, its output is processed in turn).
    if let Some(s) = now.segment_at(seg.dir_head).map(|i| &mut now.segments[i]) {
        if (s.n_docs, s.total_len) != (n_docs, total_len) {
            (s.n_docs, s.total_len) = (n_docs, total_len);
            m.get_mut(1).unwrap().copy_from_slice(&now.encode());
            stats.pages_written += 1;
        }
    }
    Ok(n_docs)
}

/// One memtable chain, page by page; returns its live documents.
fn vacuum_chain<R: RelationWrite>(
    rel: &R,
    head: u32,
    is_dead: &mut impl FnMut(Tid) -> bool,
    stats: &mut VacuumStats,
) -> Result<u64, Bm25IndexError> {
    let mut remaining = 0u64;
    let mut blk = Some(head);
    while let Some(b) = blk {
        check_block(rel, b)?;
        let (any, next) = {
            let g = rel.read(b);
            if !is_page(&g, PAGE_MEM) {
                return Err(not_valid(format!("block {b} is not a memtable page")));
            }
            let mut any = false;
            for off in 2..=g.len() {
                let p = g.get(off).and_then(decode_part).ok_or_else(|| not_valid("bad memtable document"))?;
                if p.flags & PART_DEAD == 0 {
                    if is_dead(p.tid) {
                        any = true;
                    } else if is_first(p.flags) {
                        remaining += 1;
                    }
                }
            }
            (any, next_of(&g))
        };
        if any {
            let mut g = rel.write(b);
            let mut c = MemCounters::of(&g).ok_or_else(|| not_valid("memtable counters"))?;
            for off in 2..=g.len() {
                let t = g.get_mut(off).ok_or_else(|| not_valid("bad memtable document"))?;
                let p = decode_part(t).ok_or_else(|| not_valid("bad memtable document"))?;
                if p.flags & PART_DEAD == 0 && is_dead(p.tid) {
                    if is_first(p.flags) {
                        c.n_docs -= 1;
                        c.total_len -= p.len as u64;
                        stats.docs_removed += 1;
                    }
                    t[0] |= PART_DEAD;
                }
            }
            c.store(&mut g);
            stats.pages_written += 1;
        }
        blk = next;
    }
    Ok(remaining)
}
