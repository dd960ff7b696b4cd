#!/usr/bin/env bash
# Resources: many index scans in one backend keep its memory flat; a long index build and a long
# iterative scan are cancelled promptly by statement_timeout and by pg_cancel_backend, leave no
# thread or memory behind, and the backend stays usable.
#
# Environment: RES_QUERIES (index scans in one backend, default 20000; 200000 in the stress run),
# RES_BUILD_ROWS and RES_BUILD_DIMS (table for the cancelled builds, default 100000 x 128).
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/lib/cluster.bash"

QUERIES=${RES_QUERIES:-20000}
BUILD_ROWS=${RES_BUILD_ROWS:-100000}
BUILD_DIMS=${RES_BUILD_DIMS:-128}

log "resources: $QUERIES scans in one backend; cancelling builds of $BUILD_ROWS x $BUILD_DIMS and long scans"
node_init res 28824 "maintenance_work_mem = 1GB" "max_parallel_maintenance_workers = 2" "autovacuum = off"
node_start res
node_testdb res
node_psql res <<SQL
CREATE TABLE small (id int PRIMARY KEY, cat int, v vector(16));
INSERT INTO small SELECT i, i % 10, random_vector(16, i) FROM generate_series(1, 30000) i;
CREATE INDEX small_v ON small USING hnsw (v vector_l2_ops) WITH (m = 8, ef_construction = 32);
-- Random vectors without a per-element function call: fast enough for $BUILD_ROWS rows.
CREATE TABLE big (id int, cat int, v vector($BUILD_DIMS));
SELECT setseed(0.5) \\g /dev/null
INSERT INTO big SELECT i, i % 10, (SELECT array_agg(random()) FROM generate_series(1, $BUILD_DIMS) WHERE i > 0)::vector
FROM generate_series(1, $BUILD_ROWS) i;
VACUUM ANALYZE big;
SQL
log "data loaded ($(elapsed))"

