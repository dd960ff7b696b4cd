//! Filter keys: the extra columns of `USING hnsw (embedding vector_cosine_ops, tenant_id, labels)`.
//!
//! An index with key columns stores, in each element's payload, the vector followed by its keys:
//!
//! ```text
//! vector bytes | per key column: u16 n, n x u64 value | u16 length of the key section
//! ```
//!
//! (little-endian, unaligned). A scalar key (an integer, or a 64-bit hash of a text value) has
//! `n = 1`, a NULL `n = 0`, an array (labels) one value per distinct element. Keeping the keys in
//! the payload makes exact duplicates share an element only when their keys are equal too, and
//! every path that copies payloads (build, insert, vacuum) carries them without knowing. The
//! metric sees only the vector: [`KeyedMetric`] strips the key section from both sides (a query's
//! payload carries an empty one).
//!
//! A [`Filter`] is a conjunction of conditions, each "the element's values in column `c` meet this
//! set": `col = x`, `col IN (...)` and `labels && array` are all that. Text keys are hashes, so a
//! scan with a filter asks the executor to recheck the condition on the heap row.

use crate::metric::Metric;

/// Appends the key section and its trailer for `cols` (one value list per key column) to `out`,
/// which already holds the vector.
pub fn append_keys(out: &mut Vec<u8>, cols: &[Vec<u64>]) {
    let start = out.len();
    for vals in cols {
        let n = vals.len().min(u16::MAX as usize);
        out.extend_from_slice(&(n as u16).to_le_bytes());
        for v in &vals[..n] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    let len = out.len() - start;
    out.extend_from_slice(&(len.min(u16::MAX as usize) as u16).to_le_bytes());
}

/// The payload of a query against a keyed index: the vector and an empty key section.
pub fn query_payload(vector: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(vector.len() + 2);
    v.extend_from_slice(vector);
    v.extend_from_slice(&0u16.to_le_bytes());
    v
}

/// Splits a keyed payload into (vector, key section). A payload too short for its trailer
/// yields itself and no keys.
#[inline(always)]
pub fn split(payload: &[u8]) -> (&[u8], &[u8]) {
    let n = payload.len();
    if n < 2 {
        return (payload, &[]);
    }
    let k = u16::from_le_bytes([payload[n - 2], payload[n - 1]]) as usize;
    if k + 2 > n {
        return (payload, &[]);
    }
    (&payload[..n - 2 - k], &payload[n - 2 - k..n - 2])
}

/// The values of each key column in a key section, in column order.
pub fn columns(keys: &[u8]) -> KeyColumns<'_> {
    KeyColumns { b: keys }
}

/// Iterator over the key columns of a key section; each item iterates that column's values.
pub struct KeyColumns<'a> {
    b: &'a [u8],
}

impl<'a> Iterator for KeyColumns<'a> {
    type Item = KeyValues<'a>;
    fn next(&mut self) -> Option<KeyValues<'a>> {
        if self.b.len() < 2 {
            return None;
        }
        let n = u16::from_le_bytes([self.b[0], self.b[1]]) as usize;
        let end = (2 + n * 8).min(self.b.len());
        let vals = &self.b[2..end];
        self.b = &self.b[end..];
        Some(KeyValues { b: vals })
    }
}

/// The values of one key column.
#[derive(Clone)]
pub struct KeyValues<'a> {
    b: &'a [u8],
}

impl Iterator for KeyValues<'_> {
    type Item = u64;
    #[inline]
    fn next(&mut self) -> Option<u64> {
        if self.b.len() < 8 {
            return None;
        }
        let v = u64::from_le_bytes(self.b[..8].try_into().unwrap());
        self.b = &self.b[8..];
        Some(v)
    }
}

/// The value an `int2`/`int4`/`int8` key is stored as (so `int4 = int8` comparisons agree).
#[inline]
pub fn int_key(v: i64) -> u64 {
    v as u64
}

/// The value a text key is stored as: a 64-bit hash of its bytes (FNV-1a, then a final mix), stable
/// across processes, platforms and versions because it is on disk.
pub fn text_key(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// One condition of a [`Filter`]: some value of key column `col` is in `values`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Condition {
    pub col: u16,
    /// Sorted, deduplicated. Empty: nothing matches.
    pub values: Vec<u64>,
}

/// A conjunction of [`Condition`]s on an element's keys.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub conds: Vec<Condition>,
}

impl Filter {
    /// Adds "column `col` has a value in `values`"; two conditions on a scalar column are the
    /// caller's to intersect (see [`Filter::intersect_scalar`]), array columns keep both.
    pub fn add(&mut self, col: u16, mut values: Vec<u64>) {
        values.sort_unstable();
        values.dedup();
        self.conds.push(Condition { col, values });
    }

