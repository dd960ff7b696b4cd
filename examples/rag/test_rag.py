"""Tests of the RAG example against the project cluster (run by tests/scenarios/clients.sh):
chunking and embedding happen in the database, the model's HNSW index serves retrieval, and
retrieve() returns the right chunks with their parent documents."""

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

import rag

HERE = Path(__file__).resolve().parent
HOST = os.environ.get("PGHOST", "/tmp")
PORT = os.environ.get("PGPORT", "28815")
USER = os.environ.get("PGUSER", "postgres")
DB = "semvec_rag_example"
URL = f"postgresql+psycopg://{USER}@/{DB}?host={HOST}&port={PORT}"


@pytest.fixture(scope="module")
def engine():
    admin = create_engine(f"postgresql+psycopg://{USER}@/postgres?host={HOST}&port={PORT}", isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
        c.execute(text(f"CREATE DATABASE {DB}"))
    eng = create_engine(URL)
    rag.init_schema(eng)
    with Session(eng) as s, s.begin():
        for path in sorted((HERE / "corpus").glob("*.md")):
            body = path.read_text()
            rag.ingest(s, title=body.splitlines()[0].lstrip("# "), body=body, source=path.name)
    yield eng
    eng.dispose()
    with admin.connect() as c:
        c.execute(text(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)"))
    admin.dispose()


@pytest.fixture
def session(engine):
    with Session(engine) as s:
        yield s
        s.rollback()


def explain(session, stmt):
    sql = stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True})
    session.execute(text("SET LOCAL enable_seqscan = off"))
    return "\n".join(session.scalars(text(f"EXPLAIN (COSTS OFF) {sql}")))


def test_documents_are_chunked_in_the_database_by_chunk_text(session):
    docs = session.scalars(select(rag.Document).order_by(rag.Document.id)).all()
    assert len(docs) == 5
    for doc in docs:
        expected = session.execute(
            select(func.chunk_text(doc.body, rag.CHUNK_TOKENS, rag.CHUNK_OVERLAP)
                   .table_valued("chunk_no", "chunk").render_derived())).all()
        assert [(c.chunk_no, c.content) for c in doc.chunks] == [tuple(r) for r in expected]
        assert len(doc.chunks) >= 2, "each corpus document is longer than one chunk"
        for c in doc.chunks:
            assert session.scalar(select(func.count_tokens(c.content))) <= rag.CHUNK_TOKENS


def test_chunks_are_embedded_by_the_generated_column(session):
    worst = session.scalar(select(func.max(rag.Chunk.embedding.cosine_distance(func.embed(rag.Chunk.content)))))
    assert worst < 1e-6
    chunk = session.scalars(select(rag.Chunk).order_by(rag.Chunk.id).limit(1)).one()
    before = list(chunk.embedding)
    chunk.content = "A completely different text about penguins on the Antarctic ice."
    session.flush()
    session.refresh(chunk)
    assert list(chunk.embedding) != before
    assert session.scalar(select(rag.Chunk.embedding.cosine_distance(func.embed(rag.Chunk.content)))
                          .where(rag.Chunk.id == chunk.id)) < 1e-6


def test_hnsw_index_declared_in_the_model_serves_semantic_search(session):
    indexdef = session.scalar(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'chunks_embedding_hnsw'"))
    assert indexdef == ("CREATE INDEX chunks_embedding_hnsw ON public.chunks USING hnsw "
                        "(embedding vector_cosine_ops) WITH (m='16', ef_construction='64')")
    plan = explain(session, rag.semantic_query("How do volcanoes erupt?", 3))
    assert "Index Scan using chunks_embedding_hnsw on chunks" in plan


QUESTIONS = [
    ("How do central banks fight inflation?", "How central banks fight inflation"),
    ("What makes an eruption explosive?", "Why volcanoes erupt"),
    ("How long should my longest run be before the race?", "Training for a first marathon"),
    ("Why bake the loaf in a covered pot?", "Baking sourdough bread at home"),
    ("How does a graph index find the closest vectors?", "Approximate nearest neighbour search with HNSW"),
]


@pytest.mark.parametrize("question, title", QUESTIONS)
def test_semantic_retrieval_finds_the_document_that_answers(session, question, title):
    hits = rag.retrieve(session, question, k=3, mode="semantic")
    assert len(hits) == 3
    assert hits[0].document.title == title
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for h in hits:
        assert h.chunk.document_id == h.document.id
        assert h.chunk in h.document.chunks


@pytest.mark.parametrize("question, title", QUESTIONS)
def test_hybrid_retrieval_finds_the_document_that_answers(session, question, title):
    if not rag.hybrid_available(session):
        pytest.skip("semvec's hybrid_search() is not installed")
    hits = rag.retrieve(session, question, k=3, mode="hybrid")
    assert hits[0].document.title == title
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_hybrid_retrieval_ranks_exact_keywords(session):
    if not rag.hybrid_available(session):
        pytest.skip("semvec's hybrid_search() is not installed")
    hits = rag.retrieve(session, "sulphur dioxide", k=3, mode="hybrid")
    assert hits[0].document.title == "Why volcanoes erupt"
    assert hits[0].keyword_rank == 1
    assert "sulphur dioxide" in hits[0].chunk.content
    # auto mode picks hybrid when it is available
    auto = rag.retrieve(session, "sulphur dioxide", k=3)
    assert [(h.chunk.id, h.keyword_rank) for h in auto] == [(h.chunk.id, h.keyword_rank) for h in hits]


def test_context_for_prompt_names_the_sources(session):
    hits = rag.retrieve(session, "quantitative tightening", k=2, mode="semantic")
    context = rag.context_for_prompt(hits)
    assert context.startswith("[1] How central banks fight inflation (part ")
    assert hits[0].chunk.content in context


def test_deleting_a_document_deletes_its_chunks(session):
    doc = session.scalars(select(rag.Document).where(rag.Document.title == "Baking sourdough bread at home")).one()
    n = len(doc.chunks)
    total = session.scalar(select(func.count()).select_from(rag.Chunk))
    session.delete(doc)
    session.flush()
    assert session.scalar(select(func.count()).select_from(rag.Chunk)) == total - n
    hits = rag.retrieve(session, "Why bake the loaf in a covered pot?", k=3, mode="semantic")
    assert all(h.document.title != "Baking sourdough bread at home" for h in hits)
