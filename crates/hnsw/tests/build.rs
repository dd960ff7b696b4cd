//! ambuild as a whole: memory limit, empty tables, polling and cancellation.

mod common;
use common::*;
use semvec_hnsw::metric::{f32_bytes, L2Squared};
use semvec_hnsw::*;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

#[test]
fn build_past_the_memory_limit_finishes_with_on_disk_inserts() {
    let (data, queries) = clustered_with_queries(3000, 30, 32, 6, 41);
    let metric = L2Squared::new();
    let (cancel, progress) = (AtomicBool::new(false), AtomicUsize::new(0));
    let rel = MemRelation::new();
    let mut b = IndexBuilder::new(options(32, 16, 64), BuildParams::default(), metric, 2, 600_000, &cancel, &progress);
    let mut spills = 0;
    for (i, v) in data.iter().enumerate() {
        spills += b.add(&rel, f32_bytes(v), heap_tid(i), &mut || {}).unwrap() as usize;
    }
    let stats = b.finish(&rel, &mut || {}).unwrap();
    assert_eq!(spills, 1, "the switch to disk is reported once");
    let after = stats.spilled_after.unwrap();
    assert!(after > 100 && after < 3000, "spilled after {after}");
    assert_eq!(stats.heap_tuples, 3000);
    assert_eq!(progress.load(Ordering::Relaxed), 3000);
    assert_eq!(count_tuples(&rel), (3000, 3000));
    let r = recall(&rel, &metric, &data, &queries, 10, 40, |_| true);
    assert!(r >= 0.95, "recall {r}");
}

#[test]
fn build_within_the_memory_limit_stays_in_memory() {
    let (data, _) = clustered_with_queries(500, 1, 16, 3, 42);
    let (cancel, progress) = (AtomicBool::new(false), AtomicUsize::new(0));
    let rel = MemRelation::new();
    let mut b = IndexBuilder::new(
        options(16, 16, 64),
        BuildParams::default(),
        L2Squared::new(),
        2,
        64 << 20,
        &cancel,
        &progress,
    );
    for (i, v) in data.iter().enumerate() {
        assert!(!b.add(&rel, f32_bytes(v), heap_tid(i), &mut || {}).unwrap());
    }
    assert_eq!(rel.nblocks(), 0, "nothing written before finish");
    let stats = b.finish(&rel, &mut || {}).unwrap();
    assert_eq!(stats.spilled_after, None);
    assert_eq!(rel.write_count(), rel.nblocks() as u64, "one sequential pass");
}

#[test]
fn building_an_empty_table_writes_only_the_meta_page() {
    let (cancel, progress) = (AtomicBool::new(false), AtomicUsize::new(0));
    let rel = MemRelation::new();
    let b = IndexBuilder::new(
        options(3, 16, 64),
        BuildParams::default(),
        L2Squared::new(),
        2,
        1 << 20,
        &cancel,
        &progress,
    );
    assert_eq!(b.finish(&rel, &mut || {}).unwrap().heap_tuples, 0);
    assert_eq!(rel.nblocks(), 1);
    let meta = read_meta(&rel).unwrap();
    assert_eq!((meta.dims, meta.entry), (3, None));
    insert(&rel, &L2Squared::new(), f32_bytes(&[1.0, 2.0, 3.0]), heap_tid(0)).unwrap();
    assert!(read_meta(&rel).unwrap().entry.is_some());
}

#[test]
fn oversized_vectors_are_rejected_before_anything_is_built() {
    let (cancel, progress) = (AtomicBool::new(false), AtomicUsize::new(0));
    let rel = MemRelation::new();
    let mut b = IndexBuilder::new(
        options(2100, 16, 64),
        BuildParams::default(),
        L2Squared::new(),
        2,
        1 << 20,
        &cancel,
        &progress,
    );
    let err = b.add(&rel, f32_bytes(&vec![1.0; 2100]), heap_tid(0), &mut || {}).unwrap_err();
    assert_eq!(err.sqlstate(), "54000");
}

#[test]
fn polling_runs_on_the_calling_thread_and_a_failing_poll_cancels_the_build() {
    let (data, _) = clustered_with_queries(4000, 1, 64, 4, 43);
    let arena: Vec<Vec<u8>> = data.iter().map(|v| f32_bytes(v).to_vec()).collect();
    let me = std::thread::current().id();
    let (cancel, progress) = (AtomicBool::new(false), AtomicUsize::new(0));
    let mut polls = 0;
    let mut at_cancel = 0;
    // A silent panic hook: the default one may spend long enough printing a
    // backtrace for the workers to finish before the cancel flag is set.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        build_graph_parallel_polling(
            &arena,
            &BuildParams::default(),
            &L2Squared::new(),
            2,
            &cancel,
            &progress,
            &mut || {
                assert_eq!(std::thread::current().id(), me);
                polls += 1;
                if polls == 2 {
                    at_cancel = progress.load(Ordering::Relaxed);
                    panic!("query canceled");
                }
            },
        )
    }));
    std::panic::set_hook(hook);
    assert!(r.is_err(), "the poll's panic propagates");
    assert!(cancel.load(Ordering::Relaxed), "and cancelled the workers");
    // The workers stop soon after the cancel: the build does not run to the end. (The exact count
    // after the cancel depends on scheduling: the panic unwinds on a loaded machine while workers
    // keep inserting, so only a generous bound is stable.)
    let done = progress.load(Ordering::Relaxed);
    assert!(done < arena.len(), "the build stopped early ({done} of {})", arena.len());
    assert!(done <= at_cancel + 500, "{done} after cancel at {at_cancel}");
    assert_eq!(polls, 2);
}

#[test]
fn no_element_of_a_parallel_build_is_left_with_a_near_empty_list() {
    // Regression: an element reachable at an upper layer before its own
    // layer-0 list was written made concurrent inserts that reached it see
    // it alone and take it as their only neighbour.
    let (data, _) = clustered_with_queries(2000, 1, 16, 4, 11);
    let metric = L2Squared::new();
    for round in 0..5 {
        let rel = build_index(&data, &metric, 16, 64);
        let g = stored_graph(&rel);
        assert_eq!(g.len(), data.len());
        let short: Vec<usize> = g.values().filter(|n| n.layers[0].len() < 8).map(|n| n.row).collect();
        assert!(
            short.is_empty(),
            "round {round}: rows with fewer than 8 layer-0 neighbours: {short:?}"
        );
    }
}
