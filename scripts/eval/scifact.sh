#!/usr/bin/env bash
# Retrieval quality on BEIR SciFact (nDCG@10, recall@100): Postgres ts_rank_cd, BM25, dense exact,
# dense HNSW and hybrid RRF, on the project cluster. An evaluation, not a test: it needs ../shared.
#
#   bash scripts/eval/scifact.sh [--reload] [--keyword-only] [--only TEXT] [--compare-index [--compare-only]]
#
# --compare-index (issue 14) builds the bm25 index on the tsvector column and runs BM25 and hybrid
# both through it and through today's path (semvec.bm25_index_search = off, or no index when that
# setting does not exist): nDCG@10 / recall@100 of each, and a check that the top-10 ids and scores
# (relative 1e-9) are identical for all 300 queries (the script fails when they are not). Without a
# bm25 access method it says so and skips. SEMVEC_PORT / SEMVEC_PGDATA (scripts/lib.sh) run it on
# another cluster than the project's.
#
# The data folder defaults to <checkout>/../shared/data/scifact (override with SCIFACT_DIR); the
# database is semvec_scifact (SCIFACT_DB). Loading and embedding happen once; later runs reuse them.
source "$(dirname "$0")/../lib.sh"
DATA="${SCIFACT_DIR:-$ROOT/../shared/data/scifact}"
[ -f "$DATA/corpus.jsonl.gz" ] || { echo "SciFact data not found in $DATA" >&2; exit 1; }
cluster_start
exec python3 "$ROOT/scripts/eval/scifact.py" --data "$DATA" --host "$SEMVEC_SOCKDIR" --port "$SEMVEC_PORT" \
    --user postgres --db "${SCIFACT_DB:-semvec_scifact}" "$@"
