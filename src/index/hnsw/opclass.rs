//! What an index column holds and how it is compared, read from its operator class.
//!
//! Support function 3 names the stored type (`hnsw_halfvec_support`, `hnsw_bit_support`,
//! `hnsw_sparsevec_support`; none means `vector`), as pgvector's type-info functions do. Support
//! function 1 names the distance (e.g. `halfvec_l2_squared_distance`); support function 2
//! (`l2_norm` and friends) means "normalise first" (cosine). Distances are then computed by the
//! core kernels directly on payloads, never through fmgr.
//!
//! Payloads (see `semvec_hnsw::metric`): `vector` and `halfvec` store their elements
//! (native-endian f32 / IEEE half), `bit` its packed bytes, `sparsevec` `nnz | indices | values`.

use crate::datatype::bit::bit_arg;
use crate::datatype::halfvec::HalfvecRef;
use crate::datatype::sparsevec::SparsevecRef;
use crate::datatype::vector::VectorRef;
use crate::error::{raise, OrRaise, FEATURE_NOT_SUPPORTED, PROGRAM_LIMIT_EXCEEDED};
use crate::index::am::{amcache, func_name};
use pgrx::pg_sys::{self, Datum};
use semvec_hnsw::metric;
use semvec_hnsw::Metric;

/// Non-zero elements a `sparsevec` may have to be indexed (pgvector's `HNSW_MAX_NNZ`).
pub const SPARSEVEC_MAX_NNZ: usize = 1000;

/// The stored payload type; its code is kept in the meta page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Vector = 1,
    Halfvec = 2,
    Bit = 3,
    Sparsevec = 4,
}

impl Kind {
    /// Largest column typmod an index accepts (pgvector's limits: each dense payload fits a page).
    pub fn max_dims(self) -> i32 {
        match self {
            Kind::Vector => 2000,
            Kind::Halfvec => 4000,
            Kind::Bit => 64000,
            Kind::Sparsevec => semvec_vector::SPARSEVEC_MAX_DIM as i32,
        }
    }

    /// Size of every payload of an index over a column of `dims` dimensions, when it is fixed.
    pub fn payload_len(self, dims: i32) -> Option<usize> {
        if dims < 1 {
            return None;
        }
        let dims = dims as usize;
        match self {
            Kind::Vector => Some(dims * 4),
            Kind::Halfvec => Some(dims * 2),
            Kind::Bit => Some(dims.div_ceil(8)),
            Kind::Sparsevec => None,
        }
    }
}

/// A metric chosen at run time; one `match` per distance is noise next to the kernel.
#[derive(Clone)]
pub enum AnyMetric {
    L2(metric::L2Squared),
    Ip(metric::NegativeDot),
    L1(metric::L1),
    HalfL2(metric::HalfL2Squared),
    HalfIp(metric::HalfNegativeDot),
    HalfL1(metric::HalfL1),
    Hamming(metric::Hamming),
    Jaccard(metric::Jaccard),
    SparseL2(metric::SparseL2Squared),
    SparseIp(metric::SparseNegativeDot),
    SparseL1(metric::SparseL1),
    /// `quantization = 'sq8'` or `'sq4'`: payloads are SQ8/SQ4 codes, queries prepared
    /// (`semvec_quant::payload`).
    Sq8(semvec_quant::Sq8Payloads),
    /// The metric of an index with filter keys: the inner one on the payloads' vectors.
    Keyed(Box<AnyMetric>),
}

macro_rules! each_metric {
    ($self:ident, $m:ident => $e:expr) => {
        match $self {
            AnyMetric::L2($m) => $e,
            AnyMetric::Ip($m) => $e,
            AnyMetric::L1($m) => $e,
            AnyMetric::HalfL2($m) => $e,
            AnyMetric::HalfIp($m) => $e,
            AnyMetric::HalfL1($m) => $e,
            AnyMetric::Hamming($m) => $e,
            AnyMetric::Jaccard($m) => $e,
            AnyMetric::SparseL2($m) => $e,
            AnyMetric::SparseIp($m) => $e,
            AnyMetric::SparseL1($m) => $e,
            AnyMetric::Sq8($m) => $e,
            AnyMetric::Keyed(k) => {
                let $m = &**k;
                $e
            }
        }
    };
}

