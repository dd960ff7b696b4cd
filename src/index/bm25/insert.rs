//! aminsert: one document into the index's memtable, WAL-logged page by page (Generic WAL).

use super::Bm25Index;
use crate::index::am::{item_pointer_tid, OrRaiseFor};
use crate::index::storage::{Logging, PgRelation};
use pgrx::pg_sys;

#[allow(clippy::too_many_arguments)]
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn aminsert(
    index: pg_sys::Relation,
    values: *mut pg_sys::Datum,
    isnull: *mut bool,
    heap_tid: pg_sys::ItemPointer,
    _heap: pg_sys::Relation,
    _check_unique: pg_sys::IndexUniqueCheck::Type,
    _index_unchanged: bool,
    _info: *mut pg_sys::IndexInfo,
) -> bool {
    unsafe {
        if *isnull {
            return false;
        }
        let bm = Bm25Index::cached(index);
        let rel = PgRelation::new(index, Logging::Generic);
        let tid = item_pointer_tid(heap_tid);
        bm.with_document(*values, |terms, len| {
            semvec_bm25index::insert(&rel, tid, terms, len).or_raise_for(index)
        });
        false
    }
}
