//! Byte encodings: varints, impacts and the posting block.
//!
//! A posting block is one tuple of up to [`BLOCK_POSTINGS`] postings of one term, in TID order:
//!
//! ```text
//! 0  count u16 | 2 data_len u16 | 4 n_impacts u8 | 5..8 zero
//! 8  first u64: the first posting's TID key (Tid::to_u64)
//! 16 last u64: >= the last posting's key (exact when written; vacuum may leave it stale-high)
//! 24 impacts: MAX_IMPACTS slots of (tf u32, doc length u32), n_impacts of them used
//! 56 data: per posting varint(key - previous key, the first against `first`), varint(tf), varint(doc length)
//! ```
//!
//! The header has a fixed size, so vacuum can rewrite a block in place with fewer postings (the
//! tuple keeps its length; `data_len` says how much of it is used).

use semvec_bm25::Bm25Params;

/// Postings per block (Lucene's and pg_textsearch's choice).
pub const BLOCK_POSTINGS: usize = 128;
/// Impacts kept per block and per term.
pub const MAX_IMPACTS: usize = 4;
/// Bytes before a block's posting data.
pub const BLOCK_HEADER_SIZE: usize = 24 + 8 * MAX_IMPACTS;
/// Largest encoded block: header plus three 10-byte varints per posting.
pub const MAX_BLOCK_SIZE: usize = BLOCK_HEADER_SIZE + BLOCK_POSTINGS * 30;

/// One document in a term's posting list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Posting {
    /// The heap TID as [`semvec_storage::Tid::to_u64`].
    pub key: u64,
    /// Term frequency (number of positions; 1 when stripped; 0 in the document list).
    pub tf: u32,
    /// Document length (sum of the document's term frequencies).
    pub len: u32,
}

/// A raw (term frequency, document length) pair: every posting it covers has a tf at most `tf`
/// and a length at least `len`, so BM25 at `(tf, len)` bounds theirs for any N, avgdl and idf.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Impact {
    pub tf: u32,
    pub len: u32,
}

impl Impact {
    /// Whether this impact's bound covers `p`.
    #[inline]
    pub fn covers(&self, tf: u32, len: u32) -> bool {
        self.tf >= tf && self.len <= len
    }
}

/// The largest term score (before the query weight) any posting covered by `impacts` can have.
#[inline]
pub fn impacts_bound(params: &Bm25Params, impacts: &[Impact], avg_len: f64) -> f64 {
    impacts
        .iter()
        .map(|i| params.term_score(i.tf, i.len as u64, avg_len))
        .fold(0.0, f64::max)
}

pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

#[inline(always)]
pub fn get_varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    // Most tfs, lengths and many key gaps take one byte.
    match b.get(*pos) {
        Some(&byte) if byte < 0x80 => {
            *pos += 1;
            Some(byte as u64)
        }
        _ => get_varint_long(b, pos),
    }
}

