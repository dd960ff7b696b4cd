//! Binary I/O (`*_recv` / `*_send`) in pgvector's network-byte-order format:
//!
//! - vector: int16 dim, int16 unused (0), dim × float4
//! - halfvec: int16 dim, int16 unused (0), dim × 16-bit half
//! - sparsevec: int32 dim, int32 nnz, int32 unused (0), nnz × int32 0-based
//!   index, nnz × float4
//!
//! Receive functions read like `pq_getmsgint`, checking as they go in
//! pgvector's order, and return the value with the number of bytes used.

use crate::checks::{check_dim, check_element_f16, check_element_for, check_expected_dim, check_nnz, check_sparse_index};
use crate::error::{sqlstate, VecError};
use crate::sparse::SparseVec;
use crate::{HALFVEC_MAX_DIM, SPARSEVEC_MAX_DIM, VECTOR_MAX_DIM};
use half::f16;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], VecError> {
        let end = self.pos + N;
        if end > self.buf.len() {
            return Err(VecError::new(sqlstate::PROTOCOL_VIOLATION, "insufficient data left in message"));
        }
        let bytes = self.buf[self.pos..end].try_into().expect("N bytes");
        self.pos = end;
        Ok(bytes)
    }
    fn i16(&mut self) -> Result<i16, VecError> {
        Ok(i16::from_be_bytes(self.take()?))
    }
    fn i32(&mut self) -> Result<i32, VecError> {
        Ok(i32::from_be_bytes(self.take()?))
    }
    fn f32(&mut self) -> Result<f32, VecError> {
        Ok(f32::from_be_bytes(self.take()?))
    }
}

fn unused_error(unused: i32) -> VecError {
    VecError::new(sqlstate::DATA_EXCEPTION, format!("expected unused to be 0, not {unused}"))
}

/// `vector_recv`.
pub fn vector_recv(buf: &[u8], typmod: i32) -> Result<(Vec<f32>, usize), VecError> {
    let mut r = Reader { buf, pos: 0 };
    let dim = r.i16()?;
    let unused = r.i16()?;
    check_dim("vector", dim, VECTOR_MAX_DIM)?;
    check_expected_dim(typmod, dim as usize)?;
    if unused != 0 {
        return Err(unused_error(unused.into()));
    }
    let mut v = Vec::with_capacity(dim as usize);
    for _ in 0..dim {
        let x = r.f32()?;
        check_element_for("vector", x)?;
        v.push(x);
    }
    Ok((v, r.pos))
}

/// `vector_send`.
pub fn vector_send(v: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * v.len());
    out.extend_from_slice(&(v.len() as i16).to_be_bytes());
    out.extend_from_slice(&0i16.to_be_bytes());
    for x in v {
        out.extend_from_slice(&x.to_be_bytes());
    }
    out
}

/// `halfvec_recv`.
pub fn halfvec_recv(buf: &[u8], typmod: i32) -> Result<(Vec<f16>, usize), VecError> {
    let mut r = Reader { buf, pos: 0 };
    let dim = r.i16()?;
    let unused = r.i16()?;
    check_dim("halfvec", dim, HALFVEC_MAX_DIM)?;
    check_expected_dim(typmod, dim as usize)?;
    if unused != 0 {
        return Err(unused_error(unused.into()));
    }
    let mut v = Vec::with_capacity(dim as usize);
    for _ in 0..dim {
        let h = f16::from_bits(u16::from_be_bytes(r.take()?));
        check_element_f16(h)?;
        v.push(h);
    }
    Ok((v, r.pos))
}

/// `halfvec_send`.
pub fn halfvec_send(v: &[f16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 2 * v.len());
    out.extend_from_slice(&(v.len() as i16).to_be_bytes());
    out.extend_from_slice(&0i16.to_be_bytes());
    for x in v {
        out.extend_from_slice(&x.to_bits().to_be_bytes());
    }
    out
}

/// `sparsevec_recv`.
pub fn sparsevec_recv(buf: &[u8], typmod: i32) -> Result<(SparseVec, usize), VecError> {
    let mut r = Reader { buf, pos: 0 };
    let dim = r.i32()?;
    let nnz = r.i32()?;
    let unused = r.i32()?;
    check_dim("sparsevec", dim, SPARSEVEC_MAX_DIM)?;
    check_nnz(nnz.into(), dim.into())?;
    check_expected_dim(typmod, dim as usize)?;
    if unused != 0 {
        return Err(unused_error(unused));
    }
    let nnz = nnz as usize;
    let mut indices = Vec::with_capacity(nnz);
    for i in 0..nnz {
        indices.push(r.i32()?);
        check_sparse_index(&indices, i, dim)?;
    }
    let mut values = Vec::with_capacity(nnz);
    for _ in 0..nnz {
        let x = r.f32()?;
        check_element_for("sparsevec", x)?;
        if x == 0.0 {
            return Err(VecError::new(
                sqlstate::DATA_EXCEPTION,
                "binary representation of sparsevec cannot contain zero values",
            ));
        }
        values.push(x);
    }
    Ok((SparseVec { dim, indices, values }, r.pos))
}

