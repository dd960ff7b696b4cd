//! Pooling of token states into one sentence vector, for graphs that stop at the encoder.

/// How token states become one sentence vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pooling {
    /// Average of the states of the tokens the attention mask keeps (sentence-transformers' default).
    #[default]
    Mean,
    /// The state of the first token ([CLS]).
    Cls,
}

impl Pooling {
    pub fn as_str(self) -> &'static str {
        match self {
            Pooling::Mean => "mean",
            Pooling::Cls => "cls",
        }
    }
}

impl std::str::FromStr for Pooling {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "mean" => Ok(Pooling::Mean),
            "cls" => Ok(Pooling::Cls),
            other => Err(format!("unknown pooling \"{other}\" (expected \"mean\" or \"cls\")")),
        }
    }
}

/// Pools one sequence of token states.
///
/// `states` is row-major `[seq_len, dim]`, `mask` has `seq_len` entries (non-zero = real token).
pub fn pool_sequence(states: &[f32], mask: &[i64], dim: usize, pooling: Pooling) -> Vec<f32> {
    let mut out = vec![0.0f32; dim];
    if dim == 0 {
        return out;
    }
    let rows = states.len() / dim;
    match pooling {
        Pooling::Cls => {
            if rows > 0 {
                out.copy_from_slice(&states[..dim]);
            }
        }
        Pooling::Mean => {
            let mut kept = 0.0f64;
            let mut acc = vec![0.0f64; dim];
            for (row, &m) in states.chunks_exact(dim).zip(mask.iter()).take(rows) {
                if m != 0 {
                    kept += 1.0;
                    for (a, &x) in acc.iter_mut().zip(row) {
                        *a += f64::from(x);
                    }
                }
            }
            // Same floor as sentence-transformers: an all-masked row pools to zeros, not NaN.
            let kept = kept.max(1e-9);
            for (o, a) in out.iter_mut().zip(acc) {
                *o = (a / kept) as f32;
            }
        }
    }
    out
}

/// Scales `v` to unit L2 norm in place; a zero vector stays zero.
pub fn l2_normalize(v: &mut [f32]) {
    let norm = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum::<f64>().sqrt();
    // Same floor as torch.nn.functional.normalize.
    let norm = norm.max(1e-12);
    for x in v.iter_mut() {
        *x = (f64::from(*x) / norm) as f32;
    }
}

/// Cosine similarity of two equal-length vectors (0 when either is zero).
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let (mut dot, mut na, mut nb) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f64::from(x), f64::from(y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        return 0.0;
    }
    dot / (na.sqrt() * nb.sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pooling_ignores_masked_tokens() {
        // three tokens of dim 2, the last one is padding with huge values
        let states = [1.0, 2.0, 3.0, 4.0, 1000.0, -1000.0];
        let pooled = pool_sequence(&states, &[1, 1, 0], 2, Pooling::Mean);
        assert_eq!(pooled, vec![2.0, 3.0]);
    }

    #[test]
    fn mean_pooling_of_fully_masked_sequence_is_zero_not_nan() {
        let pooled = pool_sequence(&[5.0, 5.0], &[0], 2, Pooling::Mean);
        assert_eq!(pooled, vec![0.0, 0.0]);
    }

    #[test]
    fn cls_pooling_takes_first_token() {
        let states = [7.0, 8.0, 1.0, 1.0];
        assert_eq!(pool_sequence(&states, &[1, 1], 2, Pooling::Cls), vec![7.0, 8.0]);
    }

    #[test]
    fn l2_normalize_gives_unit_norm_and_keeps_zero_vector() {
        let mut v = vec![3.0, 4.0];
        l2_normalize(&mut v);
        assert!((v[0] - 0.6).abs() < 1e-7 && (v[1] - 0.8).abs() < 1e-7);
        let mut z = vec![0.0, 0.0];
        l2_normalize(&mut z);
        assert_eq!(z, vec![0.0, 0.0]);
    }

    #[test]
    fn pooling_parses_case_insensitively_and_rejects_unknown_names() {
        assert_eq!("MEAN".parse::<Pooling>(), Ok(Pooling::Mean));
        assert_eq!("cls".parse::<Pooling>(), Ok(Pooling::Cls));
        assert!("max".parse::<Pooling>().unwrap_err().contains("unknown pooling"));
    }

    #[test]
    fn cosine_of_parallel_vectors_is_one() {
        assert!((cosine(&[1.0, 2.0], &[2.0, 4.0]) - 1.0).abs() < 1e-12);
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 0.0]), 0.0);
    }
}
