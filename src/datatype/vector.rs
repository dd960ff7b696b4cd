//! The `vector` type: pgvector's on-disk and wire layout (int16 dim, int16 unused, float4 values).

use crate::error::OrRaise;
use crate::fmgr::*;
use pgrx::pg_sys::{self, Datum};
use semvec_vector as core;
use std::cmp::Ordering;

/// Header of a detoasted `vector` varlena.
#[repr(C)]
pub struct VectorHeader {
    vl_len_: u32,
    pub dim: i16,
    pub unused: i16,
}

pub const VECTOR_HEADER_SIZE: usize = std::mem::size_of::<VectorHeader>();
const _: () = assert!(VECTOR_HEADER_SIZE == 8);

/// A borrowed, detoasted `vector` value.
#[derive(Clone, Copy)]
pub struct VectorRef<'a> {
    pub x: &'a [f32],
}

impl<'a> VectorRef<'a> {
    /// Detoast a datum. The slice lives as long as the current memory context.
    #[inline]
    pub unsafe fn from_datum(d: Datum) -> VectorRef<'a> {
        unsafe {
            let p = detoast(d) as *const VectorHeader;
            let dim = (*p).dim.max(0) as usize;
            let data = (p as *const u8).add(VECTOR_HEADER_SIZE) as *const f32;
            VectorRef {
                x: std::slice::from_raw_parts(data, dim),
            }
        }
    }

    #[inline]
    pub fn dim(&self) -> usize {
        self.x.len()
    }
}

/// Allocate a new vector of `dim` dimensions (zeroed) and return its datum and values.
pub fn new_vector<'a>(dim: usize) -> (Datum, &'a mut [f32]) {
    unsafe {
        let p = alloc_varlena(VECTOR_HEADER_SIZE + 4 * dim) as *mut VectorHeader;
        (*p).dim = dim as i16;
        (*p).unused = 0;
        let data = (p as *mut u8).add(VECTOR_HEADER_SIZE) as *mut f32;
        (Datum::from(p), std::slice::from_raw_parts_mut(data, dim))
    }
}

pub fn vector_datum(v: &[f32]) -> Datum {
    let (d, x) = new_vector(v.len());
    x.copy_from_slice(v);
    d
}

#[inline]
pub unsafe fn vec_arg<'a>(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> VectorRef<'a> {
    unsafe { VectorRef::from_datum(arg(fcinfo, n)) }
}

#[inline]
fn check_dims(a: VectorRef, b: VectorRef) {
    core::check_same_dims(a.dim(), b.dim()).or_raise();
}

#[inline]
unsafe fn two<'a>(fcinfo: pg_sys::FunctionCallInfo) -> (VectorRef<'a>, VectorRef<'a>) {
    unsafe {
        let a = vec_arg(fcinfo, 0);
        let b = vec_arg(fcinfo, 1);
        check_dims(a, b);
        (a, b)
    }
}

// ---- I/O -------------------------------------------------------------------------------------

pg_fn!(fn semvec_vector_in(fcinfo) {
    let s = arg_cstr(fcinfo, 0);
    let typmod = arg_i32(fcinfo, 2);
    let s = match s.to_str() {
        Ok(s) => s.to_owned(),
        Err(_) => String::from_utf8_lossy(s.to_bytes()).into_owned(),
    };
    let v = core::parse_vector(&s).or_raise();
    core::check_expected_dim(typmod, v.len()).or_raise();
    vector_datum(&v)
});

pg_fn!(fn semvec_vector_out(fcinfo) {
    let v = vec_arg(fcinfo, 0);
    let mut s = String::with_capacity(v.dim() * 12 + 2);
    core::format_vector(v.x, &mut s);
    cstring_datum(&s)
});

pg_fn!(fn semvec_vector_typmod_in(fcinfo) {
    let mods = crate::datatype::array::cstring_array_to_i32(arg(fcinfo, 0));
    Datum::from(core::typmod_in("vector", &mods, core::VECTOR_MAX_DIM).or_raise() as isize)
});

pg_fn!(fn semvec_vector_recv(fcinfo) {
    let buf = arg(fcinfo, 0).cast_mut_ptr::<pg_sys::StringInfoData>();
    let typmod = arg_i32(fcinfo, 2);
    let bytes = stringinfo_remaining(buf);
    let (v, used) = core::binary::vector_recv(bytes, typmod).or_raise();
    (*buf).cursor += used as i32;
    vector_datum(&v)
});

