//! On-page format of the index.
//!
//! All integers are little-endian (the native order of every platform we
//! build for; Postgres pages are native-endian). Every tuple starts at a
//! MAXALIGN(8) offset on its page.
//!
//! **Block 0, the meta page** ([`PAGE_META`](crate::page::PAGE_META)) holds one
//! tuple at offset 1, [`Meta`] (48 bytes):
//!
//! ```text
//! 0  u32 magic = META_MAGIC          4  u32 format version = FORMAT_VERSION
//! 8  u32 dims                        12 u16 m          14 u16 ef_construction
//! 16 [6] entry point element TID     22 u8 entry level 23 u8 has entry (0/1)
//! 24 u64 element count (exact after build/vacuum, not maintained by insert)
//! 32 u32 insert page hint            36 u16 vector kind (opaque to this crate)
//! 38 u16 filter key columns          40 u32 root of the key posting lists (0: none)
//! 44 u16 bytes of vector inline in postings    46 u16 VACUUM passes that removed elements (wrapping)
//! ```
//!
//! **Data pages** ([`PAGE_DATA`](crate::page::PAGE_DATA), blocks 1..) hold
//! element tuples and neighbour tuples, usually an element followed by its own
//! neighbour tuple on the same page.
//!
//! Element tuple ([`element_header_size`]`(slots)` bytes + payload; 76 with pgvector's 10 slots):
//!
//! ```text
//! 0  u8  kind = TUPLE_ELEMENT   1 u8 level   2 u8 flags (bit 0: deleted)   3 u8 version
//! 4  u8  heap TID count (0..=slots)  5 u8 heap TID slots (1..=HEAP_TIDS_MAX; 0: HEAP_TIDS_MAX)
//! 6  u16 payload length
//! 8  [6] TID of this element's neighbour tuple
//! 14 [6] x slots heap TIDs (exact duplicate vectors share one element), padded to 4 bytes
//! .. payload: the vector bytes, opaque to this crate (4-byte aligned on the page)
//! ```
//!
//! An element has as many heap TID slots as it was written with: one when its vector had no
//! duplicate (most elements: 56 bytes less than pgvector's ten), more for a vector seen more than
//! once (the build's duplicates, or an insert that found a full element with the same vector,
//! which writes one with all ten). Indexes written before the slot count existed have 0 there
//! and ten slots.
//!
//! Neighbour tuple (4 + (level + 2) * m * 6 bytes, as pgvector):
//!
//! ```text
//! 0 u8 kind = TUPLE_NEIGHBORS   1 u8 level   2 u16 m
//! 4 layer 0: 2m TIDs, then layers 1..=level: m TIDs each. Each list is packed
//!   at the front; unused slots hold the invalid TID (block 0xFFFFFFFF).
//! ```
//!
//! A TID is 6 bytes laid out like `ItemPointerData`: block number high u16,
//! low u16, then the 1-based offset u16. Element "version" is bumped when
//! vacuum's freed slot is reused, so a scan that remembered an element can
//! notice it now holds another vector.

pub use semvec_storage::Tid;

/// Identifies our meta tuple.
pub const META_MAGIC: u32 = 0x5356_4857; // "SVHW"
/// Bumped on any incompatible change of this format.
pub const FORMAT_VERSION: u32 = 1;
/// Heap TIDs stored in one element (pgvector's `HNSW_HEAPTIDS`).
pub const HEAP_TIDS_MAX: usize = 10;
/// Kind byte of an element tuple.
pub const TUPLE_ELEMENT: u8 = 1;
/// Kind byte of a neighbour tuple.
pub const TUPLE_NEIGHBORS: u8 = 2;
/// Bytes before the payload of an element tuple.
pub const ELEMENT_HEADER_SIZE: usize = 76;
/// Size of [`Meta`] on the page.
pub const META_SIZE: usize = 48;
/// Bytes of one TID on the page.
pub const TID_SIZE: usize = 6;
/// Largest element payload: one element tuple must fit on an empty page.
pub const MAX_PAYLOAD: usize = crate::page::MAX_TUPLE_SIZE - ELEMENT_HEADER_SIZE;

const FLAG_DELETED: u8 = 1;

