#!/usr/bin/env bash
# The lint gate, run first by the test suite: formatting, clippy with warnings as errors, and the
# FFI rule of the glue. Usage: scripts/lint.sh
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

cargo fmt --all --check
if [ "$PG_MAJOR" = 15 ]; then
    cargo clippy --workspace --all-targets -- -D warnings
else
    # The core crates do not depend on the server: the default (15) run lints them.
    cargo clippy -p semvec --all-targets --no-default-features --features "pg$PG_MAJOR" -- -D warnings
fi

# The FFI rule: every Postgres function is called through pgrx's `pg_sys` wrappers, whose guard
# turns an ERROR into a Rust panic that unwinds through our frames (dropping what they hold) and is
# re-raised at the callback's `#[pg_guard]`. An `extern` block of our own would declare functions
# without that guard, and an ERROR inside them would long-jump over Rust frames. C function
# pointers Postgres hands us (bulk-delete callbacks) go through `pg_guard_ffi_boundary`
# (`src/index/am.rs`).
if grep -rnE 'extern "C(-unwind)?" *\{' src; then
    echo "lint: unguarded extern declarations in src/ (call Postgres through pg_sys)" >&2
    exit 1
fi
if grep -rn 'callback(&mut\|callback(ip' src | grep -v pg_guard_ffi_boundary; then
    echo "lint: a C callback called without pg_guard_ffi_boundary" >&2
    exit 1
fi
log "lint: clean"
