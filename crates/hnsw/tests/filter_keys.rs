//! Indexes with filter keys: filtered scans against exact filtered search, through both plans
//! (posting lists and graph), after inserts, and after VACUUM of a whole tenant.

mod common;

use common::*;
use semvec_hnsw::keys::{append_keys, query_payload, Filter, KeyedMetric};
use semvec_hnsw::metric::{f32_bytes, L2Squared};
use semvec_hnsw::*;
use std::sync::atomic::{AtomicBool, AtomicUsize};

const DIMS: usize = 16;

/// Row `i`'s keys: tenant (column 0) with `tenants` values, a 10%-share "lang" (column 1), and
/// labels (column 2) drawn from 0..20.
fn keys_of(i: usize, tenants: u64) -> Vec<Vec<u64>> {
    let h = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let tenant = (h >> 11) % tenants;
    let lang = (h >> 23) % 10;
    let mut labels = vec![(h >> 31) % 20, (h >> 41) % 20];
    labels.sort();
    labels.dedup();
    vec![vec![tenant], vec![lang], labels]
}

fn payload(v: &[f32], keys: &[Vec<u64>]) -> Vec<u8> {
    let mut p = f32_bytes(v).to_vec();
    append_keys(&mut p, keys);
    p
}

fn keyed_options() -> IndexOptions {
    IndexOptions {
        key_columns: 3,
        ..options(DIMS, 12, 48)
    }
}

/// With `inline`, the posting lists keep each element's vector (`key_vectors = on`).
fn keyed_options_inline(inline: bool) -> IndexOptions {
    IndexOptions {
        key_vector_len: if inline { (DIMS * 4) as u16 } else { 0 },
        ..keyed_options()
    }
}

fn build(data: &[Vec<f32>], tenants: u64) -> MemRelation {
    build_inline(data, tenants, false)
}

fn build_inline(data: &[Vec<f32>], tenants: u64, inline: bool) -> MemRelation {
    let rel = MemRelation::new();
    let mut arena = BuildArena::new();
    for (i, v) in data.iter().enumerate() {
        arena.push(&payload(v, &keys_of(i, tenants)), heap_tid(i));
    }
    let params = BuildParams {
        m: 12,
        ef_construction: 48,
        seed: 42,
    };
    let metric = KeyedMetric(L2Squared::new());
    let graph = build_graph_parallel(&arena, &params, &metric, 2, &AtomicBool::new(false), &AtomicUsize::new(0)).unwrap();
    write_graph(&rel, &arena, &graph, &keyed_options_inline(inline)).unwrap();
    assert_eq!(semvec_hnsw::write::read_meta(&rel).unwrap().key_vector_len > 0, inline);
    rel
}

fn matches(f: &Filter, keys: &[Vec<u64>]) -> bool {
    f.conds.iter().all(|c| keys[c.col as usize].iter().any(|v| c.values.contains(v)))
}

/// Runs `queries` with `filter`; returns (recall@10, short results, plans seen). Every row
/// returned must satisfy the filter, come back once, and in distance order.
fn run(
    rel: &MemRelation,
    data: &[Vec<f32>],
    live: &dyn Fn(usize) -> bool,
    tenants: u64,
    queries: &[Vec<f32>],
    filter: &Filter,
    opts: SearchOptions,
) -> (f64, usize, Vec<FilterPlan>) {
    let metric = KeyedMetric(L2Squared::new());
    let mut s = Searcher::new(metric, opts);
    s.set_filter(Some(filter.clone()));
    let (mut hits, mut total, mut short) = (0, 0, 0);
    let mut plans = Vec::new();
    for q in queries {
        let keep = |i: usize| live(i) && matches(filter, &keys_of(i, tenants));
        let truth = brute_force(&L2Squared::new(), data, q, 10, keep);
        s.begin(&query_payload(f32_bytes(q)));
        let mut got = Vec::new();
        let mut last = f32::NEG_INFINITY;
        while got.len() < 10 {
            let Some((t, d)) = s.next(rel) else { break };
            let row = row_of(t);
            assert!(keep(row), "row {row} fails the filter {filter:?} or is deleted");
            assert!(!got.contains(&row), "row {row} returned twice");
            if opts.iterative != IterativeScan::Relaxed {
                assert!(d >= last, "distances must not decrease");
            }
            last = d;
            got.push(row);
        }
        plans.push(s.filter_plan().unwrap());
        if got.len() < truth.len() {
            short += 1;
        }
        hits += truth.iter().filter(|t| got.contains(t)).count();
        total += truth.len();
    }
    (hits as f64 / total.max(1) as f64, short, plans)
}

