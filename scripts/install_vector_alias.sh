#!/usr/bin/env bash
# Installs a `vector` extension that is semvec under pgvector's name, so tools that run
# `CREATE EXTENSION vector` (Django's VectorExtension, migration scripts, ORMs) work unchanged.
# It loads the same library and runs the same SQL as semvec; a database has one or the other, and
# a server has this alias or pgvector (pgvector's own vector--*.sql scripts are removed).
#
# The alias follows semvec's versions: semvec 0.1.0 is `vector` 0.8.2 (pgvector's version at the
# time, which databases made before semvec had versions carry), every later semvec X.Y.Z is
# `vector` 0.8.2+semvec.X.Y.Z (semver build metadata: still 0.8.2 to a client comparing versions).
# Each installed semvec script becomes the alias's script of the same version, each upgrade script
# its upgrade script, so `ALTER EXTENSION vector UPDATE` works like `ALTER EXTENSION semvec UPDATE`.
# Run it after install_release_scripts (scripts/lib.sh), which installs the releases' scripts.
source "$(dirname "$0")/lib.sh"
SHARE="$("$PG_CONFIG" --sharedir)/extension"
VERSION=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SHARE/semvec.control")
[ -f "$SHARE/semvec--$VERSION.sql" ] || { echo "semvec is not installed ($SHARE/semvec--$VERSION.sql missing)" >&2; exit 1; }
ALIAS_BASE=0.8.2
alias_version() {
    if [ "$1" = 0.1.0 ]; then echo "$ALIAS_BASE"; else echo "$ALIAS_BASE+semvec.$1"; fi
}
rm -f "$SHARE"/vector--*.sql
cat >"$SHARE/vector.control" <<CONTROL
# pgvector-compatible alias of semvec $VERSION (same library, same SQL)
comment = 'semvec under pgvector''s name: vector types, hnsw and ivfflat, in-database embedding'
default_version = '$(alias_version "$VERSION")'
module_pathname = '\$libdir/semvec'
relocatable = false
superuser = true
trusted = false
CONTROL
for f in "$SHARE"/semvec--*.sql; do
    name=$(basename "$f" .sql)
    name=${name#semvec--}
    if [[ "$name" == *--* ]]; then
        cp "$f" "$SHARE/vector--$(alias_version "${name%%--*}")--$(alias_version "${name#*--}").sql"
    else
        cp "$f" "$SHARE/vector--$(alias_version "$name").sql"
    fi
done