#[inline]
fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
#[inline]
fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// The index-wide settings and state kept on block 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Meta {
    pub dims: u32,
    pub m: u16,
    pub ef_construction: u16,
    /// The element searches start from, and its level.
    pub entry: Option<(Tid, u8)>,
    pub element_count: u64,
    /// First data block an insert looks at for free space.
    pub insert_page: u32,
    /// Which SQL type the payloads are; chosen and interpreted by the glue.
    pub vector_kind: u16,
    /// Filter key columns after the vector (0: payloads are plain vectors; else keyed, see
    /// [`crate::keys`]).
    pub key_columns: u16,
    /// Block of the posting lists' root ([`crate::postings`]); 0 when there are no key columns.
    pub key_root: u32,
    /// Bytes of the vector each posting keeps inline (`key_vectors = on`); 0: TIDs only.
    pub key_vector_len: u16,
    /// VACUUM passes that removed elements, wrapping (0 in indexes from before it was kept):
    /// tells a backend's copy of the upper layers ([`crate::UpperLayers`]) that it is stale.
    pub vacuums: u16,
}

impl Meta {
    pub fn encode(&self) -> [u8; META_SIZE] {
        let mut b = [0u8; META_SIZE];
        b[0..4].copy_from_slice(&META_MAGIC.to_le_bytes());
        b[4..8].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[8..12].copy_from_slice(&self.dims.to_le_bytes());
        b[12..14].copy_from_slice(&self.m.to_le_bytes());
        b[14..16].copy_from_slice(&self.ef_construction.to_le_bytes());
        let (tid, level) = self.entry.unwrap_or((Tid::INVALID, 0));
        tid.write(&mut b[16..22]);
        b[22] = level;
        b[23] = self.entry.is_some() as u8;
        b[24..32].copy_from_slice(&self.element_count.to_le_bytes());
        b[32..36].copy_from_slice(&self.insert_page.to_le_bytes());
        b[36..38].copy_from_slice(&self.vector_kind.to_le_bytes());
        b[38..40].copy_from_slice(&self.key_columns.to_le_bytes());
        b[40..44].copy_from_slice(&self.key_root.to_le_bytes());
        b[44..46].copy_from_slice(&self.key_vector_len.to_le_bytes());
        b[46..48].copy_from_slice(&self.vacuums.to_le_bytes());
        b
    }

    /// Decodes a meta tuple; `None` when the magic or version does not match.
    pub fn decode(b: &[u8]) -> Option<Meta> {
        if b.len() < META_SIZE || u32_at(b, 0) != META_MAGIC || u32_at(b, 4) != FORMAT_VERSION {
            return None;
        }
        Some(Meta {
            dims: u32_at(b, 8),
            m: u16_at(b, 12),
            ef_construction: u16_at(b, 14),
            entry: if b[23] != 0 { Some((Tid::read(&b[16..22]), b[22])) } else { None },
            element_count: u64::from_le_bytes(b[24..32].try_into().unwrap()),
            insert_page: u32_at(b, 32),
            vector_kind: u16_at(b, 36),
            key_columns: u16_at(b, 38),
            key_root: u32_at(b, 40),
            key_vector_len: u16_at(b, 44),
            vacuums: u16_at(b, 46),
        })
    }
}

/// Bytes before the payload of an element tuple with `slots` heap TID slots.
#[inline]
pub const fn element_header_size(slots: usize) -> usize {
    (14 + slots * TID_SIZE + 3) & !3
}

/// Size of an element tuple with a payload of `payload_len` bytes and `slots` heap TID slots.
#[inline]
pub const fn element_tuple_size(payload_len: usize, slots: usize) -> usize {
    element_header_size(slots) + payload_len
}

/// Size of a neighbour tuple of an element of `level` with parameter `m`.
#[inline]
pub const fn neighbor_tuple_size(level: u8, m: usize) -> usize {
    4 + (level as usize + 2) * m * TID_SIZE
}

/// Highest level whose neighbour tuple still fits on an empty page, capped at 16.
pub const fn max_level_for(m: usize) -> u8 {
    let slots = (crate::page::MAX_TUPLE_SIZE - 4) / (m * TID_SIZE);
    let l = slots.saturating_sub(2);
    if l > 16 {
        16
    } else {
        l as u8
    }
}

/// Writes an element tuple with `slots` heap TID slots into `out` (cleared first).
#[allow(clippy::too_many_arguments)]
pub fn encode_element(out: &mut Vec<u8>, level: u8, version: u8, heap_tids: &[Tid], slots: usize, neighbors: Tid, payload: &[u8]) {
    assert!(!heap_tids.is_empty() && heap_tids.len() <= slots && slots <= HEAP_TIDS_MAX);
    assert!(payload.len() <= u16::MAX as usize);
    let header = element_header_size(slots);
    out.clear();
    out.resize(header + payload.len(), 0);
    out[0] = TUPLE_ELEMENT;
    out[1] = level;
    out[3] = version;
    out[4] = heap_tids.len() as u8;
    out[5] = slots as u8;
    out[6..8].copy_from_slice(&(payload.len() as u16).to_le_bytes());
    neighbors.write(&mut out[8..14]);
    for (i, t) in heap_tids.iter().enumerate() {
        t.write(&mut out[14 + i * TID_SIZE..20 + i * TID_SIZE]);
    }
    for i in heap_tids.len()..slots {
        Tid::INVALID.write(&mut out[14 + i * TID_SIZE..20 + i * TID_SIZE]);
    }
    out[header..].copy_from_slice(payload);
}

