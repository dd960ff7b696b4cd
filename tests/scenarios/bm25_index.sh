#!/usr/bin/env bash
# The bm25 index through crashes, streaming replication, point-in-time recovery and concurrent
# use. Table docs(id, body text, tsv tsvector generated as to_tsvector('english', body)): each
# document is 4-60 words drawn from 4000 made-up words with Zipf-like frequencies (a hash of its
# seed, no external data), then "u<id>", a lexeme no other row holds; every 997th body is NULL.
# Indexes: docs_bm25 (bm25 on tsv), docs_body_bm25 (bm25 on body WITH (text_config = 'english')),
# and the old path as the reference (GIN on tsv, bm25_create() before any load). Servers: the
# primary (WAL archived), a streaming standby and a base backup for PITR, both taken after the build.
#
# 1. Crash: 4 pgbench clients insert, update, delete and query (ORDER BY tsv <@> bm25_query(),
#    bm25_search) while VACUUM runs every 3 s; CHECKPOINT half-way, `pg_ctl stop -m immediate`
#    mid-load, restart. Then, before any VACUUM: semvec_index_check passes on both indexes with 0
#    unindexed rows; ORDER BY <@> LIMIT 10 / 100 through the index (seq scans off) returns rows in
#    the operator's order, with the distances of a seq scan + sort (index scans off) and the same
#    ids but for rows tied with the last one; sampled rows come first for their own "u<id>". After
#    a VACUUM: the index's N and total length equal bm25_stats() and a fresh count, and bm25_search
#    through either index equals the old path (semvec.bm25_index_search = off): same ids in the
#    same order, scores to a relative 1e-9 (50 queries; 10 more at top 60).
# 2. Standby: it follows through everything; once caught up (after the crash, after the VACUUM,
#    after the concurrency phase) its index-backed results (bm25_search on both columns, ORDER BY
#    tsv <@> q LIMIT 10 with distances) are the primary's, exactly, and semvec_index_check passes.
# 3. PITR: base backup + archived WAL (the load, the crash, VACUUMs) replayed up to a restore point
#    taken after the checks of 1; a mass delete, VACUUM and inserts after the point are undone.
#    The restored indexes pass semvec_index_check and return the point's results exactly; once
#    promoted they take inserts, deletes and VACUUM and still match the old path.
# 4. Concurrency: 3 pgbench clients insert (now and then deleting an old row) while 3 others query
#    through the indexes (seq scans off) and VACUUM runs every 2 s. Every client succeeds, the
#    server log has no ERROR/FATAL/PANIC, every acknowledged insert is in the table and indexed,
#    sampled rows (new and old) come first for their "u<id>", and after a VACUUM bm25_search
#    equals the old path again.
# 5. Crash in the middle of a VACUUM's bulk delete (table bulk, 200k short documents, a quarter
#    deleted): semvec_index_check must pass after the restart, and after the next VACUUM the
#    index's N, document list and postings are exactly the live rows'.
#
# The VACUUMs that must make the index's statistics exact are VACUUM (INDEX_CLEANUP ON): a plain
# VACUUM skips index vacuuming when few heap pages hold dead rows (PostgreSQL's bypass), and the
# index keeps counting those rows.
#
# Environment: BM25_ROWS (initial rows, default 3000), BM25_LOAD_SECONDS (load before the crash,
# default 12), BM25_CONC_SECONDS (default 12), BM25_QUERIES (default 50), BM25_BULK_ROWS (default
# 200000).
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/lib/cluster.bash"

ROWS=${BM25_ROWS:-3000}
LOAD=${BM25_LOAD_SECONDS:-12}
CONC=${BM25_CONC_SECONDS:-12}
NQ=${BM25_QUERIES:-50}
BULK=${BM25_BULK_ROWS:-200000}
ARCHIVE="$SCN_TMP/archive"
as_postgres mkdir -p "$ARCHIVE"

log "bm25 index: $ROWS documents, ${LOAD}s load then crash, standby, PITR, ${CONC}s concurrency"
# syncfs: a start after a crash or from a base backup syncs the data folder in well under a
# second instead of about 4 s of fsync per file.
SYNC="recovery_init_sync_method = syncfs"
# wal_keep_size: the standby, cut off by each crash, must find its WAL after the restart's checkpoints.
node_init primary 28835 "autovacuum = off" "archive_mode = on" "$SYNC" "wal_keep_size = 1GB" \
    "archive_command = 'test ! -f $ARCHIVE/%f && cp %p $ARCHIVE/%f'" "checkpoint_timeout = 5min" "max_wal_size = 1GB"
