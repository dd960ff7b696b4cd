//! Glue for BM25 keyword ranking and hybrid search (`sql/hybrid.sql`).
//!
//! The SQL layer does the orchestration (statistics tables, triggers, dynamic queries built with
//! `format('%I')` and run with the caller's privileges); the functions here do the per-row work on
//! `tsvector` bytes and the parameter checks, with the arithmetic in `semvec-bm25`.

use crate::error::raise;
use crate::fmgr::*;
use pgrx::pg_sys::{self, Datum};
use pgrx::PgMemoryContexts;
use semvec_bm25::{idf, or_tsquery_text, Bm25Error, Bm25Params, QueryTerm, RrfParams, TsVector};

const NULL_VALUE_NOT_ALLOWED: &str = "22004";
const INVALID_PARAMETER_VALUE: &str = "22023";

fn raise_bm25(e: Bm25Error) -> ! {
    raise(e.code, e.message, e.detail, e.hint)
}

trait OrRaiseBm25<T> {
    fn or_raise(self) -> T;
}

impl<T> OrRaiseBm25<T> for Result<T, Bm25Error> {
    #[inline]
    fn or_raise(self) -> T {
        self.unwrap_or_else(|e| raise_bm25(e))
    }
}

#[inline]
unsafe fn arg_f64(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> f64 {
    unsafe { f64::from_bits(arg(fcinfo, n).value() as u64) }
}

#[inline]
unsafe fn arg_i64(fcinfo: pg_sys::FunctionCallInfo, n: usize) -> i64 {
    unsafe { arg(fcinfo, n).value() as i64 }
}

/// The whole detoasted varlena (header included) as bytes, valid for the current memory context.
unsafe fn varlena_bytes<'a>(d: Datum) -> &'a [u8] {
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

unsafe fn text_array(d: Datum, what: &str) -> Vec<String> {
    unsafe { array_elements(d, pg_sys::TEXTOID, what).into_iter().map(|e| text_to_string(e)).collect() }
}

unsafe fn float8_array(d: Datum, what: &str) -> Vec<f64> {
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
    Bm25Params::new(arg_f64(fcinfo, 0), arg_f64(fcinfo, 1)).or_raise();
    Datum::from(0usize)
});

// semvec_rrf_check_params(rrf_k, keyword_weight, vector_weight float8,
//                         keyword_depth, vector_depth, top_k integer) -> void
pg_fn!(fn semvec_rrf_check_params(fcinfo) {
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

/// The parsed query of one call site, reused while the same arrays come in (every row of a scan).
struct QueryCache {
    lexemes_bytes: Vec<u8>,
    weights_bytes: Vec<u8>,
    terms: Vec<QueryTerm>,
}

unsafe fn cached_terms<'a>(fcinfo: pg_sys::FunctionCallInfo, lexemes: Datum, weights: Datum) -> &'a [QueryTerm] {
    unsafe {
        let lb = varlena_bytes(lexemes);
        let wb = varlena_bytes(weights);
        let flinfo = (*fcinfo).flinfo;
        let cache = (*flinfo).fn_extra as *mut QueryCache;
        if !cache.is_null() && (*cache).lexemes_bytes == lb && (*cache).weights_bytes == wb {
            return &(*cache).terms;
        }
        let lex = text_array(lexemes, "lexemes");
        let w = float8_array(weights, "weights");
        if lex.len() != w.len() {
            raise(
                INVALID_PARAMETER_VALUE,
                format!("{} lexemes but {} weights", lex.len(), w.len()),
                None,
                Some("Build the query with bm25_query().".into()),
            );
        }
        let terms: Vec<QueryTerm> = lex.into_iter().zip(w).map(|(lexeme, weight)| QueryTerm { lexeme, weight }).collect();
        let fresh = QueryCache { lexemes_bytes: lb.to_vec(), weights_bytes: wb.to_vec(), terms };
        if cache.is_null() {
            let p = PgMemoryContexts::For((*flinfo).fn_mcxt).leak_and_drop_on_delete(fresh);
            (*flinfo).fn_extra = p.cast();
            &(*p).terms
        } else {
            *cache = fresh;
            &(*cache).terms
        }
    }
}

// semvec_bm25_score(doc tsvector, lexemes text[], weights float8[], k1 float8, b float8,
//                   avg_length float8) -> float8
pg_fn!(fn semvec_bm25_score(fcinfo) {
    let params = Bm25Params::new(arg_f64(fcinfo, 3), arg_f64(fcinfo, 4)).or_raise();
    let avg_len = arg_f64(fcinfo, 5);
    let terms = cached_terms(fcinfo, arg(fcinfo, 1), arg(fcinfo, 2));
    let doc = tsvector_arg(fcinfo, 0);
    f64_datum(params.score(&doc, terms, avg_len))
});
