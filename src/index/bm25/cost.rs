//! amcostestimate: cheap first rows for `ORDER BY doc <@> query LIMIT n` (block-max WAND reads a
//! small part of the query terms' posting lists), unusable without ORDER BY, and unusable for a
//! constant query parsed with another text search configuration than the index's (the index's
//! documents would not be the ones the operator scores).

use super::query::Bm25Query;
use super::Bm25Index;
use crate::index::am::{cost_base, cost_result, with_index, CostOut};
use pgrx::pg_sys;
use pgrx::PgList;

/// The constant right-hand operand of each `col <@> const` ordering expression.
unsafe fn const_queries(path: *mut pg_sys::IndexPath) -> Vec<pg_sys::Datum> {
    unsafe {
        let mut out = Vec::new();
        let list = PgList::<pg_sys::Node>::from_pg((*path).indexorderbys);
        for node in list.iter_ptr() {
            if (*node).type_ != pg_sys::NodeTag::T_OpExpr {
                continue;
            }
            let args = PgList::<pg_sys::Node>::from_pg((*(node as *mut pg_sys::OpExpr)).args);
            if let Some(arg) = args.get_ptr(1) {
                if (*arg).type_ == pg_sys::NodeTag::T_Const {
                    let c = arg as *mut pg_sys::Const;
                    if !(*c).constisnull {
                        out.push((*c).constvalue);
                    }
                }
            }
        }
        out
    }
}

#[allow(clippy::too_many_arguments)]
#[pgrx::pg_guard]
pub unsafe extern "C-unwind" fn amcostestimate(
    root: *mut pg_sys::PlannerInfo,
    path: *mut pg_sys::IndexPath,
    loop_count: f64,
    startup_cost: *mut pg_sys::Cost,
    total_cost: *mut pg_sys::Cost,
    selectivity: *mut pg_sys::Selectivity,
    correlation: *mut f64,
    pages: *mut f64,
) {
    unsafe {
        let out = CostOut {
            startup_cost,
            total_cost,
            selectivity,
            correlation,
            pages,
        };
        let Some(base) = cost_base(root, path, loop_count, &out) else {
            return;
        };
        let config = with_index(base.info, |index| Bm25Index::cached(index).config);
        let mismatch = config != pg_sys::InvalidOid
            && const_queries(path).into_iter().any(|d| {
                let q = Bm25Query::parse(d);
                q.config != pg_sys::InvalidOid && q.config != config
            });
        if mismatch {
            *out.startup_cost = f64::INFINITY;
            *out.total_cost = f64::INFINITY;
            crate::compat::never_use_path(path);
            return;
        }
        // The first rows: the query terms' dictionary pages and the posting blocks WAND cannot
        // skip, a small share of a large index (about the square root of its documents' worth).
        let tuples = (*base.info).tuples;
        let ratio = if tuples > 100.0 {
            ((100.0 + 4.0 * tuples.sqrt()) / tuples).min(1.0)
        } else {
            1.0
        };
        let costs = &base.costs;
        cost_result(&out, &base, costs.indexTotalCost * ratio, costs.indexTotalCost);
    }
}
