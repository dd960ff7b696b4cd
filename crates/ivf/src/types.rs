//! What an index stores and how it compares: element type, distance, payload layout, and the
//! arithmetic k-means needs on payloads (sums, means, normalisation).
//!
//! Payloads are the bytes the glue stores (the same layouts as `semvec_storage::metric`):
//! `vector` is `dims` native-endian `f32`, `halfvec` `dims` IEEE half floats, `bit` the packed
//! bits, most significant bit first. Under cosine distance the glue stores unit vectors.

use half::f16;
use semvec_storage::metric::{self, Metric};
use semvec_storage::Rng;

/// The element type of the indexed column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Elements {
    /// `vector`: `f32` elements.
    F32 = 1,
    /// `halfvec`: IEEE half-precision elements.
    F16 = 2,
    /// `bit`: packed bits.
    Bit = 3,
}

/// The operator class's distance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Distance {
    /// `<->`; the index orders by the squared distance.
    L2 = 1,
    /// `<#>`, the negative inner product.
    InnerProduct = 2,
    /// `<=>`; payloads and queries are normalised, then compared by negative inner product.
    Cosine = 3,
    /// `<~>` on `bit`.
    Hamming = 4,
}

impl Elements {
    pub fn from_code(c: u16) -> Option<Elements> {
        [Elements::F32, Elements::F16, Elements::Bit].into_iter().find(|e| *e as u16 == c)
    }
}

impl Distance {
    pub fn from_code(c: u16) -> Option<Distance> {
        [Distance::L2, Distance::InnerProduct, Distance::Cosine, Distance::Hamming]
            .into_iter()
            .find(|d| *d as u16 == c)
    }
}

/// Element type, distance and dimensions of an index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VectorType {
    pub elements: Elements,
    pub distance: Distance,
    /// Dimensions (bits for `bit`).
    pub dims: u32,
}

impl VectorType {
    pub fn new(elements: Elements, distance: Distance, dims: u32) -> VectorType {
        VectorType { elements, distance, dims }
    }

    /// Bytes of every payload.
    pub fn payload_len(&self) -> usize {
        let d = self.dims as usize;
        match self.elements {
            Elements::F32 => 4 * d,
            Elements::F16 => 2 * d,
            Elements::Bit => d.div_ceil(8),
        }
    }

    /// Size pgvector accounts for one vector of this type in its memory checks (the varlena with
    /// its header), so `maintenance_work_mem` errors happen at the same sizes.
    pub fn item_size(&self) -> usize {
        match self.elements {
            // VECTOR_SIZE / HALFVEC_SIZE: header, dim, unused, elements
            Elements::F32 | Elements::F16 => 8 + self.payload_len(),
            // VARBITTOTALLEN: header, bit length, bytes
            Elements::Bit => 8 + self.payload_len(),
        }
    }

    /// Whether k-means works on the unit sphere (pgvector's spherical k-means for inner
    /// product and cosine): samples and centers are normalised, distances are angles.
    pub fn spherical(&self) -> bool {
        matches!(self.distance, Distance::InnerProduct | Distance::Cosine)
    }

    /// The distance the index orders by (support function 1).
    pub fn index_metric(&self) -> IndexMetric {
        match (self.elements, self.distance) {
            (_, Distance::Hamming) | (Elements::Bit, _) => IndexMetric::Hamming(metric::Hamming::new()),
            (Elements::F32, Distance::L2) => IndexMetric::L2(metric::L2Squared::new()),
            (Elements::F32, _) => IndexMetric::Ip(metric::NegativeDot::new()),
            (Elements::F16, Distance::L2) => IndexMetric::HalfL2(metric::HalfL2Squared::new()),
            (Elements::F16, _) => IndexMetric::HalfIp(metric::HalfNegativeDot::new()),
        }
    }

