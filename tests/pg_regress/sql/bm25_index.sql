-- compare-pgvector: skip
-- The bm25 index access method: the same top-k and scores as the path without it (GIN candidates,
-- every match scored), ORDER BY doc <@> query served by the index with WHERE filters that stay
-- correct, every row returned (unmatched rows last), inserts, VACUUM bringing the statistics back
-- to exact, text columns, errors, REINDEX and CREATE INDEX CONCURRENTLY.
CREATE TABLE bmi (
    id integer PRIMARY KEY,
    grp integer NOT NULL,
    body text NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED
);
-- Reproducible documents: words drawn with skewed frequencies by hashing (id, position).
CREATE FUNCTION bmi_doc(i integer) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg((ARRAY['gene','expression','mouse','protein','cell','cancer','brain','network',
                             'signal','receptor','binding','tumor','immune','response','pathway','model',
                             'data','analysis','structure','function','rare' || (i % 97)::text,
                             'the','of','and'])[1 + (abs(hashtext(i::text || ':' || j::text)) % 1000)
                             * (abs(hashtext(j::text || '/' || i::text)) % 1000) / 41667], ' ')
      FROM generate_series(1, 4 + abs(hashtext(i::text)) % 20) j
$$;
INSERT INTO bmi SELECT i, i % 10, bmi_doc(i) FROM generate_series(1, 3000) i;
CREATE INDEX bmi_gin ON bmi USING gin (tsv);
SELECT bm25_create('bmi', 'tsv', 'english');
CREATE INDEX bmi_bm25 ON bmi USING bm25 (tsv);
SELECT (r->>'ok')::boolean AS ok, r->>'documents' AS documents, r->>'unindexed_rows' AS unindexed
  FROM semvec_index_check('bmi_bm25') r;

-- The queries: a few words each.
CREATE TABLE bmi_q AS
SELECT n, (SELECT string_agg((ARRAY['gene','expression','mouse','protein','cell','cancer','brain',
                                    'network','signal','receptor','rare5','rare17','the','pathway',
                                    'immune','missingword'])[1 + abs(hashtext(n::text || '#' || j::text)) % 16], ' ')
             FROM generate_series(1, 1 + n % 4) j) AS q
  FROM generate_series(1, 40) n;

-- bm25_search with and without the index: identical ids, scores within 1e-9 (relative).
CREATE FUNCTION bmi_top(q text, use_index boolean, k integer DEFAULT 10) RETURNS TABLE (id bigint, score float8, rank integer)
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('semvec.bm25_index_search', use_index::text, true);
    RETURN QUERY SELECT * FROM bm25_search('bmi', 'id', 'tsv', q, k);
    PERFORM set_config('semvec.bm25_index_search', 'on', true);
END
$$;
CREATE FUNCTION bmi_mismatches(k integer DEFAULT 10) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM bmi_q,
      LATERAL (SELECT a.id AS ia, b.id AS ib, a.score AS sa, b.score AS sb
                 FROM bmi_top(q, true, k) a FULL JOIN bmi_top(q, false, k) b USING (rank)) x
     WHERE ia IS DISTINCT FROM ib OR abs(sa - sb) > 1e-9 * abs(sb) OR sa IS NULL OR sb IS NULL
$$;
SELECT bmi_mismatches() AS mismatches, bmi_mismatches(50) AS mismatches_top50,
       (SELECT count(*) FROM bmi_q, bmi_top(q, true)) AS rows_returned;

-- The plan: an index scan ordered by the operator; the first rows without a sort.
EXPLAIN (COSTS OFF) SELECT id FROM bmi ORDER BY tsv <@> bm25_query('bmi', 'tsv', 'gene expression') LIMIT 10;
-- Not for a descending order, nor without ORDER BY.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM bmi ORDER BY tsv <@> bm25_query('bmi', 'tsv', 'gene') DESC LIMIT 3;
EXPLAIN (COSTS OFF) SELECT count(*) FROM bmi WHERE tsv <@> bm25_query('bmi', 'tsv', 'gene') < 0;
RESET enable_seqscan;

-- ORDER BY through the index equals a sequential scan and sort (score sequences; ties may come
-- in another order), also with a filter that rejects most rows.
CREATE FUNCTION bmi_order(q text, filter text, by_index boolean, k integer) RETURNS float8[]
LANGUAGE plpgsql AS $$
DECLARE r float8[];
BEGIN
    PERFORM set_config('enable_seqscan', (NOT by_index)::text, true);
    PERFORM set_config('enable_indexscan', by_index::text, true);
    PERFORM set_config('enable_bitmapscan', 'off', true);
    EXECUTE format('SELECT array_agg(s ORDER BY o) FROM (SELECT -(tsv <@> bm25_query(''bmi'', ''tsv'', %L)) AS s, '
                   'row_number() OVER () AS o FROM (SELECT tsv FROM bmi WHERE %s '
                   'ORDER BY tsv <@> bm25_query(''bmi'', ''tsv'', %L) LIMIT %s) t) u', q, filter, q, k) INTO r;
    PERFORM set_config('enable_seqscan', 'on', true);
    PERFORM set_config('enable_indexscan', 'on', true);
    PERFORM set_config('enable_bitmapscan', 'on', true);
    RETURN r;