node_start primary
node_testdb primary
node_psql primary <<'SQL'
-- A made-up word per rank 1..4000: three syllables (no stop word, 4000 distinct lexemes).
CREATE FUNCTION vocab_word(r int) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT s[(r >> 8 & 15) + 1] || s[(r >> 4 & 15) + 1] || s[(r & 15) + 1]
      FROM (SELECT '{ba,ko,mi,tu,re,sa,no,di,fe,lu,pa,gi,ho,ve,zu,ja}'::text[] AS s) syl
$$;
-- Word i of seed, Zipf-like (P(rank r) ~ 1/r): rank = floor(4001^u), u uniform from a hash.
CREATE FUNCTION zipf_word(seed bigint, i int) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT vocab_word(least(4000, floor(exp((hashint8(seed * 7919 + i) & 2147483647)::float8 / 2147483648.0
                                            * ln(4001.0::float8))))::int)
$$;
-- A document: 4-60 words of seed, then "u<id>" (a numword: the lexeme u<id> in any configuration).
CREATE FUNCTION doc_text(seed bigint, id bigint) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT string_agg(zipf_word(seed, i), ' ' ORDER BY i) || ' u' || id
      FROM generate_series(1, 4 + ((hashint8(seed) & 2147483647) % 57)::int) i
$$;
-- Query q: 1-4 words.
CREATE FUNCTION query_text(q bigint) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT string_agg(zipf_word(-q - 1000000, i), ' ' ORDER BY i) FROM generate_series(1, 1 + (q % 4)::int) i
$$;

SQL
node_psql primary >/dev/null <<SQL
CREATE TABLE docs (
    id bigint PRIMARY KEY,
    body text,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED
);
INSERT INTO docs (id, body) SELECT i, CASE WHEN i % 997 <> 0 THEN doc_text(i, i) END FROM generate_series(1, $ROWS) i;
CREATE SEQUENCE doc_ids START $((ROWS + 1));
-- The old path, the reference: GIN candidates and trigger-kept statistics.
CREATE INDEX docs_gin ON docs USING gin (tsv);
SELECT bm25_create('docs', 'tsv', 'english');
CREATE INDEX docs_bm25 ON docs USING bm25 (tsv);
CREATE INDEX docs_body_bm25 ON docs USING bm25 (body) WITH (text_config = 'english');
SQL
node_psql primary -q <<'SQL'
-- bm25_search through the bm25 index of col against the old path on tsv, for queries 1..nq: one
-- row per difference (ids in order; scores to a relative 1e-9).
CREATE FUNCTION search_mismatches(nq int, top_k int, col name DEFAULT 'tsv') RETURNS TABLE (q int, problem text)
LANGUAGE plpgsql AS $$
DECLARE
    a record; i bigint[]; si float8[]; o bigint[]; so float8[];
BEGIN
    FOR q IN 1 .. nq LOOP
        PERFORM set_config('semvec.bm25_index_search', 'on', true);
        SELECT coalesce(array_agg(s.id ORDER BY s.rank), '{}'), coalesce(array_agg(s.score ORDER BY s.rank), '{}') INTO i, si
          FROM bm25_search('docs', 'id', col, query_text(q), top_k) s;
        PERFORM set_config('semvec.bm25_index_search', 'off', true);
        SELECT coalesce(array_agg(s.id ORDER BY s.rank), '{}'), coalesce(array_agg(s.score ORDER BY s.rank), '{}') INTO o, so
          FROM bm25_search('docs', 'id', 'tsv', query_text(q), top_k) s;
        PERFORM set_config('semvec.bm25_index_search', 'on', true);
        IF cardinality(o) = 0 THEN
            problem := 'the old path found nothing'; RETURN NEXT;
        END IF;
        FOR a IN SELECT r, i[r] AS iid, o[r] AS oid, si[r] AS iscore, so[r] AS oscore
                   FROM generate_series(1, greatest(cardinality(i), cardinality(o))) r
                  WHERE i[r] IS DISTINCT FROM o[r] OR NOT abs(si[r] - so[r]) <= 1e-9 * abs(so[r]) LOOP
            problem := format('%s rank %s: index %s (%s), old path %s (%s)', col, a.r, a.iid, a.iscore, a.oid, a.oscore);
            RETURN NEXT;
        END LOOP;
    END LOOP;
END $$;

