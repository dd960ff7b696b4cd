//! Whole-index behaviour on an in-memory relation: build, scans (exact with all lists, recall with
//! a few), iterative scans, inserts after the build, vacuum, concurrency, page format.

use semvec_ivf::page::{self, PAGE_ENTRY, PAGE_LIST, PAGE_META};
use semvec_ivf::*;
use semvec_storage::metric::f32_bytes;
use semvec_storage::{MemRelation, Metric, RelationRead, Tid};
use std::sync::atomic::AtomicBool;

fn tid(i: usize) -> Tid {
    Tid::new((i / 100) as u32, (i % 100 + 1) as u16)
}

fn row(t: Tid) -> usize {
    t.block as usize * 100 + t.offset as usize - 1
}

/// Gaussian-ish clustered data: `clusters` blobs in `dims` dimensions.
fn clustered(n: usize, dims: usize, clusters: usize, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = Rng::new(seed);
    let centers: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dims).map(|_| (rng.next_f64() * 10.0) as f32).collect())
        .collect();
    (0..n)
        .map(|i| {
            let c = &centers[i % clusters];
            c.iter()
                .map(|x| x + ((rng.next_f64() + rng.next_f64() + rng.next_f64() - 1.5) * 2.0) as f32)
                .collect()
        })
        .collect()
}

fn payloads(data: &[Vec<f32>]) -> Payloads {
    let mut p = Payloads::new(data[0].len() * 4);
    data.iter().for_each(|v| p.push(f32_bytes(v)));
    p
}

fn build(data: &[Vec<f32>], vt: &VectorType, lists: usize) -> MemRelation {
    let mut samples = payloads(data);
    if vt.spherical() {
        for i in 0..samples.len() {
            vt.normalize(samples.get_mut(i));
        }
    }
    let centers = kmeans(vt, &samples, lists, BUILD_SEED, 0, usize::MAX, &AtomicBool::new(false)).unwrap();
    let rel = MemRelation::new();
    let rows: Vec<(Tid, Vec<u8>)> = data.iter().enumerate().map(|(i, v)| (tid(i), stored(vt, v))).collect();
    build_from(&rel, vt, &centers, rows.iter().map(|(t, p)| (*t, &p[..]))).unwrap();
    rel
}

/// The payload the glue stores (normalised under cosine).
fn stored(vt: &VectorType, v: &[f32]) -> Vec<u8> {
    let mut p = f32_bytes(v).to_vec();
    if vt.distance == Distance::Cosine {
        vt.normalize(&mut p);
    }
    p
}

fn scan_all(rel: &MemRelation, vt: &VectorType, q: Option<&[u8]>, opts: ScanOptions) -> Vec<(usize, f32)> {
    let mut s = Scanner::new(vt.index_metric());
    s.begin(rel, q, opts).unwrap();
    std::iter::from_fn(|| s.next(rel)).map(|(t, d)| (row(t), d)).collect()
}

fn exact(data: &[Vec<f32>], vt: &VectorType, q: &[u8], k: usize) -> Vec<usize> {
    let m = vt.index_metric();
    let mut all: Vec<(f32, usize)> = data.iter().enumerate().map(|(i, v)| (m.distance(&stored(vt, v), q), i)).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.into_iter().take(k).map(|x| x.1).collect()
}

fn recall(rel: &MemRelation, data: &[Vec<f32>], queries: &[Vec<f32>], vt: &VectorType, probes: usize) -> f64 {
    let mut hits = 0;
    for q in queries {
        let qp = stored(vt, q);
        let truth = exact(data, vt, &qp, 10);
        let got: Vec<usize> = scan_all(
            rel,
            vt,
            Some(&qp),
            ScanOptions {
                probes,
                max_probes: probes,
            },
        )
        .into_iter()
        .take(10)
        .map(|x| x.0)
        .collect();
        hits += truth.iter().filter(|t| got.contains(t)).count();
    }
    hits as f64 / (10 * queries.len()) as f64
}

#[test]
fn probing_every_list_is_exact_search() {
    let vt = VectorType::new(Elements::F32, Distance::L2, 8);
    let data = clustered(2000, 8, 20, 1);
    let rel = build(&data, &vt, 20);
    for q in clustered(10, 8, 5, 99) {
        let qp = stored(&vt, &q);
        let got = scan_all(
            &rel,
            &vt,
            Some(&qp),
            ScanOptions {
                probes: 20,
                max_probes: 20,
            },
        );
        assert_eq!(got.len(), 2000, "every row once");
        let ids: Vec<usize> = got.iter().take(10).map(|x| x.0).collect();
        assert_eq!(ids, exact(&data, &vt, &qp, 10));
        assert!(got.windows(2).all(|w| w[0].1 <= w[1].1), "sorted by distance");
    }
}

