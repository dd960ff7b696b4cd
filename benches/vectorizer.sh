#!/usr/bin/env bash
# The vectorizer (issue 18, docs/rag.md section 8) against the two ways it replaces, on SciFact
# abstracts (../shared/data/scifact, title + abstract; all-MiniLM-L6-v2 truncates at 256 tokens):
#   1. INSERT throughput of a text table: with a vectorizer (its background worker embedding at the
#      same time on the same cores; and paused: the writer's own cost), with a generated
#      `embed(body)` column, and with no embedding at all. pgbench, BENCH_CLIENTS clients of
#      single-row INSERTs for BENCH_SECONDS each.
#   2. Catch-up: BENCH_DOCS rows queued while the vectorizer is paused; the background worker's
#      rows/s from `semvec_vectorizer_resume()` until the last vector is committed, against one
#      hand-run statement that embeds the same rows with `embed_batch()` and writes them back.
#   3. Lag at a steady insert rate below capacity (BENCH_LAG_LOAD of the worker's catch-up rate,
#      pgbench --rate, BENCH_LAG_SECONDS): from a row's INSERT to the moment a reader that polls
#      every 100 ms sees its vector (the table has an hnsw index, so the vector is searchable then).
# One throwaway server (tests/scenarios/lib/cluster.bash) with shared_preload_libraries = 'semvec',
# BENCH_WORKERS vectorizer workers (default 1), semvec.embed_threads = BENCH_THREADS (default 2:
# this machine's cores) for the workers and the hand-run statement alike, and the default
# semvec.vectorizer_naptime (1 s; BENCH_NAPTIME to change it).
#
# Usage: [SEMVEC_PG=18] benches/vectorizer.sh    (BENCH_DOCS=1500 BENCH_SECONDS=20 BENCH_CLIENTS=2
#        BENCH_LAG_LOAD=0.5 BENCH_LAG_SECONDS=60). Needs scripts/install.sh done for that major (the
#        release build and the models).
SCN_NAME=bench-vectorizer
source "$(dirname "$0")/../scripts/lib.sh"
source "$ROOT/tests/scenarios/lib/cluster.bash"

DOCS=${BENCH_DOCS:-1500}
SECS=${BENCH_SECONDS:-20}
CLIENTS=${BENCH_CLIENTS:-2}
WORKERS=${BENCH_WORKERS:-1}
THREADS=${BENCH_THREADS:-2}
NAPTIME=${BENCH_NAPTIME:-1000}
LAG_LOAD=${BENCH_LAG_LOAD:-0.5}
LAG_SECS=${BENCH_LAG_SECONDS:-60}
CORPUS="$ROOT/../shared/data/scifact/corpus.jsonl.gz"
[ -f "$CORPUS" ] || { echo "no SciFact corpus at $CORPUS" >&2; exit 1; }

log "vectorizer bench: $DOCS catch-up rows, ${SECS} s INSERT runs with $CLIENTS client(s), $WORKERS worker(s), $THREADS embed thread(s)"
node_init vb 28846 "shared_preload_libraries = 'semvec'" "semvec.vectorizer_database = 'semvec_test'" \
    "semvec.vectorizer_workers = $WORKERS" "semvec.vectorizer_naptime = $NAPTIME" "semvec.embed_threads = $THREADS" \
    "max_parallel_workers_per_gather = 0"
node_start vb
node_testdb vb >/dev/null
python3 - "$CORPUS" >"$SCN_TMP/corpus.tsv" <<'PY'
import gzip, json, sys
clean = lambda s: s.replace("\\", " ").replace("\t", " ").replace("\n", " ").replace("\r", " ")
with gzip.open(sys.argv[1], "rt") as f:
    for i, line in enumerate(f, 1):
        d = json.loads(line)
        print(f"{i}\t{clean(d['title'] + '. ' + d['text'])}")
PY
chmod a+r "$SCN_TMP/corpus.tsv"
node_psql vb -q -c "CREATE TABLE corpus (id int PRIMARY KEY, body text)" \
    -c "\\copy corpus FROM '$SCN_TMP/corpus.tsv'" -c "ANALYZE corpus"
NCORPUS=$(node_sql vb "SELECT count(*) FROM corpus")
log "corpus: $NCORPUS SciFact documents, mean $(node_sql vb "SELECT round(avg(length(body))) FROM corpus") characters"
# warm the model once in a session (the workers load their own copy on first use)
node_sql vb "SELECT vector_dims(embed('warm up'))" >/dev/null

