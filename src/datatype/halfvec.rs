//! The `halfvec` type: pgvector's layout (int16 dim, int16 unused, IEEE half values).
//!
//! The glue keeps elements as their 16-bit patterns (`u16`) and hands them to the core crates as
//! the half-float type those take (`half::f16`, a `repr(transparent)` wrapper of the same bits),
//! see [`halves`].

use crate::datatype::vector::{bytea_datum, stringinfo_remaining, vector_datum, VectorRef};
use crate::error::OrRaise;
use crate::fmgr::*;
use pgrx::pg_sys::{self, Datum};
use semvec_vector as core;
use std::cmp::Ordering;

/// Header of a detoasted `halfvec` varlena.
#[repr(C)]
pub struct HalfvecHeader {
    vl_len_: u32,
    pub dim: i16,
    pub unused: i16,
}

pub const HALFVEC_HEADER_SIZE: usize = std::mem::size_of::<HalfvecHeader>();
const _: () = assert!(HALFVEC_HEADER_SIZE == 8);

/// Views half-float bit patterns as the 2-byte IEEE half type a core function expects.
#[inline]
pub fn halves<H: Copy>(bits: &[u16]) -> &[H] {
    const { assert!(std::mem::size_of::<H>() == 2 && std::mem::align_of::<H>() == 2) };
    // SAFETY: H is a plain 2-byte value type (half::f16, repr(transparent) over u16) for which
    // every bit pattern is valid; size and alignment are checked above.
    unsafe { std::slice::from_raw_parts(bits.as_ptr().cast::<H>(), bits.len()) }
}

/// A borrowed, detoasted `halfvec` value.
#[derive(Clone, Copy)]
pub struct HalfvecRef<'a> {
    pub bits: &'a [u16],
}

impl<'a> HalfvecRef<'a> {
    /// Detoast a datum. The slice lives as long as the current memory context.
    #[inline]
    pub unsafe fn from_datum(d: Datum) -> HalfvecRef<'a> {
        unsafe {
            let p = detoast(d) as *const HalfvecHeader;
            let dim = (*p).dim.max(0) as usize;
            let data = (p as *const u8).add(HALFVEC_HEADER_SIZE) as *const u16;
            HalfvecRef {
                bits: std::slice::from_raw_parts(data, dim),
            }
        }
    }

    #[inline]
    pub fn dim(&self) -> usize {
        self.bits.len()
    }

    /// The elements as the core crates' half type.
    #[inline]
    pub fn x<H: Copy>(&self) -> &'a [H] {
        halves(self.bits)
    }
}

/// Allocate a new halfvec of `dim` dimensions (zeroed) and return its datum and element bits.
pub fn new_halfvec<'a>(dim: usize) -> (Datum, &'a mut [u16]) {
    unsafe {
        let p = alloc_varlena(HALFVEC_HEADER_SIZE + 2 * dim) as *mut HalfvecHeader;
        (*p).dim = dim as i16;
        (*p).unused = 0;
        let data = (p as *mut u8).add(HALFVEC_HEADER_SIZE) as *mut u16;
        (Datum::from(p), std::slice::from_raw_parts_mut(data, dim))
    }
}

/// A halfvec datum from element bit patterns.
pub fn halfvec_datum(bits: impl ExactSizeIterator<Item = u16>) -> Datum {
    let (d, x) = new_halfvec(bits.len());
    for (slot, b) in x.iter_mut().zip(bits) {
        *slot = b;
    }
    d
}

/// A halfvec datum from a core result (`Vec<half::f16>`).
macro_rules! halfvec_result {
    ($v:expr) => {{
        let v = $v;
        halfvec_datum(v.iter().map(|h| h.to_bits()))
    }};
}

#[inline]
pub unsafe fn half_arg<'a>(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> HalfvecRef<'a> {
    unsafe { HalfvecRef::from_datum(arg(fcinfo, n)) }
}

/// Both arguments, with pgvector's "different halfvec dimensions" check.
#[inline]
unsafe fn two<'a>(fcinfo: pg_sys::FunctionCallInfo) -> (HalfvecRef<'a>, HalfvecRef<'a>) {
    unsafe {
        let a = half_arg(fcinfo, 0);
        let b = half_arg(fcinfo, 1);
        core::check_same_dims_for("halfvec", a.dim(), b.dim()).or_raise();
        (a, b)
    }
}

// ---- I/O -------------------------------------------------------------------------------------

