//! Okapi BM25 keyword ranking over PostgreSQL `tsvector` values, the OR query built from a query's
//! lexemes, and reciprocal rank fusion (RRF) of a keyword and a vector ranking.
//!
//! No pgrx here: the extension's glue detoasts a `tsvector` and hands its bytes to [`TsVector::parse`];
//! everything else is plain arithmetic on lexemes, counts and ranks.
//!
//! The statistics BM25 needs are split the way PostgreSQL can keep them correct:
//! - per document, from its `tsvector`: term frequency = number of positions of the lexeme (1 when the
//!   vector was `strip()`ped), document length = the sum of those over all lexemes
//!   ([`TsVector::document_length`]);
//! - per query lexeme, its document frequency (counted through the GIN index at query time);
//! - per corpus, the number of documents and their total length (kept by the extension's triggers).

mod error;
mod query;
mod rrf;
mod score;
mod tsvector;

pub use error::Bm25Error;
pub use query::{or_tsquery_text, quote_lexeme};
pub use rrf::{check_depth, fuse, Fused, RrfParams, DEFAULT_K as DEFAULT_RRF_K};
pub use score::{idf, Bm25Params, QueryTerm, DEFAULT_B, DEFAULT_K1};
pub use tsvector::{TsEntry, TsVector, MAX_POSITIONS_PER_LEXEME};
