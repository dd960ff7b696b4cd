#!/usr/bin/env bash
# Runs our SQL regression sessions (tests/pg_regress/sql/*.sql) against real pgvector (PostgreSQL 18,
# port 28818) and diffs the output with our expected files (tests/pg_regress/expected/*.out), to show
# statement-by-statement parity. The extension name is the only thing rewritten, the same way in the
# SQL and in the expected output: `CREATE/DROP/ALTER EXTENSION [IF [NOT] EXISTS] semvec` -> `vector`
# and `extname = 'semvec'` -> `'vector'` (\echo text is left alone: it prints the same on both); in the
# expected output also `extension "semvec"` in messages and a result row that is just ` semvec`.
# Sessions run from the output folder (pg_regress's convention for `results/...` paths).
#
# Usage: scripts/pgvector/compare_regress.sh [--client15|--client18] [--inputdir DIR] [TEST...]
#   --client15  (default) PostgreSQL 15's pg_regress + psql, the client that wrote the expected files,
#               so differences come from the server and extension only.
#   --client18  the pgserver wheel's PostgreSQL 18 psql (driven by PostgreSQL 15's pg_regress).
# A file whose text contains the line `-- compare-pgvector: skip` (semvec-only features such as embed()
# or BM25) is not run. Output: one line per test, the diffs (also in $OUT/regression.diffs), a summary.
source "$(dirname "$0")/env.sh"

client=15
inputdir="$ROOT/tests/pg_regress"
tests=()
while [ $# -gt 0 ]; do
    case "$1" in
        --client15) client=15 ;;
        --client18) client=18 ;;
        --inputdir) inputdir="$2"; shift ;;
        -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
        *) tests+=("$1") ;;
    esac
    shift
done

# pg_regress itself is PostgreSQL 15's in both cases (the wheel's copy does not run: its ELF was
# damaged by the wheel's repair step); it only drives `$bindir/psql`, which is what differs.
regress="$(dirname "$("$PG_CONFIG" --pgxs)")/../test/regress/pg_regress"
if [ "$client" = 15 ]; then
    bindir="$PG_BIN"
    runenv=()
else
    bindir="$PGV_BIN"
    runenv=(LD_LIBRARY_PATH="$PGV_LIBS:$PGV_INSTALL/lib")
fi
[ -x "$regress" ] || { echo "error: no pg_regress at $regress" >&2; exit 1; }

if ! pgv_running; then "$(dirname "$0")/start.sh"; fi

OUT="${COMPARE_OUT:-/tmp/semvec-compare-pgvector}"
rm -rf "$OUT"; mkdir -p "$OUT/input/sql" "$OUT/input/expected" "$OUT/results"
chmod -R a+rwX "$OUT"

# The same rewrite for SQL and expected output, so that echoed statements still match.
rename_extension() {
    sed -E \
        -e 's/^([[:space:]]*(CREATE|DROP|ALTER|create|drop|alter)[[:space:]]+(EXTENSION|extension)[[:space:]]+((IF|if)[[:space:]]+((NOT|not)[[:space:]]+)?(EXISTS|exists)[[:space:]]+)?)semvec\b/\1vector/' \
        -e "s/(extname[[:space:]]*=[[:space:]]*)'semvec'/\\1'vector'/g"
}

# Server messages and result rows that name the extension itself, in the expected output only:
# `extension "semvec" ...` notices/errors, and a one-column row that is just the name.
rename_in_output() {
    sed -E -e 's/(extension|EXTENSION) "semvec"/\1 "vector"/g' -e 's/^ semvec$/ vector/'
}

