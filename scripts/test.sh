#!/usr/bin/env bash
# The whole test suite: set-up (idempotent), core crates (cargo test), pgrx #[pg_test]s,
# pg_regress SQL sessions against a real cluster, and the multi-process scenario scripts.
#
# Against PostgreSQL 15, 18 and 16 in that order (SEMVEC_TEST_PGS, default "15 18 16": what CI
# runs), then a compile-only check for 17 (scripts/build_check.sh; SEMVEC_TEST_BUILD_ONLY, default
# "17"); or only the major SEMVEC_PG picks when it is set. One major after the other; the core
# crates, which do not depend on the server, are tested in the first run only. On a major other
# than 15 the scenarios named in SEMVEC_TEST_SKIP_SCENARIOS are skipped ("" runs them all). Its
# defaults keep CI well inside its 90 minutes:
#   18: the scenarios whose code does not depend on the server major (recall, load, resources,
#       build progress, SQL-only vectorizer, from_pgvector): what 15 runs on the same code;
#   16: also concurrency, PITR, ivfflat WAL and sharding (18 runs them, the same code paths):
#       16 runs clients, crash recovery, replication, upgrade and the vectorizer's workers.
if [ -z "${SEMVEC_TEST_PGS:-}" ] && [ -z "${SEMVEC_PG:-}" ]; then
    export SEMVEC_TEST_PGS="15 18 16"
    export SEMVEC_TEST_BUILD_ONLY="${SEMVEC_TEST_BUILD_ONLY-17}"
fi
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# Where the time goes: every step's duration is appended to SEMVEC_TEST_TIMINGS (one file for the
# whole run, over every major) and printed as a table at the end, so the tail of a CI log names the
# slow steps; the log lines carry the time since the suite started.
export SEMVEC_SUITE_T0="${SEMVEC_SUITE_T0:-$(date +%s)}"
export SEMVEC_TEST_TIMINGS="${SEMVEC_TEST_TIMINGS:-$(mktemp /tmp/semvec-test-timings.XXXXXX)}"
elapsed() { local s=$(($(date +%s) - SEMVEC_SUITE_T0)); printf '%d:%02d' $((s / 60)) $((s % 60)); }
step_t0=$(date +%s) step_name=""
# step NAME: close the step before (its duration goes to the timings file) and start NAME.
step() {
    local now; now=$(date +%s)
    if [ -n "$step_name" ]; then
        printf '%s\t%s\t%d\n' "$PG_MAJOR" "$step_name" $((now - step_t0)) >>"$SEMVEC_TEST_TIMINGS"
    fi
    step_name="$1" step_t0=$now
    [ -z "$1" ] || log "[+$(elapsed)] $1"
}
print_timings() {
    [ -s "$SEMVEC_TEST_TIMINGS" ] || return 0
    log "[+$(elapsed)] time per step (seconds; PostgreSQL major, step):"
    sort -t$'\t' -k3,3nr "$SEMVEC_TEST_TIMINGS" | awk -F'\t' '{ printf "  %6d  %-4s %s\n", $3, $1, $2; t += $3 } END { printf "  %6d  total\n", t }' >&2
}

if [ -n "${SEMVEC_TEST_PGS:-}" ] && [ "$SEMVEC_TEST_PGS" != "$PG_MAJOR" ]; then
    rc=0
    first=1
    for major in $SEMVEC_TEST_PGS; do
        log "=== [+$(elapsed)] the test suite on PostgreSQL $major ==="
        SEMVEC_PG=$major SEMVEC_TEST_PGS=$major SEMVEC_TEST_CORE=$first SEMVEC_TEST_OUTER=1 bash "$0" || rc=1
        first=0
    done
    for major in ${SEMVEC_TEST_BUILD_ONLY:-}; do
        log "=== [+$(elapsed)] compiling for PostgreSQL $major (no server to test against) ==="
        t0=$(date +%s)
        bash "$ROOT/scripts/build_check.sh" "$major" || { log "FAILED: the build check for $major"; rc=1; }
        printf '%s\t%s\t%d\n' "$major" "build check" $(($(date +%s) - t0)) >>"$SEMVEC_TEST_TIMINGS"
    done
    print_timings
    rm -f "$SEMVEC_TEST_TIMINGS"
    exit $rc
fi

