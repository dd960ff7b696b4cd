//! A PostgreSQL slotted page, byte for byte.
//!
//! [`Page`] has exactly the layout of a `PageHeaderData`-prefixed heap-style
//! page (`bufpage.h`), so the glue can cast a pointer to a shared buffer (or a
//! GenericXLog working copy) to `&Page` / `&mut Page` and tools such as
//! `pageinspect` read our pages:
//!
//! ```text
//! 0      8            10        12        14        16         18                    20           24
//! | lsn  | checksum u16| flags u16| lower u16| upper u16| special u16| pagesize_version u16| prune_xid u32| line pointers ...
//!
//! line pointer (ItemIdData, u32 little-endian): lp_off bits 0..15, lp_flags bits 15..17, lp_len bits 17..32
//! tuples grow down from pd_upper, each MAXALIGN(8)-aligned; the special area [pd_special, BLCKSZ)
//! holds our [`PageOpaque`].
//! ```
//!
//! Nothing here allocates; a `Page` is plain bytes.

/// Size of a PostgreSQL block.
pub const BLCKSZ: usize = 8192;
/// `SizeOfPageHeaderData`.
pub const PAGE_HEADER_SIZE: usize = 24;
/// `sizeof(ItemIdData)`.
pub const ITEM_ID_SIZE: usize = 4;
/// `PG_PAGE_LAYOUT_VERSION`.
pub const PAGE_LAYOUT_VERSION: u16 = 4;
/// `LP_NORMAL`: the line pointer is in use and has storage.
pub const LP_NORMAL: u32 = 1;
/// `InvalidBlockNumber`.
pub const INVALID_BLOCK: u32 = u32::MAX;
/// Largest tuple that fits on an otherwise empty page of ours
/// (one line pointer, our special area).
pub const MAX_TUPLE_SIZE: usize = (BLCKSZ - PAGE_HEADER_SIZE - ITEM_ID_SIZE - SPECIAL_SIZE) & !7;

/// `MAXALIGN` on every platform Postgres 15 supports in 64-bit builds.
#[inline]
pub const fn maxalign(len: usize) -> usize {
    (len + 7) & !7
}

/// The special area of every page of every semvec index family. Each family tags its pages
/// with a `page_id` of its own (hnsw, ivfflat, ... constants in their crates), so a page of one
/// family is never taken for another's, and `flags` says which kind of page it is in that family.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageOpaque {
    /// The next data page in build order ([`INVALID_BLOCK`] at the end).
    pub next_blkno: u32,
    /// The page's kind, defined by the family.
    pub flags: u16,
    /// The family's page id.
    pub page_id: u16,
}

/// `MAXALIGN(sizeof(PageOpaque))`.
pub const SPECIAL_SIZE: usize = maxalign(size_of::<PageOpaque>());

/// One 8 KiB PostgreSQL page.
#[repr(C, align(8))]
pub struct Page {
    bytes: [u8; BLCKSZ],
}

const _: () = assert!(size_of::<Page>() == BLCKSZ);
const _: () = assert!(align_of::<Page>() == 8);
const _: () = assert!(size_of::<PageOpaque>() == 8);

const OFF_LOWER: usize = 12;
const OFF_UPPER: usize = 14;
const OFF_SPECIAL: usize = 16;
const OFF_PAGESIZE_VERSION: usize = 18;

/// The decoded fields of one line pointer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ItemId {
    pub off: u16,
    pub flags: u8,
    pub len: u16,
}

impl ItemId {
    #[inline]
    pub fn decode(raw: u32) -> ItemId {
        ItemId {
            off: (raw & 0x7FFF) as u16,
            flags: ((raw >> 15) & 3) as u8,
            len: (raw >> 17) as u16,
        }
    }
    #[inline]
    pub fn encode(self) -> u32 {
        (self.off as u32 & 0x7FFF) | ((self.flags as u32 & 3) << 15) | ((self.len as u32 & 0x7FFF) << 17)
    }
}

impl Page {
    /// An all-zero ("new") page, as `P_NEW` hands out.
    pub const fn zeroed() -> Page {
        Page { bytes: [0; BLCKSZ] }
    }

    /// A heap-allocated zero page, without an 8 KiB stack temporary.
    pub fn boxed() -> Box<Page> {
        // SAFETY: all-zero bytes are a valid Page.
        unsafe { Box::<Page>::new_zeroed().assume_init() }
    }

    /// The raw bytes.
    #[inline]
    pub fn as_bytes(&self) -> &[u8; BLCKSZ] {
        &self.bytes
    }

    /// The raw bytes, writable (e.g. to copy a page).
    #[inline]
    pub fn as_bytes_mut(&mut self) -> &mut [u8; BLCKSZ] {
        &mut self.bytes
    }

    #[inline]
    fn u16_at(&self, at: usize) -> u16 {
        u16::from_le_bytes([self.bytes[at], self.bytes[at + 1]])
    }
    #[inline]
    fn set_u16_at(&mut self, at: usize, v: u16) {
        self.bytes[at..at + 2].copy_from_slice(&v.to_le_bytes());
    }

