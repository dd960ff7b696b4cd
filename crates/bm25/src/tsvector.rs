//! A read-only view of PostgreSQL's on-disk `tsvector` (`TSVectorData` in `tsearch/ts_type.h`).
//!
//! Layout, after the 4-byte varlena header: `int32 size`, then `size` `WordEntry` words
//! (bit 0 `haspos`, bits 1-11 the lexeme's byte length, bits 12-31 its offset into the string area),
//! then the string area. A lexeme with positions is followed, at the next 2-byte boundary of the
//! string area, by `uint16 npos` and `npos` `WordEntryPos` values. Entries are sorted by lexeme bytes
//! (shorter first on a common prefix), which is the order of Rust's `[u8]`.
//!
//! The `WordEntry` bit-field order is the one C compilers use on little-endian targets, the only
//! ones the extension is built for.

use crate::error::Bm25Error;

/// `to_tsvector` records at most this many positions of one lexeme (`MAXNUMPOS - 1`), so term
/// frequencies saturate there; positions past 16383 also collapse into one.
pub const MAX_POSITIONS_PER_LEXEME: u32 = 255;

const VARHDRSZ: usize = 4;
const DATAHDRSIZE: usize = VARHDRSZ + 4;
const WORD_ENTRY_SIZE: usize = 4;

/// One lexeme of a tsvector and how many positions it records (`None` when stripped).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TsEntry<'a> {
    pub lexeme: &'a [u8],
    pub positions: Option<u16>,
}

impl TsEntry<'_> {
    /// BM25 term frequency: the number of positions, or 1 for a lexeme without positions.
    #[inline]
    pub fn term_frequency(&self) -> u32 {
        match self.positions {
            Some(n) if n > 0 => n as u32,
            _ => 1,
        }
    }
}

#[cfg(target_endian = "big")]
compile_error!("the tsvector reader assumes little-endian WordEntry bit-fields");

/// A validated view of a detoasted `tsvector` (the whole varlena, header included).
#[derive(Debug, Clone, Copy)]
pub struct TsVector<'a> {
    bytes: &'a [u8],
    size: usize,
}

