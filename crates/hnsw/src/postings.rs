//! Posting lists of an index with filter keys: for each (key column, key value), the elements
//! holding it, so a selective filter is answered by computing the distance of exactly the
//! matching elements instead of walking the graph.
//!
//! All of it lives on key pages ([`PAGE_KEYS`]) as *chunks*: tuples holding a header and an
//! array of fixed-size items, chained through the TID of the next chunk.
//!
//! ```text
//! chunk: 0 u8 kind (CHUNK_DIR / CHUNK_POSTINGS)  1 u8 item size (255: see 12)  2 u16 items used
//!        4 u16 capacity  6 [6] next chunk TID (invalid: last)  12 u16 item size  14 u16 0  16 items
//! root:  0 u8 kind = ROOT  1 u8 0  2 u16 buckets  4 u32 reserved  8 [6] x buckets first dir chunk
//! ```
//!
//! The root (first key page, its block in the meta page) hashes (column, value) to a bucket, whose
//! chain of directory chunks holds 28-byte entries `u16 column | u16 0 | u32 count |
//! u64 value | [6] first postings chunk | [6] last postings chunk`; a postings chain holds element
//! TIDs, appended at its end. An index built `WITH (key_vectors = on)` keeps each element's vector
//! in its postings too (meta `key_vector_len`): an item is then `vector | u16 0 | [6] element
//! TID` (the vector and an empty key section: a keyed payload the metric reads in place, 4-byte
//! aligned for `vector`), so an exact filtered scan reads only its list's pages. Without it an
//! item is the TID alone; the TID is always an item's last 6 bytes. Chunks double in capacity along a chain (4, 8, ... up to a page), so
//! a key of a few rows costs a few dozen bytes and a key of many rows whole pages.
//!
//! Entries are never removed or moved (their place is their identity); VACUUM removes the TIDs of
//! the elements it frees from the lists and lowers the counts, before the slots can be reused.
//! Stale TIDs (a crash between steps) are harmless: readers check each element's keys.
//!
//! Locking: a writer holds at most one existing key page, plus a page it adds at the end of the
//! relation or a page with a higher block number (a new chunk goes into the page of the chunk
//! that links to it when it fits, else into the last page of the relation when that is a key
//! page after it, else into a new page). Every lock order is increasing in block number, so two
//! writers never wait on each other in a cycle; readers hold one page at a time. Every write
//! leaves the lists valid: a chunk is complete before anything links to it.

use crate::page::{HnswPage, Page, INVALID_BLOCK};
use crate::relation::{RelationRead, RelationWrite};
use crate::tuple::{Tid, TID_SIZE};
use std::collections::HashMap;

/// [`crate::page::PageOpaque::flags`] of a page of key chunks.
pub const PAGE_KEYS: u16 = 3;
/// Kind byte of the root tuple (element tuples are 1, neighbour tuples 2).
pub const ROOT: u8 = 3;
/// Kind byte of a directory chunk.
pub const CHUNK_DIR: u8 = 4;
/// Kind byte of a postings chunk.
pub const CHUNK_POSTINGS: u8 = 5;
/// Buckets of the root.
pub const BUCKETS: usize = 256;
const HDR: usize = 16;
const FIRST_CAP: usize = 4;
const ROOT_SIZE: usize = 8 + BUCKETS * TID_SIZE;

fn max_cap(item: usize) -> usize {
    // Leave room for the page's line pointer and alignment.
    (crate::page::MAX_TUPLE_SIZE - HDR) / item
}

/// Capacity `want` for items of `item` bytes, within what a page holds (at least one).
fn cap_for(item: usize, want: usize) -> usize {
    want.min(max_cap(item)).max(1)
}

fn bucket(col: u16, value: u64) -> usize {
    let h = (value ^ ((col as u64) << 56)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    (h >> 56) as usize % BUCKETS
}

/// A directory entry: where one (column, value)'s postings are, and how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    pub col: u16,
    pub value: u64,
    pub count: u32,
    pub head: Tid,
    pub tail: Tid,
}

impl Entry {
    fn decode(b: &[u8]) -> Entry {
        Entry {
            col: u16::from_le_bytes([b[0], b[1]]),
            count: u32::from_le_bytes(b[4..8].try_into().unwrap()),
            value: u64::from_le_bytes(b[8..16].try_into().unwrap()),
            head: Tid::read(&b[16..22]),
            tail: Tid::read(&b[22..28]),
        }
    }
}

