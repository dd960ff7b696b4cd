//! What an index column holds and how it is compared, read from its operator class.
//!
//! The opclass's support function 1 names the distance (e.g. `vector_l2_squared_distance`);
//! support function 2 (`vector_norm` and friends) means "normalise first" (cosine). Distances are
//! then computed by the core kernels directly, never through fmgr.

use crate::datatype::vector::VectorRef;
use crate::error::raise;
use pgrx::pg_sys::{self, Datum};
use semvec_hnsw::metric;
use semvec_hnsw::Metric;
use std::ffi::CStr;

/// The stored payload type; its code is kept in the meta page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Vector = 1,
}

impl Kind {
    pub fn max_dims(self) -> i32 {
        match self {
            Kind::Vector => 2000,
        }
    }
}

/// A metric chosen at run time; one `match` per distance is noise next to the kernel.
pub enum AnyMetric {
    L2(metric::L2Squared),
    Ip(metric::NegativeDot),
    L1(metric::L1),
}

impl Metric for AnyMetric {
    #[inline]
    fn distance(&self, a: &[u8], b: &[u8]) -> f32 {
        match self {
            AnyMetric::L2(m) => m.distance(a, b),
            AnyMetric::Ip(m) => m.distance(a, b),
            AnyMetric::L1(m) => m.distance(a, b),
        }
    }
    #[inline]
    fn to_sql(&self, d: f32) -> f64 {
        match self {
            AnyMetric::L2(m) => m.to_sql(d),
            AnyMetric::Ip(m) => m.to_sql(d),
            AnyMetric::L1(m) => m.to_sql(d),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Distance {
    L2,
    Ip,
    Cosine,
    L1,
}

/// Everything the callbacks need to turn datums into payloads and compare them.
#[derive(Clone, Copy, Debug)]
pub struct IndexType {
    pub kind: Kind,
    pub distance: Distance,
}

impl IndexType {
    /// Read the opclass of `index`'s only column.
    pub unsafe fn of(index: pg_sys::Relation) -> IndexType {
        unsafe {
            let proc1 = pg_sys::index_getprocid(index, 1, 1);
            let proc2 = pg_sys::index_getprocid(index, 1, 2);
            let name = func_name(proc1);
            let (kind, distance) = match name.as_str() {
                "vector_l2_squared_distance" => (Kind::Vector, Distance::L2),
                "vector_negative_inner_product" if proc2 != pg_sys::InvalidOid => (Kind::Vector, Distance::Cosine),
                "vector_negative_inner_product" => (Kind::Vector, Distance::Ip),
                "l1_distance" => (Kind::Vector, Distance::L1),
                _ => raise(
                    crate::error::FEATURE_NOT_SUPPORTED,
                    "type not supported for hnsw index",
                    Some(format!("unknown support function {name}")),
                    None,
                ),
            };
            IndexType { kind, distance }
        }
    }

    /// [`IndexType::of`], cached in the relcache entry (`rd_amcache`, freed with it).
    pub unsafe fn cached(index: pg_sys::Relation) -> IndexType {
        unsafe {
            let cache = (*index).rd_amcache as *const IndexType;
            if !cache.is_null() {
                return *cache;
            }
            let it = IndexType::of(index);
            let p = pg_sys::MemoryContextAlloc((*index).rd_indexcxt, std::mem::size_of::<IndexType>()) as *mut IndexType;
            p.write(it);
            (*index).rd_amcache = p as *mut std::ffi::c_void;
            it
        }
    }

    pub fn metric(&self) -> AnyMetric {
        match self.distance {
            Distance::L2 => AnyMetric::L2(metric::L2Squared::new()),
            // cosine: payloads are normalised, so the negative dot product orders like cosine
            Distance::Ip | Distance::Cosine => AnyMetric::Ip(metric::NegativeDot::new()),
            Distance::L1 => AnyMetric::L1(metric::L1::new()),
        }
    }

    /// The payload for a column value, or None when pgvector does not index it (a zero vector
    /// under cosine). `buf` is reused to avoid an allocation per tuple.
    pub unsafe fn payload<'a>(&self, value: Datum, buf: &'a mut Vec<u8>) -> Option<&'a [u8]> {
        unsafe {
            let v = VectorRef::from_datum(value);
            buf.clear();
            if self.distance == Distance::Cosine {
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
            Some(&buf[..])
        }
    }

    /// The payload for a query: a NULL query searches from a zero vector (pgvector's behaviour,
    /// every row comes back), and a zero vector stays zero under cosine.
    pub unsafe fn query_payload(&self, value: Option<Datum>, dims: usize) -> Vec<u8> {
        unsafe {
            let mut buf = Vec::new();
            match value {
                None => buf.resize(dims * 4, 0),
                Some(d) => {
                    let v = VectorRef::from_datum(d);
                    if v.dim() != dims {
                        semvec_vector::check_same_dims(dims, v.dim()).unwrap_or_else(|e| crate::error::raise_vec(e));
                    }
                    if self.payload(d, &mut buf).is_none() {
                        buf.clear();
                        buf.resize(dims * 4, 0);
                    }
                }
            }
            buf
        }
    }
}

unsafe fn func_name(oid: pg_sys::Oid) -> String {
    unsafe {
        if oid == pg_sys::InvalidOid {
            return String::new();
        }
        let p = pg_sys::get_func_name(oid);
        if p.is_null() {
            return String::new();
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}