/// The unread bytes of a receive buffer.
pub unsafe fn stringinfo_remaining<'a>(buf: *mut pg_sys::StringInfoData) -> &'a [u8] {
    unsafe {
        let start = (*buf).cursor.max(0) as usize;
        let len = ((*buf).len.max(0) as usize).saturating_sub(start);
        std::slice::from_raw_parts(((*buf).data as *const u8).add(start), len)
    }
}

pg_fn!(fn semvec_vector_send(fcinfo) {
    let v = vec_arg(fcinfo, 0);
    bytea_datum(&core::binary::vector_send(v.x))
});

/// Build a `bytea` datum from bytes.
pub fn bytea_datum(b: &[u8]) -> Datum {
    unsafe {
        let p = alloc_varlena(b.len() + 4);
        std::ptr::copy_nonoverlapping(b.as_ptr(), (p as *mut u8).add(4), b.len());
        Datum::from(p)
    }
}

// ---- casts -----------------------------------------------------------------------------------

pg_fn!(fn semvec_vector_typmod_cast(fcinfo) {
    let v = vec_arg(fcinfo, 0);
    let typmod = arg_i32(fcinfo, 1);
    core::check_expected_dim(typmod, v.dim()).or_raise();
    arg(fcinfo, 0)
});

pg_fn!(fn semvec_array_to_vector(fcinfo) {
    let typmod = arg_i32(fcinfo, 1);
    let values = crate::datatype::array::numeric_array_to_f32(arg(fcinfo, 0));
    vector_datum(&core::convert::array_to_vector(&values, typmod).or_raise())
});

pg_fn!(fn semvec_vector_to_float4(fcinfo) {
    let v = vec_arg(fcinfo, 0);
    crate::datatype::array::float4_array_datum(v.x)
});

// ---- distances -------------------------------------------------------------------------------

pg_fn!(fn semvec_l2_distance(fcinfo) {
    // The value the hnsw scan computed for the row it just returned, when this is that row.
    if let Some(d) = crate::index::hnsw::returned::distance_of_returned_row(arg(fcinfo, 0), arg(fcinfo, 1), crate::index::hnsw::returned::SqlDistance::L2) {
        return f64_datum(d);
    }
    let (a, b) = two(fcinfo);
    f64_datum((semvec_simd::l2_squared_f32(a.x, b.x) as f64).sqrt())
});

pg_fn!(fn semvec_vector_l2_squared_distance(fcinfo) {
    let (a, b) = two(fcinfo);
    f64_datum(semvec_simd::l2_squared_f32(a.x, b.x) as f64)
});

pg_fn!(fn semvec_inner_product(fcinfo) {
    let (a, b) = two(fcinfo);
    f64_datum(semvec_simd::dot_f32(a.x, b.x) as f64)
});

pg_fn!(fn semvec_vector_negative_inner_product(fcinfo) {
    // The value the hnsw scan computed for the row it just returned, when this is that row.
    if let Some(d) = crate::index::hnsw::returned::distance_of_returned_row(arg(fcinfo, 0), arg(fcinfo, 1), crate::index::hnsw::returned::SqlDistance::NegativeInnerProduct) {
        return f64_datum(d);
    }
    let (a, b) = two(fcinfo);
    f64_datum(-(semvec_simd::dot_f32(a.x, b.x) as f64))
});

pg_fn!(fn semvec_cosine_distance(fcinfo) {
    let (a, b) = two(fcinfo);
    f64_datum(semvec_simd::cosine_distance_f32(a.x, b.x))
});

pg_fn!(fn semvec_vector_spherical_distance(fcinfo) {
    let (a, b) = two(fcinfo);
    let mut dp = semvec_simd::dot_f32(a.x, b.x) as f64;
    dp = dp.clamp(-1.0, 1.0);
    f64_datum(dp.acos() / std::f64::consts::PI)
});

pg_fn!(fn semvec_l1_distance(fcinfo) {
    // The value the hnsw scan computed for the row it just returned, when this is that row.
    if let Some(d) = crate::index::hnsw::returned::distance_of_returned_row(arg(fcinfo, 0), arg(fcinfo, 1), crate::index::hnsw::returned::SqlDistance::L1) {
        return f64_datum(d);
    }
    let (a, b) = two(fcinfo);
    f64_datum(semvec_simd::l1_f32(a.x, b.x) as f64)
});

