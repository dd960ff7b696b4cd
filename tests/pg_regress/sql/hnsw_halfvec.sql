-- hnsw on halfvec: every operator class, NULLs and zero vectors, inserts after build, TRUNCATE,
-- dimension limits, expression indexes over vector columns (pgvector behaviour)
SET enable_seqscan = off;
-- L2
CREATE TABLE t (val halfvec(3));
INSERT INTO t (val) VALUES ('[0,0,0]'), ('[1,2,3]'), ('[1,1,1]'), (NULL);
CREATE INDEX ON t USING hnsw (val halfvec_l2_ops);
INSERT INTO t (val) VALUES ('[1,2,4]');
SELECT * FROM t ORDER BY val <-> '[3,3,3]';
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <-> (SELECT NULL::halfvec)) t2;
SELECT COUNT(*) FROM t;
SELECT val <-> '[3,3,3]' AS d FROM t ORDER BY val <-> '[3,3,3]' LIMIT 2;
TRUNCATE t;
SELECT * FROM t ORDER BY val <-> '[3,3,3]';
DROP TABLE t;
-- inner product
CREATE TABLE t (val halfvec(3));
INSERT INTO t (val) VALUES ('[0,0,0]'), ('[1,2,3]'), ('[1,1,1]'), (NULL);
CREATE INDEX ON t USING hnsw (val halfvec_ip_ops);
INSERT INTO t (val) VALUES ('[1,2,4]');
SELECT * FROM t ORDER BY val <#> '[3,3,3]';
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <#> (SELECT NULL::halfvec)) t2;
DROP TABLE t;
-- cosine: zero vectors are not indexed
CREATE TABLE t (val halfvec(3));
INSERT INTO t (val) VALUES ('[0,0,0]'), ('[1,2,3]'), ('[1,1,1]'), (NULL);
CREATE INDEX ON t USING hnsw (val halfvec_cosine_ops);
INSERT INTO t (val) VALUES ('[1,2,4]');
SELECT * FROM t ORDER BY val <=> '[3,3,3]';
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <=> '[0,0,0]') t2;
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <=> (SELECT NULL::halfvec)) t2;
INSERT INTO t (val) VALUES ('[0,0,0]');
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <=> '[1,1,1]') t2;
DROP TABLE t;
-- L1
CREATE TABLE t (val halfvec(3));
INSERT INTO t (val) VALUES ('[0,0,0]'), ('[1,2,3]'), ('[1,1,1]'), (NULL);
CREATE INDEX ON t USING hnsw (val halfvec_l1_ops);
INSERT INTO t (val) VALUES ('[1,2,4]');
SELECT * FROM t ORDER BY val <+> '[3,3,3]';
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <+> (SELECT NULL::halfvec)) t2;
DROP TABLE t;
-- a query of other dimensions than the column
CREATE TABLE t (val halfvec(3));
INSERT INTO t (val) VALUES ('[1,2,3]'), ('[1,1,1]');
CREATE INDEX ON t USING hnsw (val halfvec_l2_ops);
SELECT * FROM t ORDER BY val <-> '[3,3]';
TRUNCATE t;
SELECT * FROM t ORDER BY val <-> '[3,3]';
DROP TABLE t;
CREATE TABLE t (val vector(3));
INSERT INTO t (val) VALUES ('[1,2,3]'), ('[1,1,1]');
CREATE INDEX ON t USING hnsw (val vector_l2_ops);
SELECT * FROM t ORDER BY val <-> '[3,3]';
TRUNCATE t;
SELECT * FROM t ORDER BY val <-> '[3,3]';
DROP TABLE t;
-- iterative scans, more rows than ef_search
CREATE TABLE t (id int, val halfvec(2));
INSERT INTO t SELECT i, ARRAY[i % 50, i / 50]::halfvec FROM generate_series(0, 499) i;
CREATE INDEX ON t USING hnsw (val halfvec_l2_ops);
SET hnsw.ef_search = 10;
SET hnsw.iterative_scan = strict_order;
SELECT COUNT(*) FROM (SELECT * FROM t WHERE id % 5 = 0 ORDER BY val <-> '[0,0]' LIMIT 30) t2;
SELECT val <-> '[10,4]' FROM t ORDER BY val <-> '[10,4]' LIMIT 6;
RESET hnsw.iterative_scan;
RESET hnsw.ef_search;
DROP TABLE t;
-- deletes and VACUUM: deleted rows are gone, the rest are still found
CREATE TABLE t (id int, val halfvec(2));
INSERT INTO t SELECT i, ARRAY[i % 20, i / 20]::halfvec FROM generate_series(0, 399) i;
CREATE INDEX ON t USING hnsw (val halfvec_l2_ops);
DELETE FROM t WHERE id % 3 = 0;
VACUUM t;
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <-> '[5,5]' LIMIT 1000) t2;
SELECT val <-> '[6,6]' FROM t ORDER BY val <-> '[6,6]' LIMIT 3;
INSERT INTO t SELECT i, ARRAY[i % 20, i / 20]::halfvec FROM generate_series(0, 399) i WHERE i % 3 = 0;
SELECT val <-> '[6,6]' FROM t ORDER BY val <-> '[6,6]' LIMIT 3;
DROP TABLE t;
-- unlogged
CREATE UNLOGGED TABLE t (val halfvec(3));
INSERT INTO t (val) VALUES ('[0,0,0]'), ('[1,2,3]'), ('[1,1,1]'), (NULL);
CREATE INDEX ON t USING hnsw (val halfvec_l2_ops);
SELECT * FROM t ORDER BY val <-> '[3,3,3]';
DROP TABLE t;
-- dimensions
CREATE TABLE t (val halfvec(4000));
CREATE INDEX ON t USING hnsw (val halfvec_l2_ops);
INSERT INTO t (val) SELECT array_fill(i, ARRAY[4000])::halfvec FROM generate_series(1, 3) i;
SELECT vector_dims(val) FROM t ORDER BY val <-> array_fill(2.4, ARRAY[4000])::halfvec LIMIT 1;
DROP TABLE t;
CREATE TABLE t (val halfvec(4001));
CREATE INDEX ON t USING hnsw (val halfvec_l2_ops);
DROP TABLE t;
CREATE TABLE t (val halfvec);
CREATE INDEX ON t USING hnsw (val halfvec_l2_ops);
DROP TABLE t;
-- an expression index stores half precision for a vector column; queries cast the same way
CREATE TABLE t (val vector(3));
INSERT INTO t (val) VALUES ('[0,0,0]'), ('[1,2,3]'), ('[1,1,1]'), (NULL), ('[1,2,4]');
CREATE INDEX ON t USING hnsw ((val::halfvec(3)) halfvec_cosine_ops);
EXPLAIN (COSTS OFF) SELECT * FROM t ORDER BY val::halfvec(3) <=> '[3,3,3]' LIMIT 5;
SELECT * FROM t ORDER BY val::halfvec(3) <=> '[3,3,3]' LIMIT 5;
CREATE INDEX ON t USING hnsw ((val::halfvec(3)) halfvec_l2_ops);
SELECT * FROM t ORDER BY val::halfvec(3) <-> '[1,2,3.9]' LIMIT 2;
DROP TABLE t;
-- the opclasses exist with pgvector's names
SELECT opcname FROM pg_opclass JOIN pg_am am ON am.oid = opcmethod
WHERE amname = 'hnsw' AND opcintype = 'halfvec'::regtype ORDER BY opcname;
