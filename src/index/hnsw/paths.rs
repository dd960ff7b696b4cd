//! `IN (...)` / `= ANY(array)` on the filter key columns of an hnsw index, with ORDER BY.
//!
//! PostgreSQL 15 and 16 build no ordered index path that uses a `ScalarArrayOpExpr` on an index
//! column after the first (btree could not keep such a scan ordered before 17), so
//! `WHERE tenant_id IN (1, 2) ORDER BY embedding <=> $1 LIMIT 10` would use the index without
//! the condition and filter afterwards, coming back short. Our scans apply these conditions
//! inside the graph search and return rows in distance order, so after the planner has built its
//! paths this hook adds, for each hnsw index with key columns, the ordered path with those
//! conditions too (costed by `amcostestimate` like any other). Where the planner already made
//! one (PostgreSQL 17+), nothing is added.

use pgrx::pg_sys;
use pgrx::prelude::*;

use crate::compat::list_ptrs as ptrs;

static mut PREV: pg_sys::set_rel_pathlist_hook_type = None;

pub fn init() {
    // SAFETY: _PG_init runs once per backend, on its only thread, before any query is planned.
    unsafe {
        PREV = pg_sys::set_rel_pathlist_hook;
        pg_sys::set_rel_pathlist_hook = Some(set_rel_pathlist);
    }
}

#[pg_guard]
unsafe extern "C-unwind" fn set_rel_pathlist(
    root: *mut pg_sys::PlannerInfo,
    rel: *mut pg_sys::RelOptInfo,
    rti: pg_sys::Index,
    rte: *mut pg_sys::RangeTblEntry,
) {
    // SAFETY: the planner's arguments; the previous hook is called through the FFI guard.
    unsafe {
        if let Some(prev) = PREV {
            pg_sys::ffi::pg_guard_ffi_boundary(|| prev(root, rel, rti, rte));
        }
        add_key_array_paths(root, rel);
    }
}

unsafe fn strip(mut n: *mut pg_sys::Node) -> *mut pg_sys::Node {
    unsafe {
        while !n.is_null() && (*n).type_ == pg_sys::NodeTag::T_RelabelType {
            n = (*(n as *mut pg_sys::RelabelType)).arg as *mut pg_sys::Node;
        }
        n
    }
}

/// The key column (index column number, 0-based, at least 1) that `rinfo`, an `IN`/`= ANY`
/// condition, constrains with an operator of that column's family.
unsafe fn saop_key_column(rel: *mut pg_sys::RelOptInfo, index: *mut pg_sys::IndexOptInfo, rinfo: *mut pg_sys::RestrictInfo) -> Option<i32> {
    unsafe {
        let clause = (*rinfo).clause as *mut pg_sys::Node;
        if clause.is_null() || (*clause).type_ != pg_sys::NodeTag::T_ScalarArrayOpExpr || (*rinfo).pseudoconstant {
            return None;
        }
        let saop = clause as *mut pg_sys::ScalarArrayOpExpr;
        let args = ptrs((*saop).args);
        if !(*saop).useOr || args.len() != 2 {
            return None;
        }
        let left = strip(args[0] as *mut pg_sys::Node);
        let right = args[1] as *mut pg_sys::Node;
        if left.is_null() || (*left).type_ != pg_sys::NodeTag::T_Var {
            return None;
        }
        let var = left as *mut pg_sys::Var;
        if (*var).varno as u32 != (*rel).relid || (*var).varlevelsup != 0 {
            return None;
        }
        if pg_sys::contain_var_clause(right) || pg_sys::contain_volatile_functions(right) {
            return None;
        }
        for col in 1..(*index).nkeycolumns {
            if *(*index).indexkeys.add(col as usize) as i16 == (*var).varattno
                && pg_sys::op_in_opfamily((*saop).opno, *(*index).opfamily.add(col as usize))
            {
                return Some(col);
            }
        }
        None
    }
}