impl Metric for AnyMetric {
    #[inline]
    fn distance(&self, a: &[u8], b: &[u8]) -> f32 {
        if let AnyMetric::Keyed(k) = self {
            return k.distance(semvec_hnsw::keys::split(a).0, semvec_hnsw::keys::split(b).0);
        }
        each_metric!(self, m => m.distance(a, b))
    }
    #[inline]
    fn distance_with_key(&self, q: &[u8], p: &[u8]) -> (f32, f32) {
        if let AnyMetric::Keyed(k) = self {
            return k.distance_with_key(semvec_hnsw::keys::split(q).0, semvec_hnsw::keys::split(p).0);
        }
        each_metric!(self, m => m.distance_with_key(q, p))
    }
    #[inline]
    fn to_sql(&self, d: f32) -> f64 {
        each_metric!(self, m => m.to_sql(d))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distance {
    L2,
    Ip,
    Cosine,
    L1,
    Hamming,
    Jaccard,
}

/// How an index stores its vectors (`WITH (quantization = ...)`); kept in the meta page, in the
/// high byte of `vector_kind`, so that `ALTER INDEX ... SET` cannot change what pages hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Quant {
    /// The vector itself (pgvector's layout).
    None = 0,
    /// An SQ8 code (8 bits per dimension, deterministic error bounds); the executor re-ranks rows
    /// by their exact distance (the scan returns lower bounds, `xs_recheckorderby`).
    Sq8 = 1,
    /// An SQ4 code (4 bits per dimension, the same scheme and bounds with 15 steps), for up to
    /// 16,000 dimensions; re-ranked as SQ8.
    Sq4 = 2,
}

impl Quant {
    pub fn from_meta(vector_kind: u16) -> Quant {
        match vector_kind >> 8 {
            1 => Quant::Sq8,
            2 => Quant::Sq4,
            _ => Quant::None,
        }
    }

    /// Bits per dimension of a code; `None` for the vector itself.
    pub fn bits(self) -> Option<u8> {
        match self {
            Quant::None => None,
            Quant::Sq8 => Some(8),
            Quant::Sq4 => Some(4),
        }
    }

    /// The quantizer of `dims`-dimensional vectors.
    fn quantizer(self, dims: usize) -> Option<semvec_quant::Sq8> {
        self.bits().map(|b| semvec_quant::Sq8::with_bits(dims, b))
    }
}

/// Largest `vector`/`halfvec` dimension a `quantization = 'sq8'` index takes: its code (24 bytes
/// and one per dimension) fits an element tuple with room for filter keys.
pub const SQ8_MAX_DIMS: i32 = (semvec_hnsw::MAX_PAYLOAD - 24 - 256) as i32;

/// Largest dimension a `quantization = 'sq4'` index takes: pgvector's `vector` limit, 16,000 (its
/// code, 28 bytes and one per two dimensions, leaves 44 bytes of the element tuple for filter keys).
pub const SQ4_MAX_DIMS: i32 = {
    let fit = (semvec_hnsw::MAX_PAYLOAD - 28 - 40) * 2;
    if fit < 16_000 {
        fit as i32
    } else {
        16_000
    }
};

/// Everything the callbacks need to turn datums into payloads and compare them.
#[derive(Clone, Copy, Debug)]
pub struct IndexType {
    pub kind: Kind,
    pub distance: Distance,
    /// Filter key columns after the vector.
    pub keys: super::keys::KeyKinds,
    pub quant: Quant,
}

impl IndexType {
    /// Read the opclass of `index`'s only column.
    pub unsafe fn of(index: pg_sys::Relation) -> IndexType {
        unsafe {
            let proc1 = pg_sys::index_getprocid(index, 1, 1);
            let proc2 = pg_sys::index_getprocid(index, 1, 2);
            let proc3 = pg_sys::index_getprocid(index, 1, 3);
            let unsupported =
                |detail: String| -> ! { raise(FEATURE_NOT_SUPPORTED, "type not supported for hnsw index", Some(detail), None) };
            let support = func_name(proc3);
            let kind = match support.as_str() {
                "" => Kind::Vector,
                "hnsw_halfvec_support" => Kind::Halfvec,
                "hnsw_bit_support" => Kind::Bit,
                "hnsw_sparsevec_support" => Kind::Sparsevec,
                _ => unsupported(format!("unknown support function {support}")),
            };
            // bit operator classes also accept varbit columns, whose length is not fixed
            if crate::compat::index_key_attr(index).atttypid == pg_sys::VARBITOID {
                raise(FEATURE_NOT_SUPPORTED, "type not supported for hnsw index", None, None);
            }
            let name = func_name(proc1);
            let cosine_or_ip = if proc2 != pg_sys::InvalidOid {
                Distance::Cosine
            } else {
                Distance::Ip
            };
            let distance = match (kind, name.as_str()) {
                (Kind::Vector, "vector_l2_squared_distance")
                | (Kind::Halfvec, "halfvec_l2_squared_distance")
                | (Kind::Sparsevec, "sparsevec_l2_squared_distance") => Distance::L2,
                (Kind::Vector, "vector_negative_inner_product")
                | (Kind::Halfvec, "halfvec_negative_inner_product")
                | (Kind::Sparsevec, "sparsevec_negative_inner_product") => cosine_or_ip,
                (Kind::Vector | Kind::Halfvec | Kind::Sparsevec, "l1_distance") => Distance::L1,
                (Kind::Bit, "hamming_distance") => Distance::Hamming,
                (Kind::Bit, "jaccard_distance") => Distance::Jaccard,
                _ => unsupported(format!("unknown support function {name}")),
            };
            IndexType {
                kind,
                distance,
                keys: super::keys::KeyKinds::of(index),
                quant: quant_of(index),
            }
        }
    }

