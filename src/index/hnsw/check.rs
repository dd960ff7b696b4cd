//! `semvec_index_check(index regclass, heapallindexed boolean DEFAULT true) RETURNS jsonb`: verifies
//! an hnsw index like `amcheck` verifies a btree, and reports what it found.
//!
//! The page-level checks are `semvec_hnsw::check_index` (headers, special areas, the meta page,
//! every tuple and link, the entry point, reachability). With `heapallindexed`, every row of the
//! table visible to a fresh MVCC snapshot is then looked up: it must be indexed (by the root TID of
//! its HOT chain, as an index build sees it) with exactly the vector the table holds.
//!
//! Locks: ShareLock on the table and the index, so no insert, update, delete or VACUUM runs while
//! it checks (reads go on). On a hot standby, where only AccessShareLock can be taken, concurrent
//! WAL replay may make the check report changes in flight: run it when the primary is idle.
//! Only the table's owner (or a superuser) may run it.

use super::opclass::{Distance, IndexType, Kind};
use crate::error::{raise, INSUFFICIENT_PRIVILEGE, UNDEFINED_TABLE, WRONG_OBJECT_TYPE};
use crate::fmgr::{arg, arg_bool, cstring_datum};
use crate::index::am::item_pointer_tid;
use crate::index::storage::{Logging, PgRelation};
use pgrx::pg_sys;
use pgrx::PgMemoryContexts;
use semvec_hnsw::{check_index, payload_hash, CheckOptions, CheckReport, Problem};
use std::fmt::Write;

const MAX_PROBLEMS: usize = 100;

/// What the heap pass found besides problems.
#[derive(Default)]
struct HeapPass {
    checked: bool,
    note: Option<&'static str>,
    tuples: u64,
    unindexed_rows: u64,
    mismatched_rows: u64,
    unreachable_rows: u64,
}

struct HeapState<'a> {
    report: &'a mut CheckReport,
    itype: IndexType,
    buf: Vec<u8>,
    tmp: PgMemoryContexts,
    pass: HeapPass,
}

pg_fn!(fn semvec_index_check(fcinfo) {
    let index_oid = pg_sys::Oid::from(arg(fcinfo, 0).value() as u32);
    let heapallindexed = arg_bool(fcinfo, 1);
    check(index_oid, heapallindexed)
});

unsafe fn check(index_oid: pg_sys::Oid, heapallindexed: bool) -> pg_sys::Datum {
    unsafe {
        let name_ptr = pg_sys::get_rel_name(index_oid);
        if name_ptr.is_null() {
            raise(
                UNDEFINED_TABLE,
                format!("relation with OID {} does not exist", index_oid.to_u32()),
                None,
                None,
            );
        }
        let name = std::ffi::CStr::from_ptr(name_ptr).to_string_lossy().into_owned();
        let heap_oid = pg_sys::IndexGetRelation(index_oid, true);
        if heap_oid == pg_sys::InvalidOid {
            raise(WRONG_OBJECT_TYPE, format!("\"{name}\" is not an index"), None, None);
        }
        // Before any lock: nobody else may block writers on a table they do not own.
        if !crate::compat::relation_owned_by(index_oid, pg_sys::GetUserId()) {
            raise(INSUFFICIENT_PRIVILEGE, format!("must be owner of index {name}"), None, None);
        }
        let lockmode = if pg_sys::RecoveryInProgress() {
            pg_sys::AccessShareLock
        } else {
            pg_sys::ShareLock
        } as pg_sys::LOCKMODE;
        // Table first, then index: the order every writer uses.
        let heap = pg_sys::table_open(heap_oid, lockmode);
        let index = pg_sys::index_open(index_oid, lockmode);
        if pg_sys::IndexGetRelation(index_oid, false) != heap_oid {
            raise(
                UNDEFINED_TABLE,
                format!("could not open parent table of index \"{name}\""),
                None,
                None,
            );
        }
        let rd_rel = &*(*index).rd_rel;
        // Our handler's SQL name (pgvector's too, but the two cannot share a database).
        let handler = pg_sys::get_func_name((*index).rd_amhandler);
        let handler = if handler.is_null() {
            c""
        } else {
            std::ffi::CStr::from_ptr(handler)
        };
        let is_index = rd_rel.relkind as u8 == pg_sys::RELKIND_INDEX;
        if !is_index || (handler != c"hnswhandler" && handler != c"bm25handler") {
            raise(WRONG_OBJECT_TYPE, format!("\"{name}\" is not an hnsw or bm25 index"), None, None);
        }
        if rd_rel.relpersistence as u8 == pg_sys::RELPERSISTENCE_TEMP && !(*index).rd_islocaltemp {
            raise(
                crate::error::FEATURE_NOT_SUPPORTED,
                "cannot access temporary tables of other sessions",
                None,
                None,
            );
        }

        if handler == c"bm25handler" {
            let json = crate::index::bm25::check::check(heap, index, &name, heapallindexed);
            pg_sys::index_close(index, lockmode);
            pg_sys::table_close(heap, lockmode);
            return jsonb(&json);
        }
        let itype = IndexType::of(index);
        let dims = crate::compat::index_key_attr(index).atttypmod;
        let rel = PgRelation::new(index, Logging::Generic);
        // With filter keys a payload is the vector, then its keys: check the vector part.
        let keyed = !itype.keys.is_empty();
        let vector_len = itype.payload_len(dims);
        let payload_check = move |p: &[u8]| {
            if !keyed {
                return payload_problem(itype, dims, p);
            }
            let v = semvec_hnsw::keys::split(p).0;
            match vector_len {
                Some(want) if v.len() != want => Some(format!("vector part of {} bytes, expected {want}", v.len())),
                _ => payload_problem(itype, dims, v),
            }
        };
        let opts = CheckOptions {
            payload_len: if keyed { None } else { vector_len },
            payload_check: Some(&payload_check),
            max_problems: MAX_PROBLEMS,
            collect_heap_tids: heapallindexed,
        };
        let mut report = check_index(&rel, &opts, &mut || {
            pgrx::check_for_interrupts!();
        });

        let mut pass = HeapPass::default();
        if heapallindexed {
            pass = heap_pass(heap, index, itype, &mut report);
        }
        let json = to_json(&name, &report, &pass, heapallindexed);
        pg_sys::index_close(index, lockmode);
        pg_sys::table_close(heap, lockmode);
        jsonb(&json)
    }
}

