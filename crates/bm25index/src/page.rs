//! Page kinds and tuple layouts of the BM25 index (all little-endian).
//!
//! ```text
//! block 0, META page, tuple 1: Meta
//!   magic u32 | version u32 | n_segments u32 | mem_head u32 | mem_tail u32 (a hint)
//!   | frozen_head u32 (INVALID_BLOCK: none) | mem_pages u32 (a hint) | epoch u32
//!   | mem_lease u32 | tier_lease u32 (unix seconds, 0: none)
//!   then MAX_SEGMENTS slots of SegmentDesc: dir_head u32 | dict_head u32 | n_docs u64 | total_len u64
//! DIRECTORY pages (chained): per dictionary page, its first lexeme: blkno u32 | lexeme bytes
//! DICT pages (chained, lexemes strictly ascending across the chain): TermEntry
//!   df u32 | n_blocks u32 | head_blk u32 | head_off u16 | n_impacts u8 | zero u8
//!   | MAX_IMPACTS x (tf u32, len u32) | lexeme bytes
//! POSTING pages (chained in build order): posting blocks (codec.rs); a term's blocks are
//!   consecutive tuples from (head_blk, head_off) on, following next_blkno across pages
//! MEM pages (chained from mem_head): tuple 1 = MemCounters (n_docs u64 | total_len u64),
//!   then document parts: flags u8 | zero u8 | n_terms u16 | tid 6 bytes | zero u16 | len u32
//!   | per term: lexeme length u16 | tf u32 | lexeme bytes
//! ```

use crate::codec::{Impact, MAX_IMPACTS};
use semvec_storage::{Page, Tid, INVALID_BLOCK, MAX_TUPLE_SIZE};

/// Our page id in the special area (hnsw is 0xFF53, ivfflat 0xFF56).
pub const PAGE_ID: u16 = 0xFF5B;
pub const PAGE_META: u16 = 1;
pub const PAGE_DIRECTORY: u16 = 2;
pub const PAGE_DICT: u16 = 3;
pub const PAGE_POSTINGS: u16 = 4;
pub const PAGE_MEM: u16 = 5;

pub const META_BLKNO: u32 = 0;
pub const MAGIC: u32 = 0x424D_3235; // "BM25"
/// 2: the merge's fields (frozen memtable, memtable page count, vacuum epoch).
pub const VERSION: u32 = 2;
/// Segments the meta page can list.
pub const MAX_SEGMENTS: usize = 64;
/// Longest lexeme PostgreSQL stores in a tsvector (`MAXSTRLEN`).
pub const MAX_LEXEME_LEN: usize = 2047;

pub fn init_page(p: &mut Page, kind: u16) {
    p.init_tagged(PAGE_ID, kind);
}

pub fn is_page(p: &Page, kind: u16) -> bool {
    p.is_tagged(PAGE_ID) && p.opaque().flags == kind
}

/// One immutable segment, as listed in the meta page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentDesc {
    pub dir_head: u32,
    pub dict_head: u32,
    /// Documents in the segment (dead ones included until VACUUM removes them).
    pub n_docs: u64,
    pub total_len: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Meta {
    pub segments: Vec<SegmentDesc>,
    /// The memtable inserts go to: its first page, and a hint of its last.
    pub mem_head: u32,
    pub mem_tail: u32,
    /// A memtable a merge is turning into a segment: no insert adds to it any more, searches
    /// still read it (before `mem_head`'s chain). See [`crate::merge`](mod@crate::merge).
    pub frozen_head: Option<u32>,
    /// Pages linked into `mem_head`'s chain (a hint: crashes can leave it low), which decides
    /// when an insert merges the memtable.
    pub mem_pages: u32,
    /// Bumped by every bulk delete that removed something, in its last write: a merge that read
    /// its input before and publishes after would bring removed rows back, so it gives up.
    pub epoch: u32,
    /// When the running memtable merge and segment merges began or last published (unix
    /// seconds, 0: none): advisory, so two backends do not do the same merge (see
    /// [`crate::merge`](mod@crate::merge)); correctness never depends on them.
    pub mem_lease: u32,
    pub tier_lease: u32,
}

impl Meta {
    /// A fresh index's meta: no segments, the memtable one page.
    pub fn empty(mem: u32) -> Meta {
        Meta {
            segments: Vec::new(),
            mem_head: mem,
            mem_tail: mem,
            frozen_head: None,
            mem_pages: 1,
            epoch: 0,
            mem_lease: 0,
            tier_lease: 0,
        }
    }

