#!/usr/bin/env python3
"""Retrieval quality of semvec on BEIR SciFact: nDCG@10 and recall@100 per ranking method.

Loads the corpus into a table, computes the tsvector (english) and, in-database with embed(), the
embeddings of title + ' ' + text, builds the GIN and HNSW indexes, registers the column for BM25 and
scores every method on the 300 test queries. Run it through scripts/eval/scifact.sh, which starts the
project cluster; only `psql` and the Python standard library are used.
"""

import argparse
import csv
import gzip
import json
import math
import os
import subprocess
import sys
import tempfile
import time

TABLE = "scifact_docs"
QUERIES = "scifact_queries"
CACHE = "scifact_embedding_cache"


class Psql:
    def __init__(self, host, port, user, db):
        self.base = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", host, "-p", str(port), "-U", user]
        self.db = db

    def run(self, sql, db=None, capture=True, retries=0):
        """Run a script; return its unaligned, tab-separated output lines. `retries`: how often to
        try again after the connection is lost (the server restarted), for idempotent scripts."""
        cmd = self.base + ["-d", db or self.db, "-At", "-F", "\t"]
        for attempt in range(retries + 1):
            res = subprocess.run(cmd, input=sql, text=True, capture_output=capture)
            if res.returncode == 0:
                return [line for line in (res.stdout or "").splitlines() if line != ""]
            lost = "connection to server was lost" in (res.stderr or "") or "could not connect" in (res.stderr or "")
            if not lost or attempt == retries:
                break
            log("connection lost; retrying in 10 s")
            time.sleep(10)
        sys.stderr.write(res.stderr if capture else "")
        raise SystemExit(f"psql failed on:\n{sql[:2000]}")

    def value(self, sql, retries=0):
        rows = self.run(sql, retries=retries)
        return rows[-1] if rows else None


def log(msg):
    sys.stderr.write(f"\033[1;34m==>\033[0m {msg}\n")
    sys.stderr.flush()


