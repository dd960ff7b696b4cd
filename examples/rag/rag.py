"""A small retrieval-augmented generation (RAG) back end on semvec with SQLAlchemy 2 and psycopg 3.

Everything that touches the model runs inside PostgreSQL:

* documents are split into overlapping chunks by semvec's ``chunk_text()`` (cut on the embedding
  model's own tokenizer, preferring sentence ends), in the same INSERT that stores them;
* each chunk is embedded by ``embed()`` in a generated column, so a chunk can never be stored
  without its vector, nor with a stale one after an UPDATE of its text;
* an HNSW index (declared on the ORM model) serves the semantic search, and when semvec's BM25
  functions are installed ``hybrid_search()`` fuses keyword and semantic rankings.

``retrieve(session, question, k)`` returns the best chunks with their parent documents: what an
application would put in the prompt of a language model.

Run ``python app.py --help`` for a command line around it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pgvector.sqlalchemy import Vector
from sqlalchemy import (BigInteger, Computed, Float, ForeignKey, Identity, Index, Integer, Text,
                        UniqueConstraint, func, insert, literal, select, text)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

# all-MiniLM-L6-v2, semvec's default model, has 384 dimensions and reads at most 256 tokens: chunks
# of 128 tokens with a 16-token overlap keep every chunk whole and give retrieval fine granularity.
EMBEDDING_DIMS = 384
CHUNK_TOKENS = 128
CHUNK_OVERLAP = 16
TEXT_SEARCH_CONFIG = "english"


class Base(DeclarativeBase):
    pass


class Document(Base):
    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())

    chunks: Mapped[list[Chunk]] = relationship(
        back_populates="document", order_by="Chunk.chunk_no",
        cascade="all, delete-orphan", passive_deletes=True)


class Chunk(Base):
    __tablename__ = "chunks"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    document_id: Mapped[int] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    chunk_no: Mapped[int] = mapped_column(Integer)
    content: Mapped[str] = mapped_column(Text)
    # embedded by the database on INSERT and on UPDATE of content
    embedding: Mapped[list[float]] = mapped_column(
        Vector(EMBEDDING_DIMS), Computed("embed(content)", persisted=True))

    document: Mapped[Document] = relationship(back_populates="chunks")

    __table_args__ = (
        UniqueConstraint("document_id", "chunk_no"),
        Index(
            "chunks_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
        # the keyword side of hybrid search finds its candidates through this index
        Index("chunks_content_fts", text(f"to_tsvector('{TEXT_SEARCH_CONFIG}'::regconfig, content)"),
              postgresql_using="gin"),
    )


@dataclass
class Hit:
    """One retrieved chunk and its parent document. score: higher is better (1 - cosine distance
    for semantic search, the fused RRF score for hybrid search); the ranks say which side of a
    hybrid search found the chunk (None: not among that side's candidates)."""

    chunk: Chunk
    document: Document
    score: float
    keyword_rank: int | None = None
    vector_rank: int | None = None


def hybrid_available(session: Session) -> bool:
    """Whether the installed semvec has the BM25/hybrid functions."""
    return session.scalar(text(
        "SELECT count(DISTINCT proname) = 3 FROM pg_proc "
        "WHERE proname IN ('hybrid_search', 'bm25_create', 'bm25_stats')"))


def init_schema(engine) -> None:
    """Creates the extension, the tables and their indexes, and (when available) the BM25 statistics
    of chunks.content. Safe to run again."""
    with engine.begin() as conn:
        conn.execute(text("CREATE EXTENSION IF NOT EXISTS semvec"))
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        if hybrid_available(session):
            # bm25_stats() is all NULLs for a column without statistics
            if session.scalar(text("SELECT n_docs FROM bm25_stats('chunks', 'content')")) is None:
                session.execute(text("SELECT bm25_create('chunks', 'content', CAST(:cfg AS regconfig))"),
                                {"cfg": TEXT_SEARCH_CONFIG})


def ingest(session: Session, title: str, body: str, source: str | None = None,
           max_tokens: int = CHUNK_TOKENS, overlap: int = CHUNK_OVERLAP) -> Document:
    """Stores a document and its chunks; the chunks are cut and embedded in the database, in one
    INSERT ... SELECT FROM chunk_text(...). Returns the document (flushed, not committed)."""
    doc = Document(title=title, source=source, body=body)
    session.add(doc)
    session.flush()
    pieces = func.chunk_text(body, max_tokens, overlap).table_valued("chunk_no", "chunk").render_derived()
    session.execute(
        insert(Chunk).from_select(
            ["document_id", "chunk_no", "content"],
            select(literal(doc.id, BigInteger), pieces.c.chunk_no, pieces.c.chunk),
        )
    )
    session.expire(doc, ["chunks"])
    return doc


def semantic_query(question: str, k: int):
    """The SELECT behind semantic retrieval: the k nearest chunks by cosine distance (through the
    HNSW index; embed() of the question is computed once), then their documents."""
    distance = Chunk.embedding.cosine_distance(func.embed(question))
    nearest = select(Chunk.id, distance.label("distance")).order_by(distance).limit(k).subquery("nearest")
    return (select(Chunk, Document, nearest.c.distance)
            .join(nearest, Chunk.id == nearest.c.id)
            .join(Chunk.document)
            .order_by(nearest.c.distance, Chunk.id))


def hybrid_query(question: str, k: int, depth: int = 40):
    """The SELECT behind hybrid retrieval: semvec's hybrid_search() over chunks (BM25 on content
    and cosine distance on embedding, fused by reciprocal rank fusion), then chunks and documents."""
    fused = (
        text("SELECT id, score, keyword_rank, vector_rank FROM hybrid_search("
             "tbl => 'chunks', key_column => 'id', doc_column => 'content', vector_column => 'embedding', "
             "query_text => CAST(:question AS text), top_k => CAST(:k AS integer), "
             "keyword_depth => CAST(:depth AS integer), vector_depth => CAST(:depth AS integer))")
        .bindparams(question=question, k=k, depth=depth)
        .columns(id=BigInteger, score=Float, keyword_rank=Integer, vector_rank=Integer)
        .subquery("fused")
    )
    return (select(Chunk, Document, fused.c.score, fused.c.keyword_rank, fused.c.vector_rank)
            .join(fused, Chunk.id == fused.c.id)
            .join(Chunk.document)
            .order_by(fused.c.score.desc(), Chunk.id))


def retrieve(session: Session, question: str, k: int = 5, mode: str = "auto") -> list[Hit]:
    """The k chunks that best answer the question, best first, each with its parent document.
    mode: "semantic", "hybrid", or "auto" (hybrid when semvec's hybrid functions are installed)."""
    if mode == "auto":
        mode = "hybrid" if hybrid_available(session) else "semantic"
    if mode == "semantic":
        return [Hit(chunk=c, document=d, score=1.0 - dist)
                for c, d, dist in session.execute(semantic_query(question, k))]
    if mode == "hybrid":
        return [Hit(chunk=c, document=d, score=s, keyword_rank=kr, vector_rank=vr)
                for c, d, s, kr, vr in session.execute(hybrid_query(question, k))]
    raise ValueError(f"unknown retrieval mode {mode!r}")


def context_for_prompt(hits: list[Hit]) -> str:
    """The retrieved chunks formatted as the context block of a prompt, with their sources."""
    return "\n\n".join(f"[{i}] {h.document.title} (part {h.chunk.chunk_no})\n{h.chunk.content}"
                       for i, h in enumerate(hits, 1))
