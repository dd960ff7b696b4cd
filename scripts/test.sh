#!/usr/bin/env bash
# The whole test suite: set-up (idempotent), core crates (cargo test), pgrx #[pg_test]s,
# pg_regress SQL sessions against a real cluster, and the multi-process scenario scripts.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

# A clean clone gains nothing from incremental compilation, which only adds GBs to target/.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
# Where the suite writes: the build (about 4 GB from a clean clone), the checkout (caches, the
# project cluster) and /tmp (pgrx's test cluster, the scenarios' throwaway clusters, or TMPDIR).
BUILD_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
SCRATCH_DIRS=("$ROOT" /tmp)
if [ -n "${TMPDIR:-}" ] && [ "$TMPDIR" != /tmp ]; then SCRATCH_DIRS+=("$TMPDIR"); fi
disk_check 6 "the build needs about 4 GB" "$BUILD_DIR"
disk_check 2 "caches and test clusters need about 2 GB" "${SCRATCH_DIRS[@]}"
"$ROOT/scripts/setup.sh"

# `cargo pgrx test` installs a debug build with test hooks into the system PostgreSQL, and the SQL
# tests and scenarios run against it. Whatever was installed before (say the demo's release
# build) is saved now and put back when the suite ends, however it ends.
INSTALL_SAVE="$(mktemp -d /tmp/semvec-install-save.XXXXXX)"
install_snapshot "$INSTALL_SAVE"
log "saved the installed semvec ($(wc -l <"$INSTALL_SAVE/list") files); restored when the suite ends"
on_exit() {
    install_restore "$INSTALL_SAVE"
    log "the semvec installation is as it was before the suite"
    # Again at the end, so that a full disk is named next to what it broke.
    disk_check 1 "any \"No space left on device\" above comes from the disk, not from semvec" "$BUILD_DIR" "${SCRATCH_DIRS[@]}"
}
trap on_exit EXIT

log "lint: cargo fmt --check, clippy -D warnings, FFI guard rule"
"$ROOT/scripts/lint.sh"

log "core crates: cargo test"
cargo test --workspace --exclude semvec

log "pgrx tests: cargo pgrx test"
PGRX_TEST_DIR=/tmp/semvec-pgrx
mkdir -p "$PGRX_TEST_DIR"; chown postgres:postgres "$PGRX_TEST_DIR"
cargo pgrx test pg$PG_MAJOR -p semvec --runas postgres --pgdata "$PGRX_TEST_DIR/data"

# pgrx test installed a debug build with test hooks; the SQL tests run against that same install.
"$ROOT/scripts/install_vector_alias.sh"
"$ROOT/tests/run_regress.sh"

# Every scenario runs even when an earlier one fails, so one run reports all failures.
failed=()
for t in "$ROOT"/tests/scenarios/*.sh; do
    [ -e "$t" ] || continue
    log "scenario $(basename "$t")"
    bash "$t" || failed+=("$(basename "$t")")
done
if [ "${#failed[@]}" -gt 0 ]; then
    log "FAILED scenarios: ${failed[*]}"
    exit 1
fi
log "all tests passed"
