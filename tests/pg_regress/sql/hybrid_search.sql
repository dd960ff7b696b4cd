-- compare-pgvector: skip
-- Hybrid search: reciprocal rank fusion of the BM25 and vector rankings, its parameters, the plain-SQL
-- pattern, other key types, hostile table and column names, privileges, and every error's SQLSTATE.
CREATE TABLE hy_docs (
    id bigint PRIMARY KEY,
    body text,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED,
    emb vector(2)
);
-- Vector ranks for the query [1,0] (cosine): 6, 4, 2, 5, 3, 1.
INSERT INTO hy_docs (id, body, emb) VALUES
    (1, 'the quick brown fox jumps over the lazy dog', '[0,1]'),
    (2, 'the lazy dog sleeps', '[1,0.5]'),
    (3, 'a quick brown dog', '[0.5,1]'),
    (4, 'foxes and dogs are friends', '[1,0.2]'),
    (5, 'the fox the fox the fox', '[1,1]'),
    (6, 'nothing to see here', '[1,0]');
CREATE INDEX hy_docs_tsv_idx ON hy_docs USING gin (tsv);
CREATE INDEX hy_docs_emb_idx ON hy_docs USING hnsw (emb vector_cosine_ops);
SELECT bm25_create('hy_docs', 'tsv', 'simple');

-- The two sides: keyword ranks 1, 5, 3 for 'quick fox'; vector ranks as above.
SELECT id, rank FROM bm25_search('hy_docs', 'id', 'tsv', 'quick fox');
SELECT id FROM hy_docs ORDER BY emb <=> '[1,0]' LIMIT 6;

-- Fused: score = 1/(60 + keyword rank) + 1/(60 + vector rank); 5 (2nd and 4th) beats 1 (1st and 6th).
SELECT id, round(score::numeric, 8) AS score, keyword_rank, vector_rank,
       abs(score - (coalesce(1.0 / (60 + keyword_rank), 0) + coalesce(1.0 / (60 + vector_rank), 0))) < 1e-12 AS is_rrf
  FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'quick fox', '[1,0]');
-- k = 1 favours first places: 1 (1st and 6th) now beats 5 (2nd and 4th)
SELECT id, round(score::numeric, 6) AS score, keyword_rank, vector_rank
  FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'quick fox', '[1,0]', rrf_k => 1, top_k => 3);
-- weights: a zero weight leaves the other side's order
SELECT array_agg(id ORDER BY score DESC, id) AS keyword_only
  FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'quick fox', '[1,0]', vector_weight => 0);
SELECT array_agg(id ORDER BY score DESC, id) AS vector_only
  FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'quick fox', '[1,0]', keyword_weight => 0);
SELECT id, round(score::numeric, 6) AS score, keyword_rank, vector_rank
  FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'quick fox', '[1,0]', keyword_weight => 3, top_k => 2);
-- depths bound each side's candidates; top_k bounds the result
SELECT id, keyword_rank, vector_rank
  FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'quick fox', '[1,0]', keyword_depth => 1, vector_depth => 2);
SELECT count(*) FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'quick fox', '[1,0]', top_k => 2);
-- a query without searchable lexemes is vector search alone
SELECT id, keyword_rank, vector_rank FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', '', '[1,0]', top_k => 2);
-- the caller's hnsw.ef_search is back after the call
SET hnsw.ef_search = 7;
SELECT count(*) FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'quick fox', '[1,0]', vector_depth => 300);
SHOW hnsw.ef_search;
RESET hnsw.ef_search;

-- The same in plain SQL: the documented pattern returns what hybrid_search returns.
CREATE TABLE hy_pattern AS
WITH q AS MATERIALIZED (
    SELECT bm25_query('hy_docs', 'tsv', 'quick fox') AS kq, '[1,0]'::vector AS qv
),
keyword AS (
    SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank
      FROM (SELECT d.id, bm25_score(d.tsv, (SELECT kq FROM q)) AS score
              FROM hy_docs d
             WHERE d.tsv @@ (SELECT (kq).or_query FROM q)
             ORDER BY score DESC, d.id
             LIMIT 100) k
),
semantic AS (
    SELECT id, row_number() OVER (ORDER BY dist, id) AS rank
      FROM (SELECT d.id, d.emb <=> (SELECT qv FROM q) AS dist
              FROM hy_docs d
             ORDER BY dist
             LIMIT 100) v
)
SELECT coalesce(k.id, s.id) AS id,
       rrf_score(k.rank) + rrf_score(s.rank) AS score,
       k.rank AS keyword_rank, s.rank AS vector_rank
  FROM keyword k FULL JOIN semantic s ON k.id = s.id
 ORDER BY score DESC, id
 LIMIT 10;
SELECT (SELECT array_agg(row(id, score, keyword_rank, vector_rank)::text ORDER BY score DESC, id) FROM hy_pattern)
     = (SELECT array_agg(row(id, score, keyword_rank, vector_rank)::text ORDER BY score DESC, id)
          FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'quick fox', '[1,0]')) AS same_as_hybrid_search;