/// `sparsevec_send`.
pub fn sparsevec_send(v: &SparseVec) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + 8 * v.nnz());
    out.extend_from_slice(&v.dim.to_be_bytes());
    out.extend_from_slice(&(v.nnz() as i32).to_be_bytes());
    out.extend_from_slice(&0i32.to_be_bytes());
    for i in &v.indices {
        out.extend_from_slice(&i.to_be_bytes());
    }
    for x in &v.values {
        out.extend_from_slice(&x.to_be_bytes());
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
    fn vector_binary_round_trips_and_matches_layout() {
        let bytes = vector_send(&[1.0, -2.5]);
        assert_eq!(bytes, [0, 2, 0, 0, 0x3f, 0x80, 0, 0, 0xc0, 0x20, 0, 0]);
        assert_eq!(vector_recv(&bytes, -1).unwrap(), (vec![1.0, -2.5], 12));
        assert_eq!(msg(vector_recv(&bytes, 3)).1, "expected 3 dimensions, not 2");
        assert_eq!(
            msg(vector_recv(&bytes[..10], -1)),
            ("08P01", "insufficient data left in message".into())
        );
        assert_eq!(msg(vector_recv(&[0, 0, 0, 0], -1)).1, "vector must have at least 1 dimension");
        assert_eq!(msg(vector_recv(&[0xff, 0xff, 0, 0], -1)).1, "vector must have at least 1 dimension");
        assert_eq!(
            msg(vector_recv(&[0x3e, 0x81, 0, 0], -1)).1,
            "vector cannot have more than 16000 dimensions"
        );
        assert_eq!(
            msg(vector_recv(&[0, 1, 0, 7, 0, 0, 0, 0], -1)),
            ("22000", "expected unused to be 0, not 7".into())
        );
        assert_eq!(msg(vector_recv(&[0, 1, 0, 0, 0x7f, 0xc0, 0, 0], -1)).1, "NaN not allowed in vector");
        assert_eq!(
            msg(vector_recv(&[0, 1, 0, 0, 0x7f, 0x80, 0, 0], -1)).1,
            "infinite value not allowed in vector"
        );
    }

    #[test]
    fn halfvec_binary_round_trips_and_matches_layout() {
        let v = [f16::from_f32(1.0), f16::from_f32(-2.0)];
        let bytes = halfvec_send(&v);
        assert_eq!(bytes, [0, 2, 0, 0, 0x3c, 0x00, 0xc0, 0x00]);
        assert_eq!(halfvec_recv(&bytes, 2).unwrap(), (v.to_vec(), 8));
        assert_eq!(
            msg(halfvec_recv(&[0, 1, 0, 0, 0x7c, 0x00], -1)).1,
            "infinite value not allowed in halfvec"
        );
        assert_eq!(msg(halfvec_recv(&[0, 1, 0, 0, 0x7e, 0x00], -1)).1, "NaN not allowed in halfvec");
        assert_eq!(msg(halfvec_recv(&[0, 0, 0, 0], -1)).1, "halfvec must have at least 1 dimension");
    }

    #[test]
    fn sparsevec_binary_round_trips_and_checks() {
        let v = SparseVec {
            dim: 5,
            indices: vec![0, 3],
            values: vec![1.5, -2.0],
        };
        let bytes = sparsevec_send(&v);
        assert_eq!(bytes.len(), 12 + 16);
        assert_eq!(sparsevec_recv(&bytes, -1).unwrap(), (v.clone(), 28));
        let head = |dim: i32, nnz: i32, unused: i32| [dim.to_be_bytes(), nnz.to_be_bytes(), unused.to_be_bytes()].concat();
        assert_eq!(
            msg(sparsevec_recv(&head(0, 0, 0), -1)).1,
            "sparsevec must have at least 1 dimension"
        );
        assert_eq!(
            msg(sparsevec_recv(&head(5, -1, 0), -1)).1,
            "sparsevec cannot have negative number of elements"
        );
        assert_eq!(
            msg(sparsevec_recv(&head(5, 6, 0), -1)).1,
            "sparsevec cannot have more elements than dimensions"
        );
        assert_eq!(msg(sparsevec_recv(&head(5, 0, 1), -1)).1, "expected unused to be 0, not 1");
        assert_eq!(msg(sparsevec_recv(&head(5, 0, 0), 4)).1, "expected 4 dimensions, not 5");
        let mut b = head(5, 2, 0);
        b.extend_from_slice(&3i32.to_be_bytes());
        b.extend_from_slice(&3i32.to_be_bytes());
        assert_eq!(msg(sparsevec_recv(&b, -1)).1, "sparsevec indices must not contain duplicates");
        let mut b = head(5, 2, 0);
        b.extend_from_slice(&3i32.to_be_bytes());
        b.extend_from_slice(&1i32.to_be_bytes());
        assert_eq!(msg(sparsevec_recv(&b, -1)).1, "sparsevec indices must be in ascending order");
        let mut b = head(5, 1, 0);
        b.extend_from_slice(&5i32.to_be_bytes());
        assert_eq!(msg(sparsevec_recv(&b, -1)).1, "sparsevec index out of bounds");
        let mut b = head(5, 1, 0);
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&0f32.to_be_bytes());
        assert_eq!(
            msg(sparsevec_recv(&b, -1)).1,
            "binary representation of sparsevec cannot contain zero values"
        );
        assert_eq!(
            sparsevec_recv(&head(7, 0, 0), -1).unwrap().0,
            SparseVec {
                dim: 7,
                indices: vec![],
                values: vec![]
            }
        );
    }
}
