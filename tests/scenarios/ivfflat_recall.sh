#!/usr/bin/env bash
# Recall of the ivfflat index against exact search on real data (fashion-mnist, 784 dims): probing
# every list is exact search; a tenth of the lists reaches good recall after build, with cosine
# distance, after inserting half the rows after the build, after deleting half and VACUUM; filtered
# queries with relaxed iterative scans return the full LIMIT. Fails below the thresholds.
source "$(dirname "$0")/../../scripts/lib.sh"
cluster_start
DB=semvec_ivf_recall
N=${RECALL_N:-10000}
LISTS=${RECALL_LISTS:-100}
source "$(dirname "$0")/lib/recall.bash"

PROBES=$((LISTS / 10))
log "build ($N x 784, $LISTS lists)"
start=$(date +%s.%N)
run "CREATE TABLE items AS SELECT * FROM base; CREATE INDEX ON items USING ivfflat (v vector_l2_ops) WITH (lists = $LISTS);"
echo "  build: $(echo "$(date +%s.%N) - $start" | bc) s"
psql_semvec -d $DB -qAtc "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <-> (SELECT v FROM queries LIMIT 1) LIMIT 10" | grep -q "Index Scan using items_v_idx"

log "probing every list is exact search"
run "SET ivfflat.probes = $LISTS; SELECT expect('recall@10 with all lists', recall10('items'), 1.0)"

log "recall with a tenth of the lists"
run "SET ivfflat.probes = $PROBES; SELECT expect('recall@10 probes $PROBES/$LISTS', recall10('items'), 0.95)"
run "SET ivfflat.probes = 1; SELECT expect('recall@10 probes 1/$LISTS (reported only)', recall10('items'), 0)"

log "recall with cosine distance"
run "CREATE INDEX items_cos ON items USING ivfflat (v vector_cosine_ops) WITH (lists = $LISTS);
     SET ivfflat.probes = $PROBES; SELECT expect('recall@10 cosine probes $PROBES', recall10('items', '<=>'), 0.95);
     SET ivfflat.probes = $LISTS; SELECT expect('recall@10 cosine with all lists', recall10('items', '<=>'), 1.0);
     DROP INDEX items_cos;"

log "recall after inserting half the rows after the build"
run "CREATE TABLE items2 AS SELECT * FROM base WHERE id <= $N / 2; CREATE INDEX ON items2 USING ivfflat (v vector_l2_ops) WITH (lists = $LISTS); INSERT INTO items2 SELECT * FROM base WHERE id > $N / 2;"
run "SET ivfflat.probes = $PROBES; SELECT expect('recall@10 after 50% inserts', recall10('items2'), 0.95)"
run "SET ivfflat.probes = $LISTS; SELECT expect('recall@10 after 50% inserts, all lists', recall10('items2'), 1.0)"

log "recall after deleting half the rows and VACUUM"
run "DELETE FROM items WHERE id % 2 = 0" "VACUUM items"
run "SET ivfflat.probes = $PROBES; SELECT expect('recall@10 after delete+vacuum', recall10('items'), 0.95)"
run "SET ivfflat.probes = $LISTS; SELECT expect('recall@10 after delete+vacuum, all lists', recall10('items'), 1.0)"
run "INSERT INTO items SELECT * FROM base WHERE id % 2 = 0; SET ivfflat.probes = $PROBES; SELECT expect('recall@10 after re-insert', recall10('items'), 0.95)"

log "filtered queries with relaxed iterative scans return the full LIMIT"
run "SET ivfflat.iterative_scan = relaxed_order; SET ivfflat.probes = $PROBES; SELECT expect('relaxed iterative filtered recall (rows of the first lists that pass the filter)', recall10('items2', '<->', 3), 0.7);"
run "SET ivfflat.iterative_scan = relaxed_order; SET ivfflat.probes = 1; SET enable_seqscan = off;
     SELECT expect('share of filtered queries with 10 rows', avg(((SELECT count(*) FROM (SELECT 1 FROM items2 WHERE label = 3 ORDER BY v <-> q.v LIMIT 10) s) = 10)::int), 1) FROM queries q;"
run "SET ivfflat.iterative_scan = off; SET ivfflat.probes = 1; SET enable_seqscan = off;
     SELECT expect('share of filtered queries with 10 rows, no iterative scan (reported only)', avg(((SELECT count(*) FROM (SELECT 1 FROM items2 WHERE label = 3 ORDER BY v <-> q.v LIMIT 10) s) = 10)::int), 0) FROM queries q;"
echo "ivfflat recall: 11 passed, 0 failed"
