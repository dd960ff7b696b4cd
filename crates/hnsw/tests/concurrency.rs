//! Concurrent inserts, scans and vacuum on one relation.

mod common;
use common::*;
use semvec_hnsw::metric::{f32_bytes, L2Squared};
use semvec_hnsw::*;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

#[test]
fn concurrent_inserts_and_scans_keep_the_index_consistent() {
    let (data, queries) = clustered_with_queries(3000, 30, 32, 6, 31);
    let metric = L2Squared::new();
    let rel = build_index(&data[..1000], &metric, 16, 64);
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        for t in 0..2 {
            let (rel, data) = (&rel, &data);
            s.spawn(move || {
                let mut ins = Inserter::with_seed(metric, t as u64);
                for i in (1000 + t..3000).step_by(2) {
                    ins.insert(rel, f32_bytes(&data[i]), heap_tid(i)).unwrap();
                }
            });
        }
        s.spawn(|| {
            let mut sr = Searcher::new(metric, SearchOptions::default());
            let mut rounds = 0;
            while !done.load(Ordering::Relaxed) || rounds < 5 {
                for q in &queries {
                    let got = search(&mut sr, &rel, q, 10);
                    assert_eq!(got.len(), 10);
                    assert!(got.iter().all(|&r| r < 3000));
                }
                rounds += 1;
                if rounds > 200 {
                    break;
                }
            }
        });
        // Let the scanner stop once the inserters are done.
        s.spawn(|| {
            while count_tuples(&rel).0 < 3000 {
                thread::yield_now();
            }
            done.store(true, Ordering::Relaxed);
        });
    });
    assert_eq!(count_tuples(&rel), (3000, 3000));
    let r = recall(&rel, &metric, &data, &queries, 10, 40, |_| true);
    assert!(r >= 0.95, "recall {r}");
    let mut sr = Searcher::new(metric, SearchOptions::default());
    let found = (0..3000)
        .step_by(7)
        .filter(|&i| search(&mut sr, &rel, &data[i], 1) == vec![i])
        .count();
    assert!(found >= 3000 / 7 * 99 / 100, "{found} rows found by their own vector");
}

#[test]
fn concurrent_inserts_into_an_empty_index_agree_on_one_entry_point() {
    let (data, _) = clustered_with_queries(400, 1, 16, 3, 32);
    let metric = L2Squared::new();
    let rel = MemRelation::new();
    init_empty(&rel, &options(16, 8, 32));
    thread::scope(|s| {
        for t in 0..4 {
            let (rel, data) = (&rel, &data);
            s.spawn(move || {
                for i in (t..400).step_by(4) {
                    insert(rel, &metric, f32_bytes(&data[i]), heap_tid(i)).unwrap();
                }
            });
        }
    });
    let mut sr = Searcher::new(
        metric,
        SearchOptions {
            ef_search: 40,
            iterative: IterativeScan::Relaxed,
            max_scan_tuples: usize::MAX,
            filter_exact_limit: None,
        },
    );
    sr.begin(f32_bytes(&data[0]));
    let mut n = 0;
    while sr.next(&rel).is_some() {
        n += 1;
    }
    assert_eq!(n, 400, "every element reachable from the entry point");
}

#[test]
fn vacuum_runs_safely_alongside_inserts_and_scans() {
    let (data, queries) = clustered_with_queries(3000, 20, 32, 6, 33);
    let metric = L2Squared::new();
    let rel = build_index(&data[..2000], &metric, 16, 64);
    // Rows 0..2000 odd are deleted; 2000..3000 are inserted meanwhile.
    let dead = |t: Tid| row_of(t) < 2000 && row_of(t) % 2 == 1;
    let done = AtomicBool::new(false);
    thread::scope(|s| {
        s.spawn(|| {
            let st = bulk_delete(&rel, &metric, dead).unwrap();
            assert_eq!(st.heap_tuples_removed, 1000);
        });
        s.spawn(|| {
            let mut ins = Inserter::with_seed(metric, 77);
            for (i, v) in data.iter().enumerate().skip(2000) {
                ins.insert(&rel, f32_bytes(v), heap_tid(i)).unwrap();
            }
            done.store(true, Ordering::Relaxed);
        });
        s.spawn(|| {
            let mut sr = Searcher::new(metric, SearchOptions::default());
            while !done.load(Ordering::Relaxed) {
                for q in &queries {
                    assert!(!search(&mut sr, &rel, q, 10).is_empty());
                }
            }
        });
    });
    assert_eq!(count_tuples(&rel).0, 2000);
    let alive = |i: usize| !(i < 2000 && i % 2 == 1);
    let mut sr = Searcher::new(
        metric,
        SearchOptions {
            ef_search: 40,
            iterative: IterativeScan::Relaxed,
            max_scan_tuples: usize::MAX,
            filter_exact_limit: None,
        },
    );
    sr.begin(f32_bytes(&queries[0]));
    let mut n = 0;
    while let Some((t, _)) = sr.next(&rel) {
        assert!(alive(row_of(t)), "deleted row {} returned", row_of(t));
        n += 1;
    }
    assert!(n >= 1990, "{n} of 2000 live rows reachable");
    let r = recall(&rel, &metric, &data, &queries, 10, 40, alive);
    assert!(r >= 0.95, "recall {r}");
}
