//! Filter key columns of an hnsw index (`USING hnsw (embedding vector_cosine_ops, tenant_id,
//! labels)`): their values become the key section of each element's payload
//! (`semvec_hnsw::keys`), and a scan's `=`, `IN`/`= ANY` and `&&` conditions on them become the
//! search's filter. Integers are stored as their value (so `int4 = int8` agrees), text as a 64-bit
//! hash (the executor rechecks every condition on the heap row), arrays as their elements.

use crate::error::{raise, FEATURE_NOT_SUPPORTED, PROGRAM_LIMIT_EXCEEDED};
use pgrx::pg_sys::{self, Datum};
use semvec_hnsw::keys::{int_key, text_key, Filter};

/// Most filter key columns an index may have.
pub const MAX_KEYS: usize = 8;
/// Strategy number of `=` in the key operator classes.
pub const STRATEGY_EQUAL: u16 = 1;
/// Strategy number of `&&` in the array key operator classes.
pub const STRATEGY_OVERLAP: u16 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    Int,
    Text,
    IntArray,
    TextArray,
}

/// The key columns of an index, in order (after the vector column).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyKinds {
    n: u8,
    kinds: [KeyKind; MAX_KEYS],
}

impl KeyKinds {
    pub const NONE: KeyKinds = KeyKinds {
        n: 0,
        kinds: [KeyKind::Int; MAX_KEYS],
    };

    pub fn len(&self) -> usize {
        self.n as usize
    }
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The key columns of `index` (its columns after the first).
    ///
    /// # Safety
    /// An open index relation.
    pub unsafe fn of(index: pg_sys::Relation) -> KeyKinds {
        unsafe {
            let natts = (*(*index).rd_index).indnkeyatts as usize;
            if natts <= 1 {
                return KeyKinds::NONE;
            }
            if natts - 1 > MAX_KEYS {
                raise(
                    PROGRAM_LIMIT_EXCEEDED,
                    format!("an hnsw index can have at most {MAX_KEYS} filter key columns"),
                    None,
                    None,
                );
            }
            let mut k = KeyKinds::NONE;
            let tupdesc = (*index).rd_att;
            for i in 1..natts {
                let att = crate::compat::tuple_desc_attr(tupdesc, i);
                let kind = match att.atttypid {
                    pg_sys::INT2OID | pg_sys::INT4OID | pg_sys::INT8OID => KeyKind::Int,
                    pg_sys::TEXTOID | pg_sys::VARCHAROID => KeyKind::Text,
                    pg_sys::INT2ARRAYOID | pg_sys::INT4ARRAYOID | pg_sys::INT8ARRAYOID => KeyKind::IntArray,
                    pg_sys::TEXTARRAYOID => KeyKind::TextArray,
                    _ => raise(
                        FEATURE_NOT_SUPPORTED,
                        "type not supported for an hnsw filter key column",
                        Some(
                            "Filter key columns may be smallint, integer, bigint, text or varchar, or arrays of them (matched with &&)."
                                .into(),
                        ),
                        None,
                    ),
                };
                if matches!(kind, KeyKind::Text | KeyKind::TextArray) {
                    let coll = *(*index).rd_indcollation.add(i);
                    if coll != pg_sys::InvalidOid && !pg_sys::get_collation_isdeterministic(coll) {
                        raise(
                            FEATURE_NOT_SUPPORTED,
                            "nondeterministic collations are not supported for hnsw filter key columns",
                            None,
                            None,
                        );
                    }
                }
                k.kinds[k.n as usize] = kind;
                k.n += 1;
            }
            k
        }
    }

    /// Appends the key section for the row's key column values (`values[1..]`) to `buf`.
    ///
    /// # Safety
    /// `values` and `isnull` hold the index's columns of one row.
    pub unsafe fn append(&self, index: pg_sys::Relation, values: *const Datum, isnull: *const bool, buf: &mut Vec<u8>) {
        unsafe {
            let tupdesc = (*index).rd_att;
            let mut cols: Vec<Vec<u64>> = Vec::with_capacity(self.len());
            for i in 0..self.len() {
                if *isnull.add(i + 1) {
                    cols.push(Vec::new());
                    continue;
                }
                let typid = crate::compat::tuple_desc_attr(tupdesc, i + 1).atttypid;
                let mut vals = datum_values(typid, *values.add(i + 1));
                vals.sort_unstable();
                vals.dedup();
                cols.push(vals);
            }
            let len: usize = cols.iter().map(|c| 2 + 8 * c.len()).sum();
            if len + 2 > u16::MAX as usize / 4 {
                raise(
                    PROGRAM_LIMIT_EXCEEDED,
                    "too many filter key values for an hnsw index row",
                    Some(format!(
                        "The row's filter keys take {len} bytes; an element holds at most {}.",
                        u16::MAX / 4
                    )),
                    None,
                );
            }
            semvec_hnsw::keys::append_keys(buf, &cols);
        }
    }