# A clean clone gains nothing from incremental compilation, which only adds GBs to target/.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# Where the suite writes: the build (about 4 GB from a clean clone), the checkout (caches, the
# project cluster) and /tmp (pgrx's test cluster, the scenarios' throwaway clusters, or TMPDIR).
BUILD_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
SCRATCH_DIRS=("$ROOT" /tmp)
if [ -n "${TMPDIR:-}" ] && [ "$TMPDIR" != /tmp ]; then SCRATCH_DIRS+=("$TMPDIR"); fi
disk_check 6 "the build needs about 4 GB" "$BUILD_DIR"
disk_check 2 "caches and test clusters need about 2 GB" "${SCRATCH_DIRS[@]}"
step "set-up (scripts/setup.sh)"
"$ROOT/scripts/setup.sh"

# `cargo pgrx test` installs a debug build with test hooks into the system PostgreSQL, and the SQL
# tests and scenarios run against it. Whatever was installed before (say the demo's release
# build) is saved now and put back when the suite ends, however it ends.
INSTALL_SAVE="$(mktemp -d /tmp/semvec-install-save.XXXXXX)"
install_snapshot "$INSTALL_SAVE"
log "saved the installed semvec ($(wc -l <"$INSTALL_SAVE/list") files); restored when the suite ends"
on_exit() {
    step ""
    # Every major's run prints the table so far (a run cut short still names its slow steps); the
    # loop over majors prints the whole table at its end and removes the file.
    print_timings
    [ -n "${SEMVEC_TEST_OUTER:-}" ] || rm -f "$SEMVEC_TEST_TIMINGS"
    install_restore "$INSTALL_SAVE"
    log "the semvec installation is as it was before the suite"
    # Again at the end, so that a full disk is named next to what it broke.
    disk_check 1 "any \"No space left on device\" above comes from the disk, not from semvec" "$BUILD_DIR" "${SCRATCH_DIRS[@]}"
}
trap on_exit EXIT

step "lint: cargo fmt --check, clippy -D warnings, FFI guard rule"
"$ROOT/scripts/lint.sh"

if [ "${SEMVEC_TEST_CORE:-1}" = 1 ]; then
    step "core crates: cargo test"
    cargo test --workspace --exclude semvec
fi

step "pgrx tests: cargo pgrx test pg$PG_MAJOR"
PGRX_TEST_DIR=/tmp/semvec-pgrx-pg$PG_MAJOR
mkdir -p "$PGRX_TEST_DIR"; chown postgres:postgres "$PGRX_TEST_DIR"
cargo pgrx test pg$PG_MAJOR -p semvec --runas postgres --pgdata "$PGRX_TEST_DIR/data"

# pgrx test installed a debug build with test hooks; the SQL tests run against that same install.
step "pg_regress"
install_release_scripts
"$ROOT/scripts/install_vector_alias.sh"
"$ROOT/tests/run_regress.sh"

# Every scenario runs even when an earlier one fails, so one run reports all failures.
failed=()
if [ "$PG_MAJOR" = 15 ]; then
    skip="${SEMVEC_TEST_SKIP_SCENARIOS:-}"
else
    major_independent="hnsw_recall hnsw_types_recall ivfflat_recall vacuum_churn quantized bm25_index resources hnsw_build_progress vectorizer from_pgvector"
    if [ "$PG_MAJOR" = 16 ]; then major_independent+=" concurrency pitr ivfflat_wal sharding"; fi
    skip="${SEMVEC_TEST_SKIP_SCENARIOS-$major_independent}"
fi
for t in "$ROOT"/tests/scenarios/*.sh; do
    [ -e "$t" ] || continue
    if [[ " $skip " == *" $(basename "$t" .sh) "* ]]; then
        log "scenario $(basename "$t"): skipped on PostgreSQL $PG_MAJOR (SEMVEC_TEST_SKIP_SCENARIOS)"
        continue
    fi
    step "scenario $(basename "$t")"
    # A scenario that hangs fails after SEMVEC_SCENARIO_TIMEOUT seconds (its cleanup stops its
    # servers), so that the suite still ends and reports; the longest takes about 4 minutes here.
    rc=0
    timeout -k 60 "${SEMVEC_SCENARIO_TIMEOUT:-1200}" bash "$t" || rc=$?
    if [ "$rc" = 124 ]; then log "scenario $(basename "$t"): no end after ${SEMVEC_SCENARIO_TIMEOUT:-1200} s, stopped"; fi
    [ "$rc" = 0 ] || failed+=("$(basename "$t")")
done
if [ "${#failed[@]}" -gt 0 ]; then
    log "FAILED scenarios: ${failed[*]}"
    exit 1
fi
log "all tests passed (PostgreSQL $PG_MAJOR)"
