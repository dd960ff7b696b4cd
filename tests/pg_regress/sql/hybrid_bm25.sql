-- compare-pgvector: skip
-- BM25 over a tsvector column: scores equal an independent reference (scripts/eval/bm25_reference.py),
-- statistics stay right under INSERT, UPDATE, DELETE, TRUNCATE, COPY and ROLLBACK, stripped vectors
-- and text columns work, and lexemes that need quoting stay one search term.
CREATE TABLE bm_docs (
    id integer PRIMARY KEY,
    body text,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED,
    stripped tsvector GENERATED ALWAYS AS (strip(to_tsvector('simple', body))) STORED
);
INSERT INTO bm_docs (id, body) VALUES
    (1, 'the quick brown fox jumps over the lazy dog'),
    (2, 'the lazy dog sleeps'),
    (3, 'a quick brown dog'),
    (4, 'foxes and dogs are friends'),
    (5, 'the fox the fox the fox'),
    (6, 'nothing to see here');
CREATE INDEX bm_docs_tsv_idx ON bm_docs USING gin (tsv);
SELECT bm25_create('bm_docs', 'tsv', 'simple');
SELECT bm25_create('bm_docs', 'stripped', 'simple');
-- 6 documents, 9 + 4 + 4 + 5 + 6 + 4 = 32 positions; stripped: 8 + 4 + 4 + 5 + 2 + 4 = 27 lexemes
SELECT * FROM bm25_stats('bm_docs', 'tsv');
SELECT * FROM bm25_stats('bm_docs', 'stripped');
SELECT bm25_document_length(tsv), bm25_document_length(stripped) FROM bm_docs ORDER BY id;

-- The query: lexemes sorted, weights = count in the query * IDF, the OR query for the GIN index.
SELECT (q).or_query, (q).lexemes, (q).weights, (q).n_docs, (q).avg_length
  FROM (SELECT bm25_query('bm_docs', 'tsv', 'lazy dog dog') AS q) s;

-- Scores against the reference, rounded to 6 decimals.
CREATE TABLE bm_reference (query text, k1 float8, b float8, stripped boolean, id integer, score numeric);
INSERT INTO bm_reference VALUES
('quick fox', 1.2, 0.75, false, 1, 1.607211),
('quick fox', 1.2, 0.75, false, 3, 1.146918),
('quick fox', 1.2, 0.75, false, 5, 1.575765),
('lazy dog dog', 1.2, 0.75, false, 1, 1.885591),
('lazy dog dog', 1.2, 0.75, false, 2, 2.691144),
('lazy dog dog', 1.2, 0.75, false, 3, 1.544227),
('the', 1.2, 0.75, false, 1, 0.798651),
('the', 1.2, 0.75, false, 2, 0.772113),
('the', 1.2, 0.75, false, 5, 1.060817),
('fox', 2.0, 0.0, false, 1, 1.029619),
('fox', 2.0, 0.0, false, 5, 1.853315),
('fox', 0.0, 0.75, false, 1, 1.029619),
('fox', 0.0, 0.75, false, 5, 1.029619),
('quick fox', 1.2, 1.0, true, 1, 1.445849),
('quick fox', 1.2, 1.0, true, 3, 1.096046),
('quick fox', 1.2, 1.0, true, 5, 1.477280);
SELECT r.query, r.k1, r.b, r.stripped, s.id, round(s.score::numeric, 6) AS score, s.rank,
       round(s.score::numeric, 6) = r.score AS matches_reference
  FROM (SELECT DISTINCT query, k1, b, stripped FROM bm_reference) q
  CROSS JOIN LATERAL bm25_search('bm_docs', 'id', CASE WHEN q.stripped THEN 'stripped' ELSE 'tsv' END,
                                 q.query, 10, q.k1, q.b) s
  LEFT JOIN bm_reference r USING (query, k1, b, stripped, id)
 ORDER BY r.query, r.k1, r.b, r.stripped, s.rank;
