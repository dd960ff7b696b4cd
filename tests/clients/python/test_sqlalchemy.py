"""SQLAlchemy 2 with pgvector's column type (pgvector.sqlalchemy.Vector) against semvec: an HNSW
index declared in the model, ORM queries ordered by cosine_distance & co. through that index, exact
round trips, aggregates, and an async engine on asyncpg."""

import numpy as np
import pytest
from pgvector.sqlalchemy import Vector, avg
from sqlalchemy import Index, create_engine, event, func, select, text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from conftest import EDGE_TEXT, EDGE_VALUES, f32_bits, sqlalchemy_url


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "sa_items"
    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[int]
    embedding: Mapped[list[float]] = mapped_column(Vector(8))
    __table_args__ = (
        Index(
            "sa_items_embedding_hnsw",
            "embedding",
            postgresql_using="hnsw",
            postgresql_with={"m": 16, "ef_construction": 64},
            postgresql_ops={"embedding": "vector_cosine_ops"},
        ),
    )


class Exact(Base):
    __tablename__ = "sa_exact"
    id: Mapped[int] = mapped_column(primary_key=True)
    embedding: Mapped[list[float] | None] = mapped_column(Vector(10))


DATA = np.random.default_rng(21).standard_normal((300, 8)).astype(np.float32)


@pytest.fixture(scope="module", params=["psycopg", "psycopg2"])
def engine(request):
    eng = create_engine(sqlalchemy_url(request.param))
    Base.metadata.drop_all(eng)
    Base.metadata.create_all(eng)
    with Session(eng) as s:
        s.add_all(Item(id=i, category=i % 3, embedding=v.tolist()) for i, v in enumerate(DATA))
        s.commit()
    yield eng
    Base.metadata.drop_all(eng)
    eng.dispose()