fn tenant(t: u64) -> Filter {
    let mut f = Filter::default();
    f.intersect_scalar(0, vec![t]);
    f
}

#[test]
fn filtered_scans_match_exact_filtered_search_at_every_selectivity() {
    filtered_scans_at_every_selectivity(false);
}

#[test]
fn filtered_scans_with_vectors_in_the_postings_match_exact_filtered_search() {
    filtered_scans_at_every_selectivity(true);
}

fn filtered_scans_at_every_selectivity(inline: bool) {
    let (data, queries) = clustered_with_queries(6000, 30, DIMS, 20, 7);
    let tenants = 200; // 0.5% each
    let rel = build_inline(&data, tenants, inline);
    let all = |_: usize| true;
    let opts = SearchOptions {
        ef_search: 40,
        ..Default::default()
    };
    // A selective tenant: answered exactly from the posting lists.
    let (r, short, plans) = run(&rel, &data, &all, tenants, &queries, &tenant(3), opts);
    assert_eq!(r, 1.0, "exact plan");
    assert_eq!(short, 0);
    assert!(plans.iter().all(|p| matches!(p, FilterPlan::Exact { .. })), "{plans:?}");

    // 10% (lang = 4) through the graph skipping the other 90% (at 6000 rows the cost rule
    // would pick the posting lists: force the graph).
    let mut lang = Filter::default();
    lang.intersect_scalar(1, vec![4]);
    let graph = SearchOptions {
        filter_exact_limit: Some(0),
        ..opts
    };
    let (r, short, plans) = run(&rel, &data, &all, tenants, &queries, &lang, graph);
    assert!(plans.iter().all(|p| matches!(p, FilterPlan::Graph { .. })), "{plans:?}");
    assert!(r >= 0.95, "graph plan at 10%: recall {r}");
    assert_eq!(short, 0, "a plain (non-iterative) filtered scan still fills ef_search with matches");

    // Forced through the graph at 0.5%: iterative scans find them all, in order.
    let forced = SearchOptions {
        filter_exact_limit: Some(0),
        iterative: IterativeScan::Strict,
        ..opts
    };
    let (r, short, plans) = run(&rel, &data, &all, tenants, &queries, &tenant(3), forced);
    assert!(plans.iter().all(|p| matches!(p, FilterPlan::Graph { .. })));
    assert!(r >= 0.9, "graph plan at 0.5%: recall {r}");
    assert_eq!(short, 0);

    // IN lists, labels overlap, and a conjunction.
    let mut f = Filter::default();
    f.intersect_scalar(0, vec![1, 2, 3, 50]);
    f.add(2, vec![5, 6]);
    let (r, short, _) = run(&rel, &data, &all, tenants, &queries, &f, opts);
    assert_eq!((r, short), (1.0, 0));
    // Nothing matches.
    let mut none = tenant(1);
    none.intersect_scalar(0, vec![2]);
    let (_, _, plans) = run(&rel, &data, &all, tenants, &queries[..2], &none, opts);
    assert_eq!(plans[0], FilterPlan::Empty);
    let (_, _, plans) = run(&rel, &data, &all, tenants, &queries[..2], &tenant(tenants + 5), opts);
    assert_eq!(plans[0], FilterPlan::Exact { candidates: 0 });
    let report = check_index(&rel, &CheckOptions::default(), &mut || {});
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.warnings.unlisted_keys, 0);
}

