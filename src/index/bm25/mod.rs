//! The `bm25` index access method: BM25 top-k by block-max WAND (`ORDER BY doc <@> query`), one
//! file per callback group like hnsw's: `build` (ambuild, ambuildempty), `insert` (aminsert),
//! `scan` (ambeginscan, amrescan, amgettuple, amendscan), `vacuum` (ambulkdelete,
//! amvacuumcleanup), `cost`, `options` (reloption `text_config`), `query` (the `<@>` operator,
//! the index statistics behind `bm25_query()`), `check` (`semvec_index_check`). Segments,
//! postings, WAND and vacuum live in the `semvec-bm25index` crate.
//!
//! An index covers a `tsvector` column (`tsvector_bm25_ops`) or a `text` column through
//! `to_tsvector(text_config, column)` (`text_bm25_ops`, `WITH (text_config = '...')`).

pub mod build;
pub mod check;
pub mod cost;
pub mod insert;
pub mod options;
pub mod query;
pub mod scan;
pub mod vacuum;

use crate::error::{raise, INVALID_PARAMETER_VALUE};
use crate::fmgr::{detoast, varsize};
use crate::index::am::amcache;
use pgrx::pg_sys::{self, Datum};
use semvec_bm25::TsVector;

/// `pg_stat_progress_create_index.phase` values reported during a build (after PostgreSQL's own).
pub const PHASE_LOAD: i64 = 2;
pub const PHASE_WRITE: i64 = 3;

pub fn init() {
    options::init();
}

pg_fn!(fn semvec_bm25_handler(_fcinfo) { crate::index::am_handler_routine!(0) });

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn ambuildphasename(phase: i64) -> *mut std::ffi::c_char {
    let name: &'static std::ffi::CStr = match phase {
        1 => c"initializing",
        PHASE_LOAD => c"loading documents",
        PHASE_WRITE => c"writing segments",
        _ => return std::ptr::null_mut(),
    };
    name.as_ptr() as *mut _
}

/// What a bm25 index holds: the column's kind and the text search configuration (from
/// `text_config`; `InvalidOid` for a tsvector index without one).
#[derive(Clone, Copy, Debug)]
pub struct Bm25Index {
    pub text: bool,
    pub config: pg_sys::Oid,
}

impl Bm25Index {
    /// # Safety
    /// `index` is an open bm25 index relation.
    pub unsafe fn of(index: pg_sys::Relation) -> Bm25Index {
        unsafe {
            let typ = crate::compat::index_key_attr(index).atttypid;
            let text = typ != pg_sys::TSVECTOROID;
            let config = match options::text_config(index) {
                Some(name) => regconfig(&name),
                None if text => raise(
                    INVALID_PARAMETER_VALUE,
                    "a bm25 index on a text column needs a text search configuration",
                    None,
                    Some("Add WITH (text_config = 'english'), or index a tsvector column.".into()),
                ),
                None => pg_sys::InvalidOid,
            };
            Bm25Index { text, config }
        }
    }

    /// [`Bm25Index::of`], cached in the relcache entry.
    ///
    /// # Safety
    /// As [`Bm25Index::of`].
    pub unsafe fn cached(index: pg_sys::Relation) -> Bm25Index {
        unsafe { amcache(index, || Bm25Index::of(index)) }
    }

    /// The document of a column value: `f(lexemes with term frequencies, length)`.
    ///
    /// # Safety
    /// `value` is a non-NULL value of the index's column; call in a short-lived memory context
    /// (the text form allocates its tsvector there).
    pub unsafe fn with_document<R>(&self, value: Datum, f: impl FnOnce(&[(&[u8], u32)], u64) -> R) -> R {
        unsafe {
            let tsv = if self.text { to_tsvector(self.config, value) } else { value };
            let p = detoast(tsv);
            let doc =
                TsVector::parse(std::slice::from_raw_parts(p as *const u8, varsize(p))).unwrap_or_else(|e| crate::error::raise_error(&e));
            let terms: Vec<(&[u8], u32)> = doc.entries().map(|e| (e.lexeme, e.term_frequency())).collect();
            f(&terms, doc.document_length())
        }
    }
}

/// `regconfigin(name)`: the configuration's OID, or the usual error for an unknown one.
///
/// # Safety
/// Call in a backend with catalog access.
pub unsafe fn regconfig(name: &str) -> pg_sys::Oid {
    let d = pgrx::direct_function_call_as_datum(pg_sys::regconfigin, &[Some(crate::fmgr::cstring_datum(name))])
        .expect("regconfigin returned NULL");
    pg_sys::Oid::from(d.value() as u32)
}

/// `to_tsvector(config, text)`.
///
/// # Safety
/// `text` is a non-NULL text datum; `config` a configuration's OID.
pub unsafe fn to_tsvector(config: pg_sys::Oid, text: Datum) -> Datum {
    pgrx::direct_function_call_as_datum(pg_sys::to_tsvector_byid, &[Some(Datum::from(config)), Some(text)])
        .expect("to_tsvector returned NULL")
}
