//! Aggregate state for `avg(vector)` / `avg(halfvec)`: pgvector's
//! `double precision[]` state `{n, sum_1, ..., sum_dim}`, where `{0}` is the
//! initial condition. The extension stores the state as a float8 array;
//! these functions do the arithmetic and the checks.
//!
//! Shape checks of the array itself (one dimension, at least one element,
//! no NULLs, float8) belong to the caller, which raises
//! [`state_array_error`] for them.

use crate::checks::{check_dim, check_element, check_element_f16, check_expected_dim, f32_to_f16_checked};
use crate::error::{sqlstate, VecError};
use crate::{HALFVEC_MAX_DIM, VECTOR_MAX_DIM};
use half::f16;

/// `elog(ERROR, "<caller>: expected state array")`, e.g. for `vector_avg`.
pub fn state_array_error(caller: &str) -> VecError {
    VecError::new(sqlstate::INTERNAL_ERROR, format!("{caller}: expected state array"))
}

fn state_parts<'a>(state: &'a [f64], caller: &str) -> Result<(f64, &'a [f64]), VecError> {
    match state.split_first() {
        Some((&n, sums)) => Ok((n, sums)),
        None => Err(state_array_error(caller)),
    }
}

fn accum_values(state: &[f64], x: impl ExactSizeIterator<Item = f64>, caller: &str) -> Result<Vec<f64>, VecError> {
    let (n, sums) = state_parts(state, caller)?;
    let dim = x.len();
    let mut out = Vec::with_capacity(dim + 1);
    out.push(n + 1.0);
    if sums.is_empty() {
        out.extend(x);
    } else {
        check_expected_dim(sums.len() as i32, dim)?;
        for (s, v) in sums.iter().zip(x) {
            let v = s + v;
            if v.is_infinite() {
                return Err(VecError::float_overflow());
            }
            out.push(v);
        }
    }
    Ok(out)
}

/// `vector_accum(state, x)`: count one more value and add it to the sums.
/// The first value fixes the dimension; later ones must match it
/// ("expected 3 dimensions, not 2"); an infinite sum is 22003.
pub fn accum(state: &[f64], x: &[f32]) -> Result<Vec<f64>, VecError> {
    accum_values(state, x.iter().map(|&v| f64::from(v)), "vector_accum")
}

/// `halfvec_accum(state, x)`.
pub fn accum_f16(state: &[f64], x: &[f16]) -> Result<Vec<f64>, VecError> {
    accum_values(state, x.iter().map(|v| f64::from(v.to_f32())), "halfvec_accum")
}

/// `vector_combine(a, b)` (also used for halfvec): merges two partial
/// states. Emptiness is decided by the number of sums (dimensions), not the
/// count: two empty states give an empty state, and a non-empty side is
/// dimension-checked (more than 16000 sums is an error) before it is copied.
pub fn combine(a: &[f64], b: &[f64]) -> Result<Vec<f64>, VecError> {
    let (n1, s1) = state_parts(a, "vector_combine")?;
    let (n2, s2) = state_parts(b, "vector_combine")?;
    let sums: Vec<f64> = match (s1.is_empty(), s2.is_empty()) {
        (true, true) => Vec::new(),
        (true, false) => {
            check_dim("vector", s2.len(), VECTOR_MAX_DIM)?;
            s2.to_vec()
        }
        (false, true) => {
            check_dim("vector", s1.len(), VECTOR_MAX_DIM)?;
            s1.to_vec()
        }
        (false, false) => {
            check_dim("vector", s1.len(), VECTOR_MAX_DIM)?;
            check_expected_dim(s1.len() as i32, s2.len())?;
            let mut out = Vec::with_capacity(s1.len());
            for (x, y) in s1.iter().zip(s2) {
                let v = x + y;
                if v.is_infinite() {
                    return Err(VecError::float_overflow());
                }
                out.push(v);
            }
            out
        }
    };
    let mut out = Vec::with_capacity(sums.len() + 1);
    out.push(n1 + n2);
    out.extend(sums);
    Ok(out)
}