impl<'a> TsVector<'a> {
    /// Check the header and every entry's bounds once, so lookups need no further checks.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, Bm25Error> {
        if bytes.len() < DATAHDRSIZE {
            return Err(Bm25Error::corrupted(format!("{} bytes is shorter than the header", bytes.len())));
        }
        let size = i32::from_ne_bytes(bytes[VARHDRSZ..DATAHDRSIZE].try_into().unwrap());
        let strings = usize::try_from(size)
            .ok()
            .and_then(|n| n.checked_mul(WORD_ENTRY_SIZE))
            .and_then(|n| n.checked_add(DATAHDRSIZE))
            .filter(|&end| end <= bytes.len())
            .ok_or_else(|| Bm25Error::corrupted(format!("{size} entries do not fit in {} bytes", bytes.len())))?;
        let tv = TsVector {
            bytes,
            size: size as usize,
        };
        for i in 0..tv.size {
            tv.checked_entry(i, strings)?;
        }
        Ok(tv)
    }

    /// Number of distinct lexemes.
    #[inline]
    pub fn len(&self) -> usize {
        self.size
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.size == 0
    }

    #[inline]
    fn word(&self, i: usize) -> u32 {
        let at = DATAHDRSIZE + i * WORD_ENTRY_SIZE;
        u32::from_ne_bytes(self.bytes[at..at + WORD_ENTRY_SIZE].try_into().unwrap())
    }

    #[inline]
    fn strings_start(&self) -> usize {
        DATAHDRSIZE + self.size * WORD_ENTRY_SIZE
    }

    fn checked_entry(&self, i: usize, strings: usize) -> Result<(), Bm25Error> {
        let w = self.word(i);
        let (haspos, len, pos) = (w & 1 != 0, ((w >> 1) & 0x7FF) as usize, (w >> 12) as usize);
        let end = strings + pos + len;
        if end > self.bytes.len() {
            return Err(Bm25Error::corrupted(format!("lexeme {i} ends past the value")));
        }
        if haspos {
            let at = strings + ((pos + len + 1) & !1);
            if at + 2 > self.bytes.len() {
                return Err(Bm25Error::corrupted(format!("positions of lexeme {i} start past the value")));
            }
            let npos = u16::from_ne_bytes([self.bytes[at], self.bytes[at + 1]]) as usize;
            if at + 2 + 2 * npos > self.bytes.len() {
                return Err(Bm25Error::corrupted(format!("positions of lexeme {i} end past the value")));
            }
        }
        Ok(())
    }

    /// The `i`-th entry in stored (sorted) order.
    pub fn entry(&self, i: usize) -> TsEntry<'a> {
        let w = self.word(i);
        let (haspos, len, pos) = (w & 1 != 0, ((w >> 1) & 0x7FF) as usize, (w >> 12) as usize);
        let s = self.strings_start() + pos;
        let lexeme = &self.bytes[s..s + len];
        let positions = haspos.then(|| {
            let at = self.strings_start() + ((pos + len + 1) & !1);
            u16::from_ne_bytes([self.bytes[at], self.bytes[at + 1]])
        });
        TsEntry { lexeme, positions }
    }

    pub fn entries(&self) -> impl Iterator<Item = TsEntry<'a>> + '_ {
        (0..self.size).map(|i| self.entry(i))
    }

    /// Binary search for a lexeme.
    pub fn find(&self, lexeme: &[u8]) -> Option<TsEntry<'a>> {
        let (mut lo, mut hi) = (0usize, self.size);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let e = self.entry(mid);
            match e.lexeme.cmp(lexeme) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Some(e),
            }
        }
        None
    }

    /// How often `lexeme` occurs in the document (0 when absent).
    #[inline]
    pub fn term_frequency(&self, lexeme: &[u8]) -> u32 {
        self.find(lexeme).map_or(0, |e| e.term_frequency())
    }

    /// BM25 document length: the sum of all term frequencies (= the number of positions when the
    /// vector keeps them).
    pub fn document_length(&self) -> u64 {
        self.entries().map(|e| e.term_frequency() as u64).sum()
    }
}

