-- compare-pgvector: skip
-- Aggregate states with more sums than a vector can hold are refused by the combine function, as
-- pgvector does from 0.8.3 on (0.8.2, the benchmark reference, still accepted them).
SELECT vector_combine('{0}', (SELECT array_agg(n) FROM generate_series(1, 16002) n));
SELECT vector_combine((SELECT array_agg(n) FROM generate_series(1, 16002) n), '{0}');
SELECT vector_combine((SELECT array_agg(n) FROM generate_series(1, 16002) n), (SELECT array_agg(n) FROM generate_series(1, 16002) n));
