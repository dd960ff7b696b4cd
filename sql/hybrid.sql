-- semvec: Okapi BM25 keyword ranking over tsvector (or text) columns, and hybrid search that fuses it
-- with vector search by reciprocal rank fusion (RRF).
--
-- How the BM25 statistics are kept:
-- - term frequency and document length come from each row's tsvector (positions per lexeme; 1 for a
--   stripped lexeme), computed when a row is scored;
-- - a query lexeme's document frequency is counted at query time through the GIN index, in the
--   query's snapshot, so it is always exact;
-- - the number of documents and their total length, which would need a full scan, are kept in
--   bm25_corpus_stats by statement-level triggers that bm25_create() installs (INSERT, UPDATE,
--   DELETE with transition tables, and TRUNCATE).
-- Writers append delta rows and, under READ COMMITTED, fold the rows no other transaction holds into
-- one (FOR UPDATE SKIP LOCKED), so concurrent writers never wait for each other on the counters.
--
-- Every helper that reads a user table is SECURITY INVOKER and builds its query with format('%I'),
-- regclass output and parameters. The two functions that write bm25_corpus_stats (the trigger
-- function and the recount) are SECURITY DEFINER with a fixed search_path; the recount only runs for
-- a caller holding a lock that blocks writers on the table, which needs write privileges on it.

-- pg_class (table), pg_index: delta rows; the sums per (table, column) are the statistics.
CREATE TABLE bm25_corpus_stats (
    table_oid regclass NOT NULL,
    doc_column name NOT NULL,
    n_docs bigint NOT NULL,
    total_length bigint NOT NULL
);
CREATE INDEX bm25_corpus_stats_column_idx ON bm25_corpus_stats (table_oid, doc_column);
COMMENT ON TABLE bm25_corpus_stats IS
    'BM25 corpus statistics: the sums of n_docs and total_length over the rows of one (table_oid, doc_column) are its document count and total document length';
-- pg_dump keeps the statistics (the triggers are dumped with the user tables).
SELECT pg_catalog.pg_extension_config_dump('bm25_corpus_stats', '');
REVOKE ALL ON bm25_corpus_stats FROM PUBLIC;
GRANT SELECT ON bm25_corpus_stats TO PUBLIC;

-- pg_type (composite): a parsed BM25 query, built once by bm25_query() and read by bm25_score().
CREATE TYPE bm25query AS (
    or_query tsquery,      -- 'a' | 'b' | ...: the candidates, through the GIN index
    lexemes text[],        -- the query's distinct lexemes
    weights float8[],      -- per lexeme: its count in the query times its IDF
    k1 float8,
    b float8,
    avg_length float8,     -- average document length of the corpus
    n_docs bigint,         -- number of documents in the corpus
    lexeme_counts integer[], -- per lexeme, its count in the query
    config regconfig       -- the text search configuration the query was parsed with
);

-- pg_proc: C functions (src/hybrid/mod.rs).
CREATE FUNCTION bm25_document_length(tsvector) RETURNS integer
    AS 'MODULE_PATHNAME', 'semvec_bm25_document_length' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bm25_document_length(tsvector) IS
    'BM25 document length: the number of positions in the tsvector (a stripped lexeme counts 1)';

CREATE FUNCTION semvec_bm25_idf(n_docs bigint, df bigint) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_bm25_idf' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION semvec_bm25_or_tsquery(lexemes text[]) RETURNS tsquery
    AS 'MODULE_PATHNAME', 'semvec_bm25_or_tsquery' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION semvec_bm25_check_params(k1 float8, b float8) RETURNS void
    AS 'MODULE_PATHNAME', 'semvec_bm25_check_params' LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION semvec_rrf_check_params(rrf_k float8, keyword_weight float8, vector_weight float8,
                                        keyword_depth integer, vector_depth integer, top_k integer)
    RETURNS void
    AS 'MODULE_PATHNAME', 'semvec_rrf_check_params' LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- pg_aggregate: per query lexeme, the number of rows containing it (document frequencies).
CREATE FUNCTION semvec_bm25_df_accum(internal, tsvector, text[]) RETURNS internal
    AS 'MODULE_PATHNAME', 'semvec_bm25_df_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION semvec_bm25_df_final(internal) RETURNS bigint[]
    AS 'MODULE_PATHNAME', 'semvec_bm25_df_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE semvec_bm25_df(tsvector, text[]) (
    SFUNC = semvec_bm25_df_accum,
    STYPE = internal,
    FINALFUNC = semvec_bm25_df_final
);

-- One-pass ranking (bm25_search, hybrid_search): per candidate its term counts, the document
-- frequencies as a window aggregate over all candidates, then the score.
CREATE FUNCTION semvec_bm25_term_counts(tsvector, text[]) RETURNS integer[]
    AS 'MODULE_PATHNAME', 'semvec_bm25_term_counts' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION semvec_bm25_df_counts_accum(internal, integer[]) RETURNS internal
    AS 'MODULE_PATHNAME', 'semvec_bm25_df_counts_accum' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE FUNCTION semvec_bm25_df_counts_final(internal) RETURNS bigint[]
    AS 'MODULE_PATHNAME', 'semvec_bm25_df_counts_final' LANGUAGE C IMMUTABLE PARALLEL SAFE;
CREATE AGGREGATE semvec_bm25_df_counts(integer[]) (
    SFUNC = semvec_bm25_df_counts_accum,
    STYPE = internal,
    FINALFUNC = semvec_bm25_df_counts_final
);
CREATE FUNCTION semvec_bm25_score_counts(integer[], bigint[], bm25query) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_bm25_score_counts' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION semvec_bm25_trigger_args(bytea) RETURNS text[]
    AS 'MODULE_PATHNAME', 'semvec_bm25_trigger_args' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- pg_proc: SQL helpers.

-- One ranking's RRF contribution: weight / (k + rank), 0 when the document is not in the ranking.
CREATE FUNCTION rrf_score(rank bigint, k float8 DEFAULT 60, weight float8 DEFAULT 1) RETURNS float8
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN $1 IS NULL THEN 0::float8 ELSE $3 / ($2 + $1) END $$;
COMMENT ON FUNCTION rrf_score(bigint, float8, float8) IS
    'reciprocal rank fusion term: weight / (k + rank), 0 for a NULL rank';

-- BM25 of one document (its tsvector) for a query built by bm25_query().
CREATE FUNCTION bm25_score(doc tsvector, query bm25query) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_bm25_score' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bm25_score(tsvector, bm25query) IS 'Okapi BM25 score of a document for a bm25_query()';

