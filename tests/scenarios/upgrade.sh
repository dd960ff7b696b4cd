#!/usr/bin/env bash
# ALTER EXTENSION semvec UPDATE from every frozen release (sql/semvec--X.Y.Z.sql) to the current
# version leaves the same extension as a fresh CREATE EXTENSION, and a database made at the old
# version (vector, halfvec, sparsevec and bit columns, hnsw and ivfflat indexes, a bm25 index, BM25
# registrations, a registered model) still answers the same queries with the same rows afterwards.
#
# "The same extension": `pg_dump --schema-only --binary-upgrade` (the mode pg_upgrade uses, the
# only one that dumps an extension's member objects one by one) of a database updated from the
# release and of a fresh one, split into objects, OIDs and per-run tokens removed, sorted, diffed.
# A SQL change in sql/*.sql without its line in the upgrade script fails here (docs/upgrades.md).
#
# The release scripts are installed by scripts/lib.sh's install_release_scripts (cargo pgrx install
# only installs the current version's script and the upgrade scripts).
source "$(dirname "$0")/../../scripts/lib.sh"
source "$(dirname "$0")/lib/cluster.bash"

SHARE="$("$PG_CONFIG" --sharedir)/extension"
CURRENT=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SHARE/semvec.control")
RELEASES=$(cd "$ROOT/sql" && ls semvec--*.sql 2>/dev/null | grep -v -- '--.*--' | sed 's/^semvec--\(.*\)\.sql$/\1/' | grep -vxF "$CURRENT" || true)
if [ -z "$RELEASES" ]; then
    echo "upgrade: no frozen release script other than $CURRENT under sql/" >&2
    exit 1
fi

node_init up 28838 "autovacuum = off"
node_start up

# dump_objects DB OUT: the extension's objects in DB, one normalised object per line group, sorted.
dump_objects() {
    "$PG_BIN/pg_dump" -h "$SCN_TMP" -p "$(node_port up)" -U postgres --schema-only --binary-upgrade "$1" >"$SCN_TMP/$1.raw"
    python3 - "$SCN_TMP/$1.raw" >"$2" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
# per-run tokens of pg_dump (\restrict since 18 and the latest minors) and the object OIDs
text = re.sub(r"^\\(un)?restrict .*$", "", text, flags=re.M)
text = re.sub(r"'\d+'::pg_catalog\.oid", "'N'::pg_catalog.oid", text)
text = re.sub(r"(relfrozenxid|relminmxid|datfrozenxid|datminmxid) = '\d+'", r"\1 = 'N'", text)
text = re.sub(r"WHERE oid = '\d+'", "WHERE oid = 'N'", text)
# the OIDs of the extension's configuration tables
text = re.sub(r"'\{\d+(,\d+)*\}'", "'{N}'", text)
# the LSNs some minors (15.20) record per attribute in binary-upgrade mode
text = re.sub(r"'\{[0-9A-F/,]+\}'::pg_catalog\.pg_lsn\[\]", "'{N}'::pg_catalog.pg_lsn[]", text)
text = re.sub(r"pg_catalog\.binary_upgrade_set_next_[a-z_]+\('?\d+'?(::pg_catalog\.oid)?\)", "binary_upgrade_set_next_oid(N)", text)
blocks = re.split(r"\n--\n-- (?=Name: )", text)
out = []
for b in blocks[1:]:
    # the #[pg_test] functions of a `cargo pgrx test` build (schema tests) are not part of a release
    if re.match(r"Name: [^\n]*; Schema: tests;", b) or b.startswith("Name: tests; Type: SCHEMA"):
        continue
    b = "\n".join(l for l in b.splitlines() if l.strip() and not l.startswith("--") and not l.startswith("SET ")
                  and not l.startswith("SELECT pg_catalog.set_config"))
    out.append(b)
print("\n\n".join(sorted(out)))
PY
}

