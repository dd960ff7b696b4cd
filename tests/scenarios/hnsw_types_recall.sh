#!/usr/bin/env bash
# Recall of hnsw indexes on halfvec and bit, and of binary quantization with re-ranking:
#  1. fashion-mnist (784 dims): halfvec_l2_ops / halfvec_cosine_ops on a halfvec column (also after
#     inserts, and after deletes and VACUUM), a halfvec_l2_ops expression index over a vector column, bit_hamming_ops and
#     bit_jaccard_ops on binary_quantize()d rows, all at default settings (m 16,
#     ef_construction 64, hnsw.ef_search 40);
#  2. real text embeddings (SciFact abstracts and claims embedded in the database with embed_batch()):
#     the binary-quantize-then-re-rank query and a halfvec_cosine_ops expression index, both
#     against exact cosine search on the full vectors.
# Recall@10 is judged by distance (a returned row counts when it is no farther than the 10th exact
# neighbour), so ties are fair. Fails below the thresholds.
source "$(dirname "$0")/../../scripts/lib.sh"
cluster_start
DB=semvec_types_recall
N=${RECALL_N:-10000}                  # fashion-mnist rows
Q=${RECALL_Q:-100}                    # fashion-mnist queries
DOCS=${RECALL_DOCS:-3000}             # SciFact abstracts to embed
CANDIDATES=${RECALL_CANDIDATES:-200}  # rows fetched by Hamming distance before re-ranking (100 gives about 0.95)
SCIFACT=${SCIFACT_DIR:-/work/shared/data/scifact}
source "$(dirname "$0")/lib/checks.bash"
[ -f "$SCIFACT/corpus.jsonl.gz" ] || { echo "error: no SciFact corpus in $SCIFACT" >&2; exit 1; }
TMP=$(mktemp -d); trap 'rm -rf "$TMP"' EXIT

# SciFact as id<TAB>text rows: title + abstract for documents, the claims as queries.
python3 - "$SCIFACT" "$DOCS" "$TMP" <<'PY'
import gzip, json, sys
src, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
clean = lambda s: " ".join(s.replace("\\", " ").split())
with open(f"{out}/docs.tsv", "w") as f:
    for i, line in enumerate(gzip.open(f"{src}/corpus.jsonl.gz", "rt")):
        if i >= n:
            break
        d = json.loads(line)
        print(d["_id"], clean(d["title"] + " " + d["text"]), sep="\t", file=f)
with open(f"{out}/claims.tsv", "w") as f:
    for line in open(f"{src}/queries.jsonl"):
        d = json.loads(line)
        print(d["_id"], clean(d["text"]), sep="\t", file=f)
PY

fashion_mnist_db
psql_semvec -d $DB -q <<SQL
\set QUIET on
CREATE TABLE docs (id int PRIMARY KEY, body text NOT NULL);
\copy docs FROM '$TMP/docs.tsv'
CREATE TABLE claims (id int PRIMARY KEY, body text NOT NULL);
\copy claims FROM '$TMP/claims.tsv'

-- Recall@10 of an approximate search against exact search. For each query vector v of qtbl (\$1),
-- approx is a query returning the distances d of the rows the approximate method picks (run with
-- index scans preferred), exact one returning the exact 10 smallest distances (run without index
-- scans); both measure d the same way. Dynamic SQL so each runs under the enable_* settings set.
CREATE FUNCTION recall10(approx text, exact text, qtbl text DEFAULT 'queries')
RETURNS float8 LANGUAGE plpgsql AS \$\$
DECLARE
    q record; kth float8; hits bigint := 0; total bigint := 0; got bigint;