-- ORDER BY col <@> bm25_query(...) LIMIT lim through the bm25 index (seq scans off) against a seq
-- scan and sort (index scans off), for queries 1..nq: one row per difference. The index must
-- return its rows in the operator's order, the seq scan's multiset of distances, and its ids but
-- for the rows tied with the last one.
CREATE FUNCTION order_mismatches(nq int, lim int, col name DEFAULT 'tsv') RETURNS TABLE (q int, problem text)
LANGUAGE plpgsql AS $$
DECLARE
    qv bm25query; r record; last float8;
    iid bigint[]; idist float8[]; sid bigint[]; sdist float8[];
    stmt text := format('SELECT id, %1$I <@> $1 AS d FROM docs ORDER BY %1$I <@> $1 LIMIT %2$s', col, lim);
BEGIN
    FOR q IN 1 .. nq LOOP
        qv := bm25_query('docs', col, query_text(q));
        iid := '{}'; idist := '{}'; sid := '{}'; sdist := '{}';
        PERFORM set_config('enable_seqscan', 'off', true);
        PERFORM set_config('enable_bitmapscan', 'off', true);
        FOR r IN EXECUTE stmt USING qv LOOP iid := iid || r.id; idist := idist || r.d; END LOOP;
        PERFORM set_config('enable_seqscan', 'on', true);
        PERFORM set_config('enable_indexscan', 'off', true);
        FOR r IN EXECUTE stmt USING qv LOOP sid := sid || r.id; sdist := sdist || r.d; END LOOP;
        PERFORM set_config('enable_indexscan', 'on', true);
        PERFORM set_config('enable_bitmapscan', 'on', true);
        IF cardinality(iid) <> cardinality(sid) THEN
            problem := format('%s: the index returned %s rows, the seq scan %s', col, cardinality(iid), cardinality(sid));
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF idist <> (SELECT array_agg(x ORDER BY x) FROM unnest(idist) x) THEN
            problem := format('%s: index rows out of order: %s', col, idist); RETURN NEXT;
        END IF;
        IF (SELECT array_agg(x ORDER BY x) FROM unnest(idist) x) <> sdist THEN
            problem := format('%s: distances differ: index %s, seq scan %s', col, idist, sdist); RETURN NEXT;
        END IF;
        last := sdist[cardinality(sdist)];
        IF (SELECT array_agg(i ORDER BY i) FROM unnest(iid, idist) u(i, d) WHERE d < last)
           IS DISTINCT FROM (SELECT array_agg(i ORDER BY i) FROM unnest(sid, sdist) u(i, d) WHERE d < last) THEN
            problem := format('%s: ids differ above the last distance %s: index %s, seq scan %s', col, last, iid, sid);
            RETURN NEXT;
        END IF;
    END LOOP;
END $$;

-- Rows of ids (those with a document) that an index scan on col ordered by their own "u<id>"
-- lexeme does not return first, with the row it returned first.
CREATE FUNCTION self_misses(ids bigint[], col name DEFAULT 'tsv') RETURNS TABLE (id bigint, got bigint)
LANGUAGE plpgsql SET enable_seqscan = off SET enable_bitmapscan = off AS $$
BEGIN
    RETURN QUERY EXECUTE format(
        'SELECT * FROM (SELECT s.id, (SELECT d.id FROM docs d ORDER BY d.%1$I <@> bm25_query(''docs'', %1$L, ''u'' || s.id) LIMIT 1) AS got
                          FROM docs s WHERE s.id = ANY ($1) AND s.body IS NOT NULL) m
          WHERE m.got IS DISTINCT FROM m.id', col) USING ids;
END $$;

-- Index-backed results to compare between servers, exactly (ties come in TID order): bm25_search
-- on both columns and ORDER BY tsv <@> q LIMIT 10 with the distances, for queries 1..nq.
CREATE FUNCTION index_dump(nq int) RETURNS SETOF text LANGUAGE sql STABLE SET enable_seqscan = off AS $$
    SELECT format('%s %s: %s', c, q,
                  (SELECT string_agg(s.id || '=' || s.score, ' ' ORDER BY s.rank)
                     FROM bm25_search('docs', 'id', c, query_text(q)) s))
      FROM generate_series(1, nq) q, unnest('{tsv,body}'::name[]) c
    UNION ALL
    SELECT format('order %s: %s', q,
                  (SELECT string_agg(o.id || '=' || o.d, ' ')
                     FROM (SELECT d.id, d.tsv <@> bm25_query('docs', 'tsv', query_text(q)) AS d
                             FROM docs d ORDER BY 2 LIMIT 10) o))
      FROM generate_series(1, nq) q