-- The expression that yields a row's tsvector: the column itself, or to_tsvector(config, column) for
-- text. Only exact types are accepted, so no user-defined cast can run here.
CREATE FUNCTION semvec_bm25_document_expr(tbl regclass, doc_column name, config regconfig,
                                          row_alias text DEFAULT NULL)
    RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$
DECLARE
    typ oid;
    ref text;
BEGIN
    IF doc_column IS NULL THEN
        RAISE EXCEPTION 'document column must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = doc_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation "%" does not exist', doc_column, tbl
            USING ERRCODE = 'undefined_column';
    END IF;
    ref := CASE WHEN row_alias IS NULL THEN pg_catalog.format('%I', doc_column)
                ELSE pg_catalog.format('%I.%I', row_alias, doc_column) END;
    IF typ = 'pg_catalog.tsvector'::pg_catalog.regtype THEN
        RETURN ref;
    ELSIF typ IN ('pg_catalog.text'::pg_catalog.regtype, 'pg_catalog.varchar'::pg_catalog.regtype) THEN
        RETURN pg_catalog.format('pg_catalog.to_tsvector(%L::pg_catalog.regconfig, %s)', config::text, ref);
    END IF;
    RAISE EXCEPTION 'column "%" of relation "%" has type %, not tsvector or text',
        doc_column, tbl, typ::pg_catalog.regtype
        USING ERRCODE = 'datatype_mismatch',
              HINT = 'BM25 ranks a tsvector column, or a text column through to_tsvector().';
END
$$;

-- Trigger function installed by bm25_create() (statement level, AFTER, with transition tables).
CREATE FUNCTION semvec_bm25_maintain() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    col name;
    cfg regconfig;
    delta_docs bigint := 0;
    delta_length bigint := 0;
    n bigint;
    len bigint;
BEGIN
    IF TG_LEVEL <> 'STATEMENT' OR TG_WHEN <> 'AFTER' OR TG_NARGS <> 2 THEN
        RAISE EXCEPTION 'semvec_bm25_maintain() must be installed by bm25_create()'
            USING ERRCODE = 'trigger_protocol_violated';
    END IF;
    col := TG_ARGV[0];
    cfg := TG_ARGV[1]::regconfig;
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM @extschema@.bm25_corpus_stats s WHERE s.table_oid = TG_RELID AND s.doc_column = col;
        INSERT INTO @extschema@.bm25_corpus_stats VALUES (TG_RELID, col, 0, 0);
        RETURN NULL;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        EXECUTE format('SELECT count(d), coalesce(sum(@extschema@.bm25_document_length(d)), 0) '
                       'FROM (SELECT %s AS d FROM semvec_new_rows r) s',
                       @extschema@.semvec_bm25_document_expr(TG_RELID, col, cfg, 'r'))
           INTO n, len;
        delta_docs := delta_docs + n;
        delta_length := delta_length + len;
    END IF;
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        EXECUTE format('SELECT count(d), coalesce(sum(@extschema@.bm25_document_length(d)), 0) '
                       'FROM (SELECT %s AS d FROM semvec_old_rows r) s',
                       @extschema@.semvec_bm25_document_expr(TG_RELID, col, cfg, 'r'))
           INTO n, len;
        delta_docs := delta_docs - n;
        delta_length := delta_length - len;
    END IF;
    IF delta_docs = 0 AND delta_length = 0 THEN
        RETURN NULL;
    END IF;
    IF current_setting('transaction_isolation') = 'read committed' THEN
        -- Fold this statement's delta and every row nobody else holds into one row. Rows locked by
        -- concurrent writers are skipped (they fold them, or a later statement will), so the sum
        -- stays exact and no writer waits for another.
        WITH folded AS (
            DELETE FROM @extschema@.bm25_corpus_stats s
             WHERE s.ctid = ANY (ARRAY(
                   SELECT x.ctid FROM @extschema@.bm25_corpus_stats x
                    WHERE x.table_oid = TG_RELID AND x.doc_column = col
                      FOR UPDATE SKIP LOCKED))
            RETURNING s.n_docs, s.total_length)
        INSERT INTO @extschema@.bm25_corpus_stats
        SELECT TG_RELID, col, delta_docs + coalesce(sum(f.n_docs), 0), delta_length + coalesce(sum(f.total_length), 0)
          FROM folded f;
    ELSE
        -- Under REPEATABLE READ or SERIALIZABLE, locking rows another transaction changed after
        -- our snapshot would fail: only append.
        INSERT INTO @extschema@.bm25_corpus_stats VALUES (TG_RELID, col, delta_docs, delta_length);
    END IF;
    RETURN NULL;
END
$$;

-- The text search configuration a column was registered with by bm25_create(), or NULL. The
-- registration is the INSERT trigger itself (arguments: column, configuration), so it survives
-- pg_dump and renames of the table.
CREATE FUNCTION semvec_bm25_registered_config(tbl regclass, doc_column name) RETURNS regconfig
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT (@extschema@.semvec_bm25_trigger_args(t.tgargs))[2]::pg_catalog.regconfig
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid = $1
       AND t.tgfoid = '@extschema@.semvec_bm25_maintain()'::pg_catalog.regprocedure
       AND t.tgtype::integer & 4 <> 0
       AND (@extschema@.semvec_bm25_trigger_args(t.tgargs))[1] = $2
     LIMIT 1
$$;

-- Recount a registered column's statistics from the table. Runs as the extension owner to write
-- bm25_corpus_stats, and only for a caller that holds a lock blocking writers on the table (so the
-- count cannot race with them); taking such a lock needs UPDATE, DELETE or TRUNCATE privilege.
CREATE FUNCTION semvec_bm25_recount(tbl regclass, doc_column name) RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    cfg regconfig;
    n bigint;
    len bigint;
BEGIN
    cfg := @extschema@.semvec_bm25_registered_config(tbl, doc_column);
    IF cfg IS NULL THEN
        RAISE EXCEPTION 'column "%" of relation "%" has no BM25 statistics', doc_column, tbl
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = format('Run SELECT bm25_create(%L, %L);', tbl::text, doc_column);
    END IF;
    IF current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'BM25 statistics can only be counted in a READ COMMITTED transaction'
            USING ERRCODE = 'invalid_transaction_state';
    END IF;
    IF NOT EXISTS (
        SELECT FROM pg_locks l
         WHERE l.locktype = 'relation' AND l.relation = tbl AND l.pid = pg_backend_pid() AND l.granted
           AND l.database = (SELECT d.oid FROM pg_database d WHERE d.datname = current_database())
           AND l.mode IN ('ShareLock', 'ShareRowExclusiveLock', 'ExclusiveLock', 'AccessExclusiveLock')) THEN
        RAISE EXCEPTION 'counting BM25 statistics of "%" needs a lock that blocks writers', tbl
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'Use bm25_refresh(), which takes it.';
    END IF;
    EXECUTE format('SELECT count(d), coalesce(sum(@extschema@.bm25_document_length(d)), 0) '
                   'FROM (SELECT %s AS d FROM ONLY %s) s',
                   @extschema@.semvec_bm25_document_expr(tbl, doc_column, cfg), tbl)
       INTO n, len;
    DELETE FROM @extschema@.bm25_corpus_stats s WHERE s.table_oid = tbl AND s.doc_column = $2;
    INSERT INTO @extschema@.bm25_corpus_stats VALUES (tbl, doc_column, n, len);
