-- binary COPY round trip in pgvector's wire layout
CREATE TABLE t (val vector(3));
INSERT INTO t (val) VALUES ('[0,0,0]'), ('[1,2,3]'), ('[1,1,1]'), (NULL), ('[1.5e-07,-3.4028235e+38,0.1]');
CREATE TABLE t2 (val vector(3));
\copy t TO 'results/vector.bin' WITH (FORMAT binary)
\copy t2 FROM 'results/vector.bin' WITH (FORMAT binary)
SELECT * FROM t2 ORDER BY val;
SELECT count(*) FROM t JOIN t2 USING (val);
-- the wire bytes: int16 dim, int16 unused, big-endian float4 values
SELECT encode(vector_send('[1,-2,0.5]'), 'hex');
-- a binary file with the wrong dimension count for the column is refused
CREATE TABLE t3 (val vector(2));
\copy t3 FROM 'results/vector.bin' WITH (FORMAT binary)
DROP TABLE t, t2, t3;
