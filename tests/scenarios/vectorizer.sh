#!/usr/bin/env bash
# Vectorizers (sql/vectorizer.sql) under concurrency and crashes:
# - rows updated again and again while a run embeds them end with the vector of their current text;
# - a row updated while its old text is being embedded, and embedded anew by a second runner before
#   the first writes back, keeps the new text's vector (the write-back re-checks the source; made
#   deterministic with an advisory lock the source function waits on in the first runner only);
# - kill -9 of the whole server in the middle of a run, with a writer updating rows: after a restart
#   and another run every row of both vectorizers holds exactly the vector of its current text, and
#   the queue is empty;
# - two vectorizers on one table (two vector columns, two models);
# - a model dropped while rows are pending leaves them pending with the reason, embedded once the
#   model is back; a table dropped with pending rows takes its vectorizer and queue with it.
# Environment: VZ_ROWS (rows of the main table, default 300).
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/lib/cluster.bash"

ROWS=${VZ_ROWS:-300}

node_init vz 28827
node_start vz
node_testdb vz
# embed() in a parallel worker fails with "cannot assign XIDs during a parallel operation" (the
# stale view's full scans would go parallel): keep these checks serial.
node_psql vz -c "ALTER DATABASE semvec_test SET max_parallel_workers_per_gather = 0" >/dev/null
node_psql vz <<SQL
CREATE TABLE docs (id int PRIMARY KEY, title text, body text, embedding vector(384), body_embedding vector(384));
INSERT INTO docs (id, title, body)
SELECT i, 'document ' || i, 'a short text about topic ' || (i % 37) || ' and detail ' || i FROM generate_series(1, $ROWS) i;
SELECT semvec_vectorize('docs', \$\$title || ': ' || body\$\$, 'embedding', name => 'docs_a', batch_size => 16);
SELECT semvec_vectorize('docs', 'body', 'body_embedding', name => 'docs_b', model => 'all-MiniLM-L6-v2-int8', batch_size => 32);
-- rows whose vectors are not those of their current text, per vectorizer
CREATE VIEW stale AS
SELECT 'a' AS vz, id FROM docs
 WHERE embedding IS NULL OR cosine_distance(embedding, embed(title || ': ' || body)) > 1e-6
UNION ALL
SELECT 'b', id FROM docs
 WHERE body_embedding IS NULL OR cosine_distance(body_embedding, embed(body, 'all-MiniLM-L6-v2-int8')) > 1e-6;
SQL

log "two vectorizers, one table: a first run ($(elapsed))"
node_sql vz "CALL semvec_vectorizer_run()" >/dev/null
check_no_rows vz "SELECT * FROM stale" "both vector columns hold the vectors of their texts after a run"
check_eq "the queue is empty" "$(node_sql vz "SELECT count(*) FROM semvec_vectorizer_queue")" 0
check_eq "an UPDATE of no source column queues nothing" \
    "$(node_sql vz "UPDATE docs SET embedding = embedding WHERE id <= 50; SELECT count(*) FROM semvec_vectorizer_queue")" 0
check_eq "an UPDATE of title queues for docs_a only" \
    "$(node_sql vz "UPDATE docs SET title = 'retitled ' || id WHERE id <= 5; SELECT string_agg(v.name || '=' || s.pending, ',' ORDER BY v.name) FROM semvec_vectorizer v JOIN semvec_vectorizer_status s USING (name)")" \
    "docs_a=5,docs_b=0"

log "concurrent updates of the same rows during a run ($(elapsed))"
node_psql vz -c "UPDATE docs SET body = body || ' (revised)'" >/dev/null
node_sql vz "CALL semvec_vectorizer_run()" >/dev/null &
runner=$!
track_bg $runner
for round in $(seq 1 40); do
    node_sql vz "UPDATE docs SET body = 'round $round of row ' || id || ' about topic ' || (id % 37) WHERE id BETWEEN 1 AND 12" >/dev/null
    sleep 0.1
done
wait $runner
node_sql vz "CALL semvec_vectorizer_run()" >/dev/null
check_no_rows vz "SELECT * FROM stale" "rows updated during a run end with the vectors of their current text"
check_eq "the queue is empty" "$(node_sql vz "SELECT count(*) FROM semvec_vectorizer_queue")" 0

