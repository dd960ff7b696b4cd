//! PostgreSQL's `bit` / `varbit` layout (int32 bit length, then bits MSB first).

use crate::fmgr::alloc_varlena;
use pgrx::pg_sys::{self, Datum};

#[repr(C)]
struct VarBitHeader {
    vl_len_: u32,
    bit_len: i32,
}

/// Build a `bit(nbits)` datum from packed bytes.
pub fn bit_datum(bytes: &[u8], nbits: usize) -> Datum {
    unsafe {
        let nbytes = nbits.div_ceil(8);
        let p = alloc_varlena(8 + nbytes) as *mut VarBitHeader;
        (*p).bit_len = nbits as i32;
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), (p as *mut u8).add(8), nbytes.min(bytes.len()));
        Datum::from(p)
    }
}

/// A detoasted `bit` value: (bit length, bytes).
pub unsafe fn bit_arg<'a>(d: Datum) -> (usize, &'a [u8]) {
    unsafe {
        let p = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as *const VarBitHeader;
        let nbits = (*p).bit_len.max(0) as usize;
        (nbits, std::slice::from_raw_parts((p as *const u8).add(8), nbits.div_ceil(8)))
    }
}
