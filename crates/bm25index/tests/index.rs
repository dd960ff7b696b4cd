mod common;

use common::{brute_force, random_doc, random_query, Doc};
use semvec_bm25::Bm25Params;
use semvec_bm25index::{bulk_delete, check, init_empty, insert, Builder, Hit, Scan, Strategy};
use semvec_storage::{MemRelation, Rng, Tid};
use std::collections::{BTreeMap, BTreeSet};

fn fresh_tid(rng: &mut Rng, used: &mut BTreeSet<Tid>) -> Tid {
    loop {
        let t = Tid::new(rng.below(3000) as u32, 1 + rng.below(60) as u16);
        if used.insert(t) {
            return t;
        }
    }
}

fn pairs(hits: &[Hit]) -> Vec<(Tid, f64)> {
    hits.iter().map(|h| (h.tid, h.score)).collect()
}

/// Exact equality of TIDs and scores, with a readable failure.
fn assert_same(got: &[(Tid, f64)], want: &[(Tid, f64)], what: &str) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: {} hits, want {}\n got {got:?}\nwant {want:?}",
        got.len(),
        want.len()
    );
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            g.0 == w.0 && g.1 == w.1,
            "{what}: hit {i}: got {g:?}, want {w:?}\n got {got:?}\nwant {want:?}"
        );
    }
}

/// The index's top-k (both strategies, and in doubling batches) equals brute force over `counted`.
fn compare(rel: &MemRelation, counted: &BTreeMap<Tid, Doc>, rng: &mut Rng, vocab: u64, params: Bm25Params, queries: usize) {
    for qi in 0..queries {
        let q = random_query(rng, vocab, 5);
        let qr: Vec<(&[u8], u32)> = q.iter().map(|(l, c)| (&l[..], *c)).collect();
        let k = 1 + rng.below(20) as usize;
        let want = brute_force(counted, &qr, params, k, |_| true);
        for strategy in [Strategy::BlockMaxWand, Strategy::Exhaustive] {
            let mut scan = Scan::begin(rel, &qr, params).unwrap();
            let got = pairs(&scan.next_batch(rel, k, strategy).unwrap());
            assert_same(&got, &want, &format!("query {qi} {q:?} k {k} {strategy:?}"));
        }
        // Continuation: k, then 2k, then 4k more equal one top-7k.
        let mut scan = Scan::begin(rel, &qr, params).unwrap();
        let mut got = Vec::new();
        for step in [k, 2 * k, 4 * k] {
            got.extend(pairs(&scan.next_batch(rel, step, Strategy::BlockMaxWand).unwrap()));
        }
        let want = brute_force(counted, &qr, params, 7 * k, |_| true);
        assert_same(&got, &want, &format!("query {qi} {q:?} in batches from k {k}"));
        every_document_once(rel, counted, &qr, params, &format!("query {qi} {q:?}"));
        own_weights(rel, counted, &qr, params, rng, &format!("query {qi} {q:?}"));
    }
}

/// All matching documents (in batches), then the unmatched ones: every indexed document exactly
/// once, the matching ones first, as `ORDER BY doc <@> query` over the whole table needs.
fn every_document_once(rel: &MemRelation, counted: &BTreeMap<Tid, Doc>, qr: &[(&[u8], u32)], params: Bm25Params, what: &str) {
    let mut scan = Scan::begin(rel, qr, params).unwrap();
    let mut matched = Vec::new();
    let mut k = 3;
    loop {
        let b = scan.next_batch(rel, k, Strategy::BlockMaxWand).unwrap();
        let short = b.len() < k;
        matched.extend(b.into_iter().map(|h| h.tid));
        if short {
            break;
        }
        k *= 2;
    }
    let mut rest = Vec::new();
    while let Some(chunk) = scan.next_unmatched(rel).unwrap() {
        rest.extend(chunk);
    }
    let want_matched = brute_force(counted, qr, params, usize::MAX, |_| true);
    assert_eq!(matched.len(), want_matched.len(), "{what}: matching documents");
    let mut all: Vec<Tid> = matched.iter().chain(&rest).copied().collect();
    all.sort();
    let n = all.len();
    all.dedup();
    assert_eq!(n, all.len(), "{what}: a document came twice");
    assert_eq!(all, counted.keys().copied().collect::<Vec<_>>(), "{what}: every document once");
}