END
$$;
SELECT count(*) FILTER (WHERE bmi_order(q, 'true', true, 15) = bmi_order(q, 'true', false, 15)) AS same_unfiltered,
       count(*) FILTER (WHERE bmi_order(q, 'grp = 3 AND id % 7 = 0', true, 15) = bmi_order(q, 'grp = 3 AND id % 7 = 0', false, 15)) AS same_filtered,
       count(*) AS queries
  FROM bmi_q;

-- The first WAND pass's size (semvec.bm25_scan_batch) changes the passes, not the order: one row
-- per first pass (then 2, 4, ...) and everything in one pass give the same 60 scores.
SET semvec.bm25_scan_batch = 1;
CREATE TEMP TABLE bmi_batch_small AS SELECT q, bmi_order(q, 'true', true, 60) AS s FROM bmi_q;
SET semvec.bm25_scan_batch = 100000;
SELECT count(*) FILTER (WHERE bmi_order(b.q, 'true', true, 60) = b.s) AS same_order,
       count(*) FILTER (WHERE array_length(b.s, 1) = 60) AS full_depth, count(*) AS queries
  FROM bmi_batch_small b;
-- bm25_search sets it for its own scan only.
SET semvec.bm25_scan_batch = 7;
SELECT count(*) FROM bm25_search('bmi', 'id', 'tsv', 'gene network', 30);
SHOW semvec.bm25_scan_batch;
RESET semvec.bm25_scan_batch;

-- Every row comes back: the matching ones first, then those matching no query term (score 0).
SET enable_seqscan = off;
SELECT count(*) AS rows, count(*) FILTER (WHERE s > 0) AS matching, count(DISTINCT id) AS distinct_rows
  FROM (SELECT id, -(tsv <@> bm25_query('bmi', 'tsv', 'rare5')) AS s FROM bmi
         ORDER BY tsv <@> bm25_query('bmi', 'tsv', 'rare5')) t;
SELECT count(*) FILTER (WHERE tsv @@ 'rare5'::tsquery) AS rare5_rows FROM bmi;
-- Off: only the matching rows.
SET semvec.bm25_unmatched_rows = off;
SELECT count(*) AS rows FROM (SELECT id FROM bmi ORDER BY tsv <@> bm25_query('bmi', 'tsv', 'rare5') LIMIT 1000) t;
RESET semvec.bm25_unmatched_rows;
-- An empty or stop-word-only query: no rows from bm25_search, every row at score 0 by ORDER BY.
SELECT count(*) FROM bm25_search('bmi', 'id', 'tsv', 'the of and');
SELECT count(*) FROM bm25_search('bmi', 'id', 'tsv', '');
SELECT count(*), max(tsv <@> bm25_query('bmi', 'tsv', 'the')) AS distance
  FROM (SELECT tsv FROM bmi ORDER BY tsv <@> bm25_query('bmi', 'tsv', 'the') LIMIT 5000) t;
RESET enable_seqscan;

-- Inserts go to the index; deletes and updates are counted until VACUUM (n_docs includes them),
-- after VACUUM the statistics are exact again and both paths agree.
INSERT INTO bmi SELECT i, i % 10, bmi_doc(i) FROM generate_series(3001, 3400) i;
SELECT bmi_mismatches() AS mismatches_after_insert;
DELETE FROM bmi WHERE id % 5 = 0;
UPDATE bmi SET body = body || ' gene' WHERE id % 11 = 0;
SELECT (bm25_query('bmi', 'tsv', 'gene')).n_docs AS n_docs_before_vacuum,
       (SELECT count(*) FROM bmi) AS rows;
VACUUM bmi;
SELECT (bm25_query('bmi', 'tsv', 'gene')).n_docs AS n_docs_after_vacuum;
SELECT bmi_mismatches() AS mismatches_after_vacuum;
SELECT (r->>'ok')::boolean AS ok, r->>'documents' AS documents, r->>'unindexed_rows' AS unindexed
  FROM semvec_index_check('bmi_bm25') r;

-- REINDEX and CREATE INDEX CONCURRENTLY give the same answers.
REINDEX INDEX bmi_bm25;
SELECT bmi_mismatches() AS mismatches_after_reindex;
DROP INDEX bmi_bm25;
CREATE INDEX CONCURRENTLY bmi_bm25 ON bmi USING bm25 (tsv);
SELECT bmi_mismatches() AS mismatches_concurrently;

