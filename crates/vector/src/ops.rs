//! Element-wise operations of `vector` and `halfvec`, with pgvector's checks:
//! dimension mismatch (22000), overflow/underflow (22003), dimension limits.

use crate::checks::{check_dim, check_same_dims_for};
use crate::error::{sqlstate, VecError};
use crate::{HALFVEC_MAX_DIM, VECTOR_MAX_DIM};
use half::f16;
use std::cmp::Ordering;

fn binary_f32(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> Result<Vec<f32>, VecError> {
    check_same_dims_for("vector", a.len(), b.len())?;
    let r: Vec<f32> = a.iter().zip(b).map(|(&x, &y)| f(x, y)).collect();
    if r.iter().any(|x| x.is_infinite()) {
        return Err(VecError::float_overflow());
    }
    Ok(r)
}

/// `vector + vector`.
pub fn add(a: &[f32], b: &[f32]) -> Result<Vec<f32>, VecError> {
    binary_f32(a, b, |x, y| x + y)
}

/// `vector - vector`.
pub fn sub(a: &[f32], b: &[f32]) -> Result<Vec<f32>, VecError> {
    binary_f32(a, b, |x, y| x - y)
}

/// `vector * vector` (element-wise). A product that rounds to zero from
/// non-zero factors is an underflow error, as in pgvector.
pub fn mul(a: &[f32], b: &[f32]) -> Result<Vec<f32>, VecError> {
    let r = binary_f32(a, b, |x, y| x * y)?;
    for ((&r, &x), &y) in r.iter().zip(a).zip(b) {
        if r == 0.0 && !(x == 0.0 || y == 0.0) {
            return Err(VecError::float_underflow());
        }
    }
    Ok(r)
}

fn binary_f16(a: &[f16], b: &[f16], f: impl Fn(f32, f32) -> f32) -> Result<Vec<f16>, VecError> {
    check_same_dims_for("halfvec", a.len(), b.len())?;
    // Computing in f32 and rounding once gives the correctly rounded half
    // result for +, -, * (f32 has more than twice the precision).
    let r: Vec<f16> = a.iter().zip(b).map(|(x, y)| f16::from_f32(f(x.to_f32(), y.to_f32()))).collect();
    if r.iter().any(|x| x.is_infinite()) {
        return Err(VecError::float_overflow());
    }
    Ok(r)
}

/// `halfvec + halfvec`.
pub fn add_f16(a: &[f16], b: &[f16]) -> Result<Vec<f16>, VecError> {
    binary_f16(a, b, |x, y| x + y)
}

/// `halfvec - halfvec`.
pub fn sub_f16(a: &[f16], b: &[f16]) -> Result<Vec<f16>, VecError> {
    binary_f16(a, b, |x, y| x - y)
}

/// `halfvec * halfvec` (element-wise), with pgvector's underflow check.
pub fn mul_f16(a: &[f16], b: &[f16]) -> Result<Vec<f16>, VecError> {
    let r = binary_f16(a, b, |x, y| x * y)?;
    let zero = |h: f16| h.to_f32() == 0.0;
    for ((&r, &x), &y) in r.iter().zip(a).zip(b) {
        if zero(r) && !(zero(x) || zero(y)) {
            return Err(VecError::float_underflow());
        }
    }
    Ok(r)
}

/// `vector || vector`; more than 16000 dimensions is 54000.
pub fn concat(a: &[f32], b: &[f32]) -> Result<Vec<f32>, VecError> {
    check_dim("vector", a.len() + b.len(), VECTOR_MAX_DIM)?;
    Ok([a, b].concat())
}

/// `halfvec || halfvec`.
pub fn concat_f16(a: &[f16], b: &[f16]) -> Result<Vec<f16>, VecError> {
    check_dim("halfvec", a.len() + b.len(), HALFVEC_MAX_DIM)?;
    Ok([a, b].concat())
}

/// `vector_cmp`: element-wise, then the shorter vector first (like arrays).
pub fn cmp(a: &[f32], b: &[f32]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        if x < y {
            return Ordering::Less;
        }
        if x > y {
            return Ordering::Greater;
        }
    }
    a.len().cmp(&b.len())
}

