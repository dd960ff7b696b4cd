//! The bulk build: documents in, immutable segments out, in one pass of `extend()` calls.
//!
//! Postings gather in memory (a map from lexeme to its postings, plus the document list) until
//! the estimated footprint passes the budget; then they are written as one segment and the
//! memory is reused. Block 0 is extended first and held until [`Builder::finish`] writes the
//! meta tuple into it, so every page is written once, in block order, as
//! [`RelationWrite::finish_bulk_write`] expects. (A build holds the meta page and the page being
//! filled, plus briefly the next one: nothing else runs during `ambuild`.)

use crate::codec::{encode_block, frontier, Posting, BLOCK_POSTINGS};
use crate::error::Bm25IndexError;
use crate::page::{
    encode_dir, init_page, MemCounters, Meta, SegmentDesc, TermEntry, MAX_LEXEME_LEN, MAX_SEGMENTS, PAGE_DICT, PAGE_DIRECTORY, PAGE_MEM,
    PAGE_META, PAGE_POSTINGS,
};
use semvec_storage::{RelationWrite, Tid};
use std::collections::HashMap;

/// Fills a chain of freshly extended pages of one kind, linking each to the next.
pub(crate) struct ChainWriter<'a, R: RelationWrite + 'a> {
    rel: &'a R,
    kind: u16,
    cur: Option<(u32, R::WriteGuard<'a>)>,
    pub first: Option<u32>,
}

impl<'a, R: RelationWrite> ChainWriter<'a, R> {
    pub fn new(rel: &'a R, kind: u16) -> Self {
        ChainWriter {
            rel,
            kind,
            cur: None,
            first: None,
        }
    }

    /// Append a tuple, starting a new page when it does not fit; returns where it went.
    pub fn push(&mut self, tuple: &[u8]) -> (u32, u16) {
        if let Some((blk, g)) = self.cur.as_mut() {
            if let Some(off) = g.alloc(tuple) {
                return (*blk, off);
            }
        }
        let (blk, mut g) = self.rel.extend();
        init_page(&mut g, self.kind);
        let off = g.alloc(tuple).expect("a tuple fits an empty page");
        if let Some((_, mut prev)) = self.cur.take() {
            prev.opaque_mut().next_blkno = blk;
        }
        self.first.get_or_insert(blk);
        self.cur = Some((blk, g));
        (blk, off)
    }

    pub fn finish(mut self) -> Option<u32> {
        self.cur.take();
        self.first
    }
}

/// Write one immutable segment: postings, then the dictionary, then its directory. `terms`
/// must be sorted by lexeme with postings sorted by key; `docs` (sorted by key, tf 0) becomes
/// the list of the empty lexeme, which counts every document of the segment.
pub(crate) fn write_segment<R: RelationWrite>(rel: &R, terms: &[(&[u8], &[Posting])], docs: &[Posting]) -> SegmentDesc {
    let mut w = SegmentWriter::new(rel);
    w.push(b"", docs);
    for (lexeme, list) in terms {
        w.push(lexeme, list);
    }
    w.finish()
}

/// Writes a segment list by list (the merge streams its input through it): first the document
/// list (the empty lexeme), then the terms in ascending lexeme order, each list sorted by key.
/// Its pages are unreachable until a meta write lists the segment.
pub(crate) struct SegmentWriter<'a, R: RelationWrite + 'a> {
    rel: &'a R,
    postings: ChainWriter<'a, R>,
    entries: Vec<TermEntry>,
    n_docs: u64,
    total_len: u64,
}

impl<'a, R: RelationWrite> SegmentWriter<'a, R> {
    pub fn new(rel: &'a R) -> Self {
        SegmentWriter {
            rel,
            postings: ChainWriter::new(rel, PAGE_POSTINGS),
            entries: Vec::new(),
            n_docs: 0,
            total_len: 0,
        }
    }

    pub fn push(&mut self, lexeme: &[u8], list: &[Posting]) {
        debug_assert_eq!(self.entries.is_empty(), lexeme.is_empty(), "the document list comes first");
        debug_assert!(self.entries.last().is_none_or(|e| e.lexeme[..] < *lexeme));
        if self.entries.is_empty() {
            self.n_docs = list.len() as u64;
            self.total_len = list.iter().map(|d| d.len as u64).sum();
        }
        let mut head = None;
        for chunk in list.chunks(BLOCK_POSTINGS) {
            let at = self.postings.push(&encode_block(chunk));
            head.get_or_insert(at);
        }
        let (head_blk, head_off) = head.unwrap_or((semvec_storage::INVALID_BLOCK, 0));
        self.entries.push(TermEntry {
            lexeme: lexeme.to_vec(),
            df: list.len() as u32,
            n_blocks: list.len().div_ceil(BLOCK_POSTINGS) as u32,
            head_blk,
            head_off,
            impacts: frontier(list.iter().map(|p| (p.tf, p.len))),
        });
    }

    pub fn finish(self) -> SegmentDesc {
        let SegmentWriter {
            rel,
            postings,
            entries,
            n_docs,
            total_len,
        } = self;
        postings.finish();
        let mut dict = ChainWriter::new(rel, PAGE_DICT);
        let mut dir_entries: Vec<(u32, Vec<u8>)> = Vec::new();
        for e in &entries {
            let (blk, off) = dict.push(&e.encode());
            if off == 1 {
                dir_entries.push((blk, e.lexeme.clone()));
            }
        }
        let dict_head = dict.finish().expect("a segment has the document list");
        let mut dir = ChainWriter::new(rel, PAGE_DIRECTORY);
        for (blk, lexeme) in &dir_entries {
            dir.push(&encode_dir(*blk, lexeme));
        }
        let dir_head = dir.finish().expect("a segment has a dictionary page");
        SegmentDesc {
            dir_head,
            dict_head,
            n_docs,
            total_len,
        }
    }
}

/// A fresh, empty memtable page.
pub(crate) fn init_mem_page(p: &mut semvec_storage::Page) {
    init_page(p, PAGE_MEM);
    p.alloc(&MemCounters::default().encode()).expect("counters fit");
}

/// What a build did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildStats {
    pub docs: u64,
    pub postings: u64,
    pub segments: usize,
    /// Times the budget was doubled because the meta page's segment slots ran low.
    pub budget_doublings: u32,
}

