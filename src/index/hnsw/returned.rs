//! The distance of the row an hnsw scan returned last, for the executor's own evaluation of the
//! same `ORDER BY` expression on that row.
//!
//! A plan for `SELECT ... ORDER BY embedding <-> $1 LIMIT n` computes `embedding <-> $1` once more
//! for every row the index returns (it is a resjunk column of the scan's target list), although the
//! index has just computed exactly that value. When the stored vector is large enough to be
//! TOASTed (about 500 dimensions and more: OpenAI-sized embeddings always are), that evaluation
//! fetches and copies the whole vector from the TOAST table again — on Fashion-MNIST (784
//! dimensions) a third of the CPU time of a query at `ef_search` 10.
//!
//! So, for indexes whose distance the SQL function computes bit for bit like the index does (the
//! `vector` operator classes for `<->`, `<#>` and `<+>`; not cosine, whose index keeps normalised
//! copies), [`Recorder::record`] notes for each returned row the TOAST pointer of its vector in the
//! heap tuple at the returned TID, the query and the distance. The distance function asks
//! [`distance_of_returned_row`] first: when its first argument is that very TOAST pointer (same
//! TOAST relation and value OID: TOAST values are immutable, so same bytes) and its second the
//! same query, the recorded value is the answer and nothing is detoasted.
//!
//! Why the recorded value is exact: the element the scan returned was made from the row version at
//! that TID (heap tuples never change their values in place; an element shared by duplicates holds
//! identical vectors), its payload is the vector's `f32` array, and the kernel and argument
//! conversions are the ones the SQL function uses (`semvec_simd`'s detected backend; `(a - b)²` and
//! `a·b` are symmetric bit for bit). A HOT successor of the tuple either carries the same TOAST
//! pointer (same value) or another one (no match). A row not returned by the index — another scan,
//! another column, another query — cannot match both the TOAST pointer and the query.
//!
//! The peek costs one heap buffer access per returned row, on the page the executor fetches next.
//! A scan stops peeking as soon as the peek is useless: the vector is not TOASTed, or the last row's
//! distance was never asked for (a plan that does not evaluate it, or a distance function without
//! the lookup).

use crate::datatype::vector::VectorRef;
use pgrx::pg_sys::{self, Datum};
use semvec_hnsw::Tid;
use std::cell::RefCell;

/// The SQL distance functions whose value an index can supply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SqlDistance {
    /// `vector <-> vector`: sqrt of the squared distance.
    L2,
    /// `vector <#> vector`: the negative inner product.
    NegativeInnerProduct,
    /// `vector <+> vector`.
    L1,
}

impl SqlDistance {
    /// The SQL value for the index metric's distance `d` (squared for L2, `-a·b` for inner product).
    fn sql_value(self, d: f32) -> f64 {
        match self {
            SqlDistance::L2 => (d as f64).sqrt(),
            SqlDistance::NegativeInnerProduct | SqlDistance::L1 => d as f64,
        }
    }
}

struct Returned {
    valid: bool,
    /// Whether the distance function asked for it.
    used: bool,
    op: SqlDistance,
    value_oid: u32,
    toast_rel: u32,
    value: f64,
    query: Vec<u8>,
}

thread_local! {
    static RETURNED: RefCell<Returned> = const {
        RefCell::new(Returned { valid: false, used: false, op: SqlDistance::L2, value_oid: 0, toast_rel: 0, value: 0.0, query: Vec::new() })
    };
}

/// `(va_valueid, va_toastrelid)` of an on-disk TOAST pointer datum (`VARATT_IS_EXTERNAL_ONDISK`).
unsafe fn toast_pointer(d: Datum) -> Option<(u32, u32)> {
    unsafe {
        let p = d.cast_mut_ptr::<u8>();
        if p.is_null() || *p != 0x01 || *p.add(1) != pg_sys::vartag_external::VARTAG_ONDISK as u8 {
            return None;
        }
        // varattrib_1b_e header (2 bytes), then an unaligned varatt_external:
        // va_rawsize i32, va_extinfo u32, va_valueid Oid, va_toastrelid Oid.
        let mut ext = [0u8; 16];
        std::ptr::copy_nonoverlapping(p.add(2), ext.as_mut_ptr(), 16);
        Some((
            u32::from_ne_bytes(ext[8..12].try_into().unwrap()),
            u32::from_ne_bytes(ext[12..16].try_into().unwrap()),
        ))
    }
}

