//! amcostestimate: cheap for `ORDER BY col <op> const LIMIT n`, unusable without ORDER BY.

use crate::gucs;
use crate::index::am::{cost_base, cost_result, with_index, CostOut};
use pgrx::pg_sys;

/// Selectivity of the table's conditions that `path` does not use as index conditions.
unsafe fn other_selectivity(root: *mut pg_sys::PlannerInfo, path: *mut pg_sys::IndexPath) -> f64 {
    unsafe {
        let rel = (*(*path).indexinfo).rel;
        let used: Vec<*mut std::ffi::c_void> = crate::compat::list_ptrs((*path).indexclauses)
            .into_iter()
            .map(|c| (*(c as *mut pg_sys::IndexClause)).rinfo as *mut std::ffi::c_void)
            .collect();
        let mut other: *mut pg_sys::List = std::ptr::null_mut();
        for r in crate::compat::list_ptrs((*rel).baserestrictinfo) {
            if !used.contains(&r) && !(*(r as *mut pg_sys::RestrictInfo)).pseudoconstant {
                other = pg_sys::lappend(other, r);
            }
        }
        if other.is_null() {
            return 1.0;
        }
        pg_sys::clauselist_selectivity(root, other, (*rel).relid as i32, pg_sys::JoinType::JOIN_INNER, std::ptr::null_mut())
            .clamp(1e-6, 1.0)
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
        // With key_vectors: the bytes of each posting (the vector, an empty key section, a TID).
        let (m, inline_bytes) = with_index(base.info, |index| {
            let inline = ((*base.info).nkeycolumns > 1 && super::options::key_vectors(index))
                .then(|| {
                    let itype = super::opclass::IndexType::cached(index);
                    itype.payload_len(crate::compat::index_key_attr(index).atttypmod)
                })
                .flatten()
                .map(semvec_hnsw::postings::posting_item_size);
            (super::options::get(index).0, inline)
        });

        // Fraction of the index a top-k search touches: the greedy descent visits about m
        // elements per upper layer, layer 0 about ef_search * 2m neighbours, most of them
        // already visited (the log factor); the whole index when it is small.
        let tuples = (*base.info).tuples;
        let ratio = if tuples > 1.0 {
            let m = m as f64;
            let ef = gucs::HNSW_EF_SEARCH.get() as f64;
            let levels = (tuples.ln() / m.ln()).floor();
            let layer0 = 2.0 * m * ef * 0.55 * tuples.ln() / (m.ln() * (1.0 + ef.ln()));
            ((levels * m + layer0) / tuples).min(1.0)
        } else {
            1.0
        };

        // Startup cost is what it takes to produce the first row: the whole search.
        let costs = &base.costs;
        // Conditions on filter key columns: genericcostestimate priced reading the matching
        // fraction `sel` of the index. Few matches are ranked exactly from the posting lists
        // (that price); otherwise the graph search skips the rest and evaluates about 1 / sel
        // times as much of the index as an unfiltered one.
        let sel = costs.indexSelectivity.clamp(1e-9, 1.0);
        // An index with key columns competes with itself: a path without some condition on a
        // key finds its rows among those the search returns, and a search returns about as many
        // rows as it would without the condition, so finding a LIMIT's rows costs 1 / (that
        // condition's selectivity) times as much (or comes back short).
        let keyed = (*base.info).nkeycolumns > 1;
        let other = if keyed { other_selectivity(root, path) } else { 1.0 };
        if sel < 1.0 || other < 1.0 {
            let full = costs.indexTotalCost / sel;
            let matching = (sel * tuples).max(1.0);
            let ef = gucs::HNSW_EF_SEARCH.get().max(1) as usize;
            let limit = gucs::HNSW_FILTER_EXACT_LIMIT.get();
            let exact = if limit >= 0 {
                matching <= limit as f64
            } else {
                semvec_hnsw::exact_is_cheaper(matching as u64, tuples as u64, ef, m as usize, inline_bytes.is_some())
            };
            if exact && sel < 1.0 {
                if let Some(item) = inline_bytes {
                    // The matching keys' posting lists, read in order (the build writes each list
                    // on consecutive pages), and one distance per posting; the rows returned are
                    // read from their element pages (the LIMIT's few, priced with the heap's).
                    let list_pages = (matching * item as f64 / semvec_hnsw::page::BLCKSZ as f64).ceil();
                    let cost = list_pages * base.seq_page_cost + matching * (pg_sys::cpu_index_tuple_cost + pg_sys::cpu_operator_cost);
                    cost_result(&out, &base, cost, cost);
                    *out.pages = list_pages;
                    return;
                }
            }
            let startup = if exact && sel < 1.0 {
                costs.indexTotalCost
            } else {
                full * (ratio / (sel * other)).min(1.0)
            };
            cost_result(&out, &base, startup, startup.max(costs.indexTotalCost));
            return;
        }
        let mut startup = costs.indexTotalCost * ratio;
        // Vectors are usually TOASTed out of line in the heap while the index keeps them inline,
        // so price index pages beyond the heap's size like sequential reads.
        let startup_pages = costs.numIndexPages * ratio;
        if startup_pages > base.heap_pages && ratio < 0.5 {
            startup -= startup_pages * (costs.spc_random_page_cost - base.seq_page_cost);
            startup -= (startup_pages - base.heap_pages) * base.seq_page_cost;
        }
        cost_result(&out, &base, startup, costs.indexTotalCost);
    }
}
