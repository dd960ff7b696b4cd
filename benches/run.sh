#!/usr/bin/env bash
# Side-by-side benchmark: semvec (PostgreSQL 15, port 28815) against pgvector 0.8 (PostgreSQL 18,
# port 28818) on real data, in one run. Prints a markdown table with semvec/pgvector ratios and writes
# it (plus JSON) under .cache/bench/results/. Everything stays on the loopback / Unix sockets.
#
# Usage: benches/run.sh [--quick] [semvec-bench options...]   (benches/run.sh --help for all)
#        benches/run.sh --all [--quick]   fashion-mnist, Debian descriptions and embed() throughput
#        benches/run.sh --embed [embed-throughput options...]   in-database embedding throughput against
#        Python onnxruntime on 2000 Debian descriptions (semvec only; --embed --help for its options)
# It does not build or install semvec: run scripts/install.sh first (it says whether semvec is there).
source "$(dirname "$0")/../scripts/pgvector/env.sh"
cd "$ROOT"

# --all: everything issue 8 asks for, in one command: fashion-mnist, the Debian descriptions (embedded
# by semvec first when their cache is missing, ~8 min once) and embed() throughput against Python.
# Options after --all go to the two side-by-side runs (e.g. --quick).
if [ "${1:-}" = --all ]; then
    shift
    bash "$ROOT/benches/run.sh" "$@"
    if [ ! -e "$ROOT/.cache/bench/debian/base.fvecs" ]; then
        if ! ls /var/lib/apt/lists/*bookworm_main_i18n_Translation-en.lz4 >/dev/null 2>&1; then
            apt-get update -qq -o Acquire::Languages=en
        fi
        log "embedding the Debian descriptions with semvec's embed() (cached in .cache/bench/debian)"
        "$ROOT/target/release/semvec-bench" embed-debian
    fi
    bash "$ROOT/benches/run.sh" --dataset debian "$@"
    exec bash "$ROOT/benches/run.sh" --embed
fi

embed=0
if [ "${1:-}" = --embed ]; then
    embed=1
    shift
fi

case " $* " in
    *" --help "*|*" -h "*)
        if [ "$embed" = 1 ]; then
            cargo run --quiet --release -p semvec-bench -- embed-throughput --help
        else
            cargo run --quiet --release -p semvec-bench -- --help
        fi
        exit 0 ;;
esac

dataset=fashion-mnist
prev=
for a in "$@"; do
    [ "$prev" = --dataset ] && dataset="$a"
    case "$a" in --dataset=*) dataset="${a#--dataset=}" ;; esac
    prev="$a"
done

# Data sources (Debian packages and apt's lists).
if [ "$dataset" = fashion-mnist ] && [ ! -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
    log "apt-get install dataset-fashion-mnist"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends dataset-fashion-mnist >/dev/null
fi
[ "$embed" = 1 ] && dataset=debian-texts
if [ "${dataset#debian}" != "$dataset" ] && ! ls /var/lib/apt/lists/*bookworm_main_i18n_Translation-en.lz4 >/dev/null 2>&1; then
    log "apt-get update -o Acquire::Languages=en (for the package descriptions)"
    apt-get update -qq -o Acquire::Languages=en
fi

# pgvector: fetched, set up and started by its own idempotent script (not needed for --embed).
[ "$embed" = 1 ] || "$ROOT/scripts/pgvector/setup.sh" >/dev/null

# semvec: only checked, never built here.
sharedir="$("$PG_CONFIG" --sharedir)"
pkglib="$("$PG_CONFIG" --pkglibdir)"
if [ -e "$sharedir/extension/semvec.control" ] && [ -e "$pkglib/semvec.so" ]; then
    version="$(grep -oP "^default_version\s*=\s*'\K[^']+" "$sharedir/extension/semvec.control" || echo '?')"
    log "semvec $version is installed in PostgreSQL $PG_MAJOR ($pkglib/semvec.so of $(date -r "$pkglib/semvec.so" '+%F %T'))"
    # The release profile has no debug info; `cargo pgrx test` installs a debug build, far slower.
    if file "$pkglib/semvec.so" 2>/dev/null | grep -q 'with debug_info'; then
        export SEMVEC_BENCH_NOTE="semvec.so is a DEBUG build (has debug info): run scripts/install.sh for release figures"
        log "warning: $SEMVEC_BENCH_NOTE"
    else
        export SEMVEC_BENCH_NOTE="semvec.so built $(date -r "$pkglib/semvec.so" '+%F %T'), release profile"
    fi
else
    log "semvec is NOT installed in PostgreSQL $PG_MAJOR (run scripts/install.sh): its column will show n/a"
fi
cluster_start

log "building the benchmark client"
cargo build --quiet --release -p semvec-bench
if [ "$embed" = 1 ]; then
    log "running: semvec-bench embed-throughput $*"
    exec "$ROOT/target/release/semvec-bench" embed-throughput "$@"
fi
log "running: semvec-bench $*"
exec "$ROOT/target/release/semvec-bench" "$@"