    /// `pd_lower`.
    #[inline]
    pub fn lower(&self) -> u16 {
        self.u16_at(OFF_LOWER)
    }
    /// `pd_upper`.
    #[inline]
    pub fn upper(&self) -> u16 {
        self.u16_at(OFF_UPPER)
    }
    /// `pd_special`.
    #[inline]
    pub fn special(&self) -> u16 {
        self.u16_at(OFF_SPECIAL)
    }
    /// `pd_pagesize_version`.
    #[inline]
    pub fn pagesize_version(&self) -> u16 {
        self.u16_at(OFF_PAGESIZE_VERSION)
    }

    /// `PageIsNew`: never initialised (pd_upper == 0).
    #[inline]
    pub fn is_new(&self) -> bool {
        self.upper() == 0
    }

    /// `PageInit(page, BLCKSZ, special_size)`: zero the page, set the header
    /// and reserve `MAXALIGN(special_size)` bytes at the end.
    pub fn init(&mut self, special_size: usize) {
        let special = BLCKSZ - maxalign(special_size);
        self.bytes.fill(0);
        self.set_u16_at(OFF_LOWER, PAGE_HEADER_SIZE as u16);
        self.set_u16_at(OFF_UPPER, special as u16);
        self.set_u16_at(OFF_SPECIAL, special as u16);
        self.set_u16_at(OFF_PAGESIZE_VERSION, BLCKSZ as u16 | PAGE_LAYOUT_VERSION);
    }

    /// Initialise as a page of the family `page_id`, of kind `flags`, with no next page.
    pub fn init_tagged(&mut self, page_id: u16, flags: u16) {
        self.init(SPECIAL_SIZE);
        *self.opaque_mut() = PageOpaque {
            next_blkno: INVALID_BLOCK,
            flags,
            page_id,
        };
    }

    /// Whether this is an initialised page whose special area carries `page_id`.
    pub fn is_tagged(&self, page_id: u16) -> bool {
        !self.is_new() && self.special() as usize == BLCKSZ - SPECIAL_SIZE && self.opaque().page_id == page_id
    }

    /// `PageGetMaxOffsetNumber`: number of line pointers.
    #[inline]
    pub fn len(&self) -> u16 {
        let lower = self.lower() as usize;
        if lower <= PAGE_HEADER_SIZE {
            0
        } else {
            ((lower - PAGE_HEADER_SIZE) / ITEM_ID_SIZE) as u16
        }
    }

    /// True when there is no line pointer.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `PageGetFreeSpace`: bytes available for a new tuple, after reserving
    /// its line pointer.
    #[inline]
    pub fn free_space(&self) -> usize {
        let (lower, upper) = (self.lower() as usize, self.upper() as usize);
        upper.saturating_sub(lower).saturating_sub(ITEM_ID_SIZE)
    }

    /// The line pointer of 1-based offset `off`.
    #[inline]
    pub fn item_id(&self, off: u16) -> Option<ItemId> {
        if off == 0 || off > self.len() {
            return None;
        }
        let at = PAGE_HEADER_SIZE + (off as usize - 1) * ITEM_ID_SIZE;
        let raw = u32::from_le_bytes(self.bytes[at..at + 4].try_into().unwrap());
        Some(ItemId::decode(raw))
    }

    /// Append a tuple (`PageAddItem` with a new line pointer); returns its
    /// 1-based offset number, or `None` when it does not fit.
    pub fn alloc(&mut self, data: &[u8]) -> Option<u16> {
        if data.len() > 0x7FFF || self.is_new() {
            return None;
        }
        let aligned = maxalign(data.len());
        let (lower, upper) = (self.lower() as usize, self.upper() as usize);
        if lower + ITEM_ID_SIZE + aligned > upper {
            return None;
        }
        let start = upper - aligned;
        self.bytes[start..start + data.len()].copy_from_slice(data);
        self.bytes[start + data.len()..upper].fill(0);
        let item = ItemId {
            off: start as u16,
            flags: LP_NORMAL as u8,
            len: data.len() as u16,
        };
        self.bytes[lower..lower + 4].copy_from_slice(&item.encode().to_le_bytes());
        self.set_u16_at(OFF_LOWER, (lower + ITEM_ID_SIZE) as u16);
        self.set_u16_at(OFF_UPPER, start as u16);
        Some(((lower - PAGE_HEADER_SIZE) / ITEM_ID_SIZE + 1) as u16)
    }

    #[inline]
    fn item_range(&self, off: u16) -> Option<(usize, usize)> {
        let id = self.item_id(off)?;
        if id.flags as u32 != LP_NORMAL {
            return None;
        }
        let (start, end) = (id.off as usize, id.off as usize + id.len as usize);
        // A corrupt line pointer must not let us read outside the tuple space.
        if start < self.upper() as usize || end > self.special() as usize {
            return None;
        }
        Some((start, end))
    }

    /// The bytes of the tuple at 1-based offset `off` (its `lp_len` bytes).
    #[inline]
    pub fn get(&self, off: u16) -> Option<&[u8]> {
        let (s, e) = self.item_range(off)?;
        Some(&self.bytes[s..e])
    }

