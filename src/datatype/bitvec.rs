//! Distances between binary vectors stored in PostgreSQL's `bit` type (pgvector's `<~>` and `<%>`).

use crate::datatype::bit::bit_arg;
use crate::error::OrRaise;
use crate::fmgr::*;
use pgrx::pg_sys;

/// Both arguments' bytes, with pgvector's "different bit lengths" check. Bits past the length are
/// zero in every `bit`/`varbit` value, so whole bytes can be compared.
#[inline]
unsafe fn two<'a>(fcinfo: pg_sys::FunctionCallInfo) -> (&'a [u8], &'a [u8]) {
    unsafe {
        let (alen, a) = bit_arg(arg(fcinfo, 0));
        let (blen, b) = bit_arg(arg(fcinfo, 1));
        semvec_vector::check_same_bit_lengths(alen, blen).or_raise();
        (a, b)
    }
}

pg_fn!(fn semvec_hamming_distance(fcinfo) {
    let (a, b) = two(fcinfo);
    f64_datum(semvec_simd::hamming(a, b) as f64)
});

pg_fn!(fn semvec_jaccard_distance(fcinfo) {
    let (a, b) = two(fcinfo);
    f64_datum(semvec_simd::jaccard_distance(a, b))
});
