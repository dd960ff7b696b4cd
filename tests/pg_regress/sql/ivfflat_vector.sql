-- ivfflat on vector: every operator class, NULLs and zero vectors, inserts after build, TRUNCATE,
-- iterative scans, UNLOGGED tables, options and GUC ranges, dimension limits (pgvector behaviour),
-- then exact search with all lists probed, filtering, VACUUM, REINDEX and build errors.
SET enable_seqscan = off;
-- L2
CREATE TABLE t (val vector(3));
INSERT INTO t (val) VALUES ('[0,0,0]'), ('[1,2,3]'), ('[1,1,1]'), (NULL);
CREATE INDEX ON t USING ivfflat (val vector_l2_ops) WITH (lists = 1);
INSERT INTO t (val) VALUES ('[1,2,4]');
SELECT * FROM t ORDER BY val <-> '[3,3,3]';
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <-> (SELECT NULL::vector)) t2;
SELECT COUNT(*) FROM t;
TRUNCATE t;
SELECT * FROM t ORDER BY val <-> '[3,3,3]';
DROP TABLE t;
-- inner product
CREATE TABLE t (val vector(3));
INSERT INTO t (val) VALUES ('[0,0,0]'), ('[1,2,3]'), ('[1,1,1]'), (NULL);
CREATE INDEX ON t USING ivfflat (val vector_ip_ops) WITH (lists = 1);
INSERT INTO t (val) VALUES ('[1,2,4]');
SELECT * FROM t ORDER BY val <#> '[3,3,3]';
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <#> (SELECT NULL::vector)) t2;
DROP TABLE t;
-- cosine
CREATE TABLE t (val vector(3));
INSERT INTO t (val) VALUES ('[0,0,0]'), ('[1,2,3]'), ('[1,1,1]'), (NULL);
CREATE INDEX ON t USING ivfflat (val vector_cosine_ops) WITH (lists = 1);
INSERT INTO t (val) VALUES ('[1,2,4]');
SELECT * FROM t ORDER BY val <=> '[3,3,3]';
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <=> '[0,0,0]') t2;
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <=> (SELECT NULL::vector)) t2;
SELECT * FROM t CROSS JOIN LATERAL (SELECT * FROM t t2 ORDER BY val <=> t.val LIMIT 1) t2 WHERE t.val != '[0,0,0]' ORDER BY t.val;
DROP TABLE t;
-- iterative
CREATE TABLE t (val vector(3));
INSERT INTO t (val) VALUES ('[0,0,0]'), ('[1,2,3]'), ('[1,1,1]'), (NULL);
CREATE INDEX ON t USING ivfflat (val vector_l2_ops) WITH (lists = 3);
SET ivfflat.iterative_scan = relaxed_order;
SELECT * FROM t ORDER BY val <-> '[3,3,3]';
SET ivfflat.max_probes = 1;
SELECT * FROM t ORDER BY val <-> '[3,3,3]';
SET ivfflat.max_probes = 2;
SELECT * FROM t ORDER BY val <-> '[3,3,3]';
TRUNCATE t;
SELECT * FROM t ORDER BY val <-> '[3,3,3]';
RESET ivfflat.iterative_scan;
RESET ivfflat.max_probes;
DROP TABLE t;
-- unlogged
CREATE UNLOGGED TABLE t (val vector(3));
INSERT INTO t (val) VALUES ('[0,0,0]'), ('[1,2,3]'), ('[1,1,1]'), (NULL);
CREATE INDEX ON t USING ivfflat (val vector_l2_ops) WITH (lists = 1);
SELECT * FROM t ORDER BY val <-> '[3,3,3]';
DROP TABLE t;
-- options
CREATE TABLE t (val vector(3));
CREATE INDEX ON t USING ivfflat (val vector_l2_ops) WITH (lists = 0);
CREATE INDEX ON t USING ivfflat (val vector_l2_ops) WITH (lists = 32769);
DROP TABLE t;
SHOW ivfflat.probes;
SET ivfflat.probes = 0;
SET ivfflat.probes = 32769;
SHOW ivfflat.iterative_scan;
SET ivfflat.iterative_scan = on;
SHOW ivfflat.max_probes;
SET ivfflat.max_probes = 0;
SET ivfflat.max_probes = 32769;
-- dimensions
CREATE TABLE t (val vector(2000));
CREATE INDEX ON t USING ivfflat (val vector_l2_ops);
DROP TABLE t;
CREATE TABLE t (val vector(2001));
CREATE INDEX ON t USING ivfflat (val vector_l2_ops);
DROP TABLE t;
-- memory
SET maintenance_work_mem = '1MB';
CREATE TABLE t (val vector(2000));
CREATE INDEX ON t USING ivfflat (val vector_l2_ops);
DROP TABLE t;
RESET maintenance_work_mem;
-- the query must have the index's dimensions (pgvector compares it with the centers)
CREATE TABLE t (val vector(3));
INSERT INTO t (val) VALUES ('[1,2,3]');
CREATE INDEX ON t USING ivfflat (val vector_l2_ops) WITH (lists = 1);
SELECT * FROM t ORDER BY val <-> '[1,2]';
SELECT * FROM t ORDER BY val <-> '[1,2,3,4]';
DROP TABLE t;
-- probing every list is exact search, for each operator class
CREATE TABLE t (id int, val vector(3));
INSERT INTO t SELECT i, ARRAY[i % 17, (i * 37) % 101, (i * 53) % 97] FROM generate_series(1, 500) i;
CREATE INDEX t_l2 ON t USING ivfflat (val vector_l2_ops) WITH (lists = 10);
SET ivfflat.probes = 10;
SELECT id, val, round((val <-> '[8.5,50.25,48.125]')::numeric, 4) AS d FROM t ORDER BY val <-> '[8.5,50.25,48.125]' LIMIT 5;
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <-> '[8.5,50.25,48.125]') t2;
SET ivfflat.probes = 32768;
SELECT id FROM t ORDER BY val <-> '[8.5,50.25,48.125]' LIMIT 3;
DROP INDEX t_l2;
CREATE INDEX t_ip ON t USING ivfflat (val vector_ip_ops) WITH (lists = 10);
SELECT id, round((val <#> '[0.5,-1.25,2.125]')::numeric, 4) AS d FROM t ORDER BY val <#> '[0.5,-1.25,2.125]' LIMIT 5;
DROP INDEX t_ip;
CREATE INDEX t_cos ON t USING ivfflat (val vector_cosine_ops) WITH (lists = 10);
SELECT id, round((val <=> '[3.5,-1.25,2.125]')::numeric, 6) AS d FROM t ORDER BY val <=> '[3.5,-1.25,2.125]' LIMIT 5;
-- inserts after the build are found
INSERT INTO t SELECT i, ARRAY[i % 19, (i * 41) % 103, (i * 59) % 89] FROM generate_series(501, 700) i;
SELECT id FROM (SELECT id FROM t ORDER BY val <=> '[1.5,40.25,9.125]' LIMIT 4) t2 ORDER BY id;
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <=> '[1.5,40.25,9.125]') t2;
RESET ivfflat.probes;
EXPLAIN (COSTS OFF) SELECT id FROM (SELECT id FROM t ORDER BY val <=> '[1.5,40.25,9.125]' LIMIT 4) t2 ORDER BY id;
DROP INDEX t_cos;
-- a filtered query with an iterative scan returns the full LIMIT
CREATE INDEX ON t USING ivfflat (val vector_l2_ops) WITH (lists = 20);
SET ivfflat.iterative_scan = relaxed_order;
SELECT COUNT(*) FROM (SELECT id FROM t WHERE id % 50 = 7 ORDER BY val <-> '[8,50,48]' LIMIT 10) t2;
SET ivfflat.max_probes = 20;
SELECT COUNT(*) FROM (SELECT id FROM t WHERE id % 50 = 7 ORDER BY val <-> '[8,50,48]' LIMIT 20) t2;
RESET ivfflat.max_probes;
RESET ivfflat.iterative_scan;
-- VACUUM removes the entries of deleted rows; REINDEX rebuilds
DELETE FROM t WHERE id % 3 = 0;
VACUUM t;
SET ivfflat.probes = 20;
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <-> '[8,50,48]') t2;
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <-> '[8,50,48]') t2 WHERE id % 3 = 0;
INSERT INTO t SELECT i, ARRAY[i % 17, (i * 37) % 101, (i * 53) % 97] FROM generate_series(1, 500, 3) i;
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <-> '[8,50,48]') t2;
REINDEX TABLE t;
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <-> '[8,50,48]') t2;
SELECT id, val FROM t ORDER BY val <-> '[8.5,50.25,48.125]' LIMIT 3;
RESET ivfflat.probes;
DROP TABLE t;
-- the default operator class, and the operator classes there are
CREATE TABLE t (val vector(3));
INSERT INTO t (val) VALUES ('[1,2,3]');
CREATE INDEX ON t USING ivfflat (val);
SELECT opcname, opcdefault FROM pg_index i JOIN pg_opclass c ON c.oid = i.indclass[0] WHERE indrelid = 't'::regclass;
SELECT opcname FROM pg_opclass c JOIN pg_am a ON c.opcmethod = a.oid WHERE amname = 'ivfflat' AND opcintype = 'vector'::regtype ORDER BY 1;
DROP TABLE t;
-- build errors
CREATE TABLE t (val vector);
CREATE INDEX ON t USING ivfflat (val vector_l2_ops);
DROP TABLE t;
CREATE TABLE t (val vector(1));
CREATE INDEX ON t USING ivfflat (val vector_ip_ops);
CREATE INDEX ON t USING ivfflat (val vector_cosine_ops);
CREATE INDEX ON t USING ivfflat (val vector_l2_ops) WITH (lists = 1);
DROP TABLE t;