$$;
SQL

# bm25_checks NODE LABEL [light]: the checks that hold with dead rows in the index's statistics
# (light: fewer queries and rows).
bm25_checks() {
    local node=$1 label=$2 light=${3:-} idx n=100
    for idx in docs_bm25 docs_body_bm25; do
        check_index_ok "$node" "$idx" "$label: $idx passes semvec_index_check"
        check_eq "$label: every visible row is in $idx (heap checked / unindexed rows)" \
            "$(node_sql "$node" "SELECT (r ->> 'heap_checked') || '/' || (r ->> 'unindexed_rows') FROM semvec_index_check('$idx') r")" "true/0"
    done
    check_eq "$label: docs_bm25 counts at least the rows with a document" \
        "$(node_sql "$node" "SELECT (semvec_index_check('docs_bm25', false) ->> 'documents')::bigint >= count(tsv) FROM docs")" t
    check_no_rows "$node" "SELECT * FROM order_mismatches($NQ, 10)" \
        "$label: ORDER BY tsv <@> q LIMIT 10, index scan = seq scan + sort ($NQ queries)"
    if [ -z "$light" ]; then
        check_no_rows "$node" "SELECT * FROM order_mismatches($((NQ / 2)), 100)" \
            "$label: ORDER BY tsv <@> q LIMIT 100 (batches, unmatched rows), index scan = seq scan + sort ($((NQ / 2)) queries)"
        check_no_rows "$node" "SELECT * FROM order_mismatches(10, 20, 'body')" \
            "$label: ORDER BY body <@> q LIMIT 20, index scan = seq scan + sort (10 queries)"
        n=200
    fi
    # Rows at random, a quarter of them the newest (the memtable's).
    local sample="(SELECT array_agg(id) FROM (SELECT id FROM (SELECT id FROM docs ORDER BY hashint8(id) LIMIT $((n * 3 / 4))) a
                   UNION SELECT id FROM (SELECT id FROM docs ORDER BY id DESC LIMIT $((n / 4))) b) s)"
    check_no_rows "$node" "SELECT * FROM self_misses($sample)" "$label: $n sampled rows come first for their own lexeme (tsv index)"
    check_no_rows "$node" "SELECT * FROM self_misses($sample, 'body')" "$label: $n sampled rows come first for their own lexeme (body index)"
}

# exact_checks NODE LABEL [light]: after a VACUUM (INDEX_CLEANUP ON), statistics are exact and
# bm25_search through either index is the old path's (light: no top 60).
exact_checks() {
    local node=$1 label=$2 light=${3:-}
    check_eq "$label: docs_bm25's N and total length = bm25_stats() = a fresh count" \
        "$(node_sql "$node" "SELECT (SELECT (r ->> 'documents') || '/' || (r ->> 'total_length') FROM semvec_index_check('docs_bm25', false) r)
                               || ' ' || (SELECT n_docs || '/' || total_length FROM bm25_stats('docs', 'tsv'))
                               || ' ' || (SELECT count(tsv) || '/' || coalesce(sum(bm25_document_length(tsv)), 0) FROM docs)")" \
        "$(node_sql "$node" "SELECT x || ' ' || x || ' ' || x FROM (SELECT count(tsv) || '/' || coalesce(sum(bm25_document_length(tsv)), 0) AS x FROM docs) s")"
    check_eq "$label: docs_body_bm25 holds as many documents as docs_bm25" \
        "$(node_sql "$node" "SELECT semvec_index_check('docs_body_bm25', false) ->> 'documents'")" \
        "$(node_sql "$node" "SELECT semvec_index_check('docs_bm25', false) ->> 'documents'")"
    check_no_rows "$node" "SELECT * FROM search_mismatches($NQ, 10)" \
        "$label: bm25_search top 10 through docs_bm25 = the old path ($NQ queries)"
    [ -n "$light" ] || check_no_rows "$node" "SELECT * FROM search_mismatches($((NQ / 5)), 60)" \
        "$label: bm25_search top 60 through docs_bm25 = the old path ($((NQ / 5)) queries)"
    check_no_rows "$node" "SELECT * FROM search_mismatches($((NQ / 2)), 10, 'body')" \
        "$label: bm25_search top 10 through docs_body_bm25 = the old path ($((NQ / 2)) queries)"
}