/// Bytes of a directory entry.
const DIR_STRIDE: usize = 28;

fn encode_entry(e: &Entry, out: &mut [u8]) {
    out[0..2].copy_from_slice(&e.col.to_le_bytes());
    out[2..4].fill(0);
    out[4..8].copy_from_slice(&e.count.to_le_bytes());
    out[8..16].copy_from_slice(&e.value.to_le_bytes());
    e.head.write(&mut out[16..22]);
    e.tail.write(&mut out[22..28]);
}

/// Bytes of a postings item holding a vector of `vector_len` bytes (0: the TID alone).
pub fn posting_item_size(vector_len: usize) -> usize {
    if vector_len == 0 {
        TID_SIZE
    } else {
        vector_len + 2 + TID_SIZE
    }
}

/// The longest vector (bytes) postings keep inline: two items per chunk of a page, else the
/// vectors would not be any denser than the elements' own pages.
pub fn max_inline_vector_len() -> usize {
    (max_cap(1) / 2).saturating_sub(2 + TID_SIZE)
}

fn new_chunk(kind: u8, item: usize, cap: usize) -> Vec<u8> {
    let mut b = vec![0u8; HDR + cap * item];
    b[0] = kind;
    b[1] = item.min(255) as u8;
    b[4..6].copy_from_slice(&(cap as u16).to_le_bytes());
    Tid::INVALID.write(&mut b[6..12]);
    b[12..14].copy_from_slice(&(item as u16).to_le_bytes());
    b
}

fn chunk_item_size(b: &[u8]) -> usize {
    match u16::from_le_bytes([b[12], b[13]]) {
        0 => b[1] as usize,
        n => n as usize,
    }
}

/// A read-only view of a chunk.
#[derive(Clone, Copy)]
struct ChunkRef<'a>(&'a [u8]);

impl<'a> ChunkRef<'a> {
    fn parse(b: &'a [u8], kind: u8) -> Option<ChunkRef<'a>> {
        if b.len() < HDR || b[0] != kind {
            return None;
        }
        let s = chunk_item_size(b);
        let ok = if kind == CHUNK_DIR { s == DIR_STRIDE } else { s >= TID_SIZE };
        if !ok {
            return None;
        }
        let c = ChunkRef(b);
        (c.cap() >= c.len() && HDR + c.cap() * s <= b.len()).then_some(c)
    }
    fn item_size(self) -> usize {
        chunk_item_size(self.0)
    }
    fn len(self) -> usize {
        u16::from_le_bytes([self.0[2], self.0[3]]) as usize
    }
    fn cap(self) -> usize {
        u16::from_le_bytes([self.0[4], self.0[5]]) as usize
    }
    fn next(self) -> Tid {
        Tid::read(&self.0[6..12])
    }
    fn item(self, i: usize) -> &'a [u8] {
        let s = self.item_size();
        &self.0[HDR + i * s..HDR + (i + 1) * s]
    }
}

/// The element TID of a postings item (its last 6 bytes).
#[inline]
fn item_tid(item: &[u8]) -> Tid {
    Tid::read(&item[item.len() - TID_SIZE..])
}

/// Writes a postings item: `vector` (may be empty), an empty key section when there is one, and
/// `elem`. `out` is the item's slot; a vector of another length than the slot's is zero-filled
/// (never the case for an index whose vectors all have its dimensions; readers re-check).
fn write_item(out: &mut [u8], vector: &[u8], elem: Tid) {
    let n = out.len();
    if n > TID_SIZE {
        let v = &mut out[..n - TID_SIZE];
        if vector.len() + 2 == v.len() {
            v[..vector.len()].copy_from_slice(vector);
        } else {
            v.fill(0);
        }
        let k = v.len();
        v[k - 2..].fill(0);
    }
    elem.write(&mut out[n - TID_SIZE..]);
}

fn set_len(b: &mut [u8], n: usize) {
    b[2..4].copy_from_slice(&(n as u16).to_le_bytes());
}
fn set_next(b: &mut [u8], t: Tid) {
    t.write(&mut b[6..12]);
}

fn root_head(b: &[u8], k: usize) -> Tid {
    Tid::read(&b[8 + k * TID_SIZE..8 + (k + 1) * TID_SIZE])
}

fn encode_root(heads: &[Tid]) -> Vec<u8> {
    let mut b = vec![0u8; ROOT_SIZE];
    b[0] = ROOT;
    b[2..4].copy_from_slice(&(BUCKETS as u16).to_le_bytes());
    for (k, t) in heads.iter().enumerate() {
        t.write(&mut b[8 + k * TID_SIZE..8 + (k + 1) * TID_SIZE]);
    }
    b
}