log "a row updated while its old text is embedded, re-embedded by a second runner first ($(elapsed))"
node_psql vz <<'SQL'
-- waits for advisory lock 4242 in the session named vz_gated only
CREATE FUNCTION gate(t text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('application_name') = 'vz_gated' THEN
        PERFORM pg_advisory_lock_shared(4242);
        PERFORM pg_advisory_unlock_shared(4242);
    END IF;
    RETURN t;
END $$;
CREATE TABLE gated (id int PRIMARY KEY, body text, embedding vector(384));
SELECT semvec_vectorize('gated', 'gate(body)', 'embedding', name => 'gated', backfill => 'none');
INSERT INTO gated VALUES (1, 'the old text', NULL);
SQL
mkfifo "$SCN_TMP/holder.in"
node_psql vz -At <"$SCN_TMP/holder.in" >"$SCN_TMP/holder.out" 2>&1 &
holder=$!
track_bg $holder
exec 7>"$SCN_TMP/holder.in"
echo "SELECT pg_advisory_lock(4242);" >&7
check_eventually vz "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242 AND granted" 1 30 \
    "a session holds the gate"
PGAPPNAME=vz_gated node_sql vz "CALL semvec_vectorizer_run('gated')" >"$SCN_TMP/gated.out" 2>&1 &
gated=$!
track_bg $gated
check_eventually vz "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vz_gated' AND wait_event_type = 'Lock'" 1 60 \
    "the first runner read the old text and waits at the gate"
node_sql vz "UPDATE gated SET body = 'the new text' WHERE id = 1" >/dev/null
node_sql vz "CALL semvec_vectorizer_run('gated')" >/dev/null
check_eq "a second runner embedded the new text while the first one holds the old entry" \
    "$(node_sql vz "SELECT cosine_distance(embedding, embed('the new text')) < 1e-6 FROM gated")" t
echo "SELECT pg_advisory_unlock(4242);" >&7
exec 7>&-
wait $holder
wait $gated
check_eq "the first runner finished" "$(cat "$SCN_TMP/gated.out")" ""
check_eq "its write-back of the old text's vector was skipped" \
    "$(node_sql vz "SELECT cosine_distance(embedding, embed('the new text')) < 1e-6 FROM gated")" t
check_eq "one vector was written in all" "$(node_sql vz "SELECT rows_done FROM semvec_vectorizer WHERE name = 'gated'")" 1
check_eq "nothing is left in the gated queue" \
    "$(node_sql vz "SELECT count(*) FROM semvec_vectorizer_queue q JOIN semvec_vectorizer v ON v.id = q.vectorizer_id WHERE v.name = 'gated'")" 0

log "kill -9 of the server in the middle of a run, with a writer ($(elapsed))"
node_psql vz -c "UPDATE docs SET body = 'before the crash: ' || body" >/dev/null
node_sql vz "SELECT name, pending FROM semvec_vectorizer_status ORDER BY name" | tr '\n' ' '; echo
done_before=$(node_sql vz "SELECT sum(rows_done) FROM semvec_vectorizer WHERE name LIKE 'docs_%'")
node_sql vz "CALL semvec_vectorizer_run()" >/dev/null 2>&1 &
runner=$!
track_bg $runner
update_until_down vz "UPDATE docs SET title = 'crash-time title {i} of ' || id WHERE id = 1 + ({i} * 7) % $ROWS"
writer=$BG_PID
check_eventually vz "SELECT sum(rows_done) - $done_before >= 48 FROM semvec_vectorizer WHERE name LIKE 'docs_%'" t 300 \
    "the run committed some batches"
pending_before=$(node_sql vz "SELECT sum(pending) FROM semvec_vectorizer_status")
node_crash vz
wait $runner $writer 2>/dev/null || true
check "the crash left rows pending ($pending_before)" test "$pending_before" -gt 0
node_start vz
node_sql vz "CALL semvec_vectorizer_run()" >/dev/null
check_no_rows vz "SELECT * FROM stale" "after kill -9 and a run every row of both vectorizers holds its current text's vector"
check_eq "the queue is empty" "$(node_sql vz "SELECT count(*) FROM semvec_vectorizer_queue")" 0

log "a model dropped with rows pending ($(elapsed))"
node_psql vz <<'SQL'
SELECT semvec_register_model('vz-copy', 'all-MiniLM-L6-v2/model.onnx', 'all-MiniLM-L6-v2/tokenizer.json');
CREATE TABLE notes (id int PRIMARY KEY, body text, embedding vector(384));
INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 20) i;
SELECT semvec_vectorize('notes', 'body', 'embedding', model => 'vz-copy');
SELECT semvec_drop_model('vz-copy');
SQL
node_sql vz "CALL semvec_vectorizer_run('notes_embedding')" >/dev/null
check_eq "the rows stay pending, with the reason" \
    "$(node_sql vz "SELECT pending || ' ' || failed || ' ' || last_error FROM semvec_vectorizer_status WHERE name = 'notes_embedding'")" \
    '20 0 embedding model "vz-copy" is not registered'
node_psql vz -c "SELECT semvec_register_model('vz-copy', 'all-MiniLM-L6-v2/model.onnx', 'all-MiniLM-L6-v2/tokenizer.json')" >/dev/null
node_sql vz "CALL semvec_vectorizer_run('notes_embedding')" >/dev/null
check_eq "with the model back they are embedded" \
    "$(node_sql vz "SELECT count(*) FILTER (WHERE cosine_distance(embedding, embed(body)) < 1e-6) || ' ' || s.pending FROM notes, semvec_vectorizer_status s WHERE s.name = 'notes_embedding' GROUP BY s.pending")" \
    "20 0"

log "a table dropped with rows pending ($(elapsed))"
node_psql vz -c "UPDATE notes SET body = body || '!'" >/dev/null
check_eq "rows are pending" "$(node_sql vz "SELECT pending FROM semvec_vectorizer_status WHERE name = 'notes_embedding'")" 20
node_psql vz -c "DROP TABLE notes" 2>"$SCN_TMP/drop.err"
check_eq "DROP TABLE says the vectorizer went with it" "$(cat "$SCN_TMP/drop.err")" 'NOTICE:  vectorizer "notes_embedding" dropped with its table'
check_eq "its vectorizer and queue entries are gone" \
    "$(node_sql vz "SELECT (SELECT count(*) FROM semvec_vectorizer WHERE name = 'notes_embedding') + (SELECT count(*) FROM semvec_vectorizer_queue q WHERE NOT EXISTS (SELECT FROM semvec_vectorizer v WHERE v.id = q.vectorizer_id))")" 0
check "a run afterwards works" node_sql vz "CALL semvec_vectorizer_run()"
check_log_clean vz 0 "no ERROR, FATAL or PANIC in the server log except the crash's" \
    'terminating connection|the database system is|connection to client lost|could not receive data|server process .* was terminated|rejected row|canceling statement'

finish
