-- Every user error on bit distances and their hnsw indexes, shown by SQLSTATE only.
\set VERBOSITY sqlstate
SELECT hamming_distance('111', '00');
SELECT hamming_distance('111', '0000'::varbit(4));
SELECT jaccard_distance('1111', '000');
SELECT jaccard_distance('1111', '00000'::varbit(5));
CREATE TABLE t (val varbit(3));
CREATE INDEX ON t USING hnsw (val bit_hamming_ops);
CREATE INDEX ON t USING hnsw ((val::bit(64001)) bit_jaccard_ops);
DROP TABLE t;
CREATE TABLE t (val bit);
CREATE INDEX ON t USING hnsw (val bit_hamming_ops);
DROP TABLE t;
CREATE TABLE t (val bit(3));
INSERT INTO t VALUES (B'101');
CREATE INDEX ON t USING hnsw (val bit_jaccard_ops);
SELECT * FROM t ORDER BY val <%> B'1';
DROP TABLE t;