/// `halfvec_cmp`: compares the values widened to `f32` (so -0 == 0).
pub fn cmp_f16(a: &[f16], b: &[f16]) -> Ordering {
    for (x, y) in a.iter().zip(b) {
        let (x, y) = (x.to_f32(), y.to_f32());
        if x < y {
            return Ordering::Less;
        }
        if x > y {
            return Ordering::Greater;
        }
    }
    a.len().cmp(&b.len())
}

/// `vector_norm` / `l2_norm`: Σ x² accumulated in `f64` in index order (as
/// pgvector's loop does), then the square root.
pub fn norm_f64(a: &[f32]) -> f64 {
    let mut s = 0.0f64;
    for &x in a {
        s += f64::from(x) * f64::from(x);
    }
    s.sqrt()
}

/// `l2_norm(halfvec)`.
pub fn norm_f64_f16(a: &[f16]) -> f64 {
    let mut s = 0.0f64;
    for x in a {
        let x = f64::from(x.to_f32());
        s += x * x;
    }
    s.sqrt()
}

/// `l2_normalize(vector)`: each element divided by the `f64` norm; the zero
/// vector stays zero; an element that overflows is 22003.
pub fn l2_normalize(a: &[f32]) -> Result<Vec<f32>, VecError> {
    let norm = norm_f64(a);
    if norm <= 0.0 {
        return Ok(vec![0.0; a.len()]);
    }
    let r: Vec<f32> = a.iter().map(|&x| (f64::from(x) / norm) as f32).collect();
    if r.iter().any(|x| x.is_infinite()) {
        return Err(VecError::float_overflow());
    }
    Ok(r)
}

/// `l2_normalize(halfvec)`: divided in `f64`, rounded to `f32`, then to half.
pub fn l2_normalize_f16(a: &[f16]) -> Result<Vec<f16>, VecError> {
    let norm = norm_f64_f16(a);
    if norm <= 0.0 {
        return Ok(vec![f16::ZERO; a.len()]);
    }
    let r: Vec<f16> = a.iter().map(|x| f16::from_f32((f64::from(x.to_f32()) / norm) as f32)).collect();
    if r.iter().any(|x| x.is_infinite()) {
        return Err(VecError::float_overflow());
    }
    Ok(r)
}

/// pgvector's `subvector` logic for any element type: `start` is 1-based and
/// may be below 1 (like `substring`), the result must keep at least one
/// element.
fn subvector_of<T: Copy>(typname: &str, max_dim: usize, v: &[T], start: i32, count: i32) -> Result<Vec<T>, VecError> {
    let too_small = || VecError::new(sqlstate::DATA_EXCEPTION, format!("{typname} must have at least 1 dimension"));
    if count < 1 {
        return Err(too_small());
    }
    let dim = v.len() as i64;
    let (start, count) = (i64::from(start), i64::from(count));
    let end = if start > dim - count { dim + 1 } else { start + count };
    let start = if start < 1 {
        1
    } else if start > dim {
        return Err(too_small());
    } else {
        start
    };
    let n = end - start;
    check_dim(typname, n, max_dim)?;
    let first = (start - 1) as usize;
    Ok(v[first..first + n as usize].to_vec())
}

/// `subvector(vector, start, count)`.
pub fn subvector(v: &[f32], start: i32, count: i32) -> Result<Vec<f32>, VecError> {
    subvector_of("vector", VECTOR_MAX_DIM, v, start, count)
}

/// `subvector(halfvec, start, count)`.
pub fn subvector_f16(v: &[f16], start: i32, count: i32) -> Result<Vec<f16>, VecError> {
    subvector_of("halfvec", HALFVEC_MAX_DIM, v, start, count)
}

/// `binary_quantize(vector)`: bit i set when v[i] > 0, packed MSB-first
/// into `ceil(dim / 8)` bytes like a Postgres `bit(dim)` value.
pub fn binary_quantize(v: &[f32]) -> Vec<u8> {
    quantize(v.iter().map(|&x| x > 0.0), v.len())
}

/// `binary_quantize(halfvec)`.
pub fn binary_quantize_f16(v: &[f16]) -> Vec<u8> {
    quantize(v.iter().map(|x| x.to_f32() > 0.0), v.len())
}

