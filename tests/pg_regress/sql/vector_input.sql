-- vector text input: accepted forms, output formatting, and every malformed form (pgvector behaviour)
SELECT '[1,2,3]'::vector;
SELECT '[-1,-2,-3]'::vector;
SELECT '[1.,2.,3.]'::vector;
SELECT ' [ 1,  2 ,    3  ] '::vector;
SELECT E'[\t1,\n2\r,3 ]\n'::vector;
SELECT '[1.23456]'::vector;
SELECT '[0.1,1e-5,1e-4,123456,1234567,-0]'::vector;
SELECT '[3.4028235e38,1.17549435e-38,1e-45]'::vector;
-- rejected elements
SELECT '[hello,1]'::vector;
SELECT '[NaN,1]'::vector;
SELECT '[Infinity,1]'::vector;
SELECT '[-Infinity,1]'::vector;
-- range
SELECT '[1.5e38,-1.5e38]'::vector;
SELECT '[1.5e+38,-1.5e+38]'::vector;
SELECT '[1.5e-38,-1.5e-38]'::vector;
SELECT '[4e38,1]'::vector;
SELECT '[-4e38,1]'::vector;
SELECT '[1e-46,1]'::vector;
SELECT '[-1e-46,1]'::vector;
-- malformed
SELECT '[1,2,3'::vector;
SELECT '[1,2,3]9'::vector;
SELECT '1,2,3'::vector;
SELECT ''::vector;
SELECT '['::vector;
SELECT '[ '::vector;
SELECT '[,'::vector;
SELECT '[]'::vector;
SELECT '[ ]'::vector;
SELECT '[,]'::vector;
SELECT '[1,]'::vector;
SELECT '[1a]'::vector;
SELECT '[1,,3]'::vector;
SELECT '[1, ,3]'::vector;
-- type modifiers
SELECT '[1,2,3]'::vector(3);
SELECT '[1,2,3]'::vector(2);
SELECT '[1,2,3]'::vector(3, 2);
SELECT '[1,2,3]'::vector('a');
SELECT '[1,2,3]'::vector(0);
SELECT '[1,2,3]'::vector(16001);
-- arrays of vectors
SELECT unnest('{"[1,2,3]", "[4,5,6]"}'::vector[]);
SELECT '{"[1,2,3]"}'::vector(2)[];
-- typmod enforced on assignment
CREATE TABLE typmod_t (v vector(2));
INSERT INTO typmod_t VALUES ('[1,2]');
INSERT INTO typmod_t VALUES ('[1,2,3]');
UPDATE typmod_t SET v = '[1]';
SELECT * FROM typmod_t;
DROP TABLE typmod_t;