# Private (anonymous) resident memory: shared buffers the backend touches do not count.
rss_kb() { awk '/^RssAnon/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
threads() { ls "/proc/$1/task" 2>/dev/null | wc -l; }

# --- 1. Memory of one backend over many index scans --------------------------------------------
cat >"$SCN_TMP/scan.sql" <<SQL
\set seed random(1, 1000000000)
\set cat random(0, 9)
SELECT id FROM small ORDER BY v <-> random_vector(16, :seed) LIMIT 10;
SELECT id FROM small WHERE cat = :cat ORDER BY v <-> random_vector(16, :seed) LIMIT 10;
SQL
chmod a+r "$SCN_TMP/scan.sql"
PGAPPNAME=semvec_mem PGOPTIONS="-c hnsw.iterative_scan=relaxed_order" \
    "$PG_BIN/pgbench" -h "$SCN_TMP" -p "$(node_port res)" -U postgres -n -c 1 -M prepared \
    -t $((QUERIES / 2)) -f "$SCN_TMP/scan.sql" semvec_test >"$SCN_TMP/mem.out" 2>&1 &
bench=$!
track_bg $bench
# RSS after a warm-up (caches, plans, buffers mapped), then the largest value seen until the end.
# (pgbench's first, short connection only checks the server: look for the benchmark's own.)
sleep 3
pid=$(node_sql res "SELECT pid FROM pg_stat_activity WHERE application_name = 'semvec_mem' LIMIT 1")
first=$(rss_kb "$pid")
peak=$first
samples=0
while kill -0 $bench 2>/dev/null; do
    r=$(rss_kb "$pid")
    [ "$r" -gt "$peak" ] && peak=$r
    samples=$((samples + 1))
    sleep 0.5
done
rc=0
wait $bench || rc=$?
[ "$rc" -eq 0 ] || tail -5 "$SCN_TMP/mem.out" >&2
done_q=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$SCN_TMP/mem.out")
check_eq "one backend ran $QUERIES index scans (pgbench exit code)" "$rc" 0
check_eq "all $((QUERIES / 2)) pgbench transactions (2 scans each) completed" "$done_q" "$((QUERIES / 2))"
growth=$(((peak - first) / 1024))
log "backend $pid: private RSS $((first / 1024)) MB after warm-up, peak $((peak / 1024)) MB over $samples samples"
check "the scanning backend was measured" test "$first" -gt 0
check "backend memory stays flat over $QUERIES scans (grew ${growth} MB, limit 8 MB)" test "$growth" -lt 8

# --- 2. Cancelling long builds -------------------------------------------------------------------
# cancel_session SQL: runs SQL after reporting its backend pid, then checks the session is usable.
# Output lines: pid, the error, then "alive|<n>" from a query after the error.
session() {
    node_psql res -At -v ON_ERROR_STOP=0 2>&1 <<SQL
SELECT 'pid|' || pg_backend_pid();
$1
SELECT 'alive|' || count(*) FROM small WHERE id <= 10;
SELECT 'threads-checked';
SQL
}

# Wait for a backend running SQL matching PATTERN to reach progress phase PHASE (or any phase when
# empty); print its pid.
wait_for_phase() {
    local pattern=$1 phase=$2 i
    for i in $(seq 1 600); do
        local p
        p=$(node_sql res "SELECT a.pid FROM pg_stat_activity a LEFT JOIN pg_stat_progress_create_index c ON c.pid = a.pid
                          WHERE a.query LIKE '$pattern' AND a.state = 'active' AND a.pid <> pg_backend_pid()
                          AND c.phase LIKE '%$phase' LIMIT 1")
        if [ -n "$p" ]; then
            echo "$p"
            return 0
        fi
        sleep 0.05
    done
    return 1
}

build_sql="CREATE INDEX big_v ON big USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 64);"

# a) statement_timeout during the build
t0=$(date +%s.%N)
out=$(session "SET statement_timeout = '1500ms'; $build_sql RESET statement_timeout;")
t1=$(date +%s.%N)
check "statement_timeout cancels CREATE INDEX" grep -q "canceling statement due to statement timeout" <<<"$out"
took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
check "the timed-out build stopped promptly (session took ${took}s for a 1.5s timeout)" awk -v t="$took" 'BEGIN { exit !(t < 6) }'
check "the session is usable after the timeout" grep -q "^alive|10$" <<<"$out"

# b) pg_cancel_backend in each build phase: loading tuples, building graph, writing index
for phase in "loading tuples" "building graph"; do
    session "$build_sql" >"$SCN_TMP/cancel.out" &
    s=$!
    track_bg $s
    if bpid=$(wait_for_phase "CREATE INDEX big_v%" "$phase"); then
        sleep 0.1
        t0=$(date +%s.%N)
        node_sql res "SELECT pg_cancel_backend($bpid)" >/dev/null
        wait $s || true
        t1=$(date +%s.%N)
        out=$(cat "$SCN_TMP/cancel.out")
        check "pg_cancel_backend cancels CREATE INDEX while '$phase'" grep -q "canceling statement due to user request" <<<"$out"
        took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
        check "cancel during '$phase' took effect in ${took}s (< 3s)" awk -v t="$took" 'BEGIN { exit !(t < 3) }'
        check "the session is usable after the cancel ('$phase')" grep -q "^alive|10$" <<<"$out"
    else
        fail "build of $BUILD_ROWS rows reached phase '$phase' (too fast to cancel? raise RES_BUILD_ROWS)"
        node_sql res "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX big_v%'" >/dev/null
        wait $s || true
    fi
done

# c) the backend of a cancelled build: no build thread left, memory given back
cat >"$SCN_TMP/keep.sql" <<SQL
SELECT 'pid|' || pg_backend_pid();
SET statement_timeout = '2500ms';
$build_sql
RESET statement_timeout;
SELECT pg_sleep(10);
SELECT 'alive|' || count(*) FROM small WHERE id <= 10;
SQL
node_psql res -At -v ON_ERROR_STOP=0 -f "$SCN_TMP/keep.sql" >"$SCN_TMP/keep.out" 2>&1 &
s=$!
track_bg $s
bpid=$(wait_for_phase "CREATE INDEX big_v%" "")
peak=0
for _ in $(seq 1 20); do
    r=$(rss_kb "$bpid")
    [ "$r" -gt "$peak" ] && peak=$r
    sleep 0.1
done
sleep 2
check_eq "no build thread is left in the backend after the cancel" "$(threads "$bpid")" 1
after=$(rss_kb "$bpid")
log "cancelled build: backend RSS peak $((peak / 1024)) MB, $((after / 1024)) MB after the cancel"
wait $s || true
check "the build's memory is given back after the cancel" test $((after / 1024)) -lt $((peak / 1024 / 2 + 64))
grep -q "^alive|10$" "$SCN_TMP/keep.out" && pass "session usable after the cancelled build" || fail "session usable after the cancelled build"
check_eq "no index is left behind by the cancelled builds" "$(node_sql res "SELECT count(*) FROM pg_class WHERE relname = 'big_v'")" 0
node_psql res -c "CHECKPOINT" # unlinks the files of relations dropped since the last one
check_eq "no file of a cancelled build is left behind" \
    "$(node_sql res "SELECT count(*) FROM pg_ls_dir('base/' || (SELECT oid FROM pg_database WHERE datname = current_database())) f
                     WHERE f ~ '^[0-9]+$' AND f::oid NOT IN (SELECT pg_relation_filenode(oid) FROM pg_class WHERE pg_relation_filenode(oid) IS NOT NULL)
                     AND f::oid > 16384")" 0

# d) vectors stored out of line (more than ~500 dimensions): once every row is loaded, the build
# holds one copy of each vector (its arena), not also the detoasted values it read.
node_psql res <<SQL
CREATE TABLE wide (id int, v vector(600));
INSERT INTO wide SELECT i, (SELECT array_agg(random()) FROM generate_series(1, 600) WHERE i > 0)::vector
FROM generate_series(1, 20000) i;
SQL
check_eq "600-dimensional vectors are stored out of line" \
    "$(node_sql res "SELECT pg_relation_size(reltoastrelid) > 20000 * 600 * 4 FROM pg_class WHERE relname = 'wide'")" t
session "CREATE INDEX wide_v ON wide USING hnsw (v vector_l2_ops);" >/dev/null &
s=$!
track_bg $s
if bpid=$(wait_for_phase "CREATE INDEX wide_v%" "building graph"); then
    loaded=$(($(rss_kb "$bpid") / 1024))
    raw=$((20000 * 600 * 4 / 1048576))
    check "after loading, the build holds ${loaded} MB for ${raw} MB of out-of-line vectors (< 1.5x + 16 MB)" \
        test "$loaded" -lt $((raw * 3 / 2 + 16))
else
    fail "the build of wide reached 'building graph'"
fi
node_sql res "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX wide_v%'" >/dev/null
wait $s || true

# --- 3. Cancelling long iterative scans ---------------------------------------------------------
# A filter that matches nothing makes an iterative scan visit the whole index (bounded only by
# hnsw.max_scan_tuples, here huge); repeated for 2000 query vectors it runs for minutes.
scan_prefix="SET hnsw.iterative_scan = relaxed_order; SET hnsw.max_scan_tuples = 2000000000;
SET hnsw.scan_mem_multiplier = 1000; SET work_mem = '2GB'; SET enable_seqscan = off;"
one_scan="SELECT id FROM small WHERE cat = -1 ORDER BY v <-> random_vector(16, -1) LIMIT 10;"
t0=$(date +%s.%N)
node_psql res -At -c "$scan_prefix" -c "$one_scan" >/dev/null
t1=$(date +%s.%N)
log "one iterative scan over all 30000 elements: $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')s"
out=$(session "$scan_prefix SET statement_timeout = '1s';
SELECT count(*) FROM generate_series(1, 2000) g, LATERAL (SELECT id FROM small WHERE cat = -1 ORDER BY v <-> random_vector(16, g) LIMIT 10) s;
RESET statement_timeout;")
check "statement_timeout cancels iterative scans over a filter that matches nothing" \
    grep -q "canceling statement due to statement timeout" <<<"$out"
check "the session is usable after the scan timeout" grep -q "^alive|10$" <<<"$out"
session "$scan_prefix
SELECT count(*) FROM generate_series(1, 2000) g, LATERAL (SELECT id FROM small WHERE cat = -1 ORDER BY v <-> random_vector(16, g) LIMIT 10) s;" >"$SCN_TMP/scan.out" &
s=$!
track_bg $s
sleep 1
spid=$(node_sql res "SELECT pid FROM pg_stat_activity WHERE query LIKE '%generate_series(1, 2000)%' AND state = 'active' AND pid <> pg_backend_pid()")
rss0=$(rss_kb "$spid")
sleep 2
rss1=$(rss_kb "$spid")
t0=$(date +%s.%N)
node_sql res "SELECT pg_cancel_backend($spid)" >/dev/null
wait $s || true
t1=$(date +%s.%N)
took=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }')
check "pg_cancel_backend cancels the long scans (in ${took}s)" grep -q "canceling statement due to user request" "$SCN_TMP/scan.out"
check "the cancel took effect in under 2s" awk -v t="$took" 'BEGIN { exit !(t < 2) }'
check "the session is usable after the cancelled scans" grep -q "^alive|10$" "$SCN_TMP/scan.out"
check "memory stays flat across repeated full-index scans ($((rss0 / 1024)) -> $((rss1 / 1024)) MB)" test $(((rss1 - rss0) / 1024)) -lt 8
# embed_batch() cancellation is tested in tests/pg_regress/sql/embed.sql (statement_timeout).

check "the server never crashed" bash -c "! grep -q 'terminated by signal\|server process .* was terminated' '$(node_dir res)/server.log'"
node_stop res
finish
