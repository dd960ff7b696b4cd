from django.db import models
from pgvector.django import HnswIndex, VectorField


class Item(models.Model):
    category = models.IntegerField(default=0)
    embedding = VectorField(dimensions=8)

    class Meta:
        indexes = [
            HnswIndex(
                name="dj_item_embedding_hnsw",
                fields=["embedding"],
                m=16,
                ef_construction=64,
                opclasses=["vector_cosine_ops"],
            ),
        ]


class Exact(models.Model):
    embedding = VectorField(dimensions=10, null=True, blank=True)