/// `vector_avg(state)`: `None` (SQL NULL) when no values were aggregated;
/// otherwise each sum / n rounded to `f32`, which must be finite.
pub fn finalize_avg(state: &[f64]) -> Result<Option<Vec<f32>>, VecError> {
    let (n, sums) = state_parts(state, "vector_avg")?;
    if n == 0.0 {
        return Ok(None);
    }
    check_dim("vector", sums.len(), VECTOR_MAX_DIM)?;
    let mut out = Vec::with_capacity(sums.len());
    for s in sums {
        let x = (s / n) as f32;
        check_element(x)?;
        out.push(x);
    }
    Ok(Some(out))
}

/// `halfvec_avg(state)`: each mean rounded to `f32`, then to half precision
/// ("\"65520\" is out of range for type halfvec" when it overflows).
pub fn finalize_avg_f16(state: &[f64]) -> Result<Option<Vec<f16>>, VecError> {
    let (n, sums) = state_parts(state, "halfvec_avg")?;
    if n == 0.0 {
        return Ok(None);
    }
    check_dim("halfvec", sums.len(), HALFVEC_MAX_DIM)?;
    let mut out = Vec::with_capacity(sums.len());
    for s in sums {
        let h = f32_to_f16_checked((s / n) as f32)?;
        check_element_f16(h)?;
        out.push(h);
    }
    Ok(Some(out))
}

