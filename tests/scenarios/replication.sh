#!/usr/bin/env bash
# Physical replication of the hnsw index: a streaming replica (pg_basebackup -R over 127.0.0.1)
# replays the primary's index build (pages logged in bulk, and the past-maintenance_work_mem
# path that switches to logged inserts), inserts, deletes and VACUUM; once it has replayed up to
# the primary's WAL position it returns the same top-10 for 100 queries on two indexes, its copy
# passes semvec_index_check, and after promotion it takes writes. Then UNLOGGED tables: after a
# crash the table and its index are reset from their init forks, empty and usable.
#
# Environment: REPL_ROWS (default 6000), REPL_DIMS (default 32), HNSW_WITH (more options for the two
# indexes, e.g. "quantization = 'sq8'").
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/lib/cluster.bash"

ROWS=${REPL_ROWS:-6000}
DIMS=${REPL_DIMS:-32}

log "replication: primary and streaming replica on 127.0.0.1"
node_init primary 28821
node_start primary
node_testdb primary
make_items primary "$ROWS" "$DIMS" 100
node_backup replica primary 28822
node_start replica
check_eq "replica is in recovery" "$(node_sql replica "SELECT pg_is_in_recovery()")" t

log "primary: build, insert, delete, vacuum ($(elapsed))"
node_psql primary -c "CREATE INDEX items_l2 ON items USING hnsw (v vector_l2_ops) WITH (m = 12, ef_construction = 48${HNSW_WITH:+, $HNSW_WITH})"
# A build that outgrows maintenance_work_mem writes what it has, then inserts the rest one by one.
notice=$(node_psql primary -c "SET maintenance_work_mem = '1MB'" -c "CREATE INDEX items_cos ON items USING hnsw (v vector_cosine_ops)${HNSW_WITH:+ WITH ($HNSW_WITH)}" 2>&1)
check "cosine build ran past maintenance_work_mem (logged inserts)" grep -q "no longer fits into maintenance_work_mem" <<<"$notice"
node_psql primary -c "INSERT INTO items SELECT i, random_vector($DIMS, i) FROM generate_series($ROWS + 1, $ROWS + 2000) i"
node_psql primary -c "DELETE FROM items WHERE id % 4 = 0" -c "VACUUM items"
node_psql primary -c "INSERT INTO items SELECT i, random_vector($DIMS, i) FROM generate_series($ROWS + 2001, $ROWS + 3000) i"
node_psql primary -c "UPDATE items SET v = random_vector($DIMS, id + 77) WHERE id % 9 = 0" -c "VACUUM items"

# Wait until the replica has replayed everything the primary wrote.
lsn=$(node_sql primary "SELECT pg_current_wal_lsn()")
check_eventually replica "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" t 60 \
    "replica replayed up to the primary's WAL position $lsn"

for op in '<->' '<=>'; do
    top10 primary "$op" >"$SCN_TMP/primary$op.txt"
    check_same_top10 replica "$op" "$SCN_TMP/primary$op.txt" "replica returns the primary's top-10 for every query"
done
recall=$(node_sql replica "SET hnsw.ef_search = 100; SELECT recall10('items', 'queries')")
check "recall@10 = $recall >= 0.95 on the replica (ef_search 100)" awk -v r="$recall" 'BEGIN { exit !(r >= 0.95) }'
check_index_ok replica items_l2 "replica's l2 index passes semvec_index_check"
check_index_ok replica items_cos "replica's cosine index passes semvec_index_check"
check_eq "replica's index holds the primary's element count" \
    "$(node_sql replica "SELECT semvec_index_check('items_l2', false)->>'elements'")" \
    "$(node_sql primary "SELECT semvec_index_check('items_l2', false)->>'elements'")"

log "promote the replica and write to its index ($(elapsed))"
as_postgres "$PG_BIN/pg_ctl" -D "$(node_dir replica)" -w promote >/dev/null
node_psql replica -c "INSERT INTO items SELECT i, random_vector($DIMS, i) FROM generate_series(100001, 100500) i" \
    -c "DELETE FROM items WHERE id % 5 = 0" -c "VACUUM items"
check_index_ok replica items_l2 "promoted replica's index takes inserts, deletes and VACUUM"
check_eq "promoted replica finds a new row by its own vector" \
    "$(node_sql replica "SET enable_seqscan = off; SELECT id FROM items ORDER BY v <-> random_vector($DIMS, 100001) LIMIT 1" | tail -1)" 100001
node_stop replica

log "UNLOGGED table: init fork after a crash ($(elapsed))"
node_psql primary <<SQL
CREATE UNLOGGED TABLE scratch (id int, v vector(3));
CREATE INDEX scratch_v ON scratch USING hnsw (v vector_l2_ops);
INSERT INTO scratch SELECT i, ARRAY[i, i % 7, i % 3]::vector FROM generate_series(1, 3000) i;
CHECKPOINT;
INSERT INTO scratch SELECT i, ARRAY[i, 1, 1]::vector FROM generate_series(3001, 3100) i;
SQL
check_eq "unlogged index has an init fork" \
    "$(node_sql primary "SELECT count(*) FROM pg_ls_dir('base/' || (SELECT oid FROM pg_database WHERE datname = current_database())) f WHERE f = (SELECT relfilenode FROM pg_class WHERE relname = 'scratch_v') || '_init'")" 1
node_crash primary
node_start primary
check_eq "unlogged table is empty after crash recovery" "$(node_sql primary "SELECT count(*) FROM scratch")" 0
check_index_ok primary scratch_v "reset unlogged index passes semvec_index_check"
check_eq "reset unlogged index is empty" "$(node_sql primary "SELECT semvec_index_check('scratch_v')->>'elements'")" 0
node_psql primary -c "INSERT INTO scratch SELECT i, ARRAY[i, 2, 2]::vector FROM generate_series(1, 500) i"
check_eq "reset unlogged index serves an index scan" \
    "$(node_sql primary "SET enable_seqscan = off; SELECT string_agg(id::text, ',') FROM (SELECT id FROM scratch ORDER BY v <-> '[250,2,2]' LIMIT 3) s" | tail -1)" "250,249,251"
check_index_ok primary scratch_v "unlogged index is valid after inserts"
# A clean restart keeps an unlogged table's contents.
node_stop primary
node_start primary
check_eq "unlogged rows survive a clean restart" "$(node_sql primary "SELECT count(*) FROM scratch")" 500
node_stop primary
finish