# check_same_results NODE WANT WHAT: NODE's index_dump is exactly the file WANT.
check_same_results() {
    local node=$1 want=$2 what=$3 got="$SCN_TMP/dump-$1-$RANDOM.txt"
    node_sql "$node" "SELECT * FROM index_dump($NQ)" >"$got"
    check_eq "the reference dump has $((NQ * 3)) non-empty lines" "$(grep -c ': [0-9]' "$want")" "$((NQ * 3))"
    if cmp -s "$want" "$got"; then
        pass "$what"
    else
        fail "$what"
        diff "$want" "$got" | head -6 | cut -c1-300 >&2 || true
    fi
}

log "fresh build ($(elapsed))"
plan=$(node_sql primary "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM docs ORDER BY tsv <@> bm25_query('docs', 'tsv', 'bature') LIMIT 10")
check "ORDER BY tsv <@> bm25_query() plans an index scan of docs_bm25" grep -q "Index Scan using docs_bm25" <<<"$plan"
plan=$(node_sql primary "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM docs ORDER BY body <@> bm25_query('docs', 'body', 'bature') LIMIT 10")
check "ORDER BY body <@> bm25_query() plans an index scan of docs_body_bm25" grep -q "Index Scan using docs_body_bm25" <<<"$plan"
exact_checks primary "fresh build"

log "standby and base backup ($(elapsed))"
# node_backup's base backup without its final fsync (the standby's start syncs the folder anyway).
node_basebackup standby primary 28836 -R --no-sync -- "hot_standby = on" "$SYNC"
node_start standby
check_eq "standby is in recovery" "$(node_sql standby "SELECT pg_is_in_recovery()")" t
node_basebackup restored primary 28837 --no-sync -- "archive_mode = off" "autovacuum = off" "$SYNC" \
    "restore_command = 'cp $ARCHIVE/%f %p'" "recovery_target_name = 'bm25_pitr'" "recovery_target_action = 'promote'"
as_postgres touch "$(node_dir restored)/recovery.signal"

W="$SCN_TMP/pgbench"
mkdir -p "$W"
cat >"$W/insert.sql" <<'SQL'
\set s random(1, 1000000000)
INSERT INTO docs (id, body) SELECT n, doc_text(:s, n) FROM nextval('doc_ids') n;
SQL
cat >"$W/update.sql" <<SQL
\set id random(1, $((ROWS * 2)))
\set s random(1, 1000000000)
UPDATE docs SET body = doc_text(:s, id) WHERE id = :id;
SQL
cat >"$W/delete.sql" <<SQL
\set id random(1, $((ROWS * 2)))
DELETE FROM docs WHERE id = :id;
SQL
# Deletes only rows of the initial load, so that every row the concurrency phase inserts stays.
cat >"$W/delete_old.sql" <<SQL
\set id random(1, $ROWS)
DELETE FROM docs WHERE id = :id;
SQL
cat >"$W/query.sql" <<'SQL'
\set q random(1, 1000000)
SELECT id FROM docs ORDER BY tsv <@> bm25_query('docs', 'tsv', query_text(:q)) LIMIT 10;
SQL
cat >"$W/query_body.sql" <<'SQL'
\set q random(1, 1000000)
SELECT id FROM docs ORDER BY body <@> bm25_query('docs', 'body', query_text(:q)) LIMIT 10;
SQL
cat >"$W/search.sql" <<'SQL'
\set q random(1, 1000000)
SELECT * FROM bm25_search('docs', 'id', 'tsv', query_text(:q));
SQL
chmod -R a+rX "$W"

log "1. load for ${LOAD}s, then pg_ctl stop -m immediate ($(elapsed))"
vacuum_every primary docs 3 &
vl=$!
track_bg $vl
timeout $((LOAD + 120)) "$PG_BIN/pgbench" -h "$SCN_TMP" -p "$(node_port primary)" -U postgres -n -c 4 -j 2 -T $((LOAD + 60)) \
    -f "$W/insert.sql@4" -f "$W/update.sql@3" -f "$W/delete.sql@2" -f "$W/query.sql@1" -f "$W/search.sql@1" \
    semvec_test >"$SCN_TMP/load.out" 2>&1 &
pb=$!
track_bg $pb
sleep $((LOAD / 2))
node_psql primary -c "CHECKPOINT"
sleep $((LOAD - LOAD / 2))
crash_at=$(log_offset primary)
node_stop primary immediate
touch "$SCN_TMP/stop"
wait $pb || true
wait $vl || true
grep -E "number of transactions actually processed|tps =" "$SCN_TMP/load.out" | sed 's/^/  /'
check "no statement of the load failed before the crash" bash -c "! grep -E 'ERROR|failed transactions: [1-9]' '$SCN_TMP/load.out'"
check "VACUUM ran during the load ($(cat "$SCN_TMP/vacuums") times), failing only at the crash" \
    bash -c "[ \$(cat '$SCN_TMP/vacuums') -ge 2 ] && ! grep -v -E 'server closed the connection|terminating connection|terminated abnormally|connection to server|before or while processing|Is the server running|VACUUM failed|^\s*\$' '$SCN_TMP/vacuum.err'"