/// Heap TID slots of an element tuple from its byte 5 (0: written before it was kept, ten).
#[inline]
fn slots_of(b: &[u8]) -> usize {
    match b[5] {
        0 => HEAP_TIDS_MAX,
        n => n as usize,
    }
}

/// Writes an empty neighbour tuple into `out` (cleared first).
pub fn encode_neighbors(out: &mut Vec<u8>, level: u8, m: usize) {
    out.clear();
    out.resize(neighbor_tuple_size(level, m), 0);
    out[0] = TUPLE_NEIGHBORS;
    out[1] = level;
    out[2..4].copy_from_slice(&(m as u16).to_le_bytes());
    for s in out[4..].chunks_exact_mut(TID_SIZE) {
        Tid::INVALID.write(s);
    }
}

/// A read-only view of an element tuple.
#[derive(Clone, Copy)]
pub struct ElementRef<'a>(&'a [u8]);

impl<'a> ElementRef<'a> {
    /// `None` unless `b` is a well-formed element tuple.
    #[inline]
    pub fn parse(b: &'a [u8]) -> Option<ElementRef<'a>> {
        if b.len() < element_header_size(1) || b[0] != TUPLE_ELEMENT {
            return None;
        }
        let slots = slots_of(b);
        if slots > HEAP_TIDS_MAX || element_header_size(slots) + u16_at(b, 6) as usize > b.len() || b[4] as usize > slots {
            return None;
        }
        Some(ElementRef(b))
    }
    #[inline]
    pub fn level(self) -> u8 {
        self.0[1]
    }
    #[inline]
    pub fn is_deleted(self) -> bool {
        self.0[2] & FLAG_DELETED != 0
    }
    #[inline]
    pub fn version(self) -> u8 {
        self.0[3]
    }
    #[inline]
    pub fn heap_tid_count(self) -> usize {
        self.0[4] as usize
    }
    /// Heap TIDs it has room for.
    #[inline]
    pub fn heap_tid_slots(self) -> usize {
        slots_of(self.0)
    }
    /// Whether a scan may return it / an insert may link to it.
    #[inline]
    pub fn is_live(self) -> bool {
        !self.is_deleted() && self.heap_tid_count() > 0
    }
    #[inline]
    pub fn heap_tid(self, i: usize) -> Tid {
        Tid::read(&self.0[14 + i * TID_SIZE..])
    }
    pub fn heap_tids(self) -> impl Iterator<Item = Tid> + 'a {
        let b = self.0;
        (0..b[4] as usize).map(move |i| Tid::read(&b[14 + i * TID_SIZE..]))
    }
    #[inline]
    pub fn neighbors(self) -> Tid {
        Tid::read(&self.0[8..14])
    }
    #[inline]
    pub fn payload(self) -> &'a [u8] {
        let at = element_header_size(slots_of(self.0));
        &self.0[at..at + u16_at(self.0, 6) as usize]
    }
}

/// A writable view of an element tuple (fields of fixed size only).
pub struct ElementMut<'a>(&'a mut [u8]);

impl<'a> ElementMut<'a> {
    pub fn parse(b: &'a mut [u8]) -> Option<ElementMut<'a>> {
        ElementRef::parse(b)?;
        Some(ElementMut(b))
    }
    pub fn as_ref(&self) -> ElementRef<'_> {
        ElementRef(self.0)
    }
    pub fn set_deleted(&mut self) {
        self.0[2] |= FLAG_DELETED;
        self.set_heap_tids(&[]);
    }
    /// Replaces the heap TID list (at most its slots).
    pub fn set_heap_tids(&mut self, tids: &[Tid]) {
        let slots = slots_of(self.0);
        assert!(tids.len() <= slots);
        self.0[4] = tids.len() as u8;
        for i in 0..slots {
            let t = tids.get(i).copied().unwrap_or(Tid::INVALID);
            t.write(&mut self.0[14 + i * TID_SIZE..20 + i * TID_SIZE]);
        }
    }
    /// Adds a heap TID; false when the element is full.
    pub fn push_heap_tid(&mut self, tid: Tid) -> bool {
        let n = self.0[4] as usize;
        if n >= slots_of(self.0) {
            return false;
        }
        tid.write(&mut self.0[14 + n * TID_SIZE..20 + n * TID_SIZE]);
        self.0[4] = n as u8 + 1;
        true
    }
}