    /// The memtable chains a search reads, frozen first.
    pub fn mem_chains(&self) -> impl Iterator<Item = u32> {
        self.frozen_head.into_iter().chain(std::iter::once(self.mem_head))
    }

    /// The position of the segment whose directory starts at `dir_head`.
    pub fn segment_at(&self, dir_head: u32) -> Option<usize> {
        self.segments.iter().position(|s| s.dir_head == dir_head)
    }
}

const META_HEADER: usize = 40;
const SEGMENT_SIZE: usize = 24;
pub const META_SIZE: usize = META_HEADER + MAX_SEGMENTS * SEGMENT_SIZE;
const _: () = assert!(META_SIZE <= MAX_TUPLE_SIZE);

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

impl Meta {
    pub fn encode(&self) -> Vec<u8> {
        assert!(self.segments.len() <= MAX_SEGMENTS);
        let mut b = vec![0u8; META_SIZE];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&VERSION.to_le_bytes());
        b[8..12].copy_from_slice(&(self.segments.len() as u32).to_le_bytes());
        b[12..16].copy_from_slice(&self.mem_head.to_le_bytes());
        b[16..20].copy_from_slice(&self.mem_tail.to_le_bytes());
        b[20..24].copy_from_slice(&self.frozen_head.unwrap_or(INVALID_BLOCK).to_le_bytes());
        b[24..28].copy_from_slice(&self.mem_pages.to_le_bytes());
        b[28..32].copy_from_slice(&self.epoch.to_le_bytes());
        b[32..36].copy_from_slice(&self.mem_lease.to_le_bytes());
        b[36..40].copy_from_slice(&self.tier_lease.to_le_bytes());
        for (i, s) in self.segments.iter().enumerate() {
            let at = META_HEADER + i * SEGMENT_SIZE;
            b[at..at + 4].copy_from_slice(&s.dir_head.to_le_bytes());
            b[at + 4..at + 8].copy_from_slice(&s.dict_head.to_le_bytes());
            b[at + 8..at + 16].copy_from_slice(&s.n_docs.to_le_bytes());
            b[at + 16..at + 24].copy_from_slice(&s.total_len.to_le_bytes());
        }
        b
    }

    pub fn decode(b: &[u8]) -> Option<Meta> {
        if b.len() != META_SIZE || u32_at(b, 0) != MAGIC || u32_at(b, 4) != VERSION {
            return None;
        }
        let n = u32_at(b, 8) as usize;
        if n > MAX_SEGMENTS {
            return None;
        }
        let segments = (0..n)
            .map(|i| {
                let at = META_HEADER + i * SEGMENT_SIZE;
                SegmentDesc {
                    dir_head: u32_at(b, at),
                    dict_head: u32_at(b, at + 4),
                    n_docs: u64_at(b, at + 8),
                    total_len: u64_at(b, at + 16),
                }
            })
            .collect();
        let frozen = u32_at(b, 20);
        Some(Meta {
            segments,
            mem_head: u32_at(b, 12),
            mem_tail: u32_at(b, 16),
            frozen_head: (frozen != INVALID_BLOCK).then_some(frozen),
            mem_pages: u32_at(b, 24),
            epoch: u32_at(b, 28),
            mem_lease: u32_at(b, 32),
            tier_lease: u32_at(b, 36),
        })
    }
}

/// A term of a segment's dictionary.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TermEntry {
    pub lexeme: Vec<u8>,
    /// Postings in the list (dead ones included until VACUUM).
    pub df: u32,
    pub n_blocks: u32,
    pub head_blk: u32,
    pub head_off: u16,
    /// Covers every posting of the list (a term-level bound for WAND's pivot selection).
    pub impacts: Vec<Impact>,
}

pub const TERM_HEADER: usize = 16 + 8 * MAX_IMPACTS;

impl TermEntry {
    pub fn encode(&self) -> Vec<u8> {
        let mut b = vec![0u8; TERM_HEADER];
        b[0..4].copy_from_slice(&self.df.to_le_bytes());
        b[4..8].copy_from_slice(&self.n_blocks.to_le_bytes());
        b[8..12].copy_from_slice(&self.head_blk.to_le_bytes());
        b[12..14].copy_from_slice(&self.head_off.to_le_bytes());
        write_impacts(&mut b, &self.impacts);
        b.extend_from_slice(&self.lexeme);
        b
    }

