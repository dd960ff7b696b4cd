-- compare-pgvector: skip
-- Both sides of a hybrid search use their index: the keyword side a bitmap scan of the GIN index
-- (the OR of the query's lexemes), the vector side an ordered scan of the HNSW index. Shown for
-- hybrid_search() (through hybrid_search_explain(), the plan of the same statement) and for the
-- documented plain-SQL pattern.
CREATE TABLE hx_docs (
    id bigint PRIMARY KEY,
    body text NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', body)) STORED,
    emb vector(3)
);
-- 3000 rows; 'zebra' and 'quokka' occur in 1% of them each.
INSERT INTO hx_docs (id, body, emb)
SELECT i,
       concat_ws(' ', 'document', i, CASE WHEN i % 100 = 0 THEN 'zebra' END, CASE WHEN i % 100 = 1 THEN 'quokka' END,
                 (ARRAY['river', 'mountain', 'forest', 'desert', 'ocean'])[1 + i % 5]),
       ARRAY[sin(i), cos(i), sin(2 * i)]::vector
  FROM generate_series(1, 3000) i;
CREATE INDEX hx_docs_tsv_idx ON hx_docs USING gin (tsv);
CREATE INDEX hx_docs_emb_idx ON hx_docs USING hnsw (emb vector_cosine_ops);
ANALYZE hx_docs;
SELECT bm25_create('hx_docs', 'tsv', 'english');

SELECT * FROM hybrid_search_explain('hx_docs', 'id', 'tsv', 'emb', 'zebras and quokkas', '[1,0,0]',
                                    keyword_depth => 20, vector_depth => 20);

-- bm25_query() counts document frequencies through the same index.
EXPLAIN (COSTS OFF)
SELECT semvec_bm25_df(tsv, '{quokka,zebra}') FROM hx_docs WHERE tsv @@ '''quokka'' | ''zebra''';

-- The plain-SQL pattern: scalar subqueries keep the query values constants for the planner.
EXPLAIN (COSTS OFF)
WITH q AS MATERIALIZED (
    SELECT bm25_query('hx_docs', 'tsv', 'zebras and quokkas') AS kq, '[1,0,0]'::vector AS qv
),
keyword AS (
    SELECT id, row_number() OVER (ORDER BY score DESC, id) AS rank
      FROM (SELECT d.id, bm25_score(d.tsv, (SELECT kq FROM q)) AS score
              FROM hx_docs d
             WHERE d.tsv @@ (SELECT (kq).or_query FROM q)
             ORDER BY score DESC, d.id
             LIMIT 20) k
),
semantic AS (
    SELECT id, row_number() OVER (ORDER BY dist, id) AS rank
      FROM (SELECT d.id, d.emb <=> (SELECT qv FROM q) AS dist
              FROM hx_docs d
             ORDER BY dist
             LIMIT 20) v
)
SELECT coalesce(k.id, s.id) AS id,
       rrf_score(k.rank) + rrf_score(s.rank) AS score,
       k.rank AS keyword_rank, s.rank AS vector_rank
  FROM keyword k FULL JOIN semantic s ON k.id = s.id
 ORDER BY score DESC, id
 LIMIT 10;

-- The results: 60 documents mention a zebra or a quokka; the keyword side returns the 20 best.
SELECT count(*) FILTER (WHERE keyword_rank IS NOT NULL) AS keyword, count(*) FILTER (WHERE vector_rank IS NOT NULL) AS vector,
       count(*) FILTER (WHERE keyword_rank IS NOT NULL AND vector_rank IS NOT NULL) AS both
  FROM hybrid_search('hx_docs', 'id', 'tsv', 'emb', 'zebras and quokkas', '[1,0,0]',
                     top_k => 100, keyword_depth => 20, vector_depth => 20);
-- a text column through an expression index works the same way
CREATE INDEX hx_docs_body_idx ON hx_docs USING gin (to_tsvector('english', body));
SELECT bm25_create('hx_docs', 'body', 'english');
SELECT line FROM hybrid_search_explain('hx_docs', 'id', 'body', 'emb', 'zebras and quokkas', '[1,0,0]') line
 WHERE line ~ 'Index|Scan';
DROP TABLE hx_docs;
