#!/usr/bin/env python3
"""Independent BM25 reference for tests/pg_regress/sql/hybrid_bm25.sql.

Tokenises the regression corpus by whitespace (what to_tsvector('simple', ...) does on these lower-case
words), and prints, for every test query, the Okapi BM25 score (Lucene IDF, query term counts as
weights) of every matching document, rounded to 6 decimals, as SQL VALUES rows.
"""

import math
from collections import Counter

CORPUS = {
    1: "the quick brown fox jumps over the lazy dog",
    2: "the lazy dog sleeps",
    3: "a quick brown dog",
    4: "foxes and dogs are friends",
    5: "the fox the fox the fox",
    6: "nothing to see here",
}

# (query, k1, b, stripped)
QUERIES = [
    ("quick fox", 1.2, 0.75, False),
    ("lazy dog dog", 1.2, 0.75, False),
    ("the", 1.2, 0.75, False),
    ("fox", 2.0, 0.0, False),
    ("fox", 0.0, 0.75, False),
    ("quick fox", 1.2, 1.0, True),
]


def scores(query, k1, b, stripped):
    docs = {i: Counter(t.split()) for i, t in CORPUS.items()}
    if stripped:
        docs = {i: Counter(set(c)) for i, c in docs.items()}
    n = len(docs)
    avgdl = sum(sum(c.values()) for c in docs.values()) / n
    qtf = Counter(query.split())
    out = {}
    for i, tf in docs.items():
        dl = sum(tf.values())
        s = 0.0
        for term, qn in qtf.items():
            if tf[term] == 0:
                continue
            df = sum(1 for c in docs.values() if c[term] > 0)
            idf = math.log(1 + (n - df + 0.5) / (df + 0.5))
            s += qn * idf * tf[term] * (k1 + 1) / (tf[term] + k1 * (1 - b + b * dl / avgdl))
        if s > 0 or any(tf[t] for t in qtf):
            out[i] = s
    return out


if __name__ == "__main__":
    rows = []
    for query, k1, b, stripped in QUERIES:
        for i, s in sorted(scores(query, k1, b, stripped).items()):
            rows.append(f"('{query}', {k1}, {b}, {str(stripped).lower()}, {i}, {s:.6f})")
    print(",\n".join(rows))
