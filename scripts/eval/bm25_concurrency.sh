#!/usr/bin/env bash
# BM25 corpus statistics under concurrent writers: pgbench clients insert, update, delete, upsert and
# roll back, in READ COMMITTED and REPEATABLE READ transactions, on one registered table; afterwards the
# statistics must equal a fresh count, and the delta rows must have been folded.
#
#   bash scripts/eval/bm25_concurrency.sh [seconds] [clients]
#   BM25=off bash scripts/eval/bm25_concurrency.sh ...   the same load without the statistics triggers
source "$(dirname "$0")/../lib.sh"
SECONDS_RUN="${1:-20}"
CLIENTS="${2:-6}"
DB=semvec_bm25_concurrency
cluster_start
psql_semvec -d postgres -q -c "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
psql_semvec -d "$DB" -q <<'SQL'
CREATE EXTENSION semvec;
CREATE TABLE cc (id integer PRIMARY KEY, body text, tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED);
INSERT INTO cc (id, body) SELECT i, repeat('seed ', i % 17) FROM generate_series(1, 1000) i;
CREATE INDEX ON cc USING gin (tsv);
SQL
[ "${BM25:-on}" = off ] || psql_semvec -d "$DB" -q -c "SELECT bm25_create('cc', 'tsv', 'simple')" >/dev/null
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/rc.sql" <<'SQL'
\set id random(1, 2000)
\set w random(0, 30)
BEGIN;
INSERT INTO cc (id, body) VALUES (:id, repeat('word ', :w)) ON CONFLICT (id) DO UPDATE SET body = excluded.body || ' more';
DELETE FROM cc WHERE id = :id + 1;
UPDATE cc SET body = CASE WHEN body IS NULL THEN 'back' END WHERE id = :id + 2;
END;
SQL
cat >"$work/rr.sql" <<'SQL'
\set id random(1, 2000)
\set w random(0, 30)
BEGIN ISOLATION LEVEL REPEATABLE READ;
INSERT INTO cc (id, body) VALUES (:id, repeat('term ', :w)) ON CONFLICT (id) DO NOTHING;
UPDATE cc SET body = body || ' again' WHERE id = :id + 3;
END;
SQL
cat >"$work/rollback.sql" <<'SQL'
\set id random(1, 2000)
BEGIN;
DELETE FROM cc WHERE id BETWEEN :id AND :id + 20;
INSERT INTO cc (id, body) VALUES (:id + 10000, 'never seen') ON CONFLICT (id) DO NOTHING;
ROLLBACK;
SQL
cat >"$work/bulk.sql" <<'SQL'
\set id random(1, 2000)
INSERT INTO cc (id, body) SELECT g, 'bulk ' || g FROM generate_series(:id + 3000, :id + 3050) g ON CONFLICT (id) DO UPDATE SET body = NULL;
SQL
log "pgbench: $CLIENTS clients for $SECONDS_RUN s (read committed, repeatable read, rollbacks, bulk upserts)"
"$PG_BIN/pgbench" -h "$SEMVEC_SOCKDIR" -p "$SEMVEC_PORT" -U postgres -n -c "$CLIENTS" -j 2 -T "$SECONDS_RUN" \
    --max-tries=50 -f "$work/rc.sql@6" -f "$work/rr.sql@2" -f "$work/rollback.sql@1" -f "$work/bulk.sql@1" "$DB" \
    | grep -E "transactions|failed|retried|tps"
if [ "${BM25:-on}" = off ]; then psql_semvec -d postgres -q -c "DROP DATABASE $DB"; exit 0; fi
psql_semvec -d "$DB" -c "
SELECT s.n_docs, s.total_length,
       (SELECT count(tsv) FROM cc) AS counted_docs,
       (SELECT coalesce(sum(bm25_document_length(tsv)), 0) FROM cc) AS counted_length,
       (SELECT count(*) FROM bm25_corpus_stats) AS delta_rows
  FROM bm25_stats('cc', 'tsv') s"
ok=$(psql_semvec -d "$DB" -At -c "
SELECT (s.n_docs, s.total_length) = (SELECT count(tsv), coalesce(sum(bm25_document_length(tsv)), 0) FROM cc)
  FROM bm25_stats('cc', 'tsv') s")
psql_semvec -d postgres -q -c "DROP DATABASE $DB"
if [ "$ok" = t ]; then log "statistics exact after concurrent writes"; else log "statistics DRIFTED"; exit 1; fi