pg_fn!(fn semvec_halfvec_in(fcinfo) {
    let s = arg_cstr(fcinfo, 0);
    let typmod = arg_i32(fcinfo, 2);
    let s = String::from_utf8_lossy(s.to_bytes());
    halfvec_result!(core::parse_halfvec_typmod(&s, typmod).or_raise())
});

pg_fn!(fn semvec_halfvec_out(fcinfo) {
    let v = half_arg(fcinfo, 0);
    let mut s = String::with_capacity(v.dim() * 10 + 2);
    core::format_halfvec(v.x(), &mut s);
    cstring_datum(&s)
});

pg_fn!(fn semvec_halfvec_typmod_in(fcinfo) {
    let mods = crate::datatype::array::cstring_array_to_i32(arg(fcinfo, 0));
    Datum::from(core::typmod_in("halfvec", &mods, core::HALFVEC_MAX_DIM).or_raise() as isize)
});

pg_fn!(fn semvec_halfvec_recv(fcinfo) {
    let buf = arg(fcinfo, 0).cast_mut_ptr::<pg_sys::StringInfoData>();
    let typmod = arg_i32(fcinfo, 2);
    let (v, used) = core::binary::halfvec_recv(stringinfo_remaining(buf), typmod).or_raise();
    (*buf).cursor += used as i32;
    halfvec_result!(v)
});

pg_fn!(fn semvec_halfvec_send(fcinfo) {
    let v = half_arg(fcinfo, 0);
    bytea_datum(&core::binary::halfvec_send(v.x()))
});

// ---- casts -----------------------------------------------------------------------------------

pg_fn!(fn semvec_halfvec_typmod_cast(fcinfo) {
    let v = half_arg(fcinfo, 0);
    core::check_expected_dim(arg_i32(fcinfo, 1), v.dim()).or_raise();
    arg(fcinfo, 0)
});

pg_fn!(fn semvec_halfvec_to_vector(fcinfo) {
    let v = half_arg(fcinfo, 0);
    vector_datum(&core::convert::halfvec_to_vector(v.x(), arg_i32(fcinfo, 1)).or_raise())
});

pg_fn!(fn semvec_vector_to_halfvec(fcinfo) {
    let v = VectorRef::from_datum(arg(fcinfo, 0));
    halfvec_result!(core::convert::vector_to_halfvec(v.x, arg_i32(fcinfo, 1)).or_raise())
});

pg_fn!(fn semvec_array_to_halfvec(fcinfo) {
    let typmod = arg_i32(fcinfo, 1);
    let values = crate::datatype::array::numeric_array_to_f32(arg(fcinfo, 0));
    halfvec_result!(core::convert::array_to_halfvec(&values, typmod).or_raise())
});

pg_fn!(fn semvec_halfvec_to_float4(fcinfo) {
    let v = half_arg(fcinfo, 0);
    let x: Vec<f32> = core::convert::halfvec_to_vector(v.x(), -1).or_raise();
    crate::datatype::array::float4_array_datum(&x)
});

// ---- distances -------------------------------------------------------------------------------

pg_fn!(fn semvec_halfvec_l2_distance(fcinfo) {
    let (a, b) = two(fcinfo);
    f64_datum((semvec_simd::l2_squared_f16(a.x(), b.x()) as f64).sqrt())
});

pg_fn!(fn semvec_halfvec_l2_squared_distance(fcinfo) {
    let (a, b) = two(fcinfo);
    f64_datum(semvec_simd::l2_squared_f16(a.x(), b.x()) as f64)
});

pg_fn!(fn semvec_halfvec_inner_product(fcinfo) {
    let (a, b) = two(fcinfo);
    f64_datum(semvec_simd::dot_f16(a.x(), b.x()) as f64)
});

pg_fn!(fn semvec_halfvec_negative_inner_product(fcinfo) {
    let (a, b) = two(fcinfo);
    f64_datum(-(semvec_simd::dot_f16(a.x(), b.x()) as f64))
});

pg_fn!(fn semvec_halfvec_cosine_distance(fcinfo) {
    let (a, b) = two(fcinfo);
    f64_datum(semvec_simd::cosine_distance_f16(a.x(), b.x()))
});

pg_fn!(fn semvec_halfvec_spherical_distance(fcinfo) {
    let (a, b) = two(fcinfo);
    let dp = (semvec_simd::dot_f16(a.x(), b.x()) as f64).clamp(-1.0, 1.0);
    f64_datum(dp.acos() / std::f64::consts::PI)
});