# Expected FATALs: the standby's WAL receiver reconnecting while the primary stops and starts, and
# the archiver killed by an immediate shutdown.
PRIMARY_EXPECTED='FATAL:  (the database system is (shutting down|starting up)|archive command was terminated by signal 3: Quit)$'
check_log_clean primary 0 "the primary's log has no ERROR/FATAL/PANIC up to the crash" "$PRIMARY_EXPECTED"
node_start primary
check "the primary ran crash recovery" grep -q "was not properly shut down; automatic recovery in progress" "$(node_dir primary)/server.log"
check_log_clean primary "$crash_at" "the primary's log has no ERROR/FATAL/PANIC through recovery" "$PRIMARY_EXPECTED"
check "the load committed rows before the crash (inserted, updated, deleted)" \
    test "$(node_sql primary "SELECT (SELECT count(*) FROM docs WHERE id > $ROWS) >= 100 AND (SELECT count(*) FROM docs WHERE id <= $ROWS) < $ROWS")" = t
log "rows: $(node_sql primary "SELECT count(*) FROM docs") ($(elapsed))"

bm25_checks primary "after the crash"
node_sql primary "SELECT * FROM index_dump($NQ)" >"$SCN_TMP/primary-before-vacuum.txt"
check_caught_up standby primary
check_same_results standby "$SCN_TMP/primary-before-vacuum.txt" \
    "2. standby: index-backed results = the primary's after the crash, before VACUUM"
for idx in docs_bm25 docs_body_bm25; do check_index_ok standby $idx "2. standby: $idx passes semvec_index_check"; done

node_psql primary -c "VACUUM (INDEX_CLEANUP ON) docs"
log "after a VACUUM ($(elapsed))"
exact_checks primary "after the crash and a VACUUM"
check_no_rows primary "SELECT * FROM order_mismatches($NQ, 10)" \
    "after the crash and a VACUUM: ORDER BY tsv <@> q LIMIT 10, index scan = seq scan + sort ($NQ queries)"
node_sql primary "SELECT * FROM index_dump($NQ)" >"$SCN_TMP/at_point.txt"
check_caught_up standby primary
check_same_results standby "$SCN_TMP/at_point.txt" "2. standby: index-backed results = the primary's after VACUUM"
for idx in docs_bm25 docs_body_bm25; do check_index_ok standby $idx "2. standby: $idx passes semvec_index_check after VACUUM"; done

log "3. restore point, then changes to undo ($(elapsed))"
rows_at_point=$(node_sql primary "SELECT count(*) FROM docs")
docs_at_point=$(node_sql primary "SELECT semvec_index_check('docs_bm25', false) ->> 'documents'")
node_sql primary "SELECT pg_create_restore_point('bm25_pitr')" >/dev/null
node_psql primary -c "DELETE FROM docs WHERE id <= $((ROWS / 2))" -c "VACUUM docs" \
    -c "INSERT INTO docs (id, body) SELECT n, doc_text(n, n) FROM (SELECT nextval('doc_ids') n FROM generate_series(1, 300)) s"
segment=$(node_sql primary "SELECT pg_walfile_name(pg_switch_wal())")
check_eventually primary "SELECT coalesce(last_archived_wal >= '$segment', false) FROM pg_stat_archiver" t 60 \
    "WAL up to segment $segment is archived"
node_start restored
check_eventually restored "SELECT pg_is_in_recovery()" f 60 "3. PITR: recovery reached the restore point and promoted"
check "3. PITR: recovery stopped at the restore point" \
    grep -q 'recovery stopping at restore point "bm25_pitr"' "$(node_dir restored)/server.log"
check_eq "3. PITR: the restored table has the restore point's rows" "$(node_sql restored "SELECT count(*) FROM docs")" "$rows_at_point"
check_eq "3. PITR: docs_bm25 holds the restore point's documents" \
    "$(node_sql restored "SELECT semvec_index_check('docs_bm25', false) ->> 'documents'")" "$docs_at_point"
