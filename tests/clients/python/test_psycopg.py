"""psycopg 3 with pgvector's adapters (pgvector.psycopg.register_vector) against semvec: text and
binary formats, COPY, arrays, async connections, nearest-neighbour queries through an HNSW index."""

import numpy as np
import psycopg
import pytest
from pgvector import Vector
from pgvector.psycopg import register_vector, register_vector_async

from conftest import EDGE_TEXT, EDGE_VALUES, conninfo, f32_bits, plan_of


@pytest.fixture
def vconn(conn):
    register_vector(conn)
    conn.execute("DROP TABLE IF EXISTS psy_items")
    conn.execute("CREATE TABLE psy_items (id bigint PRIMARY KEY, embedding vector(10), embeddings vector[])")
    yield conn
    conn.execute("DROP TABLE IF EXISTS psy_items")


def random_f32(n, dim, seed):
    return np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)


def test_text_format_round_trips_edge_values_exactly(vconn):
    vconn.execute("INSERT INTO psy_items (id, embedding) VALUES (1, %s)", (Vector(EDGE_VALUES),))
    (got,) = vconn.execute("SELECT embedding FROM psy_items WHERE id = 1").fetchone()
    assert isinstance(got, Vector)
    assert f32_bits(got.to_list()) == f32_bits(EDGE_VALUES)
    (text,) = vconn.execute("SELECT embedding::text FROM psy_items WHERE id = 1").fetchone()
    assert text == EDGE_TEXT


def test_binary_format_round_trips_edge_values_exactly(vconn):
    edge = np.array(EDGE_VALUES, dtype=np.float32)
    # %b sends the parameter in binary (vector_recv); binary=True asks for binary results (vector_send)
    vconn.execute("INSERT INTO psy_items (id, embedding) VALUES (1, %b)", (edge,))
    cur = vconn.cursor(binary=True)
    (got,) = cur.execute("SELECT embedding FROM psy_items WHERE id = 1").fetchone()
    assert f32_bits(got.to_list()) == f32_bits(EDGE_VALUES)
    # and the same bytes pgvector's client builds are what the server sends back
    (raw,) = vconn.execute("SELECT vector_send(embedding) FROM psy_items WHERE id = 1").fetchone()
    assert bytes(raw) == Vector(EDGE_VALUES).to_binary()


def test_text_and_binary_agree_on_random_vectors(vconn):
    data = random_f32(50, 10, seed=7)
    with vconn.cursor() as cur:
        cur.executemany("INSERT INTO psy_items (id, embedding) VALUES (%s, %b)", [(i, v) for i, v in enumerate(data)])
    text_rows = vconn.execute("SELECT embedding FROM psy_items ORDER BY id").fetchall()
    bin_rows = vconn.cursor(binary=True).execute("SELECT embedding FROM psy_items ORDER BY id").fetchall()
    for v, (t,), (b,) in zip(data, text_rows, bin_rows):
        assert np.array_equal(t.to_numpy().view(np.uint32), v.view(np.uint32))
        assert np.array_equal(b.to_numpy().view(np.uint32), v.view(np.uint32))


def test_unregistered_connection_exchanges_plain_text(conn):
    # without pgvector's adapters a vector is just its text form both ways
    (text,) = conn.execute("SELECT %s::vector::text", (EDGE_TEXT,)).fetchone()
    assert text == EDGE_TEXT
    (plain,) = conn.execute("SELECT %s::vector", ("[1,2,3]",)).fetchone()
    assert plain == "[1,2,3]"