-- every reference row was returned
SELECT count(*) AS missing FROM bm_reference r
 WHERE NOT EXISTS (SELECT FROM bm25_search('bm_docs', 'id', CASE WHEN r.stripped THEN 'stripped' ELSE 'tsv' END,
                                           r.query, 10, r.k1, r.b) s WHERE s.id = r.id);
-- top_k cuts the ranking; no lexeme (or only unknown ones) returns nothing
SELECT id, rank FROM bm25_search('bm_docs', 'id', 'tsv', 'lazy dog dog', 2);
SELECT count(*) FROM bm25_search('bm_docs', 'id', 'tsv', '');
SELECT count(*) FROM bm25_search('bm_docs', 'id', 'tsv', 'zebra');
SELECT count(*) FROM bm25_search('bm_docs', 'id', 'tsv', NULL);
-- bm25_score composes in plain SQL and equals bm25_search
WITH q AS MATERIALIZED (SELECT bm25_query('bm_docs', 'tsv', 'quick fox') AS q)
SELECT d.id, round(bm25_score(d.tsv, (SELECT q FROM q))::numeric, 6) AS score
  FROM bm_docs d
 WHERE d.tsv @@ (SELECT (q).or_query FROM q)
 ORDER BY score DESC, d.id;

-- Keys as another type: the _as variant takes the type in its first argument.
SELECT pg_typeof(id), id FROM bm25_search_as(NULL::integer, 'bm_docs', 'id', 'tsv', 'fox', 1);
SELECT pg_typeof(id), id FROM bm25_search_as(NULL::text, 'bm_docs', 'id', 'tsv', 'fox', 1);

-- A text column, through to_tsvector() with the registered configuration: same scores.
CREATE INDEX bm_docs_body_idx ON bm_docs USING gin (to_tsvector('simple', body));
SELECT bm25_create('bm_docs', 'body', 'simple');
SELECT * FROM bm25_stats('bm_docs', 'body');
SELECT (SELECT array_agg(id || ':' || round(score::numeric, 6) ORDER BY rank) FROM bm25_search('bm_docs', 'id', 'body', 'lazy dog dog'))
     = (SELECT array_agg(id || ':' || round(score::numeric, 6) ORDER BY rank) FROM bm25_search('bm_docs', 'id', 'tsv', 'lazy dog dog'))
       AS text_column_scores_like_tsvector;

-- Statistics follow every kind of write. recount() is what a fresh count would give.
CREATE FUNCTION bm_recount(col text) RETURNS TABLE (n_docs bigint, total_length bigint) LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE format('SELECT count(d), coalesce(sum(bm25_document_length(d)), 0)::bigint FROM (SELECT %s AS d FROM bm_docs) s',
                                CASE col WHEN 'body' THEN 'to_tsvector(''simple'', body)' ELSE quote_ident(col) END);
END $$;
CREATE FUNCTION bm_check() RETURNS TABLE (col text, n_docs bigint, total_length bigint, matches_recount boolean) LANGUAGE sql AS $$
    SELECT c, s.n_docs, s.total_length, (s.n_docs, s.total_length) = (SELECT r.n_docs, r.total_length FROM bm_recount(c) r)
      FROM unnest(ARRAY['tsv', 'stripped', 'body']) c, bm25_stats('bm_docs', c) s