unsafe fn add_key_array_paths(root: *mut pg_sys::PlannerInfo, rel: *mut pg_sys::RelOptInfo) {
    unsafe {
        if (*rel).reloptkind != pg_sys::RelOptKind::RELOPT_BASEREL || (*rel).baserestrictinfo.is_null() {
            return;
        }
        let ours = super::cost::amcostestimate as *const () as usize;
        for index in ptrs((*rel).indexlist) {
            let index = index as *mut pg_sys::IndexOptInfo;
            if (*index).nkeycolumns < 2 || (*index).amcostestimate.map(|f| f as *const () as usize) != Some(ours) {
                continue;
            }
            let saops: Vec<(i32, *mut pg_sys::RestrictInfo)> = ptrs((*rel).baserestrictinfo)
                .into_iter()
                .filter_map(|r| {
                    let r = r as *mut pg_sys::RestrictInfo;
                    saop_key_column(rel, index, r).map(|c| (c, r))
                })
                .collect();
            if saops.is_empty() {
                continue;
            }
            // The ordered paths of this index the planner made without those conditions. It
            // may have dropped them all for another index's that orders the same column the
            // same way at a lower cost (an index without the keys): then that path's ORDER BY,
            // without its conditions (they name the other index's columns).
            let ordered: Vec<*mut pg_sys::IndexPath> = ptrs((*rel).pathlist)
                .into_iter()
                .map(|p| p as *mut pg_sys::IndexPath)
                .filter(|&p| {
                    (*p).path.type_ == pg_sys::NodeTag::T_IndexPath && !(*p).indexorderbys.is_null() && (*p).path.param_info.is_null()
                })
                .collect();
            let mut bases: Vec<_> = ordered.iter().copied().filter(|&p| (*p).indexinfo == index).collect();
            if bases.is_empty() {
                bases.extend(ordered.iter().copied().find(|&p| orders_like(index, (*p).indexinfo)));
            }
            for base in bases {
                let have = if (*base).indexinfo == index {
                    ptrs((*base).indexclauses)
                } else {
                    Vec::new()
                };
                let mut clauses: Vec<(i32, *mut pg_sys::IndexClause)> = have
                    .iter()
                    .map(|&c| {
                        let c = c as *mut pg_sys::IndexClause;
                        ((*c).indexcol as i32, c)
                    })
                    .collect();
                let mut added = false;
                for &(col, rinfo) in &saops {
                    if clauses.iter().any(|&(_, c)| (*c).rinfo == rinfo) {
                        continue;
                    }
                    let ic = pg_sys::palloc0(std::mem::size_of::<pg_sys::IndexClause>()) as *mut pg_sys::IndexClause;
                    (*ic).type_ = pg_sys::NodeTag::T_IndexClause;
                    (*ic).rinfo = rinfo;
                    (*ic).indexquals = pg_sys::lappend(std::ptr::null_mut(), rinfo as *mut std::ffi::c_void);
                    (*ic).lossy = false;
                    (*ic).indexcol = col as pg_sys::AttrNumber;
                    (*ic).indexcols = std::ptr::null_mut();
                    clauses.push((col, ic));
                    added = true;
                }
                if !added {
                    continue;
                }
                // Index clauses go in index column order.
                clauses.sort_by_key(|&(col, _)| col);
                let mut list: *mut pg_sys::List = std::ptr::null_mut();
                for (_, c) in clauses {
                    list = pg_sys::lappend(list, c as *mut std::ffi::c_void);
                }
                let path = pg_sys::create_index_path(
                    root,
                    index,
                    list,
                    (*base).indexorderbys,
                    (*base).indexorderbycols,
                    (*base).path.pathkeys,
                    pg_sys::ScanDirection::ForwardScanDirection,
                    false,
                    std::ptr::null_mut(),
                    1.0,
                    false,
                );
                pg_sys::add_path(rel, path as *mut pg_sys::Path);
            }
        }
    }
}

/// Whether `other`'s ordered paths order like `index`'s would: the same table column first, with
/// the same operator family (so the same access method and ORDER BY operators, on index column 0
/// of both).
unsafe fn orders_like(index: *mut pg_sys::IndexOptInfo, other: *mut pg_sys::IndexOptInfo) -> bool {
    unsafe {
        let col = *(*index).indexkeys;
        col != 0 && *(*other).indexkeys == col && *(*other).opfamily == *(*index).opfamily
    }
}