#[test]
fn a_few_probes_reach_good_recall_on_clustered_data() {
    let vt = VectorType::new(Elements::F32, Distance::L2, 16);
    let data = clustered(5000, 16, 50, 2);
    let queries = clustered(50, 16, 50, 3);
    let rel = build(&data, &vt, 50);
    let r1 = recall(&rel, &data, &queries, &vt, 1);
    let r5 = recall(&rel, &data, &queries, &vt, 5);
    assert!(r5 >= 0.95, "recall@10 with 5 of 50 lists: {r5}");
    assert!(r5 >= r1, "more probes never hurt: {r1} -> {r5}");
}

#[test]
fn cosine_and_inner_product_indexes_find_their_neighbours() {
    // clusters in every direction around the origin
    let shift = |v: Vec<Vec<f32>>| {
        v.into_iter()
            .map(|x| x.into_iter().map(|e| e - 5.0).collect())
            .collect::<Vec<Vec<f32>>>()
    };
    let data = shift(clustered(3000, 12, 30, 4));
    let queries = shift(clustered(30, 12, 30, 5));
    for distance in [Distance::Cosine, Distance::InnerProduct] {
        let vt = VectorType::new(Elements::F32, distance, 12);
        let rel = build(&data, &vt, 30);
        assert_eq!(recall(&rel, &data, &queries, &vt, 30), 1.0, "{distance:?} with all lists");
        let r = recall(&rel, &data, &queries, &vt, 6);
        assert!(r >= 0.8, "{distance:?} recall@10 with 6 of 30 lists: {r}");
    }
}

#[test]
fn halfvec_and_bit_indexes_work_end_to_end() {
    use half::f16;
    let data = clustered(1000, 8, 10, 6);
    let vt = VectorType::new(Elements::F16, Distance::L2, 8);
    let hp = |v: &[f32]| {
        v.iter()
            .flat_map(|x| f16::from_f32(*x).to_bits().to_ne_bytes())
            .collect::<Vec<u8>>()
    };
    let mut samples = Payloads::new(16);
    data.iter().for_each(|v| samples.push(&hp(v)));
    let centers = kmeans(&vt, &samples, 10, 1, 0, usize::MAX, &AtomicBool::new(false)).unwrap();
    let rel = MemRelation::new();
    let rows: Vec<Vec<u8>> = data.iter().map(|v| hp(v)).collect();
    build_from(&rel, &vt, &centers, rows.iter().enumerate().map(|(i, p)| (tid(i), &p[..]))).unwrap();
    let q = hp(&data[17]);
    let mut s = Scanner::new(vt.index_metric());
    s.begin(
        &rel,
        Some(&q),
        ScanOptions {
            probes: 10,
            max_probes: 10,
        },
    )
    .unwrap();
    assert_eq!(s.next(&rel).map(|(t, d)| (row(t), d)), Some((17, 0.0)));

    let bt = VectorType::new(Elements::Bit, Distance::Hamming, 24);
    let mut rng = Rng::new(8);
    let bits: Vec<[u8; 3]> = (0..500)
        .map(|_| [rng.below(256) as u8, rng.below(256) as u8, rng.below(256) as u8])
        .collect();
    let mut bs = Payloads::new(3);
    bits.iter().for_each(|b| bs.push(b));
    let centers = kmeans(&bt, &bs, 5, 1, 0, usize::MAX, &AtomicBool::new(false)).unwrap();
    let rel = MemRelation::new();
    build_from(&rel, &bt, &centers, bits.iter().enumerate().map(|(i, b)| (tid(i), &b[..]))).unwrap();
    let got = {
        let mut s = Scanner::new(bt.index_metric());
        s.begin(&rel, Some(&bits[42]), ScanOptions { probes: 5, max_probes: 5 }).unwrap();
        std::iter::from_fn(|| s.next(&rel)).collect::<Vec<_>>()
    };
    assert_eq!(got.len(), 500);
    assert_eq!(got[0].1, 0.0);
    assert!(got.windows(2).all(|w| w[0].1 <= w[1].1));
}

