-- ivfflat on bit: Hamming distance, NULLs, inserts after build, varbit and expression indexes,
-- dimension limits (pgvector behaviour), exact search with all lists probed.
SET enable_seqscan = off;
-- hamming
CREATE TABLE t (val bit(3));
INSERT INTO t (val) VALUES (B'000'), (B'100'), (B'111'), (NULL);
CREATE INDEX ON t USING ivfflat (val bit_hamming_ops) WITH (lists = 1);
INSERT INTO t (val) VALUES (B'110');
SELECT * FROM t ORDER BY val <~> B'111';
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <~> (SELECT NULL::bit)) t2;
DROP TABLE t;
-- varbit
CREATE TABLE t (val varbit(3));
CREATE INDEX ON t USING ivfflat (val bit_hamming_ops) WITH (lists = 1);
CREATE INDEX ON t USING ivfflat ((val::bit(3)) bit_hamming_ops) WITH (lists = 1);
CREATE INDEX ON t USING ivfflat ((val::bit(64001)) bit_hamming_ops) WITH (lists = 1);
CREATE INDEX ON t USING ivfflat ((val::bit(2)) bit_hamming_ops) WITH (lists = 5);
DROP TABLE t;
-- dimensions
CREATE TABLE t (val bit(64000));
CREATE INDEX ON t USING ivfflat (val bit_hamming_ops);
DROP TABLE t;
CREATE TABLE t (val bit(64001));
CREATE INDEX ON t USING ivfflat (val bit_hamming_ops);
DROP TABLE t;
-- memory
SET maintenance_work_mem = '1MB';
CREATE TABLE t (val bit(64000));
CREATE INDEX ON t USING ivfflat (val bit_hamming_ops);
DROP TABLE t;
RESET maintenance_work_mem;
-- probing every list is exact search; the query must have the index's length
CREATE TABLE t (id int, val bit(16));
INSERT INTO t SELECT i, ((i * 7919) % 65536)::bit(16) FROM generate_series(1, 300) i;
CREATE INDEX ON t USING ivfflat (val bit_hamming_ops) WITH (lists = 4);
SET ivfflat.probes = 4;
SELECT COUNT(*) FROM (SELECT * FROM t ORDER BY val <~> B'1010101010101010') t2;
SELECT val <~> B'1010101010101010' AS d, COUNT(*) FROM (SELECT val FROM t ORDER BY val <~> B'1010101010101010' LIMIT 40) t2 GROUP BY d ORDER BY d;
SELECT * FROM t ORDER BY val <~> B'101';
RESET ivfflat.probes;
DROP TABLE t;
