-- Scans of semvec's indexes count in pg_stat_user_indexes like any index's, so "unused index"
-- queries do not tell a DBA to drop them (idx_scan per scan, idx_tup_read per row returned).
SET enable_seqscan = off;
CREATE TABLE stat_hnsw (id int, v vector(3));
CREATE TABLE stat_ivf (id int, v vector(3));
INSERT INTO stat_hnsw SELECT i, ARRAY[i, i % 7, 1]::real[]::vector FROM generate_series(1, 100) i;
INSERT INTO stat_ivf SELECT * FROM stat_hnsw;
CREATE INDEX stat_hnsw_v ON stat_hnsw USING hnsw (v vector_l2_ops);
CREATE INDEX stat_ivf_v ON stat_ivf USING ivfflat (v vector_l2_ops) WITH (lists = 1);
SELECT pg_stat_force_next_flush();
SELECT indexrelname, idx_scan, idx_tup_read FROM pg_stat_user_indexes
WHERE indexrelname IN ('stat_hnsw_v', 'stat_ivf_v') ORDER BY 1;
SELECT id FROM stat_hnsw ORDER BY v <-> '[3.2,1,1]' LIMIT 3;
SELECT id FROM stat_hnsw ORDER BY v <-> '[50.1,1,1]' LIMIT 2;
SELECT count(*) FROM (SELECT id FROM stat_hnsw ORDER BY v <-> '[9,9,9]' LIMIT 4) s;
SELECT id FROM stat_ivf ORDER BY v <-> '[3.2,1,1]' LIMIT 3;
SELECT pg_stat_force_next_flush();
SELECT indexrelname, idx_scan, idx_tup_read FROM pg_stat_user_indexes
WHERE indexrelname IN ('stat_hnsw_v', 'stat_ivf_v') ORDER BY 1;
-- A prepared statement's executions are scans too.
PREPARE q(vector) AS SELECT id FROM stat_hnsw ORDER BY v <-> $1 LIMIT 1;
EXECUTE q('[1,1,1]');
EXECUTE q('[2,2,1]');
SELECT pg_stat_force_next_flush();
SELECT idx_scan, idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = 'stat_hnsw_v';
DROP TABLE stat_hnsw, stat_ivf;