$$;
INSERT INTO bm_docs (id, body) VALUES (7, 'a dog a dog a dog'), (8, 'lazy lazy lazy cat');
SELECT * FROM bm_check();
UPDATE bm_docs SET body = 'the end' WHERE id IN (7, 8);
SELECT * FROM bm_check();
UPDATE bm_docs SET body = NULL WHERE id = 8;   -- a NULL document is not a document
SELECT * FROM bm_check();
UPDATE bm_docs SET body = 'back again' WHERE id = 8;
SELECT * FROM bm_check();
DELETE FROM bm_docs WHERE id = 7;
SELECT * FROM bm_check();
INSERT INTO bm_docs (id, body) VALUES (8, 'conflict wins') ON CONFLICT (id) DO UPDATE SET body = excluded.body;
SELECT * FROM bm_check();
BEGIN;
INSERT INTO bm_docs (id, body) SELECT i, repeat('word ', i) FROM generate_series(100, 150) i;
SELECT n_docs FROM bm25_stats('bm_docs', 'tsv');
SAVEPOINT s;
DELETE FROM bm_docs WHERE id >= 100;
ROLLBACK TO SAVEPOINT s;
SELECT n_docs FROM bm25_stats('bm_docs', 'tsv');
ROLLBACK;
SELECT * FROM bm_check();
COPY bm_docs (id, body) FROM stdin;
20	copied fox
21	copied dog
\.
SELECT * FROM bm_check();
-- the search sees the new documents and the new statistics
SELECT id, rank FROM bm25_search('bm_docs', 'id', 'tsv', 'copied');
-- few delta rows stay behind: each writing statement folds the ones it can lock
SELECT count(*) <= 3 AS compact FROM bm25_corpus_stats WHERE table_oid = 'bm_docs'::regclass;
TRUNCATE bm_docs;
SELECT * FROM bm_check();
SELECT count(*) FROM bm25_search('bm_docs', 'id', 'tsv', 'fox');

-- Term frequencies saturate where to_tsvector stops counting: 255 positions per lexeme.
INSERT INTO bm_docs (id, body) VALUES (1, repeat('fox ', 300)), (2, 'fox');
SELECT id, bm25_document_length(tsv), length(tsv) FROM bm_docs ORDER BY id;

-- Lexemes that need quoting in tsquery text stay one term: quotes, backslashes, operators.
CREATE TABLE bm_odd (id integer, tsv tsvector);
INSERT INTO bm_odd VALUES (1, $$'o''neil':1 'a\\b':2 'x|y':3 '!not':4$$), (2, $$'plain':1$$);
SELECT bm25_create('bm_odd', 'tsv', 'simple');
SELECT tsv FROM bm_odd WHERE id = 1;
SELECT semvec_bm25_or_tsquery(ARRAY['o''neil', 'a\b', 'x|y', '!not', 'plain']);
SELECT id, count(*) FROM bm_odd, unnest(ARRAY['o''neil', 'a\b', 'x|y', '!not']) l
 WHERE tsv @@ semvec_bm25_or_tsquery(ARRAY[l]) GROUP BY id;

-- bm25_drop removes the triggers and the statistics; the column can be registered again.
SELECT bm25_drop('bm_docs', 'stripped');
SELECT bm25_drop('bm_docs', 'body');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'bm_docs'::regclass ORDER BY tgname;
SELECT DISTINCT doc_column FROM bm25_corpus_stats WHERE table_oid = 'bm_docs'::regclass;
SELECT bm25_create('bm_docs', 'body', 'simple');
SELECT * FROM bm25_stats('bm_docs', 'body');
-- bm25_refresh recounts after writes that bypassed the triggers
ALTER TABLE bm_docs DISABLE TRIGGER USER;
INSERT INTO bm_docs (id, body) VALUES (3, 'unseen by the statistics');
ALTER TABLE bm_docs ENABLE TRIGGER USER;
SELECT n_docs FROM bm25_stats('bm_docs', 'tsv');
SELECT bm25_refresh('bm_docs', 'tsv');
SELECT n_docs FROM bm25_stats('bm_docs', 'tsv');
DROP TABLE bm_docs, bm_odd, bm_reference;
DROP FUNCTION bm_check(), bm_recount(text);
-- statistics rows of dropped tables are inert, and go with the next bm25_create or bm25_drop
SELECT count(*) > 0 AS orphans FROM bm25_corpus_stats s WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = s.table_oid);
CREATE TABLE bm_other (t tsvector);
SELECT bm25_create('bm_other', 't');
SELECT count(*) AS orphans FROM bm25_corpus_stats s WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = s.table_oid);
DROP TABLE bm_other;
