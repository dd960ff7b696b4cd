//! Property fuzzing at stress scale (a million cases per target by default): no input makes a
//! text parser, a binary receiver or the index checker panic, and whatever they accept is valid
//! and round-trips. Failing inputs are shrunk by proptest and printed.
//!
//! usage: semvec-stress-fuzz [target...]   (targets: text, binary, typmod, pages; default all)
//! FUZZ_CASES sets the cases per target (default 1000000; pages runs FUZZ_CASES / 50).

use half::f16;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use semvec_hnsw::metric::{f32_bytes, L2Squared};
use semvec_hnsw::{
    build_graph_parallel, check_index, write_graph, BuildArena, BuildParams, CheckOptions, IndexOptions, MemRelation,
    RelationRead, RelationWrite, Tid,
};
use semvec_vector::{self as v, binary, SparseVec};
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::time::Instant;

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config { cases, failure_persistence: None, max_shrink_iters: 10_000, ..Config::default() })
}

/// Strings that look like vectors: numbers in many spellings, brackets, separators, noise.
fn vectorish() -> impl Strategy<Value = String> {
    let number = prop_oneof![
        any::<f32>().prop_map(|x| format!("{x}")),
        any::<f32>().prop_map(|x| format!("{x:e}")),
        any::<i64>().prop_map(|x| x.to_string()),
        proptest::string::string_regex(r"[+\-]?[0-9]{0,45}(\.[0-9]{0,20})?([eE][+\-]?[0-9]{0,4})?").unwrap(),
        proptest::string::string_regex(r"[+\-]?0[xX][0-9a-fA-F]{0,12}(\.[0-9a-f]{0,6})?([pP][+\-]?[0-9]{0,3})?").unwrap(),
        proptest::string::string_regex(r"[+\-]?(inf|INF|Infinity|nan|NaN|infinity|-)").unwrap(),
    ];
    let sep = proptest::string::string_regex(r"[ \t\n]{0,2},[ \t\n]{0,2}|[ ,;:]").unwrap();
    let body = proptest::collection::vec((number, sep), 0..24).prop_map(|items| {
        let mut s = String::new();
        for (i, (n, sep)) in items.into_iter().enumerate() {
            if i > 0 {
                s.push_str(&sep);
            }
            s.push_str(&n);
        }
        s
    });
    let dense = (proptest::string::string_regex(r"[ \t]{0,2}[\[{(]?").unwrap(), body, proptest::string::string_regex(r"[\]})]?[ \t]{0,2}[a-z]{0,1}").unwrap())
        .prop_map(|(a, b, c)| format!("{a}{b}{c}"));
    let sparse = (proptest::collection::vec((any::<i32>(), any::<f32>()), 0..12), any::<i32>(), proptest::string::string_regex(r"[ ]{0,1}").unwrap())
        .prop_map(|(kv, dim, sp)| {
            let body: Vec<String> = kv.iter().map(|(k, v)| format!("{}{sp}:{sp}{v}", k % 40)).collect();
            format!("{{{}}}/{}", body.join(","), dim % 60)
        });
    let noise = proptest::string::string_regex(r"[ \t\n\[\]{}:/,0-9.eEpPxX+\-aAfFiInNtTyY()_\x00\x0b\x0c\r]{0,60}").unwrap();
    prop_oneof![3 => dense, 2 => sparse, 2 => noise, 1 => any::<String>()]
}