def read_jsonl(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                yield json.loads(line)


def read_qrels(path):
    qrels = {}
    with open(path, encoding="utf-8") as f:
        reader = csv.reader(f, delimiter="\t")
        next(reader)
        for qid, did, score in reader:
            if int(score) > 0:
                qrels.setdefault(qid, {})[did] = int(score)
    return qrels


def load(psql, data, work, reload):
    exists = psql.value(f"SELECT count(*) FROM pg_class WHERE relname = '{TABLE}'") == "1"
    if exists and not reload:
        n = psql.value(f"SELECT count(*) FROM {TABLE}")
        log(f"{TABLE} already loaded ({n} rows); --reload to start over")
        return
    corpus_csv = os.path.join(work, "corpus.csv")
    queries_csv = os.path.join(work, "queries.csv")
    with open(corpus_csv, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        for d in read_jsonl(os.path.join(data, "corpus.jsonl.gz")):
            w.writerow([d["_id"], d.get("title", ""), d.get("text", "")])
    with open(queries_csv, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        for q in read_jsonl(os.path.join(data, "queries.jsonl")):
            w.writerow([q["_id"], q["text"]])
    log("loading corpus and queries")
    psql.run(f"""
DROP TABLE IF EXISTS {TABLE}, {QUERIES};
CREATE TABLE {TABLE} (
    id bigint PRIMARY KEY,
    title text NOT NULL,
    body text NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', title || ' ' || body)) STORED,
    embedding vector(384)
);
CREATE TABLE {QUERIES} (id bigint PRIMARY KEY, text text NOT NULL, embedding vector(384), bq bm25query);
\\copy {TABLE} (id, title, body) FROM '{corpus_csv}' WITH (FORMAT csv)
\\copy {QUERIES} (id, text) FROM '{queries_csv}' WITH (FORMAT csv)
CREATE INDEX {TABLE}_tsv_idx ON {TABLE} USING gin (tsv);
SELECT bm25_create('{TABLE}', 'tsv', 'english');
ANALYZE {TABLE};
""")


def embed(psql, batch):
    if psql.value("SELECT to_regprocedure('embed(text)') IS NOT NULL") != "t":
        log("embed(text) is not installed: dense and hybrid runs are skipped")
        return False
    total = int(psql.value(f"SELECT count(*) FROM {TABLE}"))
    # Embeddings survive a reload (or DROP EXTENSION) in a plain real[] table, written batch by batch.
    psql.run(f"""
CREATE TABLE IF NOT EXISTS {CACHE} (id bigint PRIMARY KEY, input_md5 text NOT NULL, embedding real[] NOT NULL);
UPDATE {TABLE} d SET embedding = c.embedding::vector
  FROM {CACHE} c WHERE d.embedding IS NULL AND c.id = d.id AND c.input_md5 = md5(d.title || ' ' || d.body);""")
    todo = int(psql.value(f"SELECT count(*) FROM {TABLE} WHERE embedding IS NULL"))
    if todo:
        log(f"embedding {todo} of {total} documents in-database (embed_batch, {batch} a statement)")
    start = time.time()
    done = 0
    while True:
        n = int(psql.value(f"""
WITH batch AS (
    SELECT array_agg(id ORDER BY id) AS ids, array_agg(title || ' ' || body ORDER BY id) AS texts
      FROM (SELECT id, title, body FROM {TABLE} WHERE embedding IS NULL ORDER BY id LIMIT {batch}) b),
vecs AS (
    SELECT u.id, u.v FROM batch, unnest(batch.ids, embed_batch(batch.texts)) AS u(id, v))
, upd AS (UPDATE {TABLE} d SET embedding = vecs.v FROM vecs WHERE d.id = vecs.id
             RETURNING d.id, md5(d.title || ' ' || d.body) AS input_md5, d.embedding::real[] AS embedding)
, cached AS (INSERT INTO {CACHE} SELECT * FROM upd
             ON CONFLICT (id) DO UPDATE SET input_md5 = excluded.input_md5, embedding = excluded.embedding)
SELECT count(*) FROM upd""", retries=20))
        if n == 0:
            break
        done += n
        rate = done / (time.time() - start)
        sys.stderr.write(f"\r    {total - todo + done}/{total} documents, {rate:.1f}/s, "
                         f"{(todo - done) / rate:.0f} s left   ")
        sys.stderr.flush()
    if todo:
        sys.stderr.write("\n")
        log(f"embedded {todo} documents in {time.time() - start:.0f} s")
    psql.run(f"UPDATE {QUERIES} SET embedding = embed(text) WHERE embedding IS NULL")
    if psql.value(f"SELECT count(*) FROM pg_indexes WHERE indexname = '{TABLE}_embedding_idx'") == "0":
        log("building the HNSW index (m = 16, ef_construction = 64, cosine)")
        t = time.time()
        psql.run(f"CREATE INDEX {TABLE}_embedding_idx ON {TABLE} USING hnsw (embedding vector_cosine_ops); ANALYZE {TABLE};")
        log(f"HNSW index built in {time.time() - t:.1f} s")
    return True


# Each method: (name, settings, SQL yielding (query id, doc id, rank) for every query, what it needs).
def methods(dense):
    lateral = f"SELECT q.id, r.id, r.rank FROM {QUERIES} q CROSS JOIN LATERAL ({{}}) r"
    out = [
        ("Postgres ts_rank_cd, AND query (websearch_to_tsquery)", "",
         lateral.format(f"""SELECT d.id, row_number() OVER (ORDER BY ts_rank_cd(d.tsv, wq) DESC, d.id) AS rank
              FROM {TABLE} d, websearch_to_tsquery('english', q.text) wq
             WHERE d.tsv @@ wq ORDER BY rank LIMIT 100""")),
        ("Postgres ts_rank_cd, OR of the query's lexemes", "",
         lateral.format(f"""SELECT d.id, row_number() OVER (ORDER BY ts_rank_cd(d.tsv, (q.bq).or_query) DESC, d.id) AS rank
              FROM {TABLE} d WHERE d.tsv @@ (q.bq).or_query ORDER BY rank LIMIT 100""")),
        ("BM25, bm25_search() (k1 = 1.2, b = 0.75)", "",
         lateral.format(f"SELECT id, rank FROM bm25_search('{TABLE}', 'id', 'tsv', q.text, 100)")),
    ]
    if dense:
        out += [
            ("dense exact (seq scan, cosine)", "SET enable_indexscan = off;",
             lateral.format(f"""SELECT d.id, row_number() OVER (ORDER BY d.embedding <=> q.embedding, d.id) AS rank
                  FROM {TABLE} d ORDER BY rank LIMIT 100""")),
            ("dense HNSW (ef_search = 100)", "SET hnsw.ef_search = 100;",
             lateral.format(f"""SELECT v.id, row_number() OVER () AS rank FROM (
                  SELECT d.id FROM {TABLE} d ORDER BY d.embedding <=> q.embedding LIMIT 100) v""")),
            ("hybrid_search(), RRF k = 60 (depth 100 + 100)", "",
             lateral.format(f"""SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank FROM hybrid_search(
                  '{TABLE}', 'id', 'tsv', 'embedding', q.text, q.embedding, top_k => 100)""")),
            ("hybrid_search(), RRF k = 10 (depth 100 + 100)", "",
             lateral.format(f"""SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank FROM hybrid_search(
                  '{TABLE}', 'id', 'tsv', 'embedding', q.text, q.embedding, top_k => 100, rrf_k => 10)""")),
            ("hybrid_search(), RRF k = 60, query embedded in the call", "",
             lateral.format(f"""SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank FROM hybrid_search(
                  '{TABLE}', 'id', 'tsv', 'embedding', q.text, top_k => 100)""")),
        ]
    return out


def ndcg_at(ranked, rel, k):
    dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked[:k]))
    ideal = sorted(rel.values(), reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at(ranked, rel, k):
    return len(set(ranked[:k]) & set(rel)) / len(rel)


def evaluate(run, qrels):
    """Mean nDCG@10 and recall@100 over the queries that have judgments (BEIR's convention)."""
    nd, rc = [], []
    for qid, rel in qrels.items():
        ranked = [d for _, d in sorted(run.get(qid, []))]
        nd.append(ndcg_at(ranked, rel, 10))
        rc.append(recall_at(ranked, rel, 100))
    return sum(nd) / len(nd), sum(rc) / len(rc)


def ranked_with_scores(psql, settings, sql):
    """{query id: [(doc id, score), ...] best first} from SQL yielding (query id, rank, doc id, score)."""
    out = {}
    for line in psql.run(f"{settings} {sql}"):
        qid, rank, did, score = line.split("\t")
        out.setdefault(qid, []).append((int(rank), did, float(score)))
    return {q: [(d, sc) for _, d, sc in sorted(v)] for q, v in out.items()}


def compare_rankings(a, b, rel=1e-9):
    """Queries whose top lists differ: ids rank by rank, scores within `rel` (relative)."""
    bad = []
    for q in sorted(set(a) | set(b), key=lambda x: int(x)):
        ra, rb = a.get(q, []), b.get(q, [])
        same = len(ra) == len(rb) and all(
            x[0] == y[0] and (x[1] == y[1] or abs(x[1] - y[1]) <= rel * max(abs(x[1]), abs(y[1])))
            for x, y in zip(ra, rb))
        if not same:
            bad.append(q)
    return bad


def compare_index(psql, qrels, dense, nq):
    """--compare-index: BM25 and hybrid with the bm25 index against today's path (GIN candidates,
    every candidate scored): identical top-10 (ids and scores, relative 1e-9) for every query, and
    nDCG@10 / recall@100 of both. Today's path is `semvec.bm25_index_search = off` with the index
    present when that setting exists, else the table without the index."""
    if psql.value("SELECT count(*) FROM pg_am WHERE amname = 'bm25'") != "1":
        log("no bm25 access method in this semvec: --compare-index skipped")
        print("\n--compare-index: skipped, this semvec has no bm25 access method.")
        return
    guc = psql.value("SELECT bm25_document_length(''::tsvector); "
                     "SELECT current_setting('semvec.bm25_index_search', true) IS NOT NULL") == "t"
    index = f"{TABLE}_bm25_idx"
    create = f"CREATE INDEX IF NOT EXISTS {index} ON {TABLE} USING bm25 (tsv); ANALYZE {TABLE};"
    # The index counts row versions until VACUUM removes the dead ones (N, lengths, df), today's
    # path counts live rows only: after the embedding UPDATEs of a first run the two differ until
    # then. Compare like with like.
    log(f"VACUUM {TABLE} (the index's statistics count dead row versions until VACUUM)")
    psql.run(f"VACUUM ANALYZE {TABLE}")
    if guc:
        psql.run(create)
        paths = [("today's path (semvec.bm25_index_search = off)", "SET semvec.bm25_index_search = off;"),
                 ("bm25 index", "SET semvec.bm25_index_search = on;")]
    else:
        log("semvec.bm25_index_search does not exist: today's path runs without the index")
        psql.run(f"DROP INDEX IF EXISTS {index}")
        paths = [("today's path (no bm25 index)", ""), ("bm25 index", None)]
    lateral = f"SELECT q.id, r.id, r.rank FROM {QUERIES} q CROSS JOIN LATERAL ({{}}) r"
    kinds = [("BM25, bm25_search()",
              lateral.format(f"SELECT id, rank FROM bm25_search('{TABLE}', 'id', 'tsv', q.text, 100)"),
              f"""SELECT q.id, r.rank, r.id, r.score FROM {QUERIES} q
                    CROSS JOIN LATERAL bm25_search('{TABLE}', 'id', 'tsv', q.text, 10) r""")]
    if dense:
        kinds.append(("hybrid_search(), RRF k = 60",
                      lateral.format(f"""SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank FROM hybrid_search(
                          '{TABLE}', 'id', 'tsv', 'embedding', q.text, q.embedding, top_k => 100)"""),
                      f"""SELECT q.id, row_number() OVER (PARTITION BY q.id ORDER BY h.score DESC, h.id), h.id, h.score
                            FROM {QUERIES} q CROSS JOIN LATERAL hybrid_search(
                                 '{TABLE}', 'id', 'tsv', 'embedding', q.text, q.embedding, top_k => 10) h"""))
    rows, tops = [], {}
    for label, settings in paths:
        if settings is None:
            psql.run(create)
            settings = ""
        for name, sql, top_sql in kinds:
            log(f"{name}: {label}")
            psql.run(f"{settings} SELECT count(*) FROM ({sql}) warm")
            t = time.time()
            lines = psql.run(f"{settings} {sql}")
            elapsed = time.time() - t
            run = {}
            for line in lines:
                qid, did, rank = line.split("\t")
                run.setdefault(qid, []).append((int(rank), did))
            ndcg, recall = evaluate(run, qrels)
            rows.append((f"{name}: {label}", ndcg, recall, 1000 * elapsed / nq))
            tops[(name, label)] = ranked_with_scores(psql, settings, top_sql)
            log(f"    nDCG@10 {ndcg:.4f}  recall@100 {recall:.4f}  {1000 * elapsed / nq:.1f} ms/query")
    print("\nbm25 index against today's path (--compare-index):\n")
    print("| method | nDCG@10 | recall@100 | ms/query |")
    print("|---|---:|---:|---:|")
    for name, ndcg, recall, ms in rows:
        print(f"| {name} | {ndcg:.3f} | {recall:.3f} | {ms:.1f} |")
    print()
    failed = False
    for name, _, _ in kinds:
        a, b = tops[(name, paths[0][0])], tops[(name, paths[1][0])]
        bad = compare_rankings(a, b)
        failed |= bool(bad)
        print(f"{name}, top-10 of {len(set(a) | set(b))} queries: {len(bad)} differ (ids rank by rank, "
              f"scores within 1e-9 relative){': ' + ', '.join(bad[:10]) if bad else ''}")
    if failed:
        raise SystemExit("the bm25 index and today's path disagree")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", required=True)
    ap.add_argument("--host", default="/tmp")
    ap.add_argument("--port", default="28815")
    ap.add_argument("--user", default="postgres")
    ap.add_argument("--db", default="semvec_scifact")
    ap.add_argument("--reload", action="store_true", help="re-create the extension and reload the tables (embeddings are cached)")
    ap.add_argument("--keyword-only", action="store_true", help="skip embedding, dense and hybrid runs")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--only", help="run only the methods whose name contains this text")
    ap.add_argument("--compare-index", action="store_true",
                    help="also run BM25 and hybrid with the bm25 index and with today's path, and check they agree")
    ap.add_argument("--compare-only", action="store_true", help="with --compare-index: skip the usual method table")
    args = ap.parse_args()

    psql = Psql(args.host, args.port, args.user, args.db)
    if psql.run(f"SELECT 1 FROM pg_database WHERE datname = '{args.db}'", db="postgres") != ["1"]:
        psql.run(f'CREATE DATABASE "{args.db}"', db="postgres")
    if args.reload:
        psql.run(f"DROP TABLE IF EXISTS {TABLE}, {QUERIES}; DROP EXTENSION IF EXISTS semvec CASCADE")
    psql.run("CREATE EXTENSION IF NOT EXISTS semvec")
    with tempfile.TemporaryDirectory() as work:
        os.chmod(work, 0o755)
        load(psql, args.data, work, args.reload)
    psql.run(f"UPDATE {QUERIES} SET bq = bm25_query('{TABLE}', 'tsv', text) WHERE bq IS NULL")
    dense = False if args.keyword_only else embed(psql, args.batch)

    qrels = read_qrels(os.path.join(args.data, "qrels.tsv"))
    nq = int(psql.value(f"SELECT count(*) FROM {QUERIES}"))
    rows = []
    for name, settings, sql in methods(dense):
        if args.compare_only or (args.only and args.only not in name):
            continue
        log(name)
        psql.run(f"{settings} SELECT count(*) FROM ({sql}) warm")  # warm the caches once
        t = time.time()
        lines = psql.run(f"{settings} {sql}")
        elapsed = time.time() - t
        run = {}
        for line in lines:
            qid, did, rank = line.split("\t")
            run.setdefault(qid, []).append((int(rank), did))
        ndcg, recall = evaluate(run, qrels)
        rows.append((name, ndcg, recall, 1000 * elapsed / nq))
        log(f"    nDCG@10 {ndcg:.4f}  recall@100 {recall:.4f}  {1000 * elapsed / nq:.1f} ms/query")

    n_docs = psql.value(f"SELECT count(*) FROM {TABLE}")
    print(f"\nSciFact (BEIR test split): {n_docs} documents, {nq} queries, {len(qrels)} with judgments; "
          "title + ' ' + text; tsvector english; all-MiniLM-L6-v2 (embed()), cosine\n")
    print("| method | nDCG@10 | recall@100 | ms/query |")
    print("|---|---:|---:|---:|")
    for name, ndcg, recall, ms in rows:
        print(f"| {name} | {ndcg:.3f} | {recall:.3f} | {ms:.1f} |")
    if not dense:
        print("\nDense and hybrid rows: waiting on embed() (not installed in this database).")
    if args.compare_index:
        compare_index(psql, qrels, dense, nq)


if __name__ == "__main__":
    main()
