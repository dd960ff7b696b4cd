-- compare-pgvector: skip
-- ivfflat builds within maintenance_work_mem, as in pgvector 0.8.5 and later: samples are limited
-- to what the table can hold, and memory is checked as the build allocates (pgvector 0.8.2 asks
-- for 10,000 samples whatever the table size, so the first three builds fail there).
SET enable_seqscan = off;
SET maintenance_work_mem = '5MB';
CREATE TABLE t (val vector(2000));
INSERT INTO t (val) VALUES (array_fill(0, ARRAY[2000]));
CREATE INDEX ON t USING ivfflat (val vector_l2_ops);
DROP TABLE t;
RESET maintenance_work_mem;
SET maintenance_work_mem = '6MB';
CREATE TABLE t (val halfvec(4000));
INSERT INTO t (val) VALUES (array_fill(0, ARRAY[4000]));
CREATE INDEX ON t USING ivfflat (val halfvec_l2_ops);
DROP TABLE t;
RESET maintenance_work_mem;
SET maintenance_work_mem = '29MB';
CREATE TABLE t (val bit(64000));
INSERT INTO t (val) VALUES (B'0'::bit(64000));
CREATE INDEX ON t USING ivfflat (val bit_hamming_ops);
DROP TABLE t;
RESET maintenance_work_mem;
-- k-means bounds for 1,000 lists beyond 1MB: pgvector's error
SET maintenance_work_mem = '1MB';
CREATE TABLE t (val vector(3));
INSERT INTO t (val) SELECT ARRAY[i, i, i] FROM generate_series(1, 1000) i;
CREATE INDEX ON t USING ivfflat (val vector_l2_ops) WITH (lists = 1000);
RESET maintenance_work_mem;
CREATE INDEX ON t USING ivfflat (val vector_l2_ops) WITH (lists = 1000);
SET ivfflat.probes = 1000;
SELECT val FROM t ORDER BY val <-> '[3,3,3]' LIMIT 3;
RESET ivfflat.probes;
DROP TABLE t;
