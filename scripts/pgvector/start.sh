#!/usr/bin/env bash
# Starts the pgvector (PostgreSQL 18) cluster on port 28818, creating it on first use.
# Its settings match the semvec cluster's (scripts/lib.sh) so that benchmarks compare like with like.
source "$(dirname "$0")/env.sh"

if [ ! -x "$PGV_BIN/postgres" ]; then
    echo "error: pgvector is not installed; run scripts/pgvector/setup.sh" >&2; exit 1
fi
mkdir -p "$PGV_PGDATA"
chown postgres:postgres "$PGV_PGDATA"
chmod 700 "$PGV_PGDATA"
if [ ! -s "$PGV_PGDATA/PG_VERSION" ]; then
    log "initdb $PGV_PGDATA"
    # PostgreSQL 18 turns data checksums on by default, 15 does not; off here so WAL volumes compare.
    pgv_run initdb -D "$PGV_PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
        --no-data-checksums >/dev/null
    cat >>"$PGV_PGDATA/postgresql.conf" <<CONF
port = $PGV_PORT
unix_socket_directories = '$PGV_SOCKDIR'
listen_addresses = '127.0.0.1'
shared_buffers = 256MB
maintenance_work_mem = 1GB
max_parallel_maintenance_workers = 2
wal_level = replica
max_wal_senders = 4
fsync = on
CONF
fi
if pgv_running; then
    log "pgvector cluster already running on port $PGV_PORT"
else
    log "starting pgvector cluster on port $PGV_PORT"
    pgv_run pg_ctl -D "$PGV_PGDATA" -l "$PGV_PGDATA/server.log" -w -t 60 start >/dev/null
fi
