//! amcostestimate, with pgvector's model so the planner makes the same choices: unusable without
//! ORDER BY; a scan reads `probes / lists` of the index before its first row; index pages are
//! read mostly sequentially (each list's pages follow each other).

use super::options;
use crate::index::am::{cost_base, cost_result, with_index, CostOut};
use crate::index::storage::{Logging, PgRelation};
use pgrx::pg_sys;

/// Share of index page reads priced as sequential rather than random.
const SEQUENTIAL_SHARE: f64 = 0.5;

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
        let lists = with_index(base.info, |index| {
            semvec_ivf::read_meta(&PgRelation::new(index, Logging::Generic)).map_or(1, |m| m.lists.max(1))
        });

        // Fraction of the lists (and so of the index) read before the first row comes back.
        let (probes, _) = options::scan_probes();
        let ratio = (probes as f64 / lists as f64).min(1.0);

        let costs = &base.costs;
        let random_premium = costs.spc_random_page_cost - base.seq_page_cost;
        let total = costs.indexTotalCost - SEQUENTIAL_SHARE * costs.numIndexPages * random_premium;
        let mut startup = total * ratio;
        // Vectors are usually TOASTed out of line in the heap (not counted by a seq scan's cost)
        // but inline in the index: when a scan reads more index pages than the heap has, price
        // them all as sequential and drop the pages beyond the heap's size.
        let startup_pages = costs.numIndexPages * ratio;
        if startup_pages > base.heap_pages && ratio < 0.5 {
            startup -= (1.0 - SEQUENTIAL_SHARE) * startup_pages * random_premium;
            startup -= (startup_pages - base.heap_pages) * base.seq_page_cost;
        }
        cost_result(&out, &base, startup, total);
    }
}