    /// The scan's filter from its conditions on key columns (`None` without any).
    ///
    /// # Safety
    /// `keys` holds `nkeys` scan keys of a scan on this index.
    pub unsafe fn filter(&self, index: pg_sys::Relation, keys: pg_sys::ScanKey, nkeys: i32) -> Option<Filter> {
        unsafe {
            if keys.is_null() || nkeys <= 0 || self.is_empty() {
                return None;
            }
            let mut f = Filter::default();
            for i in 0..nkeys as usize {
                let sk = &*keys.add(i);
                let col = sk.sk_attno as usize;
                if col < 2 || col - 2 >= self.len() {
                    continue;
                }
                let col = (col - 2) as u16;
                let kind = self.kinds[col as usize];
                if sk.sk_flags as u32 & pg_sys::SK_ISNULL != 0 {
                    // `col = NULL` and `col && NULL` are never true.
                    f.intersect_scalar(col, Vec::new());
                    continue;
                }
                let values = if sk.sk_flags as u32 & pg_sys::SK_SEARCHARRAY != 0 {
                    array_values(sk.sk_argument)
                } else {
                    // The right operand's type; the column's when the operator does not say.
                    let typid = match sk.sk_subtype {
                        pg_sys::InvalidOid | pg_sys::ANYARRAYOID => {
                            crate::compat::tuple_desc_attr((*index).rd_att, col as usize + 1).atttypid
                        }
                        t => t,
                    };
                    datum_values(typid, sk.sk_argument)
                };
                match (sk.sk_strategy, kind) {
                    (STRATEGY_EQUAL, KeyKind::Int | KeyKind::Text) => f.intersect_scalar(col, values),
                    _ => f.add(col, values),
                }
            }
            (!f.is_empty()).then_some(f)
        }
    }
}

/// The key values of one datum of type `typid` (a scalar: one value; an array: its non-NULL
/// elements).
unsafe fn datum_values(typid: pg_sys::Oid, d: Datum) -> Vec<u64> {
    unsafe {
        match typid {
            pg_sys::INT2OID => vec![int_key(d.value() as i16 as i64)],
            pg_sys::INT4OID => vec![int_key(d.value() as i32 as i64)],
            pg_sys::INT8OID => vec![int_key(d.value() as i64)],
            pg_sys::TEXTOID | pg_sys::VARCHAROID => vec![text_key(text_bytes(d))],
            _ => array_values(d),
        }
    }
}

unsafe fn text_bytes<'a>(d: Datum) -> &'a [u8] {
    unsafe {
        let v = pg_sys::pg_detoast_datum_packed(d.cast_mut_ptr());
        let len = pgrx::varlena::varsize_any_exhdr(v);
        std::slice::from_raw_parts(pgrx::varlena::vardata_any(v) as *const u8, len)
    }
}

/// The key values of an array datum's non-NULL elements.
unsafe fn array_values(d: Datum) -> Vec<u64> {
    unsafe {
        let a = pg_sys::pg_detoast_datum(d.cast_mut_ptr()) as *mut pg_sys::ArrayType;
        let elem = (*a).elemtype;
        let (mut typlen, mut byval, mut align) = (0i16, false, 0 as std::ffi::c_char);
        pg_sys::get_typlenbyvalalign(elem, &mut typlen, &mut byval, &mut align);
        let mut elems: *mut Datum = std::ptr::null_mut();
        let mut nulls: *mut bool = std::ptr::null_mut();
        let mut n = 0i32;
        pg_sys::deconstruct_array(a, elem, typlen as i32, byval, align, &mut elems, &mut nulls, &mut n);
        let mut out = Vec::with_capacity(n.max(0) as usize);
        for i in 0..n.max(0) as usize {
            if !nulls.is_null() && *nulls.add(i) {
                continue;
            }
            let e = *elems.add(i);
            match elem {
                pg_sys::INT2OID => out.push(int_key(e.value() as i16 as i64)),
                pg_sys::INT4OID => out.push(int_key(e.value() as i32 as i64)),
                pg_sys::INT8OID => out.push(int_key(e.value() as i64)),
                pg_sys::TEXTOID | pg_sys::VARCHAROID => out.push(text_key(text_bytes(e))),
                _ => raise(
                    FEATURE_NOT_SUPPORTED,
                    "type not supported for an hnsw filter key column",
                    None,
                    None,
                ),
            }
        }
        out
    }
}
