#!/usr/bin/env bash
# Fuzzing through SQL (part of the stress command): random strings cast to vector, halfvec and
# sparsevec, and random binary COPY rows, must each either load or fail with a data error
# (22P02, 22000, 22003, 22023, 54000, 08P01, 22P03), never an internal error (XX000) or a crash.
#
# Environment: SQLFUZZ_STRINGS (default 200000), SQLFUZZ_COPIES (default 3000).
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/../scenarios/lib/cluster.bash"

STRINGS=${SQLFUZZ_STRINGS:-200000}
COPIES=${SQLFUZZ_COPIES:-3000}

node_init fuzz 28836
node_start fuzz
node_psql fuzz -d postgres -c "CREATE DATABASE semvec_test"
node_psql fuzz -c "CREATE EXTENSION semvec"

log "casting $STRINGS random strings to each type ($(elapsed))"
node_psql fuzz <<'SQL'
CREATE TABLE outcomes (type text, sqlstate text, n bigint);
CREATE FUNCTION fuzz_string(seed bigint) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT string_agg(substr(' [],{}:/0123456789.eE+-naifNIF ', 1 + ((hashint8(seed * 131 + i) & 2147483647) % 31)::int, 1), '')
    FROM generate_series(1, 1 + ((hashint8(seed) & 2147483647) % 24)::int) i
$$;
CREATE FUNCTION fuzz_cast(n int, typ text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE s text; state text; counts jsonb := '{}';
BEGIN
    FOR i IN 1..n LOOP
        s := CASE WHEN i % 3 = 0 THEN '[' || fuzz_string(i) || ']'
                  WHEN i % 3 = 1 AND typ = 'sparsevec' THEN '{' || fuzz_string(i) || '}/' || (i % 50)
                  ELSE fuzz_string(i) END;
        BEGIN
            EXECUTE format('SELECT %L::%s', s, typ);
            state := 'ok';
        EXCEPTION WHEN OTHERS THEN
            GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE;
        END;
        counts := jsonb_set(counts, ARRAY[state], to_jsonb(coalesce((counts ->> state)::bigint, 0) + 1));
    END LOOP;
    INSERT INTO outcomes SELECT typ, key, value::bigint FROM jsonb_each_text(counts);
END $$;
SQL
for typ in vector halfvec sparsevec; do
    node_psql fuzz -c "SELECT fuzz_cast($STRINGS, '$typ')" >/dev/null
done
node_sql fuzz "SELECT type || ' ' || sqlstate || ': ' || n FROM outcomes ORDER BY 1" | sed 's/^/  /'
check_eq "every string loads or fails with a data error" \
    "$(node_sql fuzz "SELECT count(*) FROM outcomes WHERE sqlstate NOT IN ('ok', '22P02', '22000', '22003', '22023', '54000')")" 0
check "some strings were valid values" test "$(node_sql fuzz "SELECT coalesce(sum(n), 0) FROM outcomes WHERE sqlstate = 'ok'")" -gt 0

log "$COPIES binary COPY rows of random bytes ($(elapsed))"
mkdir -p "$SCN_TMP/copy"
python3 - "$SCN_TMP/copy" "$COPIES" <<'PY'
import os, random, struct, sys
out, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
for i in range(n):
    kind = i % 3
    if kind == 0:   # vector: dims, unused, floats (some NaN/Inf/garbage), sometimes cut or padded
        dim = rng.choice([0, 1, 2, 3, 16001, 65535, rng.randrange(65536)])
        body = struct.pack(">hh", dim - 65536 if dim > 32767 else dim, rng.choice([0, 0, 0, 1]))
        body += b"".join(struct.pack(">f", rng.choice([1.0, -2.5, float("nan"), float("inf"), rng.uniform(-1e38, 1e38)])) for _ in range(min(dim, 4)))
    elif kind == 1:  # sparsevec: dim, nnz, unused, indices, values
        nnz = rng.choice([0, 1, 2, 3, -1, 16001])
        body = struct.pack(">iii", rng.choice([1, 5, 0, -3, 1000000001]), nnz, rng.choice([0, 0, 1]))
        body += b"".join(struct.pack(">i", rng.choice([0, 1, 2, 4, -1, 7])) for _ in range(max(0, min(nnz, 3))))
        body += b"".join(struct.pack(">f", rng.choice([1.0, 0.0, float("nan")])) for _ in range(max(0, min(nnz, 3))))
    else:            # noise
        body = bytes(rng.randrange(256) for _ in range(rng.randrange(24)))
    if rng.random() < 0.2:
        body = body[: rng.randrange(len(body) + 1)]
    if rng.random() < 0.1:
        body += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 5)))
    f = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0) + struct.pack(">hi", 1, len(body)) + body + struct.pack(">h", -1)
    with open(os.path.join(out, "%d.%s" % (i, ["vector", "sparsevec", "vector"][kind])), "wb") as fh:
        fh.write(f)
PY
chmod -R a+rX "$SCN_TMP/copy"
node_psql fuzz -c "CREATE TABLE bv (v vector); CREATE TABLE bs (v sparsevec)"
for f in "$SCN_TMP"/copy/*; do
    case "$f" in *.vector) t=bv ;; *) t=bs ;; esac
    echo "COPY $t FROM '$f' WITH (FORMAT binary);"
done >"$SCN_TMP/copies.sql"
node_psql fuzz -v ON_ERROR_STOP=0 -v VERBOSITY=verbose -f "$SCN_TMP/copies.sql" >"$SCN_TMP/copies.out" 2>&1 || true
grep -o 'ERROR:  [0-9A-Z]\{5\}' "$SCN_TMP/copies.out" | sort | uniq -c | sed 's/^/  /'
check_eq "every malformed binary row fails with a data or protocol error" \
    "$(grep -o 'ERROR:  [0-9A-Z]\{5\}' "$SCN_TMP/copies.out" | grep -vc 'ERROR:  \(22P02\|22000\|22003\|22023\|54000\|08P01\|22P03\)' || true)" 0
check "the server never crashed" bash -c "! grep -q 'terminated by signal\|PANIC' '$(node_dir fuzz)/server.log'"
check_eq "the server still answers" "$(node_sql fuzz "SELECT count(*) >= 0 FROM bv")" t
node_stop fuzz
finish