pg_fn!(fn semvec_halfvec_l1_distance(fcinfo) {
    let (a, b) = two(fcinfo);
    f64_datum(semvec_simd::l1_f16(a.x(), b.x()) as f64)
});

// ---- functions -------------------------------------------------------------------------------

pg_fn!(fn semvec_halfvec_vector_dims(fcinfo) {
    i32_datum(half_arg(fcinfo, 0).dim() as i32)
});

pg_fn!(fn semvec_halfvec_l2_norm(fcinfo) {
    f64_datum(core::norm_f64_f16(half_arg(fcinfo, 0).x()))
});

pg_fn!(fn semvec_halfvec_l2_normalize(fcinfo) {
    halfvec_result!(core::l2_normalize_f16(half_arg(fcinfo, 0).x()).or_raise())
});

pg_fn!(fn semvec_halfvec_binary_quantize(fcinfo) {
    let v = half_arg(fcinfo, 0);
    crate::datatype::bit::bit_datum(&core::binary_quantize_f16(v.x()), v.dim())
});

pg_fn!(fn semvec_halfvec_subvector(fcinfo) {
    let v = half_arg(fcinfo, 0);
    halfvec_result!(core::subvector_f16(v.x(), arg_i32(fcinfo, 1), arg_i32(fcinfo, 2)).or_raise())
});

pg_fn!(fn semvec_halfvec_add(fcinfo) {
    let (a, b) = two(fcinfo);
    halfvec_result!(core::add_f16(a.x(), b.x()).or_raise())
});

pg_fn!(fn semvec_halfvec_sub(fcinfo) {
    let (a, b) = two(fcinfo);
    halfvec_result!(core::sub_f16(a.x(), b.x()).or_raise())
});

pg_fn!(fn semvec_halfvec_mul(fcinfo) {
    let (a, b) = two(fcinfo);
    halfvec_result!(core::mul_f16(a.x(), b.x()).or_raise())
});

pg_fn!(fn semvec_halfvec_concat(fcinfo) {
    let a = half_arg(fcinfo, 0);
    let b = half_arg(fcinfo, 1);
    halfvec_result!(core::concat_f16(a.x(), b.x()).or_raise())
});

// ---- comparison ------------------------------------------------------------------------------

#[inline]
unsafe fn cmp_args(fcinfo: pg_sys::FunctionCallInfo) -> Ordering {
    unsafe { core::cmp_f16(half_arg(fcinfo, 0).x(), half_arg(fcinfo, 1).x()) }
}

pg_fn!(fn semvec_halfvec_lt(fcinfo) { bool_datum(cmp_args(fcinfo) == Ordering::Less) });
pg_fn!(fn semvec_halfvec_le(fcinfo) { bool_datum(cmp_args(fcinfo) != Ordering::Greater) });
pg_fn!(fn semvec_halfvec_eq(fcinfo) { bool_datum(cmp_args(fcinfo) == Ordering::Equal) });
pg_fn!(fn semvec_halfvec_ne(fcinfo) { bool_datum(cmp_args(fcinfo) != Ordering::Equal) });
pg_fn!(fn semvec_halfvec_ge(fcinfo) { bool_datum(cmp_args(fcinfo) != Ordering::Less) });
pg_fn!(fn semvec_halfvec_gt(fcinfo) { bool_datum(cmp_args(fcinfo) == Ordering::Greater) });
pg_fn!(fn semvec_halfvec_cmp(fcinfo) {
    i32_datum(cmp_args(fcinfo) as i32)
});

// ---- aggregates ------------------------------------------------------------------------------
// avg(halfvec) shares vector's float8[] state and its combine function (as pgvector does).

pg_fn!(fn semvec_halfvec_accum(fcinfo) {
    let state = crate::datatype::array::float8_state(arg(fcinfo, 0), "halfvec_accum");
    let v = half_arg(fcinfo, 1);
    crate::datatype::array::float8_array_datum(&core::accum_f16(&state, v.x()).or_raise())
});

pg_fn!(fn semvec_halfvec_avg(fcinfo) {
    let state = crate::datatype::array::float8_state(arg(fcinfo, 0), "halfvec_avg");
    match core::finalize_avg_f16(&state).or_raise() {
        Some(v) => halfvec_result!(v),
        None => return_null(fcinfo),
    }
});