#[inline(never)]
fn get_varint_long(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    let mut shift = 0;
    loop {
        let byte = *b.get(*pos)?;
        *pos += 1;
        if shift == 63 && byte > 1 {
            return None;
        }
        v |= ((byte & 0x7F) as u64) << shift;
        if byte < 0x80 {
            return Some(v);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// The Pareto frontier of `(tf, len)` pairs (no pair has both a higher-or-equal tf and a
/// lower-or-equal length than another), cut to [`MAX_IMPACTS`] by merging neighbours into
/// (larger tf, smaller length), which covers both. Sorted by tf ascending (and length ascending).
pub fn frontier(pairs: impl IntoIterator<Item = (u32, u32)>) -> Vec<Impact> {
    let mut all: Vec<Impact> = pairs.into_iter().map(|(tf, len)| Impact { tf, len }).collect();
    // By tf descending, then length ascending: a pair survives when its length is below every
    // length seen so far (all of which have a tf at least as high).
    all.sort_unstable_by(|a, b| b.tf.cmp(&a.tf).then(a.len.cmp(&b.len)));
    let mut out: Vec<Impact> = Vec::new();
    for i in all {
        if out.last().is_none_or(|l| i.len < l.len) {
            out.push(i);
        }
    }
    out.reverse();
    while out.len() > MAX_IMPACTS {
        // Merge the neighbours closest in length (relative), losing the least tightness.
        let j = (0..out.len() - 1)
            .min_by(|&a, &b| {
                let ra = out[a + 1].len as f64 / (out[a].len as f64 + 1.0);
                let rb = out[b + 1].len as f64 / (out[b].len as f64 + 1.0);
                ra.total_cmp(&rb)
            })
            .unwrap();
        out[j] = Impact {
            tf: out[j + 1].tf,
            len: out[j].len,
        };
        out.remove(j + 1);
    }
    out
}

/// The fixed-size header of a posting block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockHeader {
    pub count: u16,
    pub data_len: u16,
    pub n_impacts: u8,
    pub first: u64,
    pub last: u64,
    pub impacts: [Impact; MAX_IMPACTS],
}

impl BlockHeader {
    pub fn impacts(&self) -> &[Impact] {
        &self.impacts[..self.n_impacts as usize]
    }

    pub fn read(b: &[u8]) -> Option<BlockHeader> {
        if b.len() < BLOCK_HEADER_SIZE {
            return None;
        }
        let u16_at = |at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
        let u32_at = |at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
        let mut impacts = [Impact::default(); MAX_IMPACTS];
        for (i, imp) in impacts.iter_mut().enumerate() {
            *imp = Impact {
                tf: u32_at(24 + 8 * i),
                len: u32_at(28 + 8 * i),
            };
        }
        let h = BlockHeader {
            count: u16_at(0),
            data_len: u16_at(2),
            n_impacts: b[4],
            first: u64_at(8),
            last: u64_at(16),
            impacts,
        };
        if h.n_impacts as usize > MAX_IMPACTS || BLOCK_HEADER_SIZE + h.data_len as usize > b.len() || h.count as usize > BLOCK_POSTINGS {
            return None;
        }
        Some(h)
    }

    pub fn write(&self, b: &mut [u8]) {
        b[0..2].copy_from_slice(&self.count.to_le_bytes());
        b[2..4].copy_from_slice(&self.data_len.to_le_bytes());
        b[4] = self.n_impacts;
        b[5..8].fill(0);
        b[8..16].copy_from_slice(&self.first.to_le_bytes());
        b[16..24].copy_from_slice(&self.last.to_le_bytes());
        for (i, imp) in self.impacts.iter().enumerate() {
            b[24 + 8 * i..28 + 8 * i].copy_from_slice(&imp.tf.to_le_bytes());
            b[28 + 8 * i..32 + 8 * i].copy_from_slice(&imp.len.to_le_bytes());
        }
    }
}

/// Fill `impacts` slots from a frontier.
pub fn impact_slots(f: &[Impact]) -> ([Impact; MAX_IMPACTS], u8) {
    let mut slots = [Impact::default(); MAX_IMPACTS];
    slots[..f.len()].copy_from_slice(f);
    (slots, f.len() as u8)
}

/// Encode `postings` (sorted by key, 1..=BLOCK_POSTINGS of them) as one block tuple.
pub fn encode_block(postings: &[Posting]) -> Vec<u8> {
    let mut out = vec![0u8; BLOCK_HEADER_SIZE];
    encode_block_into(postings, &mut out);
    out
}

/// Encode into `out` (at least the header long): header and data; returns the bytes used.
fn encode_block_into(postings: &[Posting], out: &mut Vec<u8>) -> usize {
    debug_assert!(postings.len() <= BLOCK_POSTINGS);
    debug_assert!(postings.windows(2).all(|w| w[0].key < w[1].key));
    out.truncate(BLOCK_HEADER_SIZE);
    let first = postings.first().map_or(0, |p| p.key);
    let mut prev = first;
    for p in postings {
        put_varint(out, p.key - prev);
        put_varint(out, p.tf as u64);
        put_varint(out, p.len as u64);
        prev = p.key;
    }
    let (impacts, n_impacts) = impact_slots(&frontier(postings.iter().map(|p| (p.tf, p.len))));
    let h = BlockHeader {
        count: postings.len() as u16,
        data_len: (out.len() - BLOCK_HEADER_SIZE) as u16,
        n_impacts,
        first,
        last: prev,
        impacts,
    };
    h.write(&mut out[..BLOCK_HEADER_SIZE]);
    out.len()
}

/// Rewrite a block tuple in place with `postings` (a subset of its own, so the encoding fits);
/// when `postings` is empty the block keeps its `first` / `last` keys (still ordered among its
/// neighbours) with count 0. The tuple keeps its length; unused bytes are zeroed.
pub fn rewrite_block(tuple: &mut [u8], postings: &[Posting]) {
    let old = BlockHeader::read(tuple).expect("block header");
    let mut buf = Vec::with_capacity(tuple.len());
    buf.resize(BLOCK_HEADER_SIZE, 0);
    let used = encode_block_into(postings, &mut buf);
    assert!(used <= tuple.len(), "a block's postings cannot grow when some are removed");
    tuple[..used].copy_from_slice(&buf);
    tuple[used..].fill(0);
    if postings.is_empty() {
        let h = BlockHeader {
            first: old.first,
            last: old.last,
            ..BlockHeader::read(tuple).unwrap()
        };
        h.write(tuple);
    } else {
        // Keep `last` at its old value: the range the block covers only shrinks, and a cursor
        // that read the old header between two vacuum steps still navigates the same ranges.
        let h = BlockHeader {
            last: old.last,
            ..BlockHeader::read(tuple).unwrap()
        };
        h.write(tuple);
    }
}

/// Decode a block's postings into `out` (cleared first). None on corrupt data.
pub fn decode_block(tuple: &[u8], out: &mut Vec<Posting>) -> Option<BlockHeader> {
    let h = BlockHeader::read(tuple)?;
    out.clear();
    let data = &tuple[BLOCK_HEADER_SIZE..BLOCK_HEADER_SIZE + h.data_len as usize];
    let mut pos = 0;
    let mut key = h.first;
    for _ in 0..h.count {
        out.push(read_posting(data, &mut pos, &mut key)?);
    }
    (pos == data.len()).then_some(h)
}

/// The posting at `pos` of a block's data, whose previous key is `key`; advances both.
#[inline]
fn read_posting(data: &[u8], pos: &mut usize, key: &mut u64) -> Option<Posting> {
    *key = key.checked_add(get_varint(data, pos)?)?;
    let tf = u32::try_from(get_varint(data, pos)?).ok()?;
    let len = u32::try_from(get_varint(data, pos)?).ok()?;
    Some(Posting { key: *key, tf, len })
}

/// A posting block that does not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BadBlock;

/// Decodes one block's postings one at a time, from a copy of its data, so a search stops
/// where its target is and decodes the rest only if it comes back for it.
#[derive(Default)]
pub struct BlockReader {
    data: Vec<u8>,
    pos: usize,
    left: u16,
    key: u64,
}

impl BlockReader {
    /// Start on `tuple` (a posting block); its header, or None if malformed.
    pub fn load(&mut self, tuple: &[u8]) -> Option<BlockHeader> {
        let h = BlockHeader::read(tuple)?;
        self.data.clear();
        self.data
            .extend_from_slice(&tuple[BLOCK_HEADER_SIZE..BLOCK_HEADER_SIZE + h.data_len as usize]);
        (self.pos, self.left, self.key) = (0, h.count, h.first);
        Some(h)
    }

    /// The next posting: `Ok(None)` after the last, `Err(BadBlock)` if the block is malformed
    /// (as [`decode_block`] would find it).
    #[inline]
    pub fn next_posting(&mut self) -> Result<Option<Posting>, BadBlock> {
        if self.left == 0 {
            return Ok(None);
        }
        let p = read_posting(&self.data, &mut self.pos, &mut self.key).ok_or(BadBlock)?;
        self.left -= 1;
        if self.left == 0 && self.pos != self.data.len() {
            return Err(BadBlock);
        }
        Ok(Some(p))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn varints_round_trip_at_their_edges() {
        for v in [0u64, 1, 127, 128, 16383, 16384, u32::MAX as u64, u64::MAX - 1, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            let mut pos = 0;
            assert_eq!(get_varint(&b, &mut pos), Some(v));
            assert_eq!(pos, b.len());
            assert_eq!(b.len(), (64 - v.leading_zeros() as usize).div_ceil(7).max(1));
        }
        assert_eq!(get_varint(&[0x80], &mut 0), None, "truncated");
        assert_eq!(get_varint(&[0xFF; 11], &mut 0), None, "too long");
    }

    #[test]
    fn frontier_keeps_only_undominated_pairs() {
        let f = frontier([(1, 10), (2, 10), (2, 20), (3, 30), (1, 5), (3, 25)]);
        assert_eq!(f, [Impact { tf: 1, len: 5 }, Impact { tf: 2, len: 10 }, Impact { tf: 3, len: 25 }]);
        assert!(frontier([]).is_empty());
    }

    #[test]
    fn merged_frontier_still_covers_every_pair() {
        let pairs: Vec<(u32, u32)> = (1..20).map(|i| (i, i * 7)).collect();
        let f = frontier(pairs.iter().copied());
        assert_eq!(f.len(), MAX_IMPACTS);
        for (tf, len) in pairs {
            assert!(f.iter().any(|i| i.covers(tf, len)), "({tf}, {len}) uncovered by {f:?}");
        }
    }

    #[test]
    fn emptied_block_keeps_its_key_range() {
        let ps: Vec<Posting> = (0..5)
            .map(|i| Posting {
                key: 100 + i * 3,
                tf: 1,
                len: 4,
            })
            .collect();
        let mut t = encode_block(&ps);
        rewrite_block(&mut t, &[]);
        let mut out = Vec::new();
        let h = decode_block(&t, &mut out).unwrap();
        assert!(out.is_empty());
        assert_eq!((h.count, h.first, h.last), (0, 100, 112));
    }

    fn postings() -> impl Strategy<Value = Vec<Posting>> {
        proptest::collection::btree_map(0u64..(1 << 40), (0u32..300, 0u32..100_000), 1..=BLOCK_POSTINGS)
            .prop_map(|m| m.into_iter().map(|(key, (tf, len))| Posting { key, tf, len }).collect())
    }

    proptest! {
        #[test]
        fn blocks_round_trip_and_their_impacts_cover_every_posting(ps in postings()) {
            let t = encode_block(&ps);
            prop_assert!(t.len() <= MAX_BLOCK_SIZE);
            let mut out = Vec::new();
            let h = decode_block(&t, &mut out).unwrap();
            prop_assert_eq!(&out, &ps);
            prop_assert_eq!(h.first, ps[0].key);
            prop_assert_eq!(h.last, ps.last().unwrap().key);
            for p in &ps {
                prop_assert!(h.impacts().iter().any(|i| i.covers(p.tf, p.len)));
            }
        }

        #[test]
        fn rewriting_with_a_subset_fits_and_round_trips(ps in postings(), keep in proptest::collection::vec(any::<bool>(), BLOCK_POSTINGS)) {
            let mut t = encode_block(&ps);
            let len = t.len();
            let kept: Vec<Posting> = ps.iter().zip(&keep).filter(|(_, k)| **k).map(|(p, _)| *p).collect();
            rewrite_block(&mut t, &kept);
            prop_assert_eq!(t.len(), len);
            let mut out = Vec::new();
            let h = decode_block(&t, &mut out).unwrap();
            prop_assert_eq!(&out, &kept);
            prop_assert_eq!(h.last, ps.last().unwrap().key);
        }

        #[test]
        fn corrupt_blocks_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut out = Vec::new();
            let _ = decode_block(&bytes, &mut out);
        }
    }
}