#[test]
fn iterative_scan_probes_more_lists_in_batches() {
    // Three rows, three lists: each row is its own list (pgvector's regression case).
    let vt = VectorType::new(Elements::F32, Distance::L2, 3);
    let data = vec![vec![0.0, 0.0, 0.0], vec![1.0, 2.0, 3.0], vec![1.0, 1.0, 1.0]];
    let rel = build(&data, &vt, 3);
    let q = stored(&vt, &[3.0, 3.0, 3.0]);
    let rows = |probes, max_probes| {
        scan_all(&rel, &vt, Some(&q), ScanOptions { probes, max_probes })
            .into_iter()
            .map(|x| x.0)
            .collect::<Vec<_>>()
    };
    assert_eq!(rows(1, 1), vec![1]);
    assert_eq!(rows(1, 2), vec![1, 2]);
    assert_eq!(rows(1, 32768), vec![1, 2, 0]);
    assert_eq!(rows(3, 3), vec![1, 2, 0]);
}

#[test]
fn null_query_returns_every_row_of_the_probed_lists() {
    let vt = VectorType::new(Elements::F32, Distance::L2, 4);
    let data = clustered(300, 4, 3, 7);
    let rel = build(&data, &vt, 1);
    let got = scan_all(&rel, &vt, None, ScanOptions::default());
    assert_eq!(got.len(), 300);
    assert!(got.iter().all(|x| x.1 == 0.0));
}

#[test]
fn inserts_after_build_are_found_and_fill_new_pages() {
    let vt = VectorType::new(Elements::F32, Distance::L2, 32);
    let data = clustered(3000, 32, 10, 8);
    let (first, second) = data.split_at(1000);
    let rel = build(first, &vt, 10);
    let pages_before = rel.nblocks();
    let m = vt.index_metric();
    for (i, v) in second.iter().enumerate() {
        insert(&rel, &m, f32_bytes(v), tid(1000 + i)).unwrap();
    }
    assert!(rel.nblocks() > pages_before, "chains grew");
    assert_eq!(count_entries(&rel).unwrap(), 3000);
    // exact with all lists, and every inserted row is its own nearest neighbour
    for i in (0..3000).step_by(97) {
        let got = scan_all(
            &rel,
            &vt,
            Some(f32_bytes(&data[i])),
            ScanOptions {
                probes: 10,
                max_probes: 10,
            },
        );
        assert_eq!(got[0], (i, 0.0));
    }
    let queries = clustered(30, 32, 10, 9);
    assert!(recall(&rel, &data, &queries, &vt, 3) >= 0.9);
}

#[test]
fn insert_hint_moves_to_the_last_page_of_the_chain() {
    let vt = VectorType::new(Elements::F32, Distance::L2, 500);
    let data = clustered(2, 500, 1, 10);
    let rel = build(&data, &vt, 1);
    let m = vt.index_metric();
    for i in 0..30 {
        insert(&rel, &m, f32_bytes(&data[i % 2]), tid(10 + i)).unwrap();
    }
    let mut hint = 0;
    let mut start = 0;
    for_each_list(&rel, |_, _, t| (start, hint) = (t.start_page, t.insert_page)).unwrap();
    // walk the chain: the hint is its last page
    let mut last = start;
    loop {
        let next = rel.read(last).opaque().next_blkno;
        if next == u32::MAX {
            break;
        }
        last = next;
    }
    assert_eq!(hint, last);
    assert_ne!(start, last, "2008-byte entries: 4 per page, 32 rows need several pages");
}

#[test]
fn vacuum_removes_dead_entries_and_reuses_their_room() {
    let vt = VectorType::new(Elements::F32, Distance::L2, 8);
    let data = clustered(2000, 8, 10, 11);
    let rel = build(&data, &vt, 10);
    let stats = bulk_delete(&rel, |t| row(t).is_multiple_of(2), || {}).unwrap();
    assert_eq!((stats.removed, stats.remaining), (1000, 1000));
    assert_eq!(stats.pages, rel.nblocks());
    let got = scan_all(
        &rel,
        &vt,
        Some(f32_bytes(&data[3])),
        ScanOptions {
            probes: 10,
            max_probes: 10,
        },
    );
    assert_eq!(got.len(), 1000);
    assert!(got.iter().all(|x| x.0 % 2 == 1));
    // room is reused: re-inserting the deleted rows does not grow the index
    let pages = rel.nblocks();
    let m = vt.index_metric();
    for i in (0..2000).step_by(2) {
        insert(&rel, &m, f32_bytes(&data[i]), tid(i)).unwrap();
    }
    assert_eq!(rel.nblocks(), pages);
    assert_eq!(count_entries(&rel).unwrap(), 2000);
    // nothing to remove: no page is written
    let writes = rel.write_count();
    let stats = bulk_delete(&rel, |_| false, || {}).unwrap();
    assert_eq!((stats.removed, stats.remaining), (0, 2000));
    assert_eq!(rel.write_count(), writes);
}

