//! Distance kernel throughput for every backend the CPU supports.
//!
//! `cargo bench -p semvec-simd` (add `-- l2_f32/768` to filter).

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use half::f16;
use semvec_simd::{self as simd, Backend};
use std::hint::black_box;

const DIMS: [usize; 4] = [128, 384, 768, 1536];

fn data(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed.wrapping_mul(2_654_435_761).max(1);
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        })
        .collect()
}

fn bench_f32(c: &mut Criterion) {
    type Kernel = fn(Backend, &[f32], &[f32]) -> f64;
    let kernels: [(&str, Kernel); 4] = [
        ("l2_f32", |be, a, b| f64::from(be.l2_squared_f32(a, b))),
        ("dot_f32", |be, a, b| f64::from(be.dot_f32(a, b))),
        ("l1_f32", |be, a, b| f64::from(be.l1_f32(a, b))),
        ("cosine_f32", |be, a, b| be.cosine_distance_f32(a, b)),
    ];
    for (name, kernel) in kernels {
        let mut group = c.benchmark_group(name);
        for n in DIMS {
            let (a, b) = (data(n, 1), data(n, 2));
            group.throughput(Throughput::Elements(n as u64));
            for be in Backend::available() {
                group.bench_with_input(BenchmarkId::new(be.name(), n), &n, |bench, _| {
                    bench.iter(|| kernel(be, black_box(&a), black_box(&b)))
                });
            }
        }
        group.finish();
    }
}

fn bench_f16(c: &mut Criterion) {
    type Kernel = fn(Backend, &[f16], &[f16]) -> f64;
    let kernels: [(&str, Kernel); 3] = [
        ("l2_f16", |be, a, b| f64::from(be.l2_squared_f16(a, b))),
        ("dot_f16", |be, a, b| f64::from(be.dot_f16(a, b))),
        ("cosine_f16", |be, a, b| be.cosine_distance_f16(a, b)),
    ];
    for (name, kernel) in kernels {
        let mut group = c.benchmark_group(name);
        for n in DIMS {
            let to_half = |v: Vec<f32>| v.into_iter().map(f16::from_f32).collect::<Vec<_>>();
            let (a, b) = (to_half(data(n, 3)), to_half(data(n, 4)));
            group.throughput(Throughput::Elements(n as u64));
            for be in Backend::available() {
                group.bench_with_input(BenchmarkId::new(be.name(), n), &n, |bench, _| {
                    bench.iter(|| kernel(be, black_box(&a), black_box(&b)))
                });
            }
        }
        group.finish();
    }
}

fn bench_bits(c: &mut Criterion) {
    let mut group = c.benchmark_group("hamming");
    for bits in [256usize, 1024, 4096] {
        let a: Vec<u8> = data(bits / 8, 5).iter().map(|x| x.to_bits() as u8).collect();
        let b: Vec<u8> = data(bits / 8, 6).iter().map(|x| x.to_bits() as u8).collect();
        group.throughput(Throughput::Elements(bits as u64));
        for be in Backend::available() {
            group.bench_with_input(BenchmarkId::new(be.name(), bits), &bits, |bench, _| {
                bench.iter(|| be.hamming(black_box(&a), black_box(&b)))
            });
        }
    }
    group.finish();
}

fn bench_sparse(c: &mut Criterion) {
    let mut group = c.benchmark_group("sparse_dot");
    for nnz in [32usize, 256] {
        let ai: Vec<u32> = (0..nnz as u32).map(|i| i * 3).collect();
        let bi: Vec<u32> = (0..nnz as u32).map(|i| i * 2).collect();
        let (av, bv) = (data(nnz, 7), data(nnz, 8));
        group.throughput(Throughput::Elements(nnz as u64));
        group.bench_with_input(BenchmarkId::from_parameter(nnz), &nnz, |bench, _| {
            bench.iter(|| simd::sparse_dot(black_box(&ai), black_box(&av), black_box(&bi), black_box(&bv)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_f32, bench_f16, bench_bits, bench_sparse);
criterion_main!(benches);