def test_binary_copy_in_and_out_is_exact(vconn):
    data = random_f32(20, 10, seed=11)
    data[0] = np.array(EDGE_VALUES, dtype=np.float32)
    with vconn.cursor() as cur:
        with cur.copy("COPY psy_items (id, embedding) FROM STDIN WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "vector"])
            for i, v in enumerate(data):
                copy.write_row([i, Vector(v)])
        out = []
        with cur.copy("COPY (SELECT id, embedding FROM psy_items ORDER BY id) TO STDOUT WITH (FORMAT BINARY)") as copy:
            copy.set_types(["int8", "vector"])
            out.extend(copy.rows())
    assert [r[0] for r in out] == list(range(20))
    for v, (_, got) in zip(data, out):
        assert np.array_equal(got.to_numpy().view(np.uint32), v.view(np.uint32))


def test_text_copy_in_and_out_is_exact(vconn):
    with vconn.cursor() as cur:
        with cur.copy("COPY psy_items (id, embedding) FROM STDIN") as copy:
            copy.write_row([1, Vector(EDGE_VALUES)])
        with cur.copy("COPY psy_items (embedding) TO STDOUT") as copy:
            rows = list(copy.rows())
    assert rows == [(EDGE_TEXT,)]


def test_vector_arrays_round_trip(vconn):
    a, b = Vector(EDGE_VALUES), Vector([float(i) for i in range(10)])
    vconn.execute("INSERT INTO psy_items (id, embeddings) VALUES (1, %s)", ([a, b],))
    (got,) = vconn.execute("SELECT embeddings FROM psy_items WHERE id = 1").fetchone()
    assert [f32_bits(v.to_list()) for v in got] == [f32_bits(a.to_list()), f32_bits(b.to_list())]
    (got_bin,) = vconn.cursor(binary=True).execute("SELECT embeddings FROM psy_items WHERE id = 1").fetchone()
    assert [f32_bits(v.to_list()) for v in got_bin] == [f32_bits(a.to_list()), f32_bits(b.to_list())]


def test_wrong_dimensions_raise_pgvector_error(vconn):
    with pytest.raises(psycopg.errors.DataException) as err:
        vconn.execute("INSERT INTO psy_items (id, embedding) VALUES (1, %s)", (Vector([1.0, 2.0]),))
    assert err.value.sqlstate == "22000"
    assert err.value.diag.message_primary == "expected 10 dimensions, not 2"


@pytest.mark.parametrize("opclass, op", [
    ("vector_l2_ops", "<->"),
    ("vector_cosine_ops", "<=>"),
    ("vector_ip_ops", "<#>"),
    ("vector_l1_ops", "<+>"),
])
def test_nearest_neighbours_through_hnsw_index(vconn, opclass, op):
    data = random_f32(300, 10, seed=3)
    with vconn.cursor() as cur:
        cur.executemany("INSERT INTO psy_items (id, embedding) VALUES (%s, %b)", [(i, v) for i, v in enumerate(data)])
    vconn.execute(f"CREATE INDEX psy_items_hnsw ON psy_items USING hnsw (embedding {opclass}) WITH (m = 16, ef_construction = 64)")
    query = Vector(data[42] + np.float32(0.01))
    sql = f"SELECT id FROM psy_items ORDER BY embedding {op} %s LIMIT 5"
    assert "Index Scan using psy_items_hnsw on psy_items" in plan_of(vconn, sql, (query,))

    vconn.execute("SET hnsw.ef_search = 100")
    vconn.execute("SET enable_seqscan = off")
    by_index = [r[0] for r in vconn.execute(sql, (query,))]
    vconn.execute("RESET enable_seqscan")
    vconn.execute("SET enable_indexscan = off")
    exact = [r[0] for r in vconn.execute(sql, (query,))]
    vconn.execute("RESET enable_indexscan")
    assert by_index == exact
    if op in ("<->", "<=>", "<+>"):
        assert by_index[0] == 42


async def test_async_connection_inserts_and_queries():
    async with await psycopg.AsyncConnection.connect(conninfo(), autocommit=True) as aconn:
        await register_vector_async(aconn)
        await aconn.execute("DROP TABLE IF EXISTS psy_async_items")
        await aconn.execute("CREATE TABLE psy_async_items (id int PRIMARY KEY, embedding vector(3))")
        await aconn.execute("CREATE INDEX ON psy_async_items USING hnsw (embedding vector_l2_ops)")
        async with aconn.cursor() as cur:
            await cur.executemany("INSERT INTO psy_async_items VALUES (%s, %s)",
                                  [(1, Vector([1, 1, 1])), (2, Vector([2, 2, 2])), (3, Vector([1, 1, 2]))])
        cur = await aconn.execute("SELECT id, embedding FROM psy_async_items ORDER BY embedding <-> %s LIMIT 2",
                                  (np.array([1, 1, 1.9], dtype=np.float32),))
        rows = await cur.fetchall()
        assert [r[0] for r in rows] == [3, 1]
        assert rows[0][1] == Vector([1, 1, 2])
        await aconn.execute("DROP TABLE psy_async_items")
