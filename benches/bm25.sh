#!/usr/bin/env bash
# BM25 at scale (issue 14): Debian-derived corpora of 64k, 256k and 1M documents, top-10 latency of
# the bm25 index's ORDER BY operator, bm25_search with and without the index, ts_rank_cd over the
# same OR query and hybrid_search; build times, index sizes, insert throughput, and a check that the
# index-backed bm25_search returns today's top-10 (ids and scores). Method: benches/bm25.md.
#
# Usage: benches/bm25.sh [--sizes 64k,256k,1m] [--connections 1,2] [--slow-queries N] [--keep] ...
#        benches/bm25.sh --help
# Needs semvec installed (scripts/install.sh); the bm25 index rows are skipped, with a note, while
# the `bm25` access method does not exist. Runs on a scratch cluster of its own (port 28830, data
# under .cache/bench/bm25-pgdata), removed at the end unless --keep.
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"

usage() {
    cat <<'EOF'
benches/bm25.sh [options]
  --sizes LIST          corpus sizes, e.g. 64k,256k,1m (default 64k,256k,1m)
  --connections LIST    client connections for the latency figures (default 1,2)
  --queries N           use the first N of the 200 queries for every method (default all)
  --slow-queries N      queries for the methods that score every candidate (today's bm25_search,
                        ts_rank_cd, today's hybrid_search); default: all below 500k documents, 100 from 500k
  --passes N            timed passes over the queries per method and connection count (default 1)
  --inserts N           documents for the insert figures (default 20000; 0 skips them)
  --no-hybrid           no vector column, no hybrid_search figures
  --no-embed            vector stand-in from random vectors even when embed() could make real ones
  --no-lexeme-stats     skip ts_stat (vocabulary of the loaded corpus)
  --project-cluster     use the project cluster (scripts/lib.sh, port 28815) instead of a scratch one
  --port N              scratch cluster port (default 28830)
  --keep                keep the scratch cluster and the databases (bm25_<size>) afterwards
EOF
}

ORIG_ARGS="$*"
SIZES=64k,256k,1m
CONNS=1,2
LIMIT=
SLOW=
PASSES=1
INSERTS=20000
HYBRID=1
EMBED=1
LEXEMES=1
PROJECT=0
PORT=28830
KEEP=0
while [ $# -gt 0 ]; do
    case "$1" in
        --sizes) SIZES=$2; shift ;;
        --connections) CONNS=$2; shift ;;
        --queries) LIMIT=$2; shift ;;
        --slow-queries) SLOW=$2; shift ;;
        --passes) PASSES=$2; shift ;;
        --inserts) INSERTS=$2; shift ;;
        --no-hybrid) HYBRID=0 ;;
        --no-embed) EMBED=0 ;;
        --no-lexeme-stats) LEXEMES=0 ;;
        --project-cluster) PROJECT=1 ;;
        --port) PORT=$2; shift ;;
        --keep) KEEP=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
    shift
done