fn init_keys_page(p: &mut Page) {
    p.init_hnsw(PAGE_KEYS);
    p.opaque_mut().next_blkno = INVALID_BLOCK;
}

/// Whether `p` is a key page.
pub fn is_keys_page(p: &Page) -> bool {
    p.is_hnsw() && p.opaque().flags == PAGE_KEYS
}

/// Adds the root of an empty set of lists at the end of `rel`; returns its block.
pub fn init_root<R: RelationWrite>(rel: &R) -> u32 {
    let (blk, mut page) = rel.extend();
    init_keys_page(&mut page);
    page.alloc(&encode_root(&[Tid::INVALID; BUCKETS]))
        .expect("the root fits an empty page");
    blk
}

/// Writes the lists of `lists` ((column, value) -> element TIDs) after the last block of `rel`,
/// strictly through `extend()` (a build's bulk write); returns the root's block. Without inline
/// vectors.
pub fn write_all<R: RelationWrite>(rel: &R, lists: &HashMap<(u16, u64), Vec<Tid>>) -> u32 {
    write_all_with(rel, lists, |t| *t, 0, |_| &[])
}

/// [`write_all`] for lists of any item `T` naming an element (`tid_of`); with `vector_len > 0`
/// each posting keeps the element's vector (`vector_of`, `vector_len` bytes) inline.
pub fn write_all_with<'a, R: RelationWrite, T>(
    rel: &R,
    lists: &HashMap<(u16, u64), Vec<T>>,
    tid_of: impl Fn(&T) -> Tid,
    vector_len: usize,
    vector_of: impl Fn(&T) -> &'a [u8],
) -> u32 {
    // Layout: root page, then chunks packed in order.
    let root_blk = rel.nblocks();
    let mut keys: Vec<&(u16, u64)> = lists.keys().collect();
    keys.sort_unstable();
    let mut by_bucket: Vec<Vec<(u16, u64)>> = vec![Vec::new(); BUCKETS];
    for &&(c, v) in &keys {
        by_bucket[bucket(c, v)].push((c, v));
    }
    // Chunks to write, in order: (tuple bytes with links patched later).
    let mut pages: Vec<Vec<Vec<u8>>> = vec![Vec::new()];
    let mut used = 0usize;
    let usable = crate::write::PAGE_USABLE;
    let place = |pages: &mut Vec<Vec<Vec<u8>>>, used: &mut usize, t: Vec<u8>| -> Tid {
        let cost = crate::write::item_cost(t.len());
        if *used + cost > usable && !pages.last().unwrap().is_empty() {
            pages.push(Vec::new());
            *used = 0;
        }
        *used += cost;
        let blk = root_blk + pages.len() as u32;
        let p = pages.last_mut().unwrap();
        p.push(t);
        Tid::new(blk, p.len() as u16)
    };
    // Postings chunks first, so the entries know their TIDs.
    let mut entry_of: HashMap<(u16, u64), Entry> = HashMap::new();
    let item = posting_item_size(vector_len);
    let pmax = max_cap(item);
    for &&(c, v) in &keys {
        let tids = &lists[&(c, v)];
        let mut chunk_tids: Vec<Tid> = Vec::new();
        let mut chunks: Vec<Vec<u8>> = Vec::new();
        for part in tids.chunks(pmax) {
            let mut ch = new_chunk(CHUNK_POSTINGS, item, cap_for(item, part.len().max(FIRST_CAP)));
            for (i, t) in part.iter().enumerate() {
                let vec = if vector_len > 0 { vector_of(t) } else { &[] };
                write_item(&mut ch[HDR + i * item..HDR + (i + 1) * item], vec, tid_of(t));
            }
            set_len(&mut ch, part.len());
            chunks.push(ch);
        }
        // Front to back, each linked from the one before it.
        for ch in chunks {
            let t = place(&mut pages, &mut used, ch);
            if let Some(&prev) = chunk_tids.last() {
                patch_next(&mut pages, root_blk, prev, t);
            }
            chunk_tids.push(t);
        }
        entry_of.insert(
            (c, v),
            Entry {
                col: c,
                value: v,
                count: tids.len() as u32,
                head: chunk_tids[0],
                tail: *chunk_tids.last().unwrap(),
            },
        );
    }
    let dmax = max_cap(DIR_STRIDE);
    let mut heads = vec![Tid::INVALID; BUCKETS];
    for (k, ks) in by_bucket.iter().enumerate() {
        let mut prev: Option<Tid> = None;
        for part in ks.chunks(dmax) {
            let mut ch = new_chunk(CHUNK_DIR, DIR_STRIDE, part.len().max(FIRST_CAP));
            for (i, key) in part.iter().enumerate() {
                encode_entry(&entry_of[key], &mut ch[HDR + i * DIR_STRIDE..HDR + (i + 1) * DIR_STRIDE]);
            }
            set_len(&mut ch, part.len());
            let t = place(&mut pages, &mut used, ch);
            match prev {
                None => heads[k] = t,
                Some(p) => patch_next(&mut pages, root_blk, p, t),
            }
            prev = Some(t);
        }
    }
    if pages.last().is_some_and(|p| p.is_empty()) {
        pages.pop();
    }
    {
        let (blk, mut page) = rel.extend();
        assert_eq!(blk, root_blk, "relation grew concurrently during a build");
        init_keys_page(&mut page);
        page.alloc(&encode_root(&heads)).expect("the root fits an empty page");
    }
    for (i, items) in pages.iter().enumerate() {
        let (blk, mut page) = rel.extend();
        assert_eq!(blk, root_blk + 1 + i as u32, "relation grew concurrently during a build");
        init_keys_page(&mut page);
        for t in items {
            page.alloc(t).expect("layout reserved the space");
        }
    }
    root_blk
}

