-- hnsw on sparsevec: every operator class, NULLs and zero vectors, inserts after build, TRUNCATE,
-- the limit of 1000 non-zero elements (pgvector behaviour)
SET enable_seqscan = off;
-- L2
CREATE TABLE t (val sparsevec(3));
INSERT INTO t (val) VALUES ('{}/3'), ('{1:1,2:2,3:3}/3'), ('{1:1,2:1,3:1}/3'), (NULL);
CREATE INDEX ON t USING hnsw (val sparsevec_l2_ops);
INSERT INTO t (val) VALUES ('{1:1,2:2,3:4}/3');
SELECT * FROM t ORDER BY val <-> '{1:3,2:3,3:3}/3';
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <-> (SELECT NULL::sparsevec)) t2;
SELECT COUNT(*) FROM t;
TRUNCATE t;
SELECT * FROM t ORDER BY val <-> '{1:3,2:3,3:3}/3';
DROP TABLE t;
-- inner product
CREATE TABLE t (val sparsevec(3));
INSERT INTO t (val) VALUES ('{}/3'), ('{1:1,2:2,3:3}/3'), ('{1:1,2:1,3:1}/3'), (NULL);
CREATE INDEX ON t USING hnsw (val sparsevec_ip_ops);
INSERT INTO t (val) VALUES ('{1:1,2:2,3:4}/3');
SELECT * FROM t ORDER BY val <#> '{1:3,2:3,3:3}/3';
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <#> (SELECT NULL::sparsevec)) t2;
DROP TABLE t;
-- cosine: zero vectors are not indexed
CREATE TABLE t (val sparsevec(3));
INSERT INTO t (val) VALUES ('{}/3'), ('{1:1,2:2,3:3}/3'), ('{1:1,2:1,3:1}/3'), (NULL);
CREATE INDEX ON t USING hnsw (val sparsevec_cosine_ops);
INSERT INTO t (val) VALUES ('{1:1,2:2,3:4}/3');
SELECT * FROM t ORDER BY val <=> '{1:3,2:3,3:3}/3';
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <=> '{}/3') t2;
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <=> (SELECT NULL::sparsevec)) t2;
DROP TABLE t;
-- L1
CREATE TABLE t (val sparsevec(3));
INSERT INTO t (val) VALUES ('{}/3'), ('{1:1,2:2,3:3}/3'), ('{1:1,2:1,3:1}/3'), (NULL);
CREATE INDEX ON t USING hnsw (val sparsevec_l1_ops);
INSERT INTO t (val) VALUES ('{1:1,2:2,3:4}/3');
SELECT * FROM t ORDER BY val <+> '{1:3,2:3,3:3}/3';
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <+> (SELECT NULL::sparsevec)) t2;
DROP TABLE t;
-- many dimensions, few non-zero elements (distances shown: rows at equal distance may come in any order)
CREATE TABLE t (id int, val sparsevec(100000));
INSERT INTO t SELECT i, ('{' || (i % 10 + 1) || ':' || (i % 5 + 1) || ',' || (i % 7 * 1000 + 11) || ':' || (i % 3 + 1)
    || ',' || (i % 13 * 7000 + 21) || ':' || (i % 4 - 2) || '}/100000')::sparsevec
FROM generate_series(1, 300) i;
CREATE INDEX ON t USING hnsw (val sparsevec_l2_ops);
SELECT round((val <-> '{4:3,3011:2,35021:1}/100000')::numeric, 4) FROM t ORDER BY val <-> '{4:3,3011:2,35021:1}/100000' LIMIT 5;
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <-> '{4:3,3011:2,35021:1}/100000') t2;
DROP TABLE t;
-- deletes and VACUUM: deleted rows are gone, the rest are still found
CREATE TABLE t (id int, val sparsevec(1000));
INSERT INTO t SELECT i, ('{' || (i % 50 + 1) || ':' || (i % 7 + 1) || ',' || (i % 9 + 100) || ':1}/1000')::sparsevec
FROM generate_series(1, 300) i;
CREATE INDEX ON t USING hnsw (val sparsevec_cosine_ops);
DELETE FROM t WHERE id % 3 = 0;
VACUUM t;
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <=> '{1:1,100:1}/1000') t2;
SELECT round((val <=> '{2:3,101:1}/1000')::numeric, 6) FROM t ORDER BY val <=> '{2:3,101:1}/1000' LIMIT 3;
DROP TABLE t;
-- non-zero elements
CREATE TABLE t (val sparsevec(1001));
INSERT INTO t (val) VALUES (array_fill(1, ARRAY[1001])::vector::sparsevec);
CREATE INDEX ON t USING hnsw (val sparsevec_l2_ops);
TRUNCATE t;
CREATE INDEX ON t USING hnsw (val sparsevec_l2_ops);
INSERT INTO t (val) VALUES (array_fill(1, ARRAY[1001])::vector::sparsevec);
INSERT INTO t (val) VALUES (array_fill(1, ARRAY[1000])::vector || '[0]');
SELECT l2_norm(val) FROM t ORDER BY val <-> array_fill(1, ARRAY[1001])::vector::sparsevec;
DROP TABLE t;
-- a query of other dimensions than the column
CREATE TABLE t (val sparsevec(3));
INSERT INTO t (val) VALUES ('{1:1}/3'), ('{2:1}/3');
CREATE INDEX ON t USING hnsw (val sparsevec_l2_ops);
SELECT * FROM t ORDER BY val <-> '{1:1}/4';
TRUNCATE t;
SELECT * FROM t ORDER BY val <-> '{1:1}/4';
DROP TABLE t;
CREATE TABLE t (val sparsevec);
CREATE INDEX ON t USING hnsw (val sparsevec_l2_ops);
DROP TABLE t;
SELECT opcname FROM pg_opclass JOIN pg_am am ON am.oid = opcmethod
WHERE amname = 'hnsw' AND opcintype = 'sparsevec'::regtype ORDER BY opcname;
