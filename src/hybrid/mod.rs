//! Glue for BM25 keyword ranking and hybrid search (`sql/hybrid.sql`).
//!
//! The SQL layer does the orchestration (statistics tables, triggers, dynamic queries built with
//! `format('%I')` and run with the caller's privileges); the functions here do the per-row work on
//! `tsvector` bytes and the parameter checks, with the arithmetic in `semvec-bm25`.

use crate::error::{raise, OrRaise, INTERNAL_ERROR, INVALID_PARAMETER_VALUE, NULL_VALUE_NOT_ALLOWED};
use crate::fmgr::*;
use pgrx::pg_sys::{self, Datum};
use pgrx::PgMemoryContexts;
use semvec_bm25::{idf, or_tsquery_text, Bm25Params, QueryTerm, RrfParams, TsVector};

#[inline]
unsafe fn arg_f64(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> f64 {
    unsafe { f64::from_bits(arg(fcinfo, n).value() as u64) }
}

#[inline]
unsafe fn arg_i64(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> i64 {
    unsafe { arg(fcinfo, n).value() as i64 }
}

/// The whole detoasted varlena (header included) as bytes, valid for the current memory context.
pub(crate) unsafe fn varlena_bytes<'a>(d: Datum) -> &'a [u8] {
    unsafe {
        let p = detoast(d);
        std::slice::from_raw_parts(p as *const u8, varsize(p))
    }
}

unsafe fn tsvector_arg<'a>(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> TsVector<'a> {
    unsafe { TsVector::parse(varlena_bytes(arg(fcinfo, n))).or_raise() }
}

/// Elements of a 1-D array of a fixed element type; NULL elements are rejected.
unsafe fn array_elements(d: Datum, elemtype: pg_sys::Oid, what: &str) -> Vec<Datum> {
    unsafe {
        let arr = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as *mut pg_sys::ArrayType;
        if (*arr).elemtype != elemtype {
            raise(INVALID_PARAMETER_VALUE, format!("{what} has the wrong element type"), None, None);
        }
        let mut typlen: i16 = 0;
        let mut typbyval = false;
        let mut typalign: std::ffi::c_char = 0;
        pg_sys::get_typlenbyvalalign(elemtype, &mut typlen, &mut typbyval, &mut typalign);
        let mut elems: *mut Datum = std::ptr::null_mut();
        let mut nulls: *mut bool = std::ptr::null_mut();
        let mut n: i32 = 0;
        pg_sys::deconstruct_array(arr, elemtype, typlen as i32, typbyval, typalign, &mut elems, &mut nulls, &mut n);
        let n = n as usize;
        if n > 0 && std::slice::from_raw_parts(nulls, n).iter().any(|&x| x) {
            raise(NULL_VALUE_NOT_ALLOWED, format!("{what} must not contain nulls"), None, None);
        }
        if n == 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(elems, n).to_vec()
        }
    }
}

pub(crate) unsafe fn text_array(d: Datum, what: &str) -> Vec<String> {
    unsafe {
        array_elements(d, pg_sys::TEXTOID, what)
            .into_iter()
            .map(|e| text_to_string(e))
            .collect()
    }
}

pub(crate) unsafe fn float8_array(d: Datum, what: &str) -> Vec<f64> {
    unsafe {
        array_elements(d, pg_sys::FLOAT8OID, what)
            .into_iter()
            .map(|e| f64::from_bits(e.value() as u64))
            .collect()
    }
}

fn text_array_datum(items: &[String]) -> Datum {
    unsafe {
        let datums: Vec<Datum> = items.iter().map(|s| text_datum(s)).collect();
        let a = pg_sys::construct_array(
            datums.as_ptr() as *mut Datum,
            datums.len() as i32,
            pg_sys::TEXTOID,
            -1,
            false,
            pg_sys::TYPALIGN_INT as std::ffi::c_char,
        );
        Datum::from(a)
    }
}

// bm25_document_length(tsvector) -> integer: the number of positions (1 per stripped lexeme).
pg_fn!(fn semvec_bm25_document_length(fcinfo) {
    let tv = tsvector_arg(fcinfo, 0);
    i32_datum(tv.document_length().min(i32::MAX as u64) as i32)
});

// semvec_bm25_idf(n_docs bigint, df bigint) -> float8
pg_fn!(fn semvec_bm25_idf(fcinfo) {
    let n = arg_i64(fcinfo, 0).max(0) as u64;
    let df = arg_i64(fcinfo, 1).max(0) as u64;
    f64_datum(idf(n, df))
});

// semvec_bm25_check_params(k1 float8, b float8) -> void
pg_fn!(fn semvec_bm25_check_params(fcinfo) {
    reject_nulls(fcinfo, &["k1", "b"]);
    Bm25Params::new(arg_f64(fcinfo, 0), arg_f64(fcinfo, 1)).or_raise();
    Datum::from(0usize)
});

/// A NULL parameter is an error (22004), not the zero its empty datum would read as.
unsafe fn reject_nulls(fcinfo: pg_sys::FunctionCallInfo, names: &[&str]) {
    unsafe {
        for (i, name) in names.iter().enumerate() {
            if arg_is_null(fcinfo, i) {
                raise(NULL_VALUE_NOT_ALLOWED, format!("{name} must not be NULL"), None, None);
            }
        }
    }
}

// semvec_rrf_check_params(rrf_k, keyword_weight, vector_weight float8,
//                         keyword_depth, vector_depth, top_k integer) -> void
pg_fn!(fn semvec_rrf_check_params(fcinfo) {
    reject_nulls(fcinfo, &["rrf_k", "keyword_weight", "vector_weight", "keyword_depth", "vector_depth", "top_k"]);
    RrfParams::new(arg_f64(fcinfo, 0), arg_f64(fcinfo, 1), arg_f64(fcinfo, 2)).or_raise();
    for (i, name) in [(3, "keyword_depth"), (4, "vector_depth"), (5, "top_k")] {
        semvec_bm25::check_depth(name, arg_i32(fcinfo, i) as i64).or_raise();
    }
    Datum::from(0usize)
});

// semvec_bm25_or_tsquery(lexemes text[]) -> tsquery: 'a' | 'b' | ..., NULL without lexemes.
pg_fn!(fn semvec_bm25_or_tsquery(fcinfo) {
    let lexemes = text_array(arg(fcinfo, 0), "lexemes");
    let text = or_tsquery_text(lexemes.iter().map(String::as_str));
    if text.is_empty() {
        return_null(fcinfo)
    } else {
        pgrx::direct_function_call_as_datum(pg_sys::tsqueryin, &[Some(cstring_datum(&text))]).expect("tsqueryin returned NULL")
    }
});

// semvec_bm25_trigger_args(tgargs bytea) -> text[]: pg_trigger.tgargs split at its NUL bytes.
pg_fn!(fn semvec_bm25_trigger_args(fcinfo) {
    let bytes = &varlena_bytes(arg(fcinfo, 0))[4..];
    let mut args: Vec<String> = bytes.split(|&b| b == 0).map(|s| String::from_utf8_lossy(s).into_owned()).collect();
    // Every argument is NUL-terminated, so the split leaves one empty tail.
    if bytes.last() == Some(&0) || bytes.is_empty() {
        args.pop();
    }
    text_array_datum(&args)
});

/// The parsed `bm25query` of one call site, reused while the same value comes in (every row of a
/// scan): recognised by its bytes.
struct QueryCache {
    bytes: Vec<u8>,
    params: Bm25Params,
    avg_len: f64,
    terms: Vec<QueryTerm>,
}

/// Attribute numbers in `bm25query` (sql/hybrid.sql).
pub(crate) const Q_LEXEMES: i16 = 2;
pub(crate) const Q_WEIGHTS: i16 = 3;
pub(crate) const Q_K1: i16 = 4;
pub(crate) const Q_B: i16 = 5;
pub(crate) const Q_AVG_LENGTH: i16 = 6;
pub(crate) const Q_N_DOCS: i16 = 7;
pub(crate) const Q_LEXEME_COUNTS: i16 = 8;
pub(crate) const Q_CONFIG: i16 = 9;

/// A non-NULL field of a `bm25query`.
pub(crate) unsafe fn query_field(tuple: pg_sys::HeapTupleHeader, attno: i16, name: &str) -> Datum {
    unsafe {
        let mut isnull = false;
        let d = pg_sys::GetAttributeByNum(tuple, attno, &mut isnull);
        if isnull {
            raise(
                NULL_VALUE_NOT_ALLOWED,
                format!("bm25query field {name} must not be NULL"),
                None,
                Some("Build the query with bm25_query().".into()),
            );
        }
        d
    }
}

unsafe fn parse_query(tuple: pg_sys::HeapTupleHeader, bytes: &[u8]) -> QueryCache {
    unsafe {
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
        let terms = lexemes
            .into_iter()
            .zip(weights)
            .map(|(lexeme, weight)| QueryTerm { lexeme, weight })
            .collect();
        QueryCache {
            bytes: bytes.to_vec(),
            params,
            avg_len,
            terms,
        }
    }
}

unsafe fn cached_query<'a>(fcinfo: pg_sys::FunctionCallInfo, query: Datum) -> &'a QueryCache {
    unsafe {
        let p = detoast(query);
        let bytes = std::slice::from_raw_parts(p as *const u8, varsize(p));
        let flinfo = (*fcinfo).flinfo;
        let cache = (*flinfo).fn_extra as *mut QueryCache;
        if !cache.is_null() && (*cache).bytes == bytes {
            return &*cache;
        }
        let fresh = parse_query(p as pg_sys::HeapTupleHeader, bytes);
        if cache.is_null() {
            let c = PgMemoryContexts::For((*flinfo).fn_mcxt).leak_and_drop_on_delete(fresh);
            (*flinfo).fn_extra = c.cast();
            &*c
        } else {
            *cache = fresh;
            &*cache
        }
    }
}

// bm25_score(doc tsvector, query bm25query) -> float8
pg_fn!(fn semvec_bm25_score(fcinfo) {
    let q = cached_query(fcinfo, arg(fcinfo, 1));
    let doc = tsvector_arg(fcinfo, 0);
    f64_datum(q.params.score(&doc, &q.terms, q.avg_len))
});

/// State of the `semvec_bm25_df` aggregate: the query's lexemes and, per lexeme, how many of the
/// rows seen so far contain it.
struct DfState {
    lexemes: Vec<String>,
    counts: Vec<i64>,
}

// semvec_bm25_df_accum(internal, doc tsvector, lexemes text[]) -> internal
pg_fn!(fn semvec_bm25_df_accum(fcinfo) {
    let mut aggcontext: pg_sys::MemoryContext = std::ptr::null_mut();
    if pg_sys::AggCheckCallContext(fcinfo, &mut aggcontext) == 0 {
        raise(INTERNAL_ERROR, "semvec_bm25_df_accum called in non-aggregate context", None, None);
    }
    let mut state = if arg_is_null(fcinfo, 0) {
        std::ptr::null_mut()
    } else {
        arg(fcinfo, 0).cast_mut_ptr::<DfState>()
    };
    if state.is_null() {
        if arg_is_null(fcinfo, 2) {
            return return_null(fcinfo);
        }
        let lexemes = text_array(arg(fcinfo, 2), "lexemes");
        let counts = vec![0; lexemes.len()];
        state = PgMemoryContexts::For(aggcontext).leak_and_drop_on_delete(DfState { lexemes, counts });
    }
    if !arg_is_null(fcinfo, 1) {
        let doc = tsvector_arg(fcinfo, 1);
        let st = &mut *state;
        for (lex, count) in st.lexemes.iter().zip(st.counts.iter_mut()) {
            if doc.find(lex.as_bytes()).is_some() {
                *count += 1;
            }
        }
    }
    Datum::from(state)
});

// semvec_bm25_df_final(internal) -> bigint[]: per lexeme, the number of rows containing it.
pg_fn!(fn semvec_bm25_df_final(fcinfo) {
    if arg_is_null(fcinfo, 0) {
        return return_null(fcinfo);
    }
    let st = &*arg(fcinfo, 0).cast_mut_ptr::<DfState>();
    let datums: Vec<Datum> = st.counts.iter().map(|&c| Datum::from(c)).collect();
    let a = pg_sys::construct_array(
        datums.as_ptr() as *mut Datum,
        datums.len() as i32,
        pg_sys::INT8OID,
        8,
        true,
        pg_sys::TYPALIGN_DOUBLE as std::ffi::c_char,
    );
    Datum::from(a)
});

// ---- One-pass ranking: term counts per candidate, document frequencies over the candidates as a
// window aggregate, then the score. bm25_search() and hybrid_search() use these so that each
// candidate's tsvector is read once.

/// Query lexemes of one call site of `semvec_bm25_term_counts`, recognised by the array's bytes.
struct LexemeCache {
    bytes: Vec<u8>,
    lexemes: Vec<String>,
}

// semvec_bm25_term_counts(doc tsvector, lexemes text[]) -> integer[]: the document's frequency of
// every lexeme, then its length.
pg_fn!(fn semvec_bm25_term_counts(fcinfo) {
    let p = detoast(arg(fcinfo, 1));
    let bytes = std::slice::from_raw_parts(p as *const u8, varsize(p));
    let flinfo = (*fcinfo).flinfo;
    let mut cache = (*flinfo).fn_extra as *mut LexemeCache;
    if cache.is_null() || (*cache).bytes != bytes {
        let fresh = LexemeCache { bytes: bytes.to_vec(), lexemes: text_array(arg(fcinfo, 1), "lexemes") };
        if cache.is_null() {
            cache = PgMemoryContexts::For((*flinfo).fn_mcxt).leak_and_drop_on_delete(fresh);
            (*flinfo).fn_extra = cache.cast();
        } else {
            *cache = fresh;
        }
    }
    let doc = tsvector_arg(fcinfo, 0);
    let mut datums: Vec<Datum> = (*cache).lexemes.iter().map(|l| i32_datum(doc.term_frequency(l.as_bytes()) as i32)).collect();
    datums.push(i32_datum(doc.document_length().min(i32::MAX as u64) as i32));
    Datum::from(pg_sys::construct_array(
        datums.as_mut_ptr(),
        datums.len() as i32,
        pg_sys::INT4OID,
        4,
        true,
        pg_sys::TYPALIGN_INT as std::ffi::c_char,
    ))
});

pub(crate) unsafe fn int4_array(d: Datum, what: &str) -> Vec<i32> {
    unsafe {
        array_elements(d, pg_sys::INT4OID, what)
            .into_iter()
            .map(|e| e.value() as i32)
            .collect()
    }
}

unsafe fn int8_array(d: Datum, what: &str) -> Vec<i64> {
    unsafe {
        array_elements(d, pg_sys::INT8OID, what)
            .into_iter()
            .map(|e| e.value() as i64)
            .collect()
    }
}

fn int8_array_datum(v: &[i64]) -> Datum {
    unsafe {
        let mut datums: Vec<Datum> = v.iter().map(|&c| Datum::from(c)).collect();
        Datum::from(pg_sys::construct_array(
            datums.as_mut_ptr(),
            datums.len() as i32,
            pg_sys::INT8OID,
            8,
            true,
            pg_sys::TYPALIGN_DOUBLE as std::ffi::c_char,
        ))
    }
}

// semvec_bm25_df_counts_accum(internal, counts integer[]) -> internal: per lexeme, the rows whose
// frequency is not 0 (the last element, the length, is not a lexeme).
pg_fn!(fn semvec_bm25_df_counts_accum(fcinfo) {
    let mut aggcontext: pg_sys::MemoryContext = std::ptr::null_mut();
    if pg_sys::AggCheckCallContext(fcinfo, &mut aggcontext) == 0 {
        raise(INTERNAL_ERROR, "semvec_bm25_df_counts_accum called in non-aggregate context", None, None);
    }
    let mut state = if arg_is_null(fcinfo, 0) { std::ptr::null_mut() } else { arg(fcinfo, 0).cast_mut_ptr::<Vec<i64>>() };
    if arg_is_null(fcinfo, 1) {
        return if state.is_null() { return_null(fcinfo) } else { Datum::from(state) };
    }
    let counts = int4_array(arg(fcinfo, 1), "term counts");
    let k = counts.len().saturating_sub(1);
    if state.is_null() {
        state = PgMemoryContexts::For(aggcontext).leak_and_drop_on_delete(vec![0i64; k]);
    }
    let df = &mut *state;
    if df.len() != k {
        raise(INVALID_PARAMETER_VALUE, "term counts of different lengths", None, None);
    }
    for (d, &c) in df.iter_mut().zip(&counts) {
        *d += (c > 0) as i64;
    }
    Datum::from(state)
});

// semvec_bm25_df_counts_final(internal) -> bigint[]
pg_fn!(fn semvec_bm25_df_counts_final(fcinfo) {
    if arg_is_null(fcinfo, 0) {
        return return_null(fcinfo);
    }
    int8_array_datum(&*arg(fcinfo, 0).cast_mut_ptr::<Vec<i64>>())
});

/// Weights of one call site of `semvec_bm25_score_counts`, recognised by the bytes of the document
/// frequencies and of the query.
struct CountsCache {
    df_bytes: Vec<u8>,
    query_bytes: Vec<u8>,
    params: Bm25Params,
    avg_len: f64,
    weights: Vec<f64>,
}

// semvec_bm25_score_counts(counts integer[], df bigint[], query bm25query) -> float8
pg_fn!(fn semvec_bm25_score_counts(fcinfo) {
    let dfp = detoast(arg(fcinfo, 1));
    let df_bytes = std::slice::from_raw_parts(dfp as *const u8, varsize(dfp));
    let qp = detoast(arg(fcinfo, 2));
    let query_bytes = std::slice::from_raw_parts(qp as *const u8, varsize(qp));
    let flinfo = (*fcinfo).flinfo;
    let mut cache = (*flinfo).fn_extra as *mut CountsCache;
    if cache.is_null() || (*cache).df_bytes != df_bytes || (*cache).query_bytes != query_bytes {
        let tuple = qp as pg_sys::HeapTupleHeader;
        let qtf = int4_array(query_field(tuple, Q_LEXEME_COUNTS, "lexeme_counts"), "lexeme_counts");
        let df = int8_array(arg(fcinfo, 1), "document frequencies");
        if qtf.len() != df.len() {
            raise(INVALID_PARAMETER_VALUE, format!("{} lexeme counts but {} document frequencies", qtf.len(), df.len()), None, None);
        }
        let f = |attno: i16, name: &str| f64::from_bits(query_field(tuple, attno, name).value() as u64);
        let params = Bm25Params::new(f(Q_K1, "k1"), f(Q_B, "b")).or_raise();
        let avg_len = f(Q_AVG_LENGTH, "avg_length");
        let n_docs = (query_field(tuple, Q_N_DOCS, "n_docs").value() as i64).max(0) as u64;
        let weights = qtf.iter().zip(&df).map(|(&q, &d)| q as f64 * idf(n_docs, d.max(0) as u64)).collect();
        let fresh = CountsCache { df_bytes: df_bytes.to_vec(), query_bytes: query_bytes.to_vec(), params, avg_len, weights };
        if cache.is_null() {
            cache = PgMemoryContexts::For((*flinfo).fn_mcxt).leak_and_drop_on_delete(fresh);
            (*flinfo).fn_extra = cache.cast();
        } else {
            *cache = fresh;
        }
    }
    let c = &*cache;
    let counts = int4_array(arg(fcinfo, 0), "term counts");
    if counts.len() != c.weights.len() + 1 {
        raise(INVALID_PARAMETER_VALUE, "term counts do not match the query", None, None);
    }
    let (tfs, len) = counts.split_at(c.weights.len());
    let tfs: Vec<u32> = tfs.iter().map(|&t| t.max(0) as u32).collect();
    f64_datum(c.params.score_frequencies(&tfs, len[0].max(0) as u64, &c.weights, c.avg_len))
});
