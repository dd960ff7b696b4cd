//! Reciprocal rank fusion: a document's fused score is the sum over the rankings it appears in of
//! `weight / (k + rank)`, ranks starting at 1 (Cormack, Clarke and Büttcher, 2009).

use crate::error::{pg_float, Bm25Error};
use std::collections::HashMap;
use std::hash::Hash;

pub const DEFAULT_K: f64 = 60.0;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RrfParams {
    pub k: f64,
    pub keyword_weight: f64,
    pub vector_weight: f64,
}

impl Default for RrfParams {
    fn default() -> Self {
        RrfParams {
            k: DEFAULT_K,
            keyword_weight: 1.0,
            vector_weight: 1.0,
        }
    }
}

impl RrfParams {
    /// `k` finite and >= 0; weights finite and >= 0 (a zero weight turns a side off).
    pub fn new(k: f64, keyword_weight: f64, vector_weight: f64) -> Result<Self, Bm25Error> {
        if !(k.is_finite() && k >= 0.0) {
            return Err(Bm25Error::invalid_parameter(
                format!("RRF constant k must be a finite number >= 0, not {}", pg_float(k)),
                Some("The usual value is 60; smaller values favour the top of each ranking."),
            ));
        }
        for (name, w) in [("keyword_weight", keyword_weight), ("vector_weight", vector_weight)] {
            if !(w.is_finite() && w >= 0.0) {
                return Err(Bm25Error::invalid_parameter(
                    format!("{name} must be a finite number >= 0, not {}", pg_float(w)),
                    None,
                ));
            }
        }
        Ok(RrfParams {
            k,
            keyword_weight,
            vector_weight,
        })
    }

    /// The contribution of one ranking in which the document has 1-based `rank`.
    #[inline]
    pub fn contribution(k: f64, weight: f64, rank: Option<u32>) -> f64 {
        rank.map_or(0.0, |r| weight / (k + r as f64))
    }
}

/// A candidate depth (rows taken from one side) must be at least 1.
pub fn check_depth(name: &str, depth: i64) -> Result<(), Bm25Error> {
    if depth < 1 {
        return Err(Bm25Error::invalid_parameter(
            format!("{name} must be at least 1, not {depth}"),
            None,
        ));
    }
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub struct Fused<K> {
    pub key: K,
    pub score: f64,
    pub keyword_rank: Option<u32>,
    pub vector_rank: Option<u32>,
}

/// Fuse two rankings (best first, no duplicates within one); best fused score first, ties by key.
pub fn fuse<K: Clone + Eq + Hash + Ord>(keyword: &[K], vector: &[K], p: &RrfParams) -> Vec<Fused<K>> {
    let mut by_key: HashMap<K, Fused<K>> = HashMap::new();
    for (i, key) in keyword.iter().enumerate() {
        let f = by_key.entry(key.clone()).or_insert(Fused {
            key: key.clone(),
            score: 0.0,
            keyword_rank: None,
            vector_rank: None,
        });
        f.keyword_rank = Some(i as u32 + 1);
    }
    for (i, key) in vector.iter().enumerate() {
        let f = by_key.entry(key.clone()).or_insert(Fused {
            key: key.clone(),
            score: 0.0,
            keyword_rank: None,
            vector_rank: None,
        });
        f.vector_rank = Some(i as u32 + 1);
    }
    let mut out: Vec<Fused<K>> = by_key
        .into_values()
        .map(|mut f| {
            f.score = RrfParams::contribution(p.k, p.keyword_weight, f.keyword_rank)
                + RrfParams::contribution(p.k, p.vector_weight, f.vector_rank);
            f
        })
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.key.cmp(&b.key)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_in_both_rankings_beats_single_side_leaders() {
        let fused = fuse(&[1, 2, 3], &[4, 2, 5], &RrfParams::default());
        assert_eq!(fused[0].key, 2);
        assert_eq!((fused[0].keyword_rank, fused[0].vector_rank), (Some(2), Some(2)));
        assert!((fused[0].score - 2.0 / 62.0).abs() < 1e-15);
        // 1 and 4 tie at 1/61: the key breaks the tie.
        assert_eq!((fused[1].key, fused[2].key), (1, 4));
        assert_eq!(fused[1].vector_rank, None);
        assert_eq!(fused[2].keyword_rank, None);
        assert_eq!(fused.len(), 5);
    }

    #[test]
    fn weights_scale_each_side_and_zero_turns_it_off() {
        let p = RrfParams::new(60.0, 0.0, 1.0).unwrap();
        let fused = fuse(&[1, 2], &[2, 1], &p);
        assert_eq!(fused.iter().map(|f| f.key).collect::<Vec<_>>(), [2, 1]);
        let p = RrfParams::new(60.0, 3.0, 1.0).unwrap();
        let fused = fuse(&[1, 2], &[2, 1], &p);
        assert_eq!(fused[0].key, 1);
        assert!((fused[0].score - (3.0 / 61.0 + 1.0 / 62.0)).abs() < 1e-15);
    }

    #[test]
    fn small_k_favours_the_top_of_each_ranking() {
        // With k = 0 the single first place (1/1) beats two second places (1/2 + 1/2 = 1) only by
        // the tie-break; with k = 60 the document found by both sides wins clearly.
        let both_second = |k: f64| {
            let f = fuse(&["a", "b"], &["c", "b"], &RrfParams::new(k, 1.0, 1.0).unwrap());
            f.iter().position(|x| x.key == "b").unwrap()
        };
        assert_eq!(both_second(60.0), 0);
        let f = fuse(&["a", "b", "x"], &["c", "d", "b"], &RrfParams::new(0.0, 1.0, 1.0).unwrap());
        assert_eq!(f[0].key, "a"); // 1/1 vs b's 1/2 + 1/3
    }

    #[test]
    fn invalid_parameters_are_rejected_with_22023() {
        assert_eq!(RrfParams::new(-1.0, 1.0, 1.0).unwrap_err().code, "22023");
        assert_eq!(RrfParams::new(f64::NAN, 1.0, 1.0).unwrap_err().code, "22023");
        assert_eq!(RrfParams::new(60.0, -1.0, 1.0).unwrap_err().code, "22023");
        assert_eq!(RrfParams::new(60.0, 1.0, f64::INFINITY).unwrap_err().code, "22023");
        assert_eq!(check_depth("keyword_depth", 0).unwrap_err().code, "22023");
        assert!(check_depth("vector_depth", 1).is_ok());
    }
}