    pub fn decode(b: &[u8]) -> Option<TermEntry> {
        if b.len() < TERM_HEADER {
            return None;
        }
        Some(TermEntry {
            df: u32_at(b, 0),
            n_blocks: u32_at(b, 4),
            head_blk: u32_at(b, 8),
            head_off: u16_at(b, 12),
            impacts: read_impacts(b)?,
            lexeme: b[TERM_HEADER..].to_vec(),
        })
    }

    /// The lexeme of an encoded entry, without decoding the rest.
    pub fn lexeme_of(b: &[u8]) -> &[u8] {
        b.get(TERM_HEADER..).unwrap_or(&[])
    }

    /// Update df and impacts of an encoded entry in place (vacuum).
    pub fn set_counts(b: &mut [u8], df: u32, impacts: &[Impact]) {
        b[0..4].copy_from_slice(&df.to_le_bytes());
        write_impacts(b, impacts);
    }
}

fn write_impacts(b: &mut [u8], impacts: &[Impact]) {
    assert!(impacts.len() <= MAX_IMPACTS);
    b[14] = impacts.len() as u8;
    b[15] = 0;
    for i in 0..MAX_IMPACTS {
        let imp = impacts.get(i).copied().unwrap_or_default();
        b[16 + 8 * i..20 + 8 * i].copy_from_slice(&imp.tf.to_le_bytes());
        b[20 + 8 * i..24 + 8 * i].copy_from_slice(&imp.len.to_le_bytes());
    }
}

fn read_impacts(b: &[u8]) -> Option<Vec<Impact>> {
    let n = b[14] as usize;
    (n <= MAX_IMPACTS).then(|| {
        (0..n)
            .map(|i| Impact {
                tf: u32_at(b, 16 + 8 * i),
                len: u32_at(b, 20 + 8 * i),
            })
            .collect()
    })
}

/// A directory tuple: the first lexeme of dictionary page `blkno`.
pub fn encode_dir(blkno: u32, lexeme: &[u8]) -> Vec<u8> {
    let mut b = blkno.to_le_bytes().to_vec();
    b.extend_from_slice(lexeme);
    b
}

pub fn decode_dir(b: &[u8]) -> Option<(u32, &[u8])> {
    (b.len() >= 4).then(|| (u32_at(b, 0), &b[4..]))
}

/// Per memtable page: the documents whose first part lies on it, and their total length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct MemCounters {
    pub n_docs: u64,
    pub total_len: u64,
}

pub const COUNTERS_SIZE: usize = 16;

impl MemCounters {
    pub fn encode(&self) -> [u8; COUNTERS_SIZE] {
        let mut b = [0u8; COUNTERS_SIZE];
        b[0..8].copy_from_slice(&self.n_docs.to_le_bytes());
        b[8..16].copy_from_slice(&self.total_len.to_le_bytes());
        b
    }
    pub fn decode(b: &[u8]) -> Option<MemCounters> {
        (b.len() == COUNTERS_SIZE).then(|| MemCounters {
            n_docs: u64_at(b, 0),
            total_len: u64_at(b, 8),
        })
    }
    /// Read from a memtable page.
    pub fn of(p: &Page) -> Option<MemCounters> {
        p.get(1).and_then(MemCounters::decode)
    }
    /// Write onto a memtable page (in place).
    pub fn store(&self, p: &mut Page) {
        p.get_mut(1).expect("memtable counters").copy_from_slice(&self.encode());
    }
}

/// `MemPart::flags`: this part carries the document's length and counts it in its page's counters.
pub const PART_FIRST: u8 = 1;
/// `MemPart::flags`: VACUUM found the row dead; search skips the part.
pub const PART_DEAD: u8 = 2;
pub const PART_HEADER: usize = 16;
/// Largest document part: what fits on a fresh memtable page next to its counters.
pub const MAX_PART_SIZE: usize = MAX_TUPLE_SIZE - 32;

/// A decoded memtable document part (lexemes borrowed from the page copy).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemPart<'a> {
    pub flags: u8,
    pub tid: Tid,
    pub len: u32,
    pub terms: Vec<(&'a [u8], u32)>,
}

