-- compare-pgvector: skip
-- Casts to sparsevec refuse more than 16000 non-zero elements, as pgvector does from 0.8.3 on
-- (0.8.2, the benchmark reference, still built such values from arrays; its binary input and text
-- input already refused them).
SELECT array_agg(n)::sparsevec FROM generate_series(1, 16001) n;
SELECT l2_norm(array_agg(n)::sparsevec) = vector_norm(array_agg(n)::vector) FROM generate_series(1, 16000) n;
SELECT l2_norm(array_agg(n % 2)::sparsevec) FROM generate_series(1, 32002) n;