    /// The distance k-means uses: a true metric (triangle inequality) for Elkan's bounds.
    pub fn kmeans_metric(&self) -> KmeansMetric {
        match (self.elements, self.distance) {
            (_, Distance::Hamming) | (Elements::Bit, _) => KmeansMetric::Hamming(metric::Hamming::new()),
            (Elements::F32, Distance::L2) => KmeansMetric::L2(metric::L2Squared::new()),
            (Elements::F32, _) => KmeansMetric::Spherical(metric::NegativeDot::new()),
            (Elements::F16, Distance::L2) => KmeansMetric::HalfL2(metric::HalfL2Squared::new()),
            (Elements::F16, _) => KmeansMetric::HalfSpherical(metric::HalfNegativeDot::new()),
        }
    }

    /// Euclidean norm of a payload (0 for `bit`, which is never normalised).
    pub fn norm(&self, p: &[u8]) -> f64 {
        match self.elements {
            Elements::F32 => f32s(p).map(|x| x as f64 * x as f64).sum::<f64>().sqrt(),
            Elements::F16 => f16s(p).map(|x| x as f64 * x as f64).sum::<f64>().sqrt(),
            Elements::Bit => 0.0,
        }
    }

    /// Scale a payload to unit length in place, like pgvector's `l2_normalize`; false (and the
    /// payload unchanged) when its norm is zero.
    pub fn normalize(&self, p: &mut [u8]) -> bool {
        let norm = self.norm(p);
        if norm == 0.0 || !norm.is_finite() {
            return false;
        }
        match self.elements {
            Elements::F32 => {
                for c in p.chunks_exact_mut(4) {
                    let x = f32::from_ne_bytes(c.try_into().unwrap());
                    c.copy_from_slice(&((x as f64 / norm) as f32).to_ne_bytes());
                }
            }
            Elements::F16 => {
                for c in p.chunks_exact_mut(2) {
                    let x = f16::from_bits(u16::from_ne_bytes(c.try_into().unwrap())).to_f32();
                    c.copy_from_slice(&f16::from_f32((x as f64 / norm) as f32).to_bits().to_ne_bytes());
                }
            }
            Elements::Bit => return false,
        }
        true
    }

    /// Add a payload's elements to `acc` (`dims` sums; one per bit for `bit`).
    pub fn accumulate(&self, p: &[u8], acc: &mut [f64]) {
        self.add_scaled(p, acc, 1.0);
    }

    /// Add `w` times a payload's elements to `acc` (`w` = -1 takes a sample out of a sum).
    pub fn add_scaled(&self, p: &[u8], acc: &mut [f64], w: f64) {
        match self.elements {
            Elements::F32 => match as_f32s(p) {
                // in place when aligned (always, from `Payloads`): a loop the compiler vectorises
                Some(xs) => acc.iter_mut().zip(xs).for_each(|(a, &x)| *a += w * x as f64),
                None => acc.iter_mut().zip(f32s(p)).for_each(|(a, x)| *a += w * x as f64),
            },
            Elements::F16 => {
                let mut buf = [0f32; 256];
                for (accs, chunk) in acc.chunks_mut(256).zip(p.chunks(512)) {
                    let n = chunk.len() / 2;
                    for (b, c) in buf[..n].iter_mut().zip(chunk.chunks_exact(2)) {
                        *b = f16::from_bits(u16::from_ne_bytes([c[0], c[1]])).to_f32();
                    }
                    accs.iter_mut().zip(&buf[..n]).for_each(|(a, &x)| *a += w * x as f64);
                }
            }
            Elements::Bit => {
                for (i, a) in acc.iter_mut().enumerate() {
                    *a += w * ((p[i / 8] >> (7 - i % 8)) & 1) as f64;
                }
            }
        }
    }

