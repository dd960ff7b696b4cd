//! The `sparsevec` type: pgvector's layout (int32 dim, int32 nnz, int32 unused, then nnz 0-based
//! int32 indices in ascending order, then nnz float4 values).

use crate::datatype::halfvec::{halfvec_datum, HalfvecRef};
use crate::datatype::vector::{bytea_datum, stringinfo_remaining, vector_datum, VectorRef};
use crate::error::OrRaise;
use crate::fmgr::*;
use pgrx::pg_sys::{self, Datum};
use semvec_vector::{self as core, SparseVec};
use std::cmp::Ordering;

/// Header of a detoasted `sparsevec` varlena.
#[repr(C)]
pub struct SparsevecHeader {
    vl_len_: u32,
    pub dim: i32,
    pub nnz: i32,
    pub unused: i32,
}

pub const SPARSEVEC_HEADER_SIZE: usize = std::mem::size_of::<SparsevecHeader>();
const _: () = assert!(SPARSEVEC_HEADER_SIZE == 16);

/// A borrowed, detoasted `sparsevec` value.
#[derive(Clone, Copy)]
pub struct SparsevecRef<'a> {
    pub dim: i32,
    pub indices: &'a [i32],
    pub values: &'a [f32],
}

impl<'a> SparsevecRef<'a> {
    /// Detoast a datum. The slices live as long as the current memory context.
    #[inline]
    pub unsafe fn from_datum(d: Datum) -> SparsevecRef<'a> {
        unsafe {
            let p = detoast(d) as *const SparsevecHeader;
            let nnz = (*p).nnz.max(0) as usize;
            let indices = (p as *const u8).add(SPARSEVEC_HEADER_SIZE) as *const i32;
            let values = indices.add(nnz) as *const f32;
            SparsevecRef {
                dim: (*p).dim,
                indices: std::slice::from_raw_parts(indices, nnz),
                values: std::slice::from_raw_parts(values, nnz),
            }
        }
    }

    #[inline]
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// The indices as `u32`, the form `semvec_simd`'s sparse kernels take (valid values never
    /// hold a negative index).
    #[inline]
    pub fn indices_u32(&self) -> &'a [u32] {
        // SAFETY: i32 and u32 have the same size and alignment; every bit pattern is valid.
        unsafe { std::slice::from_raw_parts(self.indices.as_ptr().cast::<u32>(), self.indices.len()) }
    }

    /// An owned copy, for the core crate's functions on [`SparseVec`].
    pub fn to_owned(&self) -> SparseVec {
        SparseVec {
            dim: self.dim,
            indices: self.indices.to_vec(),
            values: self.values.to_vec(),
        }
    }
}

/// Build a `sparsevec` datum from a core value.
pub fn sparsevec_datum(v: &SparseVec) -> Datum {
    let nnz = v.nnz();
    unsafe {
        let p = alloc_varlena(SPARSEVEC_HEADER_SIZE + 8 * nnz) as *mut SparsevecHeader;
        (*p).dim = v.dim;
        (*p).nnz = nnz as i32;
        (*p).unused = 0;
        let indices = (p as *mut u8).add(SPARSEVEC_HEADER_SIZE) as *mut i32;
        std::ptr::copy_nonoverlapping(v.indices.as_ptr(), indices, nnz);
        std::ptr::copy_nonoverlapping(v.values.as_ptr(), indices.add(nnz) as *mut f32, nnz);
        Datum::from(p)
    }
}

#[inline]
pub unsafe fn sparse_arg<'a>(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> SparsevecRef<'a> {
    unsafe { SparsevecRef::from_datum(arg(fcinfo, n)) }
}

/// Both arguments, with pgvector's "different sparsevec dimensions" check.
#[inline]
unsafe fn two<'a>(fcinfo: pg_sys::FunctionCallInfo) -> (SparsevecRef<'a>, SparsevecRef<'a>) {
    unsafe {
        let a = sparse_arg(fcinfo, 0);
        let b = sparse_arg(fcinfo, 1);
        core::check_same_dims_for("sparsevec", a.dim.max(0) as usize, b.dim.max(0) as usize).or_raise();
        (a, b)
    }
}

// ---- I/O -------------------------------------------------------------------------------------

pg_fn!(fn semvec_sparsevec_in(fcinfo) {
    let s = arg_cstr(fcinfo, 0);
    let typmod = arg_i32(fcinfo, 2);
    let s = String::from_utf8_lossy(s.to_bytes());
    sparsevec_datum(&core::parse_sparsevec_typmod(&s, typmod).or_raise())
});

pg_fn!(fn semvec_sparsevec_out(fcinfo) {
    let v = sparse_arg(fcinfo, 0).to_owned();
    let mut s = String::new();
    core::format_sparsevec(&v, &mut s);
    cstring_datum(&s)
});

pg_fn!(fn semvec_sparsevec_typmod_in(fcinfo) {
    let mods = crate::datatype::array::cstring_array_to_i32(arg(fcinfo, 0));
    Datum::from(core::typmod_in("sparsevec", &mods, core::SPARSEVEC_MAX_DIM).or_raise() as isize)
});

pg_fn!(fn semvec_sparsevec_recv(fcinfo) {
    let buf = arg(fcinfo, 0).cast_mut_ptr::<pg_sys::StringInfoData>();
    let typmod = arg_i32(fcinfo, 2);
    let (v, used) = core::binary::sparsevec_recv(stringinfo_remaining(buf), typmod).or_raise();
    (*buf).cursor += used as i32;
    sparsevec_datum(&v)
});

pg_fn!(fn semvec_sparsevec_send(fcinfo) {
    bytea_datum(&core::binary::sparsevec_send(&sparse_arg(fcinfo, 0).to_owned()))
});

