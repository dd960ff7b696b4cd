//! The `<@>` operator (`tsvector <@> bm25query`, `text <@> bm25query`: the negative BM25 score,
//! so that `ORDER BY doc <@> q` ranks best first) and the index statistics `bm25_query()` builds
//! its weights from.
//!
//! The operator scores with the query's own weights and average length, exactly as an index scan
//! does (`Scan::set_weights`, then `Bm25Params::score_frequencies` in query order), so the value
//! the executor computes for a returned row is the one the index ordered it by, bit for bit,
//! whatever concurrent writers did to the index's statistics meanwhile.

use super::Bm25Index;
use crate::error::{raise, OrRaise, INSUFFICIENT_PRIVILEGE, INVALID_PARAMETER_VALUE, WRONG_OBJECT_TYPE};
use crate::fmgr::*;
use crate::hybrid::{float8_array, int4_array, query_field, text_array, Q_AVG_LENGTH, Q_B, Q_CONFIG, Q_K1, Q_LEXEMES, Q_WEIGHTS};
use crate::index::am::{func_name, OrRaiseFor};
use crate::index::storage::{Logging, PgRelation};
use pgrx::pg_sys::{self, Datum};
use pgrx::PgMemoryContexts;
use semvec_bm25::{Bm25Params, TsVector};

/// A parsed `bm25query`.
#[derive(Clone, Debug)]
pub struct Bm25Query {
    pub lexemes: Vec<String>,
    pub weights: Vec<f64>,
    pub params: Bm25Params,
    pub avg_len: f64,
    /// The configuration its text was parsed with (`InvalidOid` when unknown).
    pub config: pg_sys::Oid,
}

impl Bm25Query {
    /// # Safety
    /// `d` is a non-NULL `bm25query` datum.
    pub unsafe fn parse(d: Datum) -> Bm25Query {
        unsafe {
            let tuple = detoast(d) as pg_sys::HeapTupleHeader;
            let lexemes = text_array(query_field(tuple, Q_LEXEMES, "lexemes"), "lexemes");
            let weights = float8_array(query_field(tuple, Q_WEIGHTS, "weights"), "weights");
            if lexemes.len() != weights.len() {
                raise(
                    INVALID_PARAMETER_VALUE,
                    format!("bm25query has {} lexemes but {} weights", lexemes.len(), weights.len()),
                    None,
                    Some("Build the query with bm25_query().".into()),
                );
            }
            let f = |attno: i16, name: &str| f64::from_bits(query_field(tuple, attno, name).value() as u64);
            let params = Bm25Params::new(f(Q_K1, "k1"), f(Q_B, "b")).or_raise();
            let avg_len = f(Q_AVG_LENGTH, "avg_length");
            if weights.iter().any(|w| !w.is_finite() || *w < 0.0) || !avg_len.is_finite() || avg_len < 0.0 {
                raise(
                    INVALID_PARAMETER_VALUE,
                    "bm25query weights and avg_length must be finite and not negative",
                    None,
                    Some("Build the query with bm25_query().".into()),
                );
            }
            let mut isnull = false;
            let c = pg_sys::GetAttributeByNum(tuple, Q_CONFIG, &mut isnull);
            let config = if isnull {
                pg_sys::InvalidOid
            } else {
                pg_sys::Oid::from(c.value() as u32)
            };
            Bm25Query {
                lexemes,
                weights,
                params,
                avg_len,
                config,
            }
        }
    }

    /// The score of a document (its lexemes' frequencies in query order and its length).
    pub fn score(&self, doc: &TsVector<'_>) -> f64 {
        let tfs: Vec<u32> = self.lexemes.iter().map(|l| doc.term_frequency(l.as_bytes())).collect();
        if tfs.iter().all(|&t| t == 0) {
            return 0.0;
        }
        self.params
            .score_frequencies(&tfs, doc.document_length(), &self.weights, self.avg_len)
    }
}

/// The parsed query of one call site, reused while the same value comes in (every row of a scan).
struct Cached {
    bytes: Vec<u8>,
    query: Bm25Query,
}