/// A jsonb datum from its text.
unsafe fn jsonb(json: &str) -> pg_sys::Datum {
    unsafe {
        let cstr = cstring_datum(json).cast_mut_ptr::<std::ffi::c_char>();
        pg_sys::OidInputFunctionCall(pg_sys::Oid::from(pg_sys::F_JSONB_IN), cstr, pg_sys::InvalidOid, -1)
    }
}

/// An IEEE half float as f32 (exact).
fn f16_to_f32(bits: u16) -> f32 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = ((bits >> 10) & 0x1F) as i32;
    let frac = (bits & 0x3FF) as f32;
    match exp {
        0 => sign * frac * 2f32.powi(-24),
        31 if frac == 0.0 => sign * f32::INFINITY,
        31 => f32::NAN,
        e => sign * (1.0 + frac / 1024.0) * 2f32.powi(e - 15),
    }
}

/// What is wrong with a stored payload: elements must be finite, a sparse payload well formed
/// (`nnz | indices | values`, indices increasing and below the dimensions), and a cosine payload
/// (stored normalised) of unit norm.
fn payload_problem(itype: IndexType, dims: i32, p: &[u8]) -> Option<String> {
    let word = |c: &[u8]| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]);
    if let Some(bits) = itype.quant.bits() {
        // An SQ8/SQ4 code: six f32 header fields (grid origin and step, |x|, |x̂|², |e|, x̂·e),
        // (SQ4: the dimension count), then the codes.
        // (The caller checked its length.)
        if p.len() < semvec_quant::Sq8::code_len_bits(0, bits) {
            return Some(format!("SQ{bits} code of {} bytes", p.len()));
        }
        if bits == 4 && semvec_quant::Sq8::four_bit_dims(p) != dims as usize {
            return Some(format!("SQ4 code of {} dimensions", semvec_quant::Sq8::four_bit_dims(p)));
        }
        let header = semvec_quant::Sq8::header_fields(p);
        if let Some(i) = header.iter().position(|x| !x.is_finite()) {
            return Some(format!("SQ8 code header field {i} is {}", header[i]));
        }
        if itype.distance == Distance::Cosine && (header[2] as f64 - 1.0).abs() > 1e-3 {
            return Some(format!("norm {:.6} of a cosine payload is not 1", header[2]));
        }
        return None;
    }
    let values: Vec<f32> = match itype.kind {
        Kind::Bit => return None,
        Kind::Vector => p.chunks_exact(4).map(|c| f32::from_bits(word(c))).collect(),
        Kind::Halfvec => p.chunks_exact(2).map(|c| f16_to_f32(u16::from_ne_bytes([c[0], c[1]]))).collect(),
        Kind::Sparsevec => {
            if p.len() < 4 {
                return Some(format!("sparse payload of {} bytes", p.len()));
            }
            let nnz = word(&p[..4]) as usize;
            if p.len() != 4 + 8 * nnz {
                return Some(format!("sparse payload of {} bytes for {nnz} non-zero elements", p.len()));
            }
            let indices: Vec<u32> = p[4..4 + 4 * nnz].chunks_exact(4).map(word).collect();
            if indices.windows(2).any(|w| w[0] >= w[1]) || indices.last().is_some_and(|&i| dims > 0 && i >= dims as u32) {
                return Some("sparse indices are not increasing within the dimensions".into());
            }
            p[4 + 4 * nnz..].chunks_exact(4).map(|c| f32::from_bits(word(c))).collect()
        }
    };
    let mut norm = 0.0f64;
    for (i, x) in values.iter().enumerate() {
        if !x.is_finite() {
            return Some(format!("element {} is {x}", i + 1));
        }
        norm += *x as f64 * *x as f64;
    }
    let tolerance = if itype.kind == Kind::Halfvec { 1e-2 } else { 1e-3 };
    if itype.distance == Distance::Cosine && (norm.sqrt() - 1.0).abs() > tolerance {
        return Some(format!("norm {:.6} of a cosine payload is not 1", norm.sqrt()));
    }
    None
}