/// A read-only view of a neighbour tuple.
#[derive(Clone, Copy)]
pub struct NeighborsRef<'a>(&'a [u8]);

impl<'a> NeighborsRef<'a> {
    #[inline]
    pub fn parse(b: &'a [u8]) -> Option<NeighborsRef<'a>> {
        if b.len() < 4 || b[0] != TUPLE_NEIGHBORS {
            return None;
        }
        let m = u16_at(b, 2) as usize;
        if m == 0 || neighbor_tuple_size(b[1], m) > b.len() {
            return None;
        }
        Some(NeighborsRef(b))
    }
    #[inline]
    pub fn level(self) -> u8 {
        self.0[1]
    }
    #[inline]
    pub fn m(self) -> usize {
        u16_at(self.0, 2) as usize
    }
    #[inline]
    fn range(self, layer: u8) -> (usize, usize) {
        let m = self.m();
        if layer == 0 {
            (4, 4 + 2 * m * TID_SIZE)
        } else {
            let start = 4 + (layer as usize + 1) * m * TID_SIZE;
            (start, start + m * TID_SIZE)
        }
    }
    /// Slots of `layer` (2m for layer 0, m above); none above the tuple's level.
    #[inline]
    pub fn capacity(self, layer: u8) -> usize {
        if layer > self.level() {
            0
        } else if layer == 0 {
            2 * self.m()
        } else {
            self.m()
        }
    }
    /// The neighbours of `layer`, in slot order, stopping at the first empty slot.
    #[inline]
    pub fn layer(self, layer: u8) -> impl Iterator<Item = Tid> + 'a {
        let (s, e) = if layer > self.level() { (4, 4) } else { self.range(layer) };
        self.0[s..e].chunks_exact(TID_SIZE).map(Tid::read).take_while(|t| t.is_valid())
    }
}

/// A writable view of a neighbour tuple.
pub struct NeighborsMut<'a>(&'a mut [u8]);

