-- Every user error on vector, shown by SQLSTATE only, so codes are compared, not just messages.
\set VERBOSITY sqlstate
SELECT '[hello,1]'::vector;
SELECT '[1,2,3'::vector;
SELECT '[1,2,3]9'::vector;
SELECT ''::vector;
SELECT '[1,,3]'::vector;
SELECT '[]'::vector;
SELECT '[NaN,1]'::vector;
SELECT '[Infinity,1]'::vector;
SELECT '[4e38,1]'::vector;
SELECT '[1,2,3]'::vector(2);
SELECT '[1,2,3]'::vector(3, 2);
SELECT '[1,2,3]'::vector(0);
SELECT '[1,2,3]'::vector(16001);
SELECT '[1,2]'::vector + '[3]';
SELECT '[3e38]'::vector + '[3e38]';
SELECT '[1e-37]'::vector * '[1e-37]';
SELECT array_fill(0, ARRAY[16000])::vector || '[1]';
SELECT '[1,2]'::vector <-> '[3]';
SELECT '[1,2]'::vector <#> '[3]';
SELECT '[1,2]'::vector <=> '[3]';
SELECT '[1,2]'::vector <+> '[3]';
SELECT '{NULL}'::real[]::vector;
SELECT '{NaN}'::real[]::vector;
SELECT '{}'::real[]::vector;
SELECT '{{1}}'::real[]::vector;
SELECT '{4e38,-4e38}'::double precision[]::vector;
SELECT array_agg(n)::vector FROM generate_series(1, 16001) n;
SELECT subvector('[1,2,3,4,5]'::vector, 1, 0);
SELECT avg(v) FROM unnest(ARRAY['[1,2]'::vector, '[3]']) v;
SELECT avg(v) FROM unnest(ARRAY['[3e38]'::vector, '[3e38]']) v;
SELECT sum(v) FROM unnest(ARRAY['[3e38]'::vector, '[3e38]']) v;
\set VERBOSITY default
