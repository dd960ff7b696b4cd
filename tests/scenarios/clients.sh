#!/usr/bin/env bash
# pgvector's own client libraries against semvec, and the RAG example:
#   1. our tests with pgvector-python on psycopg 3, asyncpg, SQLAlchemy 2 and Django (tests/clients/python)
#   2. the RAG example's tests (examples/rag)
#   3. pgvector-python's own test suite, with only CREATE EXTENSION changed (tests/clients/pgvector_python)
#   4. the Rust `pgvector` crate with sqlx (tests/clients/rust)
#   5. pgvector's Node.js client with node-postgres (tests/clients/node; only where node and npm are)
# Installs what it needs (Python venv under .cache/venv, crates) idempotently. Closes with
# `clients: N passed, M failed, K skipped` and exits non-zero when anything failed.
# CLIENTS_ONLY=python,rag,suite,rust,node runs a subset.
source "$(dirname "$0")/../../scripts/lib.sh"
cluster_start
ONLY="${CLIENTS_ONLY:-python,rag,suite,rust,node}"
OUT="$ROOT/.cache/clients"
mkdir -p "$OUT"
export PGHOST="$SEMVEC_SOCKDIR" PGPORT="$SEMVEC_PORT" PGUSER=postgres
export SEMVEC_CLIENTS_DB=semvec_clients
PASSED=0 FAILED=0 SKIPPED=0

# Adds a runner's counts, "N M K" on stdin (fed with <<<, so the totals stay in this shell).
tally() {
    local p f s
    read -r p f s
    PASSED=$((PASSED + p)); FAILED=$((FAILED + f)); SKIPPED=$((SKIPPED + s))
    echo "  $1: $p passed, $f failed, $s skipped"
}

PY="$("$ROOT/tests/clients/setup_venv.sh")"

# Counts of a pytest JUnit report (errors count as failures, xfails as skipped); a missing report
# (pytest did not start) counts as one failure.
junit_counts() {
    "$PY" - "$1" <<'PYCODE'
import sys, xml.etree.ElementTree as ET
try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print(0, 1, 0); sys.exit()
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
k = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - k, f, k)
PYCODE
}

# The client tests share one database; start from a clean one.
psql_semvec -d postgres -qc "DROP DATABASE IF EXISTS $SEMVEC_CLIENTS_DB WITH (FORCE)" -c "CREATE DATABASE $SEMVEC_CLIENTS_DB"
psql_semvec -d "$SEMVEC_CLIENTS_DB" -qc "CREATE EXTENSION semvec"
parity_types=$(psql_semvec -d "$SEMVEC_CLIENTS_DB" -qAtc "SELECT count(*) = 2 FROM pg_type WHERE typname IN ('halfvec', 'sparsevec')")

if [[ ,$ONLY, == *,python,* ]]; then
    log "clients: pgvector-python with psycopg 3, asyncpg, SQLAlchemy 2, Django"
    rm -f "$OUT/python.xml"
    (cd "$ROOT/tests/clients/python" && "$PY" -m pytest -q -rfEx --junitxml="$OUT/python.xml") || true
    tally "python clients" <<<"$(junit_counts "$OUT/python.xml")"
fi

if [[ ,$ONLY, == *,rag,* ]]; then
    log "clients: examples/rag"
    rm -f "$OUT/rag.xml"
    (cd "$ROOT/examples/rag" && "$PY" -m pytest -q -rfEs --junitxml="$OUT/rag.xml") || true
    tally "rag example" <<<"$(junit_counts "$OUT/rag.xml")"
fi

if [[ ,$ONLY, == *,suite,* ]]; then
    log "clients: pgvector-python's own test suite"
    "$PY" "$ROOT/tests/clients/pgvector_python/run_suite.py" | tee "$OUT/suite.log" || true
    line=$(grep -E '^pgvector-python: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$OUT/suite.log" | tail -n1)
    if [ -n "$line" ]; then
        tally "pgvector-python suite" <<<"$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped/\1 \2 \3/')"
    else
        tally "pgvector-python suite (did not finish)" <<<"0 1 0"
    fi
fi

if [[ ,$ONLY, == *,rust,* ]]; then
    log "clients: Rust pgvector crate with sqlx"
    targets=(--test vector)
    if [ "$parity_types" = t ]; then
        targets+=(--test parity_types)
    else
        log "semvec has no halfvec/sparsevec yet (issue 5): skipping tests/clients/rust/tests/parity_types.rs"
        SKIPPED=$((SKIPPED + $(grep -c '#\[tokio::test\]' "$ROOT/tests/clients/rust/tests/parity_types.rs")))
    fi
    (cd "$ROOT/tests/clients/rust" && cargo test --locked "${targets[@]}" 2>&1) | tee "$OUT/rust.log" || true
    if grep -q '^test result:' "$OUT/rust.log"; then
        tally "rust sqlx" <<<"$(grep '^test result:' "$OUT/rust.log" \
            | sed -E 's/.* ([0-9]+) passed; ([0-9]+) failed; ([0-9]+) ignored.*/\1 \2 \3/' \
            | awk '{p+=$1; f+=$2; s+=$3} END {print p, f, s}')"
        # a test binary that did not build or run has no result line
        n_results=$(grep -c '^test result:' "$OUT/rust.log")
        if [ "$n_results" -lt $(( ${#targets[@]} / 2 )) ]; then tally "rust sqlx (a test binary did not run)" <<<"0 1 0"; fi
    else
        tally "rust sqlx (did not build)" <<<"0 1 0"
    fi
fi

if [[ ,$ONLY, == *,node,* ]]; then
    if command -v node >/dev/null && command -v npm >/dev/null; then
        log "clients: Node.js pgvector with node-postgres ($(node --version))"
        (cd "$ROOT/tests/clients/node" && npm ci --no-audit --no-fund --loglevel=error >/dev/null && node --test 2>&1) \
            | tee "$OUT/node.log" | grep -E '^(not ok|# (pass|fail|skipped))' || true
        if grep -q '^# pass ' "$OUT/node.log"; then
            tally "node pg" <<<"$(awk '/^# pass /{p=$3} /^# fail /{f=$3} /^# skipped /{s=$3} END {print p+0, f+0, s+0}' "$OUT/node.log")"
        else
            tally "node pg (did not run)" <<<"0 1 0"
        fi
    else
        log "no node/npm on this machine: skipping the Node.js client tests"
    fi
fi

echo "clients: $PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ]
