//! aminsert: one heap row into the graph on disk, WAL-logged page by page (Generic WAL).

use super::opclass::IndexType;
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
        let itype = IndexType::cached(index);
        let mut buf = Vec::new();
        let Some(payload) = itype.row_payload(index, values, isnull, &mut buf) else {
            return false;
        };
        let rel = PgRelation::new(index, Logging::Generic);
        let metric = itype.metric();
        semvec_hnsw::insert(&rel, &metric, payload, item_pointer_tid(heap_tid)).or_raise_for(index);
        false
    }
}