/// Build a tsvector's varlena bytes the way PostgreSQL lays them out (tests and property checks).
#[cfg(test)]
pub(crate) fn build(entries: &[(&[u8], Option<&[u16]>)]) -> Vec<u8> {
    let mut sorted: Vec<_> = entries.to_vec();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let mut words = Vec::new();
    let mut strings: Vec<u8> = Vec::new();
    for (lex, pos) in &sorted {
        let off = strings.len();
        strings.extend_from_slice(lex);
        let haspos = pos.is_some() as u32;
        words.push(haspos | ((lex.len() as u32) << 1) | ((off as u32) << 12));
        if let Some(p) = pos {
            if strings.len() % 2 == 1 {
                strings.push(0);
            }
            strings.extend_from_slice(&(p.len() as u16).to_ne_bytes());
            for x in *p {
                strings.extend_from_slice(&x.to_ne_bytes());
            }
        }
    }
    let total = DATAHDRSIZE + words.len() * WORD_ENTRY_SIZE + strings.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&((total as u32) << 2).to_ne_bytes());
    out.extend_from_slice(&(sorted.len() as i32).to_ne_bytes());
    for w in words {
        out.extend_from_slice(&w.to_ne_bytes());
    }
    out.extend_from_slice(&strings);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn positions_count_as_term_frequency_and_sum_to_document_length() {
        // to_tsvector('english', 'running runs ran dogs') = 'dog':4 'ran':3 'run':1,2
        let bytes = build(&[(b"run", Some(&[1, 2])), (b"ran", Some(&[3])), (b"dog", Some(&[4]))]);
        let tv = TsVector::parse(&bytes).unwrap();
        assert_eq!(tv.len(), 3);
        assert_eq!(tv.term_frequency(b"run"), 2);
        assert_eq!(tv.term_frequency(b"dog"), 1);
        assert_eq!(tv.term_frequency(b"cat"), 0);
        assert_eq!(tv.document_length(), 4);
        let lexemes: Vec<_> = tv.entries().map(|e| e.lexeme).collect();
        assert_eq!(lexemes, [&b"dog"[..], b"ran", b"run"]);
    }

    #[test]
    fn stripped_lexemes_count_once() {
        let bytes = build(&[(b"run", None), (b"dog", None), (b"cats", Some(&[7, 9, 11]))]);
        let tv = TsVector::parse(&bytes).unwrap();
        assert_eq!(tv.term_frequency(b"run"), 1);
        assert_eq!(tv.term_frequency(b"cats"), 3);
        assert_eq!(tv.document_length(), 5);
        assert_eq!(tv.find(b"run").unwrap().positions, None);
    }

    #[test]
    fn empty_tsvector_has_length_zero() {
        let bytes = build(&[]);
        let tv = TsVector::parse(&bytes).unwrap();
        assert!(tv.is_empty());
        assert_eq!(tv.document_length(), 0);
        assert_eq!(tv.term_frequency(b"x"), 0);
    }

    #[test]
    fn odd_length_lexemes_align_their_positions_to_two_bytes() {
        // "a" (1 byte) then its positions start at offset 2 of the string area.
        let bytes = build(&[(b"a", Some(&[5, 6, 7])), (b"bb", Some(&[1]))]);
        let tv = TsVector::parse(&bytes).unwrap();
        assert_eq!(tv.term_frequency(b"a"), 3);
        assert_eq!(tv.term_frequency(b"bb"), 1);
    }

    #[test]
    fn shorter_lexeme_sorts_before_its_extensions() {
        let bytes = build(&[(b"abc", Some(&[1])), (b"ab", Some(&[2, 3])), (b"abd", Some(&[4]))]);
        let tv = TsVector::parse(&bytes).unwrap();
        assert_eq!(tv.term_frequency(b"ab"), 2);
        assert_eq!(tv.term_frequency(b"abc"), 1);
        assert_eq!(tv.term_frequency(b"abd"), 1);
        assert_eq!(tv.term_frequency(b"a"), 0);
    }

    #[test]
    fn truncated_or_lying_values_are_rejected() {
        assert!(TsVector::parse(&[0, 0, 0]).is_err());
        let mut bytes = build(&[(b"word", Some(&[1, 2]))]);
        bytes.truncate(bytes.len() - 1);
        assert!(TsVector::parse(&bytes).is_err());
        let mut bytes = build(&[(b"word", None)]);
        bytes[4..8].copy_from_slice(&1000i32.to_ne_bytes());
        assert!(TsVector::parse(&bytes).is_err());
        let mut bytes = build(&[(b"word", None)]);
        bytes[4..8].copy_from_slice(&(-1i32).to_ne_bytes());
        assert!(TsVector::parse(&bytes).is_err());
    }

    proptest! {
        #[test]
        fn lookup_finds_every_lexeme_with_its_count(
            words in proptest::collection::btree_map("[a-z']{1,12}", proptest::option::of(1u16..300), 0..40)
        ) {
            let owned: Vec<(Vec<u8>, Option<Vec<u16>>)> = words.iter()
                .map(|(w, n)| (w.as_bytes().to_vec(), n.map(|n| (1..=n).collect())))
                .collect();
            let refs: Vec<(&[u8], Option<&[u16]>)> = owned.iter().map(|(w, p)| (&w[..], p.as_deref())).collect();
            let bytes = build(&refs);
            let tv = TsVector::parse(&bytes).unwrap();
            let mut total = 0u64;
            for (w, n) in &words {
                let want = n.map_or(1, |n| n as u32);
                prop_assert_eq!(tv.term_frequency(w.as_bytes()), want);
                total += want as u64;
            }
            prop_assert_eq!(tv.document_length(), total);
            prop_assert_eq!(tv.term_frequency(b"0absent"), 0);
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            if let Ok(tv) = TsVector::parse(&bytes) {
                let _ = tv.document_length();
                let _ = tv.term_frequency(b"x");
            }
        }
    }
}
