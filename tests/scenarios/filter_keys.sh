#!/usr/bin/env bash
# hnsw indexes with filter key columns (USING hnsw (v vector_l2_ops, tenant, labels)) under the
# multi-process conditions a multi-tenant application puts them in:
#   1. four clients insert concurrently into 300 tenants (new tenants' posting lists are created
#      by several backends at once) while a fifth deletes and VACUUMs: semvec_index_check finds no
#      corruption and no unlisted key, and filtered index scans equal exact filtered search;
#   2. a streaming replica replays all of it, then the deletion of a whole tenant and its VACUUM,
#      and returns the primary's filtered top-10 for every query;
#   3. the primary is killed with SIGKILL mid-inserts (after a CHECKPOINT, so recovery replays full
#      page images of the posting-list pages too): every acknowledged row is found through the
#      index by its own vector and tenant, and the index passes semvec_index_check.
#
# Environment: FK_ROWS (default 6000), FK_DIMS (default 16), FK_SECONDS (insert time, default 8),
# FK_KEY_VECTORS (on: the index keeps each vector in its posting lists too, `key_vectors = on`;
# filter_keys_vectors.sh runs it so).
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/lib/cluster.bash"

ROWS=${FK_ROWS:-6000}
DIMS=${FK_DIMS:-16}
SECS=${FK_SECONDS:-8}
KV=${FK_KEY_VECTORS:-off}

log "filter keys: concurrent writers, a replica and a crash on an hnsw index with key columns (key_vectors $KV)"
node_init fkp 28830 "checkpoint_timeout = 5min" "max_wal_size = 1GB" "autovacuum = off"
node_start fkp
node_testdb fkp
node_psql fkp <<SQL
CREATE TABLE items (id int PRIMARY KEY, tenant int, labels int[], v vector($DIMS));
INSERT INTO items SELECT i, i % 300, ARRAY[i % 7, 100 + i % 5], random_vector($DIMS, i) FROM generate_series(1, $ROWS) i;
CREATE INDEX items_fk ON items USING hnsw (v vector_l2_ops, tenant, labels) WITH (m = 12, ef_construction = 48, key_vectors = $KV);
CREATE TABLE queries (id int, v vector($DIMS));
INSERT INTO queries SELECT i, random_vector($DIMS, -i) FROM generate_series(1, 20) i;
-- Queries whose index top-10 differs from exact filtered search (index scans off), over the
-- query vectors and the tenants given.
CREATE FUNCTION filtered_mismatches(tenants int[], lbl int DEFAULT NULL) RETURNS int LANGUAGE plpgsql AS \$\$
DECLARE q record; t int; got int[]; exact int[]; bad int := 0; stmt text;
BEGIN
    stmt := 'SELECT array_agg(id) FROM (SELECT id FROM items WHERE tenant = \$1 AND (\$3::int IS NULL OR labels && ARRAY[\$3]) ORDER BY v <-> \$2 LIMIT 10) s';
    FOREACH t IN ARRAY tenants LOOP
        FOR q IN SELECT * FROM queries LOOP
            PERFORM set_config('enable_indexscan', 'off', true);
            EXECUTE stmt INTO exact USING t, q.v, lbl;
            PERFORM set_config('enable_indexscan', 'on', true);
            PERFORM set_config('enable_seqscan', 'off', true);
            PERFORM set_config('enable_bitmapscan', 'off', true);
            EXECUTE stmt INTO got USING t, q.v, lbl;
            PERFORM set_config('enable_seqscan', 'on', true);
            PERFORM set_config('enable_bitmapscan', 'on', true);
            IF got IS DISTINCT FROM exact THEN bad := bad + 1; END IF;
        END LOOP;
    END LOOP;
    RETURN bad;
END \$\$;
SQL
check_eq "the index has key_vectors $KV" \
    "$(node_sql fkp "SELECT semvec_index_check('items_fk')->'warnings'->>'key_vectors'")" "$([ "$KV" = on ] && echo true || echo false)"
check_eq "the filtered plan uses the index with the tenant as an index condition" \
    "$(node_sql fkp "EXPLAIN (COSTS OFF) SELECT id FROM items WHERE tenant = 5 ORDER BY v <-> random_vector($DIMS, 1) LIMIT 10" | grep -c "Index Cond: (tenant = 5)")" 1

