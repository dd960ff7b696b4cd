# Throwaway PostgreSQL clusters for the reliability scenarios. Source it after scripts/lib.sh.
#
# Every node lives under one temporary folder (removed on exit, with its servers stopped), runs as
# user postgres, listens on 127.0.0.1 and a socket in that folder only, on a port of 28820-28839
# (the port a scenario names plus SEMVEC_SCN_PORT_SHIFT: 0 on PostgreSQL 15, 30 on 18, 60 on 16,
# so the scenarios of the majors can run side by side).
# Functions: node_init NAME PORT [conf lines], node_start, node_stop, node_crash (SIGKILL of the
# postmaster and every process it started), node_psql NAME [psql args], node_pid NAME,
# node_dir NAME, expect/pass/fail bookkeeping and finish (prints "<name>: N passed, M failed"),
# check* helpers (check_no_rows, check_log_clean, check_eventually, check_index_ok, ...).

SCN_NAME="${SCN_NAME:-$(basename "$0" .sh)}"
SCN_TMP="$(mktemp -d "${TMPDIR:-/tmp}/semvec-${SCN_NAME}-XXXXXX")"
chmod 755 "$SCN_TMP"
chown postgres:postgres "$SCN_TMP"
declare -A NODE_PORT=()
case "$PG_MAJOR" in
    15) SEMVEC_SCN_PORT_SHIFT="${SEMVEC_SCN_PORT_SHIFT:-0}" ;;
    16) SEMVEC_SCN_PORT_SHIFT="${SEMVEC_SCN_PORT_SHIFT:-60}" ;;
    *) SEMVEC_SCN_PORT_SHIFT="${SEMVEC_SCN_PORT_SHIFT:-30}" ;;
esac
SCN_PASSED=0
SCN_FAILED=0
SCN_FAILURES=()
SCN_BG_PIDS=()

node_dir() { echo "$SCN_TMP/$1"; }
node_port() { echo "${NODE_PORT[$1]}"; }

# node_init NAME PORT [postgresql.conf lines...]
node_init() {
    local name=$1 port=$(($2 + SEMVEC_SCN_PORT_SHIFT))
    shift 2
    local dir
    dir="$(node_dir "$name")"
    if ss -ltn 2>/dev/null | grep -q "127.0.0.1:$port "; then
        echo "port $port is already in use: stop whatever listens there first" >&2
        return 1
    fi
    NODE_PORT[$name]=$port
    as_postgres "$PG_BIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    echo "include_if_exists = 'semvec_scenario.conf'" >>"$dir/postgresql.conf"
    node_conf "$name" "$@"
}

# node_basebackup NAME PRIMARY PORT [pg_basebackup options...] -- [conf lines...]: a base backup of
# PRIMARY (over 127.0.0.1) as node NAME, with its own port and settings; not started.
node_basebackup() {
    local name=$1 primary=$2 port=$(($3 + SEMVEC_SCN_PORT_SHIFT))
    shift 3
    local opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    if ss -ltn 2>/dev/null | grep -q "127.0.0.1:$port "; then
        echo "port $port is already in use: stop whatever listens there first" >&2
        return 1
    fi
    NODE_PORT[$name]=$port
    as_postgres "$PG_BIN/pg_basebackup" -h 127.0.0.1 -p "${NODE_PORT[$primary]}" -U postgres \
        -D "$(node_dir "$name")" -X stream -c fast "${opts[@]}" >/dev/null
    node_conf "$name" "$@"
}

# node_backup NAME PRIMARY PORT [conf lines]: a streaming replica of PRIMARY (pg_basebackup -R),
# with its own port and settings.
node_backup() {
    local name=$1 primary=$2 port=$3
    shift 3
    node_basebackup "$name" "$primary" "$port" -R -- "hot_standby = on" "$@"
}

# node_conf NAME [lines...]: (re)writes the scenario's settings (semvec_scenario.conf, included
# from postgresql.conf), then appends the extra lines.
node_conf() {
    local name=$1
    shift
    local dir
    dir="$(node_dir "$name")"
    {
        echo "port = ${NODE_PORT[$name]}"
        echo "unix_socket_directories = '$SCN_TMP'"
        echo "listen_addresses = '127.0.0.1'"
        echo "shared_buffers = 128MB"
        echo "maintenance_work_mem = 256MB"
        echo "max_parallel_maintenance_workers = 1"
        echo "wal_level = replica"
        echo "max_wal_senders = 4"
        echo "fsync = on"
        echo "synchronous_commit = on"
        echo "full_page_writes = on"
        echo "log_min_messages = warning"
        echo "log_line_prefix = '%m [%p] '"
        for line in "$@"; do echo "$line"; done
    } >"$dir/semvec_scenario.conf"
    chown postgres:postgres "$dir/semvec_scenario.conf"
}