BEGIN
    FOR q IN EXECUTE format('SELECT v FROM %s', qtbl) LOOP
        SET LOCAL enable_indexscan = off;
        SET LOCAL enable_seqscan = on;
        EXECUTE format('SELECT max(d), count(*) FROM (%s) s', exact) INTO kth, got USING q.v;
        total := total + got;
        SET LOCAL enable_indexscan = on;
        SET LOCAL enable_seqscan = off;
        EXECUTE format('SELECT count(*) FROM (%s) s WHERE d <= \$2 + 1e-6 * abs(\$2)', approx) INTO got USING q.v, kth;
        hits := hits + got;
    END LOOP;
    RETURN hits::float8 / greatest(total, 1);
END \$\$;

-- recall10 of "ORDER BY dist LIMIT 10" on tbl through its index, distances as dist.
CREATE FUNCTION index_recall10(tbl text, dist text, qtbl text DEFAULT 'queries') RETURNS float8 LANGUAGE sql AS \$\$
    SELECT recall10(format('SELECT %s AS d FROM %s ORDER BY %s LIMIT 10', dist, tbl, dist),
                    format('SELECT %s AS d FROM %s ORDER BY 1 LIMIT 10', dist, tbl), qtbl)
\$\$;

-- Fails unless the plan of query (with \$1 the first vector of qtbl) has an index scan.
CREATE FUNCTION uses_index(query text, qtbl text DEFAULT 'queries') RETURNS void LANGUAGE plpgsql AS \$\$
DECLARE plan text := ''; line text; qv vector;
BEGIN
    EXECUTE format('SELECT v FROM %s LIMIT 1', qtbl) INTO qv;
    SET LOCAL enable_seqscan = off;
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || replace(query, '\$1', quote_literal(qv::text) || '::vector') LOOP
        plan := plan || line || E'\n';
    END LOOP;
    IF plan NOT LIKE '%Index Scan%' THEN RAISE EXCEPTION 'no index scan: %', plan; END IF;
END \$\$;

$EXPECT_SQL
SQL


checks=0
check() { run "$@"; checks=$((checks + 1)); }

log "halfvec column (fashion-mnist, $N x 784)"
run "CREATE TABLE h AS SELECT id, v::halfvec(784) AS v FROM base; CREATE INDEX h_l2 ON h USING hnsw (v halfvec_l2_ops);"
run "SELECT uses_index('SELECT id FROM h ORDER BY v <-> \$1::halfvec(784) LIMIT 10')"
check "SELECT expect('halfvec_l2_ops recall@10', index_recall10('h', 'v <-> \$1::halfvec(784)'), 0.95)"
run "DROP INDEX h_l2; CREATE INDEX h_cos ON h USING hnsw (v halfvec_cosine_ops);"
run "SELECT uses_index('SELECT id FROM h ORDER BY v <=> \$1::halfvec(784) LIMIT 10')"
check "SELECT expect('halfvec_cosine_ops recall@10', index_recall10('h', 'v <=> \$1::halfvec(784)'), 0.95)"
run "INSERT INTO h SELECT id + $N, (v::vector * array_fill(0.5, ARRAY[784])::vector)::halfvec(784) FROM h WHERE id % 2 = 0"
check "SELECT expect('halfvec_cosine_ops recall@10 after 50% inserts', index_recall10('h', 'v <=> \$1::halfvec(784)'), 0.95)"
run "DELETE FROM h WHERE id % 2 = 1" "VACUUM h"
check "SELECT expect('halfvec_cosine_ops recall@10 after deleting half and VACUUM', index_recall10('h', 'v <=> \$1::halfvec(784)'), 0.95)"

log "halfvec expression index over a vector column, against exact search on the vectors"
run "CREATE INDEX base_half ON base USING hnsw ((v::halfvec(784)) halfvec_l2_ops);"
run "SELECT uses_index('SELECT id FROM base ORDER BY v::halfvec(784) <-> \$1::halfvec(784) LIMIT 10')"
check "SELECT expect('(v::halfvec(784)) halfvec_l2_ops recall@10',
    recall10('SELECT v <-> \$1 AS d FROM base ORDER BY v::halfvec(784) <-> \$1::halfvec(784) LIMIT 10',
             'SELECT v <-> \$1 AS d FROM base ORDER BY 1 LIMIT 10'), 0.95)"