# writer NAME CLIENT ROUND: inserts ids ROUND*10^6 + CLIENT + 4k, tenant from the id (new tenants
# 300-399 too), until the server goes away or SECS pass; prints each id once committed.
writer() {
    local base=$(($3 * 1000000 + $2))
    awk -v b="$base" -v d="$DIMS" 'BEGIN { for (i = 0; ; i++) { id = b + 4 * i; printf "INSERT INTO items VALUES (%d, %d, ARRAY[%d], random_vector(%d, %d)) RETURNING id;\n", id, id % 400, id % 7, d, id } }' |
        timeout "$SECS" "$PG_BIN/psql" -X -q -At -h "$SCN_TMP" -p "$(node_port "$1")" -U postgres -d semvec_test >"$SCN_TMP/committed.$3.$2" 2>"$SCN_TMP/writer.$3.$2.err" || true
}

log "1. four writers and a vacuuming deleter ($(elapsed))"
node_backup fkr fkp 28831
node_start fkr
pids=()
for c in 0 1 2 3; do
    writer fkp "$c" 1 &
    pids+=($!)
    track_bg $!
done
(
    for i in $(seq 1 20); do
        node_psql fkp -c "DELETE FROM items WHERE id IN (SELECT id FROM items WHERE id < 1000000 AND id % 20 = $i LIMIT 100)" -c "VACUUM items" || break
        sleep 0.3
    done
) >/dev/null 2>"$SCN_TMP/deleter.err" &
pids+=($!)
track_bg $!
wait "${pids[@]}" 2>/dev/null || true
committed=$(cat "$SCN_TMP"/committed.1.* | grep -c . || true)
check "writers committed rows ($committed)" test "$committed" -gt 200
check_index_ok fkp items_fk "index passes semvec_index_check after concurrent writers and VACUUM"
check_eq "no live element's key is missing from the posting lists" \
    "$(node_sql fkp "SELECT semvec_index_check('items_fk', true)->'warnings'->>'unlisted_keys'")" 0
check_eq "filtered index scans equal exact filtered search (old, new and fresh tenants)" \
    "$(node_sql fkp "SELECT filtered_mismatches('{0,17,299,305,399}')")" 0
check_eq "... with a labels overlap too" "$(node_sql fkp "SELECT filtered_mismatches('{17,305}', 3)")" 0

log "2. the replica ($(elapsed))"
node_psql fkp -c "DELETE FROM items WHERE tenant = 17" -c "VACUUM items"
check_caught_up fkr fkp
for t in 17 42 305; do
    q="SET enable_seqscan = off; SELECT string_agg(id::text, ',' ORDER BY n) FROM (SELECT id, row_number() OVER () n FROM (SELECT id FROM items WHERE tenant = $t ORDER BY v <-> random_vector($DIMS, -3) LIMIT 10) s) s"
    check_eq "replica returns the primary's filtered top-10 for tenant $t" "$(node_sql fkr "$q" | tail -1)" "$(node_sql fkp "$q" | tail -1)"
done
check_eq "the deleted tenant is gone on the replica too" \
    "$(node_sql fkr "SET enable_seqscan = off; SELECT count(*) FROM (SELECT id FROM items WHERE tenant = 17 ORDER BY v <-> random_vector($DIMS, 1) LIMIT 10) s" | tail -1)" 0
check_index_ok fkr items_fk "replica's index passes semvec_index_check"
node_stop fkr

log "3. SIGKILL mid-inserts ($(elapsed))"
pids=()
for c in 0 1; do
    writer fkp "$c" 2 &
    pids+=($!)
    track_bg $!
done
sleep $((SECS / 2))
node_psql fkp -c "CHECKPOINT" || true
sleep 1
node_crash fkp
wait "${pids[@]}" 2>/dev/null || true
node_start fkp
cat "$SCN_TMP"/committed.2.* >"$SCN_TMP/acked"
chmod 644 "$SCN_TMP/acked"
acked=$(grep -c . "$SCN_TMP/acked" || true)
check "clients had committed rows before the crash ($acked)" test "$acked" -gt 50
node_psql fkp -c "CREATE TABLE acked (id int)" -c "\\copy acked FROM '$SCN_TMP/acked'"
check_eq "every acknowledged row is found through the index by its own vector and tenant" \
    "$(node_sql fkp "SET enable_seqscan = off; SET enable_bitmapscan = off; SELECT count(*) FROM acked a WHERE NOT EXISTS (SELECT 1 FROM (SELECT id FROM items WHERE tenant = a.id % 400 ORDER BY v <-> random_vector($DIMS, a.id) LIMIT 1) s WHERE s.id = a.id)" | tail -1)" 0
check_index_ok fkp items_fk "index passes semvec_index_check after crash recovery"
check_eq "filtered index scans equal exact filtered search after recovery" \
    "$(node_sql fkp "SELECT filtered_mismatches('{1,305,399}')")" 0
node_psql fkp -c "DELETE FROM items WHERE tenant = 305" -c "VACUUM items"
check_index_ok fkp items_fk "recovered index takes a tenant's deletion and VACUUM"
node_stop fkp
finish