node_start() {
    local dir
    dir="$(node_dir "$1")"
    as_postgres "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 120 start >/dev/null
}

node_stop() {
    local dir
    dir="$(node_dir "$1")"
    if [ -f "$dir/postmaster.pid" ]; then
        as_postgres "$PG_BIN/pg_ctl" -D "$dir" -m "${2:-fast}" -w -t 120 stop >/dev/null 2>&1 || true
    fi
}

node_pid() {
    head -1 "$(node_dir "$1")/postmaster.pid" 2>/dev/null
}

# Kill the postmaster with SIGKILL, and at once every process it started (a whole-server crash:
# nothing gets to flush or clean up), then wait until all of them are gone.
node_crash() {
    local pm
    pm="$(node_pid "$1")"
    [ -n "$pm" ] || return 0
    local children
    # Stopped first, the postmaster cannot fork a backend between the listing of its children and
    # the kill: such a backend would outlive the crash, and one waiting on an LWLock that a killed
    # process held never wakes up (LWLock waits do not watch for the postmaster's death), leaving
    # its client, and the scenario waiting for that client, hanging.
    kill -STOP "$pm" 2>/dev/null || true
    children="$(pgrep -P "$pm" || true)"
    # shellcheck disable=SC2086
    kill -KILL "$pm" $children 2>/dev/null || true
    local i
    for i in $(seq 1 200); do
        local alive=0 p
        for p in $pm $children; do
            if kill -0 "$p" 2>/dev/null; then alive=1; fi
        done
        [ $alive -eq 0 ] && return 0
        sleep 0.1
    done
    echo "processes of $1 did not exit after SIGKILL" >&2
    return 1
}

# node_psql NAME [psql args...]: as postgres, over the node's socket, database semvec_test unless -d.
node_psql() {
    local name=$1
    shift
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SCN_TMP" -p "${NODE_PORT[$name]}" -U postgres -d "${SCN_DB:-semvec_test}" "$@"
}

# node_sql NAME SQL: one value (or rows) unaligned, without headers.
node_sql() {
    local name=$1
    shift
    node_psql "$name" -At -c "$@"
}

# Remember a background process of the scenario so cleanup can end it.
track_bg() { SCN_BG_PIDS+=("$1"); }

# update_until_down NODE SQL: in the background, runs SQL on NODE every 50 ms, each {i} in it
# replaced by 0, 1, 2, ..., until a statement fails (the node crashed or stopped). Tracked; its pid
# is in BG_PID.
update_until_down() {
    local node=$1 sql=$2
    (
        i=0
        while node_sql "$node" "${sql//\{i\}/$i}" >/dev/null 2>&1; do
            i=$((i + 1))
            sleep 0.05
        done
    ) &
    BG_PID=$!
    track_bg $BG_PID
}

scn_cleanup() {
    local rc=$?
    local p
    for p in "${SCN_BG_PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    wait 2>/dev/null || true
    local name
    for name in "${!NODE_PORT[@]}"; do
        node_stop "$name" immediate
    done
    if [ $rc -ne 0 ] || [ "$SCN_FAILED" -gt 0 ]; then
        for name in "${!NODE_PORT[@]}"; do
            local log
            log="$(node_dir "$name")/server.log"
            if [ -f "$log" ]; then
                echo "--- last lines of $name's server.log ---" >&2
                tail -n 30 "$log" >&2
            fi
        done
    fi
    if [ -n "${SCN_KEEP:-}" ]; then
        echo "kept $SCN_TMP" >&2
    else
        rm -rf "$SCN_TMP"
    fi
    exit $rc
}
trap scn_cleanup EXIT
trap 'exit 130' INT TERM

pass() {
    SCN_PASSED=$((SCN_PASSED + 1))
    printf '  ok    %s\n' "$1"
}

