//! Okapi BM25 (Robertson and Zaragoza's form, with Lucene's non-negative IDF).
//!
//! score(D, Q) = sum over query lexemes t of
//!     qtf(t) * idf(t) * tf(t, D) * (k1 + 1) / (tf(t, D) + k1 * (1 - b + b * |D| / avgdl))
//! with idf(t) = ln(1 + (N - df(t) + 0.5) / (df(t) + 0.5)), `qtf` the lexeme's count in the query.

use crate::error::{pg_float, Bm25Error};
use crate::tsvector::TsVector;

pub const DEFAULT_K1: f64 = 1.2;
pub const DEFAULT_B: f64 = 0.75;

/// Validated BM25 parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bm25Params {
    pub k1: f64,
    pub b: f64,
}

impl Default for Bm25Params {
    fn default() -> Self {
        Bm25Params {
            k1: DEFAULT_K1,
            b: DEFAULT_B,
        }
    }
}

impl Bm25Params {
    /// `k1` must be finite and >= 0 (0 ignores term frequency), `b` within [0, 1].
    pub fn new(k1: f64, b: f64) -> Result<Self, Bm25Error> {
        if !(k1.is_finite() && k1 >= 0.0) {
            return Err(Bm25Error::invalid_parameter(
                format!("BM25 parameter k1 must be a finite number >= 0, not {}", pg_float(k1)),
                Some("Typical values are between 0.9 and 2.0; the default is 1.2."),
            ));
        }
        if !(0.0..=1.0).contains(&b) {
            return Err(Bm25Error::invalid_parameter(
                format!("BM25 parameter b must be between 0 and 1, not {}", pg_float(b)),
                Some("b = 0 ignores document length, b = 1 normalises fully; the default is 0.75."),
            ));
        }
        Ok(Bm25Params { k1, b })
    }

    /// One lexeme's contribution before its query weight.
    #[inline]
    pub fn term_score(&self, tf: u32, doc_len: u64, avg_len: f64) -> f64 {
        if tf == 0 {
            return 0.0;
        }
        let tf = tf as f64;
        // An empty corpus (avg_len 0) cannot match anything; keep the arithmetic finite anyway.
        let rel_len = if avg_len > 0.0 { doc_len as f64 / avg_len } else { 1.0 };
        tf * (self.k1 + 1.0) / (tf + self.k1 * (1.0 - self.b + self.b * rel_len))
    }

    /// BM25 of one document for a query whose lexemes carry their weights (`qtf * idf`).
    pub fn score(&self, doc: &TsVector<'_>, terms: &[QueryTerm], avg_len: f64) -> f64 {
        // The document's length is only needed (and walked) once a query lexeme occurs in it.
        let mut doc_len = None;
        let mut sum = 0.0;
        for t in terms {
            let tf = doc.term_frequency(t.lexeme.as_bytes());
            if tf > 0 {
                let len = *doc_len.get_or_insert_with(|| doc.document_length());
                sum += t.weight * self.term_score(tf, len, avg_len);
            }
        }
        sum
    }

    /// BM25 from a document's term frequencies (one per query lexeme, in the order of `weights`)
    /// and its length: the same sum as [`score`](Self::score), for callers that looked the lexemes
    /// up before the weights were known.
    pub fn score_frequencies(&self, tfs: &[u32], doc_len: u64, weights: &[f64], avg_len: f64) -> f64 {
        tfs.iter()
            .zip(weights)
            .map(|(&tf, w)| w * self.term_score(tf, doc_len, avg_len))
            .sum()
    }
}