/// A scan given the query's own weights and average length scores exactly with them.
fn own_weights(rel: &MemRelation, counted: &BTreeMap<Tid, Doc>, qr: &[(&[u8], u32)], params: Bm25Params, rng: &mut Rng, what: &str) {
    let mut scan = Scan::begin(rel, qr, params).unwrap();
    let weights: Vec<f64> = qr.iter().map(|_| rng.next_unit() * 3.0).collect();
    let avg = 1.0 + rng.next_unit() * 30.0;
    assert!(scan.set_weights(vec![1.0; qr.len() + 1], avg).is_err());
    scan.set_weights(weights.clone(), avg).unwrap();
    let got = pairs(&scan.next_batch(rel, 10, Strategy::BlockMaxWand).unwrap());
    let mut want: Vec<(Tid, f64)> = counted
        .iter()
        .filter_map(|(t, d)| {
            let tfs: Vec<u32> = qr.iter().map(|(l, _)| if l.is_empty() { 0 } else { d.tf(l) }).collect();
            tfs.iter()
                .any(|&x| x > 0)
                .then(|| (*t, params.score_frequencies(&tfs, d.len, &weights, avg)))
        })
        .collect();
    want.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    want.truncate(10);
    assert_same(&got, &want, &format!("{what} with its own weights"));
}

/// One random life of an index: build (maybe several segments), inserts, deletes, vacuum,
/// more of each, with the index compared against brute force and checked at every stage.
fn life(seed: u64) {
    let mut rng = Rng::new(seed);
    let vocab = 20 + rng.below(300);
    let params = if rng.below(3) == 0 {
        Bm25Params::new(0.9 + rng.next_unit(), rng.next_unit()).unwrap()
    } else {
        Bm25Params::default()
    };
    let rel = MemRelation::new();
    let mut used = BTreeSet::new();
    let mut counted: BTreeMap<Tid, Doc> = BTreeMap::new();
    let n_build = rng.below(600) as usize;
    let mut initial: Vec<(Tid, Doc)> = (0..n_build)
        .map(|_| (fresh_tid(&mut rng, &mut used), random_doc(&mut rng, vocab, 40)))
        .collect();
    if rng.below(4) != 0 {
        initial.sort_by_key(|(t, _)| *t); // heap order, usually
    }
    let budget = if rng.below(2) == 0 { 0 } else { 1 << 24 }; // 0: the 64 KiB floor, several segments
    let mut b = Builder::new(&rel, budget);
    for (t, d) in &initial {
        b.add(*t, &d.refs(), d.len).unwrap();
        counted.insert(*t, d.clone());
    }
    let stats = b.finish();
    assert_eq!(stats.docs, n_build as u64);
    let r = check(&rel, true).unwrap();
    assert!(r.is_clean(), "after build: {:?}", r.problems);
    assert_eq!(r.n_docs, counted.len() as u64);
    compare(&rel, &counted, &mut rng, vocab, params, 10);

    let mut live: BTreeSet<Tid> = counted.keys().copied().collect();
    for round in 0..2 {
        for _ in 0..rng.below(200) {
            let t = fresh_tid(&mut rng, &mut used);
            // Now and then a document too large for one memtable page.
            let d = if rng.below(40) == 0 {
                random_doc(&mut rng, 5000, 4000)
            } else {
                random_doc(&mut rng, vocab, 40)
            };
            insert(&rel, t, &d.refs(), d.len).unwrap();
            counted.insert(t, d);
            live.insert(t);
        }
        // Delete about a fifth of the live rows (the heap forgets them; the index does not yet).
        let dead: BTreeSet<Tid> = live.iter().copied().filter(|_| rng.below(5) == 0).collect();
        for t in &dead {
            live.remove(t);
        }
        compare(&rel, &counted, &mut rng, vocab, params, 8);
        let r = check(&rel, true).unwrap();
        assert!(r.is_clean(), "round {round} before vacuum: {:?}", r.problems);
        let v = bulk_delete(&rel, |t| !live.contains(&t)).unwrap();
        assert_eq!(v.docs_removed, dead.len() as u64);
        assert_eq!(v.docs_remaining, live.len() as u64);
        counted.retain(|t, _| live.contains(t));
        let r = check(&rel, true).unwrap();
        assert!(r.is_clean(), "round {round} after vacuum: {:?}", r.problems);
        assert_eq!(
            (r.n_docs, r.total_len),
            (counted.len() as u64, counted.values().map(|d| d.len).sum::<u64>())
        );
        compare(&rel, &counted, &mut rng, vocab, params, 8);
        // A second vacuum with nothing dead changes nothing.
        let before = rel.snapshot();
        let v = bulk_delete(&rel, |t| !live.contains(&t)).unwrap();
        assert_eq!((v.docs_removed, v.pages_written), (0, 0));
        assert!(before.iter().zip(rel.snapshot()).all(|(a, b)| a.as_bytes() == b.as_bytes()));
    }
}

