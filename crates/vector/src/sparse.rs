//! The `sparsevec` value and its operations.

use crate::error::VecError;
use std::cmp::Ordering;

/// A sparse vector: `dim` dimensions, non-zero `values` at the 0-based,
/// strictly ascending `indices`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SparseVec {
    pub dim: i32,
    pub indices: Vec<i32>,
    pub values: Vec<f32>,
}

impl SparseVec {
    /// Number of stored (non-zero) elements.
    pub fn nnz(&self) -> usize {
        self.indices.len()
    }

    /// The indices as `u32`, the form `semvec_simd`'s sparse kernels take.
    /// Valid sparse vectors have no negative index; a negative one would show
    /// up as a huge index, never as unsafety.
    pub fn indices_u32(&self) -> &[u32] {
        // SAFETY: i32 and u32 have identical size and alignment, and every
        // bit pattern is a valid u32.
        unsafe { std::slice::from_raw_parts(self.indices.as_ptr().cast::<u32>(), self.indices.len()) }
    }

    /// The dense form (no dimension check; see `convert::sparsevec_to_vector`).
    pub fn to_dense(&self) -> Vec<f32> {
        let mut v = vec![0.0; self.dim.max(0) as usize];
        for (&i, &x) in self.indices.iter().zip(&self.values) {
            v[i as usize] = x;
        }
        v
    }
}

/// `sparsevec_cmp`: pgvector's btree order, which compares the sparse
/// vectors as if they were dense (values first, then dimensions).
pub fn sparse_cmp(a: &SparseVec, b: &SparseVec) -> Ordering {
    let (ax, bx) = (&a.values, &b.values);
    let nnz = a.nnz().min(b.nnz());
    let sign = |neg: bool| if neg { Ordering::Less } else { Ordering::Greater };
    for i in 0..nnz {
        // The first differing position holds a non-zero in one vector and a
        // zero in the other, or two different values.
        if a.indices[i] < b.indices[i] {
            return sign(ax[i] < 0.0);
        }
        if a.indices[i] > b.indices[i] {
            return sign(bx[i] < 0.0).reverse();
        }
        if ax[i] < bx[i] {
            return Ordering::Less;
        }
        if ax[i] > bx[i] {
            return Ordering::Greater;
        }
    }
    if a.nnz() < b.nnz() && b.indices[nnz] < a.dim {
        return sign(bx[nnz] < 0.0).reverse();
    }
    if a.nnz() > b.nnz() && a.indices[nnz] < b.dim {
        return sign(ax[nnz] < 0.0);
    }
    a.dim.cmp(&b.dim)
}

/// `l2_norm(sparsevec)`: accumulated in `f64`, in index order.
pub fn sparse_l2_norm(a: &SparseVec) -> f64 {
    crate::ops::norm_f64(&a.values)
}

/// `l2_normalize(sparsevec)`: values divided by the `f64` norm; a zero vector
/// stays zero; values that underflow to zero are dropped; overflow is 22003.
pub fn sparse_l2_normalize(a: &SparseVec) -> Result<SparseVec, VecError> {
    let norm = sparse_l2_norm(a);
    if norm <= 0.0 {
        return Ok(a.clone());
    }
    let mut out = SparseVec {
        dim: a.dim,
        indices: Vec::with_capacity(a.nnz()),
        values: Vec::with_capacity(a.nnz()),
    };
    for (&i, &x) in a.indices.iter().zip(&a.values) {
        let r = (f64::from(x) / norm) as f32;
        if r.is_infinite() {
            return Err(VecError::float_overflow());
        }
        if r != 0.0 {
            out.indices.push(i);
            out.values.push(r);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_sparsevec;

    fn p(s: &str) -> SparseVec {
        parse_sparsevec(s).unwrap()
    }

    #[test]
    fn btree_order_matches_pgvector_examples() {
        use Ordering::*;
        assert_eq!(sparse_cmp(&p("{1:1,2:2,3:3}/3"), &p("{1:1,2:2,3:3}/3")), Equal);
        assert_eq!(sparse_cmp(&p("{1:1,2:2,3:3}/3"), &p("{}/3")), Greater);
        assert_eq!(sparse_cmp(&p("{}/3"), &p("{1:1,2:2,3:3}/3")), Less);
        assert_eq!(sparse_cmp(&p("{1:1,2:2}/2"), &p("{1:1,2:2,3:3}/3")), Less);
        assert_eq!(sparse_cmp(&p("{1:1,2:2,3:3}/3"), &p("{1:1,2:2}/2")), Greater);
        assert_eq!(sparse_cmp(&p("{1:1,2:2}/2"), &p("{1:2,2:3,3:4}/3")), Less);
        assert_eq!(sparse_cmp(&p("{1:2,2:3}/2"), &p("{1:1,2:2,3:3}/3")), Greater);
        assert_eq!(sparse_cmp(&p("{1:1,2:2,3:3}/3"), &p("{1:1,2:2}/2")), Greater);
    }

    #[test]
    fn btree_order_equals_dense_order() {
        // Compare against the dense rule on every pair from a small universe.
        let all: Vec<SparseVec> = [
            "{}/1",
            "{}/2",
            "{}/3",
            "{1:1}/1",
            "{1:-1}/1",
            "{1:1}/2",
            "{2:1}/2",
            "{2:-1}/2",
            "{1:1,2:1}/2",
            "{1:-1,2:1}/2",
            "{1:2}/3",
            "{3:-5}/3",
            "{2:1,3:1}/3",
            "{1:1,3:-1}/3",
            "{1:1,2:-1}/2",
        ]
        .iter()
        .map(|s| p(s))
        .collect();
        for a in &all {
            for b in &all {
                let dense = crate::ops::cmp(&a.to_dense(), &b.to_dense());
                assert_eq!(sparse_cmp(a, b), dense, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn normalize_and_norm_match_pgvector_examples() {
        assert_eq!(sparse_l2_norm(&p("{1:3,2:4}/2")), 5.0);
        assert_eq!(sparse_l2_norm(&p("{}/2")), 0.0);
        assert_eq!(sparse_l2_norm(&p("{1:3e37,2:4e37}/2")) as f32, 5e37);
        assert_eq!(sparse_l2_normalize(&p("{1:3,2:4}/2")).unwrap(), p("{1:0.6,2:0.8}/2"));
        assert_eq!(sparse_l2_normalize(&p("{1:3}/2")).unwrap(), p("{1:1}/2"));
        assert_eq!(sparse_l2_normalize(&p("{2:0.1}/2")).unwrap(), p("{2:1}/2"));
        assert_eq!(sparse_l2_normalize(&p("{}/2")).unwrap(), p("{}/2"));
        assert_eq!(sparse_l2_normalize(&p("{1:3e38}/1")).unwrap(), p("{1:1}/1"));
        // A value far below the others underflows to zero and is dropped.
        assert_eq!(sparse_l2_normalize(&p("{1:3e38,2:1e-38}/2")).unwrap(), p("{1:1}/2"));
    }

    #[test]
    fn indices_view_as_u32_for_kernels() {
        let v = p("{2:1,5:2}/9");
        assert_eq!(v.indices_u32(), &[1u32, 4]);
        assert_eq!(semvec_simd::sparse_dot(v.indices_u32(), &v.values, v.indices_u32(), &v.values), 5.0);
    }
}