    /// Adds "scalar column `col` equals one of `values`", intersected with an earlier condition
    /// on the same column (`a = 1 AND a IN (1, 2)` is one condition `{1}`).
    pub fn intersect_scalar(&mut self, col: u16, mut values: Vec<u64>) {
        values.sort_unstable();
        values.dedup();
        if let Some(c) = self.conds.iter_mut().find(|c| c.col == col) {
            c.values.retain(|v| values.binary_search(v).is_ok());
        } else {
            self.conds.push(Condition { col, values });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.conds.is_empty()
    }

    /// Whether no element can match (a condition with no values).
    pub fn is_unsatisfiable(&self) -> bool {
        self.conds.iter().any(|c| c.values.is_empty())
    }

    /// Whether a key section (see [`split`]) satisfies every condition.
    #[inline]
    pub fn matches(&self, keys: &[u8]) -> bool {
        'conds: for c in &self.conds {
            let Some(mut vals) = columns(keys).nth(c.col as usize) else {
                return false;
            };
            if c.values.len() == 1 {
                let want = c.values[0];
                if vals.any(|v| v == want) {
                    continue 'conds;
                }
                return false;
            }
            if vals.any(|v| c.values.binary_search(&v).is_ok()) {
                continue;
            }
            return false;
        }
        true
    }

    /// [`Filter::matches`] on a whole keyed payload.
    #[inline]
    pub fn matches_payload(&self, payload: &[u8]) -> bool {
        self.matches(split(payload).1)
    }
}

/// A metric on keyed payloads: the inner metric on their vectors.
#[derive(Clone)]
pub struct KeyedMetric<M>(pub M);

impl<M: Metric> Metric for KeyedMetric<M> {
    #[inline(always)]
    fn distance(&self, a: &[u8], b: &[u8]) -> f32 {
        self.0.distance(split(a).0, split(b).0)
    }
    /// The inner metric's pair (a quantized metric walks by its estimate and returns rows by a
    /// lower bound: the default, `distance` twice, would walk by the bound).
    #[inline(always)]
    fn distance_with_key(&self, q: &[u8], p: &[u8]) -> (f32, f32) {
        self.0.distance_with_key(split(q).0, split(p).0)
    }
    #[inline]
    fn to_sql(&self, d: f32) -> f64 {
        self.0.to_sql(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn keyed_payload_round_trips(vector in proptest::collection::vec(any::<u8>(), 0..64),
                                     cols in proptest::collection::vec(proptest::collection::vec(any::<u64>(), 0..5), 0..4)) {
            let mut p = vector.clone();
            append_keys(&mut p, &cols);
            let (v, k) = split(&p);
            prop_assert_eq!(v, &vector[..]);
            let got: Vec<Vec<u64>> = columns(k).map(|c| c.collect()).collect();
            prop_assert_eq!(got, cols);
        }

        /// A filter matches exactly when every condition's set meets the column's values.
        #[test]
        fn filter_matches_like_set_intersection(cols in proptest::collection::vec(proptest::collection::vec(0u64..6, 0..4), 1..4),
                                                conds in proptest::collection::vec((0u16..3, proptest::collection::vec(0u64..6, 0..4)), 0..3)) {
            let mut p = vec![1u8, 2, 3, 4];
            append_keys(&mut p, &cols);
            let mut f = Filter::default();
            for (c, vals) in &conds {
                f.add(*c, vals.clone());
            }
            let want = conds.iter().all(|(c, vals)| {
                cols.get(*c as usize).is_some_and(|have| have.iter().any(|v| vals.contains(v)))
            });
            prop_assert_eq!(f.matches_payload(&p), want);
        }
    }

    #[test]
    fn keyed_metric_ignores_keys() {
        let a: Vec<u8> = [1.0f32, 2.0].iter().flat_map(|x| x.to_ne_bytes()).collect();
        let b: Vec<u8> = [1.0f32, 4.0].iter().flat_map(|x| x.to_ne_bytes()).collect();
        let mut ak = a.clone();
        append_keys(&mut ak, &[vec![7], vec![1, 2, 3]]);
        let m = KeyedMetric(crate::metric::L2Squared::new());
        assert_eq!(
            m.distance(&ak, &query_payload(&b)),
            crate::metric::L2Squared::new().distance(&a, &b)
        );
    }

    /// A quantized metric's (estimate, lower bound) pair comes through the keys unchanged.
    #[test]
    fn keyed_metric_passes_on_the_estimate_and_the_key() {
        struct Quantized;
        impl Metric for Quantized {
            fn distance(&self, a: &[u8], b: &[u8]) -> f32 {
                self.distance_with_key(a, b).1
            }
            fn distance_with_key(&self, q: &[u8], p: &[u8]) -> (f32, f32) {
                let d = (q[0] as f32 - p[0] as f32).abs();
                (d, d - 0.5)
            }
        }
        let mut p = vec![9u8, 0, 0, 0];
        append_keys(&mut p, &[vec![4]]);
        let q = query_payload(&[3, 0, 0, 0]);
        assert_eq!(KeyedMetric(Quantized).distance_with_key(&q, &p), (6.0, 5.5));
        assert_eq!(KeyedMetric(Quantized).distance(&q, &p), 5.5);
    }

    #[test]
    fn scalar_conditions_intersect() {
        let mut f = Filter::default();
        f.intersect_scalar(0, vec![1, 2, 3]);
        f.intersect_scalar(0, vec![3, 2, 9]);
        assert_eq!(
            f.conds,
            vec![Condition {
                col: 0,
                values: vec![2, 3]
            }]
        );
        f.intersect_scalar(0, vec![7]);
        assert!(f.is_unsatisfiable());
    }

    #[test]
    fn text_key_is_stable() {
        // On disk: this value must never change.
        assert_eq!(text_key(b"tenant-42"), text_key(b"tenant-42"));
        assert_ne!(text_key(b"a"), text_key(b"b"));
        let pinned = text_key(b"");
        assert_eq!(pinned, text_key(&[]));
    }
}
