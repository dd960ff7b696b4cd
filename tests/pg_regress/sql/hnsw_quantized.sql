-- compare-pgvector: skip
-- hnsw WITH (quantization = 'sq8'): each element keeps an 8-bit code of its vector instead of the
-- vector; the scan returns rows in the order of a lower bound of their distance, and the executor
-- re-ranks them by the exact distance from the table, so rows come back in exact distance order.
SET max_parallel_maintenance_workers = 0;
-- Uniform random vectors: distances lie close together, so an order by estimates alone would show.
CREATE TABLE qz (id int PRIMARY KEY, cat int, v vector(384), h halfvec(384));
INSERT INTO qz SELECT i, i % 10, v, v::halfvec
FROM (SELECT i, (SELECT array_agg(((hashint8(i::bigint * 100003 + j) & 2147483647) % 100000) / 100000.0 - 0.5)
                 FROM generate_series(1, 384) j)::vector v FROM generate_series(1, 3000) i) s;
CREATE TABLE qzq (q int, v vector(384));
INSERT INTO qzq SELECT q, (SELECT array_agg(((hashint8(-q::bigint * 100003 - j) & 2147483647) % 100000) / 100000.0 - 0.5)
                 FROM generate_series(1, 384) j)::vector FROM generate_series(1, 20) q;
CREATE INDEX qz_l2 ON qz USING hnsw (v vector_l2_ops) WITH (quantization = 'sq8');
CREATE INDEX qz_plain ON qz USING hnsw (v vector_l2_ops);
-- Well under half of the plain index's size (the code is 408 bytes against the vector's 1536; the
-- neighbour lists are the same).
SELECT pg_relation_size('qz_l2')::float8 / pg_relation_size('qz_plain') < 0.45 AS smaller;
DROP INDEX qz_plain;
SELECT reloptions FROM pg_class WHERE relname = 'qz_l2';
SET enable_seqscan = off;
PREPARE qz_top(vector) AS SELECT id FROM qz ORDER BY v <-> $1 LIMIT 10;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE qz_top(NULL);
RESET plan_cache_mode;
DEALLOCATE qz_top;
-- For each query vector: whether the index's top k equals exact search's (index scans off), and
-- how many rows came back closer than the row before them (0: exact order). `expr` is the
-- ORDER BY expression over the column `v` or `h` and the query `$1`.
CREATE FUNCTION qz_compare(expr text, k int, cond text DEFAULT 'true', OUT queries int, OUT differ int, OUT inversions int, OUT short int)
LANGUAGE plpgsql AS $$
DECLARE q record; got int[]; exact int[]; d float8[]; stmt text;
BEGIN
    queries := 0; differ := 0; inversions := 0; short := 0;
    stmt := format('SELECT array_agg(id ORDER BY n), array_agg(d ORDER BY n) FROM (SELECT id, %s AS d, row_number() OVER () n
                    FROM (SELECT id FROM qz WHERE %s ORDER BY %s LIMIT %s) s0 JOIN qz USING (id)) s', expr, cond, expr, k);
    FOR q IN SELECT * FROM qzq ORDER BY qzq.q LOOP
        PERFORM set_config('enable_indexscan', 'off', true);
        PERFORM set_config('enable_seqscan', 'on', true);
        EXECUTE stmt INTO exact USING q.v;
        PERFORM set_config('enable_indexscan', 'on', true);
        PERFORM set_config('enable_seqscan', 'off', true);
        EXECUTE stmt INTO got, d USING q.v;
        queries := queries + 1;
        IF got IS DISTINCT FROM exact THEN differ := differ + 1; END IF;
        IF coalesce(cardinality(got), 0) < k THEN short := short + 1; END IF;
        inversions := inversions + (SELECT count(*) FROM generate_series(2, coalesce(cardinality(d), 0)) i WHERE d[i] < d[i - 1]);
    END LOOP;