-- Keys of other types: hybrid_search_as() takes the type in its first argument.
CREATE TABLE hy_uuid (key uuid PRIMARY KEY, tsv tsvector, emb vector(2));
INSERT INTO hy_uuid VALUES ('00000000-0000-0000-0000-000000000001', 'fox:1', '[1,0]'),
                           ('00000000-0000-0000-0000-000000000002', 'dog:1', '[0,1]');
SELECT bm25_create('hy_uuid', 'tsv');
SELECT id, keyword_rank, vector_rank FROM hybrid_search_as(NULL::uuid, 'hy_uuid', 'key', 'tsv', 'emb', 'fox', '[0,1]');
SELECT pg_typeof(id), id FROM hybrid_search_as(NULL::text, 'hy_docs', 'id', 'tsv', 'emb', 'fox', '[1,0]', top_k => 1);

-- Hostile names: quotes, spaces, semicolons, mixed case, in the schema, table and every column.
CREATE SCHEMA "Hy Schema; --";
CREATE TABLE "Hy Schema; --"."Docs ""q"" ; DROP TABLE hy_docs; --" (
    "Key Col" bigint PRIMARY KEY,
    "Body'); DROP TABLE hy_docs; --" text,
    "TSV ""x"" MixedCase" tsvector GENERATED ALWAYS AS (to_tsvector('simple', "Body'); DROP TABLE hy_docs; --")) STORED,
    "Emb;Col" vector(2)
);
CREATE INDEX ON "Hy Schema; --"."Docs ""q"" ; DROP TABLE hy_docs; --" USING gin ("TSV ""x"" MixedCase");
CREATE INDEX ON "Hy Schema; --"."Docs ""q"" ; DROP TABLE hy_docs; --" USING hnsw ("Emb;Col" vector_l2_ops);
INSERT INTO "Hy Schema; --"."Docs ""q"" ; DROP TABLE hy_docs; --" ("Key Col", "Body'); DROP TABLE hy_docs; --", "Emb;Col")
SELECT id, body, emb FROM hy_docs;
SELECT bm25_create('"Hy Schema; --"."Docs ""q"" ; DROP TABLE hy_docs; --"', 'TSV "x" MixedCase', 'simple');
SELECT bm25_create('"Hy Schema; --"."Docs ""q"" ; DROP TABLE hy_docs; --"', 'Body''); DROP TABLE hy_docs; --', 'simple');
SELECT id, round(score::numeric, 6) AS score, rank
  FROM bm25_search('"Hy Schema; --"."Docs ""q"" ; DROP TABLE hy_docs; --"', 'Key Col', 'TSV "x" MixedCase', 'quick fox');
SELECT id, round(score::numeric, 6) AS score, rank
  FROM bm25_search('"Hy Schema; --"."Docs ""q"" ; DROP TABLE hy_docs; --"', 'Key Col', 'Body''); DROP TABLE hy_docs; --', 'quick fox');
-- the index's operator (here L2) is the one used
SELECT id, keyword_rank, vector_rank
  FROM hybrid_search('"Hy Schema; --"."Docs ""q"" ; DROP TABLE hy_docs; --"', 'Key Col', 'TSV "x" MixedCase',
                     'Emb;Col', 'quick fox', '[1,0]', top_k => 4);
UPDATE "Hy Schema; --"."Docs ""q"" ; DROP TABLE hy_docs; --" SET "Body'); DROP TABLE hy_docs; --" = 'fox fox' WHERE "Key Col" = 6;
DELETE FROM "Hy Schema; --"."Docs ""q"" ; DROP TABLE hy_docs; --" WHERE "Key Col" = 1;
SELECT doc_column, s.* FROM unnest(ARRAY['TSV "x" MixedCase', 'Body''); DROP TABLE hy_docs; --']::name[]) doc_column,
       bm25_stats('"Hy Schema; --"."Docs ""q"" ; DROP TABLE hy_docs; --"', doc_column) s;
SELECT bm25_drop('"Hy Schema; --"."Docs ""q"" ; DROP TABLE hy_docs; --"', 'TSV "x" MixedCase');
SELECT count(*) AS hy_docs_still_there FROM hy_docs;
DROP SCHEMA "Hy Schema; --" CASCADE;

-- Privileges: the helpers run as the caller; the statistics table is read-only to users, and the
-- triggers keep it for writers who have no privilege on it.
CREATE ROLE hy_reader;
CREATE ROLE hy_writer;
GRANT SELECT ON hy_docs TO hy_reader;
GRANT INSERT ON hy_docs TO hy_writer;
SET ROLE hy_writer;
INSERT INTO hy_docs (id, body, emb) VALUES (7, 'written by a role without SELECT', '[1,1]');
RESET ROLE;
SELECT n_docs FROM bm25_stats('hy_docs', 'tsv');
SET ROLE hy_reader;
SELECT count(*) FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'quick fox', '[1,0]');
RESET ROLE;
REVOKE SELECT ON hy_docs FROM hy_reader;