    /// Write the payload of the element-wise mean `acc / count` (a bit is set when more than
    /// half of the members have it).
    pub fn store_mean(&self, acc: &[f64], count: f64, out: &mut [u8]) {
        match self.elements {
            Elements::F32 => {
                for (c, a) in out.chunks_exact_mut(4).zip(acc) {
                    c.copy_from_slice(&((a / count) as f32).to_ne_bytes());
                }
            }
            Elements::F16 => {
                for (c, a) in out.chunks_exact_mut(2).zip(acc) {
                    c.copy_from_slice(&f16::from_f32((a / count) as f32).to_bits().to_ne_bytes());
                }
            }
            Elements::Bit => {
                out.fill(0);
                for (i, a) in acc.iter().enumerate() {
                    if a / count > 0.5 {
                        out[i / 8] |= 1 << (7 - i % 8);
                    }
                }
            }
        }
    }

    /// A random center (elements uniform in [0, 1), bits set with probability 1/2), unit length
    /// under spherical k-means: what an index over no rows gets.
    pub fn random_center(&self, rng: &mut Rng, out: &mut [u8]) {
        let acc: Vec<f64> = (0..self.dims).map(|_| rng.next_f64()).collect();
        self.store_mean(&acc, 1.0, out);
        if self.spherical() {
            self.normalize(out);
        }
    }
}

/// `p` as `f32`s when it is 4-byte aligned.
fn as_f32s(p: &[u8]) -> Option<&[f32]> {
    if !(p.as_ptr() as usize).is_multiple_of(4) {
        return None;
    }
    // SAFETY: aligned, in bounds, and every bit pattern is a valid f32.
    Some(unsafe { std::slice::from_raw_parts(p.as_ptr() as *const f32, p.len() / 4) })
}

fn f32s(p: &[u8]) -> impl Iterator<Item = f32> + '_ {
    p.chunks_exact(4).map(|c| f32::from_ne_bytes(c.try_into().unwrap()))
}

fn f16s(p: &[u8]) -> impl Iterator<Item = f32> + '_ {
    p.chunks_exact(2)
        .map(|c| f16::from_bits(u16::from_ne_bytes(c.try_into().unwrap())).to_f32())
}

/// The distance an index orders by; smaller is closer (squared for L2, negated for inner
/// product and cosine).
#[derive(Clone, Copy, Debug)]
pub enum IndexMetric {
    L2(metric::L2Squared),
    Ip(metric::NegativeDot),
    HalfL2(metric::HalfL2Squared),
    HalfIp(metric::HalfNegativeDot),
    Hamming(metric::Hamming),
}

impl Metric for IndexMetric {
    #[inline]
    fn distance(&self, a: &[u8], b: &[u8]) -> f32 {
        match self {
            IndexMetric::L2(m) => m.distance(a, b),
            IndexMetric::Ip(m) => m.distance(a, b),
            IndexMetric::HalfL2(m) => m.distance(a, b),
            IndexMetric::HalfIp(m) => m.distance(a, b),
            IndexMetric::Hamming(m) => m.distance(a, b),
        }
    }
    #[inline]
    fn to_sql(&self, d: f32) -> f64 {
        match self {
            IndexMetric::L2(m) => m.to_sql(d),
            IndexMetric::Ip(m) => m.to_sql(d),
            IndexMetric::HalfL2(m) => m.to_sql(d),
            IndexMetric::HalfIp(m) => m.to_sql(d),
            IndexMetric::Hamming(m) => m.to_sql(d),
        }
    }
}

/// The distance of k-means: Euclidean (not squared), the angle between unit vectors divided by
/// pi (pgvector's spherical distance), or Hamming. All obey the triangle inequality.
#[derive(Clone, Copy, Debug)]
pub enum KmeansMetric {
    L2(metric::L2Squared),
    Spherical(metric::NegativeDot),
    HalfL2(metric::HalfL2Squared),
    HalfSpherical(metric::HalfNegativeDot),
    Hamming(metric::Hamming),
}

#[inline]
fn angle(neg_dot: f32) -> f32 {
    // rounding can take the dot product of unit vectors just past 1
    ((-neg_dot as f64).clamp(-1.0, 1.0).acos() / std::f64::consts::PI) as f32
}

