#!/usr/bin/env bash
# Builds semvec in release mode and installs it into the system PostgreSQL 15.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
log "cargo pgrx install --release"
cargo pgrx install --release --pg-config "$PG_CONFIG" -p semvec >/dev/null
"$ROOT/scripts/install_vector_alias.sh"
