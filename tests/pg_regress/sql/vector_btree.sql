-- btree operator class: equality lookups and ORDER BY through an index
SET enable_seqscan = off;
CREATE TABLE t (val vector(3));
INSERT INTO t (val) VALUES ('[0,0,0]'), ('[1,2,3]'), ('[1,1,1]'), (NULL);
CREATE INDEX ON t (val);
SELECT * FROM t WHERE val = '[1,2,3]';
SELECT * FROM t ORDER BY val;
EXPLAIN (COSTS OFF) SELECT * FROM t WHERE val = '[1,2,3]';
RESET enable_seqscan;
SELECT DISTINCT val FROM t ORDER BY val;
SELECT val, count(*) FROM (SELECT val FROM t UNION ALL SELECT val FROM t) s GROUP BY val ORDER BY val;
DROP TABLE t;
