//! pgvector's small validity checks (`CheckDim`, `CheckExpectedDim`,
//! `CheckDims`, `CheckElement`, `CheckNnz`, `CheckIndex`, typmod input),
//! with their exact messages and SQLSTATEs.

use crate::error::{sqlstate, VecError};
use crate::{HALFVEC_MAX_DIM, SPARSEVEC_MAX_DIM, SPARSEVEC_MAX_NNZ, VECTOR_MAX_DIM};
use half::f16;

/// `vector_typmod_in` / `halfvec_typmod_in` / `sparsevec_typmod_in` (and
/// the bit-type-free variant for any `typname`): exactly one modifier, in
/// `1..=max_dim`. All errors are 22023.
pub fn typmod_in(typname: &str, mods: &[i32], max_dim: usize) -> Result<i32, VecError> {
    if mods.len() != 1 {
        return Err(VecError::new(sqlstate::INVALID_PARAMETER_VALUE, "invalid type modifier"));
    }
    let m = mods[0];
    if m < 1 {
        return Err(VecError::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!("dimensions for type {typname} must be at least 1"),
        ));
    }
    if m as i64 > max_dim as i64 {
        return Err(VecError::new(
            sqlstate::INVALID_PARAMETER_VALUE,
            format!("dimensions for type {typname} cannot exceed {max_dim}"),
        ));
    }
    Ok(m)
}

/// `CheckExpectedDim`: a typmod of -1 accepts any dimension (22000).
pub fn check_expected_dim(typmod: i32, dim: usize) -> Result<(), VecError> {
    if typmod != -1 && typmod as i64 != dim as i64 {
        return Err(VecError::new(
            sqlstate::DATA_EXCEPTION,
            format!("expected {typmod} dimensions, not {dim}"),
        ));
    }
    Ok(())
}

/// `CheckDims` of `vector`: "different vector dimensions 3 and 2" (22000).
pub fn check_same_dims(a: usize, b: usize) -> Result<(), VecError> {
    check_same_dims_for("vector", a, b)
}

/// `CheckDims` for `vector`, `halfvec` or `sparsevec` (22000).
pub fn check_same_dims_for(typname: &str, a: usize, b: usize) -> Result<(), VecError> {
    if a != b {
        return Err(VecError::new(
            sqlstate::DATA_EXCEPTION,
            format!("different {typname} dimensions {a} and {b}"),
        ));
    }
    Ok(())
}

/// `CheckDims` of `bit` distances: "different bit lengths 3 and 2" (22000).
pub fn check_same_bit_lengths(a: usize, b: usize) -> Result<(), VecError> {
    if a != b {
        return Err(VecError::new(
            sqlstate::DATA_EXCEPTION,
            format!("different bit lengths {a} and {b}"),
        ));
    }
    Ok(())
}

/// `CheckDim`: at least 1 (22000) and at most `max_dim` (54000). `dim` may be
/// any integer type, including negative values read from binary input.
pub fn check_dim<D: TryInto<i64>>(typname: &str, dim: D, max_dim: usize) -> Result<(), VecError> {
    let dim: i64 = dim.try_into().unwrap_or(i64::MAX);
    if dim < 1 {
        return Err(VecError::new(
            sqlstate::DATA_EXCEPTION,
            format!("{typname} must have at least 1 dimension"),
        ));
    }
    if dim > max_dim as i64 {
        return Err(VecError::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!("{typname} cannot have more than {max_dim} dimensions"),
        ));
    }
    Ok(())
}

/// [`check_dim`] for `vector`.
pub fn check_vector_dim<D: TryInto<i64>>(dim: D) -> Result<(), VecError> {
    check_dim("vector", dim, VECTOR_MAX_DIM)
}

/// [`check_dim`] for `halfvec`.
pub fn check_halfvec_dim<D: TryInto<i64>>(dim: D) -> Result<(), VecError> {
    check_dim("halfvec", dim, HALFVEC_MAX_DIM)
}

/// [`check_dim`] for `sparsevec`.
pub fn check_sparsevec_dim<D: TryInto<i64>>(dim: D) -> Result<(), VecError> {
    check_dim("sparsevec", dim, SPARSEVEC_MAX_DIM)
}

/// `CheckElement` of `vector`: no NaN, no infinity (22000).
pub fn check_element(x: f32) -> Result<(), VecError> {
    check_element_for("vector", x)
}