W="$SCN_TMP/pgbench"
mkdir -p "$W"
chown postgres "$W"
# pgbench_tps NAME TABLE [pgbench options]: single-row INSERTs of random corpus documents into TABLE;
# prints the transactions per second.
pgbench_tps() {
    local name=$1 table=$2
    shift 2
    printf '\\set k random(1, %d)\nINSERT INTO %s (body) SELECT body FROM corpus WHERE id = :k;\n' "$NCORPUS" "$table" >"$W/$name.sql"
    chmod a+r "$W/$name.sql"
    (cd "$W" && "$PG_BIN/pgbench" -h "$SCN_TMP" -p "$(node_port vb)" -U postgres -n "$@" \
        -f "$W/$name.sql" semvec_test >"$W/$name.out" 2>&1) || { cat "$W/$name.out" >&2; exit 1; }
    sed -n 's/^tps = \([0-9]*\)\.\([0-9]\).*/\1.\2/p' "$W/$name.out"
}
pending() { node_sql vb "SELECT count(*) FROM semvec_vectorizer_queue WHERE status <> 'failed'"; }

log "1. INSERT throughput ($(elapsed))"
node_psql vb -q <<'SQL'
CREATE TABLE t_plain (id bigserial PRIMARY KEY, body text, embedding vector(384));
CREATE TABLE t_generated (id bigserial PRIMARY KEY, body text,
                          embedding vector(384) GENERATED ALWAYS AS (embed(body)) STORED);
CREATE TABLE t_vectorizer (id bigserial PRIMARY KEY, body text, embedding vector(384));
SELECT semvec_vectorize('t_vectorizer', 'body', 'embedding', name => 't_vectorizer') \gset
SQL
tps_plain=$(pgbench_tps plain t_plain -c "$CLIENTS" -j "$CLIENTS" -T "$SECS")
tps_gen=$(pgbench_tps generated t_generated -c "$CLIENTS" -j "$CLIENTS" -T "$SECS")
tps_vz=$(pgbench_tps vectorizer t_vectorizer -c "$CLIENTS" -j "$CLIENTS" -T "$SECS")
vz_done=$(node_sql vb "SELECT count(embedding) FROM t_vectorizer")
node_sql vb "SELECT semvec_vectorizer_pause('t_vectorizer')" >/dev/null
node_psql vb -q -c "TRUNCATE t_vectorizer" -c "DELETE FROM semvec_vectorizer_queue" -c "CHECKPOINT"
tps_vz_paused=$(pgbench_tps vectorizer_paused t_vectorizer -c "$CLIENTS" -j "$CLIENTS" -T "$SECS")
node_psql vb -q -c "DROP TABLE t_vectorizer" -c "DROP TABLE t_plain, t_generated" -c "CHECKPOINT" 2>/dev/null