impl<'a> NeighborsMut<'a> {
    pub fn parse(b: &'a mut [u8]) -> Option<NeighborsMut<'a>> {
        NeighborsRef::parse(b)?;
        Some(NeighborsMut(b))
    }
    pub fn as_ref(&self) -> NeighborsRef<'_> {
        NeighborsRef(self.0)
    }
    /// Replaces the list of `layer`; extra entries beyond capacity are dropped.
    pub fn set_layer(&mut self, layer: u8, tids: &[Tid]) {
        let r = self.as_ref();
        if layer > r.level() {
            return;
        }
        let cap = r.capacity(layer);
        let (s, _) = r.range(layer);
        for i in 0..cap {
            let t = tids.get(i).copied().unwrap_or(Tid::INVALID);
            t.write(&mut self.0[s + i * TID_SIZE..s + (i + 1) * TID_SIZE]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn meta_round_trips_and_rejects_foreign_bytes() {
        let meta = Meta {
            dims: 384,
            m: 16,
            ef_construction: 64,
            entry: Some((Tid::new(5, 3), 4)),
            element_count: 123_456,
            insert_page: 77,
            vector_kind: 2,
            key_columns: 2,
            key_root: 9,
            key_vector_len: 200,
            vacuums: 65535,
        };
        let b = meta.encode();
        assert_eq!(Meta::decode(&b), Some(meta));
        let empty = Meta { entry: None, ..meta };
        assert_eq!(Meta::decode(&empty.encode()), Some(empty));
        let mut bad = b;
        bad[0] ^= 1;
        assert_eq!(Meta::decode(&bad), None);
    }

    #[test]
    fn pgvector_sized_index_fits_four_384d_elements_per_page() {
        let per_element = crate::page::maxalign(element_tuple_size(384 * 4, HEAP_TIDS_MAX))
            + crate::page::maxalign(neighbor_tuple_size(0, 16))
            + 2 * crate::page::ITEM_ID_SIZE;
        let usable = crate::page::BLCKSZ - crate::page::PAGE_HEADER_SIZE - crate::page::SPECIAL_SIZE;
        assert_eq!(usable / per_element, 4);
        assert!(element_tuple_size(2000 * 4, HEAP_TIDS_MAX) <= crate::page::MAX_TUPLE_SIZE);
        assert_eq!(element_header_size(HEAP_TIDS_MAX), ELEMENT_HEADER_SIZE);
        assert_eq!((element_header_size(1), element_header_size(2)), (20, 28));
        const { assert!(MAX_PAYLOAD >= 2000 * 4) };
    }

    #[test]
    fn an_element_written_before_slot_counts_has_ten() {
        let payload = [1u8, 2, 3, 4];
        let mut out = Vec::new();
        encode_element(&mut out, 0, 0, &[Tid::new(1, 1)], HEAP_TIDS_MAX, Tid::new(1, 2), &payload);
        out[5] = 0; // what such an element has there
        let e = ElementRef::parse(&out).unwrap();
        assert_eq!((e.heap_tid_slots(), e.payload()), (HEAP_TIDS_MAX, &payload[..]));
        assert_eq!(out.len(), ELEMENT_HEADER_SIZE + payload.len());
    }

    #[test]
    fn max_level_keeps_neighbor_tuple_within_a_page() {
        for m in [2usize, 4, 16, 48, 100] {
            let l = max_level_for(m);
            assert!(neighbor_tuple_size(l, m) <= crate::page::MAX_TUPLE_SIZE, "m={m}");
            assert!(l >= 1);
        }
    }

    proptest! {
        #[test]
        fn element_round_trips(level in 0u8..16, version: u8, n in 1usize..=HEAP_TIDS_MAX, extra in 0usize..HEAP_TIDS_MAX,
                               blk in 0u32..u32::MAX, payload in proptest::collection::vec(any::<u8>(), 0..300)) {
            let tids: Vec<Tid> = (0..n).map(|i| Tid::new(blk.wrapping_add(i as u32) % u32::MAX, i as u16 + 1)).collect();
            let slots = (n + extra).min(HEAP_TIDS_MAX);
            let mut out = Vec::new();
            encode_element(&mut out, level, version, &tids, slots, Tid::new(9, 2), &payload);
            prop_assert_eq!(out.len(), element_tuple_size(payload.len(), slots));
            let e = ElementRef::parse(&out).unwrap();
            prop_assert_eq!(e.heap_tid_slots(), slots);
            prop_assert_eq!(e.level(), level);
            prop_assert_eq!(e.version(), version);
            prop_assert!(!e.is_deleted());
            prop_assert_eq!(e.heap_tids().collect::<Vec<_>>(), tids.clone());
            prop_assert_eq!(e.neighbors(), Tid::new(9, 2));
            prop_assert_eq!(e.payload(), &payload[..]);
            // A longer slot (a reused, larger tuple) still parses to the same element.
            let mut padded = out.clone();
            padded.extend_from_slice(&[0xEE; 24]);
            prop_assert_eq!(ElementRef::parse(&padded).unwrap().payload(), &payload[..]);
            let mut em = ElementMut::parse(&mut out).unwrap();
            // Room for exactly `slots` heap TIDs.
            for i in n..slots {
                prop_assert!(em.push_heap_tid(Tid::new(7, i as u16 + 1)));
            }
            prop_assert!(!em.push_heap_tid(Tid::new(7, 99)));
            prop_assert_eq!(em.as_ref().heap_tid_count(), slots);
            prop_assert_eq!(em.as_ref().payload(), &payload[..]);
            em.set_deleted();
            prop_assert!(em.as_ref().is_deleted());
            prop_assert_eq!(em.as_ref().heap_tid_count(), 0);
        }

        #[test]
        fn neighbor_layers_round_trip(level in 0u8..5, m in 2usize..20, fill in proptest::collection::vec(0usize..40, 5)) {
            let mut out = Vec::new();
            encode_neighbors(&mut out, level, m);
            prop_assert_eq!(out.len(), neighbor_tuple_size(level, m));
            let mut want = Vec::new();
            {
                let mut nm = NeighborsMut::parse(&mut out).unwrap();
                for l in 0..=level {
                    let cap = if l == 0 { 2 * m } else { m };
                    let k = fill[l as usize].min(cap);
                    let tids: Vec<Tid> = (0..k).map(|i| Tid::new(l as u32 * 1000 + i as u32, 1)).collect();
                    nm.set_layer(l, &tids);
                    want.push(tids);
                }
            }
            let n = NeighborsRef::parse(&out).unwrap();
            for l in 0..=level {
                prop_assert_eq!(n.layer(l).collect::<Vec<_>>(), want[l as usize].clone());
            }
            prop_assert_eq!(n.layer(level + 1).count(), 0);
        }
    }
}
