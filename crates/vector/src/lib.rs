//! pgvector-compatible value logic for semvec's `vector`, `halfvec` and
//! `sparsevec` types, free of any PostgreSQL dependency: text input and
//! output, binary I/O, type modifiers, validity checks, casts, element-wise
//! operations and aggregate state, all with pgvector 0.8's exact messages
//! and SQLSTATEs ([`VecError`]).
//!
//! Distances live in `semvec-simd`.

pub mod agg;
pub mod binary;
pub mod checks;
pub mod cnum;
pub mod convert;
pub mod error;
pub mod format;
pub mod ops;
pub mod parse;
pub mod sparse;

/// Maximum dimensions of a `vector`.
pub const VECTOR_MAX_DIM: usize = 16000;
/// Maximum dimensions of a `halfvec`.
pub const HALFVEC_MAX_DIM: usize = 16000;
/// Maximum dimensions of a `sparsevec`.
pub const SPARSEVEC_MAX_DIM: usize = 1_000_000_000;
/// Maximum non-zero elements of a `sparsevec`.
pub const SPARSEVEC_MAX_NNZ: usize = 16000;

pub use agg::{accum, accum_f16, combine, finalize_avg, finalize_avg_f16, finalize_sum, state_array_error};
pub use checks::{
    check_dim, check_element, check_element_f16, check_element_for, check_expected_dim, check_nnz, check_same_bit_lengths, check_same_dims,
    check_same_dims_for, check_sparse_index, f32_to_f16_checked, typmod_in,
};
pub use error::{sqlstate, VecError};
pub use format::{f32_to_string, format_f32, format_halfvec, format_sparsevec, format_vector};
pub use ops::{
    add, add_f16, binary_quantize, binary_quantize_f16, cmp, cmp_f16, concat, concat_f16, l2_normalize, l2_normalize_f16, mul, mul_f16,
    norm_f64, norm_f64_f16, sub, sub_f16, subvector, subvector_f16,
};
pub use parse::{parse_halfvec, parse_halfvec_typmod, parse_sparsevec, parse_sparsevec_typmod, parse_vector, parse_vector_typmod};
pub use sparse::{sparse_cmp, sparse_l2_norm, sparse_l2_normalize, SparseVec};