log "2. catch-up of $DOCS rows ($(elapsed))"
node_psql vb -q <<SQL
CREATE TABLE t_catchup (id int PRIMARY KEY, body text, embedding vector(384), embedded_at timestamptz);
-- when each vector was written (in the worker's transaction, which commits at the end of its batch)
CREATE FUNCTION stamp() RETURNS trigger LANGUAGE plpgsql AS \$\$
BEGIN NEW.embedded_at := clock_timestamp(); RETURN NEW; END \$\$;
CREATE TRIGGER stamp BEFORE UPDATE OF embedding ON t_catchup FOR EACH ROW EXECUTE FUNCTION stamp();
SELECT semvec_vectorize('t_catchup', 'body', 'embedding', name => 't_catchup') \gset
SELECT semvec_vectorizer_pause('t_catchup') \gset
INSERT INTO t_catchup (id, body) SELECT id, body FROM corpus WHERE id <= $DOCS;
CREATE TABLE t_hand (id int PRIMARY KEY, body text, embedding vector(384));
INSERT INTO t_hand (id, body) SELECT id, body FROM corpus WHERE id <= $DOCS;
VACUUM ANALYZE t_catchup, t_hand;
SQL
# the hand-run statement first (the worker is idle: nothing pending outside a paused vectorizer)
hand_s=$(node_psql vb -At <<'SQL' | tail -1
SELECT extract(epoch FROM clock_timestamp()) AS t0 \gset
UPDATE t_hand h SET embedding = e.v
  FROM (SELECT unnest(array_agg(id ORDER BY id)) AS id, unnest(embed_batch(array_agg(body ORDER BY id))) AS v FROM t_hand) e
 WHERE h.id = e.id;
SELECT round((extract(epoch FROM clock_timestamp()) - :t0)::numeric, 2);
SQL
)
hand_rows=$(node_sql vb "SELECT count(embedding) FROM t_hand")
t_resume=$(node_sql vb "SELECT extract(epoch FROM clock_timestamp()) FROM semvec_vectorizer_resume('t_catchup')")
# (polled every 2 s: a connection per poll costs the worker's CPU; the figures come from the
# embedded_at stamps, not from the polls)
for _ in $(seq 1 $((DOCS))); do
    [ "$(pending)" = 0 ] && break
    sleep 2
done
read -r worker_rows worker_s first_s <<<"$(node_sql vb "SELECT count(embedding), round((extract(epoch FROM max(embedded_at)) - $t_resume)::numeric, 2),
    round((extract(epoch FROM min(embedded_at)) - $t_resume)::numeric, 2) FROM t_catchup" | tr '|' ' ')"
same=$(node_sql vb "SELECT count(*) FROM t_catchup c JOIN t_hand h USING (id) WHERE cosine_distance(c.embedding, h.embedding) < 1e-6")

log "3. lag at a steady insert rate ($(elapsed))"
rate=$(python3 -c "print(max(1, round($worker_rows / $worker_s * $LAG_LOAD, 1)))")
node_psql vb -q <<'SQL'
CREATE TABLE t_lag (id bigserial PRIMARY KEY, body text, embedding vector(384),
                    inserted_at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE INDEX ON t_lag USING hnsw (embedding vector_cosine_ops);
SELECT semvec_vectorize('t_lag', 'body', 'embedding', name => 't_lag') \gset
CREATE TABLE seen (id bigint PRIMARY KEY, seen_at timestamptz NOT NULL);
SQL
# the reader: every 100 ms, the rows whose vector it sees for the first time
node_psql vb -q >/dev/null 2>&1 <<'SQL' &
INSERT INTO seen SELECT id, clock_timestamp() FROM t_lag l
 WHERE embedding IS NOT NULL AND NOT EXISTS (SELECT FROM seen s WHERE s.id = l.id) \watch 0.1
SQL
reader=$!
track_bg $reader
pgbench_tps lag t_lag -c 1 -R "$rate" -T "$LAG_SECS" >/dev/null
lag_rows=$(node_sql vb "SELECT count(*) FROM t_lag")
for _ in $(seq 1 600); do
    [ "$(node_sql vb "SELECT count(*) FROM seen")" = "$lag_rows" ] && break
    sleep 0.5
done
pkill -P "$reader" 2>/dev/null || true
kill "$reader" 2>/dev/null || true
read -r lag_p50 lag_p95 lag_p99 lag_max lag_seen <<<"$(node_sql vb "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY x)::numeric, 2),
    round(percentile_cont(0.95) WITHIN GROUP (ORDER BY x)::numeric, 2), round(percentile_cont(0.99) WITHIN GROUP (ORDER BY x)::numeric, 2),
    round(max(x)::numeric, 2), count(*)
    FROM (SELECT extract(epoch FROM s.seen_at - l.inserted_at) AS x FROM t_lag l JOIN seen s USING (id)) d" | tr '|' ' ')"
node_stop vb

echo
echo "## vectorizer bench: PostgreSQL $PG_MAJOR, $(nproc) cores, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| INSERT, $CLIENTS client(s), ${SECS} s, single-row statements | rows/s | vs generated embed() |"
echo "|---|---:|---:|"
ratio() { python3 -c "print(f'{$1 / $2:.1f}x')"; }
echo "| no embedding (plain table) | $tps_plain | $(ratio "$tps_plain" "$tps_gen") |"
echo "| generated column \`embed(body)\` | $tps_gen | 1.0x |"
echo "| vectorizer, its worker embedding at the same time ($vz_done rows embedded meanwhile) | $tps_vz | $(ratio "$tps_vz" "$tps_gen") |"
echo "| vectorizer paused (the writer's cost alone: trigger and queue) | $tps_vz_paused | $(ratio "$tps_vz_paused" "$tps_gen") |"
echo
echo "| catch-up of $DOCS rows | seconds | rows/s |"
echo "|---|---:|---:|"
echo "| hand-run \`UPDATE ... embed_batch()\` (one statement, $hand_rows rows) | $hand_s | $(python3 -c "print(round($hand_rows / $hand_s, 1))") |"
echo "| $WORKERS background worker(s), resume to last vector ($worker_rows rows; first after $first_s s) | $worker_s | $(python3 -c "print(round($worker_rows / $worker_s, 1))") |"
echo
echo "worker / hand-run: $(python3 -c "print(f'{($worker_rows / $worker_s) / ($hand_rows / $hand_s):.2f}x')") from the resume (the worker finds the work after up to one naptime); $(python3 -c "print(f'{(($worker_rows - 1) / ($worker_s - $first_s)) / ($hand_rows / $hand_s):.2f}x')") from its first vector to its last; vectors equal to the hand-run ones: $same of $DOCS"
echo
echo "lag, insert to visible to a reader (100 ms polls), $lag_rows rows at $rate rows/s ($LAG_LOAD of the catch-up rate) for ${LAG_SECS} s, naptime $NAPTIME ms: p50 $lag_p50 s, p95 $lag_p95 s, p99 $lag_p99 s, max $lag_max s ($lag_seen rows seen)"
