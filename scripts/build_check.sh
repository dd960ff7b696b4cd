#!/usr/bin/env bash
# Compiles semvec against a PostgreSQL major that no reachable package can run here: 17.
#
# No PostgreSQL 17 server for Debian 12 (or wheel with one) is reachable from these machines, but
# Debian 13 (trixie) has 17: postgresql-server-dev-17 carries its server headers and libpq-dev
# (17 in trixie) its pg_config, a Perl script. This script downloads those two packages from
# deb.debian.org (their checksums taken from trixie's package index), unpacks them under
# .cache/pg17-headers without installing anything, points a copy
# of its pg_config at the unpacked headers, and runs clippy (-D warnings, every target: the glue,
# its #[pg_test]s) and a build of the extension's library for pg17 against them. That checks that
# every version gate (src/compat.rs) and every pgrx binding the glue uses compiles for 17; it does
# not run anything (see README, "PostgreSQL versions").
#
# Usage: scripts/build_check.sh [17]   (the test suite runs it after the majors it tests)
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

major="${1:-17}"
[ "$major" = 17 ] || { echo "build_check.sh: only 17 (15, 16 and 18 are tested by scripts/test.sh)" >&2; exit 2; }

MIRROR="${SEMVEC_DEBIAN_MIRROR:-https://deb.debian.org/debian}"
SUITE=trixie
PKGS=(postgresql-server-dev-$major libpq-dev)
DEST="$ROOT/.cache/pg$major-headers"
PG_CONFIG_17="$DEST/pg_config"

if ! "$PG_CONFIG_17" --version 2>/dev/null | grep -q "PostgreSQL $major"; then
    log "downloading ${PKGS[*]} from $MIRROR ($SUITE) into $DEST"
    rm -rf "$DEST"
    mkdir -p "$DEST"
    curl -fsSL --retry 3 "$MIRROR/dists/$SUITE/main/binary-amd64/Packages.gz" | gzip -d >"$DEST/Packages"
    for pkg in "${PKGS[@]}"; do
        # the package's stanza: its file in the pool and its checksum
        stanza=$(awk -v p="Package: $pkg" '$0 == p { on = 1 } on && /^$/ { exit } on' "$DEST/Packages")
        file=$(sed -n 's/^Filename: //p' <<<"$stanza")
        sha=$(sed -n 's/^SHA256: //p' <<<"$stanza")
        [ -n "$file" ] && [ -n "$sha" ] || { echo "build_check.sh: $pkg not in $SUITE's index" >&2; exit 1; }
        curl -fsSL --retry 3 -o "$DEST/pkg.deb" "$MIRROR/$file"
        echo "$sha  $DEST/pkg.deb" | sha256sum -c --quiet -
        dpkg-deb -x "$DEST/pkg.deb" "$DEST/root"
        rm -f "$DEST/pkg.deb"
    done
    rm -f "$DEST/Packages"
    # Debian's pg_config is a Perl script whose answers are absolute paths under /usr: the copy
    # answers with the same paths under the unpacked tree.
    sed -E "s#^(BINDIR|DOCDIR|HTMLDIR|INCLUDEDIR|PKGINCLUDEDIR|INCLUDEDIR-SERVER|LIBDIR|PKGLIBDIR|LOCALEDIR|MANDIR|SHAREDIR|SYSCONFDIR|PGXS) = /#\1 = $DEST/root/#" \
        "$DEST/root/usr/bin/pg_config" >"$PG_CONFIG_17"
    chmod +x "$PG_CONFIG_17"
fi
log "PostgreSQL $major headers: $("$PG_CONFIG_17" --version), $("$PG_CONFIG_17" --includedir-server)"

# pgrx's build script takes the pg_config from PGRX_PG_CONFIG_PATH when it is set, so nothing is
# registered in ~/.pgrx/config.toml (cargo pgrx would then expect a runnable server).
export PGRX_PG_CONFIG_PATH="$PG_CONFIG_17"
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
log "clippy for pg$major: cargo clippy -p semvec --all-targets --features pg$major -D warnings"
cargo clippy -p semvec --all-targets --no-default-features --features "pg$major" -- -D warnings
log "build for pg$major: cargo build -p semvec --lib --features pg$major"
cargo build -p semvec --lib --no-default-features --features "pg$major"
log "semvec compiles for PostgreSQL $major"
