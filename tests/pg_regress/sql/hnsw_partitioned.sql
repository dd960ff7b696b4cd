-- compare-pgvector: skip
-- An hnsw index on a partitioned table is built on every partition, and ORDER BY distance LIMIT k
-- over the parent is answered by a Merge Append of per-partition index scans.
CREATE TABLE events (id int, region text, embedding vector(3)) PARTITION BY LIST (region);
CREATE TABLE events_eu PARTITION OF events FOR VALUES IN ('eu');
CREATE TABLE events_us PARTITION OF events FOR VALUES IN ('us');
CREATE TABLE events_ap PARTITION OF events FOR VALUES IN ('ap');
INSERT INTO events
SELECT i, (ARRAY['eu', 'us', 'ap'])[1 + i % 3], ARRAY[sin(i), cos(i), sin(i * 0.3)]::vector
FROM generate_series(1, 3000) i;
CREATE INDEX events_embedding ON events USING hnsw (embedding vector_l2_ops);
SELECT c.relname AS index_name, p.relname AS partition
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_index x ON x.indexrelid = c.oid
JOIN pg_class p ON p.oid = x.indrelid
WHERE i.inhparent = 'events_embedding'::regclass ORDER BY partition;
ANALYZE events;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM events ORDER BY embedding <-> '[0,1,0]' LIMIT 5;
-- the same rows as an exact search
SELECT array_agg(id ORDER BY d, id) FROM (SELECT id, embedding <-> '[0,1,0]' AS d FROM events ORDER BY embedding <-> '[0,1,0]' LIMIT 5) s;
RESET enable_seqscan;
SET enable_indexscan = off;
SELECT array_agg(id ORDER BY d, id) FROM (SELECT id, embedding <-> '[0,1,0]' AS d FROM events ORDER BY embedding <-> '[0,1,0]' LIMIT 5) s;
RESET enable_indexscan;
-- a new partition gets its own index
CREATE TABLE events_sa PARTITION OF events FOR VALUES IN ('sa');
SELECT count(*) AS partition_indexes FROM pg_inherits WHERE inhparent = 'events_embedding'::regclass;
DROP TABLE events;
