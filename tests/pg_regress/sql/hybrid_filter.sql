-- compare-pgvector: skip
-- hybrid_search / bm25_search with a filter (issue 16): one jsonb argument, last, that is a condition
-- of both sides' scans before their depth cuts, so a tenant gets only its own rows and top_k is filled
-- from them. Two tenants with overlapping texts and vectors: every tenth row belongs to tenant 2 and
-- is a copy of the tenant-1 row before it (which wins ties, on the key); tenant 1 has the other 90%.
SET max_parallel_maintenance_workers = 0;
CREATE TABLE hf_docs (
    id bigint PRIMARY KEY,
    tenant_id integer NOT NULL,
    lang text NOT NULL,
    labels integer[] NOT NULL,
    body text NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', body)) STORED,
    emb vector(3),
    "Tenant ""Id""; --" integer GENERATED ALWAYS AS (tenant_id) STORED
);
INSERT INTO hf_docs (id, tenant_id, lang, labels, body, emb)
SELECT i, CASE WHEN i % 10 = 0 THEN 2 ELSE 1 END,
       (ARRAY['en', 'de', 'fr'])[1 + i % 3],
       ARRAY[i % 5, 10 + i % 7],
       concat_ws(' ', 'zebra', repeat('zebra ', c % 3), (ARRAY['river', 'forest', 'ocean', 'desert'])[1 + c % 4],
                 CASE WHEN c % 7 = 0 THEN 'quokka' END, 'doc' || c),
       ARRAY[sin(c), cos(c), sin(2 * c)]::vector
  FROM generate_series(1, 2000) i, LATERAL (SELECT CASE WHEN i % 10 = 0 THEN i - 1 ELSE i END AS c) x;