if [ ${#tests[@]} -eq 0 ]; then
    for f in "$inputdir"/sql/*.sql; do
        [ -e "$f" ] || continue
        tests+=("$(basename "$f" .sql)")
    done
fi
[ ${#tests[@]} -gt 0 ] || { echo "no test files in $inputdir/sql" >&2; exit 1; }

run=(); skipped=(); missing=()
for t in "${tests[@]}"; do
    if grep -q -- '-- compare-pgvector: skip' "$inputdir/sql/$t.sql"; then skipped+=("$t"); continue; fi
    rename_extension <"$inputdir/sql/$t.sql" >"$OUT/input/sql/$t.sql"
    # Still run it: pgvector's output is then in $OUT/results for a look.
    if ! ls "$inputdir/expected/$t"*.out >/dev/null 2>&1; then missing+=("$t"); run+=("$t"); : >"$OUT/input/expected/$t.out"; continue; fi
    for e in "$inputdir/expected/$t".out "$inputdir/expected/$t"_[0-9].out; do
        [ -e "$e" ] && rename_extension <"$e" | rename_in_output >"$OUT/input/expected/$(basename "$e")"
    done
    run+=("$t")
done

log "pgvector $(psql_pgvector -d postgres -qAt -c "SELECT default_version FROM pg_available_extensions WHERE name = 'vector'") on $(psql_pgvector -d postgres -qAt -c 'SHOW server_version'), client: PostgreSQL $client psql"
status=0
if [ ${#run[@]} -gt 0 ]; then
    # pg_regress prints "ok"/"FAILED" per test; keep its log and re-read the outcome from it.
    # From the output folder, so that sessions' relative paths (\copy ... 'results/x') land there.
    cd "$OUT"
    env ${runenv[@]+"${runenv[@]}"} "$regress" --host="$PGV_SOCKDIR" --port="$PGV_PORT" --user=postgres \
        --dbname=semvec_compare_pgvector --inputdir="$OUT/input" --outputdir="$OUT" --bindir="$bindir" \
        "${run[@]}" >"$OUT/pg_regress.log" 2>&1 || status=$?
fi

# A test matches when its output equals its expected file or one of the alternatives (name_N.out).
matches_expected() {
    local t="$1" e
    [ -f "$OUT/results/$t.out" ] || return 1
    for e in "$OUT/input/expected/$t".out "$OUT/input/expected/$t"_[0-9].out; do
        [ -e "$e" ] && cmp -s "$e" "$OUT/results/$t.out" && return 0
    done
    return 1
}

passed=0; failed=0; failed_tests=()
for t in "${run[@]}"; do
    if [[ " ${missing[*]} " == *" $t "* ]]; then continue; fi
    if matches_expected "$t"; then
        printf '  same      %s\n' "$t"; passed=$((passed + 1))
    else
        printf '  DIFFERS   %s\n' "$t"; failed=$((failed + 1)); failed_tests+=("$t")
    fi
done
for t in "${skipped[@]}"; do printf '  skipped   %s (semvec-only or newer-pgvector behaviour)\n' "$t"; done
for t in "${missing[@]}"; do printf '  no .out   %s (pgvector output: %s)\n' "$t" "$OUT/results/$t.out"; done

if [ "$failed" -gt 0 ]; then
    echo
    echo "Differences (- our expected output, + pgvector's output); full diffs in $OUT/regression.diffs:"
    for t in "${failed_tests[@]}"; do
        echo "=== $t: $(diff "$OUT/input/expected/$t.out" "$OUT/results/$t.out" | grep -c '^[<>]' || true) differing lines"
        diff -U 3 --label "expected/$t.out (semvec)" --label "pgvector/$t.out" \
            "$OUT/input/expected/$t.out" "$OUT/results/$t.out" | head -n "${COMPARE_MAX_LINES:-120}" || true
    done
elif [ "$status" -ne 0 ] && [ ${#missing[@]} -eq 0 ]; then
    cat "$OUT/pg_regress.log"
fi
echo
echo "pgvector parity: ${passed} same, ${failed} differ, ${#skipped[@]} skipped, ${#missing[@]} without expected output"
[ "$failed" -eq 0 ]