#[test]
fn concurrent_inserts_and_scans_lose_nothing() {
    let vt = VectorType::new(Elements::F32, Distance::L2, 16);
    let data = clustered(4000, 16, 8, 12);
    let rel = build(&data[..500], &vt, 8);
    let m = vt.index_metric();
    std::thread::scope(|s| {
        for t in 0..4 {
            let (rel, data, m) = (&rel, &data, &m);
            s.spawn(move || {
                for i in (500 + t..4000).step_by(4) {
                    insert(rel, m, f32_bytes(&data[i]), tid(i)).unwrap();
                }
            });
        }
        let (rel, data, vt) = (&rel, &data, &vt);
        s.spawn(move || {
            for (i, v) in data.iter().enumerate().take(50) {
                let got = scan_all(rel, vt, Some(f32_bytes(v)), ScanOptions { probes: 8, max_probes: 8 });
                assert!(got.len() >= 500);
                assert_eq!(got[0].0, i);
            }
        });
    });
    assert_eq!(count_entries(&rel).unwrap(), 4000);
    let mut seen: Vec<usize> = scan_all(&rel, &vt, None, ScanOptions { probes: 8, max_probes: 8 })
        .into_iter()
        .map(|x| x.0)
        .collect();
    seen.sort();
    assert_eq!(seen, (0..4000).collect::<Vec<_>>());
}

#[test]
fn page_layout_meta_then_lists_then_contiguous_entry_chains() {
    let vt = VectorType::new(Elements::F32, Distance::L2, 100);
    let data = clustered(1000, 100, 4, 13);
    let rel = build(&data, &vt, 4);
    assert!(page::is_page(&rel.read(0), PAGE_META));
    assert!(page::is_page(&rel.read(1), PAGE_LIST));
    let meta = read_meta(&rel).unwrap();
    assert_eq!(meta, Meta { vtype: vt, lists: 4 });
    let mut next_expected = 2;
    for_each_list(&rel, |_, _, t| {
        // each list's pages follow each other in block order
        assert_eq!(t.start_page, next_expected);
        let mut b = t.start_page;
        loop {
            let g = rel.read(b);
            assert!(page::is_page(&g, PAGE_ENTRY));
            let next = g.opaque().next_blkno;
            if next == u32::MAX {
                assert_eq!(t.insert_page, b);
                break;
            }
            assert_eq!(next, b + 1);
            b = next;
        }
        next_expected = b + 1;
    })
    .unwrap();
    assert_eq!(next_expected, rel.nblocks());
}

#[test]
fn the_list_pages_chain_when_centers_fill_a_page() {
    // 2000 dims: one center (8008 bytes) per list page
    let vt = VectorType::new(Elements::F32, Distance::L2, 2000);
    let data = clustered(20, 2000, 5, 14);
    let rel = build(&data, &vt, 5);
    let mut locs = Vec::new();
    for_each_list(&rel, |i, loc, _| locs.push((i, loc.blkno))).unwrap();
    assert_eq!(locs, (0..5).map(|i| (i, 1 + i as u32)).collect::<Vec<_>>());
    assert_eq!(
        scan_all(&rel, &vt, Some(f32_bytes(&data[7])), ScanOptions { probes: 5, max_probes: 5 })[0].0,
        7
    );
}

#[test]
fn an_empty_index_has_one_empty_page_per_list_and_accepts_inserts() {
    let vt = VectorType::new(Elements::F32, Distance::L2, 3);
    let centers = kmeans(&vt, &Payloads::new(12), 100, 1, 0, usize::MAX, &AtomicBool::new(false)).unwrap();
    let rel = MemRelation::new();
    assert_eq!(build_from(&rel, &vt, &centers, std::iter::empty()).unwrap(), 0);
    assert_eq!(rel.nblocks(), 1 + 1 + 100);
    assert!(scan_all(
        &rel,
        &vt,
        Some(f32_bytes(&[1.0, 2.0, 3.0])),
        ScanOptions {
            probes: 100,
            max_probes: 100
        }
    )
    .is_empty());
    insert(&rel, &vt.index_metric(), f32_bytes(&[1.0, 2.0, 3.0]), tid(0)).unwrap();
    assert_eq!(
        scan_all(
            &rel,
            &vt,
            Some(f32_bytes(&[1.0, 2.0, 3.0])),
            ScanOptions {
                probes: 100,
                max_probes: 100
            }
        )
        .len(),
        1
    );
}

