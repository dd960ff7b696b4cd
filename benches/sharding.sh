#!/usr/bin/env bash
# Sharded nearest-neighbour search (docs/scale-out.md) against one server with the same rows:
# queries per second and latency percentiles of `ORDER BY embedding <=> q LIMIT 10` through a
# postgres_fdw coordinator over 1, 2 and 3 shards, in both forms:
#   parent   the query on the partitioned table (Merge Append, remote ORDER BY, shards in turn)
#   fn       vector_search_sharded() (remote ORDER BY ... LIMIT, Async Foreign Scans)
# and the same query on one server holding all rows (shard 1's table `items_n1`, queried directly).
# Throwaway clusters (tests/scenarios/lib/cluster.bash): a coordinator and three shards on loopback
# ports; every shard holds the tables items_n1 (all rows on shard 1), items_n2 (half on shards 1
# and 2) and items_n3 (a third on each), each with an hnsw index (m 16, ef_construction 64,
# ef_search 40 everywhere). pgbench, one client, BENCH_SECONDS per run; the query vector is one of
# 1000 stored query vectors, picked at random per transaction.
#
# On a machine with fewer cores than servers (this project's has 2) every shard, the coordinator
# and pgbench share the same cores: the figures show the coordinator's and the round trips'
# overhead, not what shards on their own machines would gain.
#
# Usage: [SEMVEC_PG=18] benches/sharding.sh    (BENCH_ROWS=90000 BENCH_DIMS=384 BENCH_SECONDS=20
#        BENCH_CLIENTS=1 by default). Needs scripts/install.sh done for that major.
SCN_NAME=bench-sharding
source "$(dirname "$0")/../scripts/lib.sh"
source "$ROOT/tests/scenarios/lib/cluster.bash"

ROWS=${BENCH_ROWS:-90000}
DIMS=${BENCH_DIMS:-384}
SECS=${BENCH_SECONDS:-20}
CLIENTS=${BENCH_CLIENTS:-1}

log "sharding bench: $ROWS rows of vector($DIMS), $SECS s per run, $CLIENTS client(s)"
node_init coord 28845
node_init shard1 28847
node_init shard2 28848
node_init shard3 28849
for n in coord shard1 shard2 shard3; do node_start $n; done
for n in coord shard1 shard2 shard3; do
    node_testdb $n >/dev/null
    node_psql $n -c "CREATE TABLE queries (id int PRIMARY KEY, v vector($DIMS))" \
        -c "INSERT INTO queries SELECT i, random_vector($DIMS, -i) FROM generate_series(1, 1000) i"
done
# Shard s of an n-shard layout holds the rows with id % n = s - 1.
pids=()
for s in 1 2 3; do
    (
        for n in 1 2 3; do
            [ "$s" -le "$n" ] || continue
            node_psql shard$s -c "CREATE TABLE items_n$n (id bigint PRIMARY KEY, embedding vector($DIMS))" \
                -c "INSERT INTO items_n$n SELECT i, random_vector($DIMS, i) FROM generate_series(1, $ROWS) i WHERE i % $n = $((s - 1))" \
                -c "CREATE INDEX ON items_n$n USING hnsw (embedding vector_cosine_ops)" -c "VACUUM ANALYZE items_n$n"
        done
    ) &
    pids+=($!)
    track_bg $!
done
for p in "${pids[@]}"; do wait "$p"; done
log "loaded and indexed ($(elapsed))"
node_psql coord <<SQL
CREATE EXTENSION postgres_fdw;
$(for s in 1 2 3; do cat <<S
CREATE SERVER s$s FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host '127.0.0.1', port '$(node_port shard$s)',
    dbname 'semvec_test', extensions 'semvec', async_capable 'true');
CREATE USER MAPPING FOR postgres SERVER s$s OPTIONS (user 'postgres');
S
done)
$(for n in 1 2 3; do
    echo "CREATE TABLE items_n$n (id bigint NOT NULL, embedding vector($DIMS)) PARTITION BY LIST ((id % $n));"
    for s in $(seq 1 $n); do
        echo "CREATE FOREIGN TABLE items_n${n}_s$s PARTITION OF items_n$n FOR VALUES IN ($((s - 1))) SERVER s$s OPTIONS (table_name 'items_n$n');"
    done
done)
SQL

W="$SCN_TMP/pgbench"
mkdir -p "$W"
chown postgres "$W"
run() { # NAME NODE SQL
    local name=$1 node=$2 sql=$3
    printf '\\set q random(1, 1000)\n%s;\n' "$sql" >"$W/$name.sql"
    chmod a+r "$W/$name.sql"
    (cd "$W" && "$PG_BIN/pgbench" -h "$SCN_TMP" -p "$(node_port "$node")" -U postgres -n -c "$CLIENTS" -j "$CLIENTS" \
        -T "$SECS" -l --log-prefix="$W/$name" -f "$W/$name.sql" semvec_test >"$W/$name.out" 2>&1) ||
        { cat "$W/$name.out" >&2; exit 1; }
    local tps p50 p99
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' "$W/$name.out")
    read -r p50 p99 < <(cat "$W/$name".* | awk '{ print $3 }' | sort -n |
        awk '{ a[NR] = $1 } END { printf "%.2f %.2f\n", a[int(NR * 0.5)] / 1000, a[int(NR * 0.99)] / 1000 }')
    printf '| %s | %.0f | %s | %s |\n' "$name" "$tps" "$p50" "$p99"
}
knn="SELECT id FROM %s ORDER BY embedding <=> (SELECT v FROM queries WHERE id = :q) LIMIT 10"
# warm every server's caches once
for n in 1 2 3; do node_sql coord "SELECT count(*) FROM items_n$n" >/dev/null; done
node_sql shard1 "SELECT count(*) FROM items_n1" >/dev/null

echo
echo "| query ($ROWS rows, vector($DIMS), $CLIENTS client(s), ${SECS} s) | QPS | p50 ms | p99 ms |"
echo "|---|---:|---:|---:|"
# shellcheck disable=SC2059
run "one server" shard1 "$(printf "$knn" items_n1)"
for n in 1 2 3; do
    # shellcheck disable=SC2059
    run "$n shard(s), ORDER BY ... LIMIT on the parent" coord "$(printf "$knn" "items_n$n")"
    run "$n shard(s), vector_search_sharded()" coord \
        "SELECT id FROM vector_search_sharded('items_n$n', 'id', 'embedding', (SELECT v FROM queries WHERE id = :q), 10)"
done
for n in coord shard1 shard2 shard3; do node_stop $n; done
