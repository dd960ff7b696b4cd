-- binary quantization with re-ranking (pgvector's documented pattern): an hnsw expression index on
-- binary_quantize(embedding)::bit(n) finds candidates by Hamming distance, the exact distance on the
-- full vectors orders them; also with a half-precision expression index
CREATE TABLE items (id int PRIMARY KEY, embedding vector(64));
INSERT INTO items
SELECT i, ARRAY(SELECT sin(i * 0.37 + j * 1.91) + cos(i * j * 0.013) FROM generate_series(1, 64) j)::vector(64)
FROM generate_series(1, 300) i;
CREATE INDEX ON items USING hnsw ((binary_quantize(embedding)::bit(64)) bit_hamming_ops);
CREATE INDEX ON items USING hnsw ((embedding::halfvec(64)) halfvec_cosine_ops);
CREATE TABLE queries AS SELECT id, embedding FROM items WHERE id % 60 = 7;
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
SELECT id FROM (
    SELECT id, embedding FROM items
    ORDER BY binary_quantize(embedding)::bit(64) <~> binary_quantize('[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64]'::vector(64))
    LIMIT 20
) candidates ORDER BY embedding <=> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64]' LIMIT 5;
EXPLAIN (COSTS OFF)
SELECT id FROM items ORDER BY embedding::halfvec(64) <=> '[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,64]'::halfvec(64) LIMIT 5;
-- re-ranked top 5 of a generous candidate pool equal the exact top 5 (for each query)
SET hnsw.ef_search = 100;
SELECT q.id,
       (SELECT array_agg(id ORDER BY id) FROM (
            SELECT id FROM (
                SELECT id, embedding FROM items
                ORDER BY binary_quantize(embedding)::bit(64) <~> binary_quantize(q.embedding)
                LIMIT 100
            ) candidates ORDER BY embedding <=> q.embedding LIMIT 5) r)
     = (SELECT array_agg(id ORDER BY id) FROM (
            SELECT id FROM items ORDER BY (embedding <=> q.embedding) + 0 LIMIT 5) e) AS rerank_exact
FROM queries q ORDER BY q.id;
-- the half-precision index returns the exact top 5 as well
SELECT q.id,
       (SELECT array_agg(id ORDER BY id) FROM (
            SELECT id FROM items ORDER BY embedding::halfvec(64) <=> q.embedding::halfvec(64) LIMIT 5) r)
     = (SELECT array_agg(id ORDER BY id) FROM (
            SELECT id FROM items ORDER BY (embedding <=> q.embedding) + 0 LIMIT 5) e) AS halfvec_exact
FROM queries q ORDER BY q.id;
-- the query itself is its own nearest neighbour through the quantized index
SELECT q.id, (SELECT id FROM items ORDER BY binary_quantize(embedding)::bit(64) <~> binary_quantize(q.embedding) LIMIT 1) = q.id AS found
FROM queries q ORDER BY q.id;
RESET hnsw.ef_search;
RESET enable_seqscan;
DROP TABLE items, queries;