/// Per scan: whether and how to record returned rows.
pub struct Recorder {
    op: Option<SqlDistance>,
    /// Heap attribute number of the indexed column.
    attno: i32,
    recorded_one: bool,
}

impl Recorder {
    /// For a scan of `index`, whose rows are compared by `op` (`None`: never record).
    pub unsafe fn new(index: pg_sys::Relation, op: Option<SqlDistance>) -> Recorder {
        let attno = unsafe { *(*(*index).rd_index).indkey.values.as_ptr() as i32 };
        Recorder {
            op: op.filter(|_| attno > 0),
            attno,
            recorded_one: false,
        }
    }

    /// Notes that the scan returns heap row `tid` at index distance `dist` from `query` (the query
    /// payload: its `f32` array).
    pub unsafe fn record(&mut self, heap: pg_sys::Relation, tid: Tid, dist: f32, query: &[u8]) {
        let Some(op) = self.op else { return };
        let previous_used = RETURNED.with(|r| {
            let mut r = r.borrow_mut();
            let used = r.used;
            r.valid = false;
            used
        });
        if self.recorded_one && !previous_used {
            self.op = None;
            return;
        }
        let pointer = unsafe { self.peek(heap, tid) };
        let Some((value_oid, toast_rel)) = pointer else {
            self.op = None;
            return;
        };
        self.recorded_one = true;
        RETURNED.with(|r| {
            let mut r = r.borrow_mut();
            r.valid = true;
            r.used = false;
            r.op = op;
            r.value_oid = value_oid;
            r.toast_rel = toast_rel;
            r.value = op.sql_value(dist);
            if r.query != query {
                r.query.clear();
                r.query.extend_from_slice(query);
            }
        });
    }

    /// The TOAST pointer of the indexed column in the heap tuple at `tid`, if it is a normal
    /// (not redirected, not unused) line pointer holding an on-disk TOASTed value.
    unsafe fn peek(&self, heap: pg_sys::Relation, tid: Tid) -> Option<(u32, u32)> {
        unsafe {
            if heap.is_null() {
                return None;
            }
            let buf = pg_sys::ReadBufferExtended(
                heap,
                pg_sys::ForkNumber::MAIN_FORKNUM,
                tid.block,
                pg_sys::ReadBufferMode::RBM_NORMAL,
                std::ptr::null_mut(),
            );
            pg_sys::LockBuffer(buf, pg_sys::BUFFER_LOCK_SHARE as i32);
            let page = pg_sys::BufferGetPage(buf);
            let mut out = None;
            if tid.offset >= 1 && tid.offset as usize <= pg_sys::PageGetMaxOffsetNumber(page) as usize {
                let lp = pg_sys::PageGetItemId(page, tid.offset);
                if (*lp).lp_flags() == pg_sys::LP_NORMAL {
                    let mut tup: pg_sys::HeapTupleData = std::mem::zeroed();
                    tup.t_len = (*lp).lp_len();
                    tup.t_data = pg_sys::PageGetItem(page, lp) as pg_sys::HeapTupleHeader;
                    tup.t_tableOid = (*heap).rd_id;
                    let mut isnull = false;
                    let d = pg_sys::heap_getattr(&mut tup, self.attno, (*heap).rd_att, &mut isnull);
                    if !isnull {
                        out = toast_pointer(d);
                    }
                }
            }
            pg_sys::UnlockReleaseBuffer(buf);
            out
        }
    }
}

/// The value of distance function `op` for `(stored, query)` when `stored` is the TOASTed vector
/// of the row an hnsw scan returned last, for this query; `None` otherwise (compute it as usual).
/// Call before detoasting `stored`.
pub unsafe fn distance_of_returned_row(stored: Datum, query: Datum, op: SqlDistance) -> Option<f64> {
    unsafe {
        let (value_oid, toast_rel) = toast_pointer(stored)?;
        let hit = RETURNED.with(|r| {
            let r = r.borrow();
            r.valid && r.op == op && r.value_oid == value_oid && r.toast_rel == toast_rel
        });
        if !hit {
            return None;
        }
        let q = VectorRef::from_datum(query);
        let qb = std::slice::from_raw_parts(q.x.as_ptr() as *const u8, std::mem::size_of_val(q.x));
        RETURNED.with(|r| {
            let mut r = r.borrow_mut();
            (r.query == qb).then(|| {
                r.used = true;
                r.value
            })
        })
    }
}