END $$;
-- At the default ef_search: exact order and full answers (which rows the graph search finds is
-- approximate).
SET hnsw.ef_search = 40;
SELECT queries, inversions, short FROM qz_compare('v <-> $1', 30);
-- ef_search 1000 reaches every row of this table: the exact top 10, in order.
SET hnsw.ef_search = 1000;
SELECT * FROM qz_compare('v <-> $1', 10);
-- Other distances and halfvec.
CREATE INDEX qz_ip ON qz USING hnsw (v vector_ip_ops) WITH (quantization = 'sq8');
SELECT * FROM qz_compare('v <#> $1', 10);
CREATE INDEX qz_cos ON qz USING hnsw (v vector_cosine_ops) WITH (quantization = 'sq8');
SELECT * FROM qz_compare('v <=> $1', 10);
CREATE INDEX qz_h ON qz USING hnsw (h halfvec_l2_ops) WITH (quantization = 'sq8');
SELECT * FROM qz_compare('h <-> $1::halfvec', 10);
CREATE INDEX qz_hcos ON qz USING hnsw (h halfvec_cosine_ops) WITH (quantization = 'sq8');
SELECT * FROM qz_compare('h <=> $1::halfvec', 10);
DROP INDEX qz_ip, qz_cos, qz_h, qz_hcos;
-- quantization = 'sq4': 4 bits per dimension, the same exact order (the executor re-ranks).
CREATE INDEX qz_sq4 ON qz USING hnsw (v vector_l2_ops) WITH (quantization = 'sq4');
SELECT pg_relation_size('qz_sq4') < pg_relation_size('qz_l2') AS smaller_than_sq8;
SELECT * FROM qz_compare('v <-> $1', 10);
CREATE INDEX qz_h4 ON qz USING hnsw (h halfvec_cosine_ops) WITH (quantization = 'sq4');
SELECT * FROM qz_compare('h <=> $1::halfvec', 10);
SELECT semvec_index_check('qz_sq4')->'ok' AS ok, semvec_index_check('qz_h4')->'ok' AS ok;
DROP INDEX qz_sq4, qz_h4;
-- Filtered (the filter is the executor's), iterative: full answers; exact order in strict_order
-- (relaxed_order allows rows of a later round to come closer, as in pgvector).
SET hnsw.ef_search = 40;
SET hnsw.iterative_scan = relaxed_order;
SELECT queries, short FROM qz_compare('v <-> $1', 10, 'cat = 3');
SET hnsw.iterative_scan = strict_order;
SELECT queries, inversions, short FROM qz_compare('v <-> $1', 10, 'cat = 3');
-- With ef_search 1000 every row is a candidate: the exact filtered top 10.
SET hnsw.ef_search = 1000;
SELECT * FROM qz_compare('v <-> $1', 10, 'cat = 3');
RESET hnsw.iterative_scan;
-- A filter key with key_vectors: the posting lists keep the codes, a selective filter ranks the
-- matching rows' codes (no graph walk) and the executor re-ranks them: the exact filtered top 10.
CREATE INDEX qz_kv ON qz USING hnsw (v vector_l2_ops, cat) WITH (quantization = 'sq8', key_vectors = on);
SET hnsw.ef_search = 40;
PREPARE qz_kv_top(vector) AS SELECT id FROM qz WHERE cat = 3 ORDER BY v <-> $1 LIMIT 10;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE qz_kv_top(NULL);
RESET plan_cache_mode;
DEALLOCATE qz_kv_top;
SELECT * FROM qz_compare('v <-> $1', 10, 'cat = 3');
-- IN on the key, with the plain index qz_l2 on the same column present: the keyed path is
-- still built (PostgreSQL 15 and 16 build none themselves; semvec adds it even where the planner
-- kept only qz_l2's cheaper unconditioned path) and wins once ef_search makes the graph dearer.
SET hnsw.ef_search = 100;
PREPARE qz_kv_in(vector) AS SELECT id FROM qz WHERE cat IN (3, 4) ORDER BY v <-> $1 LIMIT 10;
SET plan_cache_mode = force_generic_plan;
EXPLAIN (COSTS OFF) EXECUTE qz_kv_in(NULL);
RESET plan_cache_mode;
DEALLOCATE qz_kv_in;
SELECT * FROM qz_compare('v <-> $1', 10, 'cat IN (3, 4)');
SET hnsw.ef_search = 40;
SELECT semvec_index_check('qz_kv')->'ok' AS ok, semvec_index_check('qz_kv')->'warnings'->'key_vectors' AS key_vectors;
DROP INDEX qz_kv;
-- Inserts, deletes and VACUUM keep the codes and the graph valid.
INSERT INTO qz SELECT i, i % 10, v, v::halfvec
FROM (SELECT i, (SELECT array_agg(((hashint8(i::bigint * 100003 + j) & 2147483647) % 100000) / 100000.0 - 0.5)
                 FROM generate_series(1, 384) j)::vector v FROM generate_series(3001, 3500) i) s;
DELETE FROM qz WHERE id % 7 = 0;
VACUUM qz;
SELECT r->'ok' AS ok, r->'problems' AS problems, r->'unindexed_rows' AS unindexed, r->'mismatched_rows' AS mismatched,
       r->'live_elements' AS live, r->'warnings'->'unreachable_live_elements' AS unreachable
FROM (SELECT semvec_index_check('qz_l2') r) s;
SET hnsw.ef_search = 1000;
SELECT * FROM qz_compare('v <-> $1', 10);
-- The meta page keeps the quantization: ALTER INDEX cannot change what the pages hold.
ALTER INDEX qz_l2 SET (quantization = 'none');
SELECT * FROM qz_compare('v <-> $1', 10);
SELECT semvec_index_check('qz_l2')->'ok' AS ok;
RESET hnsw.ef_search;
RESET enable_seqscan;
-- More than 2000 dimensions: 3072 (OpenAI's text-embedding-3-large) with the default settings.
CREATE TABLE qbig (id int PRIMARY KEY, v vector(3072));
INSERT INTO qbig SELECT i, (SELECT array_agg(((hashint8(i::bigint * 7919 + j) & 2147483647) % 100000) / 100000.0 - 0.5)
                 FROM generate_series(1, 3072) j)::vector FROM generate_series(1, 300) i;
CREATE INDEX qbig_plain ON qbig USING hnsw (v vector_cosine_ops);
CREATE INDEX qbig_idx ON qbig USING hnsw (v vector_cosine_ops) WITH (quantization = 'sq8');
SET enable_seqscan = off;
SELECT array_agg(id) = (SELECT array_agg(id) FROM (SELECT id FROM qbig ORDER BY (v <=> (SELECT v FROM qbig WHERE id = 5)) + 0 LIMIT 5) e) AS same_as_exact,
       (array_agg(id))[1] = 5 AS self_first
FROM (SELECT id FROM qbig ORDER BY v <=> (SELECT v FROM qbig WHERE id = 5) LIMIT 5) s;
RESET enable_seqscan;
SELECT semvec_index_check('qbig_idx')->'ok' AS ok;
CREATE TABLE qbig_h (id int, v halfvec(4000));
CREATE INDEX ON qbig_h USING hnsw (v halfvec_l2_ops) WITH (quantization = 'sq8');
-- 16000 dimensions (pgvector's vector limit): too many for SQ8's code, SQ4's fits.
CREATE TABLE qhuge (id int PRIMARY KEY, v vector(16000), h halfvec(16000));
INSERT INTO qhuge SELECT i, v, v FROM (SELECT i, (SELECT array_agg(((hashint8(i::bigint * 7919 + j) & 2147483647) % 100000) / 100000.0 - 0.5)
                 FROM generate_series(1, 16000) j)::vector v FROM generate_series(1, 40) i) s;
CREATE INDEX ON qhuge USING hnsw (v vector_l2_ops) WITH (quantization = 'sq8');
CREATE INDEX qhuge_v ON qhuge USING hnsw (v vector_cosine_ops) WITH (quantization = 'sq4');
CREATE INDEX qhuge_h ON qhuge USING hnsw (h halfvec_l2_ops) WITH (quantization = 'sq4');
SET enable_seqscan = off;
SELECT array_agg(id) = (SELECT array_agg(id) FROM (SELECT id FROM qhuge ORDER BY (v <=> (SELECT v FROM qhuge WHERE id = 7)) + 0 LIMIT 5) e) AS same_as_exact,
       (array_agg(id))[1] = 7 AS self_first
FROM (SELECT id FROM qhuge ORDER BY v <=> (SELECT v FROM qhuge WHERE id = 7) LIMIT 5) s;
SELECT array_agg(id) = (SELECT array_agg(id) FROM (SELECT id FROM qhuge ORDER BY (h <-> (SELECT h FROM qhuge WHERE id = 9)) + 0 LIMIT 5) e) AS same_as_exact
FROM (SELECT id FROM qhuge ORDER BY h <-> (SELECT h FROM qhuge WHERE id = 9) LIMIT 5) s;
RESET enable_seqscan;
SELECT semvec_index_check('qhuge_v')->'ok' AS ok, semvec_index_check('qhuge_h')->'ok' AS ok;
-- Refused: other types and distances, unknown values.
CREATE TABLE qother (b bit(64), s sparsevec(100), v vector(3));
CREATE INDEX ON qother USING hnsw (b bit_hamming_ops) WITH (quantization = 'sq8');
CREATE INDEX ON qother USING hnsw (s sparsevec_l2_ops) WITH (quantization = 'sq8');
CREATE INDEX ON qother USING hnsw (v vector_l1_ops) WITH (quantization = 'sq8');
CREATE INDEX ON qother USING hnsw (v vector_l2_ops) WITH (quantization = 'rabbit');
CREATE TABLE qone (v vector(1));
CREATE INDEX ON qone USING hnsw (v vector_l2_ops) WITH (quantization = 'sq4');
CREATE INDEX ON qone USING hnsw (v vector_l2_ops) WITH (quantization = 'sq8');
DROP TABLE qone;
CREATE INDEX ON qother USING hnsw (v vector_l2_ops) WITH (quantization = 'none');
DROP TABLE qz, qzq, qbig, qbig_h, qhuge, qother;
DROP FUNCTION qz_compare;
