//! Visited sets for graph traversal, cleared in O(1) by bumping a generation.

/// Visited set keyed by dense node ids (the in-memory build).
pub(crate) struct VisitedList {
    stamps: Vec<u32>,
    generation: u32,
}

impl VisitedList {
    pub fn new(n: usize) -> Self {
        VisitedList {
            stamps: vec![0; n],
            generation: 1,
        }
    }
    pub fn clear(&mut self) {
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamps.fill(0);
            self.generation = 1;
        }
    }
    /// Marks `id`; true when it was not marked yet.
    #[inline]
    pub fn insert(&mut self, id: u32) -> bool {
        let s = &mut self.stamps[id as usize];
        if *s == self.generation {
            false
        } else {
            *s = self.generation;
            true
        }
    }
}

/// Open-addressing hash set of packed TIDs (`Tid::to_u64`) with one flag bit
/// per entry ("expanded"), for on-disk searches where ids are sparse.
pub(crate) struct VisitedTids {
    keys: Vec<u64>,
    stamps: Vec<u32>,
    generation: u32,
    len: usize,
    mask: usize,
}

const EXPANDED: u64 = 1 << 63;

impl VisitedTids {
    pub fn new() -> Self {
        let cap = 1024;
        VisitedTids {
            keys: vec![0; cap],
            stamps: vec![0; cap],
            generation: 1,
            len: 0,
            mask: cap - 1,
        }
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.stamps.fill(0);
            self.generation = 1;
        }
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    #[inline]
    fn slot(&self, key: u64) -> usize {
        // Fibonacci hashing: TIDs differ mostly in low bits of the block.
        (key.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 32) as usize & self.mask
    }

    #[inline]
    fn find(&self, key: u64) -> (usize, bool) {
        let mut i = self.slot(key);
        loop {
            if self.stamps[i] != self.generation {
                return (i, false);
            }
            if self.keys[i] & !EXPANDED == key {
                return (i, true);
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Marks `key`; true when it was not marked yet.
    #[inline]
    pub fn insert(&mut self, key: u64) -> bool {
        if (self.len + 1) * 2 > self.keys.len() {
            self.grow();
        }
        let (i, found) = self.find(key);
        if found {
            return false;
        }
        self.keys[i] = key;
        self.stamps[i] = self.generation;
        self.len += 1;
        true
    }

    /// Sets the expanded flag of a key (inserting it if needed); true when it
    /// was not expanded before.
    #[inline]
    pub fn set_expanded(&mut self, key: u64) -> bool {
        self.insert(key);
        let (i, _) = self.find(key);
        let was = self.keys[i] & EXPANDED != 0;
        self.keys[i] |= EXPANDED;
        !was
    }

    fn grow(&mut self) {
        let old_keys = std::mem::take(&mut self.keys);
        let old_stamps = std::mem::take(&mut self.stamps);
        let cap = old_keys.len() * 2;
        self.keys = vec![0; cap];
        self.stamps = vec![0; cap];
        self.mask = cap - 1;
        let g = self.generation;
        for (k, s) in old_keys.into_iter().zip(old_stamps) {
            if s == g {
                let (i, _) = self.find(k & !EXPANDED);
                self.keys[i] = k;
                self.stamps[i] = g;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn tid_set_behaves_like_a_hash_set_across_growth_and_clears() {
        let mut v = VisitedTids::new();
        for round in 0..3u64 {
            let mut reference = HashSet::new();
            for i in 0..5000u64 {
                let k = ((i * 7919 + round) % 3001) << 16 | (i % 7);
                assert_eq!(v.insert(k), reference.insert(k));
            }
            assert_eq!(v.len(), reference.len());
            let k = *reference.iter().next().unwrap();
            assert!(v.set_expanded(k));
            assert!(!v.set_expanded(k));
            assert!(!v.insert(k));
            v.clear();
            assert_eq!(v.len(), 0);
            assert!(v.insert(k));
            v.clear();
        }
    }

    #[test]
    fn id_list_clears_by_generation() {
        let mut v = VisitedList::new(10);
        assert!(v.insert(3));
        assert!(!v.insert(3));
        v.clear();
        assert!(v.insert(3));
    }
}