to_n() {
    case "${1,,}" in
        *m) echo $((${1%[mM]} * 1000000)) ;;
        *k) echo $((${1%[kK]} * 1000)) ;;
        *) echo "$1" ;;
    esac
}
sizes=()
for s in ${SIZES//,/ }; do sizes+=("$(to_n "$s")"); done
csv_sizes=$(IFS=,; echo "${sizes[*]}")
# The generator's size list: every size of this run plus the standard ones, so that one cached set
# of files serves later runs too (the stream is prefix-stable: corpus-64000 is the same either way).
gen_sizes=$(printf '%s\n' "${sizes[@]}" 64000 256000 1000000 | sort -un | paste -sd,)

BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/semvec-bench"
STAMP=$(date -u +%Y%m%d-%H%M%S)
RESULTS="$ROOT/.cache/bench/results"
WORK="$ROOT/.cache/bench/bm25-work-$STAMP"
mkdir -p "$RESULTS" "$WORK"
chmod 755 "$WORK"

# ---------------------------------------------------------------------------------------- inputs
if ! ls /var/lib/apt/lists/*bookworm_main_i18n_Translation-en.lz4 >/dev/null 2>&1; then
    log "apt-get update -o Acquire::Languages=en (for the package descriptions)"
    apt-get update -qq -o Acquire::Languages=en
fi
log "building the benchmark client"
cargo build --quiet --release -p semvec-bench
log "corpora (sizes $gen_sizes, $INSERTS inserts each): semvec-bench bm25-corpus"
gen_inserts=$INSERTS
[ "$gen_inserts" -gt 0 ] || gen_inserts=20000
DATA=$("$BIN" bm25-corpus --docs "$gen_sizes" --inserts "$gen_inserts" --quiet)
QUERIES="$DATA/queries.tsv"
NQ=$(wc -l <"$QUERIES")

sharedir="$("$PG_CONFIG" --sharedir)"
pkglib="$("$PG_CONFIG" --pkglibdir)"
[ -e "$sharedir/extension/semvec.control" ] && [ -e "$pkglib/semvec.so" ] \
    || { echo "semvec is not installed in PostgreSQL $PG_MAJOR: run scripts/install.sh" >&2; exit 1; }
BUILD_NOTE="semvec.so of $(date -r "$pkglib/semvec.so" '+%F %T')"
file "$pkglib/semvec.so" 2>/dev/null | grep -q 'with debug_info' && BUILD_NOTE="$BUILD_NOTE, DEBUG build (has debug info)"

# --------------------------------------------------------------------------------------- cluster
if [ "$PROJECT" = 1 ]; then
    cluster_start
    PORT=$SEMVEC_PORT
else
    SCRATCH="${BM25_PGDATA:-$ROOT/.cache/bench/bm25-pgdata}"
    mkdir -p "$SCRATCH"
    chown postgres:postgres "$SCRATCH"
    if ! as_postgres test -w "$SCRATCH"; then
        SCRATCH="/var/tmp/semvec-bm25-$(echo "$ROOT" | md5sum | cut -c1-8)"
        mkdir -p "$SCRATCH"
        chown postgres:postgres "$SCRATCH"
    fi
    if [ ! -s "$SCRATCH/PG_VERSION" ]; then
        log "initdb $SCRATCH (scratch cluster, port $PORT)"
        as_postgres "$PG_BIN/initdb" -D "$SCRATCH" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
        # The project cluster's settings (scripts/lib.sh), plus room for 1M-row bulk loads.
        cat >>"$SCRATCH/postgresql.conf" <<CONF
port = $PORT
unix_socket_directories = '$SEMVEC_SOCKDIR'
listen_addresses = ''
shared_buffers = 256MB
maintenance_work_mem = 1GB
max_parallel_maintenance_workers = 2
wal_level = replica
max_wal_senders = 4
fsync = on
max_wal_size = 4GB
CONF
    fi
    as_postgres "$PG_BIN/pg_ctl" -D "$SCRATCH" status >/dev/null 2>&1 \
        || as_postgres "$PG_BIN/pg_ctl" -D "$SCRATCH" -l "$SCRATCH/server.log" -w -t 60 start >/dev/null
fi
cleanup() {
    local rc=$?
    if [ "$rc" != 0 ] && [ -n "${SCRATCH:-}" ] && [ -f "$SCRATCH/server.log" ]; then
        cp "$SCRATCH/server.log" "$RESULTS/bm25-server-$STAMP.log"
        log "failed (exit $rc): the scratch cluster's log is in $RESULTS/bm25-server-$STAMP.log"
    fi
    if [ "$KEEP" = 0 ]; then
        if [ "$PROJECT" = 1 ]; then
            for n in "${sizes[@]}"; do psql_at -d postgres -c "DROP DATABASE IF EXISTS bm25_$n" >/dev/null 2>&1 || true; done
        elif [ -n "${SCRATCH:-}" ]; then
            as_postgres "$PG_BIN/pg_ctl" -D "$SCRATCH" -m fast -w stop >/dev/null 2>&1 || true
            rm -rf "$SCRATCH"
        fi
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
psql_at() { "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SEMVEC_SOCKDIR" -p "$PORT" -U postgres -At "$@"; }
client() { "$BIN" "$@" --semvec-port "$PORT" --host "$SEMVEC_SOCKDIR"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
mb() { awk -v x="$1" 'BEGIN { printf "%.0f MB", x / 1048576 }'; }

# ------------------------------------------------------------------------------ vector stand-in
VEC_MODE=none
VECFILE=
if [ "$HYBRID" = 1 ]; then
    VECFILE=$("$BIN" bm25-vectors)
    if [ -z "$VECFILE" ] && [ "$EMBED" = 1 ]; then
        psql_at -d postgres -c "DROP DATABASE IF EXISTS bm25_embed" -c "CREATE DATABASE bm25_embed"
        # embed() must not run in parallel workers (it fails there with "cannot assign XIDs").
        psql_at -d bm25_embed -c "ALTER DATABASE bm25_embed SET max_parallel_workers_per_gather = 0" \
            -c "CREATE EXTENSION semvec"
        if [ "$(psql_at -d bm25_embed -c "SELECT to_regprocedure('embed(text)') IS NOT NULL")" = t ]; then
            log "embedding the real descriptions once with semvec-bench embed-debian (~25 min on 2 cores; cached)"
            client embed-debian --dbname bm25_embed
            VECFILE=$("$BIN" bm25-vectors)
        fi
        psql_at -d postgres -c "DROP DATABASE bm25_embed"
    fi
    if [ -n "$VECFILE" ]; then
        VEC_MODE=real
        VEC_NOTE="each document: the all-MiniLM-L6-v2 embedding of the real description it was derived from (semvec-bench embed-debian) plus deterministic noise of norm ~0.3, normalised"
    else
        VEC_MODE=random
        VEC_NOTE="embed() unavailable: each document gets a deterministic random unit vector of its source description plus noise (random, unrelated to the text)"
    fi
    log "vector stand-in: $VEC_MODE"
fi

# -------------------------------------------------------------------------------------- methods
Q_INDEX="SELECT id, -(tsv <@> q) AS score FROM docs, (SELECT bm25_query('docs', 'tsv', \$1) q) x ORDER BY tsv <@> q LIMIT 10"
Q_INDEX="${BM25_INDEX_SQL:-$Q_INDEX}"
# The same ranking with the query parsed once: in the form above the planner pulls the one-row
# subquery up, so bm25_query() is evaluated again for every returned row (twice: the score and the
# sort value); a scalar subquery is an InitPlan, evaluated once.
Q_INDEX1="SELECT id, -dist AS score FROM (SELECT id, tsv <@> (SELECT bm25_query('docs', 'tsv', \$1)) AS dist FROM docs ORDER BY dist LIMIT 10) s"
Q_SEARCH="SELECT id, score FROM bm25_search('docs', 'id', 'tsv', \$1)"
Q_TSRANK="SELECT d.id, ts_rank_cd(d.tsv, x.q)::float8 AS score
  FROM docs d, (SELECT semvec_bm25_or_tsquery(tsvector_to_array(to_tsvector('english', \$1))) AS q OFFSET 0) x
 WHERE d.tsv @@ x.q ORDER BY score DESC, d.id LIMIT 10"
Q_HYBRID="SELECT h.id, h.score FROM bench_queries q, hybrid_search('docs', 'id', 'tsv', 'embedding', q.text, q.qv) h WHERE q.qid = \$1"

# ------------------------------------------------------------------------------------ one size
run_size() {
    local n=$1 db="bm25_$1" out="$RESULTS/bm25-$1-$STAMP.md" json="$RESULTS/bm25-$1-$STAMP.json"
    local t am guf slow lim=() slowlim=() figs="$WORK/figs-$n" lat="$WORK/lat-$n"
    : >"$figs"
    : >"$lat"
    fig() { echo "| $1 | $2 |" >>"$figs"; }
    slow=${SLOW:-$([ "$n" -ge 500000 ] && echo 100 || echo "$NQ")}
    [ -n "$LIMIT" ] && lim=(--limit "$LIMIT") && [ "$slow" -gt "$LIMIT" ] && slow=$LIMIT
    slowlim=(--limit "$slow")
    log "=== $n documents: database $db"
    psql_at -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
    psql_at -d "$db" -c "CREATE EXTENSION semvec" -c "CREATE EXTENSION pg_prewarm"
    local embcol=""
    [ "$HYBRID" = 1 ] && embcol=", embedding vector(384)"
    psql_at -d "$db" -c "CREATE TABLE docs (id bigint PRIMARY KEY, body text NOT NULL,
        tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED $embcol)"

    log "loading corpus-$n"
    t=$(now)
    if [ "$HYBRID" = 1 ]; then
        {
            echo "CREATE UNLOGGED TABLE stage (id bigint, body text);"
            echo "\\copy stage FROM '$DATA/corpus-$n.copy'"
            echo "CREATE UNLOGGED TABLE doc_sources (id bigint PRIMARY KEY, src int, kind text);"
            echo "\\copy doc_sources FROM '$DATA/sources.copy'"
            echo "CREATE UNLOGGED TABLE source_vec (id int PRIMARY KEY, v vector(384));"
            if [ "$VEC_MODE" = real ]; then
                echo "\\copy source_vec FROM '$VECFILE' (FORMAT binary)"
            else
                echo "INSERT INTO source_vec SELECT s, l2_normalize(array_agg(((hashint8(s::bigint * 1000003 + i) & 65535) / 32767.5 - 1) ORDER BY i)::vector)
                        FROM (SELECT DISTINCT src AS s FROM doc_sources WHERE id <= $n + $INSERTS) u, generate_series(1, 384) i GROUP BY s;"
            fi
            # 1024 noise vectors, elements uniform in [-0.0265, 0.0265]: norm ~0.3.
            echo "CREATE UNLOGGED TABLE noise (k int PRIMARY KEY, v vector(384));
                  INSERT INTO noise SELECT k, array_agg(((hashint8(k::bigint * 7919 + i) & 65535) / 32767.5 - 1) * 0.0265 ORDER BY i)::vector
                    FROM generate_series(0, 1023) k, generate_series(1, 384) i GROUP BY k;
                  INSERT INTO docs (id, body, embedding)
                  SELECT s.id, s.body, l2_normalize(v.v + nz.v)
                    FROM stage s JOIN doc_sources x ON x.id = s.id JOIN source_vec v ON v.id = x.src
                    JOIN noise nz ON nz.k = (s.id * 2654435761 % 1024)::int;
                  DROP TABLE stage;"
        } | psql_at -d "$db"
    else
        psql_at -d "$db" -c "\\copy docs (id, body) FROM '$DATA/corpus-$n.copy'"
    fi
    psql_at -d "$db" -c "VACUUM ANALYZE docs" -c "CHECKPOINT"
    fig "load (COPY + to_tsvector$([ "$HYBRID" = 1 ] && echo " + vector stand-in"))" "$(since "$t") s"
    fig "rows" "$(psql_at -d "$db" -c "SELECT count(*) FROM docs")"

    am=$(psql_at -d "$db" -c "SELECT count(*) FROM pg_am WHERE amname = 'bm25'")
    t=$(now); psql_at -d "$db" -c "CREATE INDEX docs_tsv_gin ON docs USING gin (tsv)"; fig "GIN build" "$(since "$t") s"
    t=$(now); psql_at -d "$db" -c "SELECT bm25_create('docs', 'tsv', 'english')" >/dev/null; fig "bm25_create" "$(since "$t") s"
    if [ "$am" = 1 ]; then
        psql_at -d "$db" -c "CHECKPOINT"
        t=$(now); psql_at -d "$db" -c "CREATE INDEX docs_bm25 ON docs USING bm25 (tsv)"; fig "bm25 index build" "$(since "$t") s"
    else
        fig "bm25 index build" "n/a: no bm25 access method in this semvec"
    fi
    if [ "$HYBRID" = 1 ]; then
        t=$(now)
        psql_at -d "$db" -c "SET maintenance_work_mem = '4GB'" -c "CREATE INDEX docs_hnsw ON docs USING hnsw (embedding vector_cosine_ops)"
        fig "HNSW build (m 16, ef_construction 64; for hybrid_search)" "$(since "$t") s"
    fi
    psql_at -d "$db" -c "ANALYZE docs" -c "CHECKPOINT"
    fig "heap + TOAST (docs)" "$(mb "$(psql_at -d "$db" -c "SELECT pg_table_size('docs')")")"
    fig "GIN index (tsv)" "$(mb "$(psql_at -d "$db" -c "SELECT pg_relation_size('docs_tsv_gin')")")"
    if [ "$am" = 1 ]; then
        fig "bm25 index (tsv)" "$(mb "$(psql_at -d "$db" -c "SELECT pg_relation_size('docs_bm25')")")"
        fig "bm25 / GIN size" "$(psql_at -d "$db" -c "SELECT round(pg_relation_size('docs_bm25')::numeric / pg_relation_size('docs_tsv_gin'), 2)")"
    fi
    [ "$HYBRID" = 1 ] && fig "HNSW index" "$(mb "$(psql_at -d "$db" -c "SELECT pg_relation_size('docs_hnsw')")")"
    fig "BM25 statistics (bm25_stats: N, avg length)" "$(psql_at -d "$db" -F ', ' -c "SELECT n_docs, round(avg_length::numeric, 2) FROM bm25_stats('docs', 'tsv')")"
    if [ "$LEXEMES" = 1 ]; then
        fig "lexemes (ts_stat): vocabulary, share with df = 1" \
            "$(psql_at -d "$db" -F ', ' -c "SELECT count(*), round(avg((ndoc = 1)::int), 3) FROM ts_stat('SELECT tsv FROM docs')")"
    fi

    # Queries: the text, and the query vector for hybrid_search (embed() of the text when available).
    psql_at -d "$db" -c "CREATE TABLE bench_queries (qid bigint PRIMARY KEY, kind text, package text, text text, qv vector(384))" \
        -c "\\copy bench_queries (qid, kind, package, text) FROM '$QUERIES'"
    if [ "$HYBRID" = 1 ]; then
        if [ "$VEC_MODE" = real ] && [ "$(psql_at -d "$db" -c "SELECT to_regprocedure('embed(text)') IS NOT NULL")" = t ]; then
            psql_at -d "$db" -c "SET max_parallel_workers_per_gather = 0" -c "UPDATE bench_queries SET qv = embed(text)"
            fig "query vectors" "embed(query text), all-MiniLM-L6-v2"
        else
            psql_at -d "$db" -c "UPDATE bench_queries SET qv = (SELECT l2_normalize(array_agg(((hashint8(qid * 999983 + i) & 65535) / 32767.5 - 1) ORDER BY i)::vector) FROM generate_series(1, 384) i)"
            fig "query vectors" "deterministic random (no embed())"
        fi
    fi
    # Over the queries the slow methods run (counting every match of 200 queries at 1M takes long).
    fig "query candidates (rows matching any query lexeme), mean over the first $slow queries" \
        "$(psql_at -d "$db" -c "SELECT round(avg(c)) || ' (' || round(100 * avg(c) / (SELECT count(*) FROM docs), 1) || '% of rows)' FROM (SELECT * FROM bench_queries ORDER BY qid LIMIT $slow) q,
             LATERAL (SELECT count(*) c FROM docs WHERE tsv @@ semvec_bm25_or_tsquery(tsvector_to_array(to_tsvector('english', q.text)))) x")"

    # Warm the caches: every relation through shared buffers (the rest stays in the OS cache).
    psql_at -d "$db" -c "SELECT sum(pg_prewarm(c.oid::regclass)) FROM pg_class c
        WHERE c.relname IN ('docs', 'docs_tsv_gin', 'docs_bm25', 'docs_hnsw', 'docs_pkey')
           OR c.oid = (SELECT reltoastrelid FROM pg_class WHERE relname = 'docs')" >/dev/null

    # The GUC that switches bm25_search / hybrid_search to today's path (loaded with the library).
    guc=$(psql_at -d "$db" -c "SELECT bm25_document_length(''::tsvector)" -c "SELECT current_setting('semvec.bm25_index_search', true) IS NOT NULL")
    guc=${guc##*$'\n'}
    local on=() off=()
    if [ "$guc" = t ]; then
        on=(--setup "SET semvec.bm25_index_search = on")
        off=(--setup "SET semvec.bm25_index_search = off")
    fi
    {
        echo "plans (first query):"
        psql_at -d "$db" -c "PREPARE a(text) AS $Q_TSRANK" -c "EXPLAIN (COSTS OFF) EXECUTE a('$(head -1 "$QUERIES" | cut -f4 | sed "s/'/''/g")')"
        if [ "$am" = 1 ]; then
            psql_at -d "$db" -c "PREPARE b(text) AS $Q_INDEX" -c "EXPLAIN (COSTS OFF) EXECUTE b('$(head -1 "$QUERIES" | cut -f4 | sed "s/'/''/g")')" || true
        fi
    } >"$WORK/plans-$n.txt" 2>&1

    measure() { # label, sql, extra args...
        local label=$1 sql=$2
        shift 2
        log "  $label"
        client bm25-latency --dbname "$db" --queries "$QUERIES" --sql "$sql" --label "$label" \
            --connections "$CONNS" --passes "$PASSES" --json "$json" "$@" >>"$lat" \
            || echo "| $label | failed: see the log above | | | | | |" >>"$lat"
    }
    local note_index=""
    if [ "$am" = 1 ]; then
        measure "(a) index: ORDER BY tsv <@> bm25_query(...)" "$Q_INDEX" "${lim[@]}" --results "$WORK/a-$n.tsv"
        measure "(a') index, query parsed once: ORDER BY tsv <@> (SELECT bm25_query(...))" "$Q_INDEX1" "${lim[@]}" --results "$WORK/a1-$n.tsv"
        measure "(b) bm25_search with the index" "$Q_SEARCH" "${lim[@]}" "${on[@]}" --results "$WORK/b-$n.tsv"
        if [ "$guc" != t ]; then
            note_index="semvec.bm25_index_search does not exist: the bm25 index was dropped before (c)"
            psql_at -d "$db" -c "DROP INDEX docs_bm25"
        fi
    else
        note_index="no bm25 access method in this semvec: rows (a), (b), (e) and the equality check skipped"
    fi
    measure "(c) bm25_search, today's path (GIN + scoring every candidate)" "$Q_SEARCH" "${slowlim[@]}" "${off[@]}" --results "$WORK/c-$n.tsv"
    measure "(d) ts_rank_cd over the OR of the query's lexemes (GIN)" "$Q_TSRANK" "${slowlim[@]}" --results "$WORK/d-$n.tsv"
    if [ "$HYBRID" = 1 ]; then
        if [ "$am" = 1 ] && [ "$guc" = t ]; then
            measure "(e) hybrid_search with the index" "$Q_HYBRID" "${lim[@]}" "${on[@]}"
        fi
        measure "(f) hybrid_search, today's path" "$Q_HYBRID" "${slowlim[@]}" "${off[@]}"
    fi

    local eq="" eqa=""
    if [ -s "$WORK/b-$n.tsv" ] && [ -s "$WORK/c-$n.tsv" ]; then
        # Compare over the queries both ran (c may have run fewer).
        local qs
        qs=$(cut -f1 "$WORK/c-$n.tsv" | sort -u | wc -l)
        awk -v m="$(cut -f1 "$WORK/c-$n.tsv" | sort -n | tail -1)" '$1 <= m' "$WORK/b-$n.tsv" >"$WORK/b-cut-$n.tsv"
        read -r cmp bad < <("$BIN" bm25-compare "$WORK/b-cut-$n.tsv" "$WORK/c-$n.tsv" 2>"$WORK/cmp-$n.txt")
        eq="bm25_search with the index against today's path, $cmp queries: $bad mismatched (top-10 ids rank by rank, scores within 1e-9 relative)"
        for f in a a1; do
            awk -v m="$(cut -f1 "$WORK/c-$n.tsv" | sort -n | tail -1)" '$1 <= m' "$WORK/$f-$n.tsv" >"$WORK/$f-cut-$n.tsv"
            read -r cmp bad < <("$BIN" bm25-compare --ties "$WORK/$f-cut-$n.tsv" "$WORK/c-$n.tsv" 2>>"$WORK/cmp-$n.txt")
            eqa="$eqa${eqa:+; }($([ "$f" = a1 ] && echo "a'" || echo a)) $bad of $cmp"
        done
        eqa="ORDER BY tsv <@> q (scores negated) against today's bm25_search, mismatched queries: $eqa (scores rank by rank within 1e-9; ids as sets within tied scores, the tie group cut by LIMIT 10 excepted)"
    fi

    # Inserts: the next INSERTS documents of the stream, single-row autocommit (synchronous_commit
    # off) and one COPY, into the full table; the HNSW index is dropped first (not what is measured).
    local ins="" v
    if [ "$INSERTS" -gt 0 ]; then
        psql_at -d "$db" -c "DROP INDEX IF EXISTS docs_hnsw"
        insert_round() { # label
            local single copy t
            single=$(client bm25-insert --dbname "$db" --file "$DATA/inserts-$n.copy" --setup "SET synchronous_commit = off" | awk '{ printf "%.0f", $3 }')
            psql_at -d "$db" -c "DELETE FROM docs WHERE id > $n" -c "VACUUM docs"
            t=$(now)
            psql_at -d "$db" -c "\\copy docs (id, body) FROM '$DATA/inserts-$n.copy'"
            copy=$(awk -v s="$(since "$t")" -v r="$(wc -l <"$DATA/inserts-$n.copy")" 'BEGIN { printf "%.0f", r / s }')
            psql_at -d "$db" -c "DELETE FROM docs WHERE id > $n" -c "VACUUM docs"
            ins="$ins| $1 | $single | $copy |"$'\n'
        }
        log "  inserts: $(wc -l <"$DATA/inserts-$n.copy") documents"
        psql_at -d "$db" -c "DROP INDEX IF EXISTS docs_bm25"
        insert_round "GIN + bm25_create statistics triggers (today)"
        psql_at -d "$db" -c "SELECT bm25_drop('docs', 'tsv')" >/dev/null
        insert_round "GIN only (no statistics triggers)"
        if [ "$am" = 1 ]; then
            psql_at -d "$db" -c "DROP INDEX docs_tsv_gin"
            t=$(now); psql_at -d "$db" -c "CREATE INDEX docs_bm25 ON docs USING bm25 (tsv)"; fig "bm25 index build (again, before the insert figures)" "$(since "$t") s"
            insert_round "bm25 index only"
        fi
    fi

    {
        echo "### BM25 benchmark: $n documents"
        echo
        echo "Command: \`benches/bm25.sh $ARGS\` — $(date -u '+%F %T UTC'); $(nproc) cores, load average at the end $(cut -d' ' -f1-3 /proc/loadavg); $BUILD_NOTE; PostgreSQL $(psql_at -d "$db" -c "SHOW server_version"), shared_buffers $(psql_at -d "$db" -c "SHOW shared_buffers")."
        echo "Corpus: $DATA/corpus-$n.copy (generated from Debian's descriptions: benches/bm25.md; term statistics in $DATA/stats.md); queries: $NQ real synopses (half of packages held out of the corpus), top-10."
        [ "$HYBRID" = 1 ] && echo "Vectors: $VEC_NOTE."
        [ -n "$note_index" ] && echo "Note: $note_index."
        echo
        echo "| figure | value |"
        echo "|---|---|"
        cat "$figs"
        echo
        echo "Top-10 latency, client-side, prepared statements, after a warm-up pass over the same queries (ms; QPS over the timed pass; 2 connections = two clients splitting the queries):"
        echo
        echo "| method | connections | queries | p50 | p95 | mean | QPS |"
        echo "|---|---:|---:|---:|---:|---:|---:|"
        cat "$lat"
        echo
        if [ -n "$eq" ]; then
            echo "Equality: $eq."
            echo "Equality: $eqa."
            [ -s "$WORK/cmp-$n.txt" ] && sed 's/^/    /' "$WORK/cmp-$n.txt"
            echo
        fi
        if [ -n "$ins" ]; then
            echo "Inserts ($(wc -l <"$DATA/inserts-$n.copy") generated documents into the $n-row table; HNSW dropped first; rows/s):"
            echo
            echo "| indexes | single-row INSERTs (autocommit, synchronous_commit off) | one COPY |"
            echo "|---|---:|---:|"
            printf '%s' "$ins"
            echo
        fi
        echo '<details><summary>plans</summary>'
        echo
        echo '```'
        cat "$WORK/plans-$n.txt"
        echo '```'
        echo '</details>'
    } >"$out"
    cat "$out"
    echo
    log "report written to $out"
    [ "$KEEP" = 1 ] || psql_at -d postgres -c "DROP DATABASE $db"
}

ARGS="$ORIG_ARGS"
for n in "${sizes[@]}"; do
    run_size "$n"
done
