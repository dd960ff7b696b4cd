#!/usr/bin/env bash
# Vectorizers' background workers (src/vectorizer.rs), on a server with shared_preload_libraries =
# 'semvec', semvec.vectorizer_database = 'semvec_test', two workers and a 200 ms naptime:
# - the workers show in pg_stat_activity (backend_type 'semvec vectorizer', connected to semvec_test);
# - inserted and updated rows get the vectors of their current text without any CALL, counted in
#   the status view; the workers' threads run at semvec.vectorizer_nice (10);
# - pause stops the workers from embedding that vectorizer (its rows stay pending), resume restarts;
# - a reload (SIGHUP) applies a new naptime, and wakes a sleeping worker;
# - pg_cancel_backend() of the workers during a backlog and idle: they go on, with the same pids;
# - pg_terminate_backend() of the workers, idle and in the middle of a backlog: they are started again
#   and finish the work;
# - errors: a model dropped with rows pending (the reason shown, the rows embedded once it is back),
#   a vectorizer whose owner role was dropped (the error logged and recorded, the workers keep
#   their pids and serve the other vectorizers);
# - kill -9 of the whole server in the middle of a backlog, with a writer: after a restart the workers
#   alone bring every row to the vector of its current text;
# - semvec.vectorizer_workers = 0 starts none, and CALL semvec_vectorizer_run() does the work.
# Environment: VZW_ROWS (rows of the main table, default 200).
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/lib/cluster.bash"

ROWS=${VZW_ROWS:-200}
WORKER_CONF=("shared_preload_libraries = 'semvec'" "semvec.vectorizer_database = 'semvec_test'"
    "semvec.vectorizer_workers = 2" "semvec.vectorizer_naptime = 200" "semvec.embed_threads = 2")
WORKERS="SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'semvec vectorizer' AND datname = 'semvec_test'"
WORKER_PIDS="SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity WHERE backend_type = 'semvec vectorizer'"

node_init vw 28826
node_start vw
node_testdb vw
node_psql vw -c "ALTER DATABASE semvec_test SET max_parallel_workers_per_gather = 0" >/dev/null
node_psql vw >/dev/null <<'SQL'
CREATE TABLE docs (id int PRIMARY KEY, title text, body text, embedding vector(384));
SELECT semvec_vectorize('docs', $$title || ': ' || body$$, 'embedding', name => 'docs', batch_size => 16);
CREATE TABLE other (id int PRIMARY KEY, body text, embedding vector(384));
SELECT semvec_vectorize('other', 'body', 'embedding', name => 'other', batch_size => 16);
-- rows whose vectors are not those of their current text
CREATE VIEW stale AS
SELECT 'docs' AS t, id FROM docs WHERE embedding IS NULL OR cosine_distance(embedding, embed(title || ': ' || body)) > 1e-6
UNION ALL
SELECT 'other', id FROM other WHERE embedding IS NULL OR cosine_distance(embedding, embed(body)) > 1e-6;
SQL
STALE="SELECT count(*) FROM stale"
QUEUE="SELECT count(*) FROM semvec_vectorizer_queue WHERE status = 'pending'"

log "no worker without shared_preload_libraries ($(elapsed))"
check_eq "no worker runs when semvec is not preloaded" "$(node_sql vw "$WORKERS")" 0

log "restart with shared_preload_libraries = 'semvec' ($(elapsed))"
node_stop vw
node_conf vw "${WORKER_CONF[@]}"
node_start vw
check_eventually vw "$WORKERS" 2 30 "two workers in pg_stat_activity (backend_type 'semvec vectorizer', database semvec_test)"

log "inserts and updates, no CALL ($(elapsed))"
t0=$SECONDS
node_sql vw "INSERT INTO docs (id, title, body) SELECT i, 'document ' || i, 'a short text about topic ' || (i % 37) || ' and detail ' || i FROM generate_series(1, $ROWS) i" >/dev/null
check_eventually vw "$QUEUE" 0 300 "the workers emptied the queue of $ROWS inserted rows"
log "$ROWS rows embedded in $((SECONDS - t0)) s"
check_eq "every row holds the vector of its text" "$(node_sql vw "$STALE")" 0
# Background work at a lower priority: every thread of the workers (ONNX Runtime's included, which
# exist now that they embedded) runs at semvec.vectorizer_nice (default 10).
pids=$(node_sql vw "$WORKER_PIDS")
check_eq "every thread of the workers runs at niceness 10 (semvec.vectorizer_nice)" \
    "$(ps -L -o ni= -p "$pids" | tr -d ' ' | sort -u | paste -sd,)" 10
check "the workers have ONNX Runtime threads (more than one thread each)" \
    test "$(ps -L -o tid= -p "$pids" | wc -l)" -gt 2
