#!/usr/bin/env bash
# VACUUM after churn, semvec against pgvector in one run: the same single-session workload on both
# servers (issue 13): ROWS rows of vector(64) with an hnsw vector_l2_ops index, then ROUNDS rounds
# of "delete a tenth of the live rows, insert as many new ones, VACUUM". Reports each server's
# VACUUM time per round and in all, and afterwards how many live rows an index scan on the row's
# own vector does not return first (ef_search 1000), i.e. rows lost from search.
#
# Usage: benches/vacuum_churn.sh            (CHURN_ROWS=20000 CHURN_ROUNDS=6 by default)
# Needs scripts/install.sh (semvec) and scripts/pgvector/setup.sh (pgvector) done; starts both clusters.
source "$(dirname "$0")/../scripts/pgvector/env.sh"
cd "$ROOT"
ROWS=${CHURN_ROWS:-20000}
ROUNDS=${CHURN_ROUNDS:-6}

cluster_start >/dev/null
bash "$ROOT/scripts/pgvector/start.sh" >/dev/null

workload() {
    cat <<SQL
\\set ON_ERROR_STOP 1
DROP DATABASE IF EXISTS churn_bench;
CREATE DATABASE churn_bench;
\\c churn_bench
CREATE EXTENSION $1;
CREATE FUNCTION random_vector(dims int, seed bigint) RETURNS vector LANGUAGE sql IMMUTABLE AS \$\$
    SELECT array_agg(((hashint8(seed * 100003 + i) & 2147483647) % 100000) / 1000.0)::vector
    FROM generate_series(1, dims) i \$\$;
CREATE TABLE items (id bigserial PRIMARY KEY, cat int, v vector(64));
INSERT INTO items (cat, v) SELECT i % 10, random_vector(64, i) FROM generate_series(1, $ROWS) i;
CREATE INDEX ON items USING hnsw (v vector_l2_ops);
CREATE TABLE vacuum_times (round int, ms float8);
SQL
    for r in $(seq 1 "$ROUNDS"); do
        cat <<SQL
DELETE FROM items WHERE hashint8(id * 7919 + $r) % 10 = 0;
INSERT INTO items (cat, v) SELECT i % 10, random_vector(64, 1000000 * $r + i) FROM generate_series(1, $((ROWS / 10))) i;
SELECT clock_timestamp() AS t0 \\gset
VACUUM items;
INSERT INTO vacuum_times VALUES ($r, extract(epoch FROM clock_timestamp() - :'t0'::timestamptz) * 1000);
SQL
    done
    cat <<'SQL'
SET enable_seqscan = off;
SET hnsw.ef_search = 1000;
SELECT string_agg(round(ms)::text, ' ' ORDER BY round) AS per_round, round(sum(ms)) AS total FROM vacuum_times;
SELECT count(*) AS live, count(*) FILTER (WHERE id IS DISTINCT FROM
    (SELECT t2.id FROM items t2 ORDER BY t2.v <-> t.v LIMIT 1)) AS lost FROM items t;
\c postgres
DROP DATABASE churn_bench;
SQL
}

log "VACUUM churn: $ROWS rows of vector(64), $ROUNDS rounds of 10% deletes + inserts + VACUUM"
echo "| server | VACUUM ms per round | VACUUM ms total | live rows | rows lost from search |"
echo "|---|---|---:|---:|---:|"
for side in semvec pgvector; do
    if [ "$side" = semvec ]; then run=(psql_semvec -d postgres); ext=semvec; else run=(psql_pgvector -d postgres); ext=vector; fi
    out=$(workload "$ext" | "${run[@]}" -qAt -F '|' 2>&1) || { echo "$out" >&2; exit 1; }
    times=$(echo "$out" | grep -E '^[0-9 ]+\|[0-9]+$' | sed -n 1p)
    lost=$(echo "$out" | grep -E '^[0-9]+\|[0-9]+$' | tail -1)
    echo "| $side | ${times%%|*} | ${times##*|} | ${lost%%|*} | ${lost##*|} |"
done