#[test]
fn without_reranking_by_filter_the_graph_plan_would_come_back_short() {
    // The control for the test above: the same 0.5% tenant through a plain (unfiltered) scan
    // with ef_search 40 and the filter applied afterwards returns far fewer than 10 rows.
    let (data, queries) = clustered_with_queries(6000, 30, DIMS, 20, 7);
    let tenants = 200;
    let rel = build(&data, tenants);
    let mut s = Searcher::new(KeyedMetric(L2Squared::new()), SearchOptions::default());
    let mut short = 0;
    for q in &queries {
        s.begin(&query_payload(f32_bytes(q)));
        let mut n = 0;
        while let Some((t, _)) = s.next(&rel) {
            if keys_of(row_of(t), tenants)[0][0] == 3 {
                n += 1;
            }
        }
        if n < 10 {
            short += 1;
        }
    }
    assert!(short > queries.len() / 2, "post-filtering should come back short ({short})");
}

#[test]
fn inserts_and_vacuum_of_a_whole_tenant_keep_the_lists_right() {
    inserts_and_vacuum(false);
}

#[test]
fn inserts_and_vacuum_keep_the_inline_vectors_right() {
    inserts_and_vacuum(true);
}

fn inserts_and_vacuum(inline: bool) {
    let (data, queries) = clustered_with_queries(5000, 20, DIMS, 20, 11);
    let tenants = 100;
    // Build over the first 3000, insert the rest one by one.
    let rel = build_inline(&data[..3000], tenants, inline);
    let metric = KeyedMetric(L2Squared::new());
    let mut ins = Inserter::with_seed(metric.clone(), 5);
    for (i, v) in data.iter().enumerate().skip(3000) {
        ins.insert(&rel, &payload(v, &keys_of(i, tenants)), heap_tid(i)).unwrap();
    }
    let all = |_: usize| true;
    let opts = SearchOptions::default();
    for t in [0, 7, 42] {
        let (r, short, _) = run(&rel, &data, &all, tenants, &queries, &tenant(t), opts);
        assert_eq!((r, short), (1.0, 0), "tenant {t} after inserts");
    }
    let report = check_index(&rel, &CheckOptions::default(), &mut || {});
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!((report.warnings.unlisted_keys, report.warnings.posting_count_mismatches), (0, 0));

    // Delete tenant 7 entirely, VACUUM: its list empties, others are untouched.
    let gone = |i: usize| keys_of(i, tenants)[0][0] == 7;
    let stats = bulk_delete(&rel, &metric, |t| gone(row_of(t))).unwrap();
    let n7 = (0..data.len()).filter(|&i| gone(i)).count() as u64;
    let postings: u64 = (0..data.len())
        .filter(|&i| gone(i))
        .map(|i| keys_of(i, tenants).iter().map(|c| c.len() as u64).sum::<u64>())
        .sum();
    assert_eq!(stats.postings_removed, postings, "tenant, lang and labels postings of each row");
    let meta = semvec_hnsw::write::read_meta(&rel).unwrap();
    assert_eq!(semvec_hnsw::postings::lookup(&rel, meta.key_root, 0, 7).unwrap().count, 0);
    let live = |i: usize| !gone(i);
    let (_, _, plans) = run(&rel, &data, &live, tenants, &queries[..3], &tenant(7), opts);
    assert_eq!(plans[0], FilterPlan::Exact { candidates: 0 });
    for t in [0, 42] {
        let (r, short, _) = run(&rel, &data, &live, tenants, &queries, &tenant(t), opts);
        assert_eq!((r, short), (1.0, 0), "tenant {t} after vacuum");
    }
    // New rows reuse the freed slots and are found under their keys.
    for (i, v) in data.iter().enumerate().filter(|(i, _)| gone(*i)) {
        let mut k = keys_of(i, tenants);
        k[0] = vec![tenants + 1];
        ins.insert(&rel, &payload(v, &k), heap_tid(i + 100_000)).unwrap();
    }
    let mut s = Searcher::new(metric, opts);
    s.set_filter(Some(tenant(tenants + 1)));
    s.begin(&query_payload(f32_bytes(&queries[0])));
    let mut n = 0;
    while let Some((t, _)) = s.next(&rel) {
        assert!(gone(row_of(t) - 100_000));
        n += 1;
    }
    assert_eq!(
        n as u64, n7,
        "the exact plan returns every matching row (ef_search caps nothing there)"
    );
    let report = check_index(&rel, &CheckOptions::default(), &mut || {});
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.warnings.unlisted_keys, 0);
}