END
$$;

-- Drop the statistics rows of columns that are no longer registered (and of dropped tables); run
-- by bm25_create() and bm25_drop(). Until then such rows are inert: readers check the registration.
CREATE FUNCTION semvec_bm25_forget() RETURNS void
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
BEGIN
    DELETE FROM @extschema@.bm25_corpus_stats s
     WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = s.table_oid)
        OR @extschema@.semvec_bm25_registered_config(s.table_oid, s.doc_column) IS NULL;
END
$$;

-- Register a column for BM25: install the statistics triggers and count the current rows.
CREATE FUNCTION bm25_create(tbl regclass, doc_column name, config regconfig DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    cfg text;
    op text;
    tname text;
BEGIN
    IF tbl IS NULL THEN
        RAISE EXCEPTION 'table must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid = tbl) <> 'r' THEN
        RAISE EXCEPTION '"%" is not a table', tbl
            USING ERRCODE = 'wrong_object_type',
                  HINT = 'BM25 statistics are kept for ordinary tables (not views, partitioned or foreign tables).';
    END IF;
    SELECT pg_catalog.format('%I.%I', n.nspname, c.cfgname) INTO cfg
      FROM pg_catalog.pg_ts_config c JOIN pg_catalog.pg_namespace n ON n.oid = c.cfgnamespace
     WHERE c.oid = coalesce(config, pg_catalog.get_current_ts_config());
    PERFORM @extschema@.semvec_bm25_document_expr(tbl, doc_column, cfg::regconfig);
    IF @extschema@.semvec_bm25_registered_config(tbl, doc_column) IS NOT NULL THEN
        RAISE EXCEPTION 'column "%" of relation "%" already has BM25 statistics', doc_column, tbl
            USING ERRCODE = 'duplicate_object',
                  HINT = 'Use bm25_refresh() to recount them, or bm25_drop() first.';
    END IF;
    IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
        RAISE EXCEPTION 'bm25_create() must run in a READ COMMITTED transaction'
            USING ERRCODE = 'invalid_transaction_state';
    END IF;
    -- Writers wait from here until commit: the triggers and the count see the same rows.
    EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN SHARE ROW EXCLUSIVE MODE', tbl);
    FOREACH op IN ARRAY ARRAY['INSERT', 'UPDATE', 'DELETE', 'TRUNCATE'] LOOP
        tname := 'semvec_bm25_' || pg_catalog.left(pg_catalog.md5(doc_column), 10) || '_' || pg_catalog.lower(op);
        EXECUTE pg_catalog.format(
            'CREATE TRIGGER %I AFTER %s ON %s %s FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.semvec_bm25_maintain(%L, %L)',
            tname, op, tbl,
            CASE op WHEN 'INSERT' THEN 'REFERENCING NEW TABLE AS semvec_new_rows'
                    WHEN 'UPDATE' THEN 'REFERENCING OLD TABLE AS semvec_old_rows NEW TABLE AS semvec_new_rows'
                    WHEN 'DELETE' THEN 'REFERENCING OLD TABLE AS semvec_old_rows'
                    ELSE '' END,
            doc_column, cfg);
    END LOOP;
    PERFORM @extschema@.semvec_bm25_recount(tbl, doc_column);
    PERFORM @extschema@.semvec_bm25_forget();
END
$$;
COMMENT ON FUNCTION bm25_create(regclass, name, regconfig) IS
    'keep BM25 statistics for a tsvector or text column (config: the text search configuration of the column; default: default_text_search_config)';

-- Recount the statistics (after triggers were disabled, e.g. on a logical replica).
CREATE FUNCTION bm25_refresh(tbl regclass, doc_column name) RETURNS void
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF @extschema@.semvec_bm25_registered_config(tbl, doc_column) IS NULL THEN
        RAISE EXCEPTION 'column "%" of relation "%" has no BM25 statistics', doc_column, tbl
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = pg_catalog.format('Run SELECT bm25_create(%L, %L);', tbl::text, doc_column);
    END IF;
    EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN SHARE ROW EXCLUSIVE MODE', tbl);
    PERFORM @extschema@.semvec_bm25_recount(tbl, doc_column);
END
$$;
COMMENT ON FUNCTION bm25_refresh(regclass, name) IS 'recount the BM25 statistics of a column from its rows';

-- Unregister a column: drop its triggers and statistics.
CREATE FUNCTION bm25_drop(tbl regclass, doc_column name) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    t name;
    dropped boolean := false;
BEGIN
    FOR t IN
        SELECT tr.tgname FROM pg_catalog.pg_trigger tr
         WHERE tr.tgrelid = tbl
           AND tr.tgfoid = '@extschema@.semvec_bm25_maintain()'::pg_catalog.regprocedure
           AND (@extschema@.semvec_bm25_trigger_args(tr.tgargs))[1] = doc_column
    LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', t, tbl);
        dropped := true;
    END LOOP;
    IF NOT dropped THEN
        RAISE EXCEPTION 'column "%" of relation "%" has no BM25 statistics', doc_column, tbl
            USING ERRCODE = 'undefined_object';
    END IF;
    PERFORM @extschema@.semvec_bm25_forget();
END
$$;
COMMENT ON FUNCTION bm25_drop(regclass, name) IS 'stop keeping BM25 statistics for a column';

-- The statistics of a registered column (NULLs when it has none).
CREATE FUNCTION bm25_stats(tbl regclass, doc_column name,
                           OUT n_docs bigint, OUT total_length bigint, OUT avg_length float8)
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT sum(s.n_docs)::bigint, sum(s.total_length)::bigint,
           CASE WHEN sum(s.n_docs) > 0 THEN sum(s.total_length)::float8 / sum(s.n_docs)::float8 ELSE 0 END
      FROM @extschema@.bm25_corpus_stats s
     WHERE s.table_oid = $1 AND s.doc_column = $2
    HAVING count(*) > 0
$$;
COMMENT ON FUNCTION bm25_stats(regclass, name) IS 'BM25 corpus statistics of a column: documents, total and average length';

-- A query for one registered column, without its weights: lexemes (parsed with the column's text
-- search configuration), their counts in the query, the corpus statistics and the OR query.
CREATE FUNCTION semvec_bm25_parse(tbl regclass, doc_column name, query text, k1 float8, b float8)
    RETURNS bm25query LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$
DECLARE
    cfg regconfig;
    st record;
    q @extschema@.bm25query;
BEGIN
    PERFORM @extschema@.semvec_bm25_check_params(k1, b);
    cfg := @extschema@.semvec_bm25_registered_config(tbl, doc_column);
    PERFORM @extschema@.semvec_bm25_document_expr(tbl, doc_column, cfg);
    IF cfg IS NULL THEN
        RAISE EXCEPTION 'column "%" of relation "%" has no BM25 statistics', doc_column, tbl
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = pg_catalog.format('Run SELECT bm25_create(%L, %L);', tbl::text, doc_column);
    END IF;
    SELECT * INTO st FROM @extschema@.bm25_stats(tbl, doc_column);
    IF st.n_docs IS NULL THEN
        RAISE EXCEPTION 'BM25 statistics of column "%" of relation "%" are missing', doc_column, tbl
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = pg_catalog.format('Run SELECT bm25_refresh(%L, %L);', tbl::text, doc_column);
    END IF;
    SELECT coalesce(pg_catalog.array_agg(u.lexeme ORDER BY u.lexeme), '{}'),
           coalesce(pg_catalog.array_agg(coalesce(pg_catalog.cardinality(u.positions), 1) ORDER BY u.lexeme), '{}')
      INTO q.lexemes, q.lexeme_counts
      FROM pg_catalog.unnest(pg_catalog.to_tsvector(cfg, coalesce(query, ''))) u;
    q.k1 := k1;
    q.b := b;
    q.n_docs := st.n_docs;
    q.avg_length := st.avg_length;
    q.or_query := @extschema@.semvec_bm25_or_tsquery(q.lexemes);
    q.config := cfg;
    RETURN q;
END
$$;

-- Parse a query for one registered column: its lexemes (with the column's text search
-- configuration), their document frequencies counted through the GIN index, and their weights.
-- bm25_query()'s work; bm25_query() (C, below) calls it once per call site and statement for
-- the same arguments.
CREATE FUNCTION semvec_bm25_query_uncached(tbl regclass, doc_column name, query text,
                           k1 float8 DEFAULT 1.2, b float8 DEFAULT 0.75)
    RETURNS bm25query LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$
DECLARE
    doc text;
    df bigint[];
    q @extschema@.bm25query;
    idx regclass := @extschema@.semvec_bm25_index(tbl, doc_column);
BEGIN
    -- With a bm25 index: the index's statistics, no GIN pass.
    IF idx IS NOT NULL THEN
        RETURN @extschema@.semvec_bm25_index_query(idx, tbl, doc_column, query, k1, b);
    END IF;
    q := @extschema@.semvec_bm25_parse(tbl, doc_column, query, k1, b);
    IF q.or_query IS NULL THEN
        q.weights := '{}';
        RETURN q;
    END IF;
    doc := @extschema@.semvec_bm25_document_expr(tbl, doc_column, @extschema@.semvec_bm25_registered_config(tbl, doc_column));
    -- One pass over the candidates (the GIN index) counts every lexeme's documents.
    EXECUTE pg_catalog.format(
        'SELECT @extschema@.semvec_bm25_df(%s, $1) FROM ONLY %s WHERE %s OPERATOR(pg_catalog.@@) $2',
        doc, tbl, doc)
       INTO df USING q.lexemes, q.or_query;
    SELECT pg_catalog.array_agg(q.lexeme_counts[i] * @extschema@.semvec_bm25_idf(q.n_docs, coalesce(df[i], 0)) ORDER BY i)
      INTO q.weights
      FROM pg_catalog.generate_subscripts(q.lexemes, 1) i;
    RETURN q;
END
$$;
CREATE FUNCTION bm25_query(tbl regclass, doc_column name, query text,
                           k1 float8 DEFAULT 1.2, b float8 DEFAULT 0.75)
    RETURNS bm25query AS 'MODULE_PATHNAME', 'semvec_bm25_query' LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION bm25_query(regclass, name, text, float8, float8) IS
    'parse a BM25 query for a column with a bm25 index or registered with bm25_create(): lexemes, document frequencies, weights';

-- The key column as the caller wants it back (want; NULL: its own type), or an error naming the
-- type to pass. Integer keys widen to bigint, and any key can be returned as its text form.
CREATE FUNCTION semvec_key_expr(tbl regclass, key_column name, want regtype) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$
DECLARE
    typ regtype;
BEGIN
    SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = key_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation "%" does not exist', key_column, tbl
            USING ERRCODE = 'undefined_column';
    END IF;
    IF want IS NULL OR typ = want THEN
        RETURN pg_catalog.format('%I', key_column);
    ELSIF (want = 'pg_catalog.int8'::pg_catalog.regtype AND typ IN ('pg_catalog.int2'::pg_catalog.regtype, 'pg_catalog.int4'::pg_catalog.regtype))
       OR want = 'pg_catalog.text'::pg_catalog.regtype THEN
        RETURN pg_catalog.format('%I::%s', key_column, want);
    END IF;
    RAISE EXCEPTION 'key column "%" of relation "%" has type %, not %', key_column, tbl, typ, want
        USING ERRCODE = 'datatype_mismatch',
              HINT = pg_catalog.format('Use the _as variant with NULL::%s as its first argument.', typ);
END
$$;

-- A filter given as one jsonb value (for ORMs: one parameter), as a boolean SQL expression over the
-- columns of tbl, or NULL for no filter (NULL or {}). Every key is a column name; the conditions
-- are ANDed:
--   {"tenant_id": 7}                      tenant_id = 7
--   {"lang": ["en", "de"]}                lang = ANY (ARRAY['en', 'de'])   (an IN list; [] matches nothing)
--   {"deleted_at": null}                  deleted_at IS NULL
--   {"score": {">=": 1, "<": 5}}          score >= 1 AND score < 5
--   {"labels": {"&&": [1, 2]}}            labels && ARRAY[1, 2]   (also "@>", "<@": array columns)
-- Operators: =, <>, !=, <, <=, >, >=, in (a list), &&, @>, <@ (pg_catalog's). Columns are quoted
-- (%I), values are literals (%L) cast to the column's type (its element type in a list), so a value
-- that does not cast raises that cast's error. An unknown column is undefined_column (42703),
-- anything else malformed invalid_parameter_value (22023).
CREATE FUNCTION semvec_filter_sql(tbl regclass, filter jsonb) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$
DECLARE
    col text;
    cond jsonb;
    op text;
    val jsonb;
    typ text;
    elem text;
    conds text[] := '{}';
BEGIN
    IF filter IS NULL THEN
        RETURN NULL;
    END IF;
    IF pg_catalog.jsonb_typeof(filter) <> 'object' THEN
        RAISE EXCEPTION 'filter must be a JSON object of column names and values, not %', pg_catalog.jsonb_typeof(filter)
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'For example {"tenant_id": 7, "lang": ["en", "de"]}.';
    END IF;
    FOR col, cond IN SELECT e.key, e.value FROM pg_catalog.jsonb_each(filter) e ORDER BY e.key LOOP
        SELECT pg_catalog.format_type(a.atttypid, NULL),
               CASE WHEN t.typelem <> 0 AND t.typlen = -1 THEN pg_catalog.format_type(t.typelem, NULL) END
          INTO typ, elem
          FROM pg_catalog.pg_attribute a
          JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
         WHERE a.attrelid = tbl AND a.attname::text = col AND a.attnum > 0 AND NOT a.attisdropped;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'column "%" of relation "%" does not exist', col, tbl
                USING ERRCODE = 'undefined_column';
        END IF;
        -- The short forms: a scalar is {"=": value}, a list {"in": list}, null IS NULL.
        CASE pg_catalog.jsonb_typeof(cond)
            WHEN 'object' THEN
                IF cond = '{}'::jsonb THEN
                    RAISE EXCEPTION 'filter on column "%" has no condition', col
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
            WHEN 'array' THEN
                cond := pg_catalog.jsonb_build_object('in', cond);
            WHEN 'null' THEN
                conds := conds || pg_catalog.format('%I IS NULL', col);
                CONTINUE;
            ELSE
                cond := pg_catalog.jsonb_build_object('=', cond);
        END CASE;
        FOR op, val IN SELECT CASE e.key WHEN '!=' THEN '<>' ELSE e.key END, e.value
                         FROM pg_catalog.jsonb_each(cond) e ORDER BY e.key LOOP
            IF op NOT IN ('=', '<>', '!=', '<', '<=', '>', '>=', 'in', '&&', '@>', '<@') THEN
                RAISE EXCEPTION 'filter on column "%": unknown operator "%"', col, op
                    USING ERRCODE = 'invalid_parameter_value',
                          HINT = 'Operators: =, <>, !=, <, <=, >, >=, in, &&, @>, <@.';
            END IF;
            IF pg_catalog.jsonb_typeof(val) = 'array' AND EXISTS (
                    SELECT FROM pg_catalog.jsonb_array_elements(val) v
                     WHERE pg_catalog.jsonb_typeof(v) IN ('array', 'object')) THEN
                RAISE EXCEPTION 'filter on column "%": a list takes scalar values', col
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
            IF op = 'in' THEN
                -- column = ANY (ARRAY[value::type, ...])
                IF pg_catalog.jsonb_typeof(val) <> 'array' THEN
                    RAISE EXCEPTION 'filter on column "%": "in" takes a list, not %', col, pg_catalog.jsonb_typeof(val)
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
                IF elem IS NOT NULL THEN
                    RAISE EXCEPTION 'filter on column "%": a list is an IN list, and the column is an array (%)', col, typ
                        USING ERRCODE = 'invalid_parameter_value',
                              HINT = 'On an array column use {"&&": [...]} (overlaps), {"@>": [...]} (contains) or {"=": [...]}.';
                END IF;
                conds := conds || pg_catalog.format('%I OPERATOR(pg_catalog.=) ANY (%s)', col,
                    CASE WHEN pg_catalog.jsonb_array_length(val) = 0
                         THEN pg_catalog.format('''{}''::%s[]', typ)
                         ELSE (SELECT pg_catalog.format('ARRAY[%s]',
                                          pg_catalog.string_agg(pg_catalog.format('%L::%s', v.value #>> '{}', typ), ', ' ORDER BY v.n))
                                 FROM pg_catalog.jsonb_array_elements(val) WITH ORDINALITY v(value, n)) END);
            ELSIF pg_catalog.jsonb_typeof(val) = 'array' THEN
                -- A list against an array column: ARRAY[value::element type, ...]::column type.
                IF elem IS NULL THEN
                    RAISE EXCEPTION 'filter on column "%": operator % takes a list only on an array column, not on %', col, op, typ
                        USING ERRCODE = 'invalid_parameter_value';
                END IF;
                conds := conds || pg_catalog.format('%I OPERATOR(pg_catalog.%s) %s', col, op,
                    CASE WHEN pg_catalog.jsonb_array_length(val) = 0
                         THEN pg_catalog.format('''{}''::%s', typ)
                         ELSE (SELECT pg_catalog.format('ARRAY[%s]::%s',
                                          pg_catalog.string_agg(pg_catalog.format('%L::%s', v.value #>> '{}', elem), ', ' ORDER BY v.n), typ)
                                 FROM pg_catalog.jsonb_array_elements(val) WITH ORDINALITY v(value, n)) END);
            ELSIF pg_catalog.jsonb_typeof(val) IN ('string', 'number', 'boolean') THEN
                conds := conds || pg_catalog.format('%I OPERATOR(pg_catalog.%s) %L::%s', col, op, val #>> '{}', typ);
            ELSE
                RAISE EXCEPTION 'filter on column "%": operator % takes a value or a list, not %', col, op, pg_catalog.jsonb_typeof(val)
                    USING ERRCODE = 'invalid_parameter_value';
            END IF;
        END LOOP;
    END LOOP;
    IF pg_catalog.cardinality(conds) = 0 THEN
        RETURN NULL;
    END IF;
    RETURN (SELECT pg_catalog.string_agg(pg_catalog.format('(%s)', u.c), ' AND ' ORDER BY u.n)
              FROM pg_catalog.unnest(conds) WITH ORDINALITY u(c, n));
END
$$;

-- The keyword side as SQL: the best `limit_param` candidates (rows matching any lexeme, through the
-- GIN index) as (k, s) = (key, BM25 score), best first. Each candidate's tsvector is read once: its
-- term counts feed both the document frequencies (a window aggregate over all candidates) and its
-- score (OFFSET 0 keeps the subquery, so the counts are computed once per row). `query_param` is a
-- bm25query from semvec_bm25_parse(). `filter_sql` (from semvec_filter_sql(), NULL: none) keeps the
-- candidates it accepts; the document frequencies are still counted over all candidates, so a row
-- scores the same with or without a filter (as through the bm25 index, whose statistics are global).
CREATE FUNCTION semvec_bm25_ranking_sql(tbl regclass, doc_column name, key_expr text,
                                        query_param text, limit_param text, filter_sql text DEFAULT NULL)
    RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$
DECLARE
    doc text := @extschema@.semvec_bm25_document_expr(tbl, doc_column,
                    @extschema@.semvec_bm25_registered_config(tbl, doc_column));
BEGIN
    IF filter_sql IS NULL THEN
        RETURN pg_catalog.format(
            'SELECT k, @extschema@.semvec_bm25_score_counts(c, @extschema@.semvec_bm25_df_counts(c) OVER (), %4$s) AS s '
            'FROM (SELECT %1$s AS k, @extschema@.semvec_bm25_term_counts(%2$s, (%4$s).lexemes) AS c '
            '      FROM ONLY %3$s WHERE %2$s OPERATOR(pg_catalog.@@) (%4$s).or_query OFFSET 0) candidates '
            'ORDER BY s DESC, k LIMIT %5$s',
            key_expr, doc, tbl, query_param, limit_param);
    END IF;
    -- The filter outside the window aggregate: rows it rejects count in the document frequencies
    -- and are not scored.
    RETURN pg_catalog.format(
        'SELECT k, s FROM ('
        'SELECT k, CASE WHEN matches_filter THEN @extschema@.semvec_bm25_score_counts(c, @extschema@.semvec_bm25_df_counts(c) OVER (), %4$s) END AS s, matches_filter '
        'FROM (SELECT %1$s AS k, @extschema@.semvec_bm25_term_counts(%2$s, (%4$s).lexemes) AS c, coalesce(%6$s, false) AS matches_filter '
        '      FROM ONLY %3$s WHERE %2$s OPERATOR(pg_catalog.@@) (%4$s).or_query OFFSET 0) candidates) scored '
        'WHERE matches_filter ORDER BY s DESC, k LIMIT %5$s',
        key_expr, doc, tbl, query_param, limit_param, filter_sql);
END
$$;

-- The first WAND pass's size for a ranking of depth n: n, the tie group at the cut and the row
-- after it in one pass (a second pass costs about as much as the first).
CREATE FUNCTION semvec_bm25_scan_batch(n integer) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT LEAST(n::bigint + GREATEST(10, n / 4), 1000000)::integer $$;

-- The keyword side through a bm25 index: (k, s) of the best `limit_param` matching rows, best
-- first, ties by key as semvec_bm25_ranking_sql() orders them. The index returns rows by score
-- (ties by TID); rank() takes every row tied with the last one admitted, and its run condition
-- stops the scan after them. `query_param` is a bm25query from semvec_bm25_index_query(); the
-- caller runs with semvec.bm25_unmatched_rows off, so the scan ends after the matching rows, and
-- with enable_seqscan off: the planner cannot see that the run condition stops the scan early and
-- would otherwise price a full index scan against a sequential scan and sort of the whole table
-- (the old path's GIN bitmap scan and the hnsw scan are not affected), and with jit off: that same
-- full-scan price (about 0.6 per row) passes jit_above_cost from a few hundred thousand rows, and
-- compiling the statement then costs 100-400 ms for a scan that takes a few (1M documents).
-- `filter_sql` (from semvec_filter_sql(), NULL: none) is a condition on the scan: the rows it
-- rejects are skipped (their scores and the index's statistics stay global).
CREATE FUNCTION semvec_bm25_index_ranking_sql(tbl regclass, doc_column name, key_expr text,
                                              query_param text, limit_param text, filter_sql text DEFAULT NULL)
    RETURNS text LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT pg_catalog.format(
        'SELECT k, s FROM (SELECT %1$s AS k, -(%2$I OPERATOR(@extschema@.<@>) %4$s) AS s, '
        '       pg_catalog.rank() OVER (ORDER BY %2$I OPERATOR(@extschema@.<@>) %4$s) AS r '
        '  FROM ONLY %3$s%6$s) ranked '
        'WHERE r <= %5$s AND s > 0 ORDER BY s DESC, k LIMIT %5$s',
        $3, $2, $1, $4, $5, ' WHERE ' || $6)
$$;

-- Top documents of a registered column by BM25. The candidates are the rows matching any query
-- lexeme (GIN index); all of them are scored, the best top_k returned. bm25_search_as() takes the
-- type to return the keys as in its first argument (NULL::uuid, NULL::text, ...), as
-- json_populate_record() does; bm25_search() returns bigint keys. `filter` (jsonb, see
-- semvec_filter_sql(); NULL: none) keeps only the rows it accepts, before the top_k cut.
CREATE FUNCTION bm25_search_as(key_type anyelement, tbl regclass, key_column name, doc_column name, query text,
                            top_k integer DEFAULT 10, k1 float8 DEFAULT 1.2, b float8 DEFAULT 0.75,
                            filter jsonb DEFAULT NULL)
    RETURNS TABLE (id anyelement, score float8, rank integer)
    LANGUAGE plpgsql STABLE
    SET semvec.bm25_unmatched_rows = off
    SET enable_seqscan = off
    SET jit = off
    SET semvec.bm25_scan_batch = 20
    AS $$
DECLARE
    q @extschema@.bm25query;
    key_expr text;
    filter_sql text;
    idx regclass := @extschema@.semvec_bm25_index(tbl, doc_column);
BEGIN
    IF top_k IS NULL OR top_k < 1 THEN
        RAISE EXCEPTION 'top_k must be at least 1, not %', coalesce(top_k::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    key_expr := @extschema@.semvec_key_expr(tbl, key_column, pg_catalog.pg_typeof(key_type));
    filter_sql := @extschema@.semvec_filter_sql(tbl, filter);
    -- One WAND pass for the top_k rows and the rows after them: rank() reads past the last row
    -- admitted to the end of its tie group and one more (restored on return: SET above).
    PERFORM pg_catalog.set_config('semvec.bm25_scan_batch', @extschema@.semvec_bm25_scan_batch(top_k)::text, true);
    IF idx IS NOT NULL THEN
        q := @extschema@.semvec_bm25_index_query(idx, tbl, doc_column, query, k1, b);
    ELSE
        q := @extschema@.semvec_bm25_parse(tbl, doc_column, query, k1, b);
    END IF;
    IF q.or_query IS NULL THEN
        RETURN;
    END IF;
    RETURN QUERY EXECUTE pg_catalog.format(
        'SELECT k, s, (row_number() OVER (ORDER BY s DESC, k))::integer FROM (%s) t ORDER BY 3',
        CASE WHEN idx IS NULL
             THEN @extschema@.semvec_bm25_ranking_sql(tbl, doc_column, key_expr, '$1', '$2', filter_sql)
             ELSE @extschema@.semvec_bm25_index_ranking_sql(tbl, doc_column, key_expr, '$1', '$2', filter_sql) END)
        USING q, top_k;
END
$$;

CREATE FUNCTION bm25_search(tbl regclass, key_column name, doc_column name, query text,
                            top_k integer DEFAULT 10, k1 float8 DEFAULT 1.2, b float8 DEFAULT 0.75,
                            filter jsonb DEFAULT NULL)
    RETURNS TABLE (id bigint, score float8, rank integer)
    LANGUAGE sql STABLE
    AS $$ SELECT * FROM @extschema@.bm25_search_as(NULL::bigint, $1, $2, $3, $4, $5, $6, $7, $8) $$;
COMMENT ON FUNCTION bm25_search(regclass, name, name, text, integer, float8, float8, jsonb) IS
    'top documents by Okapi BM25 for a column with a bm25 index or registered with bm25_create()';

-- The ordering operator of the column's HNSW index (so the vector side can use it), or cosine
-- distance when the column has none.
CREATE FUNCTION semvec_vector_order_operator(tbl regclass, vector_column name) RETURNS text
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$
DECLARE
    typ oid;
    op text;
BEGIN
    SELECT a.atttypid INTO typ FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = vector_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation "%" does not exist', vector_column, tbl
            USING ERRCODE = 'undefined_column';
    END IF;
    IF typ <> '@extschema@.vector'::pg_catalog.regtype THEN
        RAISE EXCEPTION 'column "%" of relation "%" has type %, not vector', vector_column, tbl, typ::pg_catalog.regtype
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    SELECT pg_catalog.format('%I.%s', n.nspname, o.oprname) INTO op
      FROM pg_catalog.pg_index i
      JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_catalog.pg_am am ON am.oid = ic.relam AND am.amname = 'hnsw'
      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
      JOIN pg_catalog.pg_opclass oc ON oc.oid = i.indclass[0]
      JOIN pg_catalog.pg_amop ao ON ao.amopfamily = oc.opcfamily AND ao.amopstrategy = 1 AND ao.amoppurpose = 'o'
      JOIN pg_catalog.pg_operator o ON o.oid = ao.amopopr
      JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
     WHERE i.indrelid = tbl AND a.attname = vector_column AND i.indisvalid AND i.indpred IS NULL
       AND o.oprname IN ('<->', '<=>', '<#>', '<+>')
     ORDER BY ic.relname
     LIMIT 1;
    RETURN coalesce(op, '@extschema@.<=>');
END
$$;

-- The statement behind hybrid_search(): two ranked candidate lists (BM25 through the GIN index,
-- distance through the HNSW index) fused by RRF. Parameters: $1 bm25query, $2 query vector,
-- $3 keyword depth, $4 vector depth, $5 keyword weight, $6 vector weight, $7 RRF k, $8 top_k.
-- `filter` (jsonb, see semvec_filter_sql(); NULL: none) is a condition of both sides' scans, so
-- each side's depth is filled from the rows it accepts: the vector side stays
-- `WHERE filter ORDER BY distance LIMIT depth`, which the HNSW index serves.
CREATE FUNCTION semvec_hybrid_sql(tbl regclass, key_column name, doc_column name, vector_column name,
                                  key_type regtype, filter jsonb DEFAULT NULL)
    RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$
DECLARE
    filter_sql text := @extschema@.semvec_filter_sql(tbl, filter);
BEGIN
    RETURN pg_catalog.format($q$
WITH keyword AS (
    SELECT k, row_number() OVER (ORDER BY s DESC, k) AS r
      FROM (%2$s) kw),
semantic AS (
    SELECT k, row_number() OVER (ORDER BY dist, k) AS r
      FROM (SELECT %1$s AS k, %4$I OPERATOR(%5$s) $2 AS dist
              FROM ONLY %3$s%6$s
             ORDER BY dist
             LIMIT $4) vs)
SELECT coalesce(keyword.k, semantic.k),
       @extschema@.rrf_score(keyword.r, $7, $5) + @extschema@.rrf_score(semantic.r, $7, $6),
       keyword.r::integer, semantic.r::integer
  FROM keyword FULL JOIN semantic ON keyword.k = semantic.k
 ORDER BY 2 DESC, 1
 LIMIT $8$q$,
        @extschema@.semvec_key_expr(tbl, key_column, key_type),
        CASE WHEN @extschema@.semvec_bm25_index(tbl, doc_column) IS NULL
             THEN @extschema@.semvec_bm25_ranking_sql(tbl, doc_column, @extschema@.semvec_key_expr(tbl, key_column, key_type), '$1', '$3', filter_sql)
             ELSE @extschema@.semvec_bm25_index_ranking_sql(tbl, doc_column, @extschema@.semvec_key_expr(tbl, key_column, key_type), '$1', '$3', filter_sql) END,
        tbl,
        vector_column,
        @extschema@.semvec_vector_order_operator(tbl, vector_column),
        E'\n             WHERE ' || filter_sql);
END
$$;

-- Everything hybrid_search() and hybrid_search_explain() check and prepare before running the
-- statement: parameters, the query vector (embedded when NULL) and the BM25 query.
CREATE FUNCTION semvec_hybrid_prepare(tbl regclass, doc_column name, query_text text, query_vector vector,
                                      top_k integer, keyword_depth integer, vector_depth integer,
                                      rrf_k float8, keyword_weight float8, vector_weight float8,
                                      k1 float8, b float8,
                                      OUT q bm25query, OUT qv vector)
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
    idx regclass;
BEGIN
    PERFORM @extschema@.semvec_rrf_check_params(rrf_k, keyword_weight, vector_weight,
                                                keyword_depth, vector_depth, top_k);
    qv := query_vector;
    IF qv IS NULL THEN
        IF query_text IS NULL THEN
            RAISE EXCEPTION 'query_text and query_vector must not both be NULL'
                USING ERRCODE = 'null_value_not_allowed';
        END IF;
        IF pg_catalog.to_regprocedure('@extschema@.embed(text)') IS NULL THEN
            RAISE EXCEPTION 'query_vector is NULL and embed(text) is not available to compute it'
                USING ERRCODE = 'undefined_function',
                      HINT = 'Pass the query''s embedding as query_vector.';
        END IF;
        -- Embedded once per call; dynamic so that this function does not depend on embed().
        EXECUTE 'SELECT @extschema@.embed($1)' INTO qv USING query_text;
    END IF;
    idx := @extschema@.semvec_bm25_index(tbl, doc_column);
    IF idx IS NOT NULL THEN
        q := @extschema@.semvec_bm25_index_query(idx, tbl, doc_column, query_text, k1, b);
    ELSE
        q := @extschema@.semvec_bm25_parse(tbl, doc_column, query_text, k1, b);
    END IF;
END
$$;

-- Hybrid search: BM25 over doc_column and vector distance over vector_column, fused by reciprocal
-- rank fusion. Returns the best top_k keys with their fused score and their rank on each side (NULL
-- when a side did not return them among its keyword_depth / vector_depth candidates). query_vector
-- NULL embeds query_text with embed(), once. hybrid_search_as() takes the key type in its first
-- argument, as bm25_search_as() does; hybrid_search() returns bigint keys. `filter` (jsonb, see
-- semvec_filter_sql(); NULL: none) restricts both sides to the rows it accepts before their depth
-- cuts (e.g. {"tenant_id": 7}).
CREATE FUNCTION hybrid_search_as(key_type anyelement, tbl regclass, key_column name, doc_column name,
                              vector_column name, query_text text, query_vector vector DEFAULT NULL,
                              top_k integer DEFAULT 10,
                              keyword_depth integer DEFAULT 100, vector_depth integer DEFAULT 100,
                              rrf_k float8 DEFAULT 60,
                              keyword_weight float8 DEFAULT 1, vector_weight float8 DEFAULT 1,
                              k1 float8 DEFAULT 1.2, b float8 DEFAULT 0.75,
                              filter jsonb DEFAULT NULL)
    RETURNS TABLE (id anyelement, score float8, keyword_rank integer, vector_rank integer)
    LANGUAGE plpgsql VOLATILE
    SET semvec.bm25_unmatched_rows = off
    SET enable_seqscan = off
    SET jit = off
    SET semvec.bm25_scan_batch = 20
    AS $$
DECLARE
    prep record;
    stmt text;
    ef_before text;
    iter_before text;
BEGIN
    SELECT * INTO prep FROM @extschema@.semvec_hybrid_prepare(tbl, doc_column, query_text, query_vector, top_k,
                                              keyword_depth, vector_depth, rrf_k, keyword_weight,
                                              vector_weight, k1, b);
    PERFORM pg_catalog.set_config('semvec.bm25_scan_batch', @extschema@.semvec_bm25_scan_batch(keyword_depth)::text, true);
    stmt := @extschema@.semvec_hybrid_sql(tbl, key_column, doc_column, vector_column,
                                          pg_catalog.pg_typeof(key_type), filter);
    -- An HNSW scan returns at most ef_search rows unless iterative: widen it for this statement.
    -- With a filter, the rows it rejects do not count towards vector_depth: an iterative scan goes
    -- on until vector_depth rows pass it (or hnsw.max_scan_tuples have been visited).
    ef_before := pg_catalog.current_setting('hnsw.ef_search', true);
    iter_before := pg_catalog.current_setting('hnsw.iterative_scan', true);
    IF coalesce(ef_before::integer, 0) < LEAST(vector_depth, 1000) THEN
        PERFORM pg_catalog.set_config('hnsw.ef_search', LEAST(vector_depth, 1000)::text, true);
    END IF;
    IF (vector_depth > 1000 OR (filter IS NOT NULL AND filter <> '{}'::jsonb))
       AND coalesce(iter_before, 'off') = 'off' THEN
        PERFORM pg_catalog.set_config('hnsw.iterative_scan', 'relaxed_order', true);
    END IF;
    RETURN QUERY EXECUTE stmt
        USING prep.q, prep.qv, keyword_depth, vector_depth, keyword_weight, vector_weight, rrf_k, top_k;
    PERFORM pg_catalog.set_config('hnsw.ef_search', ef_before, true) WHERE ef_before IS NOT NULL;
    PERFORM pg_catalog.set_config('hnsw.iterative_scan', iter_before, true) WHERE iter_before IS NOT NULL;
END
$$;

CREATE FUNCTION hybrid_search(tbl regclass, key_column name, doc_column name, vector_column name,
                              query_text text, query_vector vector DEFAULT NULL,
                              top_k integer DEFAULT 10,
                              keyword_depth integer DEFAULT 100, vector_depth integer DEFAULT 100,
                              rrf_k float8 DEFAULT 60,
                              keyword_weight float8 DEFAULT 1, vector_weight float8 DEFAULT 1,
                              k1 float8 DEFAULT 1.2, b float8 DEFAULT 0.75,
                              filter jsonb DEFAULT NULL)
    RETURNS TABLE (id bigint, score float8, keyword_rank integer, vector_rank integer)
    LANGUAGE sql VOLATILE
    AS $$ SELECT * FROM @extschema@.hybrid_search_as(NULL::bigint, $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) $$;
COMMENT ON FUNCTION hybrid_search(regclass, name, name, name, text, vector, integer, integer, integer,
                                  float8, float8, float8, float8, float8, jsonb) IS
    'hybrid search: BM25 (GIN) and vector distance (HNSW) rankings fused by reciprocal rank fusion';

-- The plan hybrid_search() runs for the same arguments (EXPLAIN, without executing it).
CREATE FUNCTION hybrid_search_explain(tbl regclass, key_column name, doc_column name, vector_column name,
                                      query_text text, query_vector vector DEFAULT NULL,
                                      top_k integer DEFAULT 10,
                                      keyword_depth integer DEFAULT 100, vector_depth integer DEFAULT 100,
                                      rrf_k float8 DEFAULT 60,
                                      keyword_weight float8 DEFAULT 1, vector_weight float8 DEFAULT 1,
                                      k1 float8 DEFAULT 1.2, b float8 DEFAULT 0.75,
                                      filter jsonb DEFAULT NULL)
    RETURNS SETOF text
    LANGUAGE plpgsql VOLATILE
    SET semvec.bm25_unmatched_rows = off
    SET enable_seqscan = off
    SET jit = off
    SET semvec.bm25_scan_batch = 20
    AS $$
DECLARE
    prep record;
    line text;
BEGIN
    SELECT * INTO prep FROM @extschema@.semvec_hybrid_prepare(tbl, doc_column, query_text, query_vector, top_k,
                                              keyword_depth, vector_depth, rrf_k, keyword_weight,
                                              vector_weight, k1, b);
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) '
            || @extschema@.semvec_hybrid_sql(tbl, key_column, doc_column, vector_column, NULL, filter)
        USING prep.q, prep.qv, keyword_depth, vector_depth, keyword_weight, vector_weight, rrf_k, top_k
    LOOP
        RETURN NEXT line;
    END LOOP;
END
$$;
