//! The on-page format, on PostgreSQL slotted pages ([`Page`], from semvec-storage).
//!
//! ```text
//! block 0             meta page: one meta tuple
//! block 1 ..          list pages (chained by next_blkno): one list tuple per list, in list order
//! after them          entry pages: each list's own chain, from its start page
//!
//! meta tuple   magic u32 | version u32 | dims u32 | lists u32 | elements u16 | distance u16 | 0 u32
//! list tuple   start_page u32 | insert_page u32 | center payload
//! entry tuple  heap TID (6 bytes, block hi/lo + offset) | 0 u16 | payload
//! ```
//!
//! Tuples start MAXALIGNed, so payloads (at offset 8) are 8-byte aligned and the distance kernels
//! read them in place. All integers are little-endian. `start_page` never changes after the build;
//! `insert_page` is a hint where a list has free space (any page of its chain is valid).

use crate::types::{Distance, Elements, VectorType};
use semvec_storage::page::{MAX_TUPLE_SIZE, SPECIAL_SIZE};
use semvec_storage::{Page, Tid};

/// Identifies our pages in the special area (each index family has its own).
pub const PAGE_ID: u16 = 0xFF56;
/// [`PageOpaque::flags`] of the meta page.
pub const PAGE_META: u16 = 1;
/// [`PageOpaque::flags`] of a page of list tuples.
pub const PAGE_LIST: u16 = 2;
/// [`PageOpaque::flags`] of a page of entry tuples.
pub const PAGE_ENTRY: u16 = 3;

pub const META_BLKNO: u32 = 0;
/// The first list page.
pub const HEAD_BLKNO: u32 = 1;

pub const MAGIC: u32 = 0x5356_4946;
pub const VERSION: u32 = 1;

/// Bytes before the payload in list and entry tuples.
pub const HEADER: usize = 8;
/// Largest payload an entry (or list) tuple can carry on an empty page.
pub const MAX_PAYLOAD: usize = MAX_TUPLE_SIZE - HEADER;

/// Initialise a page of ours of kind `flags`.
pub fn init_page(page: &mut Page, flags: u16) {
    page.init_tagged(PAGE_ID, flags);
}

/// Whether `page` is one of ours of kind `flags`.
pub fn is_page(page: &Page, flags: u16) -> bool {
    page.is_tagged(PAGE_ID) && page.opaque().flags == flags
}

/// What block 0 records about the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub vtype: VectorType,
    pub lists: u32,
}

const META_LEN: usize = 24;

impl Meta {
    pub fn encode(&self) -> [u8; META_LEN] {
        let mut b = [0u8; META_LEN];
        b[0..4].copy_from_slice(&MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&VERSION.to_le_bytes());
        b[8..12].copy_from_slice(&self.vtype.dims.to_le_bytes());
        b[12..16].copy_from_slice(&self.lists.to_le_bytes());
        b[16..18].copy_from_slice(&(self.vtype.elements as u16).to_le_bytes());
        b[18..20].copy_from_slice(&(self.vtype.distance as u16).to_le_bytes());
        b
    }

    pub fn decode(b: &[u8]) -> Option<Meta> {
        if b.len() < META_LEN {
            return None;
        }
        let u32_at = |i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
        let u16_at = |i: usize| u16::from_le_bytes(b[i..i + 2].try_into().unwrap());
        if u32_at(0) != MAGIC || u32_at(4) != VERSION {
            return None;
        }
        let vtype = VectorType::new(Elements::from_code(u16_at(16))?, Distance::from_code(u16_at(18))?, u32_at(8));
        Some(Meta { vtype, lists: u32_at(12) })
    }
}

/// Where a list tuple lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListLoc {
    pub blkno: u32,
    pub offset: u16,
}

/// Encode a list tuple.
pub fn list_tuple(start_page: u32, insert_page: u32, center: &[u8]) -> Vec<u8> {
    let mut t = Vec::with_capacity(HEADER + center.len());
    t.extend_from_slice(&start_page.to_le_bytes());
    t.extend_from_slice(&insert_page.to_le_bytes());
    t.extend_from_slice(center);
    t
}

/// A decoded list tuple, borrowing its center from the page.
#[derive(Clone, Copy, Debug)]
pub struct ListTuple<'a> {
    pub start_page: u32,
    pub insert_page: u32,
    pub center: &'a [u8],
}

