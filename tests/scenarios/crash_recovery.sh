#!/usr/bin/env bash
# Crash recovery of the hnsw index: two clients insert into an indexed table, each row in its own
# transaction with its id echoed back only after the commit; the whole server is then killed with
# SIGKILL (postmaster and every backend at once) mid-stream, once after a CHECKPOINT (so recovery
# replays full-page images of Generic WAL records) and once while a third client deletes rows and
# runs VACUUM (so the crash lands in the middle of neighbour-list repairs too). After each restart:
# every acknowledged row is in the table and in the index with its vector, semvec_index_check
# finds no corruption, and after one VACUUM (which finishes a repair the crash interrupted) every
# row is reachable and returned first by an index scan ordered by the distance to its own vector,
# and recall@10 holds.
#
# Environment: CRASH_INSERT_SECONDS (insert time before each crash, default 10), CRASH_ROUNDS
# (default 2), CRASH_DIMS (default 16), HNSW_WITH (more index options, e.g. "quantization = 'sq8'").
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/lib/cluster.bash"

SECONDS_PER_ROUND=${CRASH_INSERT_SECONDS:-10}
ROUNDS=${CRASH_ROUNDS:-2}
DIMS=${CRASH_DIMS:-16}
SEED_ROWS=${CRASH_SEED_ROWS:-4000}

log "crash recovery: $ROUNDS rounds of 2 inserting clients for ${SECONDS_PER_ROUND}s, then SIGKILL"
node_init crash 28820 "checkpoint_timeout = 5min" "max_wal_size = 1GB"
node_start crash
node_testdb crash
node_psql crash <<SQL
CREATE TABLE items (id int PRIMARY KEY, v vector($DIMS));
INSERT INTO items SELECT i, random_vector($DIMS, i) FROM generate_series(1, $SEED_ROWS) i;
CREATE INDEX items_v_idx ON items USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 64${HNSW_WITH:+, $HNSW_WITH});
CREATE TABLE queries (id int, v vector($DIMS));
INSERT INTO queries SELECT i, random_vector($DIMS, -i) FROM generate_series(1, 50) i;
SQL

# writer ROUND CLIENT: inserts ids ROUND*10^7 + CLIENT + 2k until the server goes away; prints
# each id once its transaction committed (psql prints a result only after ReadyForQuery, which
# the server sends after the commit record is flushed: synchronous_commit = on).
writer() {
    local base=$(($1 * 10000000 + $2))
    awk -v b="$base" -v d="$DIMS" 'BEGIN { for (i = 0; ; i++) printf "INSERT INTO items VALUES (%d, random_vector(%d, %d)) RETURNING id;\n", b + 2 * i, d, b + 2 * i }' |
        node_psql crash -At >"$SCN_TMP/committed.$1.$2" 2>"$SCN_TMP/writer.$1.$2.err"
}

# deleter ROUND: deletes rows of earlier rounds in small transactions and vacuums, until the
# server goes away.
deleter() {
    local r=$1
    for i in $(seq 1 1000); do
        node_psql crash -c "DELETE FROM items WHERE id IN (SELECT id FROM items WHERE id < $r * 10000000 AND id % 10 = $((i % 10)) LIMIT 150)" \
            -c "VACUUM items" || break
    done >/dev/null 2>"$SCN_TMP/deleter.$r.err"
}

for round in $(seq 1 "$ROUNDS"); do
    log "round $round: inserting ($(elapsed))"
    writer "$round" 0 &
    w0=$!
    track_bg $w0
    writer "$round" 1 &
    w1=$!
    track_bg $w1
    d=""
    if [ $((round % 2)) -eq 0 ]; then
        deleter "$round" &
        d=$!
        track_bg "$d"
    fi
    sleep $((SECONDS_PER_ROUND / 2))
    node_psql crash -c "CHECKPOINT" || true
    sleep $((SECONDS_PER_ROUND - SECONDS_PER_ROUND / 2))
    node_crash crash
    wait $w0 $w1 $d 2>/dev/null || true
    committed=$(cat "$SCN_TMP"/committed.$round.* | grep -c . || true)
    log "round $round: killed after $committed acknowledged commits; restarting ($(elapsed))"
    check "round $round: clients had committed rows before the crash" test "$committed" -gt 100
    node_start crash
    grep -q "database system was interrupted\|was not properly shut down" "$(node_dir crash)/server.log" &&
        pass "round $round: server ran crash recovery" || fail "round $round: server ran crash recovery"

    cat "$SCN_TMP"/committed.$round.* >"$SCN_TMP/acked.$round"
    chmod 644 "$SCN_TMP/acked.$round"
    node_psql crash -c "CREATE TEMP TABLE acked (id int)" -c "\\copy acked FROM '$SCN_TMP/acked.$round'" \
        -c "CREATE TABLE missing_$round AS SELECT id FROM acked EXCEPT SELECT id FROM items"
    check_eq "round $round: every acknowledged commit is in the table" \
        "$(node_sql crash "SELECT count(*) FROM missing_$round")" 0
    check_eq "round $round: every row holds the vector it was inserted with" \
        "$(node_sql crash "SELECT count(*) FROM items WHERE v <> random_vector($DIMS, id)")" 0
    check_index_ok crash items_v_idx "round $round: semvec_index_check finds no corruption"
    # A crash during VACUUM leaves its repair unfinished (dead elements, maybe cut-off live ones):
    # the next VACUUM finishes it, after which no row may be lost from search.
    node_psql crash -c "VACUUM items"
    check_rows_found crash items items_v_idx '<->' "round $round, after a VACUUM"
    recall=$(node_sql crash "SELECT recall10('items', 'queries')")
    check "round $round: recall@10 = $recall >= 0.95 after recovery" awk -v r="$recall" 'BEGIN { exit !(r >= 0.95) }'
    # The recovered index keeps working: inserts and a vacuum after recovery.
    node_psql crash -c "INSERT INTO items SELECT i, random_vector($DIMS, i) FROM generate_series($round * 10000000 - 500, $round * 10000000 - 1) i" \
        -c "DELETE FROM items WHERE id % 17 = 0" -c "VACUUM items"
    check_index_ok crash items_v_idx "round $round: index stays valid through inserts, deletes and VACUUM after recovery"
done

node_stop crash
finish
