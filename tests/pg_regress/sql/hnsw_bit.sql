-- hnsw on bit: Hamming and Jaccard operator classes, NULLs, inserts after build, varbit columns,
-- length limits (pgvector behaviour)
SET enable_seqscan = off;
-- hamming
CREATE TABLE t (val bit(3));
INSERT INTO t (val) VALUES (B'000'), (B'100'), (B'111'), (NULL);
CREATE INDEX ON t USING hnsw (val bit_hamming_ops);
INSERT INTO t (val) VALUES (B'110');
SELECT * FROM t ORDER BY val <~> B'111';
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <~> (SELECT NULL::bit)) t2;
SELECT val <~> B'011' FROM t ORDER BY val <~> B'011' LIMIT 3;
TRUNCATE t;
SELECT * FROM t ORDER BY val <~> B'111';
DROP TABLE t;
-- jaccard
CREATE TABLE t (val bit(4));
INSERT INTO t (val) VALUES (B'0000'), (B'1100'), (B'1111'), (NULL);
CREATE INDEX ON t USING hnsw (val bit_jaccard_ops);
INSERT INTO t (val) VALUES (B'1110');
SELECT * FROM t ORDER BY val <%> B'1111';
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <%> (SELECT NULL::bit)) t2;
DROP TABLE t;
-- deletes and VACUUM: deleted rows are gone, the rest are still found
CREATE TABLE t (id int, val bit(16));
INSERT INTO t SELECT i, i::bit(16) FROM generate_series(0, 299) i;
CREATE INDEX ON t USING hnsw (val bit_hamming_ops);
DELETE FROM t WHERE id % 4 = 0;
VACUUM t;
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <~> B'0000000011111111' LIMIT 1000) t2;
SELECT val <~> B'0000000000001100' FROM t ORDER BY val <~> B'0000000000001100' LIMIT 4;
DROP TABLE t;
-- a query of another length than the column
CREATE TABLE t (val bit(3));
INSERT INTO t (val) VALUES (B'000'), (B'100');
CREATE INDEX ON t USING hnsw (val bit_hamming_ops);
SELECT * FROM t ORDER BY val <~> B'1111';
TRUNCATE t;
SELECT * FROM t ORDER BY val <~> B'1111';
DROP TABLE t;
-- varbit
CREATE TABLE t (val varbit(3));
CREATE INDEX ON t USING hnsw (val bit_hamming_ops);
CREATE INDEX ON t USING hnsw ((val::bit(3)) bit_hamming_ops);
CREATE INDEX ON t USING hnsw ((val::bit(64001)) bit_hamming_ops);
INSERT INTO t (val) VALUES (B'101'), (B'1'), (B'010');
SELECT val FROM t ORDER BY val::bit(3) <~> B'100';
DROP TABLE t;
CREATE TABLE t (val bit);
CREATE INDEX ON t USING hnsw (val bit_hamming_ops);
DROP TABLE t;
-- dimensions
CREATE TABLE t (val bit(64000));
CREATE INDEX ON t USING hnsw (val bit_hamming_ops);
INSERT INTO t (val) SELECT (repeat('1', i) || repeat('0', 64000 - i))::bit(64000) FROM generate_series(1000, 3000, 1000) i;
SELECT length(replace(val::text, '0', '')) FROM t ORDER BY val <~> (repeat('1', 2100) || repeat('0', 61900))::bit(64000);
DROP TABLE t;
CREATE TABLE t (val bit(64001));
CREATE INDEX ON t USING hnsw (val bit_hamming_ops);
DROP TABLE t;
SELECT opcname FROM pg_opclass JOIN pg_am am ON am.oid = opcmethod
WHERE amname = 'hnsw' AND opcintype = 'bit'::regtype ORDER BY opcname;