// ---- casts -----------------------------------------------------------------------------------

pg_fn!(fn semvec_sparsevec_typmod_cast(fcinfo) {
    let v = sparse_arg(fcinfo, 0);
    core::check_expected_dim(arg_i32(fcinfo, 1), v.dim.max(0) as usize).or_raise();
    arg(fcinfo, 0)
});

pg_fn!(fn semvec_vector_to_sparsevec(fcinfo) {
    let v = VectorRef::from_datum(arg(fcinfo, 0));
    sparsevec_datum(&core::convert::vector_to_sparsevec(v.x, arg_i32(fcinfo, 1)).or_raise())
});

pg_fn!(fn semvec_sparsevec_to_vector(fcinfo) {
    let v = sparse_arg(fcinfo, 0).to_owned();
    vector_datum(&core::convert::sparsevec_to_vector(&v, arg_i32(fcinfo, 1)).or_raise())
});

pg_fn!(fn semvec_halfvec_to_sparsevec(fcinfo) {
    let v = HalfvecRef::from_datum(arg(fcinfo, 0));
    sparsevec_datum(&core::convert::halfvec_to_sparsevec(v.x(), arg_i32(fcinfo, 1)).or_raise())
});

pg_fn!(fn semvec_sparsevec_to_halfvec(fcinfo) {
    let v = sparse_arg(fcinfo, 0).to_owned();
    let h = core::convert::sparsevec_to_halfvec(&v, arg_i32(fcinfo, 1)).or_raise();
    halfvec_datum(h.iter().map(|x| x.to_bits()))
});

pg_fn!(fn semvec_array_to_sparsevec(fcinfo) {
    let typmod = arg_i32(fcinfo, 1);
    let values = crate::datatype::array::numeric_array_to_f32(arg(fcinfo, 0));
    sparsevec_datum(&core::convert::array_to_sparsevec(&values, typmod).or_raise())
});

// ---- distances -------------------------------------------------------------------------------
// The kernels merge both index lists in ascending order, adding terms in pgvector's order.

#[inline]
fn l2_squared(a: SparsevecRef, b: SparsevecRef) -> f32 {
    semvec_simd::sparse_l2_squared(a.indices_u32(), a.values, b.indices_u32(), b.values)
}

#[inline]
fn dot(a: SparsevecRef, b: SparsevecRef) -> f32 {
    semvec_simd::sparse_dot(a.indices_u32(), a.values, b.indices_u32(), b.values)
}

pg_fn!(fn semvec_sparsevec_l2_distance(fcinfo) {
    let (a, b) = two(fcinfo);
    f64_datum((l2_squared(a, b) as f64).sqrt())
});

pg_fn!(fn semvec_sparsevec_l2_squared_distance(fcinfo) {
    let (a, b) = two(fcinfo);
    f64_datum(l2_squared(a, b) as f64)
});

pg_fn!(fn semvec_sparsevec_inner_product(fcinfo) {
    let (a, b) = two(fcinfo);
    f64_datum(dot(a, b) as f64)
});

pg_fn!(fn semvec_sparsevec_negative_inner_product(fcinfo) {
    let (a, b) = two(fcinfo);
    f64_datum(-(dot(a, b) as f64))
});

pg_fn!(fn semvec_sparsevec_cosine_distance(fcinfo) {
    let (a, b) = two(fcinfo);
    f64_datum(semvec_simd::sparse_cosine_distance(a.indices_u32(), a.values, b.indices_u32(), b.values))
});

pg_fn!(fn semvec_sparsevec_l1_distance(fcinfo) {
    let (a, b) = two(fcinfo);
    f64_datum(semvec_simd::sparse_l1(a.indices_u32(), a.values, b.indices_u32(), b.values) as f64)
});

// ---- functions -------------------------------------------------------------------------------

pg_fn!(fn semvec_sparsevec_l2_norm(fcinfo) {
    f64_datum(core::norm_f64(sparse_arg(fcinfo, 0).values))
});

pg_fn!(fn semvec_sparsevec_l2_normalize(fcinfo) {
    let v = sparse_arg(fcinfo, 0).to_owned();
    sparsevec_datum(&core::sparse_l2_normalize(&v).or_raise())
});

// ---- comparison ------------------------------------------------------------------------------

#[inline]
unsafe fn cmp_args(fcinfo: pg_sys::FunctionCallInfo) -> Ordering {
    unsafe { core::sparse_cmp(&sparse_arg(fcinfo, 0).to_owned(), &sparse_arg(fcinfo, 1).to_owned()) }
}

pg_fn!(fn semvec_sparsevec_lt(fcinfo) { bool_datum(cmp_args(fcinfo) == Ordering::Less) });
pg_fn!(fn semvec_sparsevec_le(fcinfo) { bool_datum(cmp_args(fcinfo) != Ordering::Greater) });
pg_fn!(fn semvec_sparsevec_eq(fcinfo) { bool_datum(cmp_args(fcinfo) == Ordering::Equal) });
pg_fn!(fn semvec_sparsevec_ne(fcinfo) { bool_datum(cmp_args(fcinfo) != Ordering::Equal) });
pg_fn!(fn semvec_sparsevec_ge(fcinfo) { bool_datum(cmp_args(fcinfo) != Ordering::Less) });
pg_fn!(fn semvec_sparsevec_gt(fcinfo) { bool_datum(cmp_args(fcinfo) == Ordering::Greater) });
pg_fn!(fn semvec_sparsevec_cmp(fcinfo) {
    i32_datum(cmp_args(fcinfo) as i32)
});