/// Every row visible to a fresh MVCC snapshot must be indexed with the vector it holds.
unsafe fn heap_pass(heap: pg_sys::Relation, index: pg_sys::Relation, itype: IndexType, report: &mut CheckReport) -> HeapPass {
    unsafe {
        let mut st = HeapState {
            report,
            itype,
            buf: Vec::new(),
            tmp: PgMemoryContexts::new("semvec_index_check"),
            pass: HeapPass {
                checked: true,
                ..HeapPass::default()
            },
        };
        if let Err(note) = visible_rows(heap, index, heap_callback, &mut st as *mut HeapState as *mut std::ffi::c_void) {
            return HeapPass {
                note: Some(note),
                ..HeapPass::default()
            };
        }
        std::mem::take(&mut st.pass)
    }
}

/// Calls `callback` (an index build callback) for every row of `heap` visible to a fresh MVCC
/// snapshot, with the root TID of its HOT chain and the index's column value, as a build sees
/// them; or says why the table cannot be checked against this index.
///
/// # Safety
/// `heap` and `index` are open and locked; `state` is what `callback` expects.
pub(crate) unsafe fn visible_rows(
    heap: pg_sys::Relation,
    index: pg_sys::Relation,
    callback: unsafe extern "C-unwind" fn(
        pg_sys::Relation,
        pg_sys::ItemPointer,
        *mut pg_sys::Datum,
        *mut bool,
        bool,
        *mut std::ffi::c_void,
    ),
    state: *mut std::ffi::c_void,
) -> Result<(), &'static str> {
    unsafe {
        let ix = &*(*index).rd_index;
        if !ix.indisvalid || !ix.indisready {
            return Err("index is not valid (an interrupted CREATE INDEX CONCURRENTLY?): table not checked");
        }
        let snapshot = pg_sys::RegisterSnapshot(pg_sys::GetTransactionSnapshot());
        // An index built while older snapshots were open (broken HOT chains) may lack rows that
        // only such snapshots see; amcheck skips the same case.
        if ix.indcheckxmin {
            let t = &*(*(*index).rd_indextuple).t_data;
            let frozen = t.t_infomask & pg_sys::HEAP_XMIN_FROZEN as u16 == pg_sys::HEAP_XMIN_FROZEN as u16;
            let xmin = t.t_choice.t_heap.t_xmin;
            if !frozen && !pg_sys::TransactionIdPrecedes(xmin, (*snapshot).xmin) {
                pg_sys::UnregisterSnapshot(snapshot);
                return Err("index is younger than the oldest snapshot: table not checked");
            }
        }
        let scan = pg_sys::table_beginscan_strat(heap, snapshot, 0, std::ptr::null_mut(), true, true);
        let info = pg_sys::BuildIndexInfo(index);
        (*info).ii_Concurrent = true;
        // Ends the scan itself.
        pg_sys::table_index_build_scan(heap, index, info, true, false, Some(callback), state, scan);
        pg_sys::UnregisterSnapshot(snapshot);
        Ok(())
    }
}