/// Split a document into memtable parts of at most [`MAX_PART_SIZE`] bytes each; the first
/// carries [`PART_FIRST`]. A document without terms is one part with none.
pub fn encode_parts(tid: Tid, len: u32, terms: &[(&[u8], u32)]) -> Vec<Vec<u8>> {
    let header = |first: bool| {
        let mut b = vec![0u8; PART_HEADER];
        b[0] = if first { PART_FIRST } else { 0 };
        tid.write(&mut b[4..10]);
        b[12..16].copy_from_slice(&len.to_le_bytes());
        b
    };
    let mut parts = vec![header(true)];
    let mut n = 0u16;
    for (lex, tf) in terms {
        let need = 6 + lex.len();
        if parts.last().unwrap().len() + need > MAX_PART_SIZE {
            parts.last_mut().unwrap()[2..4].copy_from_slice(&n.to_le_bytes());
            parts.push(header(false));
            n = 0;
        }
        let p = parts.last_mut().unwrap();
        p.extend_from_slice(&(lex.len() as u16).to_le_bytes());
        p.extend_from_slice(&tf.to_le_bytes());
        p.extend_from_slice(lex);
        n += 1;
    }
    parts.last_mut().unwrap()[2..4].copy_from_slice(&n.to_le_bytes());
    parts
}

pub fn decode_part(b: &[u8]) -> Option<MemPart<'_>> {
    if b.len() < PART_HEADER {
        return None;
    }
    let n = u16_at(b, 2) as usize;
    let mut terms = Vec::with_capacity(n);
    let mut at = PART_HEADER;
    for _ in 0..n {
        let l = u16_at(b.get(at..at + 2)?, 0) as usize;
        let tf = u32_at(b.get(at + 2..at + 6)?, 0);
        terms.push((b.get(at + 6..at + 6 + l)?, tf));
        at += 6 + l;
    }
    (at == b.len()).then(|| MemPart {
        flags: b[0],
        tid: Tid::read(&b[4..10]),
        len: u32_at(b, 12),
        terms,
    })
}

/// Follow a chain: the next block, or None at its end.
pub fn next_of(p: &Page) -> Option<u32> {
    let n = p.opaque().next_blkno;
    (n != INVALID_BLOCK).then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips() {
        let m = Meta {
            segments: vec![
                SegmentDesc {
                    dir_head: 7,
                    dict_head: 5,
                    n_docs: 1 << 40,
                    total_len: 99
                };
                3
            ],
            mem_head: 1,
            mem_tail: 42,
            frozen_head: Some(17),
            mem_pages: 300,
            epoch: 5,
            mem_lease: 1_700_000_000,
            tier_lease: 1_700_000_007,
        };
        assert_eq!(Meta::decode(&m.encode()), Some(m.clone()));
        let none = Meta { frozen_head: None, ..m };
        assert_eq!(Meta::decode(&none.encode()), Some(none));
        assert_eq!(Meta::decode(&[0; META_SIZE]), None);
    }

    #[test]
    fn term_entries_round_trip_and_update_in_place() {
        let t = TermEntry {
            lexeme: b"lexeme".to_vec(),
            df: 300,
            n_blocks: 3,
            head_blk: 9,
            head_off: 4,
            impacts: vec![Impact { tf: 1, len: 3 }, Impact { tf: 5, len: 40 }],
        };
        let mut b = t.encode();
        assert_eq!(TermEntry::decode(&b).as_ref(), Some(&t));
        assert_eq!(TermEntry::lexeme_of(&b), b"lexeme");
        TermEntry::set_counts(&mut b, 2, &[Impact { tf: 1, len: 3 }]);
        let u = TermEntry::decode(&b).unwrap();
        assert_eq!((u.df, u.impacts.len(), &u.lexeme[..]), (2, 1, &b"lexeme"[..]));
    }

    #[test]
    fn documents_split_into_parts_that_round_trip() {
        let words: Vec<Vec<u8>> = (0..3000).map(|i| format!("word{i}").into_bytes()).collect();
        let terms: Vec<(&[u8], u32)> = words.iter().map(|w| (&w[..], 2)).collect();
        let parts = encode_parts(Tid::new(3, 4), 6000, &terms);
        assert!(parts.len() > 1);
        let mut back = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            assert!(p.len() <= MAX_PART_SIZE);
            let d = decode_part(p).unwrap();
            assert_eq!(d.flags & PART_FIRST != 0, i == 0);
            assert_eq!((d.tid, d.len), (Tid::new(3, 4), 6000));
            back.extend(d.terms);
        }
        assert_eq!(back, terms);
        let empty = encode_parts(Tid::new(1, 1), 0, &[]);
        assert_eq!(empty.len(), 1);
        assert!(decode_part(&empty[0]).unwrap().terms.is_empty());
    }
}
