//! Reading the list directory, and inserting one row after the build.
//!
//! Locking: at most one page is locked at a time, except that appending a page holds the full
//! last page of a chain while the new page is added (as PostgreSQL's own indexes extend): the new
//! page is written (one WAL record, with the entry already on it) before the old page links to it
//! (a second record), so a crash in between leaves only an unreachable empty page.

use crate::error::IvfError;
use crate::page::{self, init_page, ListLoc, ListTuple, Meta, HEAD_BLKNO, META_BLKNO, PAGE_ENTRY, PAGE_LIST, PAGE_META};
use semvec_storage::page::INVALID_BLOCK;
use semvec_storage::{Metric, RelationRead, RelationWrite, Tid};

/// The meta tuple of block 0.
pub fn read_meta<R: RelationRead>(rel: &R) -> Result<Meta, IvfError> {
    if rel.nblocks() == 0 {
        return Err(IvfError::NotValid);
    }
    let g = rel.read(META_BLKNO);
    if !page::is_page(&g, PAGE_META) {
        return Err(IvfError::NotValid);
    }
    g.get(1).and_then(Meta::decode).ok_or(IvfError::NotValid)
}

/// Calls `f(list number, location, tuple)` for every list, in list order, one list page locked
/// at a time.
pub fn for_each_list<R: RelationRead>(rel: &R, mut f: impl FnMut(usize, ListLoc, ListTuple<'_>)) -> Result<(), IvfError> {
    let mut blkno = HEAD_BLKNO;
    let mut list = 0;
    while blkno != INVALID_BLOCK {
        if blkno >= rel.nblocks() {
            return Err(IvfError::NotValid);
        }
        let g = rel.read(blkno);
        if !page::is_page(&g, PAGE_LIST) {
            return Err(IvfError::NotValid);
        }
        for offset in 1..=g.len() {
            let t = g.get(offset).ok_or(IvfError::NotValid)?;
            f(list, ListLoc { blkno, offset }, ListTuple::read(t));
            list += 1;
        }
        blkno = g.opaque().next_blkno;
    }
    Ok(())
}

/// The list closest to `payload` (ties to the lowest list): its location and insert page.
pub fn nearest_list<R: RelationRead, M: Metric>(rel: &R, metric: &M, payload: &[u8]) -> Result<(ListLoc, u32), IvfError> {
    let mut best: Option<(f32, ListLoc, u32)> = None;
    for_each_list(rel, |_, loc, t| {
        let d = metric.distance(payload, t.center);
        if best.is_none_or(|(bd, _, _)| d < bd) {
            best = Some((d, loc, t.insert_page));
        }
    })?;
    best.map(|(_, loc, p)| (loc, p)).ok_or(IvfError::NotValid)
}

/// Insert one row: append its entry to the nearest list's chain, adding a page when the chain is
/// full, and move the list's insert page hint forward.
pub fn insert<R: RelationWrite, M: Metric>(rel: &R, metric: &M, payload: &[u8], tid: Tid) -> Result<(), IvfError> {
    let meta = read_meta(rel)?;
    if payload.len() != meta.vtype.payload_len() {
        return Err(IvfError::PayloadSize {
            expected: meta.vtype.payload_len(),
            actual: payload.len(),
        });
    }
    let (loc, first) = nearest_list(rel, metric, payload)?;
    let mut tuple = Vec::with_capacity(page::HEADER + payload.len());
    page::encode_entry(tid, payload, &mut tuple);

    let mut blkno = first;
    loop {
        if blkno == INVALID_BLOCK || blkno >= rel.nblocks() {
            return Err(IvfError::NotValid);
        }
        let mut g = rel.write(blkno);
        if g.alloc(&tuple).is_some() {
            break;
        }
        let next = g.opaque().next_blkno;
        if next != INVALID_BLOCK {
            drop(g);
            blkno = next;
            continue;
        }
        let (new_blkno, mut ng) = rel.extend();
        init_page(&mut ng, PAGE_ENTRY);
        if ng.alloc(&tuple).is_none() {
            return Err(IvfError::EntryTooLarge {
                size: tuple.len(),
                max: page::HEADER + page::MAX_PAYLOAD,
            });
        }
        drop(ng);
        g.opaque_mut().next_blkno = new_blkno;
        drop(g);
        blkno = new_blkno;
        break;
    }
    if blkno != first {
        // Only if nobody (vacuum, another insert) moved the hint meanwhile.
        let mut g = rel.write(loc.blkno);
        let t = g.get_mut(loc.offset).ok_or(IvfError::NotValid)?;
        if ListTuple::read(t).insert_page == first {
            page::set_insert_page(t, blkno);
        }
    }
    Ok(())
}
