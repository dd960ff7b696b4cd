//! Inserting one document after the build: into the memtable, a chain of pages holding whole
//! documents (their lexemes and term frequencies), which searches score exhaustively.
//!
//! Locking: the update lock shared (inserts run concurrently; vacuum takes it exclusive to wait
//! for inserts in flight), then one page lock at a time:
//! * a document that fits the last page is added there together with that page's counters, in
//!   one write: it is visible and counted at once, or not at all;
//! * otherwise its parts go to new pages, extended last-first so each is written once with its
//!   link already set (unreachable until linked: a crash leaves only garbage pages); one write
//!   then links them after the chain's last page (found from the meta page's hint by following
//!   the chain, since concurrent inserts may have linked pages meanwhile); a last write moves
//!   the hint, which is only a hint, and counts the pages in the meta's `mem_pages`.
//!
//! When the memtable has grown to [`MergePolicy::mem_pages`], the insert then (its locks
//! released) merges it into a segment: see [`crate::merge`](mod@crate::merge).

use crate::build::{check_terms, init_mem_page};
use crate::error::{not_valid, Bm25IndexError};
use crate::merge::{merge_after_insert, now_secs, MergePolicy, MergeStats};
use crate::page::{encode_parts, is_page, next_of, MemCounters, Meta, META_BLKNO, PAGE_MEM, PAGE_META};
use semvec_storage::{RelationRead, RelationWrite, Tid};

/// The meta tuple of block 0.
pub fn read_meta<R: RelationRead>(rel: &R) -> Result<Meta, Bm25IndexError> {
    if rel.nblocks() == 0 {
        return Err(not_valid("no meta page"));
    }
    let g = rel.read(META_BLKNO);
    if !is_page(&g, PAGE_META) {
        return Err(not_valid("block 0 is not a meta page"));
    }
    g.get(1).and_then(Meta::decode).ok_or_else(|| not_valid("bad meta tuple"))
}

/// Insert one document (`aminsert`): heap TID, distinct lexemes with term frequencies, length.
/// Merges the memtable when it is due by [`MergePolicy::default`].
pub fn insert<R: RelationWrite>(rel: &R, tid: Tid, terms: &[(&[u8], u32)], len: u64) -> Result<(), Bm25IndexError> {
    insert_with(rel, tid, terms, len, &MergePolicy::default()).map(|_| ())
}

/// [`insert`] with a merge policy (say from a reloption); returns what the merge it ran did.
pub fn insert_with<R: RelationWrite>(
    rel: &R,
    tid: Tid,
    terms: &[(&[u8], u32)],
    len: u64,
    policy: &MergePolicy,
) -> Result<MergeStats, Bm25IndexError> {
    let seen = add_document(rel, tid, terms, len)?;
    if policy.insert_due(&seen, now_secs()) {
        merge_after_insert(rel, policy)
    } else {
        Ok(MergeStats::default())
    }
}

/// The insert proper, under the update lock; returns the meta page as it last saw it.
fn add_document<R: RelationWrite>(rel: &R, tid: Tid, terms: &[(&[u8], u32)], len: u64) -> Result<Meta, Bm25IndexError> {
    check_terms(terms)?;
    let terms: Vec<(&[u8], u32)> = terms.iter().copied().filter(|(l, tf)| !l.is_empty() && *tf > 0).collect();
    let len = len.min(u32::MAX as u64) as u32;
    let parts = encode_parts(tid, len, &terms);
    let _lock = rel.lock_update(false);
    let seen = read_meta(rel)?;
    let mut tail = seen.mem_tail;
    if parts.len() == 1 {
        loop {
            check_block(rel, tail)?;
            let mut g = rel.write(tail);
            if !is_page(&g, PAGE_MEM) {
                return Err(not_valid(format!("block {tail} is not a memtable page")));
            }
            if g.alloc(&parts[0]).is_some() {
                let mut c = MemCounters::of(&g).ok_or_else(|| not_valid("memtable counters"))?;
                c.n_docs += 1;
                c.total_len += len as u64;
                c.store(&mut g);
                return Ok(seen);
            }
            match next_of(&g) {
                Some(n) => tail = n,
                None => break,
            }
        }
    }
    // New pages, last part first, each linked to the page extended before it.
    let mut next = semvec_storage::INVALID_BLOCK;
    for (i, part) in parts.iter().enumerate().rev() {
        let (blk, mut g) = rel.extend();
        init_mem_page(&mut g);
        g.alloc(part).expect("a part fits an empty memtable page");
        if i == 0 {
            MemCounters {
                n_docs: 1,
                total_len: len as u64,
            }
            .store(&mut g);
        }
        g.opaque_mut().next_blkno = next;
        next = blk;
    }
    let first_new = next;
    let last_new = {
        let mut b = first_new;
        for _ in 1..parts.len() {
            b = next_of(&rel.read(b)).expect("the new chain is linked");
        }
        b
    };
    loop {
        check_block(rel, tail)?;
        let mut g = rel.write(tail);
        match next_of(&g) {
            Some(n) => tail = n,
            None => {
                g.opaque_mut().next_blkno = first_new;
                break;
            }
        }
    }
    let mut m = rel.write(META_BLKNO);
    let mut meta = m.get(1).and_then(Meta::decode).ok_or_else(|| not_valid("bad meta tuple"))?;
    // Only move the hint forward along the chain: a concurrent insert may have linked more.
    if meta.mem_tail == tail || meta.mem_tail == semvec_storage::INVALID_BLOCK {
        meta.mem_tail = last_new;
    }
    meta.mem_pages = meta.mem_pages.saturating_add(parts.len() as u32);
    m.get_mut(1).unwrap().copy_from_slice(&meta.encode());
    Ok(meta)
}

pub(crate) fn check_block<R: RelationRead>(rel: &R, blk: u32) -> Result<(), Bm25IndexError> {
    if blk >= rel.nblocks() {
        return Err(not_valid(format!("block {blk} past the end of the relation")));
    }
    Ok(())
}
