-- compare-pgvector: skip
-- The planner uses the index for ORDER BY distance LIMIT n, not without ORDER BY, and prefers a
-- sequential scan when a selective WHERE clause leaves few rows; REINDEX and DROP work.
CREATE TABLE items (id int PRIMARY KEY, category int, embedding vector(3));
INSERT INTO items SELECT i, i % 100, ARRAY[sin(i), cos(i), sin(i * 0.5)]::vector FROM generate_series(1, 5000) i;
CREATE INDEX items_hnsw ON items USING hnsw (embedding vector_l2_ops);
CREATE INDEX ON items (category);
ANALYZE items;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY embedding <-> '[0,1,0]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM items WHERE embedding <-> '[0,1,0]' < 0.1;
EXPLAIN (COSTS OFF) SELECT id FROM items WHERE id = 17 ORDER BY embedding <-> '[0,1,0]' LIMIT 10;
-- the index answers like an exact scan for these few rows
SELECT array_agg(id) = (SELECT array_agg(id) FROM (SELECT id FROM items ORDER BY embedding <-> '[0,1,0]', id LIMIT 5) s) AS same
FROM (SELECT id FROM items ORDER BY embedding <-> '[0,1,0]' LIMIT 5) s;
-- a prepared statement with a parameter uses the index too
PREPARE q(vector) AS SELECT id FROM items ORDER BY embedding <-> $1 LIMIT 3;
EXPLAIN (COSTS OFF) EXECUTE q('[1,0,0]');
-- filtered query: iterative scan returns the full LIMIT
SET enable_seqscan = off;
SET enable_bitmapscan = off;
DROP INDEX items_category_idx;
SET hnsw.ef_search = 10;
SELECT count(*) FROM (SELECT id FROM items WHERE category = 3 ORDER BY embedding <-> '[0,1,0]' LIMIT 10) s;
SET hnsw.iterative_scan = strict_order;
SELECT count(*) FROM (SELECT id FROM items WHERE category = 3 ORDER BY embedding <-> '[0,1,0]' LIMIT 10) s;
SET hnsw.iterative_scan = relaxed_order;
SELECT count(*) FROM (SELECT id FROM items WHERE category = 3 ORDER BY embedding <-> '[0,1,0]' LIMIT 10) s;
RESET hnsw.iterative_scan;
RESET hnsw.ef_search;
RESET enable_seqscan;
RESET enable_bitmapscan;
REINDEX INDEX items_hnsw;
SELECT count(*) FROM (SELECT id FROM items ORDER BY embedding <-> '[0,1,0]' LIMIT 7) s;
-- cursors walk the index forward
BEGIN;
DECLARE c CURSOR FOR SELECT id FROM items ORDER BY embedding <-> '[0,1,0]';
FETCH 3 FROM c;
FETCH 2 FROM c;
CLOSE c;
COMMIT;
DROP TABLE items;