unsafe fn cached<'a>(fcinfo: pg_sys::FunctionCallInfo, d: Datum) -> &'a Bm25Query {
    unsafe {
        let p = detoast(d);
        let bytes = std::slice::from_raw_parts(p as *const u8, varsize(p));
        let flinfo = (*fcinfo).flinfo;
        let mut cache = (*flinfo).fn_extra as *mut Cached;
        if cache.is_null() || (*cache).bytes != bytes {
            let fresh = Cached {
                bytes: bytes.to_vec(),
                query: Bm25Query::parse(Datum::from(p)),
            };
            if cache.is_null() {
                cache = PgMemoryContexts::For((*flinfo).fn_mcxt).leak_and_drop_on_delete(fresh);
                (*flinfo).fn_extra = cache.cast();
            } else {
                *cache = fresh;
            }
        }
        &(*cache).query
    }
}

unsafe fn tsvector_of<'a>(d: Datum) -> TsVector<'a> {
    unsafe {
        let p = detoast(d);
        TsVector::parse(std::slice::from_raw_parts(p as *const u8, varsize(p))).or_raise()
    }
}

// bm25_distance(tsvector, bm25query) -> float8: minus the BM25 score.
pg_fn!(fn semvec_bm25_tsvector_distance(fcinfo) {
    let q = cached(fcinfo, arg(fcinfo, 1));
    f64_datum(-q.score(&tsvector_of(arg(fcinfo, 0))))
});

// bm25_distance(text, bm25query) -> float8: minus the BM25 score of to_tsvector(query's config, text).
pg_fn!(fn semvec_bm25_text_distance(fcinfo) {
    let q = cached(fcinfo, arg(fcinfo, 1));
    if q.config == pg_sys::InvalidOid {
        raise(
            INVALID_PARAMETER_VALUE,
            "bm25query has no text search configuration to parse a text document with",
            None,
            Some("Build the query with bm25_query() for a column with a bm25 index or BM25 statistics.".into()),
        );
    }
    let tsv = super::to_tsvector(q.config, arg(fcinfo, 0));
    f64_datum(-q.score(&tsvector_of(tsv)))
});

/// Opens `index_oid` as a bm25 index the caller may read (SELECT on its table).
unsafe fn open_bm25_index(index_oid: pg_sys::Oid, lockmode: pg_sys::LOCKMODE) -> pg_sys::Relation {
    unsafe {
        let heap_oid = pg_sys::IndexGetRelation(index_oid, true);
        if heap_oid == pg_sys::InvalidOid {
            raise(
                WRONG_OBJECT_TYPE,
                format!("relation with OID {} is not an index", index_oid.to_u32()),
                None,
                None,
            );
        }
        if pg_sys::pg_class_aclcheck(heap_oid, pg_sys::GetUserId(), pg_sys::ACL_SELECT as pg_sys::AclMode) != pg_sys::AclResult::ACLCHECK_OK
        {
            raise(
                INSUFFICIENT_PRIVILEGE,
                "permission denied for the table of the bm25 index",
                None,
                None,
            );
        }
        let index = pg_sys::index_open(index_oid, lockmode);
        if func_name((*index).rd_amhandler) != "bm25handler" {
            let name = crate::index::am::rel_name(index);
            raise(WRONG_OBJECT_TYPE, format!("\"{name}\" is not a bm25 index"), None, None);
        }
        index
    }
}

// semvec_bm25_index_stats(index regclass, lexemes text[], counts integer[], k1, b) -> float8[]:
// {n_docs, total_length, avg_length, weight of each lexeme...}, the statistics an index scan
// begun now would score with.
pg_fn!(fn semvec_bm25_index_stats(fcinfo) {
    let index_oid = pg_sys::Oid::from(arg(fcinfo, 0).value() as u32);
    let lexemes = text_array(arg(fcinfo, 1), "lexemes");
    let counts = int4_array(arg(fcinfo, 2), "lexeme counts");
    if counts.len() != lexemes.len() || counts.iter().any(|&c| c < 0) {
        raise(INVALID_PARAMETER_VALUE, "one non-negative count per lexeme expected", None, None);
    }
    let params = Bm25Params::new(f64::from_bits(arg(fcinfo, 3).value() as u64), f64::from_bits(arg(fcinfo, 4).value() as u64)).or_raise();
    let lockmode = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
    let index = open_bm25_index(index_oid, lockmode);
    let rel = PgRelation::new(index, Logging::Generic);
    let terms: Vec<(&[u8], u32)> = lexemes.iter().zip(&counts).map(|(l, &c)| (l.as_bytes(), c as u32)).collect();
    let scan = semvec_bm25index::Scan::begin(&rel, &terms, params).or_raise_for(index);
    let (n, total, avg) = scan.corpus();
    let mut out = vec![n as f64, total as f64, avg];
    out.extend(scan.weights());
    pg_sys::index_close(index, lockmode);
    let mut datums: Vec<Datum> = out.iter().map(|&v| f64_datum(v)).collect();
    Datum::from(pg_sys::construct_array(
        datums.as_mut_ptr(),
        datums.len() as i32,
        pg_sys::FLOAT8OID,
        8,
        true,
        pg_sys::TYPALIGN_DOUBLE as std::ffi::c_char,
    ))
});

