//! amcostestimate: cheap for `ORDER BY col <op> const LIMIT n`, unusable without ORDER BY.

use crate::gucs;
use pgrx::pg_sys;

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
        // Without an ordering operator the index cannot answer anything.
        if (*path).indexorderbys.is_null() {
            *startup_cost = f64::INFINITY;
            *total_cost = f64::INFINITY;
            *selectivity = 0.0;
            *correlation = 0.0;
            *pages = 0.0;
            return;
        }
        let mut costs: pg_sys::GenericCosts = std::mem::zeroed();
        pg_sys::genericcostestimate(root, path, loop_count, &mut costs);

        let info = (*path).indexinfo;
        let index = pg_sys::index_open((*info).indexoid, pg_sys::NoLock as i32);
        let (m, _) = super::options::get(index);
        pg_sys::index_close(index, pg_sys::NoLock as i32);

        // Fraction of the index a top-k search touches: the greedy descent visits about m
        // elements per upper layer, layer 0 about ef_search * 2m neighbours, most of them
        // already visited (the log factor); the whole index when it is small.
        let tuples = (*info).tuples;
        let ratio = if tuples > 1.0 {
            let m = m as f64;
            let ef = gucs::HNSW_EF_SEARCH.get() as f64;
            let levels = (tuples.ln() / m.ln()).floor();
            let layer0 = 2.0 * m * ef * 0.55 * tuples.ln() / (m.ln() * (1.0 + ef.ln()));
            ((levels * m + layer0) / tuples).min(1.0)
        } else {
            1.0
        };

        let mut spc_seq_page_cost = 0.0;
        pg_sys::get_tablespace_page_costs((*info).reltablespace, std::ptr::null_mut(), &mut spc_seq_page_cost);

        // Startup cost is what it takes to produce the first row: the whole search.
        let mut startup = costs.indexTotalCost * ratio;
        // Vectors are usually TOASTed out of line in the heap while the index keeps them inline,
        // so price index pages beyond the heap's size like sequential reads.
        let startup_pages = costs.numIndexPages * ratio;
        let heap_pages = (*(*info).rel).pages as f64;
        if startup_pages > heap_pages && ratio < 0.5 {
            startup -= startup_pages * (costs.spc_random_page_cost - spc_seq_page_cost);
            startup -= (startup_pages - heap_pages) * spc_seq_page_cost;
        }
        *startup_cost = startup.max(0.0);
        *total_cost = costs.indexTotalCost;
        *selectivity = costs.indexSelectivity;
        *correlation = costs.indexCorrelation;
        *pages = costs.numIndexPages;
    }
}
