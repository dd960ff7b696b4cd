//! The on-disk format: what build and insert leave on the pages.

mod common;
use common::*;
use semvec_hnsw::metric::{f32_bytes, L2Squared};
use semvec_hnsw::page::{PAGE_DATA, PAGE_META};
use semvec_hnsw::tuple::{ElementRef, NeighborsRef};
use semvec_hnsw::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize};

/// Walks every page and checks the structural invariants; returns
/// element TID -> (level, heap TIDs, payload).
fn check_pages(rel: &MemRelation) -> HashMap<Tid, (u8, Vec<Tid>, Vec<u8>)> {
    let meta = read_meta(rel).unwrap();
    let meta_page = rel.read(0);
    assert!(meta_page.is_hnsw());
    assert_eq!(meta_page.opaque().flags, PAGE_META);
    assert_eq!(meta_page.pagesize_version(), 8192 | 4);
    drop(meta_page);
    let mut elements = HashMap::new();
    let mut neighbors = HashMap::new();
    for b in 1..rel.nblocks() {
        let p = rel.read(b);
        assert!(p.is_hnsw(), "block {b}");
        assert_eq!(p.opaque().flags, PAGE_DATA);
        for o in 1..=p.len() {
            let t = p.get(o).unwrap();
            assert_eq!(p.item_id(o).unwrap().off % 8, 0);
            if let Some(e) = ElementRef::parse(t) {
                elements.insert(
                    Tid::new(b, o),
                    (e.level(), e.heap_tids().collect::<Vec<_>>(), e.payload().to_vec(), e.neighbors()),
                );
            } else {
                let n = NeighborsRef::parse(t).expect("every tuple is an element or a neighbour list");
                assert_eq!(n.m(), meta.m as usize);
                let lists: Vec<Vec<Tid>> = (0..=n.level()).map(|l| n.layer(l).collect()).collect();
                neighbors.insert(Tid::new(b, o), (n.level(), lists));
            }
        }
    }
    for (tid, (level, _, payload, nt)) in &elements {
        assert_eq!(payload.len(), meta.dims as usize * 4);
        let (nl, lists) = &neighbors[nt];
        assert_eq!(nl, level, "neighbour tuple of {tid:?} has the element's level");
        for (l, list) in lists.iter().enumerate() {
            for x in list {
                let (xl, ..) = elements.get(x).expect("lists name elements");
                assert!(*xl as usize >= l, "edge at layer {l} to an element of level {xl}");
                assert_ne!(x, tid, "no self edge");
            }
        }
    }
    let (ep, top) = meta.entry.unwrap();
    assert_eq!(elements[&ep].0, top);
    assert!(elements.values().all(|e| e.0 <= top), "entry point is on the top level");
    elements.into_iter().map(|(t, (l, h, p, _))| (t, (l, h, p))).collect()
}

#[test]
fn built_index_pages_are_valid_and_hold_every_row() {
    let (data, _) = clustered_with_queries(1500, 1, 24, 4, 5);
    let rel = build_index(&data, &L2Squared::new(), 8, 40);
    let elements = check_pages(&rel);
    assert_eq!(elements.len(), data.len());
    for (_, (_, heap, payload)) in elements {
        assert_eq!(heap.len(), 1);
        assert_eq!(payload, f32_bytes(&data[row_of(heap[0])]));
    }
    let meta = read_meta(&rel).unwrap();
    assert_eq!((meta.dims, meta.m, meta.ef_construction, meta.element_count), (24, 8, 40, 1500));
}

#[test]
fn inserted_index_pages_are_valid() {
    let (data, _) = clustered_with_queries(800, 1, 24, 4, 6);
    let rel = build_index(&data[..300], &L2Squared::new(), 8, 40);
    for (i, v) in data.iter().enumerate().skip(300) {
        insert(&rel, &L2Squared::new(), f32_bytes(v), heap_tid(i)).unwrap();
    }
    assert_eq!(check_pages(&rel).len(), 800);
}

