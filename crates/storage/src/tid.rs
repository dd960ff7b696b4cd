//! Tuple identifiers, laid out like PostgreSQL's `ItemPointerData`.

use crate::page::INVALID_BLOCK;

/// A tuple identifier: a heap row (`ItemPointerData`) or one of our tuples.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tid {
    pub block: u32,
    /// 1-based line pointer number.
    pub offset: u16,
}

impl Tid {
    pub const INVALID: Tid = Tid {
        block: INVALID_BLOCK,
        offset: 0,
    };

    #[inline]
    pub const fn new(block: u32, offset: u16) -> Tid {
        Tid { block, offset }
    }
    #[inline]
    pub fn is_valid(self) -> bool {
        self.block != INVALID_BLOCK
    }
    /// Packs into a u64 key (block << 16 | offset), ordered like the TID.
    #[inline]
    pub fn to_u64(self) -> u64 {
        ((self.block as u64) << 16) | self.offset as u64
    }
    #[inline]
    pub fn from_u64(v: u64) -> Tid {
        Tid {
            block: (v >> 16) as u32,
            offset: v as u16,
        }
    }
    #[inline]
    pub fn read(b: &[u8]) -> Tid {
        let hi = u16::from_le_bytes([b[0], b[1]]) as u32;
        let lo = u16::from_le_bytes([b[2], b[3]]) as u32;
        Tid {
            block: (hi << 16) | lo,
            offset: u16::from_le_bytes([b[4], b[5]]),
        }
    }
    #[inline]
    pub fn write(self, b: &mut [u8]) {
        b[0..2].copy_from_slice(&((self.block >> 16) as u16).to_le_bytes());
        b[2..4].copy_from_slice(&(self.block as u16).to_le_bytes());
        b[4..6].copy_from_slice(&self.offset.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tid_uses_item_pointer_layout() {
        let mut b = [0u8; 6];
        Tid::new(0x0001_0002, 7).write(&mut b);
        assert_eq!(b, [1, 0, 2, 0, 7, 0]);
        assert_eq!(Tid::read(&b), Tid::new(0x0001_0002, 7));
        assert!(!Tid::INVALID.is_valid());
    }

    #[test]
    fn u64_keys_round_trip_and_sort_like_tids() {
        let a = Tid::new(3, 9);
        let b = Tid::new(4, 1);
        assert_eq!(Tid::from_u64(a.to_u64()), a);
        assert!(a.to_u64() < b.to_u64() && a < b);
    }
}
