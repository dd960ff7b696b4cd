//! Casts between `vector`, `halfvec`, `sparsevec` and arrays, with
//! pgvector's checks in pgvector's order. Each takes the target type
//! modifier (-1 for none).
//!
//! Array casts take the elements already converted to `f32` the way
//! pgvector does it (`int4` and `float8` by C conversion, i.e. `as f32`;
//! `numeric` through `numeric_float4`). Checks for multi-dimensional arrays
//! ("array must be 1-D"), NULLs ("array must not contain nulls") and
//! unsupported element types ("unsupported array type") are the caller's;
//! [`array_error`] builds them.

use crate::checks::{check_dim, check_element_f16, check_element_for, check_expected_dim, check_nnz, f32_to_f16_checked};
use crate::error::{sqlstate, VecError};
use crate::sparse::SparseVec;
use crate::{HALFVEC_MAX_DIM, SPARSEVEC_MAX_DIM, VECTOR_MAX_DIM};
use half::f16;

/// Errors of the array casts that depend on the array's shape or type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayProblem {
    /// More than one dimension.
    NotOneDimensional,
    /// A NULL element.
    ContainsNulls,
    /// Elements that are not int4, float4, float8 or numeric.
    UnsupportedType,
}

/// The pgvector error for an [`ArrayProblem`].
pub fn array_error(problem: ArrayProblem) -> VecError {
    match problem {
        ArrayProblem::NotOneDimensional => VecError::new(sqlstate::DATA_EXCEPTION, "array must be 1-D"),
        ArrayProblem::ContainsNulls => VecError::new(sqlstate::NULL_VALUE_NOT_ALLOWED, "array must not contain nulls"),
        ArrayProblem::UnsupportedType => VecError::new(sqlstate::DATA_EXCEPTION, "unsupported array type"),
    }
}

/// `array_to_vector`: dimension checks, then every element finite.
pub fn array_to_vector(values: &[f32], typmod: i32) -> Result<Vec<f32>, VecError> {
    check_dim("vector", values.len(), VECTOR_MAX_DIM)?;
    check_expected_dim(typmod, values.len())?;
    for &x in values {
        check_element_for("vector", x)?;
    }
    Ok(values.to_vec())
}

/// `array_to_halfvec`: dimension checks, conversion of every element
/// (finite overflow is 22003), then every element finite.
pub fn array_to_halfvec(values: &[f32], typmod: i32) -> Result<Vec<f16>, VecError> {
    check_dim("halfvec", values.len(), HALFVEC_MAX_DIM)?;
    check_expected_dim(typmod, values.len())?;
    let out = values.iter().map(|&x| f32_to_f16_checked(x)).collect::<Result<Vec<_>, _>>()?;
    for &h in &out {
        check_element_f16(h)?;
    }
    Ok(out)
}

/// `array_to_sparsevec`: dimension checks, the non-zero count (NaN counts as
/// non-zero), then every stored element finite.
pub fn array_to_sparsevec(values: &[f32], typmod: i32) -> Result<SparseVec, VecError> {
    check_dim("sparsevec", values.len(), SPARSEVEC_MAX_DIM)?;
    check_expected_dim(typmod, values.len())?;
    let sv = dense_to_sparse(values.len(), values.iter().copied())?;
    for &x in &sv.values {
        check_element_for("sparsevec", x)?;
    }
    Ok(sv)
}

fn dense_to_sparse(dim: usize, values: impl Iterator<Item = f32> + Clone) -> Result<SparseVec, VecError> {
    let nnz = values.clone().filter(|&x| x != 0.0).count();
    check_nnz(nnz as i64, dim as i64)?;
    let mut sv = SparseVec {
        dim: dim as i32,
        indices: Vec::with_capacity(nnz),
        values: Vec::with_capacity(nnz),
    };
    for (i, x) in values.enumerate() {
        if x != 0.0 {
            sv.indices.push(i as i32);
            sv.values.push(x);
        }
    }
    Ok(sv)
}