/// Builds an index into an empty relation; see the module docs.
pub struct Builder<'a, R: RelationWrite + 'a> {
    rel: &'a R,
    meta: Option<R::WriteGuard<'a>>,
    budget: usize,
    terms: HashMap<Vec<u8>, Vec<Posting>>,
    docs: Vec<Posting>,
    used: usize,
    segments: Vec<SegmentDesc>,
    stats: BuildStats,
}

/// Estimated bytes of one posting in memory, and of a new term's map entry beyond its lexeme.
const POSTING_BYTES: usize = size_of::<Posting>();
const TERM_BYTES: usize = 96;

impl<'a, R: RelationWrite> Builder<'a, R> {
    /// Start a build into `rel`, which must have no blocks; `budget` bytes of postings are
    /// gathered before a segment is written (`maintenance_work_mem`).
    pub fn new(rel: &'a R, budget: usize) -> Self {
        assert_eq!(rel.nblocks(), 0, "a build starts from an empty relation");
        let (blk, mut g) = rel.extend();
        assert_eq!(blk, crate::page::META_BLKNO);
        init_page(&mut g, PAGE_META);
        Builder {
            rel,
            meta: Some(g),
            budget: budget.max(64 * 1024),
            terms: HashMap::new(),
            docs: Vec::new(),
            used: 0,
            segments: Vec::new(),
            stats: BuildStats::default(),
        }
    }

    /// Add one document: its heap TID, its distinct lexemes with term frequencies, and its length
    /// (the sum of all its term frequencies; stored saturated to u32). Empty lexemes and zero
    /// frequencies are ignored; a repeated lexeme adds its frequency.
    pub fn add(&mut self, tid: Tid, terms: &[(&[u8], u32)], len: u64) -> Result<(), Bm25IndexError> {
        check_terms(terms)?;
        let key = tid.to_u64();
        let len = len.min(u32::MAX as u64) as u32;
        self.docs.push(Posting { key, tf: 0, len });
        self.used += POSTING_BYTES;
        for &(lexeme, tf) in terms {
            if lexeme.is_empty() || tf == 0 {
                continue;
            }
            let list = match self.terms.get_mut(lexeme) {
                Some(l) => l,
                None => {
                    self.used += TERM_BYTES + lexeme.len();
                    self.terms.entry(lexeme.to_vec()).or_default()
                }
            };
            match list.last_mut() {
                Some(p) if p.key == key => p.tf = p.tf.saturating_add(tf),
                _ => {
                    list.push(Posting { key, tf, len });
                    self.used += POSTING_BYTES;
                    self.stats.postings += 1;
                }
            }
        }
        self.stats.docs += 1;
        if self.used > self.budget {
            self.flush();
        }
        Ok(())
    }

    fn flush(&mut self) {
        if self.docs.is_empty() {
            return;
        }
        // Heap scans usually deliver TIDs in order, but synchronized scans wrap around.
        self.docs.sort_unstable_by_key(|p| p.key);
        let mut terms: Vec<(Vec<u8>, Vec<Posting>)> = self.terms.drain().collect();
        terms.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        for (_, l) in terms.iter_mut() {
            l.sort_unstable_by_key(|p| p.key);
        }
        let refs: Vec<(&[u8], &[Posting])> = terms.iter().map(|(l, p)| (&l[..], &p[..])).collect();
        self.segments.push(write_segment(self.rel, &refs, &self.docs));
        self.docs.clear();
        self.used = 0;
        // Keep room in the meta page: past half its slots, segments get twice as large.
        if self.segments.len() >= MAX_SEGMENTS / 2 {
            self.budget = self.budget.saturating_mul(2);
            self.stats.budget_doublings += 1;
        }
    }

    /// Write what remains, an empty memtable page and the meta page; then
    /// [`RelationWrite::finish_bulk_write`].
    pub fn finish(mut self) -> BuildStats {
        self.flush();
        let (mem, mut g) = self.rel.extend();
        init_mem_page(&mut g);
        drop(g);
        let meta = Meta {
            segments: std::mem::take(&mut self.segments),
            ..Meta::empty(mem)
        };
        let mut mg = self.meta.take().unwrap();
        mg.alloc(&meta.encode()).expect("meta fits");
        drop(mg);
        self.rel.finish_bulk_write();
        BuildStats {
            segments: meta.segments.len(),
            ..self.stats.clone()
        }
    }
}

/// An empty index (`ambuildempty`, or a build of no rows).
pub fn init_empty<R: RelationWrite>(rel: &R) -> BuildStats {
    Builder::new(rel, 0).finish()
}

pub(crate) fn check_terms(terms: &[(&[u8], u32)]) -> Result<(), Bm25IndexError> {
    match terms.iter().find(|(l, _)| l.len() > MAX_LEXEME_LEN) {
        Some((l, _)) => Err(Bm25IndexError::LexemeTooLong {
            len: l.len(),
            max: MAX_LEXEME_LEN,
        }),
        None => Ok(()),
    }
}