CREATE FUNCTION hy_error(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SET ROLE hy_reader;
SELECT hy_error($$SELECT * FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'fox', '[1,0]')$$) AS no_select;
SELECT hy_error($$INSERT INTO bm25_corpus_stats VALUES ('hy_docs', 'tsv', 1000, 1)$$) AS write_stats;
SELECT hy_error($$SELECT bm25_refresh('hy_docs', 'tsv')$$) AS refresh_without_write_privilege;
SELECT hy_error($$SELECT semvec_bm25_recount('hy_docs', 'tsv')$$) AS recount_without_lock;
RESET ROLE;
DROP ROLE hy_reader;
REVOKE ALL ON hy_docs FROM hy_writer;
DROP ROLE hy_writer;

-- Errors, with their SQLSTATEs.
CREATE VIEW hy_view AS SELECT * FROM hy_docs;
SELECT hy_error(sql) FROM (VALUES
    ($$SELECT * FROM bm25_search('hy_docs', 'id', 'tsv', 'fox', 10, -1)$$),
    ($$SELECT * FROM bm25_search('hy_docs', 'id', 'tsv', 'fox', 10, 'NaN')$$),
    ($$SELECT * FROM bm25_search('hy_docs', 'id', 'tsv', 'fox', 10, 1.2, 1.5)$$),
    ($$SELECT * FROM bm25_search('hy_docs', 'id', 'tsv', 'fox', 0)$$),
    ($$SELECT * FROM bm25_search('hy_docs', 'id', 'tsv', 'fox', 10, NULL)$$),
    ($$SELECT bm25_query('hy_docs', 'tsv', 'fox', 1.2, NULL)$$),
    ($$SELECT * FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'fox', '[1,0]', rrf_k => NULL)$$),
    ($$SELECT * FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'fox', '[1,0]', keyword_depth => NULL)$$),
    ($$SELECT * FROM bm25_search('hy_docs', 'id', 'nope', 'fox')$$),
    ($$SELECT * FROM bm25_search('hy_docs', 'nope', 'tsv', 'fox')$$),
    ($$SELECT * FROM bm25_search('hy_docs', 'id', 'emb', 'fox')$$),
    ($$SELECT * FROM bm25_search('hy_docs', 'id', 'body', 'fox')$$),
    ($$SELECT * FROM bm25_search('hy_docs', 'id', NULL, 'fox')$$),
    ($$SELECT * FROM bm25_search('no_such_table', 'id', 'tsv', 'fox')$$),
    ($$SELECT * FROM bm25_search_as(NULL::uuid, 'hy_docs', 'id', 'tsv', 'fox')$$),
    ($$SELECT bm25_create('hy_docs', 'tsv')$$),
    ($$SELECT bm25_create('hy_view', 'tsv')$$),
    ($$SELECT bm25_create('hy_docs', 'id')$$),
    ($$SELECT bm25_drop('hy_docs', 'body')$$),
    ($$SELECT * FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'fox', '[1,0]', rrf_k => -1)$$),
    ($$SELECT * FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'fox', '[1,0]', keyword_weight => -1)$$),
    ($$SELECT * FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'fox', '[1,0]', vector_weight => 'Infinity')$$),
    ($$SELECT * FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'fox', '[1,0]', keyword_depth => 0)$$),
    ($$SELECT * FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'fox', '[1,0]', vector_depth => -5)$$),
    ($$SELECT * FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'fox', '[1,0]', top_k => 0)$$),
    ($$SELECT * FROM hybrid_search('hy_docs', 'id', 'tsv', 'nope', 'fox', '[1,0]')$$),
    ($$SELECT * FROM hybrid_search('hy_docs', 'id', 'tsv', 'body', 'fox', '[1,0]')$$),
    ($$SELECT * FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', 'fox', '[1,0,0]')$$),
    ($$SELECT * FROM hybrid_search('hy_docs', 'id', 'tsv', 'emb', NULL, NULL)$$),
    ($$SELECT bm25_score('fox:1', ROW('fox', '{fox}', '{1,2}', 1.2, 0.75, 1, 1, NULL, NULL)::bm25query)$$),
    ($$SELECT bm25_score('fox:1', ROW('fox', '{fox}', '{1}', 1.2, -0.75, 1, 1, NULL, NULL)::bm25query)$$),
    ($$SELECT semvec_bm25_recount('hy_docs', 'tsv')$$),
    ($$CREATE TRIGGER hy_bad AFTER INSERT ON hy_docs FOR EACH ROW EXECUTE FUNCTION semvec_bm25_maintain('tsv', 'simple');
       INSERT INTO hy_docs (id, body) VALUES (99, 'x')$$)
) AS cases(sql);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT hy_error($$SELECT bm25_create('hy_docs', 'body')$$);
COMMIT;
-- statistics are unchanged by all of the above
SELECT n_docs, total_length FROM bm25_stats('hy_docs', 'tsv');
DROP VIEW hy_view;
DROP TABLE hy_docs, hy_uuid, hy_pattern;
DROP FUNCTION hy_error(text);
