"""Shared set-up for the client tests: where the semvec cluster is, a database with the extension,
float32 helpers, and the gate for tests that need halfvec/sparsevec/bit support (issue 5).

Connection settings come from the libpq environment (PGHOST, PGPORT, PGUSER) that
tests/scenarios/clients.sh exports; the defaults are the project cluster of scripts/lib.sh.
"""

import os
import struct

import psycopg
import pytest

os.environ.setdefault("PGHOST", "/tmp")
os.environ.setdefault("PGPORT", "28815")
os.environ.setdefault("PGUSER", "postgres")

DB = os.environ.setdefault("SEMVEC_CLIENTS_DB", "semvec_clients")
# The extension to create: semvec; "vector" runs the same tests against pgvector for comparison.
EXTENSION = os.environ.setdefault("SEMVEC_CLIENTS_EXTENSION", "semvec")
HOST = os.environ["PGHOST"]
PORT = int(os.environ["PGPORT"])
USER = os.environ["PGUSER"]

# Float edge values a client must get back bit for bit: float32 extremes, the smallest normal and
# subnormal, a negative zero, values that are not exact in decimal, and an integer past 2^24.
EDGE_VALUES = [
    1e-7,
    -0.0,
    3.4028235e38,
    -3.4028235e38,
    1.1754944e-38,
    1e-45,
    0.1,
    1 / 3,
    -2.5,
    16777217.0,
]
# pgvector's text output for those values (checked against pgvector 0.8 itself).
EDGE_TEXT = "[1e-07,-0,3.4028235e+38,-3.4028235e+38,1.1754944e-38,1e-45,0.1,0.33333334,-2.5,1.6777216e+07]"


def f32_bits(values):
    """The float32 bit patterns of values (so -0.0 and 0.0 differ, and nothing is compared in float64)."""
    return [struct.unpack("<I", struct.pack("<f", float(v)))[0] for v in values]


def conninfo(dbname=DB):
    return f"host={HOST} port={PORT} user={USER} dbname={dbname}"


def sqlalchemy_url(driver, dbname=DB):
    # host as a query parameter so Unix-socket directories work for every driver
    return f"postgresql+{driver}://{USER}@/{dbname}?host={HOST}&port={PORT}"


def _ensure_database():
    with psycopg.connect(conninfo("postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DB,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DB}"')
    with psycopg.connect(conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE EXTENSION IF NOT EXISTS "{EXTENSION}"')
        have = {r[0] for r in conn.execute(
            "SELECT typname FROM pg_type WHERE typname IN ('halfvec', 'sparsevec')")}
        have_bit_ops = conn.execute(
            "SELECT count(*) FROM pg_opclass c JOIN pg_am a ON a.oid = c.opcmethod "
            "WHERE a.amname = 'hnsw' AND c.opcname IN ('bit_hamming_ops', 'bit_jaccard_ops')").fetchone()[0]
    return have == {"halfvec", "sparsevec"} and have_bit_ops == 2


PARITY_TYPES = _ensure_database()


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "needs_parity_types: needs semvec's halfvec, sparsevec and bit support (issue 5); "
        "reported as xfail, not run, while the installed semvec lacks those types")


def pytest_collection_modifyitems(config, items):
    if PARITY_TYPES:
        return
    gate = pytest.mark.xfail(
        reason="installed semvec has no halfvec/sparsevec/bit operator classes yet (issue 5)", run=False)
    for item in items:
        if item.get_closest_marker("needs_parity_types"):
            item.add_marker(gate)


def pytest_report_header(config):
    return (f"semvec clients: extension {EXTENSION} in database {DB} on {HOST}:{PORT}; "
            f"halfvec/sparsevec/bit support: {PARITY_TYPES}")


@pytest.fixture
def conn():
    """A psycopg 3 connection (autocommit) to the test database, closed after the test."""
    with psycopg.connect(conninfo(), autocommit=True) as c:
        yield c


def plan_of(conn, sql, params=None):
    """EXPLAIN (COSTS OFF) of a statement as one string, with seq scans off for the session."""
    conn.execute("SET enable_seqscan = off")
    try:
        rows = conn.execute("EXPLAIN (COSTS OFF) " + sql, params).fetchall()
    finally:
        conn.execute("RESET enable_seqscan")
    return "\n".join(r[0] for r in rows)