/// Lucene's BM25 IDF, never negative. `df` is clamped to `n_docs` (corpus statistics can lag a
/// document count taken later in the same query only through misuse, but must not go negative).
pub fn idf(n_docs: u64, df: u64) -> f64 {
    let df = df.min(n_docs) as f64;
    let n = n_docs as f64;
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// A query lexeme and its weight in the sum: its count in the query times its IDF.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryTerm {
    pub lexeme: String,
    pub weight: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsvector::build;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-12 * b.abs().max(1.0)
    }

    #[test]
    fn parameters_outside_their_ranges_are_rejected_with_22023() {
        for (k1, b) in [
            (-0.1, 0.75),
            (f64::NAN, 0.75),
            (f64::INFINITY, 0.5),
            (1.2, -0.01),
            (1.2, 1.01),
            (1.2, f64::NAN),
        ] {
            let e = Bm25Params::new(k1, b).unwrap_err();
            assert_eq!(e.code, "22023", "{k1} {b}");
        }
        assert!(Bm25Params::new(0.0, 0.0).is_ok());
        assert!(Bm25Params::new(2.0, 1.0).is_ok());
    }

    #[test]
    fn idf_is_lucene_formula_and_never_negative() {
        assert!(close(idf(10, 1), (1.0f64 + 9.5 / 1.5).ln()));
        assert!(close(idf(10, 10), (1.0f64 + 0.5 / 10.5).ln()));
        assert!(idf(10, 10) > 0.0);
        assert_eq!(idf(10, 50), idf(10, 10));
        assert!(idf(1000, 1) > idf(1000, 100));
    }

    #[test]
    fn term_score_saturates_in_tf_and_penalises_long_documents() {
        let p = Bm25Params::default();
        let s1 = p.term_score(1, 10, 10.0);
        let s2 = p.term_score(2, 10, 10.0);
        let s100 = p.term_score(100, 10, 10.0);
        assert!(s1 < s2 && s2 < s100 && s100 < p.k1 + 1.0);
        assert!(close(s1, 1.0)); // tf 1 at average length: (k1+1)/(1+k1) = 1
        assert!(p.term_score(1, 20, 10.0) < s1);
        assert!(p.term_score(1, 5, 10.0) > s1);
        let flat = Bm25Params::new(1.2, 0.0).unwrap();
        assert_eq!(flat.term_score(1, 20, 10.0), flat.term_score(1, 5, 10.0));
        assert_eq!(p.term_score(0, 5, 10.0), 0.0);
    }

    #[test]
    fn zero_k1_scores_presence_only() {
        let p = Bm25Params::new(0.0, 0.75).unwrap();
        assert_eq!(p.term_score(1, 3, 10.0), 1.0);
        assert_eq!(p.term_score(7, 30, 10.0), 1.0);
    }

    #[test]
    fn document_score_matches_hand_computation() {
        // Document 'cat':1,4 'sat':2 'mat':3 (length 4), corpus N = 3, avgdl = 5,
        // query "cat dog": df(cat) = 2, df(dog) = 1.
        let bytes = build(&[(b"cat", Some(&[1, 4])), (b"sat", Some(&[2])), (b"mat", Some(&[3]))]);
        let doc = TsVector::parse(&bytes).unwrap();
        let p = Bm25Params::default();
        let terms = [
            QueryTerm {
                lexeme: "cat".into(),
                weight: idf(3, 2),
            },
            QueryTerm {
                lexeme: "dog".into(),
                weight: idf(3, 1),
            },
        ];
        let want = idf(3, 2) * 2.0 * 2.2 / (2.0 + 1.2 * (0.25 + 0.75 * 4.0 / 5.0));
        assert!(close(p.score(&doc, &terms, 5.0), want));
        // A lexeme repeated in the query counts twice.
        let doubled = [QueryTerm {
            lexeme: "cat".into(),
            weight: 2.0 * idf(3, 2),
        }];
        assert!(close(p.score(&doc, &doubled, 5.0), 2.0 * want));
        // No query lexeme in the document.
        let none = [QueryTerm {
            lexeme: "dog".into(),
            weight: 1.0,
        }];
        assert_eq!(p.score(&doc, &none, 5.0), 0.0);
    }

    #[test]
    fn scoring_from_frequencies_equals_scoring_the_document() {
        let bytes = build(&[(b"cat", Some(&[1, 4, 9])), (b"sat", Some(&[2])), (b"mat", None)]);
        let doc = TsVector::parse(&bytes).unwrap();
        let p = Bm25Params::new(1.5, 0.6).unwrap();
        let terms = [
            QueryTerm {
                lexeme: "mat".into(),
                weight: 0.7,
            },
            QueryTerm {
                lexeme: "cat".into(),
                weight: 2.5,
            },
            QueryTerm {
                lexeme: "dog".into(),
                weight: 9.0,
            },
        ];
        let tfs: Vec<u32> = terms.iter().map(|t| doc.term_frequency(t.lexeme.as_bytes())).collect();
        let weights: Vec<f64> = terms.iter().map(|t| t.weight).collect();
        assert_eq!(tfs, [1, 3, 0]);
        let a = p.score(&doc, &terms, 4.0);
        let b = p.score_frequencies(&tfs, doc.document_length(), &weights, 4.0);
        assert!(close(a, b), "{a} {b}");
    }

    #[test]
    fn long_queries_score_the_same_as_short_ones() {
        let bytes = build(&[(b"w3", Some(&[1, 2])), (b"w70", Some(&[3]))]);
        let doc = TsVector::parse(&bytes).unwrap();
        let p = Bm25Params::default();
        let many: Vec<QueryTerm> = (0..100)
            .map(|i| QueryTerm {
                lexeme: format!("w{i}"),
                weight: 1.0,
            })
            .collect();
        let few: Vec<QueryTerm> = many.iter().filter(|t| t.lexeme == "w3" || t.lexeme == "w70").cloned().collect();
        assert!(close(p.score(&doc, &many, 3.0), p.score(&doc, &few, 3.0)));
    }
}