#[pgrx::pg_guard]
unsafe extern "C-unwind" fn heap_callback(
    index: pg_sys::Relation,
    tid: pg_sys::ItemPointer,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    _alive: bool,
    state: *mut std::ffi::c_void,
) {
    unsafe {
        let st = &mut *(state as *mut HeapState);
        if *isnull {
            return;
        }
        let heap_tid = item_pointer_tid(tid);
        let itype = st.itype;
        let mut buf = std::mem::take(&mut st.buf);
        // Detoasted copies go to a context reset per row.
        let hash = st
            .tmp
            .switch_to(|_| itype.row_payload(index, values, isnull, &mut buf).map(payload_hash));
        st.tmp.reset();
        st.buf = buf;
        let Some(hash) = hash else { return }; // not indexed (a zero vector under cosine)
        st.pass.tuples += 1;
        if st.pass.tuples.is_multiple_of(1024) {
            pgrx::check_for_interrupts!();
        }
        let problem = match st.report.find_heap(heap_tid) {
            None => {
                st.pass.unindexed_rows += 1;
                Some(format!("heap tuple ({},{}) is not indexed", heap_tid.block, heap_tid.offset))
            }
            Some(h) if h.payload_hash != hash => {
                st.pass.mismatched_rows += 1;
                Some(format!(
                    "element ({},{}) holds another vector than heap tuple ({},{})",
                    h.element.block, h.element.offset, heap_tid.block, heap_tid.offset
                ))
            }
            Some(h) if !h.reachable => {
                st.pass.unreachable_rows += 1;
                // A row the table shows that no search returns (an element only a rolled-back
                // insert left unlinked holds no visible row).
                st.report.unreachable_is_problem().then(|| {
                    format!(
                        "element ({},{}) of heap tuple ({},{}) is not reachable from the entry point",
                        h.element.block, h.element.offset, heap_tid.block, heap_tid.offset
                    )
                })
            }
            Some(_) => None,
        };
        if let Some(message) = problem {
            let r = &mut *st.report;
            r.problem_count += 1;
            if r.problems.len() < MAX_PROBLEMS {
                r.problems.push(Problem {
                    block: 0,
                    offset: 0,
                    message,
                });
            }
        }
    }
}

pub(crate) fn json_str(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn to_json(name: &str, r: &CheckReport, heap: &HeapPass, heapallindexed: bool) -> String {
    let mut s = String::with_capacity(1024);
    s.push_str("{\"index\": ");
    json_str(&mut s, name);
    let _ = write!(
        s,
        ", \"ok\": {}, \"pages\": {}, \"elements\": {}, \"live_elements\": {}, \"dead_elements\": {}, \
         \"deleted_elements\": {}, \"heap_tids\": {}, \"neighbor_tuples\": {}, \"links\": {}, \"max_level\": {}",
        r.is_ok(),
        r.pages,
        r.elements,
        r.live_elements,
        r.dead_elements,
        r.deleted_elements,
        r.heap_tids,
        r.neighbor_tuples,
        r.links,
        r.max_level
    );
    match r.meta {
        Some(m) => {
            let _ = write!(
                s,
                ", \"dimensions\": {}, \"m\": {}, \"ef_construction\": {}",
                m.dims, m.m, m.ef_construction
            );
            match m.entry {
                Some((t, l)) => {
                    let _ = write!(s, ", \"entry_point\": \"({},{})\", \"entry_level\": {}", t.block, t.offset, l);
                }
                None => s.push_str(", \"entry_point\": null"),
            }
        }
        None => s.push_str(", \"entry_point\": null"),
    }
    let _ = write!(s, ", \"heap_checked\": {}", heap.checked);
    if heap.checked {
        let _ = write!(
            s,
            ", \"heap_tuples_checked\": {}, \"unindexed_rows\": {}, \"mismatched_rows\": {}",
            heap.tuples, heap.unindexed_rows, heap.mismatched_rows
        );
    }
    if let Some(note) = heap.note.filter(|_| heapallindexed) {
        s.push_str(", \"heap_note\": ");
        json_str(&mut s, note);
    }
    let w = &r.warnings;
    let _ = write!(
        s,
        ", \"warnings\": {{\"uninitialized_pages\": {}, \"orphan_neighbor_tuples\": {}, \"links_to_deleted\": {}, \
         \"links_above_target_level\": {}, \"self_links\": {}, \"duplicate_links\": {}, \"unreachable_live_elements\": {}, \
         \"unreachable_rows\": {}, \"live_above_entry_level\": {}, \"live_without_entry_point\": {}",
        w.uninitialized_pages,
        w.orphan_neighbor_tuples,
        w.links_to_deleted,
        w.links_above_target_level,
        w.self_links,
        w.duplicate_links,
        w.unreachable_live_elements,
        heap.unreachable_rows,
        w.live_above_entry_level,
        w.live_without_entry_point
    );
    // Indexes with filter keys: their posting lists (only then, so other reports stay as they were).
    if let Some(m) = r.meta.filter(|m| m.key_columns > 0) {
        let _ = write!(
            s,
            ", \"filter_key_columns\": {}, \"key_vectors\": {}, \"unlisted_keys\": {}, \"posting_count_mismatches\": {}",
            m.key_columns,
            m.key_vector_len > 0,
            w.unlisted_keys,
            w.posting_count_mismatches
        );
    }
    s.push('}');
    let _ = write!(s, ", \"problem_count\": {}, \"problems\": [", r.problem_count);
    for (i, p) in r.problems.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{{\"block\": {}, \"offset\": {}, \"problem\": ", p.block, p.offset);
        json_str(&mut s, &p.message);
        s.push('}');
    }
    s.push_str("]}");
    s
}