#[test]
fn random_lives_match_brute_force_bm25_exactly() {
    for seed in 0..24 {
        life(seed);
    }
}

#[test]
fn empty_index_answers_nothing_and_accepts_inserts() {
    let rel = MemRelation::new();
    init_empty(&rel);
    assert!(check(&rel, true).unwrap().is_clean());
    let q: Vec<(&[u8], u32)> = vec![(b"cat", 1)];
    assert!(semvec_bm25index::search(&rel, &q, Bm25Params::default(), 10).unwrap().is_empty());
    insert(&rel, Tid::new(1, 1), &[(b"cat", 2), (b"dog", 1)], 3).unwrap();
    insert(&rel, Tid::new(1, 2), &[], 0).unwrap();
    let hits = semvec_bm25index::search(&rel, &q, Bm25Params::default(), 10).unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].tid, Tid::new(1, 1));
    let r = check(&rel, true).unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!((r.n_docs, r.total_len, r.mem_docs), (2, 3, 2));
}

#[test]
fn empty_lexemes_never_match_the_document_list() {
    let rel = MemRelation::new();
    let mut b = Builder::new(&rel, 1 << 20);
    b.add(Tid::new(1, 1), &[(b"a", 1)], 1).unwrap();
    b.add(Tid::new(1, 2), &[], 0).unwrap();
    b.finish();
    let q: Vec<(&[u8], u32)> = vec![(b"", 1)];
    assert!(semvec_bm25index::search(&rel, &q, Bm25Params::default(), 10).unwrap().is_empty());
}

#[test]
fn ties_come_in_tid_order_across_segments_and_memtable() {
    // Identical documents: equal scores everywhere, spread over two segments and the memtable.
    let rel = MemRelation::new();
    let mut b = Builder::new(&rel, 0);
    let mut tids = Vec::new();
    for i in 0..3000u32 {
        let t = Tid::new(3000 - i, 1);
        b.add(t, &[(b"same", 1), (b"filler", 2)], 3).unwrap();
        tids.push(t);
    }
    assert!(b.finish().segments > 1);
    for i in 0..50u32 {
        let t = Tid::new(i * 7 % 5000, 2);
        insert(&rel, t, &[(b"same", 1), (b"filler", 2)], 3).unwrap();
        tids.push(t);
    }
    tids.sort();
    let q: Vec<(&[u8], u32)> = vec![(b"same", 1)];
    let mut scan = Scan::begin(&rel, &q, Bm25Params::default()).unwrap();
    let mut got = Vec::new();
    let mut k = 10;
    loop {
        let batch = scan.next_batch(&rel, k, Strategy::BlockMaxWand).unwrap();
        if batch.is_empty() {
            break;
        }
        got.extend(batch.iter().map(|h| h.tid));
        k *= 2;
    }
    assert_eq!(got, tids);
}

