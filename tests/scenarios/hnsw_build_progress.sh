#!/usr/bin/env bash
# CREATE INDEX ... USING hnsw reports its phases and tuple counts in pg_stat_progress_create_index
# while it runs, and a cancelled build leaves the backend usable.
source "$(dirname "$0")/../../scripts/lib.sh"
cluster_start
DB=semvec_progress
psql_semvec -d postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
psql_semvec -d $DB -q <<'SQL'
CREATE EXTENSION semvec;
CREATE TABLE big AS
SELECT i AS id, (SELECT array_agg(random())::vector(128) FROM generate_series(1, 128) WHERE i > 0) AS v
FROM generate_series(1, 30000) i;
SQL
passed=0
OUT=$(mktemp); trap 'rm -f "$OUT"' EXIT
# Watch from a second session while the build runs.
( psql_semvec -d $DB -qc "SET maintenance_work_mem = '1GB'; CREATE INDEX big_v ON big USING hnsw (v vector_l2_ops)" ) &
builder=$!
for _ in $(seq 1 6000); do
    psql_semvec -d $DB -qAtc "SELECT phase, tuples_total, tuples_done FROM pg_stat_progress_create_index WHERE relid = 'big'::regclass" >>"$OUT" 2>/dev/null || true
    kill -0 $builder 2>/dev/null || break
    sleep 0.05
done
wait $builder
log "phases seen: $(cut -d'|' -f1 "$OUT" | sort | uniq -c | tr '\n' ';')"
if grep -q "building graph|30000|" "$OUT"; then
    passed=$((passed + 1))
else
    echo "no hnsw build phase was reported"; cat "$OUT"; exit 1
fi
if awk -F'|' '$1 ~ /building graph/ && $3 > 0 && $3 < $2 { ok = 1 } END { exit !ok }' "$OUT"; then
    passed=$((passed + 1))
else
    echo "tuples_done never moved during the graph phase"; exit 1
fi
# Cancel a build with statement_timeout: an error, and the session goes on working.
psql_semvec -d $DB -qc "DROP INDEX big_v"
res=$(psql_semvec -d $DB -qAt -v ON_ERROR_STOP=0 \
    -c "SET statement_timeout = '300ms'; SET maintenance_work_mem = '1GB'" \
    -c "CREATE INDEX big_v2 ON big USING hnsw (v vector_l2_ops) WITH (m = 48, ef_construction = 400)" \
    -c "RESET statement_timeout" -c "SELECT count(*) FROM big" 2>&1)
echo "$res" | grep -q "canceling statement due to statement timeout" || { echo "build was not cancelled: $res"; exit 1; }
echo "$res" | grep -q "^30000$" || { echo "session unusable after cancel: $res"; exit 1; }
psql_semvec -d $DB -qAtc "SELECT count(*) FROM pg_class WHERE relname = 'big_v2'" | grep -q "^0$" || { echo "cancelled index left behind"; exit 1; }
passed=$((passed + 1))
psql_semvec -d postgres -qc "DROP DATABASE $DB"
rm -f "$OUT"
echo "hnsw build progress: $passed passed, 0 failed"
