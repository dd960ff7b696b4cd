//! Where the server API differs between the PostgreSQL majors semvec builds for (15 to 18): every
//! `cfg(feature = "pgN")` of the glue is here, so the rest of `src/` reads the same on each.
//!
//! | change | since |
//! | --- | --- |
//! | `RelFileNode` (`spcNode`, `dbNode`, `relNode`) → `RelFileLocator` (`spcOid`, `dbOid`, `relNumber`), `rd_node` → `rd_locator` | 16 |
//! | `pg_class_ownercheck(oid, role)` → `object_ownercheck(RelationRelationId, oid, role)` | 16 |
//! | `PgStat_TableCounts` fields lose their `t_` prefix (`t_numscans` → `numscans`, ...) | 16 |
//! | `IndexAmRoutine.amsummarizing` | 16 |
//! | `IndexAmRoutine.amcanbuildparallel`, `aminsertcleanup` | 17 |
//! | `IndexAmRoutine.amcanhash`, `amconsistentequality`, `amconsistentordering`, `amgettreeheight`, `amtranslatestrategy`, `amtranslatecmptype` | 18 |
//! | `TupleDesc.attrs` → `compact_attrs` (full attributes through `TupleDescAttr`) | 18 |
//! | `vacuum_delay_point()` → `vacuum_delay_point(is_analyze)` | 18 |
//! | `relopt_parse_elt.isset_offset` | 18 |
//! | the planner compares `Path.disabled_nodes` before costs (an infinite cost no longer rules a path out) | 18 |
//! | `Append`/`MergeAppend.part_prune_info` (a pointer) → `part_prune_index` (-1: none) | 18 |
//!
//! The buffer-descriptor state word that [`crate::index::storage`] updates (`BM_LOCKED`,
//! `BUF_USAGECOUNT_*`) has the same layout in 15 to 18; its constants come from the bindings of
//! the server we are built for.

use pgrx::pg_sys;

#[cfg(not(any(feature = "pg15", feature = "pg16", feature = "pg17", feature = "pg18")))]
compile_error!("semvec builds for PostgreSQL 15, 16, 17 or 18: enable one of the features pg15, pg16, pg17, pg18");

/// The physical file of a relation (`RelFileNode` before 16, `RelFileLocator` since).
#[cfg(feature = "pg15")]
pub type RelFile = pg_sys::RelFileNode;
#[cfg(any(feature = "pg16", feature = "pg17", feature = "pg18"))]
pub type RelFile = pg_sys::RelFileLocator;

/// `rel`'s physical file.
///
/// # Safety
/// `rel` is an open relation.
#[inline]
pub unsafe fn rel_file(rel: pg_sys::Relation) -> RelFile {
    #[cfg(feature = "pg15")]
    unsafe {
        (*rel).rd_node
    }
    #[cfg(any(feature = "pg16", feature = "pg17", feature = "pg18"))]
    unsafe {
        (*rel).rd_locator
    }
}

/// (tablespace, database, relfilenumber) of a physical file, for comparisons and map keys.
#[inline]
pub fn rel_file_key(f: &RelFile) -> (pg_sys::Oid, pg_sys::Oid, pg_sys::Oid) {
    #[cfg(feature = "pg15")]
    {
        (f.spcNode, f.dbNode, f.relNode)
    }
    #[cfg(any(feature = "pg16", feature = "pg17", feature = "pg18"))]
    {
        (f.spcOid, f.dbOid, f.relNumber)
    }
}

/// Whether `role` owns the relation `relid`.
///
/// # Safety
/// Call in a backend with catalog access.
pub unsafe fn relation_owned_by(relid: pg_sys::Oid, role: pg_sys::Oid) -> bool {
    #[cfg(feature = "pg15")]
    unsafe {
        pg_sys::pg_class_ownercheck(relid, role)
    }
    #[cfg(any(feature = "pg16", feature = "pg17", feature = "pg18"))]
    unsafe {
        pg_sys::object_ownercheck(pg_sys::RelationRelationId, relid, role)
    }
}

/// The catalog row of attribute `i` (0-based) of a tuple descriptor.
///
/// # Safety
/// `desc` is a valid tuple descriptor with more than `i` attributes; the result lives as long as it.
#[inline]
pub unsafe fn tuple_desc_attr<'a>(desc: pg_sys::TupleDesc, i: usize) -> &'a pg_sys::FormData_pg_attribute {
    #[cfg(any(feature = "pg15", feature = "pg16", feature = "pg17"))]
    unsafe {
        &(*desc).attrs.as_slice(i + 1)[i]
    }
    #[cfg(feature = "pg18")]
    unsafe {
        &*pg_sys::TupleDescAttr(desc, i as std::ffi::c_int)
    }
}

/// The pointers of a `List` of nodes (none for NIL).
///
/// # Safety
/// `list` is NIL or a valid pointer `List`.
pub unsafe fn list_ptrs(list: *mut pg_sys::List) -> Vec<*mut std::ffi::c_void> {
    if list.is_null() {
        return Vec::new();
    }
    unsafe { (0..(*list).length as usize).map(|i| (*(*list).elements.add(i)).ptr_value).collect() }
}