# the data a release's database holds, and the queries whose answers must not change
make_data() {
    node_psql up -d "$1" <<'SQL'
CREATE TABLE items (id int PRIMARY KEY, v vector(8), h halfvec(8), s sparsevec(8), b bit(8), body text, tsv tsvector);
INSERT INTO items
SELECT i, v, v::halfvec(8), v::sparsevec(8), binary_quantize(v)::bit(8), body, to_tsvector('english', body)
FROM (SELECT i,
             (SELECT array_agg(((hashint8(i * 100003 + j) & 2147483647) % 2001 - 1000) / 100.0) FROM generate_series(1, 8) j)::vector(8) AS v,
             (ARRAY['gene expression in mice', 'protein folding of enzymes', 'mice and men', 'expression of proteins in yeast',
                    'semantic search in databases', 'vector indexes for search'])[1 + i % 6] || ' ' || i AS body
      FROM generate_series(1, 3000) i) s;
CREATE INDEX items_v_hnsw ON items USING hnsw (v vector_l2_ops);
CREATE INDEX items_h_hnsw ON items USING hnsw (h halfvec_cosine_ops);
CREATE INDEX items_s_hnsw ON items USING hnsw (s sparsevec_l2_ops);
CREATE INDEX items_b_hnsw ON items USING hnsw (b bit_hamming_ops);
CREATE INDEX items_v_ivf ON items USING ivfflat (v vector_ip_ops) WITH (lists = 10);
CREATE INDEX items_tsv_gin ON items USING gin (tsv);
SELECT bm25_create('items', 'tsv', 'english');
CREATE INDEX items_tsv_bm25 ON items USING bm25 (tsv);
CREATE VIEW item_stats AS SELECT avg(v) AS v_avg, sum(h) AS h_sum FROM items;
SQL
}