check_eq "the status view counts the workers' rows as done" \
    "$(node_sql vw "SELECT pending || ' ' || done || ' ' || (rows_per_second > 0) FROM semvec_vectorizer_status WHERE name = 'docs'")" "0 $ROWS true"
node_sql vw "UPDATE docs SET body = 'rewritten: ' || body WHERE id % 10 = 0" >/dev/null
check_eventually vw "$STALE" 0 120 "updated rows get their new text's vectors"

log "pause and resume ($(elapsed))"
node_sql vw "SELECT semvec_vectorizer_pause('docs')" >/dev/null
node_sql vw "INSERT INTO docs (id, title, body) SELECT i, 'paused ' || i, 'written while paused' FROM generate_series($ROWS + 1, $ROWS + 10) i; INSERT INTO other VALUES (1, 'another table')" >/dev/null
check_eventually vw "SELECT count(*) FROM stale WHERE t = 'other'" 0 60 "a vectorizer not paused is served"
sleep 2
check_eq "a paused vectorizer's rows stay pending (10 naptimes later)" \
    "$(node_sql vw "SELECT pending || ' ' || (SELECT count(*) FROM docs WHERE embedding IS NULL) FROM semvec_vectorizer_status WHERE name = 'docs'")" "10 10"
node_sql vw "SELECT semvec_vectorizer_resume('docs')" >/dev/null
check_eventually vw "$STALE" 0 60 "after resume they are embedded"

log "a reload applies a new naptime ($(elapsed))"
node_psql vw -c "ALTER SYSTEM SET semvec.vectorizer_naptime = '1h'" -c "SELECT pg_reload_conf()" >/dev/null
sleep 2
node_sql vw "INSERT INTO other VALUES (2, 'written during a long naptime')" >/dev/null
sleep 3
check_eq "with a naptime of 1h the sleeping workers leave a new row pending" "$(node_sql vw "$QUEUE")" 1
node_psql vw -c "ALTER SYSTEM RESET semvec.vectorizer_naptime" -c "SELECT pg_reload_conf()" >/dev/null
check_eventually vw "$STALE" 0 30 "a reload wakes them (SIGHUP sets the latch) and the row is embedded"

log "pg_cancel_backend and pg_terminate_backend of the workers ($(elapsed))"
pids_before=$(node_sql vw "$WORKER_PIDS")
done_before=$(node_sql vw "SELECT done FROM semvec_vectorizer_status WHERE name = 'docs'")
node_sql vw "UPDATE docs SET title = 'cancelled ' || id" >/dev/null
check_eventually vw "SELECT done - $done_before >= 16 FROM semvec_vectorizer_status WHERE name = 'docs'" t 120 \
    "a backlog is being embedded"
for _ in 1 2 3; do
    node_sql vw "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE backend_type = 'semvec vectorizer'" >/dev/null
    sleep 0.3
done
check_eventually vw "$QUEUE" 0 300 "cancelled (busy or idle) the workers go on and finish the backlog"
node_sql vw "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE backend_type = 'semvec vectorizer'" >/dev/null
sleep 1
check_eq "a cancel ends no worker (the same pids)" "$(node_sql vw "$WORKER_PIDS")" "$pids_before"
check_eq "every row holds the vector of its current text" "$(node_sql vw "$STALE")" 0
check_eq "both workers terminated" "$(node_sql vw "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'semvec vectorizer'")" 2
check_eventually vw "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'semvec vectorizer' AND pid <> ALL ('{$pids_before}'::int[])" 2 30 \
    "the postmaster starts them again"
done_before=$(node_sql vw "SELECT done FROM semvec_vectorizer_status WHERE name = 'docs'")
node_sql vw "UPDATE docs SET title = 'terminated ' || id" >/dev/null
check_eventually vw "SELECT done - $done_before >= 32 FROM semvec_vectorizer_status WHERE name = 'docs'" t 120 \
    "a backlog is being embedded"
log "pending when terminated: $(node_sql vw "$QUEUE")"
check_eq "both workers terminated in the middle of it" "$(node_sql vw "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE backend_type = 'semvec vectorizer'")" 2
check_eventually vw "$QUEUE" 0 300 "the restarted workers finish the backlog"
check_eq "every row holds the vector of its current text" "$(node_sql vw "$STALE")" 0

