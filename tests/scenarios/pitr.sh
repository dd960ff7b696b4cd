#!/usr/bin/env bash
# Point-in-time recovery of hnsw indexes: a base backup plus archived WAL, replayed up to a named
# restore point, gives back the table and its indexes exactly as they were at that point. One
# index is built after the backup; both change after it (logged inserts, VACUUM repairing the
# graph after deletes) and again after the restore point (a mass delete, VACUUM, new rows). The
# recovered server returns the same top-10 as the primary did at the restore point for 100
# queries on both indexes, its indexes pass semvec_index_check, and after promotion they take
# writes.
#
# Environment: PITR_ROWS (default 5000, at most 97500), PITR_DIMS (default 24).
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/lib/cluster.bash"

ROWS=${PITR_ROWS:-5000}
DIMS=${PITR_DIMS:-24}
# Rows added after the backup take ids up to ROWS + 2500; those after the restore point start at 100001.
if [ $((ROWS + 2500)) -gt 100000 ]; then
    echo "PITR_ROWS must be at most 97500" >&2
    exit 2
fi
ARCHIVE="$SCN_TMP/archive"
as_postgres mkdir -p "$ARCHIVE"

log "pitr: primary archiving its WAL to $ARCHIVE"
# No autovacuum: the top-10 captured just before the restore point must be the restore point's.
node_init primary 28825 "autovacuum = off" "archive_mode = on" \
    "archive_command = 'test ! -f $ARCHIVE/%f && cp %p $ARCHIVE/%f'"
node_start primary
node_testdb primary
make_items primary "$ROWS" "$DIMS" 100
node_psql primary -c "CREATE INDEX items_l2 ON items USING hnsw (v vector_l2_ops) WITH (m = 12, ef_construction = 48)"

log "base backup ($(elapsed))"
node_basebackup restored primary 28826 -- "archive_mode = off" "autovacuum = off" \
    "restore_command = 'cp $ARCHIVE/%f %p'" \
    "recovery_target_name = 'semvec_pitr'" \
    "recovery_target_action = 'promote'"
as_postgres touch "$(node_dir restored)/recovery.signal"

log "after the backup: a new index, inserts, deletes, VACUUM, then the restore point ($(elapsed))"
# Built after the backup, so the restored server gets this index only from the archived WAL.
node_psql primary -c "CREATE INDEX items_cos ON items USING hnsw (v vector_cosine_ops)"
node_psql primary -c "INSERT INTO items SELECT i, random_vector($DIMS, i) FROM generate_series($ROWS + 1, $ROWS + 2000) i"
node_psql primary -c "DELETE FROM items WHERE id % 4 = 0" -c "VACUUM items"
node_psql primary -c "UPDATE items SET v = random_vector($DIMS, id + 77) WHERE id % 9 = 0"
node_psql primary -c "INSERT INTO items SELECT i, random_vector($DIMS, i) FROM generate_series($ROWS + 2001, $ROWS + 2500) i"

for op in '<->' '<=>'; do top10 primary "$op" >"$SCN_TMP/at_point$op.txt"; done
rows_at_point=$(node_sql primary "SELECT count(*) FROM items")
declare -A elements_at_point
for idx in items_l2 items_cos; do
    elements_at_point[$idx]=$(node_sql primary "SELECT semvec_index_check('$idx', false)->>'elements'")
done
node_sql primary "SELECT pg_create_restore_point('semvec_pitr')" >/dev/null

log "after the restore point: the mistake to undo ($(elapsed))"
node_psql primary -c "DELETE FROM items WHERE id <= $((ROWS / 2))" -c "VACUUM items"
node_psql primary -c "INSERT INTO items SELECT i, random_vector($DIMS, i) FROM generate_series(100001, 101000) i"
check_eq "primary has none of the rows deleted after the restore point" \
    "$(node_sql primary "SELECT count(*) FROM items WHERE id <= $((ROWS / 2))")" 0
segment=$(node_sql primary "SELECT pg_walfile_name(pg_switch_wal())")
# last_archived_wal is set once archive_command has succeeded for the segment.
check_eventually primary "SELECT coalesce(last_archived_wal >= '$segment', false) FROM pg_stat_archiver" t 60 \
    "WAL up to segment $segment is archived"
node_stop primary

log "restore the base backup and replay the archive up to 'semvec_pitr' ($(elapsed))"
node_start restored
check_eventually restored "SELECT pg_is_in_recovery()" f 60 "recovery reached the restore point and promoted"
check "server log names the restore point as the recovery stop" \
    grep -q 'recovery stopping at restore point "semvec_pitr"' "$(node_dir restored)/server.log"

check_eq "restored table has the rows of the restore point" \
    "$(node_sql restored "SELECT count(*) FROM items")" "$rows_at_point"
check_eq "rows deleted after the restore point are back" \
    "$(node_sql restored "SELECT count(*) FROM items WHERE id <= $((ROWS / 2))")" \
    "$(( ROWS / 2 - ROWS / 2 / 4 ))"
check_eq "rows inserted after the restore point are absent" \
    "$(node_sql restored "SELECT count(*) FROM items WHERE id > 100000")" 0
for idx in items_l2 items_cos; do
    check_eq "restored $idx holds the element count of the restore point" \
        "$(node_sql restored "SELECT semvec_index_check('$idx', false)->>'elements'")" "${elements_at_point[$idx]}"
    check_index_ok restored "$idx" "restored $idx passes semvec_index_check"
done
for op in '<->' '<=>'; do
    check_same_top10 restored "$op" "$SCN_TMP/at_point$op.txt" "restored server returns the restore point's top-10 for every query"
done
recall=$(node_sql restored "SET hnsw.ef_search = 100; SELECT recall10('items', 'queries')")
check "recall@10 = $recall >= 0.95 on the restored server (ef_search 100)" awk -v r="$recall" 'BEGIN { exit !(r >= 0.95) }'

log "the recovered server takes writes ($(elapsed))"
node_psql restored -c "INSERT INTO items SELECT i, random_vector($DIMS, i) FROM generate_series(200001, 200500) i" \
    -c "DELETE FROM items WHERE id % 5 = 0" -c "VACUUM items"
check_index_ok restored items_l2 "recovered l2 index takes inserts, deletes and VACUUM"
check_eq "recovered server finds a new row by its own vector" \
    "$(node_sql restored "SET enable_seqscan = off; SELECT id FROM items ORDER BY v <-> random_vector($DIMS, 200001) LIMIT 1" | tail -1)" 200001
node_stop restored
finish
