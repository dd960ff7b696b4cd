"""asyncpg with pgvector's binary codec (pgvector.asyncpg.register_vector) against semvec: binary
round trips, binary COPY, prepared statements, nearest neighbours through an HNSW index."""

import asyncpg
import numpy as np
import pytest
from pgvector import Vector
from pgvector.asyncpg import register_vector

from conftest import DB, EDGE_TEXT, EDGE_VALUES, HOST, PORT, USER, f32_bits


@pytest.fixture
async def aconn():
    conn = await asyncpg.connect(host=HOST, port=PORT, user=USER, database=DB)
    await register_vector(conn)
    await conn.execute("DROP TABLE IF EXISTS apg_items")
    await conn.execute("CREATE TABLE apg_items (id int PRIMARY KEY, embedding vector(10))")
    yield conn
    await conn.execute("DROP TABLE IF EXISTS apg_items")
    await conn.close()


async def test_binary_codec_round_trips_edge_values_exactly(aconn):
    await aconn.execute("INSERT INTO apg_items VALUES ($1, $2)", 1, np.array(EDGE_VALUES, dtype=np.float32))
    got = await aconn.fetchval("SELECT embedding FROM apg_items WHERE id = 1")
    assert isinstance(got, Vector)
    assert f32_bits(got.to_list()) == f32_bits(EDGE_VALUES)
    assert await aconn.fetchval("SELECT embedding::text FROM apg_items WHERE id = 1") == EDGE_TEXT


async def test_binary_copy_records_round_trip(aconn):
    data = np.random.default_rng(5).standard_normal((100, 10)).astype(np.float32)
    data[0] = np.array(EDGE_VALUES, dtype=np.float32)
    # copy_records_to_table sends every value in binary (vector_recv)
    await aconn.copy_records_to_table("apg_items", records=[(i, Vector(v)) for i, v in enumerate(data)],
                                      columns=["id", "embedding"])
    rows = await aconn.fetch("SELECT id, embedding FROM apg_items ORDER BY id")
    assert len(rows) == 100
    for v, row in zip(data, rows):
        assert np.array_equal(row["embedding"].to_numpy().view(np.uint32), v.view(np.uint32))


async def test_prepared_statement_with_executemany(aconn):
    rows = [(i, [float(i), 0, 0, 0, 0, 0, 0, 0, 0, 1]) for i in range(10)]
    await aconn.executemany("INSERT INTO apg_items VALUES ($1, $2)", rows)
    stmt = await aconn.prepare("SELECT id FROM apg_items ORDER BY embedding <-> $1 LIMIT 3")
    assert [r["id"] for r in await stmt.fetch([6.2, 0, 0, 0, 0, 0, 0, 0, 0, 1])] == [6, 7, 5]
    assert [r["id"] for r in await stmt.fetch([0.1, 0, 0, 0, 0, 0, 0, 0, 0, 1])] == [0, 1, 2]


async def test_nearest_neighbours_through_hnsw_index(aconn):
    data = np.random.default_rng(9).standard_normal((300, 10)).astype(np.float32)
    await aconn.executemany("INSERT INTO apg_items VALUES ($1, $2)", [(i, v) for i, v in enumerate(data)])
    await aconn.execute("CREATE INDEX apg_items_hnsw ON apg_items USING hnsw (embedding vector_cosine_ops)")
    query = data[17] * np.float32(2.0)  # same direction: cosine distance 0
    sql = "SELECT id FROM apg_items ORDER BY embedding <=> $1 LIMIT 5"
    async with aconn.transaction():
        await aconn.execute("SET LOCAL enable_seqscan = off")
        await aconn.execute("SET LOCAL hnsw.ef_search = 100")
        plan = "\n".join(r[0] for r in await aconn.fetch("EXPLAIN (COSTS OFF) " + sql, query))
        by_index = [r["id"] for r in await aconn.fetch(sql, query)]
    assert "Index Scan using apg_items_hnsw on apg_items" in plan
    async with aconn.transaction():
        await aconn.execute("SET LOCAL enable_indexscan = off")
        exact = [r["id"] for r in await aconn.fetch(sql, query)]
    assert by_index == exact
    assert by_index[0] == 17


async def test_wrong_dimensions_raise_pgvector_error(aconn):
    with pytest.raises(asyncpg.DataError) as err:
        await aconn.execute("INSERT INTO apg_items VALUES ($1, $2)", 1, [1.0, 2.0])
    assert err.value.sqlstate == "22000"
    assert str(err.value) == "expected 10 dimensions, not 2"