# answers DB: what the indexes, BM25 and the model return, one line per query.
answers() {
    node_psql up -d "$1" -At <<'SQL'
SET enable_seqscan = off;
SET ivfflat.probes = 10;
SELECT 'hnsw v', string_agg(id::text, ',') FROM (SELECT id FROM items ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 10) s;
SELECT 'hnsw h', string_agg(id::text, ',') FROM (SELECT id FROM items ORDER BY h <=> '[1,2,3,4,5,6,7,8]' LIMIT 10) s;
SELECT 'hnsw s', string_agg(id::text, ',') FROM (SELECT id FROM items ORDER BY s <-> '{1:1,3:3,5:5}/8' LIMIT 10) s;
SELECT 'hnsw b', count(*) FROM (SELECT id FROM items ORDER BY b <~> '10101010' LIMIT 10) s;
SELECT 'ivfflat v', string_agg(id::text, ',') FROM (SELECT id FROM items ORDER BY v <#> '[1,2,3,4,5,6,7,8]' LIMIT 10) s;
SELECT 'bm25 index', string_agg(id::text, ',') FROM (SELECT id FROM items ORDER BY tsv <@> bm25_query('items', 'tsv', 'gene expression mice') LIMIT 10) s;
SELECT 'bm25_search', string_agg(id::text, ',' ORDER BY rank) FROM bm25_search('items', 'id', 'tsv', 'protein enzymes', 10);
SELECT 'view', v_avg::text, h_sum::text FROM item_stats;
SELECT 'model', vector_dims(embed('a man is eating food', model => 'upgrade-test-model'));
SQL
}

# plans DB: each ORDER BY above runs through its index.
plans() {
    node_psql up -d "$1" -At <<'SQL'
SET enable_seqscan = off;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY v <#> '[1,2,3,4,5,6,7,8]' LIMIT 10;
EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY tsv <@> bm25_query('items', 'tsv', 'gene expression mice') LIMIT 10;
SQL
}

MODEL_DIR="$SHARE/semvec/models/all-MiniLM-L6-v2-int8"
for release in $RELEASES; do
    log "upgrade from $release to $CURRENT"
    db="rel_${release//./_}"
    empty="empty_${release//./_}"
    node_psql up -d postgres -c "CREATE DATABASE $db" -c "CREATE DATABASE $empty"
    node_psql up -d "$db" -c "CREATE EXTENSION semvec VERSION '$release'"
    node_psql up -d "$empty" -c "CREATE EXTENSION semvec VERSION '$release'"
    check_eq "CREATE EXTENSION semvec VERSION '$release' (every C symbol its script names exists)" \
        "$(node_sql up "SELECT extversion FROM pg_extension WHERE extname = 'semvec'" -d "$db")" "$release"
    make_data "$db"
    if [ -f "$MODEL_DIR/model.onnx" ]; then
        node_psql up -d "$db" -c "SELECT semvec_register_model('upgrade-test-model', '$MODEL_DIR/model.onnx', '$MODEL_DIR/tokenizer.json')" >/dev/null
    fi
    answers "$db" >"$SCN_TMP/before.txt"
    check "the $release database answers every query" test "$(grep -c . "$SCN_TMP/before.txt")" -ge 8

    node_psql up -d "$db" -c "ALTER EXTENSION semvec UPDATE"
    node_psql up -d "$empty" -c "ALTER EXTENSION semvec UPDATE"
    check_eq "ALTER EXTENSION semvec UPDATE reaches $CURRENT" \
        "$(node_sql up "SELECT extversion FROM pg_extension WHERE extname = 'semvec'" -d "$db")" "$CURRENT"

    answers "$db" >"$SCN_TMP/after.txt"
    if cmp -s "$SCN_TMP/before.txt" "$SCN_TMP/after.txt"; then
        pass "after the update every query returns the same rows ($(wc -l <"$SCN_TMP/after.txt") queries)"
    else
        fail "after the update the answers changed"
        diff "$SCN_TMP/before.txt" "$SCN_TMP/after.txt" >&2 || true
    fi
    p=$(plans "$db")
    check "hnsw, ivfflat and bm25 indexes are used after the update" \
        test "$(grep -cE 'Index Scan using items_(v_hnsw|v_ivf|tsv_bm25)' <<<"$p")" -eq 3
    for idx in items_v_hnsw items_tsv_bm25; do
        check_eq "$idx passes semvec_index_check after the update" "$(node_sql up "SELECT semvec_index_check('$idx') ->> 'ok'" -d "$db")" true
    done
    node_psql up -d "$db" -c "INSERT INTO items (id, v, h, s, b, body, tsv) VALUES (100000, '[1,2,3,4,5,6,7,8]', '[1,2,3,4,5,6,7,8]', '{1:1,3:3,5:5}/8', '10101010', 'gene expression mice mice', to_tsvector('english', 'gene expression mice mice'))"
    check_eq "a row inserted after the update is found first through hnsw" \
        "$(node_sql up "SET enable_seqscan = off; SELECT id FROM items ORDER BY v <-> '[1,2,3,4,5,6,7,8]' LIMIT 1" -d "$db" | tail -1)" 100000
    check_eq "BM25 statistics follow inserts after the update" \
        "$(node_sql up "SELECT sum(n_docs) FROM bm25_corpus_stats WHERE table_oid = 'items'::regclass" -d "$db")" 3001

    node_psql up -d postgres -c "CREATE DATABASE fresh_$db"
    node_psql up -d "fresh_$db" -c "CREATE EXTENSION semvec"
    dump_objects "$empty" "$SCN_TMP/updated.sql"
    dump_objects "fresh_$db" "$SCN_TMP/fresh.sql"
    n=$(grep -c '^CREATE ' "$SCN_TMP/fresh.sql" || true)
    check "the fresh install's dump names the extension's objects ($n CREATE statements)" test "$n" -gt 300
    if cmp -s "$SCN_TMP/fresh.sql" "$SCN_TMP/updated.sql"; then
        pass "the extension updated from $release is object for object the fresh $CURRENT (pg_dump --binary-upgrade)"
    else
        fail "the extension updated from $release differs from a fresh $CURRENT install"
        diff -u "$SCN_TMP/fresh.sql" "$SCN_TMP/updated.sql" | head -60 >&2 || true
    fi

    # The `vector` alias (scripts/install_vector_alias.sh) follows the same versions.
    if [ "$release" = 0.1.0 ]; then alias_old=0.8.2; else alias_old="0.8.2+semvec.$release"; fi
    alias_new=$(sed -n "s/^default_version = '\(.*\)'/\1/p" "$SHARE/vector.control")
    node_psql up -d postgres -c "CREATE DATABASE alias_$db" -c "CREATE DATABASE alias_fresh_$db"
    node_psql up -d "alias_$db" -c "CREATE EXTENSION vector VERSION '$alias_old'" -c "ALTER EXTENSION vector UPDATE"
    node_psql up -d "alias_fresh_$db" -c "CREATE EXTENSION vector"
    check_eq "ALTER EXTENSION vector UPDATE goes from $alias_old to $alias_new" \
        "$(node_sql up "SELECT extversion FROM pg_extension WHERE extname = 'vector'" -d "alias_$db")" "$alias_new"
    dump_objects "alias_$db" "$SCN_TMP/alias_updated.sql"
    dump_objects "alias_fresh_$db" "$SCN_TMP/alias_fresh.sql"
    if cmp -s "$SCN_TMP/alias_fresh.sql" "$SCN_TMP/alias_updated.sql"; then
        pass "the vector alias updated from $alias_old is object for object a fresh one"
    else
        fail "the vector alias updated from $alias_old differs from a fresh one"
        diff -u "$SCN_TMP/alias_fresh.sql" "$SCN_TMP/alias_updated.sql" | head -40 >&2 || true
    fi
done
finish
