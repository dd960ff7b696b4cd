"""docs/rag.md's SQL walkthrough runs as written, in order, in an empty database, and does what the
text says: chunks are stored with their embeddings, retrieval goes through the HNSW index, hybrid
search ranks the exact keyword first."""

import re
from pathlib import Path

import psycopg
import pytest

from conftest import conninfo

DOC = Path(__file__).resolve().parents[3] / "docs" / "rag.md"
DB = "semvec_docs_rag"


def sql_blocks():
    return re.findall(r"```sql\n(.*?)```", DOC.read_text(), flags=re.S)


def statements(block):
    # one statement per execute: CALL semvec_embed_table commits, so it must not share an
    # implicit transaction with other statements
    return [s.strip() for s in re.split(r";\s*\n", block) if s.strip()]


@pytest.fixture(scope="module")
def walkthrough():
    with psycopg.connect(conninfo("postgres"), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {DB}")
    results = []
    with psycopg.connect(conninfo(DB), autocommit=True) as conn:
        for block in sql_blocks():
            for stmt in statements(block):
                cur = conn.execute(stmt.rstrip(";"))
                results.append((stmt, cur.fetchall() if cur.description else None))
        yield conn, results
    with psycopg.connect(conninfo("postgres"), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")


def result_of(results, starts):
    return next(rows for stmt, rows in results if stmt.startswith(starts))


def test_every_sql_block_runs(walkthrough):
    _, results = walkthrough
    assert len(sql_blocks()) == 9
    assert len(results) >= 12


def test_documents_are_chunked_and_embedded(walkthrough):
    conn, results = walkthrough
    rows = result_of(results, "SELECT document_id, chunk_no, count_tokens")
    assert {r[0] for r in rows} == {1, 2, 3}
    assert len(rows) > 3, "the example documents are longer than one 32-token chunk"
    assert all(r[2] <= 32 for r in rows)
    assert conn.execute("SELECT count(*) FROM chunks WHERE embedding IS NULL").fetchone()[0] == 0
    assert result_of(results, "SELECT rows_done, rows_total, finished") == [(len(rows), len(rows), True)]


def test_retrieval_finds_the_answer_through_the_index(walkthrough):
    conn, results = walkthrough
    rows = result_of(results, "SELECT d.title, c.chunk_no, c.content, 1 -")
    assert rows[0][0] == "Central banks"
    query = next(stmt for stmt, _ in results if stmt.startswith("SELECT d.title, c.chunk_no, c.content, 1 -"))
    conn.execute("SET enable_seqscan = off")
    plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (COSTS OFF) " + query.rstrip(";")))
    conn.execute("RESET enable_seqscan")
    assert "Index Scan using chunks_embedding_hnsw on chunks" in plan
    assert "embed(" not in plan, "the question's embedding is folded into the plan"


def test_hybrid_search_ranks_the_keyword_first(walkthrough):
    _, results = walkthrough
    rows = result_of(results, "SELECT d.title, c.chunk_no, h.score")
    assert rows[0][0] == "Volcanoes"
    assert rows[0][3] == 1  # keyword_rank
    assert "sulphur dioxide" in rows[0][5]


def test_prompt_context_lists_the_best_chunks(walkthrough):
    _, results = walkthrough
    (context,) = result_of(results, "SELECT string_agg(")[0]
    assert context.startswith("[1] Volcanoes: ")
    assert "[2] " in context


def test_vectorizer_embeds_changed_rows_only(walkthrough):
    conn, results = walkthrough
    rows = result_of(results, "SELECT name, pending, in_progress, done, failed, last_error")
    assert rows == [("articles", 0, 0, 2, 0, None)]
    stale = conn.execute(
        "SELECT count(*) FROM articles WHERE embedding IS NULL OR cosine_distance(embedding, embed(title || ': ' || body)) > 1e-6"
    ).fetchone()[0]
    assert stale == 0
    conn.execute("UPDATE articles SET views = views + 1")
    assert conn.execute("SELECT pending FROM semvec_vectorizer_status").fetchone()[0] == 0
    conn.execute("UPDATE articles SET body = body || ' More.' WHERE title = 'Tides'")
    assert conn.execute("SELECT pending FROM semvec_vectorizer_status").fetchone()[0] == 1
