# Helpers of the recall scenarios. Source it after scripts/lib.sh with DB set.
#   run STATEMENT...  each argument one statement in DB (so VACUUM runs outside a transaction
#                     block), NOTICEs shown indented; fails when one fails.
#   $EXPECT_SQL       creates expect(what, value, threshold) in a psql script: prints the value and
#                     raises when it is below the threshold.
#   fashion_mnist_db  (re)creates DB with the extension and fashion-mnist's first N training rows
#                     as base and first Q test rows as queries (id, label, v vector(784)).

EXPECT_SQL=$(cat <<'SQL'
CREATE FUNCTION expect(what text, value float8, threshold float8) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    RAISE NOTICE '% = % (threshold %)', what, round(value::numeric, 4), threshold;
    IF value < threshold THEN RAISE EXCEPTION 'recall check failed: % = % < %', what, value, threshold; END IF;
END $$;
SQL
)

run() {
    local args=()
    for s in "$@"; do args+=(-c "$s"); done
    psql_semvec -d $DB -qAtX "${args[@]}" 2>&1 | sed '/^$/d; s/^psql:.*NOTICE:  /  /; s/^NOTICE:  /  /'
    [ "${PIPESTATUS[0]}" -eq 0 ]
}

fashion_mnist_db() {
    local data="$ROOT/tests/data/fashion_mnist.py"
    [ -d /usr/share/datasets/fashion-mnist ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist >/dev/null
    psql_semvec -d postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB"
    psql_semvec -d $DB -q <<SQL
\set QUIET on
CREATE EXTENSION semvec;
CREATE TABLE base (id int PRIMARY KEY, label int, v vector(784));
\copy base FROM PROGRAM 'python3 $data train $N'
CREATE TABLE queries (id int PRIMARY KEY, label int, v vector(784));
\copy queries FROM PROGRAM 'python3 $data test $Q'
SQL
}