CREATE INDEX hf_docs_tsv_idx ON hf_docs USING gin (tsv);
CREATE INDEX hf_docs_emb_idx ON hf_docs USING hnsw (emb vector_cosine_ops);
ANALYZE hf_docs;
SELECT bm25_create('hf_docs', 'tsv', 'simple');
CREATE FUNCTION hf_error(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- Unfiltered, tenant 1 fills most of both rankings: filtering the result afterwards would leave a
-- few rows of tenant 2.
SELECT count(*) AS rows, count(*) FILTER (WHERE d.tenant_id = 2) AS tenant_2_rows
  FROM hybrid_search('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]',
                     keyword_depth => 20, vector_depth => 20) h
  JOIN hf_docs d USING (id);

-- Filtered: only tenant 2's rows, top_k filled, and both sides' depths filled from tenant 2's rows.
SELECT count(*) AS rows, bool_and(d.tenant_id = 2) AS all_tenant_2
  FROM hybrid_search('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]',
                     keyword_depth => 20, vector_depth => 20, filter => '{"tenant_id": 2}') h
  JOIN hf_docs d USING (id);
CREATE TABLE hf_t2 AS
SELECT * FROM hybrid_search('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]', top_k => 100,
                            keyword_depth => 20, vector_depth => 20, filter => '{"tenant_id": 2}');
SELECT count(*) AS rows, bool_and(d.tenant_id = 2) AS all_tenant_2,
       array_agg(keyword_rank ORDER BY keyword_rank) FILTER (WHERE keyword_rank IS NOT NULL)
           = array(SELECT generate_series(1, 20)) AS keyword_ranks_1_to_20,
       array_agg(vector_rank ORDER BY vector_rank) FILTER (WHERE vector_rank IS NOT NULL)
           = array(SELECT generate_series(1, 20)) AS vector_ranks_1_to_20
  FROM hf_t2 JOIN hf_docs d USING (id);
-- The keyword side is tenant 2's part of the unfiltered BM25 ranking: the statistics stay those of
-- the whole column, so a row scores the same with or without a filter.
CREATE TABLE hf_bm25_t2 AS
SELECT b.id, b.score, row_number() OVER (ORDER BY b.rank) AS rank
  FROM bm25_search('hf_docs', 'id', 'tsv', 'zebra quokka', 2000) b JOIN hf_docs d USING (id)
 WHERE d.tenant_id = 2 ORDER BY b.rank LIMIT 20;
SELECT (SELECT array_agg(id ORDER BY keyword_rank) FROM hf_t2 WHERE keyword_rank IS NOT NULL)
     = (SELECT array_agg(id ORDER BY rank) FROM hf_bm25_t2) AS keyword_side_is_tenant_part;
SELECT (SELECT array_agg(row(id, score, rank)::text ORDER BY rank)
          FROM bm25_search('hf_docs', 'id', 'tsv', 'zebra quokka', 20, filter => '{"tenant_id": 2}'))
     = (SELECT array_agg(row(id, score, rank)::text ORDER BY rank) FROM hf_bm25_t2) AS bm25_search_filtered;
-- The vector side is tenant 2's 20 nearest rows (exact, computed here without an index).
SET enable_indexscan = off;
SET enable_bitmapscan = off;
CREATE TABLE hf_exact_t2 AS
SELECT id, row_number() OVER (ORDER BY emb <=> '[1,0,0]', id) AS rank
  FROM hf_docs WHERE tenant_id = 2 ORDER BY emb <=> '[1,0,0]', id LIMIT 20;
RESET enable_indexscan;
RESET enable_bitmapscan;
SELECT (SELECT array_agg(id ORDER BY vector_rank) FROM hf_t2 WHERE vector_rank IS NOT NULL)
     = (SELECT array_agg(id ORDER BY rank) FROM hf_exact_t2) AS vector_side_is_tenant_nearest;
-- (Without an iterative scan, the same scan stops after ef_search candidates, 2 of them tenant 2's:
-- hybrid_search sets hnsw.iterative_scan = relaxed_order for its statement when given a filter.)
SET enable_seqscan = off;
SET hnsw.ef_search = 20;
SELECT count(*) AS without_iterative_scan
  FROM (SELECT id FROM hf_docs WHERE tenant_id = 2 ORDER BY emb <=> '[1,0,0]' LIMIT 20) s;
RESET enable_seqscan;
RESET hnsw.ef_search;
-- The call sets hnsw.iterative_scan (relaxed_order, for the filter) and ef_search for its statement
-- only: the caller's values are back afterwards.
SET hnsw.ef_search = 7;
SELECT count(*) FROM hybrid_search('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]',
                                   filter => '{"tenant_id": 2}');
SHOW hnsw.ef_search;
SHOW hnsw.iterative_scan;
RESET hnsw.ef_search;

-- The filter's forms. An IN list, ANDed with the other keys:
SELECT count(*) AS rows, bool_and(d.tenant_id = 2 AND d.lang IN ('en', 'de')) AS all_match
  FROM hybrid_search('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]',
                     filter => '{"tenant_id": 2, "lang": ["en", "de"]}') h
  JOIN hf_docs d USING (id);
-- a list holding every tenant, and NULL, and {}, give the unfiltered result; so does a call without
-- the argument (all fourteen others given by position, as before)
CREATE TABLE hf_all AS
SELECT * FROM hybrid_search('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]', 10, 20, 20, 60, 1, 1, 1.2, 0.75);
SELECT f AS filter,
       (SELECT array_agg(row(id, score, keyword_rank, vector_rank)::text ORDER BY score DESC, id)
          FROM hybrid_search('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]',
                             keyword_depth => 20, vector_depth => 20, filter => f))
     = (SELECT array_agg(row(id, score, keyword_rank, vector_rank)::text ORDER BY score DESC, id) FROM hf_all)
       AS same_as_unfiltered
  FROM (VALUES ('{"tenant_id": [1, 2]}'::jsonb), (NULL), ('{}')) v(f);
-- operators: a range, an array overlap, IS NULL; an empty list matches nothing
SELECT count(*) AS rows, bool_and(id > 1000 AND id <= 1500) AS all_match
  FROM hybrid_search('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]',
                     filter => '{"id": {">": 1000, "<=": 1500}}');
SELECT count(*) AS rows, bool_and(d.labels && '{3}') AS all_match
  FROM hybrid_search('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]',
                     filter => '{"labels": {"&&": [3]}}') h
  JOIN hf_docs d USING (id);
SELECT count(*) FROM hybrid_search('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]', filter => '{"emb": null}');
SELECT count(*) FROM hybrid_search('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]', filter => '{"tenant_id": []}');
-- values are literals of the column's type: a JSON string for an integer column casts, quotes stay
-- inside the value, and hostile column names are quoted
SELECT count(*) AS rows, bool_and(d.tenant_id = 2) AS all_tenant_2
  FROM hybrid_search('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]', filter => '{"tenant_id": "2"}') h
  JOIN hf_docs d USING (id);
SELECT count(*) FROM hybrid_search('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]',
                                   filter => '{"lang": "en'' OR ''x'' = ''x"}');
SELECT count(*) AS rows, bool_and(d.tenant_id = 2) AS all_tenant_2
  FROM hybrid_search('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]',
                     filter => '{"Tenant \"Id\"; --": 2}') h
  JOIN hf_docs d USING (id);
SELECT semvec_filter_sql('hf_docs', '{"tenant_id": 2, "lang": ["en", "de"], "labels": {"&&": [3]}, "Tenant \"Id\"; --": {">=": 1, "!=": 3}, "emb": null}');
-- other key types
SELECT pg_typeof(id), count(*) FROM hybrid_search_as(NULL::text, 'hf_docs', 'id', 'tsv', 'emb', 'zebra', '[1,0,0]',
                                                     filter => '{"tenant_id": 2}') GROUP BY 1;

-- Errors, with their SQLSTATEs: an unknown column, a value that does not cast (the cast's own
-- error), a filter that is not an object, malformed conditions.
SELECT hf_error(format('SELECT * FROM hybrid_search(%L, %L, %L, %L, %L, %L, filter => %L)',
                       'hf_docs', 'id', 'tsv', 'emb', 'zebra', '[1,0,0]', f))
  FROM (VALUES ('{"tenant": 2}'), ('{"tenant_id = 2 OR true; --": 2}'), ('{"tenant_id": "two"}'),
               ('{"tenant_id": 99999999999}'), ('{"tenant_id": ["2", "x"]}'), ('[{"tenant_id": 2}]'),
               ('"tenant_id = 2"'), ('{"tenant_id": {"~": 2}}'), ('{"tenant_id": {}}'),
               ('{"tenant_id": [[2]]}'), ('{"tenant_id": {"=": {"a": 1}}}'), ('{"tenant_id": {"in": 2}}'),
               ('{"tenant_id": {"&&": [2]}}'), ('{"labels": [3]}')) v(f);
SELECT hf_error($$SELECT * FROM bm25_search('hf_docs', 'id', 'tsv', 'zebra', filter => '{"nope": 1}')$$);
SELECT hf_error($$SELECT * FROM hybrid_search_explain('hf_docs', 'id', 'tsv', 'emb', 'zebra', '[1,0,0]', filter => '{"tenant_id": "two"}')$$);

-- The plan: the filter is a condition of both scans. Vector side: the HNSW index's ordered scan with
-- the filter; keyword side (GIN candidates): the filter's result is kept per candidate and the rows
-- it rejects are dropped after the document frequencies are counted over all candidates.
SELECT regexp_replace(line, '''\(.*\)''::bm25query', '<query>') AS plan
  FROM hybrid_search_explain('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]',
                             keyword_depth => 20, vector_depth => 20, filter => '{"tenant_id": 2}') line
 WHERE line ~ 'Scan|Filter:|Cond:|Order By:';
-- without a filter the plan has none
SELECT count(*) AS filter_lines
  FROM hybrid_search_explain('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]') line
 WHERE line ~ 'Filter:';

-- With a bm25 index the keyword side is its ordered scan, with the filter.
CREATE INDEX hf_docs_bm25_idx ON hf_docs USING bm25 (tsv);
SELECT regexp_replace(line, '''\(.*\)''::bm25query', '<query>') AS plan
  FROM hybrid_search_explain('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]',
                             keyword_depth => 20, vector_depth => 20, filter => '{"tenant_id": 2}') line
 WHERE line ~ 'Scan|Filter:|Cond:|Order By:';
-- same answer as through the GIN candidates (no dead rows: the index's statistics are exact)
SELECT (SELECT array_agg(row(id, keyword_rank, vector_rank)::text ORDER BY score DESC, id)
          FROM hybrid_search('hf_docs', 'id', 'tsv', 'emb', 'zebra quokka', '[1,0,0]', top_k => 100,
                             keyword_depth => 20, vector_depth => 20, filter => '{"tenant_id": 2}'))
     = (SELECT array_agg(row(id, keyword_rank, vector_rank)::text ORDER BY score DESC, id) FROM hf_t2)
       AS same_through_bm25_index;
SELECT (SELECT array_agg(id ORDER BY rank)
          FROM bm25_search('hf_docs', 'id', 'tsv', 'zebra quokka', 20, filter => '{"tenant_id": 2}'))
     = (SELECT array_agg(id ORDER BY rank) FROM hf_bm25_t2) AS bm25_search_through_index;

DROP TABLE hf_docs, hf_t2, hf_bm25_t2, hf_exact_t2, hf_all;
DROP FUNCTION hf_error(text);