/// `CheckElement` for `vector` or `sparsevec` elements.
pub fn check_element_for(typname: &str, x: f32) -> Result<(), VecError> {
    if x.is_nan() {
        return Err(VecError::new(sqlstate::DATA_EXCEPTION, format!("NaN not allowed in {typname}")));
    }
    if x.is_infinite() {
        return Err(VecError::new(
            sqlstate::DATA_EXCEPTION,
            format!("infinite value not allowed in {typname}"),
        ));
    }
    Ok(())
}

/// `CheckElement` of `halfvec`.
pub fn check_element_f16(x: f16) -> Result<(), VecError> {
    if x.is_nan() {
        return Err(VecError::new(sqlstate::DATA_EXCEPTION, "NaN not allowed in halfvec"));
    }
    if x.is_infinite() {
        return Err(VecError::new(sqlstate::DATA_EXCEPTION, "infinite value not allowed in halfvec"));
    }
    Ok(())
}

/// `CheckNnz` of `sparsevec`: 0 ≤ nnz ≤ 16000 and nnz ≤ dim.
pub fn check_nnz(nnz: i64, dim: i64) -> Result<(), VecError> {
    if nnz < 0 {
        return Err(VecError::new(
            sqlstate::DATA_EXCEPTION,
            "sparsevec cannot have negative number of elements",
        ));
    }
    if nnz > SPARSEVEC_MAX_NNZ as i64 {
        return Err(VecError::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            format!("sparsevec cannot have more than {SPARSEVEC_MAX_NNZ} non-zero elements"),
        ));
    }
    if nnz > dim {
        return Err(VecError::new(
            sqlstate::PROGRAM_LIMIT_EXCEEDED,
            "sparsevec cannot have more elements than dimensions",
        ));
    }
    Ok(())
}

/// `CheckIndex` of `sparsevec`: `indices[i]` (0-based) is within `dim` and
/// strictly greater than `indices[i - 1]` (22000).
pub fn check_sparse_index(indices: &[i32], i: usize, dim: i32) -> Result<(), VecError> {
    let index = indices[i];
    if index < 0 || index >= dim {
        return Err(VecError::new(sqlstate::DATA_EXCEPTION, "sparsevec index out of bounds"));
    }
    if i > 0 {
        if index < indices[i - 1] {
            return Err(VecError::new(
                sqlstate::DATA_EXCEPTION,
                "sparsevec indices must be in ascending order",
            ));
        }
        if index == indices[i - 1] {
            return Err(VecError::new(
                sqlstate::DATA_EXCEPTION,
                "sparsevec indices must not contain duplicates",
            ));
        }
    }
    Ok(())
}

