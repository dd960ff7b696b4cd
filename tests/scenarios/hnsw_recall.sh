#!/usr/bin/env bash
# Recall of the hnsw index against exact search on real data (fashion-mnist, 784 dims):
# after build, after inserting half the rows after build, after deleting half and VACUUM, with
# many duplicate vectors, and filtered queries with iterative scans. Fails below the thresholds.
source "$(dirname "$0")/../../scripts/lib.sh"
cluster_start
DB=semvec_recall
N=${RECALL_N:-10000}
source "$(dirname "$0")/lib/recall.bash"

log "recall after build (l2, $N x 784)"
run "CREATE TABLE items AS SELECT * FROM base; CREATE INDEX ON items USING hnsw (v vector_l2_ops) WITH (m = 16, ef_construction = 64);"
psql_semvec -d $DB -qAtc "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries LIMIT 1) LIMIT 10" | grep -q "Index Scan using items_v_idx"
run "SELECT expect('recall@10 after build', recall10('items'), 0.95)"

log "recall with cosine distance"
run "CREATE INDEX items_cos ON items USING hnsw (v vector_cosine_ops); SELECT expect('recall@10 cosine', recall10('items', '<=>'), 0.95); DROP INDEX items_cos;"

log "recall after inserting half the rows after the build"
run "CREATE TABLE items2 AS SELECT * FROM base WHERE id <= $N / 2; CREATE INDEX ON items2 USING hnsw (v vector_l2_ops); INSERT INTO items2 SELECT * FROM base WHERE id > $N / 2;"
run "SELECT expect('recall@10 after 50% inserts', recall10('items2'), 0.95)"

log "recall after deleting half the rows and VACUUM"
run "DELETE FROM items WHERE id % 2 = 0" "VACUUM items"
run "SELECT expect('recall@10 after delete+vacuum', recall10('items'), 0.95)"
run "INSERT INTO items SELECT * FROM base WHERE id % 2 = 0; SELECT expect('recall@10 after re-insert', recall10('items'), 0.95)"

log "many duplicate vectors"
run "CREATE TABLE items3 AS SELECT b.id * 100 + c AS id, b.label, b.v FROM base b, generate_series(1, 10) c WHERE b.id <= $N / 10; CREATE INDEX ON items3 USING hnsw (v vector_l2_ops);"
run "SELECT expect('recall@10 with 10 copies of each vector', recall10('items3'), 0.95)"

log "filtered queries with iterative scans return the full LIMIT"
run "SET hnsw.iterative_scan = strict_order; SELECT expect('strict iterative filtered recall', recall10('items2', '<->', 3), 0.9);"
run "SET hnsw.iterative_scan = relaxed_order; SELECT expect('relaxed iterative filtered recall', recall10('items2', '<->', 3), 0.9);"
run "SET hnsw.iterative_scan = relaxed_order; SET enable_seqscan = off;
     SELECT expect('share of filtered queries with 10 rows', avg(((SELECT count(*) FROM (SELECT 1 FROM items2 WHERE label = 3 ORDER BY v <-> q.v LIMIT 10) s) = 10)::int), 1) FROM queries q;"
echo "hnsw recall: 9 passed, 0 failed"