for idx in docs_bm25 docs_body_bm25; do check_index_ok restored $idx "3. PITR: restored $idx passes semvec_index_check"; done
check_same_results restored "$SCN_TMP/at_point.txt" "3. PITR: index-backed results = the primary's at the restore point"
node_psql restored -c "INSERT INTO docs (id, body) SELECT i, doc_text(i, i) FROM generate_series(900001, 900300) i" \
    -c "DELETE FROM docs WHERE id % 7 = 0" -c "VACUUM (INDEX_CLEANUP ON) docs"
for idx in docs_bm25 docs_body_bm25; do
    check_index_ok restored $idx "3. PITR: promoted server's $idx takes inserts, deletes and VACUUM"
done
check_no_rows restored "SELECT * FROM search_mismatches($((NQ / 5)), 10)" \
    "3. PITR: promoted server's bm25_search = the old path ($((NQ / 5)) queries)"
check_no_rows restored "SELECT * FROM self_misses(ARRAY[900001, 900002, 900150, 900299])" \
    "3. PITR: promoted server finds new rows by their own lexeme"
check_log_clean restored 0 "3. PITR: the restored server's log has no ERROR/FATAL/PANIC"
node_stop restored

log "4. concurrency: 3 inserting clients, 3 querying clients, VACUUM every 2 s, ${CONC}s ($(elapsed))"
conc_from=$(log_offset primary)
max_before=$(node_sql primary "SELECT max(id) FROM docs")
rm -f "$SCN_TMP/stop" "$SCN_TMP/vacuums" "$SCN_TMP/vacuum.err"
vacuum_every primary docs 2 &
vl=$!
track_bg $vl
set +e
# Inserts are throttled (-R, in total) so that the memtable, which every search scores in full,
# stays small enough for the checks afterwards.
timeout $((CONC + 120)) "$PG_BIN/pgbench" -h "$SCN_TMP" -p "$(node_port primary)" -U postgres -n -c 3 -j 1 -T "$CONC" -R 200 \
    -f "$W/insert.sql@8" -f "$W/delete_old.sql@1" semvec_test >"$SCN_TMP/writers.out" 2>&1 &
pw=$!
PGOPTIONS="-c enable_seqscan=off" timeout $((CONC + 120)) "$PG_BIN/pgbench" -h "$SCN_TMP" -p "$(node_port primary)" -U postgres \
    -n -c 3 -j 1 -T "$CONC" -f "$W/query.sql@2" -f "$W/query_body.sql@1" -f "$W/search.sql@2" semvec_test >"$SCN_TMP/readers.out" 2>&1
rr=$?
wait $pw
rw=$?
set -e
touch "$SCN_TMP/stop"
wait $vl || true
for f in writers readers; do
    echo "  $f: $(grep -E "number of transactions actually processed" "$SCN_TMP/$f.out"), $(grep -E '^tps' "$SCN_TMP/$f.out")"
done
check_eq "4. the inserting pgbench succeeded with every client (exit code)" "$rw" 0
check_eq "4. the querying pgbench succeeded with every client (exit code)" "$rr" 0
check "4. no transaction failed" bash -c "! grep -E 'failed transactions: [1-9]|ERROR|aborted' '$SCN_TMP/writers.out' '$SCN_TMP/readers.out'"
inserted=$(awk '/insert.sql$/ { s = 1 } s && /transactions \(/ { print $2; exit }' "$SCN_TMP/writers.out")
queried=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$SCN_TMP/readers.out")
check "4. the clients did real work (${inserted:-0} inserts >= 300, ${queried:-0} queries >= 100)" \
    test "${inserted:-0}" -ge 300 -a "${queried:-0}" -ge 100
check "4. VACUUM ran during the load ($(cat "$SCN_TMP/vacuums") times), without errors" \
    bash -c "[ \$(cat '$SCN_TMP/vacuums') -ge 2 ] && ! grep -q . '$SCN_TMP/vacuum.err'"
check_log_clean primary "$conc_from" "4. the primary's log has no ERROR/FATAL/PANIC from the concurrency phase"
check_eq "4. every insert pgbench acknowledged is in the table" \
    "$(node_sql primary "SELECT count(*) FROM docs WHERE id > $max_before")" "${inserted:-0}"
log "4. checks ($(elapsed))"
bm25_checks primary "4. after the concurrent load" light
check_no_rows primary "SELECT * FROM self_misses((SELECT array_agg(id) FROM (SELECT id FROM docs WHERE id > $max_before ORDER BY hashint8(id) LIMIT 200) s))" \
    "4. 200 rows inserted under load come first for their own lexeme"