fn patch_next(pages: &mut [Vec<Vec<u8>>], root_blk: u32, at: Tid, next: Tid) {
    let ch = &mut pages[(at.block - root_blk - 1) as usize][at.offset as usize - 1];
    set_next(ch, next);
}

/// Where an entry is: its directory chunk and index there.
#[derive(Clone, Copy, Debug)]
struct EntryAt {
    chunk: Tid,
    index: usize,
    entry: Entry,
}

/// Finds the entry of (`col`, `value`), walking its bucket's chain under share locks.
pub fn lookup<R: RelationRead>(rel: &R, root: u32, col: u16, value: u64) -> Option<Entry> {
    find(rel, root, col, value).0.map(|e| e.entry)
}

/// The entry if found, else the last directory chunk of the bucket (invalid when none).
fn find<R: RelationRead>(rel: &R, root: u32, col: u16, value: u64) -> (Option<EntryAt>, Tid) {
    let k = bucket(col, value);
    let mut at = {
        let page = rel.read(root);
        match page.get(1) {
            Some(b) if b.len() >= ROOT_SIZE && b[0] == ROOT => root_head(b, k),
            _ => return (None, Tid::INVALID),
        }
    };
    let mut last = Tid::INVALID;
    while at.is_valid() {
        let page = rel.read(at.block);
        let Some(ch) = page.get(at.offset).and_then(|b| ChunkRef::parse(b, CHUNK_DIR)) else {
            break;
        };
        for i in 0..ch.len() {
            let e = Entry::decode(ch.item(i));
            if e.col == col && e.value == value {
                return (
                    Some(EntryAt {
                        chunk: at,
                        index: i,
                        entry: e,
                    }),
                    at,
                );
            }
        }
        last = at;
        at = ch.next();
    }
    (None, last)
}

/// Calls `f` with every element TID in the postings chain starting at `head`.
pub fn for_each_posting<R: RelationRead>(rel: &R, head: Tid, mut f: impl FnMut(Tid)) {
    for_each_posting_vector(rel, head, |t, _| f(t));
}

/// Calls `f` with every posting of the chain starting at `head`: the element TID and, when the
/// index keeps vectors in its postings, the element's vector as a keyed payload with no keys
/// (else an empty slice). `f` runs under the chunk's page share lock: it must not read pages.
pub fn for_each_posting_vector<R: RelationRead>(rel: &R, head: Tid, mut f: impl FnMut(Tid, &[u8])) {
    let mut at = head;
    let mut guard = 0u64;
    while at.is_valid() && guard < u32::MAX as u64 {
        guard += 1;
        let page = rel.read(at.block);
        let Some(ch) = page.get(at.offset).and_then(|b| ChunkRef::parse(b, CHUNK_POSTINGS)) else {
            break;
        };
        for i in 0..ch.len() {
            let it = ch.item(i);
            let n = it.len() - TID_SIZE;
            f(item_tid(it), &it[..n]);
        }
        at = ch.next();
    }
}

