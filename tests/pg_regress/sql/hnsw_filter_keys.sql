-- compare-pgvector: skip
-- hnsw indexes with filter key columns: USING hnsw (embedding opclass, key, ...). Conditions on the
-- keys (=, IN / = ANY, && on arrays) are applied inside the index search, so a selective filter
-- never comes back short, even with hnsw.iterative_scan off; results equal exact filtered search.
SET max_parallel_maintenance_workers = 0;
CREATE TABLE fk (id int PRIMARY KEY, tenant int, big bigint, lang text, labels int[], tags text[], v vector(8));
INSERT INTO fk
SELECT i, i % 200, i % 50, (ARRAY['en', 'de', 'fr', 'es'])[1 + i % 4], ARRAY[i % 7, 10 + i % 13], ARRAY['t' || (i % 5)],
       (SELECT array_agg(((hashint8(i::bigint * 100003 + j) & 2147483647) % 100000) / 1000.0 - 50) FROM generate_series(1, 8) j)::vector
FROM generate_series(1, 20000) i;
CREATE INDEX fk_idx ON fk USING hnsw (v vector_cosine_ops, tenant, lang, labels, big, tags);
ANALYZE fk;
CREATE TABLE fkq (q int, v vector(8));
INSERT INTO fkq SELECT q, (SELECT array_agg(((hashint8(-q::bigint * 100003 - j) & 2147483647) % 100000) / 1000.0 - 50) FROM generate_series(1, 8) j)::vector
FROM generate_series(1, 10) q;
-- The plans: every key condition is an index condition, the ORDER BY the index order.
EXPLAIN (COSTS OFF) SELECT id FROM fk WHERE tenant = 7 ORDER BY v <=> '[1,2,3,4,5,6,7,8]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM fk WHERE tenant IN (7, 8) AND lang = 'de' ORDER BY v <=> '[1,2,3,4,5,6,7,8]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM fk WHERE labels && '{3,11}' AND tenant = 7::bigint ORDER BY v <=> '[1,2,3,4,5,6,7,8]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM fk WHERE tags && '{t2}' AND big = 2 ORDER BY v <=> '[1,2,3,4,5,6,7,8]' LIMIT 10;
-- Index results against exact filtered search (index scans off) for each query vector, with
-- hnsw.iterative_scan off: the count of queries whose top 10 differ, and of short answers.
CREATE FUNCTION fk_compare(cond text, k int DEFAULT 10, OUT queries int, OUT differ int, OUT short int, OUT rows_seen bigint) LANGUAGE plpgsql AS $$
DECLARE q record; got int[]; exact int[]; stmt text;
BEGIN
    queries := 0; differ := 0; short := 0; rows_seen := 0;
    stmt := format('SELECT array_agg(id) FROM (SELECT id FROM fk WHERE %s ORDER BY v <=> $1 LIMIT %s) s', cond, k);
    FOR q IN SELECT * FROM fkq ORDER BY fkq.q LOOP
        PERFORM set_config('enable_indexscan', 'off', true);
        PERFORM set_config('enable_bitmapscan', 'on', true);
        EXECUTE stmt INTO exact USING q.v;
        PERFORM set_config('enable_indexscan', 'on', true);
        PERFORM set_config('enable_seqscan', 'off', true);
        PERFORM set_config('enable_bitmapscan', 'off', true);
        EXECUTE stmt INTO got USING q.v;
        PERFORM set_config('enable_seqscan', 'on', true);
        PERFORM set_config('enable_bitmapscan', 'on', true);
        queries := queries + 1;
        rows_seen := rows_seen + coalesce(cardinality(got), 0);
        IF got IS DISTINCT FROM exact THEN differ := differ + 1; END IF;
        IF coalesce(cardinality(got), 0) < coalesce(cardinality(exact), 0) THEN short := short + 1; END IF;
    END LOOP;