node_psql primary -c "VACUUM (INDEX_CLEANUP ON) docs"
exact_checks primary "4. after the concurrent load and a VACUUM" light
node_sql primary "SELECT * FROM index_dump($NQ)" >"$SCN_TMP/primary-final.txt"
check_caught_up standby primary
check_same_results standby "$SCN_TMP/primary-final.txt" "2. standby: index-backed results = the primary's after the concurrency phase"
for idx in docs_bm25 docs_body_bm25; do check_index_ok standby $idx "2. standby: $idx passes semvec_index_check at the end"; done

log "5. crash in the middle of a VACUUM's bulk delete on $BULK documents ($(elapsed))"
node_psql primary -c "CREATE TABLE bulk (i int, tsv tsvector)" \
    -c "INSERT INTO bulk SELECT i, to_tsvector('simple', 'w' || i % 100 || ' x' || i % 1000 || ' y' || i || ' z' || i % 7) FROM generate_series(1, $BULK) i" \
    -c "CREATE INDEX bulk_bm25 ON bulk USING bm25 (tsv)"
# The crash must land in the bulk delete's first step, the posting chain, which begins with the
# document list (what semvec_index_check counts as documents) and goes on with the terms' posting
# lists (4 per row here): some documents are gone from the list, some of their postings not yet.
# The delay after the index phase begins adapts when the crash lands before or after that.
delay=0.2
landed=""
for attempt in 1 2 3; do
    node_psql primary -c "DELETE FROM bulk WHERE i % 4 = $attempt" -c "CHECKPOINT"
    node_psql primary -c "VACUUM bulk" >/dev/null 2>&1 &
    vb=$!
    track_bg $vb
    for _ in $(seq 1 1000); do
        [ "$(node_sql primary "SELECT phase FROM pg_stat_progress_vacuum WHERE relid = 'bulk'::regclass")" = "vacuuming indexes" ] && break
        sleep 0.02
    done
    sleep "$delay"
    node_stop primary immediate
    wait $vb || true
    node_start primary
    read -r n_meta listed postings live <<<"$(node_sql primary "SELECT (semvec_bm25_index_stats('bulk_bm25', '{}', '{}', 1.2, 0.75))[1]::bigint,
        r ->> 'documents', r ->> 'postings', (SELECT count(*) FROM bulk) FROM semvec_index_check('bulk_bm25', false) r" | tr '|' ' ')"
    echo "  attempt $attempt, crash ${delay}s into the index phase: N $n_meta, document list $listed, term postings $postings, live rows $live"
    if [ "$listed" -lt "$n_meta" ] && [ "$postings" -gt $((4 * live)) ]; then
        landed=$attempt
        break
    elif [ "$postings" -le $((4 * live)) ]; then
        delay=$(awk -v d="$delay" 'BEGIN { print d / 3 }')
    else
        delay=$(awk -v d="$delay" 'BEGIN { print d * 2 }')
    fi
done
check "5. the crash interrupted the bulk delete (attempt ${landed:-none of 3})" test -n "$landed"
check_index_ok primary bulk_bm25 "5. semvec_index_check passes after a crash in the middle of a bulk delete"
node_psql primary -c "VACUUM bulk"
check_index_ok primary bulk_bm25 "5. semvec_index_check passes after the next VACUUM"
check_eq "5. after the next VACUUM the index's N, document list and postings are the live rows'" \
    "$(node_sql primary "SELECT (semvec_bm25_index_stats('bulk_bm25', '{}', '{}', 1.2, 0.75))[1]::bigint || ' ' || (r ->> 'documents')
                           || ' ' || (r ->> 'postings') FROM semvec_index_check('bulk_bm25', false) r")" \
    "$(node_sql primary "SELECT count(*) || ' ' || count(*) || ' ' || 4 * count(*) FROM bulk")"
check_caught_up standby primary
check_index_ok standby bulk_bm25 "5. the standby's copy passes semvec_index_check"

check_log_clean primary "$crash_at" "the primary's log has no ERROR/FATAL/PANIC after the first crash" "$PRIMARY_EXPECTED"
# The standby lost its primary during the crashes: its WAL receiver's FATALs are expected.
check_log_clean standby 0 "2. the standby's log has no ERROR/FATAL/PANIC but the lost connection's" \
    'could not receive data from WAL stream|could not connect to the primary server|terminating walreceiver|server closed the connection'
node_stop standby
node_stop primary
log "done ($(elapsed))"
finish
