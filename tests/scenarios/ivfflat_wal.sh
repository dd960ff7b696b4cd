#!/usr/bin/env bash
# WAL of the ivfflat index: a streaming replica, started before the index exists, replays the
# build (pages logged in bulk), inserts that grow list chains, deletes with VACUUM (pages
# compacted) and more inserts, and then answers every query exactly like the primary. A crash of
# the primary right after committed inserts loses nothing from the index. UNLOGGED tables come
# back empty after a crash, with a usable index (reset from its init fork).
#
# Environment: IVF_WAL_ROWS (default 4000), IVF_WAL_DIMS (default 32).
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/lib/cluster.bash"

ROWS=${IVF_WAL_ROWS:-4000}
DIMS=${IVF_WAL_DIMS:-32}

# Every query's result ids (all rows, in index order) at the given probes, hashed per node.
results_hash() {
    node_sql "$1" "SET enable_seqscan = off; SET ivfflat.probes = $2;
        SELECT md5(string_agg(r, ';' ORDER BY qid)) FROM (
            SELECT q.id AS qid, (SELECT string_agg(id::text, ',') FROM (SELECT id FROM items ORDER BY v $3 q.v LIMIT 50) s) AS r
            FROM queries q) t" | tail -1
}

# Share of the exact top-10 (by distance) the index misses with every list probed.
exact_misses() {
    node_sql "$1" "SET ivfflat.probes = 32768; SELECT 1 - recall10('items', 'queries', '$2')" | tail -1
}

# Rows the index returns with every list probed, NULL-free rows of the table.
index_count() {
    node_sql "$1" "SET enable_seqscan = off; SET ivfflat.probes = 32768;
        SELECT count(*) FROM (SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries LIMIT 1)) s" | tail -1
}

log "ivfflat WAL: primary and a streaming replica"
node_init primary 28833
node_start primary
node_testdb primary
make_items primary "$ROWS" "$DIMS" 50
node_backup replica primary 28834
node_start replica
check_eq "replica is in recovery" "$(node_sql replica "SELECT pg_is_in_recovery()")" t

node_psql primary <<SQL
CREATE INDEX items_l2 ON items USING ivfflat (v vector_l2_ops) WITH (lists = 20);
CREATE INDEX items_cos ON items USING ivfflat (v vector_cosine_ops) WITH (lists = 10);
INSERT INTO items SELECT i, random_vector($DIMS, i) FROM generate_series($ROWS + 1, 2 * $ROWS) i;
DELETE FROM items WHERE id % 3 = 0;
SQL
node_psql primary -c "VACUUM items"
node_psql primary -c "INSERT INTO items SELECT i, random_vector($DIMS, i) FROM generate_series(3, 2 * $ROWS, 3) i"

# wait until the replica has replayed everything the primary wrote
lsn=$(node_sql primary "SELECT pg_current_wal_lsn()")
check_eventually replica "SELECT pg_last_wal_replay_lsn() >= '$lsn'" t 30 "replica caught up"

rows=$(node_sql primary "SELECT count(*) FROM items")
check_eq "primary: every row through the index" "$(index_count primary)" "$rows"
check_eq "replica: every row through the index" "$(index_count replica)" "$rows"
check_eq "primary: exact with all lists (l2)" "$(exact_misses primary '<->')" 0
check_eq "replica: exact with all lists (l2)" "$(exact_misses replica '<->')" 0
check_eq "replica: exact with all lists (cosine)" "$(exact_misses replica '<=>')" 0
for probes in 1 3 32768; do
    check_eq "replica answers like the primary, l2, probes $probes" "$(results_hash replica $probes '<->')" "$(results_hash primary $probes '<->')"
done
check_eq "replica answers like the primary, cosine, probes 2" "$(results_hash replica 2 '<=>')" "$(results_hash primary 2 '<=>')"
node_stop replica

log "crash right after committed inserts"
node_psql primary -c "INSERT INTO items SELECT i, random_vector($DIMS, i) FROM generate_series(2 * $ROWS + 1, 3 * $ROWS) i"
node_crash primary
node_start primary
rows=$(node_sql primary "SELECT count(*) FROM items")
check_eq "after crash recovery: every row through the index" "$(index_count primary)" "$rows"
check_eq "after crash recovery: exact with all lists" "$(exact_misses primary '<->')" 0
node_psql primary -c "INSERT INTO items SELECT i, random_vector($DIMS, i) FROM generate_series(3 * $ROWS + 1, 3 * $ROWS + 500) i"
check_eq "after crash recovery: inserts go on" "$(index_count primary)" "$((rows + 500))"

log "UNLOGGED table: reset from the init fork after a crash"
node_psql primary <<SQL
CREATE UNLOGGED TABLE scratch (id int, v vector($DIMS));
INSERT INTO scratch SELECT i, random_vector($DIMS, i) FROM generate_series(1, 1000) i;
CREATE INDEX ON scratch USING ivfflat (v vector_l2_ops) WITH (lists = 10);
SQL
node_psql primary -c "CHECKPOINT"
node_crash primary
node_start primary
check_eq "unlogged table is empty after the crash" "$(node_sql primary "SELECT count(*) FROM scratch")" 0
node_psql primary -c "INSERT INTO scratch SELECT i, random_vector($DIMS, i) FROM generate_series(1, 300) i"
check_eq "its index takes inserts and finds them" \
    "$(node_sql primary "SET enable_seqscan = off; SET ivfflat.probes = 10; SELECT count(*) FROM (SELECT id FROM scratch ORDER BY v <-> (SELECT v FROM queries LIMIT 1)) s" | tail -1)" 300
finish