// ---- functions -------------------------------------------------------------------------------

pg_fn!(fn semvec_vector_dims(fcinfo) {
    i32_datum(vec_arg(fcinfo, 0).dim() as i32)
});

pg_fn!(fn semvec_vector_norm(fcinfo) {
    let v = vec_arg(fcinfo, 0);
    f64_datum(core::norm_f64(v.x))
});

pg_fn!(fn semvec_l2_normalize(fcinfo) {
    let v = vec_arg(fcinfo, 0);
    vector_datum(&core::l2_normalize(v.x).or_raise())
});

pg_fn!(fn semvec_binary_quantize(fcinfo) {
    let v = vec_arg(fcinfo, 0);
    crate::datatype::bit::bit_datum(&core::binary_quantize(v.x), v.dim())
});

pg_fn!(fn semvec_subvector(fcinfo) {
    let v = vec_arg(fcinfo, 0);
    let start = arg_i32(fcinfo, 1);
    let count = arg_i32(fcinfo, 2);
    vector_datum(&core::subvector(v.x, start, count).or_raise())
});

pg_fn!(fn semvec_vector_add(fcinfo) {
    let (a, b) = two(fcinfo);
    vector_datum(&core::add(a.x, b.x).or_raise())
});

pg_fn!(fn semvec_vector_sub(fcinfo) {
    let (a, b) = two(fcinfo);
    vector_datum(&core::sub(a.x, b.x).or_raise())
});

pg_fn!(fn semvec_vector_mul(fcinfo) {
    let (a, b) = two(fcinfo);
    vector_datum(&core::mul(a.x, b.x).or_raise())
});

pg_fn!(fn semvec_vector_concat(fcinfo) {
    let a = vec_arg(fcinfo, 0);
    let b = vec_arg(fcinfo, 1);
    vector_datum(&core::concat(a.x, b.x).or_raise())
});

// ---- comparison ------------------------------------------------------------------------------

#[inline]
unsafe fn cmp_args(fcinfo: pg_sys::FunctionCallInfo) -> Ordering {
    unsafe {
        let a = vec_arg(fcinfo, 0);
        let b = vec_arg(fcinfo, 1);
        core::cmp(a.x, b.x)
    }
}

pg_fn!(fn semvec_vector_lt(fcinfo) { bool_datum(cmp_args(fcinfo) == Ordering::Less) });
pg_fn!(fn semvec_vector_le(fcinfo) { bool_datum(cmp_args(fcinfo) != Ordering::Greater) });
pg_fn!(fn semvec_vector_eq(fcinfo) { bool_datum(cmp_args(fcinfo) == Ordering::Equal) });
pg_fn!(fn semvec_vector_ne(fcinfo) { bool_datum(cmp_args(fcinfo) != Ordering::Equal) });
pg_fn!(fn semvec_vector_ge(fcinfo) { bool_datum(cmp_args(fcinfo) != Ordering::Less) });
pg_fn!(fn semvec_vector_gt(fcinfo) { bool_datum(cmp_args(fcinfo) == Ordering::Greater) });
pg_fn!(fn semvec_vector_cmp(fcinfo) {
    i32_datum(match cmp_args(fcinfo) {
        Ordering::Less => -1,
        Ordering::Equal => 0,
        Ordering::Greater => 1,
    })
});

// ---- aggregates ------------------------------------------------------------------------------

pg_fn!(fn semvec_vector_accum(fcinfo) {
    let state = crate::datatype::array::float8_state(arg(fcinfo, 0), "vector_accum");
    let v = vec_arg(fcinfo, 1);
    let next = core::accum(&state, v.x).or_raise();
    crate::datatype::array::float8_array_datum(&next)
});

pg_fn!(fn semvec_vector_combine(fcinfo) {
    let a = crate::datatype::array::float8_state(arg(fcinfo, 0), "vector_combine");
    let b = crate::datatype::array::float8_state(arg(fcinfo, 1), "vector_combine");
    let next = core::combine(&a, &b).or_raise();
    crate::datatype::array::float8_array_datum(&next)
});

pg_fn!(fn semvec_vector_avg(fcinfo) {
    let state = crate::datatype::array::float8_state(arg(fcinfo, 0), "vector_avg");
    match core::finalize_avg(&state).or_raise() {
        Some(v) => vector_datum(&v),
        None => return_null(fcinfo),
    }
});
