#!/usr/bin/env bash
# Creates (or reuses) the Python virtualenv for the client tests and the RAG example under
# <checkout>/.cache/venv, from tests/clients/requirements.txt. Idempotent: it only reinstalls when the
# requirements change. Prints the venv's python path on stdout.
source "$(dirname "$0")/../../scripts/lib.sh"

VENV="${SEMVEC_VENV:-$ROOT/.cache/venv}"
REQ="$ROOT/tests/clients/requirements.txt"
# Debian's python3 (setup.sh installs python3-venv); another python3 only when it is missing.
PY="${SEMVEC_PYTHON:-$(command -v /usr/bin/python3 || command -v python3)}"
stamp="$VENV/.requirements.sha256"
want="$( (sha256sum "$REQ"; "$PY" --version) | sha256sum | cut -c1-64)"

if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    echo "$VENV/bin/python"
    exit 0
fi
if ! "$PY" -c 'import venv, ensurepip' 2>/dev/null; then
    log "apt-get install python3-venv"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
log "creating $VENV ($("$PY" --version))"
rm -rf "$VENV"
mkdir -p "$(dirname "$VENV")"
"$PY" -m venv "$VENV" >&2
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$REQ" >&2
echo "$want" >"$stamp"
echo "$VENV/bin/python"
