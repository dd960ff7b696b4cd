# Helpers of the recall scenarios. Source it after scripts/lib.sh with DB set.
#   run STATEMENT...  each argument one statement in DB (so VACUUM runs outside a transaction
#                     block), NOTICEs shown indented; fails when one fails.
#   $EXPECT_SQL       creates expect(what, value, threshold) in a psql script: prints the value and
#                     raises when it is below the threshold.

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