/// The catalog row of an index's (first and only) key column.
///
/// # Safety
/// `index` is an open index relation.
#[inline]
pub unsafe fn index_key_attr<'a>(index: pg_sys::Relation) -> &'a pg_sys::FormData_pg_attribute {
    unsafe { tuple_desc_attr((*index).rd_att, 0) }
}

/// `vacuum_delay_point` of a VACUUM (not ANALYZE).
#[inline]
pub fn vacuum_delay_point() {
    #[cfg(any(feature = "pg15", feature = "pg16", feature = "pg17"))]
    unsafe {
        pg_sys::vacuum_delay_point()
    }
    #[cfg(feature = "pg18")]
    unsafe {
        pg_sys::vacuum_delay_point(false)
    }
}

/// `pgstat_count_index_scan` on statistics that are attached.
///
/// # Safety
/// `stats` is a relation's non-null `pgstat_info`.
#[inline]
pub unsafe fn count_scan(stats: *mut pg_sys::PgStat_TableStatus) {
    #[cfg(feature = "pg15")]
    unsafe {
        (*stats).t_counts.t_numscans += 1;
    }
    #[cfg(any(feature = "pg16", feature = "pg17", feature = "pg18"))]
    unsafe {
        (*stats).counts.numscans += 1;
    }
}

/// What `ReadBufferExtended` counts for `pg_statio_*` on a buffer hit.
///
/// # Safety
/// `stats` is a relation's non-null `pgstat_info`.
#[inline]
pub unsafe fn count_buffer_hit(stats: *mut pg_sys::PgStat_TableStatus) {
    #[cfg(feature = "pg15")]
    unsafe {
        (*stats).t_counts.t_blocks_fetched += 1;
        (*stats).t_counts.t_blocks_hit += 1;
    }
    #[cfg(any(feature = "pg16", feature = "pg17", feature = "pg18"))]
    unsafe {
        (*stats).counts.blocks_fetched += 1;
        (*stats).counts.blocks_hit += 1;
    }
}

/// Sets the `IndexAmRoutine` fields that later majors added, to what an index like pgvector's
/// needs (the node is zeroed, so these are also their defaults; set here so that each is a
/// decision, not an accident).
#[allow(unused_variables)]
pub fn am_routine_newer_fields(am: &mut pg_sys::IndexAmRoutine) {
    #[cfg(any(feature = "pg16", feature = "pg17", feature = "pg18"))]
    {
        // Only BRIN-like summarizing indexes may skip HOT-updated rows.
        am.amsummarizing = false;
    }
    #[cfg(any(feature = "pg17", feature = "pg18"))]
    {
        // Our builds run their own threads; Postgres's parallel build workers are not used.
        am.amcanbuildparallel = false;
        am.aminsertcleanup = None;
    }
    #[cfg(feature = "pg18")]
    {
        // No equality strategies: not usable for hashing, nor by the planner's comparisons.
        am.amcanhash = false;
        am.amconsistentequality = false;
        am.amconsistentordering = false;
        am.amgettreeheight = None;
        am.amtranslatestrategy = None;
        am.amtranslatecmptype = None;
    }
}

/// One entry of `build_reloptions`' parse table: option `name` of type `kind`, stored at `offset`
/// of the options struct (18 adds `isset_offset`, 0: whether the option was set is not recorded).
pub const fn relopt(name: &'static std::ffi::CStr, kind: pg_sys::relopt_type::Type, offset: usize) -> pg_sys::relopt_parse_elt {
    pg_sys::relopt_parse_elt {
        optname: name.as_ptr(),
        opttype: kind,
        offset: offset as i32,
        #[cfg(feature = "pg18")]
        isset_offset: 0,
    }
}

/// Makes the planner never pick `path`, an index path our access method cannot run (no ORDER BY
/// operator). Before 18 its infinite cost does that; since 18 the planner compares the count of
/// disabled nodes before costs, so with `enable_seqscan = off` (a disabled seq scan counts 1) the
/// infinite-cost index path would win: mark it with 2, as pgvector does.
///
/// # Safety
/// `path` is the planner's `IndexPath` of `amcostestimate`.
#[allow(unused_variables)]
pub unsafe fn never_use_path(path: *mut pg_sys::IndexPath) {
    #[cfg(feature = "pg18")]
    unsafe {
        (*path).path.disabled_nodes = 2;
    }
}

/// Whether a Merge Append prunes its children at run time (partition pruning with parameters).
///
/// # Safety
/// `ma` is a Merge Append plan node.
pub unsafe fn merge_append_has_runtime_pruning(ma: *mut pg_sys::MergeAppend) -> bool {
    #[cfg(not(feature = "pg18"))]
    unsafe {
        !(*ma).part_prune_info.is_null()
    }
    #[cfg(feature = "pg18")]
    unsafe {
        (*ma).part_prune_index >= 0
    }
}

/// Marks an Append as pruning none of its children at run time.
///
/// # Safety
/// `append` is an Append plan node.
pub unsafe fn append_without_runtime_pruning(append: *mut pg_sys::Append) {
    #[cfg(not(feature = "pg18"))]
    unsafe {
        (*append).part_prune_info = std::ptr::null_mut();
    }
    #[cfg(feature = "pg18")]
    unsafe {
        (*append).part_prune_index = -1;
    }
}