END $$;
SHOW hnsw.iterative_scan;
-- 0.5% (one tenant of 200): answered exactly from the index's posting lists.
SELECT * FROM fk_compare('tenant = 7');
SELECT * FROM fk_compare('tenant = 7', 150);
-- IN lists, a text key, arrays overlapping, cross-type integers, conjunctions.
SELECT * FROM fk_compare('tenant IN (7, 8, 9) AND lang = ''de''');
SELECT * FROM fk_compare('tenant = ANY (''{1,2,3,4,5}''::int[])');
SELECT * FROM fk_compare('labels && ''{3,11}'' AND tenant = 7::bigint');
SELECT * FROM fk_compare('tags && ''{t2}'' AND big = 2');
SELECT * FROM fk_compare('big = 3 AND lang = ''es''');
-- Nothing matches: no rows, no error.
SELECT * FROM fk_compare('tenant = 7 AND tenant = 8');
SELECT * FROM fk_compare('tenant = 100000');
SELECT * FROM fk_compare('tenant = NULL');
-- 25% (lang = 'en') through the graph: the search skips other languages and fills ef_search.
SET semvec.hnsw_filter_exact_limit = 0;
SELECT queries, short, rows_seen FROM fk_compare('lang = ''en''');
-- ... and a 0.5% filter through the graph with an iterative scan.
SET hnsw.iterative_scan = strict_order;
SELECT queries, short, rows_seen FROM fk_compare('tenant = 7');
RESET hnsw.iterative_scan;
RESET semvec.hnsw_filter_exact_limit;
-- Other conditions are still applied by the executor.
SELECT * FROM fk_compare('tenant = 7 AND id % 3 = 0', 5);
-- Inserts, deletes of a whole tenant and VACUUM keep the index right.
INSERT INTO fk SELECT i, i % 200, i % 50, 'de', ARRAY[i % 7], ARRAY['t9'],
       (SELECT array_agg(((hashint8(i::bigint * 100003 + j) & 2147483647) % 100000) / 1000.0 - 50) FROM generate_series(1, 8) j)::vector
FROM generate_series(20001, 21000) i;
SELECT * FROM fk_compare('tenant = 7');
SELECT * FROM fk_compare('tags && ''{t9}''');
DELETE FROM fk WHERE tenant = 7;
VACUUM fk;
SELECT * FROM fk_compare('tenant = 7');
SELECT * FROM fk_compare('tenant = 8');
INSERT INTO fk SELECT i, 7, 1, 'xx', '{}', '{}',
       (SELECT array_agg(((hashint8(i::bigint * 100003 + j) & 2147483647) % 100000) / 1000.0 - 50) FROM generate_series(1, 8) j)::vector
FROM generate_series(30001, 30030) i;
SELECT * FROM fk_compare('tenant = 7', 50);
SELECT (c->>'ok')::boolean AS ok, c->'warnings'->>'filter_key_columns' AS key_columns,
       c->'warnings'->>'unlisted_keys' AS unlisted, c->>'problem_count' AS problems
  FROM semvec_index_check('fk_idx', true) c;
REINDEX INDEX fk_idx;
SELECT * FROM fk_compare('tenant IN (7, 8)');
SELECT (c->>'ok')::boolean AS ok FROM semvec_index_check('fk_idx', true) c;
-- WITH (key_vectors = on): each vector is also kept in its keys' posting lists, so an exact
-- filtered scan reads only those lists' pages; the answers are the same.
DROP INDEX fk_idx;
CREATE INDEX fk_idx ON fk USING hnsw (v vector_cosine_ops, tenant, lang, labels, big, tags) WITH (key_vectors = on);
-- The planner prices the exact plan by the matching keys' posting lists: at 25% (lang = 'en') it
-- still prefers the index to a sequential scan and a sort.
EXPLAIN (COSTS OFF) SELECT id FROM fk WHERE lang = 'en' ORDER BY v <=> '[1,2,3,4,5,6,7,8]' LIMIT 10;
SELECT * FROM fk_compare('lang = ''en''');
SELECT * FROM fk_compare('tenant = 8');
SELECT * FROM fk_compare('tenant IN (7, 8, 9) AND lang = ''de''');
SELECT * FROM fk_compare('labels && ''{3,11}'' AND tenant = 8::bigint');
SELECT * FROM fk_compare('tags && ''{t2}'' AND big = 2');
SELECT * FROM fk_compare('tenant = 8 AND id % 3 = 0', 5);
INSERT INTO fk SELECT i, 8, 2, 'de', ARRAY[i % 7], ARRAY['t2'],
       (SELECT array_agg(((hashint8(i::bigint * 100003 + j) & 2147483647) % 100000) / 1000.0 - 50) FROM generate_series(1, 8) j)::vector
FROM generate_series(50001, 50500) i;
SELECT * FROM fk_compare('tenant = 8', 150);
DELETE FROM fk WHERE tenant = 9 OR id BETWEEN 50001 AND 50250;
VACUUM fk;
SELECT * FROM fk_compare('tenant IN (8, 9)', 100);
SELECT (c->>'ok')::boolean AS ok, c->'warnings'->>'key_vectors' AS key_vectors,
       c->'warnings'->>'unlisted_keys' AS unlisted, c->>'problem_count' AS problems
  FROM semvec_index_check('fk_idx', true) c;
