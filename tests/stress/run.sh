#!/usr/bin/env bash
# The stress command: the reliability scenarios at full length, plus million-case fuzzing.
#
#   bash tests/stress/run.sh [step...]     steps: fuzz sqlfuzz concurrency concurrency8 crash
#                                          replication resources sharding (default: all, in
#                                          that order)
#
# Runs against the installed extension (install it first: scripts/install.sh, or the main suite),
# on throwaway clusters on ports 28820-28844 of 127.0.0.1, like the main suite's scenarios. About
# 25 minutes on 2 cores with a debug build, plus about 6 for sharding's 300k rows (release build,
# PostgreSQL 18: 357 s, 50/50, 2026-12-03). Every knob of the scenarios can be overridden from the
# environment (see the header of each script); STRESS_FUZZ_CASES sets the fuzzing cases per target.
source "$(dirname "$0")/../../scripts/lib.sh"
cd "$ROOT"

STEPS=("$@")
[ ${#STEPS[@]} -gt 0 ] || STEPS=(fuzz sqlfuzz concurrency concurrency8 crash replication resources sharding)
passed=0
failed=0
failures=()

step() {
    local name=$1
    shift
    log "stress: $name"
    local t0=$SECONDS
    if "$@"; then
        passed=$((passed + 1))
        log "stress: $name passed in $((SECONDS - t0))s"
    else
        failed=$((failed + 1))
        failures+=("$name")
        log "stress: $name FAILED after $((SECONDS - t0))s"
    fi
}

fuzz() {
    (cd tests/stress/fuzz && CARGO_TARGET_DIR="$ROOT/target/stress-fuzz" cargo build --release --quiet) &&
        FUZZ_CASES="${STRESS_FUZZ_CASES:-1000000}" "$ROOT/target/stress-fuzz/release/semvec-stress-fuzz"
}

for s in "${STEPS[@]}"; do
    case "$s" in
        fuzz) step "fuzz: text parsers, binary receivers, typmods, damaged index pages" fuzz ;;
        sqlfuzz) step "fuzz through SQL: casts and binary COPY" env SQLFUZZ_STRINGS="${SQLFUZZ_STRINGS:-200000}" bash tests/stress/sql_fuzz.sh ;;
        concurrency) step "concurrency: 4 clients for 60s" env CONC_SECONDS="${CONC_SECONDS:-60}" CONC_CLIENTS=4 bash tests/scenarios/concurrency.sh ;;
        concurrency8) step "concurrency: 8 clients for 120s" env CONC_SECONDS=120 CONC_CLIENTS=8 CONC_ROWS=20000 bash tests/scenarios/concurrency.sh ;;
        crash) step "crash recovery: 6 rounds of 20s" env CRASH_ROUNDS="${CRASH_ROUNDS:-6}" CRASH_INSERT_SECONDS="${CRASH_INSERT_SECONDS:-20}" bash tests/scenarios/crash_recovery.sh ;;
        replication) step "replication: 50000 rows" env REPL_ROWS="${REPL_ROWS:-50000}" bash tests/scenarios/replication.sh ;;
        resources) step "resources: 200000 scans in one backend" env RES_QUERIES="${RES_QUERIES:-200000}" bash tests/scenarios/resources.sh ;;
        sharding) step "sharding: 300000 rows over 3 postgres_fdw shards" env SHARD_ROWS="${SHARD_ROWS:-300000}" bash tests/scenarios/sharding.sh ;;
        *)
            echo "unknown step $s" >&2
            exit 2
            ;;
    esac
done
for f in "${failures[@]}"; do echo "  failed: $f"; done
echo "stress: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
