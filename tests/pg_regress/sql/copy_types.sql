-- binary COPY round trips of halfvec and sparsevec in pgvector's wire layout
CREATE TABLE t (val halfvec(3));
INSERT INTO t (val) VALUES ('[0,0,0]'), ('[1,2,3]'), ('[1,1,1]'), (NULL), ('[65504,-0.1,6e-8]');
CREATE TABLE t2 (val halfvec(3));
\copy t TO 'results/halfvec.bin' WITH (FORMAT binary)
\copy t2 FROM 'results/halfvec.bin' WITH (FORMAT binary)
SELECT * FROM t2 ORDER BY val;
CREATE TABLE t3 (val halfvec(2));
\copy t3 FROM 'results/halfvec.bin' WITH (FORMAT binary)
DROP TABLE t;
DROP TABLE t2;
DROP TABLE t3;
CREATE TABLE t (val sparsevec(3));
INSERT INTO t (val) VALUES ('{}/3'), ('{1:1,2:2,3:3}/3'), ('{1:1,2:1,3:1}/3'), (NULL), ('{2:-1.5e-38}/3');
CREATE TABLE t2 (val sparsevec(3));
\copy t TO 'results/sparsevec.bin' WITH (FORMAT binary)
\copy t2 FROM 'results/sparsevec.bin' WITH (FORMAT binary)
SELECT * FROM t2 ORDER BY val;
CREATE TABLE t3 (val sparsevec(4));
\copy t3 FROM 'results/sparsevec.bin' WITH (FORMAT binary)
DROP TABLE t;
DROP TABLE t2;
DROP TABLE t3;
-- the receive functions' checks, on hand-made fields: COPY a bytea column out in binary format, then
-- read the file into a halfvec or sparsevec column (binary COPY hands each field to the receive function)
CREATE TABLE raw (b bytea);
CREATE TABLE th (val halfvec);
CREATE TABLE ts (val sparsevec);
-- halfvec: one element 1.0
TRUNCATE raw; INSERT INTO raw VALUES ('\x000100003c00');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy th FROM 'results/raw.bin' WITH (FORMAT binary)
-- halfvec: negative zero and the largest half
TRUNCATE raw; INSERT INTO raw VALUES ('\x0002000080007bff');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy th FROM 'results/raw.bin' WITH (FORMAT binary)
-- halfvec: no dimensions
TRUNCATE raw; INSERT INTO raw VALUES ('\x00000000');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy th FROM 'results/raw.bin' WITH (FORMAT binary)
-- halfvec: negative dimensions
TRUNCATE raw; INSERT INTO raw VALUES ('\xffff0000');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy th FROM 'results/raw.bin' WITH (FORMAT binary)
-- halfvec: 16001 dimensions
TRUNCATE raw; INSERT INTO raw VALUES ('\x3e810000');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy th FROM 'results/raw.bin' WITH (FORMAT binary)
-- halfvec: unused not zero
TRUNCATE raw; INSERT INTO raw VALUES ('\x000100013c00');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy th FROM 'results/raw.bin' WITH (FORMAT binary)
-- halfvec: NaN
TRUNCATE raw; INSERT INTO raw VALUES ('\x000100007e00');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy th FROM 'results/raw.bin' WITH (FORMAT binary)
-- halfvec: infinity
TRUNCATE raw; INSERT INTO raw VALUES ('\x00010000fc00');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy th FROM 'results/raw.bin' WITH (FORMAT binary)
-- halfvec: a missing element
TRUNCATE raw; INSERT INTO raw VALUES ('\x000200003c00');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy th FROM 'results/raw.bin' WITH (FORMAT binary)
-- halfvec: a byte too many
TRUNCATE raw; INSERT INTO raw VALUES ('\x000100003c0000');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy th FROM 'results/raw.bin' WITH (FORMAT binary)
-- sparsevec: two elements
TRUNCATE raw; INSERT INTO raw VALUES ('\x00000005000000020000000000000000000000033fc00000c0000000');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy ts FROM 'results/raw.bin' WITH (FORMAT binary)
-- sparsevec: no elements
TRUNCATE raw; INSERT INTO raw VALUES ('\x000000070000000000000000');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy ts FROM 'results/raw.bin' WITH (FORMAT binary)
-- sparsevec: no dimensions
TRUNCATE raw; INSERT INTO raw VALUES ('\x000000000000000000000000');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy ts FROM 'results/raw.bin' WITH (FORMAT binary)
-- sparsevec: negative element count
TRUNCATE raw; INSERT INTO raw VALUES ('\x00000005ffffffff00000000');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy ts FROM 'results/raw.bin' WITH (FORMAT binary)
-- sparsevec: more elements than dimensions
TRUNCATE raw; INSERT INTO raw VALUES ('\x000000010000000200000000');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy ts FROM 'results/raw.bin' WITH (FORMAT binary)
-- sparsevec: 16001 elements
TRUNCATE raw; INSERT INTO raw VALUES ('\x0010000000003e8100000000');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy ts FROM 'results/raw.bin' WITH (FORMAT binary)
-- sparsevec: unused not zero
TRUNCATE raw; INSERT INTO raw VALUES ('\x000000050000000000000001');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy ts FROM 'results/raw.bin' WITH (FORMAT binary)
-- sparsevec: indices out of order
TRUNCATE raw; INSERT INTO raw VALUES ('\x00000005000000020000000000000003000000013f8000003f800000');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy ts FROM 'results/raw.bin' WITH (FORMAT binary)
-- sparsevec: duplicate indices
TRUNCATE raw; INSERT INTO raw VALUES ('\x00000005000000020000000000000003000000033f8000003f800000');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy ts FROM 'results/raw.bin' WITH (FORMAT binary)
-- sparsevec: index out of bounds
TRUNCATE raw; INSERT INTO raw VALUES ('\x000000050000000100000000000000053f800000');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy ts FROM 'results/raw.bin' WITH (FORMAT binary)
-- sparsevec: negative index
TRUNCATE raw; INSERT INTO raw VALUES ('\x000000050000000100000000ffffffff3f800000');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy ts FROM 'results/raw.bin' WITH (FORMAT binary)
-- sparsevec: a zero value
TRUNCATE raw; INSERT INTO raw VALUES ('\x0000000500000001000000000000000100000000');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy ts FROM 'results/raw.bin' WITH (FORMAT binary)
-- sparsevec: NaN
TRUNCATE raw; INSERT INTO raw VALUES ('\x000000050000000100000000000000017fc00000');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy ts FROM 'results/raw.bin' WITH (FORMAT binary)
-- sparsevec: infinity
TRUNCATE raw; INSERT INTO raw VALUES ('\x00000005000000010000000000000001ff800000');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy ts FROM 'results/raw.bin' WITH (FORMAT binary)
-- sparsevec: a missing value
TRUNCATE raw; INSERT INTO raw VALUES ('\x00000005000000010000000000000001');
\copy raw TO 'results/raw.bin' WITH (FORMAT binary)
\copy ts FROM 'results/raw.bin' WITH (FORMAT binary)
SELECT * FROM th;
SELECT * FROM ts;
DROP TABLE raw, th, ts;