#[test]
fn write_graph_stores_the_built_graph_edges() {
    let (data, _) = clustered_with_queries(600, 1, 8, 3, 8);
    let mut arena = BuildArena::new();
    for (i, v) in data.iter().enumerate() {
        arena.push(f32_bytes(v), heap_tid(i));
    }
    let graph = build_graph_parallel(
        &arena,
        &BuildParams {
            m: 6,
            ef_construction: 30,
            seed: 1,
        },
        &L2Squared::new(),
        1,
        &AtomicBool::new(false),
        &AtomicUsize::new(0),
    )
    .unwrap();
    let rel = MemRelation::new();
    let stats = write_graph(&rel, &arena, &graph, &options(8, 6, 30)).unwrap();
    assert_eq!(stats.elements, 600);
    assert_eq!(stats.pages, rel.nblocks());
    assert_eq!(
        rel.write_count(),
        rel.nblocks() as u64,
        "each page written exactly once, in one pass"
    );
    let elements = check_pages(&rel);
    let node_of: HashMap<Tid, u32> = elements.iter().map(|(t, (_, h, _))| (*t, row_of(h[0]) as u32)).collect();
    for b in 1..rel.nblocks() {
        let p = rel.read(b);
        for o in 1..=p.len() {
            let Some(e) = ElementRef::parse(p.get(o).unwrap()) else { continue };
            let node = row_of(e.heap_tid(0)) as u32;
            let nt = e.neighbors();
            let np = rel.read(nt.block);
            let n = NeighborsRef::parse(np.get(nt.offset).unwrap()).unwrap();
            for l in 0..=e.level() {
                let on_page: Vec<u32> = n.layer(l).map(|t| node_of[&t]).collect();
                assert_eq!(on_page, graph.neighbors(node, l), "node {node} layer {l}");
            }
        }
    }
}

#[test]
fn index_of_384_dim_vectors_holds_four_elements_per_page() {
    let (data, _) = clustered_with_queries(400, 1, 384, 4, 9);
    let rel = build_index(&data, &L2Squared::new(), 16, 32);
    let pages = rel.nblocks() - 1;
    // pgvector: ~4 elements per page at 384 dims; upper-level lists cost a little more.
    assert!((100..=110).contains(&pages), "{pages} data pages for 400 elements");
}

#[test]
fn elements_of_2000_dims_fit_and_are_found() {
    let (data, _) = clustered_with_queries(40, 1, 2000, 2, 10);
    let metric = L2Squared::new();
    let rel = build_index(&data[..20], &metric, 16, 32);
    for (i, v) in data.iter().enumerate().skip(20) {
        insert(&rel, &metric, f32_bytes(v), heap_tid(i)).unwrap();
    }
    check_pages(&rel);
    let mut s = Searcher::new(metric, SearchOptions::default());
    for (i, v) in data.iter().enumerate() {
        assert_eq!(search(&mut s, &rel, v, 1), vec![i]);
    }
}

#[test]
fn too_large_element_is_rejected_as_program_limit_exceeded() {
    let rel = MemRelation::new();
    init_empty(&rel, &options(3000, 16, 64));
    let v = vec![0.5f32; 3000];
    let err = insert(&rel, &L2Squared::new(), f32_bytes(&v), heap_tid(0)).unwrap_err();
    assert_eq!(err.sqlstate(), "54000");
    assert!(err.to_string().starts_with("index row size 12076 exceeds maximum"), "{err}");
    assert_eq!(rel.nblocks(), 1, "nothing written");
}

#[test]
fn reading_a_relation_without_meta_page_is_an_error() {
    let rel = MemRelation::new();
    assert_eq!(read_meta(&rel).unwrap_err(), HnswError::NotAnIndex);
    let (_, mut p) = rel.extend();
    p.init_hnsw(PAGE_DATA);
    drop(p);
    assert_eq!(read_meta(&rel).unwrap_err().sqlstate(), "XX002");
}

#[test]
fn ef_construction_below_twice_m_is_an_invalid_parameter() {
    let err = options(3, 16, 31).validate().unwrap_err();
    assert_eq!(err.to_string(), "ef_construction must be greater than or equal to 2 * m");
    assert_eq!(err.sqlstate(), "22023");
    assert!(options(3, 16, 32).validate().is_ok());
}