class Recorder:
    """Captures the SQL and parameters the ORM sends, so the very same statement can be EXPLAINed."""

    def __init__(self, eng):
        self.statements = []
        event.listen(eng, "before_cursor_execute", self.record)

    def record(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append((statement, parameters))


def explain_orm(session, stmt):
    recorder = Recorder(session.get_bind())
    try:
        result = session.execute(stmt).all()
    finally:
        event.remove(session.get_bind(), "before_cursor_execute", recorder.record)
    sql, params = recorder.statements[-1]
    plan = session.connection().exec_driver_sql("EXPLAIN (COSTS OFF) " + sql, params).all()
    return result, "\n".join(r[0] for r in plan)


def test_hnsw_index_declared_in_model_is_created(engine):
    with engine.connect() as c:
        indexdef = c.execute(text("SELECT indexdef FROM pg_indexes WHERE indexname = 'sa_items_embedding_hnsw'")).scalar_one()
    assert indexdef == ("CREATE INDEX sa_items_embedding_hnsw ON public.sa_items USING hnsw "
                        "(embedding vector_cosine_ops) WITH (m='16', ef_construction='64')")


def test_cosine_distance_ordering_uses_the_index(engine):
    query = (DATA[123] * 3).tolist()  # same direction as row 123
    stmt = select(Item.id).order_by(Item.embedding.cosine_distance(query)).limit(5)
    with Session(engine) as s:
        s.execute(text("SET enable_seqscan = off"))
        s.execute(text("SET hnsw.ef_search = 100"))
        rows, plan = explain_orm(s, stmt)
        by_index = [r.id for r in rows]
        s.execute(text("SET enable_seqscan = on"))
        s.execute(text("SET enable_indexscan = off"))
        exact = list(s.scalars(stmt))
    assert "Index Scan using sa_items_embedding_hnsw on sa_items" in plan
    assert by_index == exact
    assert by_index[0] == 123


def test_filtered_query_through_index_returns_full_limit(engine):
    stmt = (select(Item.id, Item.category)
            .where(Item.category == 1)
            .order_by(Item.embedding.cosine_distance(DATA[0].tolist()))
            .limit(10))
    with Session(engine) as s:
        s.execute(text("SET enable_seqscan = off"))
        s.execute(text("SET hnsw.iterative_scan = relaxed_order"))
        rows, plan = explain_orm(s, stmt)
    assert "Index Scan using sa_items_embedding_hnsw on sa_items" in plan
    assert len(rows) == 10 and all(r.category == 1 for r in rows)


def test_distance_comparators_match_numpy(engine):
    q = np.linspace(-1, 1, 8, dtype=np.float32)
    stmt = select(
        Item.embedding.l2_distance(q.tolist()),
        Item.embedding.max_inner_product(q.tolist()),
        Item.embedding.cosine_distance(q.tolist()),
        Item.embedding.l1_distance(q.tolist()),
    ).where(Item.id == 5)
    with Session(engine) as s:
        l2, neg_ip, cos, l1 = s.execute(stmt).one()
    v = DATA[5].astype(np.float64)
    qd = q.astype(np.float64)
    assert l2 == pytest.approx(np.linalg.norm(v - qd), rel=1e-6)
    assert neg_ip == pytest.approx(-np.dot(v, qd), rel=1e-6)
    assert cos == pytest.approx(1 - np.dot(v, qd) / (np.linalg.norm(v) * np.linalg.norm(qd)), rel=1e-6)
    assert l1 == pytest.approx(np.abs(v - qd).sum(), rel=1e-6)


def test_round_trip_is_exact(engine):
    with Session(engine) as s:
        s.add_all([Exact(id=1, embedding=EDGE_VALUES), Exact(id=2, embedding=None),
                   Exact(id=3, embedding=np.array(EDGE_VALUES, dtype=np.float32))])
        s.commit()
        got = {e.id: e.embedding for e in s.scalars(select(Exact))}
        as_text = s.execute(text("SELECT embedding::text FROM sa_exact WHERE id = 1")).scalar_one()
        s.execute(text("DELETE FROM sa_exact"))
        s.commit()
    assert f32_bits(got[1]) == f32_bits(EDGE_VALUES)
    assert f32_bits(got[3]) == f32_bits(EDGE_VALUES)
    assert got[2] is None
    assert as_text == EDGE_TEXT


def test_avg_aggregate(engine):
    with Session(engine) as s:
        mean = s.scalar(select(avg(Item.embedding)).where(Item.id < 10))
        count = s.scalar(select(func.count()).select_from(Item))
    assert count == 300
    assert np.allclose(mean, DATA[:10].astype(np.float64).mean(axis=0), rtol=1e-5, atol=1e-6)


async def test_async_engine_on_asyncpg_orders_by_cosine_distance():
    eng = create_async_engine(sqlalchemy_url("asyncpg"))
    try:
        async with eng.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
            await conn.run_sync(Base.metadata.create_all)
            await conn.execute(Item.__table__.insert(), [
                {"id": i, "category": 0, "embedding": v.tolist()} for i, v in enumerate(DATA[:50])])
        async with eng.connect() as conn:
            await conn.execute(text("SET enable_seqscan = off"))
            stmt = select(Item.id, Item.embedding).order_by(Item.embedding.cosine_distance(DATA[7].tolist())).limit(3)
            rows = (await conn.execute(stmt)).all()
            plan_sql = ("EXPLAIN (COSTS OFF) SELECT id FROM sa_items ORDER BY embedding <=> "
                        "CAST(:q AS vector) LIMIT 3")
            plan = "\n".join(r[0] for r in (await conn.execute(text(plan_sql), {"q": str(DATA[7].tolist())})).all())
        assert rows[0].id == 7
        assert f32_bits(rows[0].embedding) == f32_bits(DATA[7])
        assert "Index Scan using sa_items_embedding_hnsw on sa_items" in plan
        async with eng.begin() as conn:
            await conn.run_sync(Base.metadata.drop_all)
    finally:
        await eng.dispose()
