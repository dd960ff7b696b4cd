//! The `ivfflat` index access method (pgvector's), one file per callback group: `build`
//! (ambuild, ambuildempty), `insert` (aminsert), `scan` (ambeginscan, amrescan, amgettuple,
//! amendscan), `vacuum` (ambulkdelete, amvacuumcleanup), `cost`, `options` (reloption `lists`,
//! GUCs `ivfflat.*`). k-means, pages, scans and vacuum live in the `semvec-ivf` crate.

pub mod build;
pub mod cost;
pub mod insert;
pub mod options;
pub mod scan;
pub mod vacuum;

use crate::error::{raise, FEATURE_NOT_SUPPORTED};
use crate::index::am::{amcache, func_name};
use crate::index::hnsw::opclass::{self, IndexType, Kind};
use pgrx::pg_sys;
use semvec_ivf::{Distance, Elements, IndexMetric, VectorType};

/// `pg_stat_progress_create_index.phase` values reported during a build (pgvector's).
pub const PHASE_KMEANS: i64 = 2;
pub const PHASE_ASSIGN: i64 = 3;
pub const PHASE_LOAD: i64 = 4;

/// Support function numbers of pgvector's ivfflat operator classes.
const DISTANCE_PROC: u16 = 1;
const NORM_PROC: u16 = 2;
const TYPE_INFO_PROC: u16 = 5;

pub fn init() {
    options::init();
}

/// What an ivfflat index stores and how it compares, read from its operator class: support
/// function 5 names the type (`ivfflat_halfvec_support`, `ivfflat_bit_support`; none means
/// `vector`), function 1 the distance, function 2 (a norm) means cosine. Functions 3 and 4
/// (k-means distance and norm) follow from the distance.
#[derive(Clone, Copy, Debug)]
pub struct IvfIndex {
    /// How column values become payloads (shared with hnsw: normalised under cosine).
    pub itype: IndexType,
    pub elements: Elements,
    pub distance: Distance,
}

impl IvfIndex {
    /// # Safety
    /// `index` is an open ivfflat index relation.
    pub unsafe fn of(index: pg_sys::Relation) -> IvfIndex {
        unsafe {
            let unsupported = || -> ! { raise(FEATURE_NOT_SUPPORTED, "type not supported for ivfflat index", None, None) };
            let kind = match func_name(pg_sys::index_getprocid(index, 1, TYPE_INFO_PROC)).as_str() {
                "" => Kind::Vector,
                "ivfflat_halfvec_support" => Kind::Halfvec,
                "ivfflat_bit_support" => Kind::Bit,
                _ => unsupported(),
            };
            // bit operator classes also accept varbit columns, whose length is not fixed
            if crate::compat::index_key_attr(index).atttypid == pg_sys::VARBITOID {
                unsupported();
            }
            let cosine = pg_sys::index_getprocid(index, 1, NORM_PROC) != pg_sys::InvalidOid;
            let distance = match (kind, func_name(pg_sys::index_getprocid(index, 1, DISTANCE_PROC)).as_str()) {
                (Kind::Vector, "vector_l2_squared_distance") | (Kind::Halfvec, "halfvec_l2_squared_distance") => Distance::L2,
                (Kind::Vector, "vector_negative_inner_product") | (Kind::Halfvec, "halfvec_negative_inner_product") if cosine => {
                    Distance::Cosine
                }
                (Kind::Vector, "vector_negative_inner_product") | (Kind::Halfvec, "halfvec_negative_inner_product") => {
                    Distance::InnerProduct
                }
                (Kind::Bit, "hamming_distance") => Distance::Hamming,
                _ => unsupported(),
            };
            let elements = match kind {
                Kind::Halfvec => Elements::F16,
                Kind::Bit => Elements::Bit,
                _ => Elements::F32,
            };
            let hnsw_distance = match distance {
                Distance::L2 => opclass::Distance::L2,
                Distance::InnerProduct => opclass::Distance::Ip,
                Distance::Cosine => opclass::Distance::Cosine,
                Distance::Hamming => opclass::Distance::Hamming,
            };
            IvfIndex {
                itype: IndexType {
                    kind,
                    distance: hnsw_distance,
                    keys: crate::index::hnsw::keys::KeyKinds::NONE,
                    quant: crate::index::hnsw::opclass::Quant::None,
                },
                elements,
                distance,
            }
        }
    }

    /// [`IvfIndex::of`], cached in the relcache entry (`rd_amcache`, freed with it).
    ///
    /// # Safety
    /// `index` is an open ivfflat index relation.
    pub unsafe fn cached(index: pg_sys::Relation) -> IvfIndex {
        unsafe { amcache(index, || IvfIndex::of(index)) }
    }

    pub fn vector_type(&self, dims: u32) -> VectorType {
        VectorType::new(self.elements, self.distance, dims)
    }

    /// The distance the index orders by.
    pub fn metric(&self) -> IndexMetric {
        self.vector_type(0).index_metric()
    }

    /// Largest column typmod (pgvector: 2000 for vector, twice that for halfvec, 32 times for bit).
    pub fn max_dims(&self) -> i32 {
        match self.elements {
            Elements::F32 => semvec_ivf::MAX_DIMS_VECTOR,
            Elements::F16 => semvec_ivf::MAX_DIMS_HALFVEC,
            Elements::Bit => semvec_ivf::MAX_DIMS_BIT,
        }
    }
}

// Support function 5 of the halfvec and bit operator classes: its name is what `IvfIndex::of`
// reads; the value is never used.
pg_fn!(fn semvec_ivfflat_halfvec_support(_fcinfo) { pg_sys::Datum::from(0usize) });
pg_fn!(fn semvec_ivfflat_bit_support(_fcinfo) { pg_sys::Datum::from(0usize) });

pg_fn!(fn semvec_ivfflat_handler(_fcinfo) { crate::index::am_handler_routine!(5) });

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn ambuildphasename(phase: i64) -> *mut std::ffi::c_char {
    let name: &'static std::ffi::CStr = match phase {
        1 => c"initializing",
        PHASE_KMEANS => c"performing k-means",
        PHASE_ASSIGN => c"assigning tuples",
        PHASE_LOAD => c"loading tuples",
        _ => return std::ptr::null_mut(),
    };
    name.as_ptr() as *mut _
}