    /// The tuple at `off`, writable in place (its size cannot change).
    #[inline]
    pub fn get_mut(&mut self, off: u16) -> Option<&mut [u8]> {
        let (s, e) = self.item_range(off)?;
        Some(&mut self.bytes[s..e])
    }

    /// Our special area.
    #[inline]
    pub fn opaque(&self) -> &PageOpaque {
        let at = BLCKSZ - SPECIAL_SIZE;
        // SAFETY: `at` is 8-aligned inside an 8-aligned page and PageOpaque is
        // plain old data of 8 bytes.
        unsafe { &*(self.bytes.as_ptr().add(at) as *const PageOpaque) }
    }

    /// Our special area, writable.
    #[inline]
    pub fn opaque_mut(&mut self) -> &mut PageOpaque {
        let at = BLCKSZ - SPECIAL_SIZE;
        // SAFETY: as in `opaque`.
        unsafe { &mut *(self.bytes.as_mut_ptr().add(at) as *mut PageOpaque) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST_ID: u16 = 0xFF00;
    const TEST_KIND: u16 = 2;

    #[test]
    fn init_sets_postgres_header_fields() {
        let mut p = Page::boxed();
        assert!(p.is_new());
        p.init_tagged(TEST_ID, TEST_KIND);
        let b = p.as_bytes();
        assert_eq!(u16::from_le_bytes([b[12], b[13]]), 24, "pd_lower");
        assert_eq!(u16::from_le_bytes([b[14], b[15]]), 8184, "pd_upper");
        assert_eq!(u16::from_le_bytes([b[16], b[17]]), 8184, "pd_special");
        assert_eq!(u16::from_le_bytes([b[18], b[19]]), 8192 | 4, "pd_pagesize_version");
        assert_eq!(&b[8184..8188], &u32::MAX.to_le_bytes(), "next_blkno");
        assert_eq!(&b[8188..8190], &TEST_KIND.to_le_bytes());
        assert_eq!(&b[8190..8192], &TEST_ID.to_le_bytes());
        assert!(p.is_tagged(TEST_ID));
        assert!(!p.is_tagged(TEST_ID + 1));
        assert_eq!(p.free_space(), 8184 - 24 - 4);
    }

    #[test]
    fn line_pointer_uses_postgres_bitfield_layout() {
        let mut p = Page::boxed();
        p.init_tagged(TEST_ID, TEST_KIND);
        let off = p.alloc(&[7u8; 13]).unwrap();
        assert_eq!(off, 1);
        let raw = u32::from_le_bytes(p.as_bytes()[24..28].try_into().unwrap());
        // lp_off = 8184 - 16 = 8168, lp_flags = LP_NORMAL, lp_len = 13
        assert_eq!(raw, 8168 | (1 << 15) | (13 << 17));
        assert_eq!(p.upper(), 8168);
        assert_eq!(p.lower(), 28);
        assert_eq!(p.get(1).unwrap(), &[7u8; 13]);
        assert!(p.as_bytes()[8181..8184].iter().all(|&x| x == 0), "padding is zeroed");
    }

    #[test]
    fn tuples_round_trip_and_stay_maxaligned() {
        let mut p = Page::boxed();
        p.init_tagged(TEST_ID, TEST_KIND);
        let mut offs = Vec::new();
        for i in 0..20u8 {
            let t: Vec<u8> = (0..(i as usize * 3 + 1)).map(|j| i ^ j as u8).collect();
            let o = p.alloc(&t).unwrap();
            offs.push((o, t));
        }
        for (i, (o, t)) in offs.iter().enumerate() {
            assert_eq!(*o as usize, i + 1);
            assert_eq!(p.get(*o).unwrap(), &t[..]);
            assert_eq!(p.item_id(*o).unwrap().off % 8, 0);
        }
        p.get_mut(3).unwrap()[0] = 0xAB;
        assert_eq!(p.get(3).unwrap()[0], 0xAB);
        assert_eq!(p.len(), 20);
        assert!(p.get(0).is_none());
        assert!(p.get(21).is_none());
    }

    #[test]
    fn alloc_refuses_when_full_and_accounts_free_space() {
        let mut p = Page::boxed();
        p.init_tagged(TEST_ID, TEST_KIND);
        let mut n = 0;
        while p.alloc(&[1u8; 100]).is_some() {
            n += 1;
        }
        // (104 + 4) bytes per tuple out of 8160
        assert_eq!(n, 8160 / 108);
        assert!(p.free_space() < 104);
        let mut q = Page::boxed();
        q.init_tagged(TEST_ID, TEST_KIND);
        assert!(q.alloc(&vec![0u8; MAX_TUPLE_SIZE]).is_some());
        let mut r = Page::boxed();
        r.init_tagged(TEST_ID, TEST_KIND);
        assert!(r.alloc(&vec![0u8; MAX_TUPLE_SIZE + 1]).is_none());
    }

    #[test]
    fn new_page_accepts_nothing() {
        let mut p = Page::boxed();
        assert!(p.alloc(&[1]).is_none());
        assert_eq!(p.len(), 0);
        assert!(!p.is_tagged(TEST_ID));
    }
}