fail() {
    SCN_FAILED=$((SCN_FAILED + 1))
    SCN_FAILURES+=("$1")
    printf '  FAIL  %s\n' "$1"
}

# check "description" COMMAND...: pass when the command succeeds.
check() {
    local what=$1
    shift
    if "$@"; then pass "$what"; else fail "$what"; fi
}

# check_eq "description" GOT WANT
check_eq() {
    if [ "$2" == "$3" ]; then pass "$1"; else fail "$1 (got '$2', want '$3')"; fi
}

# check_eventually NODE SQL WANT SECONDS WHAT: polls SQL on NODE every 0.1 s until it returns WANT
# (an error counts as not yet, e.g. while the server still refuses connections), for at most
# SECONDS; passes when it did.
check_eventually() {
    local node=$1 sql=$2 want=$3 secs=$4 what=$5
    local _
    for _ in $(seq 1 $((secs * 10))); do
        if [ "$(node_sql "$node" "$sql" 2>/dev/null)" == "$want" ]; then
            pass "$what"
            return 0
        fi
        sleep 0.1
    done
    fail "$what (not '$want' after ${secs} s: $sql)"
    # A server that stopped says why in its log: show that next to the failure (the whole tail
    # comes at the end, which a shortened CI log may leave out).
    grep -E '(PANIC|FATAL): |TRAP: |terminated by signal' "$(node_dir "$node")/server.log" 2>/dev/null | tail -n 5 | sed 's/^/    /' >&2 || true
}

# check_no_rows NODE SQL WHAT: passes when SQL returns no row; else fails and prints the first 10.
check_no_rows() {
    local node=$1 sql=$2 what=$3 out
    if ! out=$(node_sql "$node" "$sql" 2>&1); then
        fail "$what (query failed)"
        printf '%s\n' "$out" | head -10 | sed 's/^/    /' >&2
    elif [ -z "$out" ]; then
        pass "$what"
    else
        fail "$what ($(printf '%s\n' "$out" | wc -l) rows)"
        printf '%s\n' "$out" | head -10 | sed 's/^/    /' >&2
    fi
}

# log_offset NODE: the size of NODE's server.log now, for check_log_clean.
log_offset() { stat -c %s "$(node_dir "$1")/server.log" 2>/dev/null || echo 0; }

# check_log_clean NODE OFFSET WHAT [IGNORE_ERE]: NODE's server.log from byte OFFSET on has no
# ERROR, FATAL or PANIC message and no failed assertion, except lines matching IGNORE_ERE; else
# fails and prints the first ones.
check_log_clean() {
    local node=$1 from=$2 what=$3 ignore=${4:-}
    local bad
    bad=$(tail -c +$((from + 1)) "$(node_dir "$node")/server.log" | grep -E '(ERROR|FATAL|PANIC): |TRAP: ' |
        { if [ -n "$ignore" ]; then grep -Ev "$ignore"; else cat; fi; } || true)
    if [ -z "$bad" ]; then
        pass "$what"
    else
        fail "$what ($(printf '%s\n' "$bad" | wc -l) lines)"
        printf '%s\n' "$bad" | head -5 | sed 's/^/    /' >&2
    fi
}

# check_caught_up REPLICA PRIMARY: passes once REPLICA has replayed PRIMARY's WAL up to its
# current position (60 s at most).
check_caught_up() {
    local replica=$1 primary=$2 lsn
    lsn=$(node_sql "$primary" "SELECT pg_current_wal_lsn()")
    check_eventually "$replica" "SELECT pg_last_wal_replay_lsn() >= '$lsn'::pg_lsn" t 60 \
        "$replica replayed $primary's WAL up to $lsn"
}

# Integrity report of an index: ok, else print it and fail.
check_index_ok() {
    local name=$1 index=$2 what=$3
    if [ "$(node_sql "$name" "SELECT semvec_index_check('$index') ->> 'ok'" 2>&1)" == "true" ]; then
        pass "$what"
    else
        fail "$what"
        node_sql "$name" "SELECT jsonb_pretty(semvec_index_check('$index'))" >&2 || true
    fi
}