#[test]
fn loader_flushes_under_a_small_budget_and_keeps_every_row() {
    let vt = VectorType::new(Elements::F32, Distance::L2, 64);
    let data = clustered(20_000, 64, 10, 15);
    let centers = kmeans(&vt, &payloads(&data[..2000]), 10, 1, 0, usize::MAX, &AtomicBool::new(false)).unwrap();
    let rel = MemRelation::new();
    let locs = write_lists(&rel, &Meta { vtype: vt, lists: 10 }, &centers).unwrap();
    let mut loader = Loader::new(&vt, &centers, 1 << 20, None);
    for (i, v) in data.iter().enumerate() {
        loader.push(&rel, tid(i), f32_bytes(v)).unwrap();
    }
    assert_eq!(loader.finish(&rel, &locs), 20_000);
    assert_eq!(count_entries(&rel).unwrap(), 20_000);
    let got = scan_all(
        &rel,
        &vt,
        Some(f32_bytes(&data[12345])),
        ScanOptions {
            probes: 10,
            max_probes: 10,
        },
    );
    assert_eq!(got.len(), 20_000);
    assert_eq!(got[0].0, 12345);
}

#[test]
fn a_foreign_block_zero_is_not_an_index() {
    let rel = MemRelation::new();
    assert_eq!(read_meta(&rel), Err(IvfError::NotValid));
    {
        use semvec_storage::RelationWrite;
        let (_, mut g) = rel.extend();
        // Another family's meta page (hnsw's page id), well formed but not ours.
        g.init_tagged(0xFF53, semvec_ivf::page::PAGE_META);
    }
    assert_eq!(read_meta(&rel), Err(IvfError::NotValid));
}

#[test]
#[ignore = "timing; run with --ignored --nocapture"]
fn kmeans_speed_on_784_dims() {
    let vt = VectorType::new(Elements::F32, Distance::L2, 784);
    let data = clustered(10_000, 784, 30, 16);
    let samples = payloads(&data);
    let t = std::time::Instant::now();
    let c = kmeans(&vt, &samples, 100, BUILD_SEED, 0, usize::MAX, &AtomicBool::new(false)).unwrap();
    eprintln!("k-means 10000 x 784 into 100 lists: {:?}", t.elapsed());
    assert_eq!(c.len(), 100);
}

#[test]
#[ignore = "timing; run with --ignored --nocapture"]
fn accumulate_speed() {
    let vt = VectorType::new(Elements::F32, Distance::L2, 784);
    let data = clustered(10_000, 784, 30, 16);
    let samples = payloads(&data);
    let mut acc = vec![0f64; 784];
    let t = std::time::Instant::now();
    for _ in 0..10 {
        for p in samples.iter() {
            vt.accumulate(p, &mut acc);
        }
    }
    eprintln!("accumulate 10 x 10000 x 784: {:?} ({})", t.elapsed(), acc[0]);
}

/// Rows of `id label [v1,...]` text (tests/data/fashion_mnist.py output) from `IVF_DATA`.
fn load_text_vectors() -> Option<Vec<Vec<f32>>> {
    let path = std::env::var("IVF_DATA").ok()?;
    let text = std::fs::read_to_string(path).ok()?;
    Some(
        text.lines()
            .map(|l| {
                let v = l.split('\t').nth(2).unwrap().trim_matches(|c| c == '[' || c == ']');
                v.split(',').map(|x| x.parse().unwrap()).collect()
            })
            .collect(),
    )
}

#[test]
#[ignore = "timing on real data: IVF_DATA=file cargo test --release -- --ignored --nocapture"]
fn kmeans_speed_on_real_data() {
    let Some(data) = load_text_vectors() else { return };
    let vt = VectorType::new(Elements::F32, Distance::L2, data[0].len() as u32);
    let samples = payloads(&data);
    for threads in [1, 2] {
        let pool = thread_pool(threads).unwrap();
        let t = std::time::Instant::now();
        let (_, stats) = pool
            .install(|| kmeans_with_stats(&vt, &samples, 100, BUILD_SEED, 0, usize::MAX, &AtomicBool::new(false)))
            .unwrap();
        eprintln!(
            "k-means {} x {} into 100 lists, {threads} threads: {:?}, {stats:?}",
            data.len(),
            data[0].len(),
            t.elapsed()
        );
    }
}
