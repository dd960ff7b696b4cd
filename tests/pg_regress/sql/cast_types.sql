-- casts between vector, halfvec, sparsevec and arrays, with pgvector's checks and cast contexts
-- vector <-> halfvec
SELECT '[1,2,3]'::vector::halfvec;
SELECT '[1,2,3]'::vector::halfvec(3);
SELECT '[1,2,3]'::vector::halfvec(2);
SELECT '[65520]'::vector::halfvec;
SELECT '[1e-8]'::vector::halfvec;
SELECT '[1.234567,-0.1,3e-5]'::vector::halfvec;
SELECT '[1,2,3]'::halfvec::vector;
SELECT '[1,2,3]'::halfvec::vector(3);
SELECT '[1,2,3]'::halfvec::vector(2);
SELECT '[0.1,65504]'::halfvec::vector;
-- arrays -> halfvec
SELECT ARRAY[1,2,3]::halfvec;
SELECT ARRAY[1.0,2.0,3.0]::halfvec;
SELECT ARRAY[1,2,3]::float4[]::halfvec;
SELECT ARRAY[1,2,3]::float8[]::halfvec;
SELECT ARRAY[1,2,3]::numeric[]::halfvec;
SELECT '{1,2,3}'::real[]::halfvec;
SELECT '{1,2,3}'::real[]::halfvec(3);
SELECT '{1,2,3}'::real[]::halfvec(2);
SELECT '{65520,-65520}'::real[]::halfvec;
SELECT '{1e-8,-1e-8}'::real[]::halfvec;
SELECT '{NULL}'::real[]::halfvec;
SELECT '{NaN}'::real[]::halfvec;
SELECT '{Infinity}'::real[]::halfvec;
SELECT '{-Infinity}'::real[]::halfvec;
SELECT '{}'::real[]::halfvec;
SELECT '{{1}}'::real[]::halfvec;
SELECT '{4e38,-4e38}'::double precision[]::halfvec;
SELECT '{1,2}'::text[]::halfvec;
SELECT array_agg(n)::halfvec FROM generate_series(1, 16001) n;
SELECT vector_dims(array_agg(n)::halfvec) FROM generate_series(1, 16000) n;
-- halfvec -> real[]
SELECT '[1,2,3]'::halfvec::real[];
SELECT '[0.1,-65504]'::halfvec::real[];
-- vector <-> sparsevec
SELECT '[0,1.5,0,3.5,0]'::vector::sparsevec;
SELECT '[0,1.5,0,3.5,0]'::vector::sparsevec(5);
SELECT '[0,1.5,0,3.5,0]'::vector::sparsevec(4);
SELECT '[0,0]'::vector::sparsevec;
SELECT '{2:1.5,4:3.5}/5'::sparsevec::vector;
SELECT '{2:1.5,4:3.5}/5'::sparsevec::vector(5);
SELECT '{2:1.5,4:3.5}/5'::sparsevec::vector(4);
SELECT '{}/16001'::sparsevec::vector;
SELECT '{}/3'::sparsevec::vector;
-- halfvec <-> sparsevec
SELECT '[0,1.5,0,3.5,0]'::halfvec::sparsevec;
SELECT '[0,1.5,0,3.5,0]'::halfvec::sparsevec(5);
SELECT '[0,1.5,0,3.5,0]'::halfvec::sparsevec(4);
SELECT '{2:1.5,4:3.5}/5'::sparsevec::halfvec;
SELECT '{2:1.5,4:3.5}/5'::sparsevec::halfvec(5);
SELECT '{2:1.5,4:3.5}/5'::sparsevec::halfvec(4);
SELECT '{}/16001'::sparsevec::halfvec;
SELECT '{1:65520}/1'::sparsevec::halfvec;
SELECT '{1:1e-8}/1'::sparsevec::halfvec;
-- arrays -> sparsevec
SELECT ARRAY[1,0,2,0,3,0]::sparsevec;
SELECT ARRAY[1.0,0.0,2.0,0.0,3.0,0.0]::sparsevec;
SELECT ARRAY[1,0,2,0,3,0]::float4[]::sparsevec;
SELECT ARRAY[1,0,2,0,3,0]::float8[]::sparsevec;
SELECT ARRAY[1,0,2,0,3,0]::numeric[]::sparsevec;
SELECT '{1,0,2,0,3,0}'::real[]::sparsevec;
SELECT '{1,0,2,0,3,0}'::real[]::sparsevec(6);
SELECT '{1,0,2,0,3,0}'::real[]::sparsevec(5);
SELECT '{NULL}'::real[]::sparsevec;
SELECT '{NaN}'::real[]::sparsevec;
SELECT '{Infinity}'::real[]::sparsevec;
SELECT '{-Infinity}'::real[]::sparsevec;
SELECT '{}'::real[]::sparsevec;
SELECT '{{1}}'::real[]::sparsevec;
SELECT '{0,0,0}'::real[]::sparsevec;
-- cast contexts: implicit (vector -> halfvec, vector/halfvec -> sparsevec), assignment (the others)
SELECT castsource::regtype, casttarget::regtype, castcontext FROM pg_cast
WHERE castsource IN ('vector'::regtype, 'halfvec'::regtype, 'sparsevec'::regtype)
   OR casttarget IN ('halfvec'::regtype, 'sparsevec'::regtype)
ORDER BY castsource::regtype::text, casttarget::regtype::text;
CREATE TABLE t (h halfvec(3), s sparsevec(3), v vector(3));
INSERT INTO t (h, s, v) VALUES ('[1,0,2]'::vector, '[1,0,2]'::vector, '{1:1,3:2}/3'::sparsevec);
INSERT INTO t (h, s, v) VALUES (ARRAY[1,0,2], ARRAY[1,0,2], '[1,0,2]'::halfvec);
INSERT INTO t (h, s) VALUES ('{1:1,3:2}/3'::sparsevec, '[1,0,2]'::halfvec);
INSERT INTO t (v) VALUES ('[1,0,2]'::halfvec::real[]);
SELECT * FROM t;
SELECT h::real[] FROM t LIMIT 1;
UPDATE t SET h = '[1,2]'::vector;
DROP TABLE t;
-- ensure no error
SELECT ARRAY[1,2,3] = ARRAY[1,2,3];