/// `vector::halfvec`.
pub fn vector_to_halfvec(v: &[f32], typmod: i32) -> Result<Vec<f16>, VecError> {
    check_dim("halfvec", v.len(), HALFVEC_MAX_DIM)?;
    check_expected_dim(typmod, v.len())?;
    v.iter().map(|&x| f32_to_f16_checked(x)).collect()
}

/// `halfvec::vector` (exact).
pub fn halfvec_to_vector(v: &[f16], typmod: i32) -> Result<Vec<f32>, VecError> {
    check_dim("vector", v.len(), VECTOR_MAX_DIM)?;
    check_expected_dim(typmod, v.len())?;
    Ok(v.iter().map(|x| x.to_f32()).collect())
}

/// `vector::sparsevec`.
pub fn vector_to_sparsevec(v: &[f32], typmod: i32) -> Result<SparseVec, VecError> {
    check_dim("sparsevec", v.len(), SPARSEVEC_MAX_DIM)?;
    check_expected_dim(typmod, v.len())?;
    dense_to_sparse(v.len(), v.iter().copied())
}

/// `halfvec::sparsevec`.
pub fn halfvec_to_sparsevec(v: &[f16], typmod: i32) -> Result<SparseVec, VecError> {
    check_dim("sparsevec", v.len(), SPARSEVEC_MAX_DIM)?;
    check_expected_dim(typmod, v.len())?;
    dense_to_sparse(v.len(), v.iter().map(|x| x.to_f32()))
}

/// `sparsevec::vector`; more than 16000 dimensions is 54000.
pub fn sparsevec_to_vector(v: &SparseVec, typmod: i32) -> Result<Vec<f32>, VecError> {
    check_dim("vector", v.dim, VECTOR_MAX_DIM)?;
    check_expected_dim(typmod, v.dim as usize)?;
    Ok(v.to_dense())
}

/// `sparsevec::halfvec`.
pub fn sparsevec_to_halfvec(v: &SparseVec, typmod: i32) -> Result<Vec<f16>, VecError> {
    check_dim("halfvec", v.dim, HALFVEC_MAX_DIM)?;
    check_expected_dim(typmod, v.dim as usize)?;
    let mut out = vec![f16::ZERO; v.dim as usize];
    for (&i, &x) in v.indices.iter().zip(&v.values) {
        out[i as usize] = f32_to_f16_checked(x)?;
    }
    Ok(out)
}

