\pset footer off
DROP EXTENSION IF EXISTS semvec CASCADE;
CREATE EXTENSION semvec;
SELECT extversion AS semvec_version FROM pg_extension WHERE extname = 'semvec';

\echo '--- vectors, pgvector style'
CREATE TABLE items (id bigserial PRIMARY KEY, name text, embedding vector(3));
INSERT INTO items (name, embedding) VALUES
    ('apple',  '[1,2,3]'), ('banana', '[4,5,6]'), ('cherry', '[1,2,4]'),
    ('durian', '[9,8,7]'), ('elder',  '[0.5,1.5,2.5]');

\echo '--- nearest neighbours of [1,2,3] by each distance'
SELECT name, embedding,
       round((embedding <-> '[1,2,3]')::numeric, 4) AS l2,
       round((embedding <=> '[1,2,3]')::numeric, 4) AS cosine,
       round((embedding <#> '[1,2,3]')::numeric, 4) AS neg_inner,
       round((embedding <+> '[1,2,3]')::numeric, 4) AS l1
FROM items ORDER BY embedding <-> '[1,2,3]' LIMIT 5;

\echo '--- functions and aggregates'
SELECT avg(embedding) AS avg, sum(embedding) AS sum FROM items;
SELECT l2_normalize('[3,4]'::vector) AS normalized, vector_norm('[3,4]') AS norm,
       subvector('[1,2,3,4]'::vector, 2, 2) AS sub, binary_quantize('[1,-1,2,-2]'::vector) AS bits;