impl<'a> ListTuple<'a> {
    pub fn read(b: &'a [u8]) -> ListTuple<'a> {
        ListTuple {
            start_page: u32::from_le_bytes(b[0..4].try_into().unwrap()),
            insert_page: u32::from_le_bytes(b[4..8].try_into().unwrap()),
            center: &b[HEADER..],
        }
    }
}

pub fn set_start_page(tuple: &mut [u8], blkno: u32) {
    tuple[0..4].copy_from_slice(&blkno.to_le_bytes());
}

pub fn set_insert_page(tuple: &mut [u8], blkno: u32) {
    tuple[4..8].copy_from_slice(&blkno.to_le_bytes());
}

/// Append an entry tuple for `tid` and `payload` to `out`.
pub fn encode_entry(tid: Tid, payload: &[u8], out: &mut Vec<u8>) {
    let at = out.len();
    out.resize(at + HEADER, 0);
    tid.write(&mut out[at..at + 6]);
    out.extend_from_slice(payload);
}

/// The heap TID of an entry tuple.
#[inline]
pub fn entry_tid(t: &[u8]) -> Tid {
    Tid::read(&t[0..6])
}

/// The payload of an entry tuple.
#[inline]
pub fn entry_payload(t: &[u8]) -> &[u8] {
    &t[HEADER..]
}

/// Drop every tuple for which `remove` says so, compacting the page (offsets of the others
/// change; nothing refers to entries by offset). Returns (removed, kept). The page header's
/// LSN, checksum and flag fields are kept.
pub fn remove_tuples(page: &mut Page, mut remove: impl FnMut(&[u8]) -> bool) -> (usize, usize) {
    let mut kept: Vec<u8> = Vec::new();
    let mut lens = Vec::new();
    let mut removed = 0;
    for off in 1..=page.len() {
        let Some(t) = page.get(off) else { continue };
        if remove(t) {
            removed += 1;
        } else {
            kept.extend_from_slice(t);
            lens.push(t.len());
        }
    }
    if removed == 0 {
        return (0, lens.len());
    }
    let opaque = *page.opaque();
    let mut header = [0u8; 12];
    header.copy_from_slice(&page.as_bytes()[0..12]);
    page.init(SPECIAL_SIZE);
    page.as_bytes_mut()[0..12].copy_from_slice(&header);
    *page.opaque_mut() = opaque;
    let mut at = 0;
    for len in &lens {
        page.alloc(&kept[at..at + len]).expect("kept tuples fit where they were");
        at += len;
    }
    (removed, lens.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_round_trips_and_rejects_foreign_bytes() {
        let m = Meta {
            vtype: VectorType::new(Elements::F16, Distance::Cosine, 384),
            lists: 1000,
        };
        assert_eq!(Meta::decode(&m.encode()), Some(m));
        assert_eq!(Meta::decode(&[0u8; 24]), None);
    }

    #[test]
    fn entry_and_list_tuples_round_trip() {
        let mut t = Vec::new();
        encode_entry(Tid::new(70_000, 12), &[1, 2, 3, 4], &mut t);
        assert_eq!(t.len(), 12);
        assert_eq!(entry_tid(&t), Tid::new(70_000, 12));
        assert_eq!(entry_payload(&t), &[1, 2, 3, 4]);
        let mut l = list_tuple(5, 9, &[7; 8]);
        let r = ListTuple::read(&l);
        assert_eq!((r.start_page, r.insert_page, r.center), (5, 9, &[7u8; 8][..]));
        set_insert_page(&mut l, 11);
        set_start_page(&mut l, 6);
        let r = ListTuple::read(&l);
        assert_eq!((r.start_page, r.insert_page), (6, 11));
    }

    #[test]
    fn removing_tuples_compacts_and_keeps_the_rest() {
        let mut p = Page::boxed();
        init_page(&mut p, PAGE_ENTRY);
        p.opaque_mut().next_blkno = 42;
        p.as_bytes_mut()[0..8].copy_from_slice(&[9; 8]); // an LSN
        for i in 0..10u8 {
            p.alloc(&[i; 20]).unwrap();
        }
        let free_before = p.free_space();
        let (removed, kept) = remove_tuples(&mut p, |t| t[0] % 3 == 0);
        assert_eq!((removed, kept), (4, 6));
        let left: Vec<u8> = (1..=p.len()).map(|o| p.get(o).unwrap()[0]).collect();
        assert_eq!(left, vec![1, 2, 4, 5, 7, 8]);
        assert_eq!(p.opaque().next_blkno, 42);
        assert!(is_page(&p, PAGE_ENTRY));
        assert_eq!(&p.as_bytes()[0..8], &[9; 8]);
        assert_eq!(p.free_space(), free_before + 4 * 28);
    }

    #[test]
    fn the_largest_payloads_fit_one_per_page() {
        // vector(2000), halfvec(4000) and bit(64000) all carry 8000 bytes
        const { assert!(MAX_PAYLOAD >= 8000) };
        let mut p = Page::boxed();
        init_page(&mut p, PAGE_ENTRY);
        let mut t = Vec::new();
        encode_entry(Tid::new(1, 1), &[0; 8000], &mut t);
        assert!(p.alloc(&t).is_some());
    }
}