// semvec_bm25_index_term_stats(index regclass, lexemes text[]) -> bigint[]:
// {n_docs, total_length, document frequency of each lexeme...}, the counts semvec_bm25_index_stats
// derives its weights from. A sharded search sums them over the shards and builds one query with
// the global weights (hybrid_search_sharded), so every shard scores as one server would.
pg_fn!(fn semvec_bm25_index_term_stats(fcinfo) {
    let index_oid = pg_sys::Oid::from(arg(fcinfo, 0).value() as u32);
    let lexemes = text_array(arg(fcinfo, 1), "lexemes");
    let lockmode = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
    let index = open_bm25_index(index_oid, lockmode);
    let rel = PgRelation::new(index, Logging::Generic);
    let terms: Vec<(&[u8], u32)> = lexemes.iter().map(|l| (l.as_bytes(), 1)).collect();
    let scan = semvec_bm25index::Scan::begin(&rel, &terms, Bm25Params::default()).or_raise_for(index);
    let (n, total, _) = scan.corpus();
    let mut out = vec![n as i64, total as i64];
    out.extend(scan.df().iter().map(|&d| d as i64));
    pg_sys::index_close(index, lockmode);
    let mut datums: Vec<Datum> = out.iter().map(|&v| Datum::from(v)).collect();
    Datum::from(pg_sys::construct_array(
        datums.as_mut_ptr(),
        datums.len() as i32,
        pg_sys::INT8OID,
        8,
        true,
        pg_sys::TYPALIGN_DOUBLE as std::ffi::c_char,
    ))
});

// semvec_bm25_index_config(index regclass) -> regconfig: the index's text_config, or NULL.
pg_fn!(fn semvec_bm25_index_config(fcinfo) {
    let index_oid = pg_sys::Oid::from(arg(fcinfo, 0).value() as u32);
    let lockmode = pg_sys::AccessShareLock as pg_sys::LOCKMODE;
    let index = open_bm25_index(index_oid, lockmode);
    let config = Bm25Index::cached(index).config;
    pg_sys::index_close(index, lockmode);
    if config == pg_sys::InvalidOid { return_null(fcinfo) } else { Datum::from(config) }
});

/// What `bm25_query()` remembers per call site: the plpgsql function that builds the query,
/// and its last arguments and result.
struct QueryMemo {
    builder: pg_sys::FmgrInfo,
    key: Option<MemoKey>,
    /// The result, copied into the call site's memory context (None: NULL).
    result: Option<Datum>,
}

/// A result stays valid for the same arguments within one statement and command: STABLE's
/// contract. A plpgsql expression keeps its call site for the whole transaction, so the key also
/// holds the statement's start and the command id (bumped by every write in between).
#[derive(PartialEq)]
struct MemoKey {
    xact_start: i64,
    stmt_start: i64,
    command: u32,
    args: Vec<Option<Vec<u8>>>,
}

const QUERY_ARGS: usize = 5;

unsafe fn memo_key(fcinfo: pg_sys::FunctionCallInfo) -> MemoKey {
    unsafe {
        let args = (0..QUERY_ARGS)
            .map(|i| {
                if arg_is_null(fcinfo, i) {
                    return None;
                }
                let d = arg(fcinfo, i);
                Some(match i {
                    0 => (d.value() as u32).to_le_bytes().to_vec(),
                    1 => std::ffi::CStr::from_ptr(d.cast_mut_ptr::<std::ffi::c_char>()).to_bytes().to_vec(),
                    2 => {
                        let p = detoast(d);
                        std::slice::from_raw_parts(p as *const u8, varsize(p)).to_vec()
                    }
                    _ => (d.value() as u64).to_le_bytes().to_vec(),
                })
            })
            .collect();
        MemoKey {
            xact_start: pg_sys::GetCurrentTransactionStartTimestamp(),
            stmt_start: pg_sys::GetCurrentStatementStartTimestamp(),
            command: pg_sys::GetCurrentCommandId(false),
            args,
        }
    }
}

