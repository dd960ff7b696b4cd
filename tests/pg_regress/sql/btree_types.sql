-- btree indexes on halfvec and sparsevec (the default btree operator classes)
SET enable_seqscan = off;
CREATE TABLE t (val halfvec(3));
INSERT INTO t (val) VALUES ('[0,0,0]'), ('[1,2,3]'), ('[1,1,1]'), (NULL);
CREATE INDEX ON t (val);
SELECT * FROM t WHERE val = '[1,2,3]';
SELECT * FROM t ORDER BY val;
SELECT * FROM t WHERE val > '[1,1,1]';
EXPLAIN (COSTS OFF) SELECT * FROM t WHERE val = '[1,2,3]';
DROP TABLE t;
CREATE TABLE t (val sparsevec(3));
INSERT INTO t (val) VALUES ('{}/3'), ('{1:1,2:2,3:3}/3'), ('{1:1,2:1,3:1}/3'), (NULL);
CREATE INDEX ON t (val);
SELECT * FROM t WHERE val = '{1:1,2:2,3:3}/3';
SELECT * FROM t ORDER BY val;
SELECT * FROM t WHERE val <= '{1:1,2:1,3:1}/3';
EXPLAIN (COSTS OFF) SELECT * FROM t WHERE val = '{1:1,2:2,3:3}/3';
DROP TABLE t;
RESET enable_seqscan;
-- unique constraints, GROUP BY and DISTINCT use the same ordering
CREATE TABLE t (h halfvec UNIQUE, s sparsevec UNIQUE);
INSERT INTO t VALUES ('[1,2]', '{1:1}/2');
INSERT INTO t VALUES ('[1,2]', '{2:1}/2');
INSERT INTO t VALUES ('[1,2.0001]', '{1:1.0}/2');
SELECT h, count(*) FROM (VALUES ('[1,2]'::halfvec), ('[1,2]'), ('[2,1]')) v(h) GROUP BY h ORDER BY h;
SELECT DISTINCT s FROM (VALUES ('{1:1}/2'::sparsevec), ('{1:1}/2'), ('{}/2')) v(s) ORDER BY s;
DROP TABLE t;