    /// The `vector_kind` kept in the meta page: the payload type, and the quantization above it.
    pub fn meta_kind(&self) -> u16 {
        self.kind as u16 | (self.quant as u16) << 8
    }

    /// Size of the vector part of every payload for a column of `dims` dimensions, when fixed.
    pub fn payload_len(&self, dims: i32) -> Option<usize> {
        match self.quant.bits() {
            None => self.kind.payload_len(dims),
            Some(bits) => (dims >= 1).then(|| semvec_quant::Sq8::code_len_bits(dims as usize, bits)),
        }
    }

    /// Most dimensions an index of this type takes.
    pub fn max_dims(&self) -> i32 {
        match self.quant {
            Quant::None => self.kind.max_dims(),
            Quant::Sq8 => SQ8_MAX_DIMS,
            Quant::Sq4 => SQ4_MAX_DIMS,
        }
    }

    /// Refuses a quantization the column's type or distance cannot have (at build).
    pub fn check_quantization(&self) {
        if self.quant == Quant::None {
            return;
        }
        if !matches!(self.kind, Kind::Vector | Kind::Halfvec) {
            raise(
                FEATURE_NOT_SUPPORTED,
                "quantization is only supported for vector and halfvec columns",
                None,
                Some("bit vectors are compact already; for sparsevec use quantization = 'none'.".into()),
            );
        }
        if !matches!(self.distance, Distance::L2 | Distance::Ip | Distance::Cosine) {
            raise(
                FEATURE_NOT_SUPPORTED,
                "quantization is only supported for L2, inner product and cosine distance",
                None,
                None,
            );
        }
    }

    /// [`IndexType::of`], cached in the relcache entry (`rd_amcache`, freed with it).
    pub unsafe fn cached(index: pg_sys::Relation) -> IndexType {
        unsafe { amcache(index, || IndexType::of(index)) }
    }

    pub fn metric(&self) -> AnyMetric {
        let m = self.plain_metric();
        if self.keys.is_empty() {
            m
        } else {
            AnyMetric::Keyed(Box::new(m))
        }
    }