#[test]
fn same_vector_with_other_keys_is_another_element() {
    let v = vec![0.5f32; DIMS];
    let rel = MemRelation::new();
    init_empty(&rel, &keyed_options());
    let metric = KeyedMetric(L2Squared::new());
    let a = insert(&rel, &metric, &payload(&v, &[vec![1], vec![0], vec![]]), heap_tid(0)).unwrap();
    let b = insert(&rel, &metric, &payload(&v, &[vec![2], vec![0], vec![]]), heap_tid(1)).unwrap();
    let c = insert(&rel, &metric, &payload(&v, &[vec![2], vec![0], vec![]]), heap_tid(2)).unwrap();
    assert!(matches!(a, Inserted::Element(_)));
    assert!(matches!(b, Inserted::Element(_)));
    assert!(matches!(c, Inserted::Duplicate(_)));
    let mut s = Searcher::new(metric, SearchOptions::default());
    s.set_filter(Some(tenant(1)));
    s.begin(&query_payload(f32_bytes(&v)));
    assert_eq!(s.next(&rel).map(|x| row_of(x.0)), Some(0));
    assert_eq!(s.next(&rel), None);
}

#[test]
fn a_damaged_inline_vector_is_reported_and_scans_stay_in_order() {
    let (data, queries) = clustered_with_queries(3000, 10, DIMS, 20, 3);
    let tenants = 20;
    let rel = build_inline(&data, tenants, true);
    assert!(check_index(&rel, &CheckOptions::default(), &mut || {}).is_ok());
    // Overwrite the first posting's vector of tenant 4 (items start after the chunk's 16-byte
    // header) with another row's vector.
    let meta = semvec_hnsw::write::read_meta(&rel).unwrap();
    let head = semvec_hnsw::postings::lookup(&rel, meta.key_root, 0, 4).unwrap().head;
    {
        let mut page = rel.write(head.block);
        let b = page.get_mut(head.offset).unwrap();
        b[16..16 + DIMS * 4].copy_from_slice(f32_bytes(&queries[0]));
    }
    let report = check_index(&rel, &CheckOptions::default(), &mut || {});
    assert!(
        report.problems.iter().any(|p| p.message.contains("holds another vector")),
        "{:?}",
        report.problems
    );
    // Scans return its row at the element's own distance, in order (`run` checks), never
    // short; only that one row can come back late (ranked by the posting's vector).
    let all = |_: usize| true;
    let opts = SearchOptions {
        filter_exact_limit: Some(usize::MAX),
        ..Default::default()
    };
    let (r, short, _) = run(&rel, &data, &all, tenants, &queries, &tenant(4), opts);
    assert_eq!(short, 0);
    assert!(r >= 0.99, "recall {r}");
}

