#!/usr/bin/env bash
# Concurrency: 4 pgbench clients mix inserts, updates, deletes and top-10 queries (plain and
# filtered with iterative scans) on an hnsw-indexed table while a fifth session runs VACUUM in a
# loop, and CREATE INDEX CONCURRENTLY then REINDEX INDEX CONCURRENTLY run under that load. No
# statement may fail, no deadlock be reported, no session hang; afterwards every index passes
# semvec_index_check, every row is found through each index by its own vector, and recall holds.
#
# Environment: CONC_SECONDS (default 30; 60 in tests/stress/run.sh), CONC_CLIENTS (default 4),
# CONC_ROWS (initial rows, default 5000).
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/lib/cluster.bash"

DURATION=${CONC_SECONDS:-30}
CLIENTS=${CONC_CLIENTS:-4}
ROWS=${CONC_ROWS:-5000}
DIMS=16

log "concurrency: $CLIENTS clients for ${DURATION}s + VACUUM loop + CIC + REINDEX CONCURRENTLY"
node_init conc 28823 "deadlock_timeout = 200ms" "log_lock_waits = on" "autovacuum_naptime = 2s"
node_start conc
node_testdb conc
node_psql conc <<SQL
CREATE TABLE items (id bigserial PRIMARY KEY, cat int NOT NULL, v vector($DIMS));
INSERT INTO items (cat, v) SELECT i % 10, random_vector($DIMS, i) FROM generate_series(1, $ROWS) i;
CREATE INDEX items_v_idx ON items USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 64);
CREATE TABLE queries (id int, v vector($DIMS));
INSERT INTO queries SELECT i, random_vector($DIMS, -i) FROM generate_series(1, 50) i;
-- Seeds of the vectors the load writes: never one already used, so no two rows share a vector
-- (with duplicates, "a row's own vector returns it first" has two right answers and
-- check_rows_found would count the one listed second as a miss).
CREATE SEQUENCE vseed START $((ROWS + 1));
SQL

# Each transaction touches at most one existing row, so any deadlock would be the index's.
W="$SCN_TMP/pgbench"
mkdir -p "$W"
cat >"$W/insert.sql" <<SQL
\set cat random(0, 9)
INSERT INTO items (cat, v) VALUES (:cat, random_vector($DIMS, nextval('vseed')));
SQL
cat >"$W/update.sql" <<SQL
\set id random(1, $ROWS * 3)
UPDATE items SET v = random_vector($DIMS, nextval('vseed')) WHERE id = :id;
SQL
cat >"$W/update_other.sql" <<SQL
\set id random(1, $ROWS * 3)
UPDATE items SET cat = (cat + 1) % 10 WHERE id = :id;
SQL
cat >"$W/delete.sql" <<SQL
\set id random(1, $ROWS * 3)
DELETE FROM items WHERE id = :id;
SQL
cat >"$W/query.sql" <<SQL
\set seed random(1, 1000000000)
SELECT id FROM items ORDER BY v <-> random_vector($DIMS, :seed) LIMIT 10;
SQL
cat >"$W/filtered.sql" <<SQL
\set seed random(1, 1000000000)
\set cat random(0, 9)
SELECT id FROM items WHERE cat = :cat ORDER BY v <-> random_vector($DIMS, :seed) LIMIT 10;
SQL
chmod -R a+rX "$W"

STOP="$SCN_TMP/stop"

ddl() {
    sleep $((DURATION / 4))
    node_psql conc -c "CREATE INDEX CONCURRENTLY items_v_cos ON items USING hnsw (v vector_cosine_ops)" \
        >"$SCN_TMP/ddl.out" 2>&1 && echo cic-ok >>"$SCN_TMP/ddl.out"
    node_psql conc -c "REINDEX INDEX CONCURRENTLY items_v_idx" >>"$SCN_TMP/ddl.out" 2>&1 && echo reindex-ok >>"$SCN_TMP/ddl.out"
}

vacuum_every conc items 0.5 &
vl=$!
track_bg $vl
ddl &
dl=$!
track_bg $dl
log "pgbench running ($(elapsed))"
set +e
PGOPTIONS="-c hnsw.iterative_scan=relaxed_order" timeout $((DURATION + 180)) \
    "$PG_BIN/pgbench" -h "$SCN_TMP" -p "$(node_port conc)" -U postgres -n -c "$CLIENTS" -j 2 -T "$DURATION" \
    -f "$W/insert.sql@4" -f "$W/update.sql@2" -f "$W/update_other.sql@1" -f "$W/delete.sql@1" \
    -f "$W/query.sql@3" -f "$W/filtered.sql@2" semvec_test >"$SCN_TMP/pgbench.out" 2>&1
rc=$?
set -e
wait $dl || true
touch "$STOP"
wait $vl || true
log "pgbench done ($(elapsed))"
grep -E "number of (transactions actually processed|failed)|tps =" "$SCN_TMP/pgbench.out" | sed 's/^/  /'

check_eq "pgbench finished in time with every client alive (exit code)" "$rc" 0
check "no client was aborted" bash -c "! grep -q 'aborted' '$SCN_TMP/pgbench.out'"
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$SCN_TMP/pgbench.out")
check_eq "no transaction failed" "${failed:-0}" 0
check "the mix did real work (>= 1000 transactions)" \
    test "$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$SCN_TMP/pgbench.out")" -ge 1000
check "VACUUM ran repeatedly during the load, without errors" \
    bash -c "[ \$(cat '$SCN_TMP/vacuums') -ge 2 ] && ! grep -q . '$SCN_TMP/vacuum.err'"
check "CREATE INDEX CONCURRENTLY succeeded under load" grep -q cic-ok "$SCN_TMP/ddl.out"
check "REINDEX INDEX CONCURRENTLY succeeded under load" grep -q reindex-ok "$SCN_TMP/ddl.out"
[ -s "$SCN_TMP/ddl.out" ] && grep -v -- "-ok$" "$SCN_TMP/ddl.out" >&2 || true
log_file="$(node_dir conc)/server.log"
check "no deadlock was detected" bash -c "! grep -q 'deadlock detected' '$log_file'"
# Autovacuum cancels itself when a statement waits on its lock (CREATE INDEX CONCURRENTLY, the
# VACUUM loop): Postgres logs that as an ERROR of the autovacuum worker, not of any client.
check_log_clean conc 0 "the server log has no ERROR/FATAL/PANIC (autovacuum cancelling itself aside)" \
    'ERROR:  canceling autovacuum task$'
check_eq "both indexes are valid" \
    "$(node_sql conc "SELECT count(*) FROM pg_index WHERE indrelid = 'items'::regclass AND indisvalid AND indisready AND indexrelid::regclass::text LIKE 'items_v_%'")" 2

check_index_ok conc items_v_idx "reindexed l2 index passes semvec_index_check"
check_index_ok conc items_v_cos "concurrently built cosine index passes semvec_index_check"
node_psql conc -c "VACUUM items"
check_index_ok conc items_v_idx "l2 index still passes after a final VACUUM"
check_rows_found conc items items_v_idx '<->' "l2 index"
check_rows_found conc items items_v_cos '<=>' "cosine index"
recall=$(node_sql conc "SET hnsw.ef_search = 100; SELECT recall10('items', 'queries')")
check "recall@10 = $recall >= 0.95 after the load (ef_search 100)" awk -v r="$recall" 'BEGIN { exit !(r >= 0.95) }'
node_stop conc
finish