fn quantize(bits: impl Iterator<Item = bool>, n: usize) -> Vec<u8> {
    let mut out = vec![0u8; n.div_ceil(8)];
    for (i, set) in bits.enumerate() {
        if set {
            out[i / 8] |= 0x80 >> (i % 8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg<T: std::fmt::Debug>(r: Result<T, VecError>) -> (&'static str, String) {
        let e = r.unwrap_err();
        (e.code, e.message)
    }

    #[test]
    fn arithmetic_matches_pgvector_examples() {
        assert_eq!(add(&[1., 2., 3.], &[4., 5., 6.]).unwrap(), vec![5., 7., 9.]);
        assert_eq!(msg(add(&[3e38], &[3e38])), ("22003", "value out of range: overflow".into()));
        assert_eq!(msg(add(&[1., 2.], &[3.])), ("22000", "different vector dimensions 2 and 1".into()));
        assert_eq!(sub(&[1., 2., 3.], &[4., 5., 6.]).unwrap(), vec![-3., -3., -3.]);
        assert_eq!(msg(sub(&[-3e38], &[3e38])).1, "value out of range: overflow");
        assert_eq!(mul(&[1., 2., 3.], &[4., 5., 6.]).unwrap(), vec![4., 10., 18.]);
        assert_eq!(msg(mul(&[1e37], &[1e37])).1, "value out of range: overflow");
        assert_eq!(msg(mul(&[1e-37], &[1e-37])), ("22003", "value out of range: underflow".into()));
        assert_eq!(mul(&[0.0, 1e-37], &[1e-37, 1.0]).unwrap(), vec![0.0, 1e-37]);
        assert_eq!(msg(mul(&[1., 2.], &[3.])).1, "different vector dimensions 2 and 1");
    }

    #[test]
    fn half_arithmetic_matches_pgvector_examples() {
        let h = |v: &[f32]| v.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
        assert_eq!(add_f16(&h(&[1., 2., 3.]), &h(&[4., 5., 6.])).unwrap(), h(&[5., 7., 9.]));
        assert_eq!(msg(add_f16(&h(&[65504.]), &h(&[65504.]))).1, "value out of range: overflow");
        assert_eq!(msg(add_f16(&h(&[1., 2.]), &h(&[3.]))).1, "different halfvec dimensions 2 and 1");
        assert_eq!(sub_f16(&h(&[1., 2., 3.]), &h(&[4., 5., 6.])).unwrap(), h(&[-3., -3., -3.]));
        assert_eq!(msg(sub_f16(&h(&[-65504.]), &h(&[65504.]))).1, "value out of range: overflow");
        assert_eq!(mul_f16(&h(&[1., 2., 3.]), &h(&[4., 5., 6.])).unwrap(), h(&[4., 10., 18.]));
        assert_eq!(msg(mul_f16(&h(&[65504.]), &h(&[65504.]))).1, "value out of range: overflow");
        assert_eq!(msg(mul_f16(&h(&[1e-7]), &h(&[1e-7]))).1, "value out of range: underflow");
    }

    #[test]
    fn concat_respects_the_dimension_limit() {
        assert_eq!(concat(&[1., 2., 3.], &[4., 5.]).unwrap(), vec![1., 2., 3., 4., 5.]);
        assert_eq!(
            msg(concat(&vec![0.0; 16000], &[1.0])),
            ("54000", "vector cannot have more than 16000 dimensions".into())
        );
        assert_eq!(
            msg(concat_f16(&vec![f16::ZERO; 16000], &[f16::ONE])).1,
            "halfvec cannot have more than 16000 dimensions"
        );
    }

    #[test]
    fn ordering_matches_pgvector_examples() {
        use Ordering::*;
        assert_eq!(cmp(&[1., 2., 3.], &[1., 2., 3.]), Equal);
        assert_eq!(cmp(&[1., 2., 3.], &[0., 0., 0.]), Greater);
        assert_eq!(cmp(&[0., 0., 0.], &[1., 2., 3.]), Less);
        assert_eq!(cmp(&[1., 2.], &[1., 2., 3.]), Less);
        assert_eq!(cmp(&[1., 2., 3.], &[1., 2.]), Greater);
        assert_eq!(cmp(&[1., 2.], &[2., 3., 4.]), Less);
        assert_eq!(cmp(&[2., 3.], &[1., 2., 3.]), Greater);
        assert_eq!(cmp(&[-0.0], &[0.0]), Equal);
        let h = |v: &[f32]| v.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
        assert_eq!(cmp_f16(&h(&[1., 2.]), &h(&[1., 2., 3.])), Less);
        assert_eq!(cmp_f16(&h(&[-0.0]), &h(&[0.0])), Equal);
        assert_eq!(cmp_f16(&h(&[2., 3.]), &h(&[1., 2., 3.])), Greater);
    }

    #[test]
    fn normalize_matches_pgvector_examples() {
        assert_eq!(l2_normalize(&[3., 4.]).unwrap(), vec![0.6, 0.8]);
        assert_eq!(l2_normalize(&[3., 0.]).unwrap(), vec![1., 0.]);
        assert_eq!(l2_normalize(&[0., 0.1]).unwrap(), vec![0., 1.]);
        assert_eq!(l2_normalize(&[0., 0.]).unwrap(), vec![0., 0.]);
        assert_eq!(l2_normalize(&[3e38]).unwrap(), vec![1.]);
        assert_eq!(norm_f64(&[3., 4.]), 5.0);
        assert_eq!(norm_f64(&[3e37, 4e37]) as f32, 5e37);
        let h = |v: &[f32]| v.iter().map(|&x| f16::from_f32(x)).collect::<Vec<_>>();
        assert_eq!(l2_normalize_f16(&h(&[3., 4.])).unwrap(), h(&[0.6, 0.8]));
        assert_eq!(l2_normalize_f16(&h(&[0., 0.])).unwrap(), h(&[0., 0.]));
        assert_eq!(l2_normalize_f16(&h(&[65504.])).unwrap(), h(&[1.]));
        assert_eq!(norm_f64_f16(&h(&[3., 4.])), 5.0);
    }

    #[test]
    fn subvector_matches_pgvector_examples() {
        let v = [1., 2., 3., 4., 5.];
        assert_eq!(subvector(&v, 1, 3).unwrap(), vec![1., 2., 3.]);
        assert_eq!(subvector(&v, 3, 2).unwrap(), vec![3., 4.]);
        assert_eq!(subvector(&v, -1, 3).unwrap(), vec![1.]);
        assert_eq!(subvector(&v, 3, 9).unwrap(), vec![3., 4., 5.]);
        assert_eq!(subvector(&v, 3, i32::MAX).unwrap(), vec![3., 4., 5.]);
        assert_eq!(subvector(&v, -2147483644, i32::MAX).unwrap(), vec![1., 2.]);
        assert_eq!(subvector(&v, 5, 1).unwrap(), vec![5.]);
        let e = ("22000", "vector must have at least 1 dimension".to_string());
        assert_eq!(msg(subvector(&v, 1, 0)), e);
        assert_eq!(msg(subvector(&v, 3, -1)), e);
        assert_eq!(msg(subvector(&v, -1, 2)), e);
        assert_eq!(msg(subvector(&v, i32::MAX, 10)), e);
        assert_eq!(msg(subvector(&v, 6, 1)), e);
        assert_eq!(msg(subvector(&v, i32::MIN, i32::MAX)), e);
        let h = [f16::ONE, f16::from_f32(2.0)];
        assert_eq!(subvector_f16(&h, 2, 5).unwrap(), vec![f16::from_f32(2.0)]);
        assert_eq!(msg(subvector_f16(&h, 1, 0)).1, "halfvec must have at least 1 dimension");
    }

    #[test]
    fn binary_quantize_packs_msb_first() {
        assert_eq!(binary_quantize(&[1., 0., -1.]), vec![0b1000_0000]);
        // pgvector: '[0,0.1,-0.2,-0.3,0.4,0.5,0.6,-0.7,0.8,-0.9,1]' -> 01001110101
        let v = [0., 0.1, -0.2, -0.3, 0.4, 0.5, 0.6, -0.7, 0.8, -0.9, 1.];
        assert_eq!(binary_quantize(&v), vec![0b0100_1110, 0b1010_0000]);
        // '[1,2,3,-4,5,6,-7,8,1,-2,-3,4,5,-6,7,8,-1,2,3]' -> 1110110110011011011
        let v = [1., 2., 3., -4., 5., 6., -7., 8., 1., -2., -3., 4., 5., -6., 7., 8., -1., 2., 3.];
        assert_eq!(binary_quantize(&v), vec![0b1110_1101, 0b1001_1011, 0b0110_0000]);
        assert_eq!(binary_quantize(&[-0.0, 1e-45]), vec![0b0100_0000]);
        let h: Vec<f16> = [1., 0., -1.].iter().map(|&x| f16::from_f32(x)).collect();
        assert_eq!(binary_quantize_f16(&h), vec![0b1000_0000]);
    }
}
