#!/usr/bin/env bash
# Installs a `vector` extension that is semvec under pgvector's name, so tools that run
# `CREATE EXTENSION vector` (Django's VectorExtension, migration scripts, ORMs) work unchanged.
# It loads the same library and runs the same SQL as semvec; a database has one or the other.
source "$(dirname "$0")/lib.sh"
SHARE="$("$PG_CONFIG" --sharedir)/extension"
VERSION=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SHARE/semvec.control")
SRC="$SHARE/semvec--$VERSION.sql"
[ -f "$SRC" ] || { echo "semvec is not installed ($SRC missing)" >&2; exit 1; }
ALIAS_VERSION=0.8.2
cat >"$SHARE/vector.control" <<CONTROL
# pgvector-compatible alias of semvec (same library, same SQL)
comment = 'semvec under pgvector''s name: vector types, hnsw and ivfflat, in-database embedding'
default_version = '$ALIAS_VERSION'
module_pathname = '\$libdir/semvec'
relocatable = false
superuser = true
trusted = false
CONTROL
cp "$SRC" "$SHARE/vector--$ALIAS_VERSION.sql"