/// Allocates `chunk` while the caller holds `parent_blk` (whose guard is `parent`): in that page
/// when it fits, else in the relation's last page when that is a key page after the parent with
/// room, else in a new page. Returns its TID.
fn alloc_chunk<R: RelationWrite>(rel: &R, parent_blk: u32, parent: &mut Page, chunk: &[u8]) -> Tid {
    if let Some(off) = parent.alloc(chunk) {
        return Tid::new(parent_blk, off);
    }
    let last = rel.nblocks().saturating_sub(1);
    // Looked at under a share lock first: a write guard is a WAL record even when nothing is
    // written, and the last page is often another kind's (an element page) or full.
    let fits = last > parent_blk && {
        let page = rel.read(last);
        is_keys_page(&page) && page.free_space() >= crate::page::maxalign(chunk.len())
    };
    if fits {
        let mut page = rel.write(last);
        if is_keys_page(&page) {
            if let Some(off) = page.alloc(chunk) {
                return Tid::new(last, off);
            }
        }
    }
    let (blk, mut page) = rel.extend();
    init_keys_page(&mut page);
    let off = page.alloc(chunk).expect("a chunk fits an empty page");
    Tid::new(blk, off)
}

/// Appends element `elem` to the list of (`col`, `value`), creating the entry when new. `vector`
/// is the element's vector when the index keeps them in its postings (meta `key_vector_len`
/// bytes), else empty.
pub fn append<R: RelationWrite>(rel: &R, root: u32, col: u16, value: u64, elem: Tid, vector: &[u8]) {
    let item = posting_item_size(vector.len());
    let at = loop {
        match find(rel, root, col, value) {
            (Some(at), _) => break at,
            (None, last) => {
                if let Some(at) = create_entry(rel, root, col, value, last, item) {
                    break at;
                }
            }
        }
    };
    // Append at the end of the postings chain (the entry's tail is where it last was).
    let mut t = at.entry.tail;
    let mut new_tail = None;
    for _ in 0..1_000_000 {
        let mut page = rel.write(t.block);
        let page: &mut Page = &mut page;
        let Some(b) = page.get_mut(t.offset) else { return };
        let Some(ch) = ChunkRef::parse(b, CHUNK_POSTINGS) else { return };
        let (n, cap, next, s) = (ch.len(), ch.cap(), ch.next(), ch.item_size());
        if next.is_valid() {
            t = next;
            continue;
        }
        if n < cap {
            write_item(&mut b[HDR + n * s..HDR + (n + 1) * s], vector, elem);
            set_len(b, n + 1);
            if t != at.entry.tail {
                new_tail = Some(t);
            }
            break;
        }
        // A chain keeps one item size (the index's).
        let mut fresh = new_chunk(CHUNK_POSTINGS, s, cap_for(s, (cap * 2).max(FIRST_CAP)));
        write_item(&mut fresh[HDR..HDR + s], vector, elem);
        set_len(&mut fresh, 1);
        let nt = alloc_chunk(rel, t.block, page, &fresh);
        // Line pointers never move: the parent chunk is still at its offset.
        let b = page.get_mut(t.offset).expect("parent chunk");
        set_next(b, nt);
        new_tail = Some(nt);
        break;
    }
    update_entry(rel, at, |e| {
        e.count = e.count.saturating_add(1);
        if let Some(nt) = new_tail {
            e.tail = nt;
        }
    });
}

fn update_entry<R: RelationWrite>(rel: &R, at: EntryAt, f: impl FnOnce(&mut Entry)) {
    let mut page = rel.write(at.chunk.block);
    let Some(b) = page.get_mut(at.chunk.offset) else { return };
    if ChunkRef::parse(b, CHUNK_DIR).is_none_or(|c| at.index >= c.len()) {
        return;
    }
    let s = &mut b[HDR + at.index * DIR_STRIDE..HDR + (at.index + 1) * DIR_STRIDE];
    let mut e = Entry::decode(s);
    f(&mut e);
    encode_entry(&e, s);
}

