#!/usr/bin/env bash
# Runs tests/pg_regress/sql/*.sql against the project cluster and diffs with expected/*.out.
source "$(dirname "$0")/../scripts/lib.sh"
cluster_start
PG_REGRESS="$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress"
OUT=/tmp/semvec-regress-out-pg$PG_MAJOR
rm -rf "$OUT"; mkdir -p "$OUT"
tests=$(cd "$ROOT/tests/pg_regress/sql" && ls *.sql | sed 's/\.sql$//' | sort)
log "pg_regress: $(echo $tests | wc -w) files"
cd "$OUT"  # \copy in the tests writes to results/, relative to here
if "$PG_REGRESS" --host="$SEMVEC_SOCKDIR" --port="$SEMVEC_PORT" --user=postgres \
    --dbname=semvec_regress --inputdir="$ROOT/tests/pg_regress" --outputdir="$OUT" \
    --bindir="$PG_BIN" $tests; then
    echo "pg_regress: $(echo $tests | wc -w) passed, 0 failed"
else
    cat "$OUT/regression.diffs" | head -200
    exit 1
fi
