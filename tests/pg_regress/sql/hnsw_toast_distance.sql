-- Distances an ORDER BY ... LIMIT query reports through an hnsw index equal the exact ones, also for
-- vectors stored out of line (TOAST), for the row the index returns and for any other expression
-- over the same row (another query vector, another operator). 600 dimensions: about 2.4 kB a value.
CREATE TABLE toasted (id int PRIMARY KEY, v vector(600));
INSERT INTO toasted
SELECT i, (SELECT array_agg(((i * 7 + j * 13) % 101 + (i % 5) * j % 3) / 10.0) FROM generate_series(1, 600) j)::vector
FROM generate_series(1, 300) i;
SELECT pg_relation_size(reltoastrelid) > 0 AS stored_out_of_line FROM pg_class WHERE relname = 'toasted';
CREATE TABLE exact AS SELECT * FROM toasted;
CREATE INDEX toasted_l2 ON toasted USING hnsw (v vector_l2_ops);
SET enable_seqscan = off;
-- index scans, rescanned per query row (LATERAL), with the distances they report
CREATE TEMP TABLE got AS
SELECT q.id AS qid, x.id, x.l2, x.ip, x.l2_other
FROM toasted q, LATERAL (
    SELECT t.id, t.v <-> q.v AS l2, t.v <#> q.v AS ip,
           t.v <-> (SELECT v FROM exact WHERE id = q.id % 300 + 1) AS l2_other
    FROM toasted t ORDER BY t.v <-> q.v LIMIT 5) x
WHERE q.id <= 20;
RESET enable_seqscan;
SELECT count(*) AS rows,
       count(*) FILTER (WHERE g.l2 = e.v <-> q.v) AS l2_exact,
       count(*) FILTER (WHERE g.ip = e.v <#> q.v) AS ip_exact,
       count(*) FILTER (WHERE g.l2_other = e.v <-> o.v) AS other_query_exact
FROM got g
JOIN exact e ON e.id = g.id
JOIN exact q ON q.id = g.qid
JOIN exact o ON o.id = g.qid % 300 + 1;
-- the same with an inner-product and an L1 index
DROP INDEX toasted_l2;
CREATE INDEX toasted_ip ON toasted USING hnsw (v vector_ip_ops);
SET enable_seqscan = off;
SELECT count(*) AS rows, count(*) FILTER (WHERE x.ip = (SELECT e.v <#> q.v FROM exact e WHERE e.id = x.id)) AS ip_exact
FROM toasted q, LATERAL (SELECT t.id, t.v <#> q.v AS ip FROM toasted t ORDER BY t.v <#> q.v LIMIT 5) x
WHERE q.id <= 20;
RESET enable_seqscan;
DROP INDEX toasted_ip;
CREATE INDEX toasted_l1 ON toasted USING hnsw (v vector_l1_ops);
SET enable_seqscan = off;
SELECT count(*) AS rows, count(*) FILTER (WHERE x.l1 = (SELECT e.v <+> q.v FROM exact e WHERE e.id = x.id)) AS l1_exact
FROM toasted q, LATERAL (SELECT t.id, t.v <+> q.v AS l1 FROM toasted t ORDER BY t.v <+> q.v LIMIT 5) x
WHERE q.id <= 20;
RESET enable_seqscan;
DROP TABLE toasted, exact;