fn text(cases: u32) -> Result<(), String> {
    runner(cases)
        .run(&(vectorish(), -2i32..40), |(s, typmod)| {
            if let Ok(x) = v::parse_vector(&s) {
                prop_assert!(!x.is_empty() && x.len() <= v::VECTOR_MAX_DIM && x.iter().all(|e| e.is_finite()), "{s:?}");
                let mut out = String::new();
                v::format_vector(&x, &mut out);
                let back = v::parse_vector(&out).map_err(|e| TestCaseError::fail(format!("{out:?} does not parse: {e:?}")))?;
                prop_assert!(back.iter().map(|e| e.to_bits()).eq(x.iter().map(|e| e.to_bits())), "{s:?} -> {out:?}");
            }
            if let Ok(x) = v::parse_vector_typmod(&s, typmod) {
                prop_assert!(typmod < 1 || x.len() == typmod as usize, "{s:?} typmod {typmod}");
            }
            if let Ok(x) = v::parse_halfvec(&s) {
                prop_assert!(!x.is_empty() && x.iter().all(|e| e.is_finite()), "{s:?}");
                let mut out = String::new();
                v::format_halfvec(&x, &mut out);
                let back = v::parse_halfvec(&out).map_err(|e| TestCaseError::fail(format!("{out:?} does not parse: {e:?}")))?;
                prop_assert!(back.iter().map(|e| e.to_bits()).eq(x.iter().map(|e| e.to_bits())), "{s:?} -> {out:?}");
            }
            let _ = v::parse_halfvec_typmod(&s, typmod);
            if let Ok(sv) = v::parse_sparsevec(&s) {
                check_sparse(&sv, &s)?;
                let mut out = String::new();
                v::format_sparsevec(&sv, &mut out);
                let back = v::parse_sparsevec(&out).map_err(|e| TestCaseError::fail(format!("{out:?} does not parse: {e:?}")))?;
                prop_assert_eq!(&back.indices, &sv.indices);
                prop_assert!(back.values.iter().map(|e| e.to_bits()).eq(sv.values.iter().map(|e| e.to_bits())));
            }
            let _ = v::parse_sparsevec_typmod(&s, typmod);
            Ok(())
        })
        .map_err(|e| e.to_string())
}

fn check_sparse(sv: &SparseVec, s: &str) -> Result<(), TestCaseError> {
    prop_assert!(sv.dim >= 1 && sv.dim as usize <= v::SPARSEVEC_MAX_DIM, "{s:?}");
    prop_assert!(sv.indices.len() == sv.values.len() && sv.nnz() <= v::SPARSEVEC_MAX_NNZ, "{s:?}");
    prop_assert!(sv.indices.windows(2).all(|w| w[0] < w[1]), "{s:?}: indices not increasing");
    prop_assert!(sv.indices.iter().all(|&i| i >= 0 && i < sv.dim), "{s:?}: index out of range");
    prop_assert!(sv.values.iter().all(|&x| x != 0.0 && x.is_finite()), "{s:?}: stored zero or non-finite");
    Ok(())
}

/// Receive buffers: a plausible header (dims, unused, nnz) followed by arbitrary bytes, or noise.
fn recv_input() -> impl Strategy<Value = Vec<u8>> {
    let header16 = (prop_oneof![0i16..20, any::<i16>()], prop_oneof![Just(0i16), any::<i16>()], proptest::collection::vec(any::<u8>(), 0..96))
        .prop_map(|(d, u, rest)| {
            let mut b = d.to_be_bytes().to_vec();
            b.extend_from_slice(&u.to_be_bytes());
            b.extend(rest);
            b
        });
    let header32 = (prop_oneof![0i32..50, any::<i32>()], prop_oneof![0i32..8, any::<i32>()], prop_oneof![Just(0i32), any::<i32>()], proptest::collection::vec(any::<u8>(), 0..96))
        .prop_map(|(d, n, u, rest)| {
            let mut b = d.to_be_bytes().to_vec();
            b.extend_from_slice(&n.to_be_bytes());
            b.extend_from_slice(&u.to_be_bytes());
            b.extend(rest);
            b
        });
    prop_oneof![header16, header32, proptest::collection::vec(any::<u8>(), 0..64)]
}

fn binary(cases: u32) -> Result<(), String> {
    runner(cases)
        .run(&(recv_input(), -2i32..30), |(b, typmod)| {
            if let Ok((x, used)) = binary::vector_recv(&b, typmod) {
                prop_assert!(used <= b.len() && !x.is_empty() && x.iter().all(|e| e.is_finite()));
                prop_assert!(typmod < 1 || x.len() == typmod as usize);
                prop_assert_eq!(binary::vector_send(&x), b[..used].to_vec(), "send(recv(b)) differs");
            }
            if let Ok((x, used)) = binary::halfvec_recv(&b, typmod) {
                prop_assert!(used <= b.len() && !x.is_empty() && x.iter().all(|e: &f16| e.is_finite()));
                prop_assert_eq!(binary::halfvec_send(&x), b[..used].to_vec(), "send(recv(b)) differs");
            }
            if let Ok((sv, used)) = binary::sparsevec_recv(&b, typmod) {
                prop_assert!(used <= b.len());
                check_sparse(&sv, "binary")?;
                prop_assert_eq!(binary::sparsevec_send(&sv), b[..used].to_vec(), "send(recv(b)) differs");
            }
            Ok(())
        })
        .map_err(|e| e.to_string())
}

