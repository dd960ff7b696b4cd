#!/usr/bin/env bash
# The main job: set up (idempotent), build and install semvec into PostgreSQL 15, start the project
# cluster (port 28815, data under .pgdata/), create the extension and run a short demo.
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

"$ROOT/scripts/setup.sh"
# The demo corpus: Debian's English package descriptions, from apt's lists.
if ! ls /var/lib/apt/lists/*_dists_bookworm_main_i18n_Translation-en* >/dev/null 2>&1; then
    log "apt-get update -o Acquire::Languages=en (for the package descriptions)"
    apt-get update -qq -o Acquire::Languages=en
fi
"$ROOT/scripts/install.sh"
cluster_start

psql_semvec -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'semvec_demo'" | grep -q 1 \
    || psql_semvec -d postgres -qc "CREATE DATABASE semvec_demo"
log "running demo (psql -h $SEMVEC_SOCKDIR -p $SEMVEC_PORT -U postgres semvec_demo to explore)"
psql_semvec -d semvec_demo -f "$ROOT/scripts/demo.sql"