# vacuum_every NODE TABLE SECONDS: VACUUM TABLE every SECONDS until $SCN_TMP/stop exists (run it in
# the background); the count goes to $SCN_TMP/vacuums, errors to $SCN_TMP/vacuum.err.
vacuum_every() {
    local node=$1 table=$2 secs=$3 n=0
    while [ ! -e "$SCN_TMP/stop" ]; do
        sleep "$secs"
        [ -e "$SCN_TMP/stop" ] && break
        node_psql "$node" -c "VACUUM $table" 2>>"$SCN_TMP/vacuum.err" || echo "VACUUM failed" >>"$SCN_TMP/vacuum.err"
        n=$((n + 1))
    done
    echo "$n" >"$SCN_TMP/vacuums"
}

finish() {
    echo "$SCN_NAME: $SCN_PASSED passed, $SCN_FAILED failed"
    [ "$SCN_FAILED" -eq 0 ]
}

# seconds since the scenario started, for the log
SCN_T0=$SECONDS
elapsed() { echo "$((SECONDS - SCN_T0))s"; }

# install_helpers NAME: SQL helpers in the node's test database.
#   random_vector(dims, seed) -> vector: reproducible pseudo-random vector (no global random state).
#   recall10(tbl, qtbl, op): recall@10 of the index on tbl for the queries in qtbl, judged by
#   distance (a row counts when no farther than the exact 10th neighbour).
#   self_misses(tbl, op): rows whose own vector does not return them first through the index (searched
#   with ef_search 100, then 1000 for the misses).
install_helpers() {
    node_psql "$1" <<'SQL'
CREATE OR REPLACE FUNCTION random_vector(dims int, seed bigint) RETURNS vector
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT array_agg(((hashint8(seed * 100003 + i) & 2147483647) % 100000) / 1000.0)::vector
    FROM generate_series(1, dims) i
$$;
CREATE OR REPLACE FUNCTION recall10(tbl regclass, qtbl regclass, op text DEFAULT '<->') RETURNS float8
LANGUAGE plpgsql AS $$
DECLARE
    q record; kth float8; hits bigint := 0; total bigint := 0; got bigint;
BEGIN
    FOR q IN EXECUTE format('SELECT v FROM %s', qtbl) LOOP
        SET LOCAL enable_indexscan = off;
        SET LOCAL enable_seqscan = on;
        EXECUTE format('SELECT max(d), count(*) FROM (SELECT v %s $1 AS d FROM %s ORDER BY v %s $1 LIMIT 10) s', op, tbl, op)
            INTO kth, got USING q.v;
        total := total + got;
        SET LOCAL enable_indexscan = on;
        SET LOCAL enable_seqscan = off;
        EXECUTE format('SELECT count(*) FROM (SELECT v %s $1 AS d FROM %s ORDER BY v %s $1 LIMIT 10) s WHERE d <= $2 + 1e-6 * abs($2)', op, tbl, op)
            INTO got USING q.v, kth;
        hits := hits + got;
    END LOOP;
    RETURN round((hits::float8 / greatest(total, 1))::numeric, 4);
END $$;
CREATE OR REPLACE FUNCTION self_misses(tbl regclass, op text DEFAULT '<->') RETURNS TABLE (id bigint) LANGUAGE plpgsql AS $$
DECLARE
    q text := format('SELECT t.id::bigint FROM %s t WHERE t.v IS NOT NULL AND t.id = ANY ($1) AND t.id IS DISTINCT FROM
                          (SELECT t2.id FROM %s t2 ORDER BY t2.v %s t.v LIMIT 1)', tbl, tbl, op);
    missed bigint[];
BEGIN
    SET LOCAL enable_seqscan = off;
    SET LOCAL enable_bitmapscan = off;
    -- A search may miss a reachable element (HNSW is approximate): only rows that a much wider
    -- search does not find either count.
    SET LOCAL hnsw.ef_search = 100;
    EXECUTE format('SELECT array_agg(id) FROM (%s) s', replace(q, 't.id = ANY ($1) AND ', '')) INTO missed;
    SET LOCAL hnsw.ef_search = 1000;
    RETURN QUERY EXECUTE q USING coalesce(missed, '{}');
END $$;
SQL
}

# node_testdb NODE: database semvec_test on NODE, with the extension and install_helpers' functions.
node_testdb() {
    node_psql "$1" -d postgres -c "CREATE DATABASE semvec_test"
    node_psql "$1" -c "CREATE EXTENSION semvec"
    install_helpers "$1"
}

# make_items NODE ROWS DIMS QUERIES: tables items (id 1..ROWS) and queries (id 1..QUERIES) of
# reproducible random_vector(DIMS) rows, without indexes.
make_items() {
    node_psql "$1" <<SQL
CREATE TABLE items (id int PRIMARY KEY, v vector($3));
INSERT INTO items SELECT i, random_vector($3, i) FROM generate_series(1, $2) i;
CREATE TABLE queries (id int PRIMARY KEY, v vector($3));
INSERT INTO queries SELECT i, random_vector($3, -i) FROM generate_series(1, $4) i;
SQL
}

# top10 NODE OP: one line per row of queries, "id: the ids of its 10 nearest items in index order".
top10() {
    node_psql "$1" -At <<SQL
SET enable_seqscan = off;
SELECT q.id || ': ' || (SELECT string_agg(id::text, ',') FROM (SELECT id FROM items ORDER BY v $2 q.v LIMIT 10) s)
FROM queries q ORDER BY q.id;
SQL
}

# check_same_top10 NODE OP WANT WHAT: NODE plans an index scan on items for OP, and its top10 is
# exactly the file WANT (a top10 of the reference server, which must hold 10 ids for every query).
check_same_top10() {
    local node=$1 op=$2 want=$3 what=$4
    local plan nq got="$SCN_TMP/top10-$node-$RANDOM.txt"
    plan=$(node_sql "$node" "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v $op (SELECT v FROM queries LIMIT 1) LIMIT 10")
    check "$node plans an index scan for $op" grep -q "Index Scan using items_" <<<"$plan"
    nq=$(node_sql "$node" "SELECT count(*) FROM queries")
    check_eq "the reference top-10 has 10 rows for each of the $nq queries ($op)" \
        "$(grep -c '^[0-9]*: [0-9]*\(,[0-9]*\)\{9\}$' "$want")" "$nq"
    top10 "$node" "$op" >"$got"
    if cmp -s "$want" "$got"; then
        pass "$what ($nq queries, $op)"
    else
        fail "$what ($nq queries, $op)"
        diff "$want" "$got" | head -10 >&2 || true
    fi
}

# check_rows_found NODE TABLE INDEX OP LABEL: the durability and findability checks after a crash
# or a concurrent load.
# 1. Every row visible in TABLE is in INDEX with the vector it holds (semvec_index_check's table
#    cross-check): nothing committed was lost.
# 2. No row is unreachable from the entry point (VACUUM reconnects what deletes or inserts cut
#    off; callers run one first when inserts came after the last).
# 3. An index scan ordered by the distance to a row's own vector returns that row first, for every
#    row (ef_search 100, then 1000 for the misses): no row is lost from search. VACUUM guarantees
#    it (its reconnect pass searches for the elements few lists name); inserts since the last one
#    may leave a reachable row that no near list names yet, so with a sixth argument `reachable`
#    (checked before that VACUUM) the misses are printed, not counted as failures.
check_rows_found() {
    local node=$1 table=$2 index=$3 op=$4 label=$5 only=${6:-}
    local report rows unindexed mismatched unreachable misses
    report=$(node_sql "$node" "SELECT semvec_index_check('$index')")
    rows=$(node_sql "$node" "SELECT count(*) FROM $table WHERE v IS NOT NULL")
    unindexed=$(node_sql "$node" "SELECT '$report'::jsonb ->> 'unindexed_rows'")
    mismatched=$(node_sql "$node" "SELECT '$report'::jsonb ->> 'mismatched_rows'")
    unreachable=$(node_sql "$node" "SELECT '$report'::jsonb -> 'warnings' ->> 'unreachable_rows'")
    misses=$(node_sql "$node" "SELECT count(*) FROM self_misses('$table', '$op')")
    check_eq "$label: all $rows rows are in $index with their vectors" "$unindexed/$mismatched" "0/0"
    check_eq "$label: no row is unreachable in the graph" "$unreachable" 0
    if [ "$only" = reachable ]; then
        log "$label: $misses rows not returned first by an index scan on their own vector (the next VACUUM links them)"
    else
        check_eq "$label: every row is returned first by an index scan on its own vector" "$misses" 0
    fi
    if [ "$unreachable" != 0 ] || [ "$misses" != 0 ]; then
        node_sql "$node" "SELECT '$report'::jsonb -> 'warnings'" | sed 's/^/    warnings: /' >&2
    fi
}