fn typmod(cases: u32) -> Result<(), String> {
    runner(cases)
        .run(&(proptest::collection::vec(any::<i32>(), 0..4), 1usize..100_000), |(mods, max)| {
            if let Ok(t) = v::typmod_in("vector", &mods, max) {
                prop_assert!(mods.len() == 1 && t >= 1 && t as usize <= max && t == mods[0]);
            }
            Ok(())
        })
        .map_err(|e| e.to_string())
}

/// A small built index, copied into a fresh relation for every case.
fn index_pages() -> Vec<Vec<u8>> {
    let mut s = 0x9E37_79B9_7F4A_7C15u64;
    let mut arena = BuildArena::new();
    for i in 0..400u32 {
        let x: Vec<f32> = (0..8)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 1000) as f32 / 10.0
            })
            .collect();
        arena.push(f32_bytes(&x), Tid::new(1 + i / 50, 1 + (i % 50) as u16));
    }
    let params = BuildParams { m: 4, ef_construction: 16, seed: 1 };
    let graph = build_graph_parallel(&arena, &params, &L2Squared::new(), 1, &AtomicBool::new(false), &AtomicUsize::new(0)).unwrap();
    let rel = MemRelation::new();
    write_graph(&rel, &arena, &graph, &IndexOptions { dims: 8, m: 4, ef_construction: 16, vector_kind: 1 }).unwrap();
    (0..rel.nblocks()).map(|b| rel.read(b).as_bytes().to_vec()).collect()
}

fn pages(cases: u32) -> Result<(), String> {
    let pages = index_pages();
    let n = pages.len();
    let damage = proptest::collection::vec((0..n, 0usize..8192, any::<u8>(), any::<bool>()), 1..24);
    runner(cases)
        .run(&damage, |hits| {
            let rel = MemRelation::new();
            for p in &pages {
                let (_, mut g) = rel.extend();
                g.as_bytes_mut().copy_from_slice(p);
            }
            for (blk, at, val, header) in hits {
                // Half the hits land in the header, line pointers or special area, where
                // damage matters most.
                let at = if header { if at % 2 == 0 { at % 96 } else { 8191 - at % 8 } } else { at };
                rel.write(blk as u32).as_bytes_mut()[at] = val;
            }
            let opts = CheckOptions { payload_len: Some(32), collect_heap_tids: true, ..CheckOptions::default() };
            let r = check_index(&rel, &opts, &mut || {});
            prop_assert!(r.problem_count as usize >= r.problems.len());
            Ok(())
        })
        .map_err(|e| e.to_string())
}

fn main() {
    let cases: u32 = std::env::var("FUZZ_CASES").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let all = ["text", "binary", "typmod", "pages"];
    let targets: Vec<&str> = if args.is_empty() { all.to_vec() } else { args.iter().map(|s| s.as_str()).collect() };
    let mut failed = 0;
    for t in targets {
        let start = Instant::now();
        let (n, r) = match t {
            "text" => (cases, text(cases)),
            "binary" => (cases, binary(cases)),
            "typmod" => (cases, typmod(cases)),
            "pages" => ((cases / 50).max(1), pages((cases / 50).max(1))),
            other => {
                eprintln!("unknown target {other}; known: {all:?}");
                std::process::exit(2);
            }
        };
        match r {
            Ok(()) => println!("  ok    fuzz {t}: {n} cases without a panic or a broken invariant ({:.0}s)", start.elapsed().as_secs_f64()),
            Err(e) => {
                failed += 1;
                println!("  FAIL  fuzz {t}: {e}");
            }
        }
    }
    std::process::exit(if failed > 0 { 1 } else { 0 });
}
