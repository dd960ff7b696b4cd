#!/usr/bin/env bash
# No row lost from search after VACUUM churn (issue 13): 4 pgbench clients on
# items(id bigserial, cat int, v vector(64)) with an hnsw vector_l2_ops index and 20k initial rows
# run single-row and small-batch inserts, random deletes and filtered top-10 queries with
# hnsw.iterative_scan = relaxed_order, while a plain `VACUUM items` runs every few seconds.
# Right after the load every live row must be indexed and reachable (semvec_index_check clean: an
# unreachable element is a problem); after a final VACUUM also returned first by an index scan on
# its own vector: 0 misses.
#
# Environment: CHURN_SECONDS (default 40), CHURN_ROWS (default 20000), CHURN_VACUUM_EVERY (8 s),
# HNSW_WITH (index options, e.g. "quantization = 'sq8'").
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/lib/cluster.bash"

DURATION=${CHURN_SECONDS:-40}
ROWS=${CHURN_ROWS:-20000}
EVERY=${CHURN_VACUUM_EVERY:-8}
DIMS=64

log "vacuum churn: 4 clients for ${DURATION}s on $ROWS rows of vector($DIMS), VACUUM every ${EVERY}s"
node_init churn 28829 "autovacuum = off"
node_start churn
node_testdb churn
node_psql churn <<SQL
CREATE TABLE items (id bigserial PRIMARY KEY, cat int NOT NULL, v vector($DIMS));
INSERT INTO items (cat, v) SELECT i % 100, random_vector($DIMS, i) FROM generate_series(1, $ROWS) i;
CREATE INDEX items_v_idx ON items USING hnsw (v vector_l2_ops)${HNSW_WITH:+ WITH ($HNSW_WITH)};
CREATE SEQUENCE vseed START $((ROWS + 1));
SQL

W="$SCN_TMP/pgbench"
mkdir -p "$W"
cat >"$W/insert.sql" <<SQL
\set cat random(0, 99)
INSERT INTO items (cat, v) VALUES (:cat, random_vector($DIMS, nextval('vseed')));
SQL
cat >"$W/batch.sql" <<SQL
\set cat random(0, 99)
INSERT INTO items (cat, v) SELECT :cat, random_vector($DIMS, nextval('vseed')) FROM generate_series(1, 5);
SQL
cat >"$W/delete.sql" <<SQL
\set id random(1, $ROWS * 3)
DELETE FROM items WHERE id BETWEEN :id AND :id + 4;
SQL
cat >"$W/filtered.sql" <<SQL
\set seed random(1, 1000000000)
\set cat random(0, 99)
SELECT id FROM items WHERE cat = :cat ORDER BY v <-> random_vector($DIMS, :seed) LIMIT 10;
SQL
chmod -R a+rX "$W"

STOP="$SCN_TMP/stop"
vacuum_every churn items "$EVERY" &
track_bg $!
vl=$!
set +e
PGOPTIONS="-c hnsw.iterative_scan=relaxed_order" timeout $((DURATION + 180)) \
    "$PG_BIN/pgbench" -h "$SCN_TMP" -p "$(node_port churn)" -U postgres -n -c 4 -j 2 -T "$DURATION" \
    -f "$W/insert.sql@3" -f "$W/batch.sql@1" -f "$W/delete.sql@2" -f "$W/filtered.sql@2" semvec_test >"$SCN_TMP/pgbench.out" 2>&1
rc=$?
set -e
touch "$STOP"
wait $vl || true
grep -E "number of (transactions actually processed|failed)|tps =" "$SCN_TMP/pgbench.out" | sed 's/^/  /'
check_eq "pgbench finished with every client alive (exit code)" "$rc" 0
check "VACUUM ran during the load ($(cat "$SCN_TMP/vacuums" 2>/dev/null) times), without errors" \
    bash -c "[ \$(cat '$SCN_TMP/vacuums') -ge 2 ] && ! grep -q . '$SCN_TMP/vacuum.err'"
log "rows: $(node_sql churn "SELECT count(*) FROM items") live ($(elapsed))"

# Right after the load (the last VACUUM may be seconds old: every row indexed and reachable, its
# self-lookup misses printed), then after one more VACUUM (every row found by its own vector).
check_rows_found churn items items_v_idx '<->' "after the load" reachable
check_index_ok churn items_v_idx "semvec_index_check is clean after the load"
node_psql churn -c "VACUUM items"
check_rows_found churn items items_v_idx '<->' "after a final VACUUM"
check_index_ok churn items_v_idx "semvec_index_check is clean after a final VACUUM"
node_stop churn
finish