run "DROP INDEX base_half"

log "bit column from binary_quantize (fashion-mnist)"
run "CREATE TABLE b AS SELECT id, binary_quantize(v)::bit(784) AS v FROM base; CREATE INDEX b_ham ON b USING hnsw (v bit_hamming_ops);"
run "SELECT uses_index('SELECT id FROM b ORDER BY v <~> binary_quantize(\$1)::bit(784) LIMIT 10')"
check "SELECT expect('bit_hamming_ops recall@10', index_recall10('b', 'v <~> binary_quantize(\$1)::bit(784)'), 0.95)"
run "DROP INDEX b_ham; CREATE INDEX b_jac ON b USING hnsw (v bit_jaccard_ops);"
run "SELECT uses_index('SELECT id FROM b ORDER BY v <%> binary_quantize(\$1)::bit(784) LIMIT 10')"
check "SELECT expect('bit_jaccard_ops recall@10', index_recall10('b', 'v <%> binary_quantize(\$1)::bit(784)'), 0.95)"

log "embedding $DOCS SciFact abstracts and $(wc -l <"$TMP/claims.tsv") claims with embed_batch() (2 threads)"
start=$(date +%s)
# embed_batch() gives embed()'s vectors (cosine distance < 1e-5: tests/pg_regress embed), in a third of the time.
run "SET semvec.embed_threads = 2; ALTER TABLE docs ADD COLUMN embedding vector(384);
     UPDATE docs d SET embedding = e.v FROM (SELECT unnest(array_agg(id)) AS id, unnest(embed_batch(array_agg(body))) AS v FROM docs) e
      WHERE d.id = e.id;
     CREATE TABLE claim_vectors AS SELECT unnest(array_agg(id)) AS id, unnest(embed_batch(array_agg(body))) AS v FROM claims;"
echo "  embedded in $(( $(date +%s) - start )) s"

# Binary quantization with re-ranking: the CANDIDATES nearest rows by Hamming distance come from
# the index (a scan returns at most hnsw.ef_search rows, so it is raised to match), then the exact
# cosine distance on the full vectors orders them.
log "binary quantize, then re-rank $CANDIDATES candidates; against exact cosine search"
run "CREATE INDEX docs_bq ON docs USING hnsw ((binary_quantize(embedding)::bit(384)) bit_hamming_ops);"
RERANK="SELECT embedding <=> \$1 AS d FROM (
            SELECT embedding FROM docs ORDER BY binary_quantize(embedding)::bit(384) <~> binary_quantize(\$1) LIMIT $CANDIDATES
        ) candidates ORDER BY d LIMIT 10"
run "SELECT uses_index('$RERANK', 'claim_vectors')"
check "SET hnsw.ef_search = $CANDIDATES;
       SELECT expect('binary quantize + re-rank recall@10',
           recall10('$RERANK', 'SELECT embedding <=> \$1 AS d FROM docs ORDER BY 1 LIMIT 10', 'claim_vectors'), 0.95)"
run "DROP INDEX docs_bq"

log "halfvec cosine expression index on the embeddings; against exact cosine search"
run "CREATE INDEX docs_half ON docs USING hnsw ((embedding::halfvec(384)) halfvec_cosine_ops);"
run "SELECT uses_index('SELECT id FROM docs ORDER BY embedding::halfvec(384) <=> \$1::halfvec(384) LIMIT 10', 'claim_vectors')"
check "SELECT expect('(embedding::halfvec(384)) halfvec_cosine_ops recall@10',
    recall10('SELECT embedding <=> \$1 AS d FROM docs ORDER BY embedding::halfvec(384) <=> \$1::halfvec(384) LIMIT 10',
             'SELECT embedding <=> \$1 AS d FROM docs ORDER BY 1 LIMIT 10', 'claim_vectors'), 0.95)"

echo "hnsw types recall: $checks passed, 0 failed"