log "errors: a model dropped, an owner dropped ($(elapsed))"
pids_before=$(node_sql vw "$WORKER_PIDS")
log_from=$(log_offset vw)
node_psql vw >/dev/null <<'SQL'
SELECT semvec_register_model('vw-copy', 'all-MiniLM-L6-v2/model.onnx', 'all-MiniLM-L6-v2/tokenizer.json');
CREATE TABLE notes (id int PRIMARY KEY, body text, embedding vector(384));
SELECT semvec_vectorize('notes', 'body', 'embedding', model => 'vw-copy', name => 'notes');
SELECT semvec_drop_model('vw-copy');
INSERT INTO notes SELECT i, 'note ' || i FROM generate_series(1, 20) i;
CREATE ROLE gone;
CREATE TABLE orphan (id int PRIMARY KEY, body text, embedding vector(384));
GRANT SELECT, UPDATE, TRIGGER ON orphan TO gone;
SET ROLE gone;
SELECT semvec_vectorize('orphan', 'body', 'embedding', name => 'orphan');
RESET ROLE;
REVOKE ALL ON orphan FROM gone;
DROP ROLE gone;
INSERT INTO orphan VALUES (1, 'whose owner is gone');
SQL
check_eventually vw "SELECT pending || ' ' || last_error FROM semvec_vectorizer_status WHERE name = 'notes'" \
    '20 embedding model "vw-copy" is not registered' 30 "a missing model: the rows stay pending, with the reason"
check_eventually vw "SELECT last_error ~ '^role \"[0-9]+\" does not exist$' FROM semvec_vectorizer_status WHERE name = 'orphan'" t 30 \
    "an owner dropped: the error is the vectorizer's last error"
check "and a WARNING in the server log" \
    grep -q 'WARNING:  vectorizer "orphan": role "[0-9]*" does not exist' <(tail -c +$((log_from + 1)) "$(node_dir vw)/server.log")
node_sql vw "INSERT INTO other VALUES (3, 'written while two vectorizers fail')" >/dev/null
check_eventually vw "SELECT count(*) FROM stale WHERE t = 'other'" 0 30 "the workers keep serving the other vectorizers"
check_eq "with the same processes (no restart)" "$(node_sql vw "$WORKER_PIDS")" "$pids_before"
node_psql vw -c "SELECT semvec_register_model('vw-copy', 'all-MiniLM-L6-v2/model.onnx', 'all-MiniLM-L6-v2/tokenizer.json')" >/dev/null
check_eventually vw "SELECT count(*) FILTER (WHERE cosine_distance(embedding, embed(body)) < 1e-6) FROM notes" 20 60 \
    "with the model back the workers embed its rows"
check_eq "and its last error is cleared" "$(node_sql vw "SELECT pending || ' ' || coalesce(last_error, '-') FROM semvec_vectorizer_status WHERE name = 'notes'")" "0 -"
node_sql vw "SELECT semvec_vectorizer_drop('orphan')" >/dev/null

log "kill -9 of the server in the middle of a backlog, with a writer ($(elapsed))"
node_sql vw "UPDATE docs SET body = 'before the crash: ' || body" >/dev/null
done_before=$(node_sql vw "SELECT done FROM semvec_vectorizer_status WHERE name = 'docs'")
update_until_down vw "UPDATE docs SET title = 'crash-time title {i} of ' || id WHERE id = 1 + ({i} * 7) % $ROWS"
writer=$BG_PID
check_eventually vw "SELECT done - $done_before >= 32 FROM semvec_vectorizer_status WHERE name = 'docs'" t 120 \
    "the workers committed some batches"
pending_before=$(node_sql vw "SELECT pending FROM semvec_vectorizer_status WHERE name = 'docs'")
node_crash vw
wait $writer 2>/dev/null || true
check "the crash left rows pending ($pending_before)" test "$pending_before" -gt 0
node_start vw
check_eventually vw "$QUEUE" 0 300 "after the restart the workers empty the queue"
check_eq "every row holds the vector of its current text" "$(node_sql vw "$STALE")" 0

log "semvec.vectorizer_workers = 0, and CALL ($(elapsed))"
node_stop vw
node_conf vw "${WORKER_CONF[@]}" "semvec.vectorizer_workers = 0"
node_start vw
sleep 1
check_eq "no worker is started" "$(node_sql vw "$WORKERS")" 0
node_sql vw "UPDATE docs SET body = 'by hand: ' || body WHERE id <= 40" >/dev/null
sleep 1
check_eq "rows stay pending" "$(node_sql vw "SELECT pending FROM semvec_vectorizer_status WHERE name = 'docs'")" 40
done_before=$(node_sql vw "SELECT done FROM semvec_vectorizer_status WHERE name = 'docs'")
node_sql vw "CALL semvec_vectorizer_run()" >/dev/null
check_eq "CALL semvec_vectorizer_run() embeds them" "$(node_sql vw "$STALE") $(node_sql vw "$QUEUE")" "0 0"
check_eq "the status view counts them as the workers' rows" \
    "$(node_sql vw "SELECT done - $done_before FROM semvec_vectorizer_status WHERE name = 'docs'")" 40

check_log_clean vw 0 "no ERROR, FATAL or PANIC in the server log but the terminations, the crash's and the dropped owner's" \
    'terminating background worker "semvec vectorizer" due to administrator command|terminating connection|the database system is|connection to client lost|could not receive data|server process .* was terminated'
finish
