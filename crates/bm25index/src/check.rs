//! Invariant checks (tests, and a future `semvec_index_check`). Reads one page at a time; run
//! it on a quiescent index (concurrent writers make transient states look wrong).

use crate::codec::{decode_block, BlockHeader, Posting};
use crate::error::Bm25IndexError;
use crate::insert::read_meta;
use crate::page::{
    decode_dir, decode_part, is_page, next_of, MemCounters, TermEntry, PAGE_DICT, PAGE_DIRECTORY, PAGE_MEM, PAGE_POSTINGS, PART_DEAD,
};
use crate::search::is_first;
use semvec_storage::{RelationRead, Tid};
use std::collections::HashMap;

/// What [`check`] found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    pub problems: Vec<String>,
    /// Documents: segments' document lists plus live memtable documents.
    pub n_docs: u64,
    pub total_len: u64,
    pub segments: usize,
    pub terms: u64,
    pub postings: u64,
    /// Live documents of the memtable, a frozen one included.
    pub mem_docs: u64,
    /// Whether a frozen memtable waits for its merge (see [`crate::merge`](mod@crate::merge)).
    pub frozen: bool,
    /// Pages no chain from the meta page reaches: left by merges (they are never reused, since
    /// a scan that began earlier may still read them), by a merge that gave up, or by a crash.
    /// Not a problem.
    pub unreachable_pages: u64,
    /// Term postings of documents no longer in their segment's document list: what a VACUUM
    /// interrupted by a crash leaves (it removes a dead row from the document list before its
    /// term lists); the next VACUUM removes them (their heap items stay dead until it has), and
    /// merges drop them. A problem only with `strict_counts`.
    pub stray_postings: u64,
}