/// Float4ToHalf: rounds to nearest-even and rejects finite values that
/// overflow the half range, printing the `f32` like PostgreSQL (22003).
/// Infinite and NaN inputs convert without error (callers check elements).
pub fn f32_to_f16_checked(x: f32) -> Result<f16, VecError> {
    let h = f16::from_f32(x);
    if h.is_infinite() && !x.is_infinite() {
        return Err(VecError::new(
            sqlstate::NUMERIC_VALUE_OUT_OF_RANGE,
            format!("\"{}\" is out of range for type halfvec", crate::format::f32_to_string(x)),
        ));
    }
    Ok(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typmod_errors_have_pgvector_messages() {
        assert_eq!(typmod_in("vector", &[3], VECTOR_MAX_DIM), Ok(3));
        assert_eq!(typmod_in("vector", &[16000], VECTOR_MAX_DIM), Ok(16000));
        let e = typmod_in("vector", &[3, 2], VECTOR_MAX_DIM).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), ("22023", "invalid type modifier"));
        let e = typmod_in("vector", &[], VECTOR_MAX_DIM).unwrap_err();
        assert_eq!(e.message, "invalid type modifier");
        let e = typmod_in("vector", &[0], VECTOR_MAX_DIM).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("22023", "dimensions for type vector must be at least 1")
        );
        let e = typmod_in("vector", &[16001], VECTOR_MAX_DIM).unwrap_err();
        assert_eq!(e.message, "dimensions for type vector cannot exceed 16000");
        let e = typmod_in("sparsevec", &[1_000_000_001], SPARSEVEC_MAX_DIM).unwrap_err();
        assert_eq!(e.message, "dimensions for type sparsevec cannot exceed 1000000000");
        let e = typmod_in("halfvec", &[-5], HALFVEC_MAX_DIM).unwrap_err();
        assert_eq!(e.message, "dimensions for type halfvec must be at least 1");
    }

    #[test]
    fn dimension_checks_have_pgvector_messages() {
        assert!(check_expected_dim(-1, 7).is_ok());
        assert!(check_expected_dim(3, 3).is_ok());
        let e = check_expected_dim(2, 3).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), ("22000", "expected 2 dimensions, not 3"));
        let e = check_same_dims(2, 1).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), ("22000", "different vector dimensions 2 and 1"));
        let e = check_same_dims_for("halfvec", 2, 1).unwrap_err();
        assert_eq!(e.message, "different halfvec dimensions 2 and 1");
        let e = check_same_bit_lengths(3, 4).unwrap_err();
        assert_eq!(e.message, "different bit lengths 3 and 4");
        let e = check_dim("vector", 0usize, VECTOR_MAX_DIM).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), ("22000", "vector must have at least 1 dimension"));
        let e = check_dim("vector", -3i16, VECTOR_MAX_DIM).unwrap_err();
        assert_eq!(e.message, "vector must have at least 1 dimension");
        let e = check_dim("vector", 16001usize, VECTOR_MAX_DIM).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("54000", "vector cannot have more than 16000 dimensions")
        );
        let e = check_sparsevec_dim(i64::from(i32::MAX)).unwrap_err();
        assert_eq!(e.message, "sparsevec cannot have more than 1000000000 dimensions");
        assert!(check_dim("vector", usize::MAX, VECTOR_MAX_DIM).is_err());
    }

    #[test]
    fn element_checks_reject_nan_and_infinity() {
        assert!(check_element(1.0).is_ok());
        let e = check_element(f32::NAN).unwrap_err();
        assert_eq!((e.code, e.message.as_str()), ("22000", "NaN not allowed in vector"));
        let e = check_element(f32::NEG_INFINITY).unwrap_err();
        assert_eq!(e.message, "infinite value not allowed in vector");
        assert_eq!(
            check_element_for("sparsevec", f32::NAN).unwrap_err().message,
            "NaN not allowed in sparsevec"
        );
        assert_eq!(
            check_element_f16(f16::INFINITY).unwrap_err().message,
            "infinite value not allowed in halfvec"
        );
        assert_eq!(check_element_f16(f16::NAN).unwrap_err().message, "NaN not allowed in halfvec");
    }

    #[test]
    fn sparse_checks_have_pgvector_messages() {
        assert_eq!(
            check_nnz(-1, 5).unwrap_err().message,
            "sparsevec cannot have negative number of elements"
        );
        let e = check_nnz(16001, 100_000).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("54000", "sparsevec cannot have more than 16000 non-zero elements")
        );
        assert_eq!(
            check_nnz(6, 5).unwrap_err().message,
            "sparsevec cannot have more elements than dimensions"
        );
        assert!(check_nnz(5, 5).is_ok());
        assert_eq!(check_sparse_index(&[5], 0, 5).unwrap_err().message, "sparsevec index out of bounds");
        assert_eq!(
            check_sparse_index(&[-1], 0, 5).unwrap_err().message,
            "sparsevec index out of bounds"
        );
        assert_eq!(
            check_sparse_index(&[3, 2], 1, 5).unwrap_err().message,
            "sparsevec indices must be in ascending order"
        );
        assert_eq!(
            check_sparse_index(&[3, 3], 1, 5).unwrap_err().message,
            "sparsevec indices must not contain duplicates"
        );
    }

    #[test]
    fn half_conversion_rejects_finite_overflow_only() {
        assert_eq!(f32_to_f16_checked(65519.0).unwrap(), f16::MAX);
        let e = f32_to_f16_checked(65520.0).unwrap_err();
        assert_eq!(
            (e.code, e.message.as_str()),
            ("22003", "\"65520\" is out of range for type halfvec")
        );
        assert_eq!(
            f32_to_f16_checked(-f32::MAX).unwrap_err().message,
            "\"-3.4028235e+38\" is out of range for type halfvec"
        );
        assert!(f32_to_f16_checked(f32::INFINITY).unwrap().is_infinite());
        assert_eq!(f32_to_f16_checked(1e-8).unwrap(), f16::from_f32(0.0));
    }
}
