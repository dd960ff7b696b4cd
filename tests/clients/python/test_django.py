"""Django with pgvector's fields, index and distance functions (pgvector.django) against semvec:
the schema comes from a real migration (VectorField, HnswIndex), queries order by CosineDistance &
co. through the HNSW index (QuerySet.explain), values round-trip exactly."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "django_settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import DataError, connection  # noqa: E402
from django.db.models import Avg  # noqa: E402
from pgvector.django import CosineDistance, L1Distance, L2Distance, MaxInnerProduct  # noqa: E402

from conftest import EDGE_TEXT, EDGE_VALUES, f32_bits  # noqa: E402
from djangoapp.models import Exact, Item  # noqa: E402

DATA = np.random.default_rng(33).standard_normal((300, 8)).astype(np.float32)


def reset_app_schema():
    with connection.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS djangoapp_item, djangoapp_exact")
        cur.execute("SELECT to_regclass('django_migrations') IS NOT NULL")
        if cur.fetchone()[0]:
            cur.execute("DELETE FROM django_migrations WHERE app = 'djangoapp'")


@pytest.fixture(scope="module", autouse=True)
def schema():
    reset_app_schema()
    call_command("migrate", "djangoapp", verbosity=0)
    Item.objects.bulk_create(Item(id=i, category=i % 3, embedding=v) for i, v in enumerate(DATA))
    yield
    reset_app_schema()
    connection.close()


@pytest.fixture
def session_settings():
    """Runs a test with planner settings on Django's connection, reset afterwards."""
    def apply(**gucs):
        with connection.cursor() as cur:
            for name, value in gucs.items():
                cur.execute(f"SET {name.replace('__', '.')} = {value}")
    yield apply
    with connection.cursor() as cur:
        cur.execute("RESET ALL")


def test_migration_creates_the_hnsw_index():
    with connection.cursor() as cur:
        cur.execute("SELECT indexdef FROM pg_indexes WHERE indexname = 'dj_item_embedding_hnsw'")
        (indexdef,) = cur.fetchone()
    assert indexdef == ("CREATE INDEX dj_item_embedding_hnsw ON public.djangoapp_item USING hnsw "
                        "(embedding vector_cosine_ops) WITH (m='16', ef_construction='64')")


def test_models_and_migration_agree():
    # VectorField and HnswIndex deconstruct to what the migration holds: nothing to migrate
    call_command("makemigrations", "djangoapp", "--check", "--dry-run", verbosity=0)


def test_cosine_distance_ordering_uses_the_index(session_settings):
    query = DATA[250] * 4
    qs = Item.objects.order_by(CosineDistance("embedding", query)).values_list("id", flat=True)[:5]
    session_settings(enable_seqscan="off", hnsw__ef_search=100)
    plan = qs.explain()
    by_index = list(qs)
    session_settings(enable_seqscan="on", enable_indexscan="off")
    exact = list(qs)
    assert "Index Scan using dj_item_embedding_hnsw on djangoapp_item" in plan
    assert by_index == exact
    assert by_index[0] == 250


def test_filtered_nearest_neighbours_with_iterative_scan(session_settings):
    session_settings(enable_seqscan="off", hnsw__iterative_scan="relaxed_order")
    qs = (Item.objects.filter(category=2)
          .annotate(distance=CosineDistance("embedding", DATA[1]))
          .order_by("distance")[:10])
    plan = qs.explain()
    rows = list(qs)
    assert "Index Scan using dj_item_embedding_hnsw on djangoapp_item" in plan
    assert len(rows) == 10 and all(r.category == 2 for r in rows)
    assert [r.distance for r in rows] == sorted(r.distance for r in rows)


def test_distance_functions_match_numpy():
    q = np.linspace(-1, 1, 8, dtype=np.float32)
    item = Item.objects.annotate(
        l2=L2Distance("embedding", q),
        neg_ip=MaxInnerProduct("embedding", q),
        cos=CosineDistance("embedding", q),
        l1=L1Distance("embedding", q),
    ).get(id=9)
    v = DATA[9].astype(np.float64)
    qd = q.astype(np.float64)
    assert item.l2 == pytest.approx(np.linalg.norm(v - qd), rel=1e-6)
    assert item.neg_ip == pytest.approx(-np.dot(v, qd), rel=1e-6)
    assert item.cos == pytest.approx(1 - np.dot(v, qd) / (np.linalg.norm(v) * np.linalg.norm(qd)), rel=1e-6)
    assert item.l1 == pytest.approx(np.abs(v - qd).sum(), rel=1e-6)


def test_round_trip_is_exact():
    Exact.objects.all().delete()
    Exact.objects.create(id=1, embedding=EDGE_VALUES)
    Exact.objects.create(id=2, embedding=np.array(EDGE_VALUES, dtype=np.float32))
    Exact.objects.create(id=3, embedding=None)
    got = {e.id: e.embedding for e in Exact.objects.all()}
    assert f32_bits(got[1]) == f32_bits(EDGE_VALUES)
    assert f32_bits(got[2]) == f32_bits(EDGE_VALUES)
    assert got[3] is None
    with connection.cursor() as cur:
        cur.execute("SELECT embedding::text FROM djangoapp_exact WHERE id = 1")
        assert cur.fetchone()[0] == EDGE_TEXT


def test_avg_aggregate():
    mean = Item.objects.filter(id__lt=10).aggregate(Avg("embedding"))["embedding__avg"]
    assert np.allclose(mean, DATA[:10].astype(np.float64).mean(axis=0), rtol=1e-5, atol=1e-6)


def test_wrong_dimensions_raise_data_error():
    with pytest.raises(DataError, match="expected 10 dimensions, not 2"):
        Exact.objects.create(id=99, embedding=[1.0, 2.0])