/// The sums of a state as a `vector`, for a `sum` aggregate kept in `f64`.
/// (pgvector's own `sum(vector)` folds with `vector + vector` in `f32`;
/// use [`crate::ops::add`] for exactly that.) `None` when nothing was
/// aggregated; a sum beyond the `f32` range is "value out of range: overflow".
pub fn finalize_sum(state: &[f64]) -> Result<Option<Vec<f32>>, VecError> {
    let (n, sums) = state_parts(state, "vector_sum")?;
    if n == 0.0 {
        return Ok(None);
    }
    check_dim("vector", sums.len(), VECTOR_MAX_DIM)?;
    let mut out = Vec::with_capacity(sums.len());
    for &s in sums {
        let x = s as f32;
        if x.is_infinite() {
            return Err(VecError::float_overflow());
        }
        out.push(x);
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg<T: std::fmt::Debug>(r: Result<T, VecError>) -> (&'static str, String) {
        let e = r.unwrap_err();
        (e.code, e.message)
    }

    #[test]
    fn accum_matches_pgvector_examples() {
        assert_eq!(accum(&[0.0], &[1., 2., 3.]).unwrap(), vec![1., 1., 2., 3.]);
        assert_eq!(accum(&[0.0, 0.0, 0.0, 0.0], &[1., 2., 3.]).unwrap(), vec![1., 1., 2., 3.]);
        assert_eq!(
            msg(accum(&[0.0, 0.0], &[1., 2., 3.])),
            ("22000", "expected 1 dimensions, not 3".into())
        );
        assert_eq!(msg(accum(&[], &[1.])), ("XX000", "vector_accum: expected state array".into()));
        let s = accum(&[0.0], &[3e38]).unwrap();
        let s = accum(&s, &[3e38]).unwrap();
        assert_eq!(s, vec![2.0, f64::from(3e38f32) * 2.0]);
        assert_eq!(msg(accum(&[1.0, f64::INFINITY], &[1.0])).1, "value out of range: overflow");
        let h = |v: &[f32]| v.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
        assert_eq!(accum_f16(&[0.0], &h(&[1., 2.])).unwrap(), vec![1., 1., 2.]);
        assert_eq!(msg(accum_f16(&[], &h(&[1.]))).1, "halfvec_accum: expected state array");
    }

    #[test]
    fn avg_matches_pgvector_examples() {
        let s = accum(&accum(&[0.0], &[1., 2., 3.]).unwrap(), &[3., 5., 7.]).unwrap();
        assert_eq!(finalize_avg(&s).unwrap(), Some(vec![2., 3.5, 5.]));
        assert_eq!(finalize_avg(&[2., 2., 4., 6.]).unwrap(), Some(vec![1., 2., 3.]));
        assert_eq!(finalize_avg(&[0.0]).unwrap(), None);
        assert_eq!(msg(finalize_avg(&[1.0])), ("22000", "vector must have at least 1 dimension".into()));
        let big: Vec<f64> = (1..=16002).map(f64::from).collect();
        assert_eq!(
            msg(finalize_avg(&big)),
            ("54000", "vector cannot have more than 16000 dimensions".into())
        );
        assert_eq!(msg(finalize_avg(&[])).1, "vector_avg: expected state array");
        // Mean of [3e38] and [3e38] is representable even though the sum is not.
        let s = accum(&accum(&[0.0], &[3e38]).unwrap(), &[3e38]).unwrap();
        assert_eq!(finalize_avg(&s).unwrap(), Some(vec![3e38]));
        assert_eq!(msg(finalize_avg(&[1.0, 1e39])).1, "infinite value not allowed in vector");
        let h = |v: &[f32]| v.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
        assert_eq!(finalize_avg_f16(&[2., 2., 4., 6.]).unwrap(), Some(h(&[1., 2., 3.])));
        assert_eq!(finalize_avg_f16(&[0.0]).unwrap(), None);
        assert_eq!(
            msg(finalize_avg_f16(&[1.0, 65520.0])),
            ("22003", "\"65520\" is out of range for type halfvec".into())
        );
        assert_eq!(msg(finalize_avg_f16(&[1.0, 1e39])).1, "infinite value not allowed in halfvec");
        assert_eq!(msg(finalize_avg_f16(&[1.0])).1, "halfvec must have at least 1 dimension");
    }

    #[test]
    fn combine_matches_pgvector_examples() {
        assert_eq!(combine(&[1., 2.], &[3., 4.]).unwrap(), vec![4., 6.]);
        assert_eq!(combine(&[0.], &[2., 5., 6.]).unwrap(), vec![2., 5., 6.]);
        assert_eq!(combine(&[2., 5., 6.], &[0.]).unwrap(), vec![2., 5., 6.]);
        // two empty states stay empty (pgvector's test: vector_combine('{0}', '{0}') = {0})
        assert_eq!(combine(&[0.], &[0.]).unwrap(), vec![0.]);
        let big: Vec<f64> = (1..=16002).map(f64::from).collect();
        assert_eq!(msg(combine(&[0.], &big)).1, "vector cannot have more than 16000 dimensions");
        assert_eq!(msg(combine(&big, &[0.])).1, "vector cannot have more than 16000 dimensions");
        assert_eq!(msg(combine(&big, &big)).1, "vector cannot have more than 16000 dimensions");
        assert_eq!(msg(combine(&[1., 2.], &[1., 2., 3.])).1, "expected 1 dimensions, not 2");
        assert_eq!(msg(combine(&[1., f64::MAX], &[1., f64::MAX])).1, "value out of range: overflow");
        assert_eq!(msg(combine(&[], &[0.])).1, "vector_combine: expected state array");
        assert_eq!(msg(combine(&[0.], &[])).1, "vector_combine: expected state array");
    }

    #[test]
    fn sum_finalizes_f64_sums_with_overflow_check() {
        assert_eq!(finalize_sum(&[2., 4., 7., 10.]).unwrap(), Some(vec![4., 7., 10.]));
        assert_eq!(finalize_sum(&[0.]).unwrap(), None);
        assert_eq!(msg(finalize_sum(&[2., 6e38])), ("22003", "value out of range: overflow".into()));
    }
}