/// The `vector(v, typmod)` / `halfvec(v, typmod)` / `sparsevec(v, typmod)`
/// length-coercion casts are [`check_expected_dim`].
pub use crate::checks::check_expected_dim as coerce_typmod;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_sparsevec;

    fn msg<T: std::fmt::Debug>(r: Result<T, VecError>) -> (&'static str, String) {
        let e = r.unwrap_err();
        (e.code, e.message)
    }

    #[test]
    fn array_casts_match_pgvector_cast_test() {
        assert_eq!(array_to_vector(&[1., 2., 3.], -1).unwrap(), vec![1., 2., 3.]);
        assert_eq!(msg(array_to_vector(&[1., 2., 3.], 2)).1, "expected 2 dimensions, not 3");
        assert_eq!(msg(array_to_vector(&[f32::NAN], -1)).1, "NaN not allowed in vector");
        assert_eq!(msg(array_to_vector(&[f32::INFINITY], -1)).1, "infinite value not allowed in vector");
        // float8 4e38 becomes infinity when narrowed to float4.
        assert_eq!(
            msg(array_to_vector(&[4e38f64 as f32, -4e38f64 as f32], -1)).1,
            "infinite value not allowed in vector"
        );
        assert_eq!(
            msg(array_to_vector(&[], -1)),
            ("22000", "vector must have at least 1 dimension".into())
        );
        assert_eq!(
            msg(array_to_vector(&vec![1.0; 16001], 16001)).1,
            "vector cannot have more than 16000 dimensions"
        );
        assert_eq!(
            msg(array_to_halfvec(&[65520., -65520.], -1)),
            ("22003", "\"65520\" is out of range for type halfvec".into())
        );
        assert_eq!(
            msg(array_to_halfvec(&vec![1.0; 16001], -1)).1,
            "halfvec cannot have more than 16000 dimensions"
        );
        assert_eq!(
            msg(array_to_halfvec(&[f32::INFINITY], -1)).1,
            "infinite value not allowed in halfvec"
        );
        assert_eq!(
            array_to_sparsevec(&[1., 0., 2., 0., 3., 0.], -1).unwrap(),
            parse_sparsevec("{1:1,3:2,5:3}/6").unwrap()
        );
        assert_eq!(
            msg(array_to_sparsevec(&[1., 0., 2., 0., 3., 0.], 5)).1,
            "expected 5 dimensions, not 6"
        );
        assert_eq!(msg(array_to_sparsevec(&[f32::NAN], -1)).1, "NaN not allowed in sparsevec");
        assert_eq!(
            msg(array_to_sparsevec(&[f32::NEG_INFINITY], -1)).1,
            "infinite value not allowed in sparsevec"
        );
        assert_eq!(msg(array_to_sparsevec(&[], -1)).1, "sparsevec must have at least 1 dimension");
        assert_eq!(
            msg(array_to_sparsevec(&vec![1.0; 16001], -1)),
            ("54000", "sparsevec cannot have more than 16000 non-zero elements".into())
        );
        assert_eq!(array_error(ArrayProblem::ContainsNulls).code, "22004");
        assert_eq!(array_error(ArrayProblem::NotOneDimensional).message, "array must be 1-D");
    }

    #[test]
    fn type_casts_match_pgvector_cast_test() {
        let h = |v: &[f32]| v.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
        assert_eq!(vector_to_halfvec(&[1., 2., 3.], -1).unwrap(), h(&[1., 2., 3.]));
        assert_eq!(msg(vector_to_halfvec(&[1., 2., 3.], 2)).1, "expected 2 dimensions, not 3");
        assert_eq!(
            msg(vector_to_halfvec(&[65520.], -1)).1,
            "\"65520\" is out of range for type halfvec"
        );
        assert_eq!(halfvec_to_vector(&h(&[1., 2., 3.]), -1).unwrap(), vec![1., 2., 3.]);
        assert_eq!(msg(halfvec_to_vector(&h(&[1., 2., 3.]), 2)).1, "expected 2 dimensions, not 3");
        let sv = parse_sparsevec("{2:1.5,4:3.5}/5").unwrap();
        assert_eq!(vector_to_sparsevec(&[0., 1.5, 0., 3.5, 0.], -1).unwrap(), sv);
        assert_eq!(
            msg(vector_to_sparsevec(&[0., 1.5, 0., 3.5, 0.], 4)).1,
            "expected 4 dimensions, not 5"
        );
        assert_eq!(halfvec_to_sparsevec(&h(&[0., 1.5, 0., 3.5, 0.]), -1).unwrap(), sv);
        assert_eq!(sparsevec_to_vector(&sv, -1).unwrap(), vec![0., 1.5, 0., 3.5, 0.]);
        assert_eq!(msg(sparsevec_to_vector(&sv, 4)).1, "expected 4 dimensions, not 5");
        let wide = parse_sparsevec("{}/16001").unwrap();
        assert_eq!(
            msg(sparsevec_to_vector(&wide, -1)),
            ("54000", "vector cannot have more than 16000 dimensions".into())
        );
        assert_eq!(
            msg(sparsevec_to_halfvec(&wide, -1)).1,
            "halfvec cannot have more than 16000 dimensions"
        );
        assert_eq!(sparsevec_to_halfvec(&sv, -1).unwrap(), h(&[0., 1.5, 0., 3.5, 0.]));
        let big = parse_sparsevec("{1:65520}/1").unwrap();
        assert_eq!(msg(sparsevec_to_halfvec(&big, -1)).1, "\"65520\" is out of range for type halfvec");
    }
}
