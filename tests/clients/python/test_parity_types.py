"""halfvec, sparsevec and bit through pgvector's clients (psycopg 3, asyncpg, SQLAlchemy, Django)
against semvec. These need issue 5 (semvec's halfvec/sparsevec types and bit operator classes);
while the installed semvec lacks them, conftest reports them as xfail without running them."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_settings")

import django  # noqa: E402

django.setup()

import asyncpg  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from django.db import connection as dj_connection  # noqa: E402
from pgvector import Bit, HalfVector, SparseVector  # noqa: E402
from pgvector.asyncpg import register_vector as register_asyncpg  # noqa: E402
from pgvector.django import HammingDistance, JaccardDistance, L2Distance  # noqa: E402
from pgvector.psycopg import register_vector  # noqa: E402
from pgvector.sqlalchemy import BIT, HALFVEC, SPARSEVEC  # noqa: E402
from sqlalchemy import Index, create_engine, select, text  # noqa: E402
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column  # noqa: E402

from conftest import DB, HOST, PORT, USER, plan_of, sqlalchemy_url  # noqa: E402

pytestmark = pytest.mark.needs_parity_types

# float16 edge values: largest finite, negative zero, smallest subnormal, values that round
HALF_EDGE = [65504.0, -0.0, 5.9604645e-08, 0.1, -2.5, 1e-7, 1 / 3]
HALF_EDGE_TEXT = "[65504,-0,5.9604645e-08,0.099975586,-2.5,1.1920929e-07,0.33325195]"


def f16_bits(values):
    return np.asarray(values, dtype=np.float16).view(np.uint16).tolist()


@pytest.fixture
def pconn(conn):
    register_vector(conn)
    conn.execute("DROP TABLE IF EXISTS parity_items")
    conn.execute("CREATE TABLE parity_items (id int PRIMARY KEY, h halfvec(7), s sparsevec(5), b bit(8))")
    yield conn
    conn.execute("DROP TABLE IF EXISTS parity_items")


def test_psycopg_halfvec_round_trips_in_text_and_binary(pconn):
    pconn.execute("INSERT INTO parity_items (id, h) VALUES (1, %s), (2, %b)", (HalfVector(HALF_EDGE), HalfVector(HALF_EDGE)))
    for cur in (pconn.cursor(), pconn.cursor(binary=True)):
        rows = cur.execute("SELECT h FROM parity_items ORDER BY id").fetchall()
        assert [f16_bits(r[0].to_list()) for r in rows] == [f16_bits(HALF_EDGE)] * 2
    assert pconn.execute("SELECT h::text FROM parity_items WHERE id = 2").fetchone()[0] == HALF_EDGE_TEXT


def test_psycopg_sparsevec_round_trips_in_text_and_binary(pconn):
    sv = SparseVector({0: 1.5, 4: 3.4028235e38}, 5)
    pconn.execute("INSERT INTO parity_items (id, s) VALUES (1, %s), (2, %b)", (sv, sv))
    for cur in (pconn.cursor(), pconn.cursor(binary=True)):
        rows = cur.execute("SELECT s FROM parity_items ORDER BY id").fetchall()
        for (got,) in rows:
            assert got.dimensions() == 5
            assert got.indices() == [0, 4]
            assert np.array_equal(np.float32(got.values()), np.float32([1.5, 3.4028235e38]))
    assert pconn.execute("SELECT s::text FROM parity_items WHERE id = 1").fetchone()[0] == "{1:1.5,5:3.4028235e+38}/5"


def test_psycopg_bit_round_trips_in_text_and_binary(pconn):
    pconn.execute("INSERT INTO parity_items (id, b) VALUES (1, %s), (2, %b)", (Bit("10100001"), Bit("10100001")))
    rows = pconn.cursor(binary=True).execute("SELECT b FROM parity_items ORDER BY id").fetchall()
    assert [Bit.from_binary(r[0]).to_text() if not isinstance(r[0], Bit) else r[0].to_text() for r in rows] == ["10100001"] * 2


@pytest.mark.parametrize("column, opclass, op, make", [
    ("h", "halfvec_l2_ops", "<->", lambda v: HalfVector(v[:7])),
    ("h", "halfvec_cosine_ops", "<=>", lambda v: HalfVector(v[:7])),
    ("s", "sparsevec_l2_ops", "<->", lambda v: SparseVector(v[:5])),
    ("b", "bit_hamming_ops", "<~>", lambda v: Bit(v[:8] > 0)),
    ("b", "bit_jaccard_ops", "<%%>", lambda v: Bit(v[:8] > 0)),  # <%> with psycopg's % escaped
])
def test_psycopg_nearest_neighbours_through_hnsw(pconn, column, opclass, op, make):
    data = np.random.default_rng(4).standard_normal((200, 8)).astype(np.float32)
    with pconn.cursor() as cur:
        cur.executemany(f"INSERT INTO parity_items (id, {column}) VALUES (%s, %s)", [(i, make(v)) for i, v in enumerate(data)])
    pconn.execute(f"CREATE INDEX parity_hnsw ON parity_items USING hnsw ({column} {opclass})")
    sql = f"SELECT id FROM parity_items ORDER BY {column} {op} %s LIMIT 5"
    query = make(data[10])
    assert "Index Scan using parity_hnsw on parity_items" in plan_of(pconn, sql, (query,))
    pconn.execute("SET hnsw.ef_search = 200")
    pconn.execute("SET enable_seqscan = off")
    by_index = pconn.execute(f"SELECT {column} {op} %s FROM parity_items ORDER BY {column} {op} %s LIMIT 5", (query, query)).fetchall()
    pconn.execute("RESET enable_seqscan")
    pconn.execute("SET enable_indexscan = off")
    exact = pconn.execute(f"SELECT {column} {op} %s FROM parity_items ORDER BY {column} {op} %s LIMIT 5", (query, query)).fetchall()
    pconn.execute("RESET ALL")
    # bit distances tie a lot: compare the distances, not the ids
    assert by_index == exact
    assert by_index[0][0] == 0


def test_psycopg_binary_quantize_then_rerank(pconn):
    pconn.execute("DROP TABLE IF EXISTS parity_bq")
    pconn.execute("CREATE TABLE parity_bq (id int PRIMARY KEY, embedding vector(16))")
    data = np.random.default_rng(8).standard_normal((300, 16)).astype(np.float32)
    with pconn.cursor() as cur:
        cur.executemany("INSERT INTO parity_bq VALUES (%s, %b)", list(enumerate(data)))
    pconn.execute("CREATE INDEX parity_bq_idx ON parity_bq USING hnsw ((binary_quantize(embedding)::bit(16)) bit_hamming_ops)")
    sql = ("SELECT id FROM (SELECT id, embedding FROM parity_bq "
           "ORDER BY binary_quantize(embedding)::bit(16) <~> binary_quantize(%s) LIMIT 40) c "
           "ORDER BY embedding <-> %s LIMIT 5")
    q = data[77]
    assert "Index Scan using parity_bq_idx on parity_bq" in plan_of(pconn, sql, (q, q))
    ids = [r[0] for r in pconn.execute(sql, (q, q))]
    assert ids[0] == 77
    pconn.execute("DROP TABLE parity_bq")


async def test_asyncpg_halfvec_and_sparsevec_codecs():
    conn = await asyncpg.connect(host=HOST, port=PORT, user=USER, database=DB)
    try:
        await register_asyncpg(conn)
        h = await conn.fetchval("SELECT $1::halfvec", HalfVector(HALF_EDGE))
        assert f16_bits(h.to_list()) == f16_bits(HALF_EDGE)
        s = await conn.fetchval("SELECT $1::sparsevec", SparseVector({1: -2.0, 3: 0.5}, 6))
        assert (s.indices(), s.values(), s.dimensions()) == ([1, 3], [-2.0, 0.5], 6)
    finally:
        await conn.close()


class Base(DeclarativeBase):
    pass


class SAParity(Base):
    __tablename__ = "sa_parity"
    id: Mapped[int] = mapped_column(primary_key=True)
    half: Mapped[list[float] | None] = mapped_column(HALFVEC(3))
    sparse: Mapped[SparseVector | None] = mapped_column(SPARSEVEC(5))
    bits: Mapped[str | None] = mapped_column(BIT(4))
    __table_args__ = (
        Index("sa_parity_half_hnsw", "half", postgresql_using="hnsw", postgresql_ops={"half": "halfvec_l2_ops"}),
        Index("sa_parity_bits_hnsw", "bits", postgresql_using="hnsw", postgresql_ops={"bits": "bit_hamming_ops"}),
    )


def test_sqlalchemy_halfvec_sparsevec_bit_columns():
    eng = create_engine(sqlalchemy_url("psycopg"))
    try:
        Base.metadata.drop_all(eng)
        Base.metadata.create_all(eng)
        with Session(eng) as s:
            s.add_all([
                SAParity(id=1, half=[1, 1, 1], sparse=SparseVector([1, 0, 0, 0, 2]), bits="0000"),
                SAParity(id=2, half=[2, 2, 2], sparse=SparseVector([0, 3, 0, 0, 0]), bits="1010"),
                SAParity(id=3, half=[1, 1, 2], sparse=SparseVector([0, 0, 0, 0, 1]), bits="1111"),
            ])
            s.commit()
            s.execute(text("SET enable_seqscan = off"))
            assert list(s.scalars(select(SAParity.id).order_by(SAParity.half.l2_distance([1, 1, 1.9])).limit(2))) == [3, 1]
            assert list(s.scalars(select(SAParity.id).order_by(SAParity.bits.hamming_distance("1110")).limit(1))) == [2]
            got = s.get(SAParity, 1)
            assert got.half == [1.0, 1.0, 1.0]
            assert got.sparse.to_list() == [1.0, 0.0, 0.0, 0.0, 2.0]
            assert got.bits == "0000"
        Base.metadata.drop_all(eng)
    finally:
        eng.dispose()


def test_django_halfvec_sparsevec_bit_fields():
    from djangoparity.models import ParityItem

    with dj_connection.schema_editor() as editor:
        with dj_connection.cursor() as cur:
            cur.execute("DROP TABLE IF EXISTS djangoparity_parityitem")
        editor.create_model(ParityItem)
    try:
        ParityItem.objects.bulk_create([
            ParityItem(id=1, half_embedding=[1, 1, 1], sparse_embedding=SparseVector([1, 0, 0, 0, 0]), binary_embedding="00000000"),
            ParityItem(id=2, half_embedding=[2, 2, 2], sparse_embedding=SparseVector([0, 0, 5, 0, 0]), binary_embedding="11110000"),
            ParityItem(id=3, half_embedding=[1, 1, 2], sparse_embedding=SparseVector([2, 0, 0, 0, 0]), binary_embedding="11111111"),
        ])
        with dj_connection.cursor() as cur:
            cur.execute("SET enable_seqscan = off")
        by_half = ParityItem.objects.order_by(L2Distance("half_embedding", HalfVector([1, 1, 1.9])))
        assert "Index Scan using dj_parity_half_hnsw" in by_half.explain()
        assert [p.id for p in by_half[:2]] == [3, 1]
        assert [p.id for p in ParityItem.objects.order_by(L2Distance("sparse_embedding", SparseVector([1.9, 0, 0, 0, 0])))[:1]] == [3]
        assert [p.id for p in ParityItem.objects.order_by(HammingDistance("binary_embedding", "11100000"))[:1]] == [2]
        assert [p.id for p in ParityItem.objects.order_by(JaccardDistance("binary_embedding", "11111110"))[:1]] == [3]
        item = ParityItem.objects.get(id=3)
        assert list(item.half_embedding) == [1.0, 1.0, 2.0]
        assert item.sparse_embedding.to_list() == [2.0, 0.0, 0.0, 0.0, 0.0]
        assert item.binary_embedding == "11111111"
    finally:
        with dj_connection.cursor() as cur:
            cur.execute("RESET ALL")
        with dj_connection.schema_editor() as editor:
            editor.delete_model(ParityItem)
