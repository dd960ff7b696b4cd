from django.db import models
from pgvector.django import BitField, HalfVectorField, HnswIndex, SparseVectorField


class ParityItem(models.Model):
    half_embedding = HalfVectorField(dimensions=3, null=True)
    sparse_embedding = SparseVectorField(dimensions=5, null=True)
    binary_embedding = BitField(length=8, null=True)

    class Meta:
        indexes = [
            HnswIndex(name="dj_parity_half_hnsw", fields=["half_embedding"], opclasses=["halfvec_l2_ops"]),
            HnswIndex(name="dj_parity_sparse_hnsw", fields=["sparse_embedding"], opclasses=["sparsevec_l2_ops"]),
            HnswIndex(name="dj_parity_bit_hnsw", fields=["binary_embedding"], opclasses=["bit_hamming_ops"]),
        ]
