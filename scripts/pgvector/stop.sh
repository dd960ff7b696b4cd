#!/usr/bin/env bash
# Stops the pgvector (PostgreSQL 18) cluster started by start.sh.
source "$(dirname "$0")/env.sh"
if pgv_running; then
    log "stopping pgvector cluster on port $PGV_PORT"
    pgv_run pg_ctl -D "$PGV_PGDATA" -m fast -w stop >/dev/null
else
    log "pgvector cluster is not running"
fi