/// Adds the entry of (`col`, `value`) with an empty first postings chunk of `item`-byte items, at
/// the end of its bucket's chain whose last chunk was `last` (invalid: the bucket was empty).
/// `None` when the chain changed meanwhile (the caller looks again).
fn create_entry<R: RelationWrite>(rel: &R, root: u32, col: u16, value: u64, last: Tid, item: usize) -> Option<EntryAt> {
    let k = bucket(col, value);
    let (blk, off) = if last.is_valid() { (last.block, last.offset) } else { (root, 1) };
    let mut page = rel.write(blk);
    let page: &mut Page = &mut page;
    // Check the chain end under the exclusive lock.
    if last.is_valid() {
        let ch = ChunkRef::parse(page.get(off)?, CHUNK_DIR)?;
        if ch.next().is_valid() {
            return None;
        }
        for i in 0..ch.len() {
            let e = Entry::decode(ch.item(i));
            if e.col == col && e.value == value {
                return Some(EntryAt {
                    chunk: last,
                    index: i,
                    entry: e,
                });
            }
        }
    } else {
        let b = page.get(1)?;
        if b.len() < ROOT_SIZE || b[0] != ROOT || root_head(b, k).is_valid() {
            return None;
        }
    }
    // The postings chunk first (nothing links to it yet), on this page or a later one.
    let postings = alloc_chunk(rel, blk, page, &new_chunk(CHUNK_POSTINGS, item, cap_for(item, FIRST_CAP)));
    let entry = Entry {
        col,
        value,
        count: 0,
        head: postings,
        tail: postings,
    };
    if last.is_valid() {
        let (n, cap) = {
            let ch = ChunkRef::parse(page.get(off)?, CHUNK_DIR)?;
            (ch.len(), ch.cap())
        };
        if n < cap {
            let b = page.get_mut(off)?;
            encode_entry(&entry, &mut b[HDR + n * DIR_STRIDE..HDR + (n + 1) * DIR_STRIDE]);
            set_len(b, n + 1);
            return Some(EntryAt {
                chunk: last,
                index: n,
                entry,
            });
        }
        let mut fresh = new_chunk(CHUNK_DIR, DIR_STRIDE, (cap * 2).clamp(FIRST_CAP, max_cap(DIR_STRIDE)));
        encode_entry(&entry, &mut fresh[HDR..HDR + DIR_STRIDE]);
        set_len(&mut fresh, 1);
        let nt = alloc_chunk(rel, blk, page, &fresh);
        set_next(page.get_mut(off)?, nt);
        Some(EntryAt {
            chunk: nt,
            index: 0,
            entry,
        })
    } else {
        let mut fresh = new_chunk(CHUNK_DIR, DIR_STRIDE, FIRST_CAP);
        encode_entry(&entry, &mut fresh[HDR..HDR + DIR_STRIDE]);
        set_len(&mut fresh, 1);
        let nt = alloc_chunk(rel, blk, page, &fresh);
        let b = page.get_mut(1)?;
        nt.write(&mut b[8 + k * TID_SIZE..8 + (k + 1) * TID_SIZE]);
        Some(EntryAt {
            chunk: nt,
            index: 0,
            entry,
        })
    }
}

/// Every directory chunk with its entries, bucket by bucket (one share lock per page read).
fn dir_chunks<R: RelationRead>(rel: &R, root: u32) -> Vec<(Tid, Vec<Entry>)> {
    let heads: Vec<Tid> = {
        let page = rel.read(root);
        match page.get(1) {
            Some(b) if b.len() >= ROOT_SIZE && b[0] == ROOT => (0..BUCKETS).map(|k| root_head(b, k)).collect(),
            _ => return Vec::new(),
        }
    };
    let mut out = Vec::new();
    for mut at in heads {
        while at.is_valid() {
            let page = rel.read(at.block);
            let Some(ch) = page.get(at.offset).and_then(|b| ChunkRef::parse(b, CHUNK_DIR)) else {
                break;
            };
            out.push((at, (0..ch.len()).map(|i| Entry::decode(ch.item(i))).collect()));
            at = ch.next();
        }
    }
    out
}

/// Every entry, bucket by bucket.
pub fn entries<R: RelationRead>(rel: &R, root: u32) -> Vec<Entry> {
    dir_chunks(rel, root).into_iter().flat_map(|(_, e)| e).collect()
}

/// Removes from every list the elements `dead` says are gone (packed TIDs), lowering the counts.
/// Returns how many postings were removed. Each chunk is rewritten under its own lock. Entries
/// added meanwhile are new keys of live elements: nothing to remove there.
pub fn remove<R: RelationWrite>(rel: &R, root: u32, dead: &dyn Fn(Tid) -> bool) -> u64 {
    let mut removed_total = 0u64;
    for (chunk, entries) in dir_chunks(rel, root) {
        for (index, entry) in entries.into_iter().enumerate() {
            let removed = remove_from_chain(rel, entry.head, dead);
            if removed > 0 {
                removed_total += removed;
                update_entry(rel, EntryAt { chunk, index, entry }, |e| {
                    e.count = e.count.saturating_sub(removed.min(u32::MAX as u64) as u32);
                });
            }
        }
    }
    removed_total
}