impl Metric for KmeansMetric {
    #[inline]
    fn distance(&self, a: &[u8], b: &[u8]) -> f32 {
        match self {
            KmeansMetric::L2(m) => m.distance(a, b).sqrt(),
            KmeansMetric::Spherical(m) => angle(m.distance(a, b)),
            KmeansMetric::HalfL2(m) => m.distance(a, b).sqrt(),
            KmeansMetric::HalfSpherical(m) => angle(m.distance(a, b)),
            KmeansMetric::Hamming(m) => m.distance(a, b),
        }
    }
}

/// Payloads of one size in one allocation, each starting 8-byte aligned (so the distance
/// kernels read them in place).
#[derive(Clone, Debug, Default)]
pub struct Payloads {
    plen: usize,
    stride: usize,
    len: usize,
    words: Vec<u64>,
}

impl Payloads {
    /// An empty array of payloads of `len` bytes.
    pub fn new(len: usize) -> Payloads {
        Payloads {
            plen: len,
            stride: len.div_ceil(8).max(1),
            len: 0,
            words: Vec::new(),
        }
    }

    /// `count` all-zero payloads of `len` bytes.
    pub fn zeroed(len: usize, count: usize) -> Payloads {
        let mut p = Payloads::new(len);
        p.words = vec![0; p.stride * count];
        p.len = count;
        p
    }