impl CheckReport {
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Walk a chain of pages of `kind`, calling `f(blkno, page)`; problems for bad links and for
/// pages reached before (by this chain or another: no page belongs to two).
fn walk<R: RelationRead>(
    rel: &R,
    head: u32,
    kind: u16,
    problems: &mut Vec<String>,
    reached: &mut Vec<bool>,
    mut f: impl FnMut(u32, &semvec_storage::Page, &mut Vec<String>),
) {
    let mut blk = Some(head);
    while let Some(b) = blk {
        if b >= rel.nblocks() {
            problems.push(format!("chain of kind {kind} reaches block {b}, past the end"));
            return;
        }
        if reached.len() <= b as usize {
            reached.resize(b as usize + 1, false);
        }
        if std::mem::replace(&mut reached[b as usize], true) {
            problems.push(format!("chain of kind {kind} reaches block {b} a second time"));
            return;
        }
        let g = rel.read(b);
        if !is_page(&g, kind) {
            problems.push(format!("block {b} is not of kind {kind}"));
            return;
        }
        f(b, &g, problems);
        blk = next_of(&g);
    }
}

/// Verify every invariant: directory and dictionary order, postings sorted within and across
/// blocks, block and term impacts covering every posting, df equal to the list's length, each
/// segment's N and total length equal to its document list, every posting's length equal to its
/// document's, memtable counters equal to their live documents (a frozen memtable's too), no
/// TID in two places and no page on two chains. `strict_counts` false accepts counts that are
/// too high (the state between a VACUUM's steps).
pub fn check<R: RelationRead>(rel: &R, strict_counts: bool) -> Result<CheckReport, Bm25IndexError> {
    let meta = read_meta(rel)?;
    let mut r = CheckReport {
        segments: meta.segments.len(),
        frozen: meta.frozen_head.is_some(),
        ..Default::default()
    };
    let mut p = Vec::new();
    let mut reached = vec![true]; // the meta page
    let mut all_docs: HashMap<u64, u32> = HashMap::new();
    for (si, seg) in meta.segments.iter().enumerate() {
        // Directory: page first lexemes, ascending.
        let mut dir: Vec<(u32, Vec<u8>)> = Vec::new();
        walk(rel, seg.dir_head, PAGE_DIRECTORY, &mut p, &mut reached, |_, g, p| {
            for off in 1..=g.len() {
                match g.get(off).and_then(decode_dir) {
                    Some((b, l)) => dir.push((b, l.to_vec())),
                    None => p.push(format!("segment {si}: bad directory tuple")),
                }
            }
        });
        // Dictionary.
        let mut entries: Vec<TermEntry> = Vec::new();
        let mut firsts: Vec<(u32, Vec<u8>)> = Vec::new();
        walk(rel, seg.dict_head, PAGE_DICT, &mut p, &mut reached, |b, g, p| {
            for off in 1..=g.len() {
                match g.get(off).and_then(TermEntry::decode) {
                    Some(e) => {
                        if off == 1 {
                            firsts.push((b, e.lexeme.clone()));
                        }
                        entries.push(e)
                    }
                    None => p.push(format!("segment {si}: bad dictionary tuple at ({b}, {off})")),
                }
            }
        });
        if dir != firsts {
            p.push(format!(
                "segment {si}: the directory does not list the dictionary pages and their first lexemes"
            ));
        }
        if entries.first().is_none_or(|e| !e.lexeme.is_empty()) {
            p.push(format!("segment {si}: the dictionary does not start with the document list"));
        }
        if entries.windows(2).any(|w| w[0].lexeme >= w[1].lexeme) {
            p.push(format!("segment {si}: dictionary lexemes are not strictly ascending"));
        }
        r.terms += entries.len().saturating_sub(1) as u64;
        // Postings: the chain's blocks belong to the terms in dictionary order.
        let mut lists: Vec<Vec<Posting>> = vec![Vec::new(); entries.len()];
        let mut term = 0usize;
        let mut left = entries.first().map_or(0, |e| e.n_blocks);
        let mut prev_last: Option<u64> = None;
        let mut ps = Vec::new();
        if let Some(head) = entries.first().map(|e| e.head_blk) {
            walk(rel, head, PAGE_POSTINGS, &mut p, &mut reached, |b, g, p| {
                for off in 1..=g.len() {
                    while left == 0 && term < entries.len() {
                        term += 1;
                        prev_last = None;
                        left = entries.get(term).map_or(0, |e| e.n_blocks);
                    }
                    let Some(e) = entries.get(term) else {
                        p.push(format!("segment {si}: block ({b}, {off}) belongs to no term"));
                        return;
                    };
                    if prev_last.is_none() && (e.head_blk, e.head_off) != (b, off) {
                        p.push(format!(
                            "segment {si}: list of {:?} starts at ({b}, {off}), not at its head",
                            String::from_utf8_lossy(&e.lexeme)
                        ));
                    }
                    let t = g.get(off).unwrap_or(&[]);
                    let Some(h): Option<BlockHeader> = decode_block(t, &mut ps) else {
                        p.push(format!("segment {si}: bad posting block ({b}, {off})"));
                        left -= 1;
                        continue;
                    };
                    let sorted = ps.windows(2).all(|w| w[0].key < w[1].key);
                    let after_prev = prev_last.is_none_or(|l| ps.first().is_none_or(|f| f.key > l)) && prev_last.is_none_or(|l| h.last > l);
                    let in_range = ps.first().is_none_or(|f| f.key == h.first) && ps.last().is_none_or(|l| l.key <= h.last);
                    if !(sorted && after_prev && in_range) {
                        p.push(format!(
                            "segment {si}: postings of block ({b}, {off}) out of order or outside its key range"
                        ));
                    }
                    for q in &ps {
                        if !h.impacts().iter().any(|i| i.covers(q.tf, q.len)) {
                            p.push(format!(
                                "segment {si}: block ({b}, {off}) impacts {:?} do not cover tf {} length {}",
                                h.impacts(),
                                q.tf,
                                q.len
                            ));
                        }
                        if !e.impacts.iter().any(|i| i.covers(q.tf, q.len)) {
                            p.push(format!(
                                "segment {si}: term impacts {:?} do not cover tf {} length {}",
                                e.impacts, q.tf, q.len
                            ));
                        }
                    }
                    lists[term].extend_from_slice(&ps);
                    prev_last = Some(h.last);
                    left -= 1;
                }
            });
        }
        if left != 0 || entries.iter().skip(term + 1).any(|e| e.n_blocks > 0) {
            p.push(format!("segment {si}: the posting chain ends before the dictionary's lists"));
        }
        let docs: HashMap<u64, u32> = lists
            .first()
            .map(|l| l.iter().map(|d| (d.key, d.len)).collect())
            .unwrap_or_default();
        let (n, total) = (docs.len() as u64, docs.values().map(|&l| l as u64).sum::<u64>());
        let counts_ok = |stored: u64, actual: u64| if strict_counts { stored == actual } else { stored >= actual };
        if !counts_ok(seg.n_docs, n) || !counts_ok(seg.total_len, total) {
            p.push(format!(
                "segment {si}: meta says {} documents of total length {}, the document list {n} and {total}",
                seg.n_docs, seg.total_len
            ));
        }
        for (e, l) in entries.iter().zip(&lists) {
            if !counts_ok(e.df as u64, l.len() as u64) {
                p.push(format!(
                    "segment {si}: df of {:?} is {} for {} postings",
                    String::from_utf8_lossy(&e.lexeme),
                    e.df,
                    l.len()
                ));
            }
        }
        for l in lists.iter().skip(1) {
            for q in l {
                match docs.get(&q.key) {
                    Some(&len) if len == q.len => {}
                    None if !strict_counts => r.stray_postings += 1,
                    Some(&len) => p.push(format!(
                        "segment {si}: posting of {:?} has length {}, the document list says {len}",
                        Tid::from_u64(q.key),
                        q.len
                    )),
                    None => p.push(format!(
                        "segment {si}: posting of {:?} with length {} is not in the document list",
                        Tid::from_u64(q.key),
                        q.len
                    )),
                }
                if q.tf == 0 {
                    p.push(format!("segment {si}: posting of {:?} with tf 0", Tid::from_u64(q.key)));
                }
            }
            r.postings += l.len() as u64;
        }
        r.n_docs += n;
        r.total_len += total;
        for (k, l) in docs {
            if all_docs.insert(k, l).is_some() {
                p.push(format!("{:?} is in two segments", Tid::from_u64(k)));
            }
        }
    }
    // Memtable.
    let mut mem_firsts: HashMap<u64, u32> = HashMap::new();
    for head in meta.mem_chains() {
        walk(rel, head, PAGE_MEM, &mut p, &mut reached, |b, g, p| {
            let Some(c) = MemCounters::of(g) else {
                p.push(format!("memtable page {b}: no counters"));
                return;
            };
            let mut actual = MemCounters::default();
            for off in 2..=g.len() {
                match g.get(off).and_then(decode_part) {
                    Some(part) if part.flags & PART_DEAD == 0 => {
                        if is_first(part.flags) {
                            actual.n_docs += 1;
                            actual.total_len += part.len as u64;
                            if mem_firsts.insert(part.tid.to_u64(), part.len).is_some() {
                                p.push(format!("{:?} is twice in the memtable", part.tid));
                            }
                        }
                    }
                    Some(_) => {}
                    None => p.push(format!("memtable page {b}: bad document part at {off}")),
                }
            }
            if c != actual {
                p.push(format!("memtable page {b}: counters {c:?}, documents {actual:?}"));
            }
        });
    }
    r.mem_docs = mem_firsts.len() as u64;
    r.n_docs += mem_firsts.len() as u64;
    r.total_len += mem_firsts.values().map(|&l| l as u64).sum::<u64>();
    for k in mem_firsts.keys() {
        if all_docs.contains_key(k) {
            p.push(format!("{:?} is in a segment and in the memtable", Tid::from_u64(*k)));
        }
    }
    r.unreachable_pages = rel.nblocks() as u64 - reached.iter().filter(|&&x| x).count() as u64;
    r.problems = p;
    Ok(r)
}