-- Refused where it cannot pay: sparse vectors, and vectors too large to share a page.
CREATE TABLE fk_kv (v vector(1100), s sparsevec(5), t int);
CREATE INDEX ON fk_kv USING hnsw (v vector_l2_ops, t) WITH (key_vectors = on);
CREATE INDEX ON fk_kv USING hnsw (s sparsevec_l2_ops, t) WITH (key_vectors = on);
CREATE INDEX fk_kv_half ON fk_kv USING hnsw ((v::halfvec(1100)) halfvec_l2_ops, t) WITH (key_vectors = on);
-- Without key columns it changes nothing.
CREATE INDEX fk_kv_plain ON fk_kv USING hnsw (v vector_l2_ops) WITH (key_vectors = on);
DROP TABLE fk_kv;
-- halfvec (odd dimensions: 2-byte aligned copies) and bit keep their copies too: index answers
-- equal exact filtered search, per tenant and query.
CREATE TABLE fk_hb (id int, t int, h halfvec(7), b bit(20));
INSERT INTO fk_hb SELECT i, i % 40,
       (SELECT array_agg(((hashint8(i::bigint * 7919 + j) & 1023) - 512) / 100.0) FROM generate_series(1, 7) j)::halfvec,
       (SELECT string_agg(((hashint8(i::bigint * 31 + j) & 1))::text, '') FROM generate_series(1, 20) j)::bit(20)
FROM generate_series(1, 4000) i;
CREATE INDEX fk_hb_h ON fk_hb USING hnsw (h halfvec_l2_ops, t) WITH (key_vectors = on);
CREATE INDEX fk_hb_b ON fk_hb USING hnsw (b bit_jaccard_ops, t) WITH (key_vectors = on);
CREATE FUNCTION fk_hb_differ(expr text) RETURNS int LANGUAGE plpgsql AS $$
DECLARE q int; got int[]; exact int[]; bad int := 0; stmt text;
BEGIN
    stmt := format('SELECT array_agg(id) FROM (SELECT id FROM fk_hb WHERE t = $1 ORDER BY %s, id LIMIT 10) s', expr);
    FOR q IN 1..20 LOOP
        PERFORM set_config('enable_indexscan', 'off', true);
        EXECUTE stmt INTO exact USING q;
        PERFORM set_config('enable_indexscan', 'on', true);
        PERFORM set_config('enable_seqscan', 'off', true);
        PERFORM set_config('enable_bitmapscan', 'off', true);
        EXECUTE replace(stmt, ', id LIMIT', ' LIMIT') INTO got USING q;
        PERFORM set_config('enable_seqscan', 'on', true);
        PERFORM set_config('enable_bitmapscan', 'on', true);
        -- Ties in distance may come back in another order: compare the distances.
        IF (SELECT array_agg(d ORDER BY n) FROM (SELECT n, (SELECT h <-> (SELECT h FROM fk_hb WHERE id = q) FROM fk_hb WHERE id = g) d FROM unnest(got) WITH ORDINALITY x(g, n)) s)
           IS DISTINCT FROM
           (SELECT array_agg(d ORDER BY n) FROM (SELECT n, (SELECT h <-> (SELECT h FROM fk_hb WHERE id = q) FROM fk_hb WHERE id = g) d FROM unnest(exact) WITH ORDINALITY x(g, n)) s)
           AND expr LIKE 'h%' THEN bad := bad + 1; END IF;
        IF expr LIKE 'b%' AND cardinality(got) IS DISTINCT FROM cardinality(exact) THEN bad := bad + 1; END IF;
    END LOOP;
    RETURN bad;
END $$;
SELECT fk_hb_differ('h <-> (SELECT h FROM fk_hb WHERE id = $1)') AS halfvec_differ;
SELECT fk_hb_differ('b <%> (SELECT b FROM fk_hb WHERE id = $1)') AS bit_short;
SELECT (semvec_index_check('fk_hb_h', true)->>'ok')::boolean AS half_ok,
       (semvec_index_check('fk_hb_b', true)->>'ok')::boolean AS bit_ok;
DROP TABLE fk_hb;
DROP FUNCTION fk_hb_differ;
-- NULL keys are indexed and never match; a NULL vector is not indexed.
INSERT INTO fk VALUES (40001, NULL, NULL, NULL, NULL, NULL, '[1,1,1,1,1,1,1,1]'), (40002, 7, 1, 'en', '{1}', '{a}', NULL);
SELECT id FROM fk WHERE tenant IS NULL ORDER BY v <=> '[1,1,1,1,1,1,1,1]' LIMIT 3;
-- Key types the index does not take, and too many key columns.
CREATE TABLE fk_bad (v vector(3), f float8, n numeric, c1 int, c2 int, c3 int, c4 int, c5 int, c6 int, c7 int, c8 int, c9 int);
CREATE INDEX ON fk_bad USING hnsw (v vector_l2_ops, f);
CREATE INDEX ON fk_bad USING hnsw (v vector_l2_ops, c1, c2, c3, c4, c5, c6, c7, c8, c9);
-- A vector column as a key column is refused too.
CREATE INDEX ON fk_bad USING hnsw (v vector_l2_ops, v vector_l2_ops);
DROP TABLE fk, fkq, fk_bad;
DROP FUNCTION fk_compare;