    /// The payload of a row: the vector column's, then the filter keys' when the index has any.
    ///
    /// # Safety
    /// `values`/`isnull` hold the index columns of one row of `index`, the first not NULL.
    pub unsafe fn row_payload<'a>(
        &self,
        index: pg_sys::Relation,
        values: *const Datum,
        isnull: *const bool,
        buf: &'a mut Vec<u8>,
    ) -> Option<&'a [u8]> {
        unsafe {
            self.payload(*values, buf)?;
            if !self.keys.is_empty() {
                self.keys.append(index, values, isnull, buf);
            }
            Some(&buf[..])
        }
    }

    fn plain_metric(&self) -> AnyMetric {
        if let Some(bits) = self.quant.bits() {
            let m = match self.distance {
                Distance::L2 => semvec_quant::Metric::L2Squared,
                _ => semvec_quant::Metric::NegativeDot,
            };
            return AnyMetric::Sq8(semvec_quant::Sq8Payloads::with_bits(m, bits));
        }
        // cosine: payloads are normalised, so the negative dot product orders like cosine
        match (self.kind, self.distance) {
            (Kind::Vector, Distance::L2) => AnyMetric::L2(metric::L2Squared::new()),
            (Kind::Vector, Distance::L1) => AnyMetric::L1(metric::L1::new()),
            (Kind::Vector, _) => AnyMetric::Ip(metric::NegativeDot::new()),
            (Kind::Halfvec, Distance::L2) => AnyMetric::HalfL2(metric::HalfL2Squared::new()),
            (Kind::Halfvec, Distance::L1) => AnyMetric::HalfL1(metric::HalfL1::new()),
            (Kind::Halfvec, _) => AnyMetric::HalfIp(metric::HalfNegativeDot::new()),
            (Kind::Bit, Distance::Jaccard) => AnyMetric::Jaccard(metric::Jaccard::new()),
            (Kind::Bit, _) => AnyMetric::Hamming(metric::Hamming::new()),
            (Kind::Sparsevec, Distance::L2) => AnyMetric::SparseL2(metric::SparseL2Squared),
            (Kind::Sparsevec, Distance::L1) => AnyMetric::SparseL1(metric::SparseL1),
            (Kind::Sparsevec, _) => AnyMetric::SparseIp(metric::SparseNegativeDot),
        }
    }

    /// The payload for a column value, or None when pgvector does not index it (a zero vector
    /// under cosine). A sparsevec with too many non-zero elements is an error, as in pgvector.
    /// `buf` is reused to avoid an allocation per tuple.
    pub unsafe fn payload<'a>(&self, value: Datum, buf: &'a mut Vec<u8>) -> Option<&'a [u8]> {
        unsafe {
            if self.kind == Kind::Sparsevec {
                let nnz = SparsevecRef::from_datum(value).nnz();
                if nnz > SPARSEVEC_MAX_NNZ {
                    raise(
                        PROGRAM_LIMIT_EXCEEDED,
                        format!("sparsevec cannot have more than {SPARSEVEC_MAX_NNZ} non-zero elements for hnsw index"),
                        None,
                        None,
                    );
                }
            }
            self.encode(value, buf)
        }
    }

    /// The payload of any value of the column type, normalised under cosine; None for a zero
    /// vector under cosine.
    unsafe fn encode<'a>(&self, value: Datum, buf: &'a mut Vec<u8>) -> Option<&'a [u8]> {
        unsafe {
            buf.clear();
            let cosine = self.distance == Distance::Cosine;
            if self.quant != Quant::None {
                let v = self.f32_values(value)?;
                semvec_quant::Quantizer::encode(&self.quant.quantizer(v.len()).unwrap(), &v, buf);
                return Some(&buf[..]);
            }
            match self.kind {
                Kind::Vector => {
                    let v = VectorRef::from_datum(value);
                    if cosine {
                        let norm = semvec_vector::norm_f64(v.x);
                        if norm == 0.0 {
                            return None;
                        }
                        for x in v.x {
                            buf.extend_from_slice(&((*x as f64 / norm) as f32).to_ne_bytes());
                        }
                    } else {
                        buf.extend_from_slice(metric::f32_bytes(v.x));
                    }
                }
                Kind::Halfvec => {
                    let v = HalfvecRef::from_datum(value);
                    if cosine {
                        if semvec_vector::norm_f64_f16(v.x()) == 0.0 {
                            return None;
                        }
                        for h in semvec_vector::l2_normalize_f16(v.x()).or_raise() {
                            buf.extend_from_slice(&h.to_bits().to_ne_bytes());
                        }
                    } else {
                        for b in v.bits {
                            buf.extend_from_slice(&b.to_ne_bytes());
                        }
                    }
                }
                Kind::Bit => buf.extend_from_slice(bit_arg(value).1),
                Kind::Sparsevec => {
                    let v = SparsevecRef::from_datum(value);
                    if cosine {
                        if semvec_vector::norm_f64(v.values) == 0.0 {
                            return None;
                        }
                        let n = semvec_vector::sparse_l2_normalize(&v.to_owned()).or_raise();
                        buf.extend_from_slice(&metric::encode_sparse(n.indices_u32(), &n.values));
                    } else {
                        buf.extend_from_slice(&metric::encode_sparse(v.indices_u32(), v.values));
                    }
                }
            }
            Some(&buf[..])
        }
    }

    /// A `vector` or `halfvec` value's elements as `f32` (exact), normalised in `f64` under
    /// cosine (from the original values, so that the normalised copy is within `f32` rounding of
    /// what the SQL cosine function compares); None for a zero vector under cosine.
    unsafe fn f32_values(&self, value: Datum) -> Option<Vec<f32>> {
        unsafe {
            let mut v: Vec<f32> = match self.kind {
                Kind::Vector => VectorRef::from_datum(value).x.to_vec(),
                _ => HalfvecRef::from_datum(value)
                    .bits
                    .iter()
                    .map(|&b| half::f16::from_bits(b).to_f32())
                    .collect(),
            };
            if self.distance == Distance::Cosine {
                let norm = v.iter().map(|&x| x as f64 * x as f64).sum::<f64>().sqrt();
                if norm == 0.0 {
                    return None;
                }
                for x in &mut v {
                    *x = (*x as f64 / norm) as f32;
                }
            }
            Some(v)
        }
    }

    /// The payload of a zero vector of `dims` dimensions (no bits set, no non-zero elements); for
    /// a quantized index the prepared query of one.
    fn zero_payload(&self, dims: usize) -> Vec<u8> {
        if self.quant != Quant::None {
            let mut q = Vec::new();
            semvec_quant::prepared_query(&vec![0.0; dims], &mut q);
            return q;
        }
        match self.kind {
            Kind::Vector => vec![0; dims * 4],
            Kind::Halfvec => vec![0; dims * 2],
            Kind::Bit => vec![0; dims.div_ceil(8)],
            Kind::Sparsevec => metric::encode_sparse(&[], &[]),
        }
    }

    /// The payload for a query: a NULL query searches from a zero vector (pgvector's behaviour,
    /// every row comes back), and a zero vector stays zero under cosine. A query of other
    /// dimensions than the index is pgvector's distance error (query first, then the index),
    /// raised only when there is something to compare with: an empty index returns no rows.
    pub unsafe fn query_payload(&self, value: Option<Datum>, meta: &semvec_hnsw::Meta) -> Vec<u8> {
        unsafe {
            let dims = meta.dims as usize;
            let Some(d) = value else {
                return self.zero_payload(dims);
            };
            let (qdims, typname) = match self.kind {
                Kind::Vector => (VectorRef::from_datum(d).dim(), "vector"),
                Kind::Halfvec => (HalfvecRef::from_datum(d).dim(), "halfvec"),
                Kind::Sparsevec => (SparsevecRef::from_datum(d).dim.max(0) as usize, "sparsevec"),
                Kind::Bit => (bit_arg(d).0, "bit"),
            };
            if qdims != dims {
                if meta.entry.is_none() {
                    return self.zero_payload(dims);
                }
                let error = if self.kind == Kind::Bit {
                    semvec_vector::check_same_bit_lengths(qdims, dims)
                } else {
                    semvec_vector::check_same_dims_for(typname, qdims, dims)
                };
                error.or_raise();
            }
            if self.quant != Quant::None {
                let Some(v) = self.f32_values(d) else {
                    return self.zero_payload(dims);
                };
                let mut q = Vec::new();
                semvec_quant::prepared_query(&v, &mut q);
                return q;
            }
            let mut buf = Vec::new();
            if self.encode(d, &mut buf).is_none() {
                return self.zero_payload(dims);
            }
            buf
        }
    }

    /// The SQL value of the `ORDER BY` operator that is at most the exact value, from a lower
    /// bound `d` of a quantized index's metric (squared L2, or the negative dot product of
    /// normalised vectors under cosine).
    pub fn sql_lower_bound(&self, d: f32) -> f64 {
        match self.distance {
            Distance::L2 => (d.max(0.0) as f64).sqrt(),
            Distance::Cosine => 1.0 + d as f64,
            _ => d as f64,
        }
    }
}

/// The quantization of an index: the meta page's once it has one, else (at build) the reloption.
unsafe fn quant_of(index: pg_sys::Relation) -> Quant {
    unsafe {
        let fork = pg_sys::ForkNumber::MAIN_FORKNUM;
        if pg_sys::RelationGetNumberOfBlocksInFork(index, fork) > 0 {
            let rel = crate::index::storage::PgRelation::new(index, crate::index::storage::Logging::Generic);
            if let Ok(meta) = semvec_hnsw::read_meta_page(&rel) {
                return Quant::from_meta(meta.vector_kind);
            }
        }
        super::options::quantization(index)
    }
}

// Support function 3 of the halfvec, bit and sparsevec operator classes: its name is what
// `IndexType::of` reads; the value is never used.
pg_fn!(fn semvec_hnsw_halfvec_support(_fcinfo) { Datum::from(0usize) });
pg_fn!(fn semvec_hnsw_bit_support(_fcinfo) { Datum::from(0usize) });
pg_fn!(fn semvec_hnsw_sparsevec_support(_fcinfo) { Datum::from(0usize) });
