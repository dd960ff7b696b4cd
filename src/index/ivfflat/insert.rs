//! aminsert: one heap row into the nearest list, WAL-logged page by page (Generic WAL).

use super::IvfIndex;
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
        let ivf = IvfIndex::cached(index);
        let mut buf = Vec::new();
        // zero vectors are not indexed under cosine
        let Some(payload) = ivf.itype.payload(*values, &mut buf) else {
            return false;
        };
        let rel = PgRelation::new(index, Logging::Generic);
        semvec_ivf::insert(&rel, &ivf.metric(), payload, item_pointer_tid(heap_tid)).or_raise_for(index);
        false
    }
}