fn remove_from_chain<R: RelationWrite>(rel: &R, head: Tid, dead: &dyn Fn(Tid) -> bool) -> u64 {
    let mut removed = 0u64;
    let mut at = head;
    while at.is_valid() {
        let any_dead = {
            let page = rel.read(at.block);
            let Some(ch) = page.get(at.offset).and_then(|b| ChunkRef::parse(b, CHUNK_POSTINGS)) else {
                break;
            };
            (0..ch.len()).any(|i| dead(item_tid(ch.item(i))))
        };
        let next = if any_dead {
            let mut page = rel.write(at.block);
            let Some(b) = page.get_mut(at.offset) else { break };
            let Some(ch) = ChunkRef::parse(b, CHUNK_POSTINGS) else { break };
            let (n, next, s) = (ch.len(), ch.next(), ch.item_size());
            // Compact in place: live items move down, in order.
            let mut kept = 0;
            for i in 0..n {
                let from = HDR + i * s;
                if dead(item_tid(&b[from..from + s])) {
                    continue;
                }
                if kept != i {
                    b.copy_within(from..from + s, HDR + kept * s);
                }
                kept += 1;
            }
            removed += (n - kept) as u64;
            set_len(b, kept);
            next
        } else {
            let page = rel.read(at.block);
            let Some(ch) = page.get(at.offset).and_then(|b| ChunkRef::parse(b, CHUNK_POSTINGS)) else {
                break;
            };
            ch.next()
        };
        at = next;
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relation::MemRelation;

    fn lists_of(rel: &MemRelation, root: u32) -> HashMap<(u16, u64), Vec<Tid>> {
        let mut out = HashMap::new();
        for e in entries(rel, root) {
            let mut v = Vec::new();
            for_each_posting(rel, e.head, |t| v.push(t));
            assert_eq!(v.len(), e.count as usize, "count of ({}, {})", e.col, e.value);
            assert!(out.insert((e.col, e.value), v).is_none(), "entry ({}, {}) twice", e.col, e.value);
        }
        out
    }

    #[test]
    fn appended_and_bulk_written_lists_read_back() {
        let mut want: HashMap<(u16, u64), Vec<Tid>> = HashMap::new();
        let mut rng = semvec_storage::Rng::new(7);
        for i in 0..20_000u32 {
            // A few huge keys, many small ones, some with one element.
            let v = match i % 3 {
                0 => rng.next_u64() % 3,
                1 => rng.next_u64() % 500,
                _ => i as u64 * 7919,
            };
            let col = (i % 2) as u16;
            want.entry((col, v)).or_default().push(Tid::new(1 + i / 100, (i % 100) as u16 + 1));
        }
        // Appended one by one.
        let rel = MemRelation::new();
        {
            let (_, mut p) = rel.extend();
            p.init_hnsw(crate::page::PAGE_META);
        }
        let root = init_root(&rel);
        let mut order: Vec<(&(u16, u64), &Tid)> = want.iter().flat_map(|(k, v)| v.iter().map(move |t| (k, t))).collect();
        order.sort_by_key(|(_, t)| **t);
        for (k, t) in &order {
            append(&rel, root, k.0, k.1, **t, &[]);
        }
        let got = lists_of(&rel, root);
        let mut want_sorted = want.clone();
        for v in want_sorted.values_mut() {
            v.sort();
        }
        let mut got_sorted = got.clone();
        for v in got_sorted.values_mut() {
            v.sort();
        }
        assert_eq!(got_sorted, want_sorted);
        // Small keys share pages: far fewer pages than keys.
        assert!(
            (rel.nblocks() as usize) < want.len() / 4,
            "{} pages for {} keys",
            rel.nblocks(),
            want.len()
        );

        // Bulk written.
        let bulk = MemRelation::new();
        {
            let (_, mut p) = bulk.extend();
            p.init_hnsw(crate::page::PAGE_META);
        }
        let root = write_all(&bulk, &want);
        assert_eq!(lists_of(&bulk, root), want);
        for (k, v) in &want {
            assert_eq!(lookup(&bulk, root, k.0, k.1).unwrap().count as usize, v.len());
        }
        assert!(lookup(&bulk, root, 5, 5).is_none());

        // Removal keeps the rest, in order, and the counts.
        let dead = |t: Tid| t.offset.is_multiple_of(3);
        let removed = remove(&bulk, root, &dead);
        let after = lists_of(&bulk, root);
        let mut n = 0;
        for (k, v) in &want {
            let kept: Vec<Tid> = v.iter().copied().filter(|&t| !dead(t)).collect();
            n += v.len() - kept.len();
            assert_eq!(after[k], kept);
        }
        assert_eq!(removed as usize, n);
        // And appends go on after removal.
        append(&bulk, root, 0, 1, Tid::new(999, 1), &[]);
        assert!(lists_of(&bulk, root)[&(0, 1)].contains(&Tid::new(999, 1)));
    }

    #[test]
    fn inline_vectors_follow_their_postings_through_appends_and_removal() {
        // Each element's "vector" is 3 f32 derived from its TID; big enough lists to chain.
        let vec_of = |t: Tid| -> Vec<u8> {
            [t.block as f32, t.offset as f32, (t.block * 7 + t.offset as u32) as f32]
                .iter()
                .flat_map(|x| x.to_ne_bytes())
                .collect()
        };
        let mut want: HashMap<(u16, u64), Vec<Tid>> = HashMap::new();
        for i in 0..3000u32 {
            want.entry((0, (i % 7) as u64))
                .or_default()
                .push(Tid::new(1 + i / 50, (i % 50) as u16 + 1));
        }
        let read = |rel: &MemRelation, root: u32| -> HashMap<(u16, u64), Vec<Tid>> {
            let mut out: HashMap<(u16, u64), Vec<Tid>> = HashMap::new();
            for e in entries(rel, root) {
                for_each_posting_vector(rel, e.head, |t, v| {
                    assert_eq!(v.len(), 12 + 2);
                    assert_eq!(&v[..12], &vec_of(t)[..], "vector of {t:?}");
                    assert_eq!(&v[12..], &[0, 0]);
                    assert_eq!(v.as_ptr() as usize % 4, 0, "f32 vectors stay 4-byte aligned");
                    out.entry((e.col, e.value)).or_default().push(t);
                });
            }
            out
        };
        let bulk = MemRelation::new();
        {
            let (_, mut p) = bulk.extend();
            p.init_hnsw(crate::page::PAGE_META);
        }
        let vecs: HashMap<Tid, Vec<u8>> = want.values().flatten().map(|&t| (t, vec_of(t))).collect();
        let root = write_all_with(&bulk, &want, |t| *t, 12, |t| &vecs[t][..]);
        assert_eq!(read(&bulk, root), want);
        let appended = MemRelation::new();
        {
            let (_, mut p) = appended.extend();
            p.init_hnsw(crate::page::PAGE_META);
        }
        let root2 = init_root(&appended);
        for (k, v) in &want {
            for &t in v {
                append(&appended, root2, k.0, k.1, t, &vec_of(t));
            }
        }
        assert_eq!(read(&appended, root2), want);
        for (rel, root) in [(&bulk, root), (&appended, root2)] {
            let dead = |t: Tid| t.offset % 4 == 1;
            remove(rel, root, &dead);
            append(rel, root, 0, 3, Tid::new(500, 9), &vec_of(Tid::new(500, 9)));
            let got = read(rel, root);
            for (k, v) in &want {
                let mut kept: Vec<Tid> = v.iter().copied().filter(|&t| !dead(t)).collect();
                if *k == (0, 3) {
                    kept.push(Tid::new(500, 9));
                }
                assert_eq!(got[k], kept);
            }
        }
    }

    #[test]
    fn concurrent_appends_lose_nothing() {
        let rel = std::sync::Arc::new(MemRelation::new());
        {
            let (_, mut p) = rel.extend();
            p.init_hnsw(crate::page::PAGE_META);
        }
        let root = init_root(&*rel);
        let threads: Vec<_> = (0..4u32)
            .map(|th| {
                let rel = rel.clone();
                std::thread::spawn(move || {
                    for i in 0..3000u32 {
                        append(&*rel, root, 0, (i % 37) as u64, Tid::new(th * 10_000 + i + 1, 1), &[]);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let got = lists_of(&rel, root);
        assert_eq!(got.len(), 37);
        assert_eq!(got.values().map(|v| v.len()).sum::<usize>(), 12_000);
    }
}