// bm25_query(tbl regclass, doc_column name, query text, k1 float8, b float8) -> bm25query:
// semvec_bm25_query_uncached() (in the same schema), evaluated once per call site and statement
// for the same arguments. `SELECT -(doc <@> bm25_query(...)) ... ORDER BY doc <@> bm25_query(...)`
// evaluates the expression for every returned row; without this each would parse the query and
// read the index's statistics again (a quarter of a millisecond each).
pg_fn!(fn semvec_bm25_query(fcinfo) {
    let flinfo = (*fcinfo).flinfo;
    let mut memo = (*flinfo).fn_extra as *mut QueryMemo;
    if memo.is_null() {
        let nsp = pg_sys::get_func_namespace((*flinfo).fn_oid);
        let schema = std::ffi::CStr::from_ptr(pg_sys::get_namespace_name(nsp)).to_string_lossy().into_owned();
        let quoted = std::ffi::CStr::from_ptr(pg_sys::quote_identifier(
            std::ffi::CString::new(schema).expect("schema name").as_ptr(),
        ))
        .to_string_lossy()
        .into_owned();
        let signature = format!(
            "{quoted}.semvec_bm25_query_uncached(pg_catalog.regclass, pg_catalog.name, pg_catalog.text, pg_catalog.float8, pg_catalog.float8)"
        );
        let sig = std::ffi::CString::new(signature).expect("signature");
        let oid = pgrx::direct_function_call_as_datum(pg_sys::regprocedurein, &[Some(Datum::from(sig.as_ptr()))])
            .expect("regprocedurein");
        let fresh = QueryMemo {
            builder: std::mem::zeroed(),
            key: None,
            result: None,
        };
        memo = PgMemoryContexts::For((*flinfo).fn_mcxt).leak_and_drop_on_delete(fresh);
        pg_sys::fmgr_info_cxt(pg_sys::Oid::from(oid.value() as u32), &mut (*memo).builder, (*flinfo).fn_mcxt);
        (*flinfo).fn_extra = memo.cast();
    }
    let key = memo_key(fcinfo);
    if (*memo).key.as_ref() != Some(&key) {
        // Call the builder with the same arguments (NULLs included: it is not strict).
        let size = std::mem::size_of::<pg_sys::FunctionCallInfoBaseData>()
            + QUERY_ARGS * std::mem::size_of::<pg_sys::NullableDatum>();
        let call = pg_sys::palloc0(size) as pg_sys::FunctionCallInfo;
        (*call).flinfo = &mut (*memo).builder;
        (*call).nargs = QUERY_ARGS as i16;
        (*call).fncollation = (*fcinfo).fncollation;
        let args = (*call).args.as_mut_slice(QUERY_ARGS);
        for (i, a) in args.iter_mut().enumerate() {
            *a = pg_sys::NullableDatum {
                value: arg(fcinfo, i),
                isnull: arg_is_null(fcinfo, i),
            };
        }
        let f = (*memo).builder.fn_addr.expect("builder has an address");
        let d = pg_sys::ffi::pg_guard_ffi_boundary(|| f(call));
        let isnull = (*call).isnull;
        if let Some(old) = (*memo).result.take() {
            pg_sys::pfree(old.cast_mut_ptr());
        }
        (*memo).key = None;
        (*memo).result = if isnull {
            None
        } else {
            Some(PgMemoryContexts::For((*flinfo).fn_mcxt).switch_to(|_| Datum::from(pg_sys::pg_detoast_datum_copy(d.cast_mut_ptr()))))
        };
        (*memo).key = Some(key);
        pg_sys::pfree(call.cast());
    }
    match (*memo).result {
        // A copy: the caller may free or modify what it gets.
        Some(d) => Datum::from(pg_sys::pg_detoast_datum_copy(d.cast_mut_ptr())),
        None => return_null(fcinfo),
    }
});