#[test]
fn inline_postings_read_fewer_pages_than_elements() {
    // The point of key_vectors: an exact plan over one key reads its list's pages (a few), not
    // one page per matching element.
    let (data, queries) = clustered_with_queries(6000, 3, DIMS, 20, 9);
    let tenants = 3; // a third of the rows each, spread over the pages
    let mut f = Filter::default();
    f.intersect_scalar(2, vec![5]); // labels: not the key the build groups by
    for inline in [false, true] {
        let rel = build_inline(&data, tenants, inline);
        let opts = SearchOptions {
            filter_exact_limit: Some(usize::MAX),
            ..Default::default()
        };
        let mut s = Searcher::new(KeyedMetric(L2Squared::new()), opts);
        s.set_filter(Some(f.clone()));
        let before = rel.read_count();
        s.begin(&query_payload(f32_bytes(&queries[0])));
        for _ in 0..10 {
            s.next(&rel).unwrap();
        }
        let reads = (rel.read_count() - before) as usize;
        let matching = (0..data.len()).filter(|&i| keys_of(i, tenants)[2].contains(&5)).count();
        if inline {
            assert!(reads * 4 < matching, "{reads} page reads for {matching} matching elements");
        } else {
            assert!(
                reads * 2 > matching.min(rel.nblocks() as usize),
                "{reads} reads without inline vectors"
            );
        }
    }
}

mod property {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]
        /// On random data, keys and filters: every row a filtered scan returns satisfies the
        /// filter, once; the exact plan returns exactly the filtered top k in distance order; the
        /// graph plan (iterative, relaxed, unbounded) never returns a row the filter rejects and
        /// is never short.
        #[test]
        fn filtered_scans_agree_with_exact_filtered_search(
            n in 200usize..1500,
            tenants in 2u64..60,
            seed in 0u64..1000,
            want in proptest::collection::vec(0u64..60, 1..4),
            label in proptest::option::of(0u64..20),
            k in 1usize..30,
            inline in any::<bool>(),
        ) {
            let (data, queries) = clustered_with_queries(n, 3, DIMS, 8, seed);
            let rel = build_inline(&data, tenants, inline);
            let mut f = Filter::default();
            f.intersect_scalar(0, want.clone());
            if let Some(l) = label {
                f.add(2, vec![l]);
            }
            let keep = |i: usize| matches(&f, &keys_of(i, tenants));
            for (plan, opts) in [
                ("exact", SearchOptions { filter_exact_limit: Some(usize::MAX), ..Default::default() }),
                ("graph", SearchOptions { filter_exact_limit: Some(0), iterative: IterativeScan::Relaxed, max_scan_tuples: usize::MAX, ..Default::default() }),
            ] {
                let mut s = Searcher::new(KeyedMetric(L2Squared::new()), opts);
                s.set_filter(Some(f.clone()));
                for q in &queries {
                    let truth = brute_force(&L2Squared::new(), &data, q, k, keep);
                    s.begin(&query_payload(f32_bytes(q)));
                    let mut got = Vec::new();
                    let mut last = f32::NEG_INFINITY;
                    while got.len() < k {
                        let Some((t, d)) = s.next(&rel) else { break };
                        let row = row_of(t);
                        prop_assert!(keep(row), "{plan}: row {row} fails the filter");
                        prop_assert!(!got.contains(&row), "{plan}: row {row} twice");
                        prop_assert!(plan != "exact" || d >= last, "{plan}: distances decrease");
                        last = d;
                        got.push(row);
                    }
                    // Every matching row is reachable: neither plan comes back short.
                    prop_assert_eq!(got.len(), truth.len(), "{} short", plan);
                    if plan == "exact" {
                        let dist = |i: usize| L2Squared::new().distance(f32_bytes(q), f32_bytes(&data[i]));
                        let gd: Vec<f32> = got.iter().map(|&i| dist(i)).collect();
                        let td: Vec<f32> = truth.iter().map(|&i| dist(i)).collect();
                        prop_assert_eq!(gd, td, "exact plan: the filtered top k by distance");
                    }
                }
            }
        }
    }
}