-- bm25_query() remembers its result per call site within a statement: the same value as the
-- plpgsql builder (NULL arguments go to it), and a write in between (a new command)
-- is seen by the next evaluation of the same call site.
SELECT count(*) FILTER (WHERE bm25_query('bmi', 'tsv', q)::text = semvec_bm25_query_uncached('bmi', 'tsv', q)::text) AS same,
       count(*) AS queries
  FROM bmi_q;
SELECT (bm25_query('bmi', 'tsv', NULL)).lexemes, (bm25_query('bmi', 'tsv', NULL)).n_docs = (SELECT count(*) FROM bmi) AS n_docs_ok;
SELECT bm25_query('bmi', 'tsv', 'gene', NULL, 0.75);  -- 22004: k1 and b must not be NULL
CREATE FUNCTION bmi_n_docs_seen() RETURNS bigint[] LANGUAGE plpgsql AS $$
DECLARE seen bigint[] := '{}';
BEGIN
    FOR i IN 1..3 LOOP
        seen := seen || (bm25_query('bmi', 'tsv', 'gene')).n_docs;
        INSERT INTO bmi VALUES (100000 + i, 0, 'gene ' || i);
    END LOOP;
    RETURN seen;
END
$$;
SELECT s[2] - s[1] AS step1, s[3] - s[2] AS step2 FROM bmi_n_docs_seen() s;
DELETE FROM bmi WHERE id > 100000;
VACUUM (INDEX_CLEANUP ON) bmi;

-- A text column: documents are to_tsvector(text_config, body); the same scores as the tsvector.
CREATE INDEX bmi_body_bm25 ON bmi USING bm25 (body) WITH (text_config = 'english');
SELECT (bm25_query('bmi', 'body', 'gene network')).config;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM bmi ORDER BY body <@> bm25_query('bmi', 'body', 'gene network') LIMIT 5;
SELECT count(*) AS different FROM (
    (SELECT id, -(body <@> bm25_query('bmi', 'body', 'gene network')) FROM bmi ORDER BY body <@> bm25_query('bmi', 'body', 'gene network') LIMIT 10)
    EXCEPT
    (SELECT id, -(tsv <@> bm25_query('bmi', 'tsv', 'gene network')) FROM bmi ORDER BY tsv <@> bm25_query('bmi', 'tsv', 'gene network') LIMIT 10)) d;
RESET enable_seqscan;

-- Errors.
CREATE INDEX ON bmi USING bm25 (body);                       -- text needs a configuration
CREATE INDEX ON bmi USING bm25 (body) WITH (text_config = 'no_such_config');
CREATE INDEX ON bmi USING bm25 (grp);                        -- no operator class for integer
CREATE INDEX ON bmi USING bm25 (tsv, body);                  -- one column
SELECT id FROM bmi ORDER BY body <@> bm25_query('bmi', 'tsv', 'gene') LIMIT 1; -- config of a tsvector query: english, fine
-- A query parsed with another configuration than the text index's: not served by the index
-- (planner), and an error if forced through it with a parameter.
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM bmi
 ORDER BY body <@> ROW(NULL, '{gene}', '{1}', 1.2, 0.75, 5, 10, '{1}', 'simple')::bm25query LIMIT 1;
PREPARE bmi_p(bm25query) AS SELECT id FROM bmi ORDER BY body <@> $1 LIMIT 1;
SET plan_cache_mode = force_generic_plan;
EXECUTE bmi_p(ROW(NULL, '{gene}', '{1}', 1.2, 0.75, 5, 10, '{1}', 'simple')::bm25query);
RESET plan_cache_mode;
RESET enable_seqscan;
-- Registered with one configuration, indexed with another.
CREATE TABLE bmi_cfg (id int PRIMARY KEY, body text);
INSERT INTO bmi_cfg VALUES (1, 'running dogs'), (2, 'the runner');
SELECT bm25_create('bmi_cfg', 'body', 'simple');
CREATE INDEX ON bmi_cfg USING bm25 (body) WITH (text_config = 'english');
SELECT * FROM bm25_search('bmi_cfg', 'id', 'body', 'running');
SELECT semvec_index_check('bmi_gin');
DROP TABLE bmi_cfg;

-- An unlogged table (ambuildempty writes the init fork).
CREATE UNLOGGED TABLE bmi_unlogged AS SELECT id, tsv FROM bmi WHERE id < 100;
CREATE INDEX ON bmi_unlogged USING bm25 (tsv);
SELECT count(*) FROM (SELECT id FROM bmi_unlogged ORDER BY tsv <@> bm25_query('bmi', 'tsv', 'gene') LIMIT 5) t;
DROP TABLE bmi_unlogged;

DROP TABLE bmi, bmi_q;
DROP FUNCTION bmi_doc, bmi_top, bmi_mismatches, bmi_order;