/// Between a delete and VACUUM the scores are BM25 over the corpus with the dead rows; the
/// documented bound relates them to BM25 over the live rows alone.
#[test]
fn drift_before_vacuum_stays_within_the_documented_bound() {
    for seed in 100..110 {
        let mut rng = Rng::new(seed);
        let vocab = 200;
        let params = Bm25Params::default();
        let rel = MemRelation::new();
        let mut all: BTreeMap<Tid, Doc> = BTreeMap::new();
        let mut used = BTreeSet::new();
        let mut b = Builder::new(&rel, 1 << 20);
        for _ in 0..800 {
            let t = fresh_tid(&mut rng, &mut used);
            let d = random_doc(&mut rng, vocab, 50);
            all.insert(t, d);
        }
        for (t, d) in &all {
            b.add(*t, &d.refs(), d.len).unwrap();
        }
        b.finish();
        // Delete up to half of the rows, biased to long documents so avgdl moves.
        let frac = rng.below(50);
        let live: BTreeMap<Tid, Doc> = all
            .iter()
            .filter(|(_, d)| rng.below(100) >= frac || d.len < 10)
            .map(|(t, d)| (*t, d.clone()))
            .collect();
        let (n, n2) = (all.len() as f64, live.len() as f64);
        let avg_all = all.values().map(|d| d.len).sum::<u64>() as f64 / n;
        let avg_live = live.values().map(|d| d.len).sum::<u64>() as f64 / n2;
        let r = avg_all / avg_live;
        for _ in 0..20 {
            let q = random_query(&mut rng, vocab, 4);
            let qr: Vec<(&[u8], u32)> = q.iter().map(|(l, c)| (&l[..], *c)).collect();
            let df = |c: &BTreeMap<Tid, Doc>, l: &[u8]| c.values().filter(|d| d.tf(l) > 0).count() as u64;
            let rhos: Vec<f64> = qr
                .iter()
                .map(|(l, _)| semvec_bm25::idf(all.len() as u64, df(&all, l)) / semvec_bm25::idf(live.len() as u64, df(&live, l)))
                .collect();
            let lo = r.min(1.0) * rhos.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = r.max(1.0) * rhos.iter().copied().fold(0.0, f64::max);
            let exact: BTreeMap<Tid, f64> = brute_force(&live, &qr, params, usize::MAX, |_| true).into_iter().collect();
            let hits = Scan::begin(&rel, &qr, params)
                .unwrap()
                .next_batch(&rel, 1000, Strategy::BlockMaxWand)
                .unwrap();
            for h in hits.iter().filter(|h| live.contains_key(&h.tid)) {
                let ratio = h.score / exact[&h.tid];
                assert!(
                    ratio >= lo * (1.0 - 1e-12) && ratio <= hi * (1.0 + 1e-12),
                    "seed {seed}: ratio {ratio} outside [{lo}, {hi}]"
                );
            }
        }
    }
}

#[test]
fn concurrent_inserts_and_searches_leave_a_clean_index_with_every_document() {
    let rel = MemRelation::new();
    let mut b = Builder::new(&rel, 1 << 20);
    for i in 0..500u32 {
        b.add(Tid::new(i, 1), &[(b"common", 1), (format!("u{i}").as_bytes(), 1)], 2)
            .unwrap();
    }
    b.finish();
    let writers = 3u32;
    let per = 300u32;
    std::thread::scope(|s| {
        for w in 0..writers {
            let rel = &rel;
            s.spawn(move || {
                let mut rng = Rng::new(w as u64);
                for i in 0..per {
                    let id = 1000 + w * per + i;
                    // Some large documents, so inserts also add pages.
                    let filler: Vec<Vec<u8>> = if rng.below(30) == 0 {
                        (0..1500).map(|j| format!("f{w}_{i}_{j}").into_bytes()).collect()
                    } else {
                        Vec::new()
                    };
                    let u = format!("u{id}").into_bytes();
                    let mut terms: Vec<(&[u8], u32)> = vec![(b"common", 1), (&u, 1)];
                    terms.extend(filler.iter().map(|f| (&f[..], 1)));
                    insert(rel, Tid::new(id, 1), &terms, terms.len() as u64).unwrap();
                }
            });
        }
        for r in 0..2 {
            let rel = &rel;
            s.spawn(move || {
                let q: Vec<(&[u8], u32)> = vec![(b"common", 1), (b"u7", 1)];
                for _ in 0..200 {
                    let hits = semvec_bm25index::search(rel, &q, Bm25Params::default(), 5 + r).unwrap();
                    assert_eq!(hits[0].tid, Tid::new(7, 1));
                    assert!(hits
                        .windows(2)
                        .all(|w| w[0].score > w[1].score || (w[0].score == w[1].score && w[0].tid < w[1].tid)));
                }
            });
        }
    });
    let r = check(&rel, true).unwrap();
    assert!(r.is_clean(), "{:?}", r.problems);
    assert_eq!(r.n_docs, (500 + writers * per) as u64);
    for id in (0..500).chain(1000..1000 + writers * per) {
        let u = format!("u{id}").into_bytes();
        let hits = semvec_bm25index::search(&rel, &[(&u[..], 1)], Bm25Params::default(), 1).unwrap();
        assert_eq!(hits.first().map(|h| h.tid), Some(Tid::new(id, 1)), "document {id}");
    }
}