    /// Bytes of each payload.
    pub fn payload_len(&self) -> usize {
        self.plen
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Bytes allocated.
    pub fn memory(&self) -> usize {
        self.words.capacity() * 8
    }

    pub fn reserve(&mut self, n: usize) {
        self.words.reserve(n * self.stride);
    }

    pub fn clear(&mut self) {
        self.words.clear();
        self.len = 0;
    }

    fn bytes_of(words: &[u64], len: usize) -> &[u8] {
        // SAFETY: `len <= words.len() * 8`; u64 has no invalid bytes.
        unsafe { std::slice::from_raw_parts(words.as_ptr() as *const u8, len) }
    }

    fn bytes_of_mut(words: &mut [u64], len: usize) -> &mut [u8] {
        // SAFETY: as in `bytes_of`, and any byte pattern is a valid u64.
        unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr() as *mut u8, len) }
    }

    #[inline]
    pub fn get(&self, i: usize) -> &[u8] {
        assert!(i < self.len);
        Self::bytes_of(&self.words[i * self.stride..(i + 1) * self.stride], self.plen)
    }

    #[inline]
    pub fn get_mut(&mut self, i: usize) -> &mut [u8] {
        assert!(i < self.len);
        Self::bytes_of_mut(&mut self.words[i * self.stride..(i + 1) * self.stride], self.plen)
    }

    /// Append a payload of `payload_len()` bytes.
    pub fn push(&mut self, p: &[u8]) {
        assert_eq!(p.len(), self.plen, "payload size");
        self.words.resize(self.words.len() + self.stride, 0);
        self.len += 1;
        let i = self.len - 1;
        self.get_mut(i).copy_from_slice(p);
    }

    /// Overwrite payload `i`.
    pub fn set(&mut self, i: usize, p: &[u8]) {
        self.get_mut(i).copy_from_slice(p);
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + '_ {
        (0..self.len).map(|i| self.get(i))
    }

    /// Every payload, writable, for rayon.
    pub fn par_iter_mut(&mut self) -> impl rayon::iter::IndexedParallelIterator<Item = &mut [u8]> + '_ {
        use rayon::prelude::*;
        let len = self.plen;
        self.words[..self.len * self.stride]
            .par_chunks_mut(self.stride)
            .map(move |w| Self::bytes_of_mut(w, len))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use semvec_storage::metric::f32_bytes;

    #[test]
    fn payload_sizes_and_pgvector_item_sizes() {
        let v = VectorType::new(Elements::F32, Distance::L2, 3);
        assert_eq!((v.payload_len(), v.item_size()), (12, 20));
        let h = VectorType::new(Elements::F16, Distance::L2, 3);
        assert_eq!((h.payload_len(), h.item_size()), (6, 14));
        let b = VectorType::new(Elements::Bit, Distance::Hamming, 9);
        assert_eq!((b.payload_len(), b.item_size()), (2, 10));
    }

    #[test]
    fn kmeans_distances_are_true_metrics() {
        let t = VectorType::new(Elements::F32, Distance::L2, 2);
        let m = t.kmeans_metric();
        assert_eq!(m.distance(f32_bytes(&[0.0, 0.0]), f32_bytes(&[3.0, 4.0])), 5.0);
        let s = VectorType::new(Elements::F32, Distance::Cosine, 2).kmeans_metric();
        let d = s.distance(f32_bytes(&[1.0, 0.0]), f32_bytes(&[0.0, 1.0]));
        assert!((d - 0.5).abs() < 1e-6, "a right angle is half of pi: {d}");
        assert_eq!(
            s.distance(f32_bytes(&[1.0, 0.0]), f32_bytes(&[1.0000001, 0.0])),
            0.0,
            "clamped, not NaN"
        );
        let b = VectorType::new(Elements::Bit, Distance::Hamming, 8).kmeans_metric();
        assert_eq!(b.distance(&[0b1100_0000], &[0b0000_0011]), 4.0);
    }

    #[test]
    fn normalize_scales_to_unit_length_and_refuses_zero() {
        let t = VectorType::new(Elements::F32, Distance::Cosine, 2);
        let mut p = f32_bytes(&[3.0, 4.0]).to_vec();
        assert!(t.normalize(&mut p));
        assert_eq!(p, f32_bytes(&[0.6, 0.8]));
        let mut z = f32_bytes(&[0.0, 0.0]).to_vec();
        assert!(!t.normalize(&mut z));
        let h = VectorType::new(Elements::F16, Distance::Cosine, 2);
        let mut hp: Vec<u8> = [3.0f32, 4.0]
            .iter()
            .flat_map(|x| f16::from_f32(*x).to_bits().to_ne_bytes())
            .collect();
        assert!(h.normalize(&mut hp));
        assert!((h.norm(&hp) - 1.0).abs() < 1e-3);
    }

    #[test]
    fn means_of_floats_halves_and_bits() {
        let t = VectorType::new(Elements::F32, Distance::L2, 2);
        let mut acc = vec![0.0; 2];
        t.accumulate(f32_bytes(&[1.0, 2.0]), &mut acc);
        t.accumulate(f32_bytes(&[3.0, 6.0]), &mut acc);
        let mut out = vec![0u8; 8];
        t.store_mean(&acc, 2.0, &mut out);
        assert_eq!(out, f32_bytes(&[2.0, 4.0]));

        let b = VectorType::new(Elements::Bit, Distance::Hamming, 10);
        let mut acc = vec![0.0; 10];
        for p in [[0b1110_0000u8, 0b0100_0000], [0b1100_0000, 0b0000_0000], [0b1000_0000, 0b0100_0000]] {
            b.accumulate(&p, &mut acc);
        }
        let mut out = vec![0u8; 2];
        b.store_mean(&acc, 3.0, &mut out);
        assert_eq!(out, [0b1100_0000, 0b0100_0000], "majority bits");
    }

    #[test]
    fn payload_array_keeps_payloads_aligned() {
        let mut a = Payloads::new(6);
        for i in 0..5u8 {
            a.push(&[i; 6]);
        }
        assert_eq!(a.len(), 5);
        for i in 0..5 {
            assert_eq!(a.get(i), &[i as u8; 6]);
            assert_eq!(a.get(i).as_ptr() as usize % 8, 0);
        }
        a.set(2, &[9; 6]);
        assert_eq!(a.get(2), &[9; 6]);
    }
}
