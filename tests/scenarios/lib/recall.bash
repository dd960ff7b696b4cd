# Fashion-mnist recall set-up shared by the hnsw and ivfflat recall scenarios. Source it after
# scripts/lib.sh and cluster_start with DB (database, recreated) and N (base rows) set. Loads the
# tables base (N rows) and queries (RECALL_Q or 100 rows), creates recall10(tbl, op, label_filter)
# and expect(what, value, threshold) in DB, and brings run STATEMENT... (lib/checks.bash).
source "$(dirname "${BASH_SOURCE[0]}")/checks.bash"
Q=${RECALL_Q:-100}
fashion_mnist_db
psql_semvec -d $DB -q <<SQL
\set QUIET on
-- Recall@10 of the index on table tbl, by distance: a returned row counts when it is no farther
-- than the 10th exact neighbour, so ties among duplicates are judged fairly. Dynamic SQL so each
-- query is planned under the enable_* settings in force.
CREATE FUNCTION recall10(tbl regclass, op text DEFAULT '<->', label_filter int DEFAULT NULL)
RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE
    q record; kth float8; hits bigint := 0; total bigint := 0; got bigint;
    cond text := CASE WHEN label_filter IS NULL THEN '' ELSE format(' WHERE label = %s', label_filter) END;
BEGIN
    FOR q IN SELECT * FROM queries LOOP
        SET LOCAL enable_indexscan = off;
        SET LOCAL enable_seqscan = on;
        EXECUTE format('SELECT max(d), count(*) FROM (SELECT v %s \$1 AS d FROM %s%s ORDER BY v %s \$1 LIMIT 10) s', op, tbl, cond, op)
            INTO kth, got USING q.v;
        total := total + got;
        SET LOCAL enable_indexscan = on;
        SET LOCAL enable_seqscan = off;
        EXECUTE format('SELECT count(*) FROM (SELECT v %s \$1 AS d FROM %s%s ORDER BY v %s \$1 LIMIT 10) s WHERE d <= \$2 + 1e-6 * abs(\$2)', op, tbl, cond, op)
            INTO got USING q.v, kth;
        hits := hits + got;
    END LOOP;
    RETURN hits::float8 / greatest(total, 1);
END \$\$;

$EXPECT_SQL
SQL


