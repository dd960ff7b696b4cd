-- semvec 0.1.0 -> 0.2.0: the statements that turn an extension made by sql/semvec--0.1.0.sql into
-- what sql/*.sql make now. Every SQL change since 0.1.0 adds its statement here, in the same commit
-- (docs/upgrades.md); tests/scenarios/upgrade.sh diffs an updated database against a fresh one.
-- 0.2.0: PostgreSQL 16-18 support, and the changes below.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION semvec UPDATE TO '0.2.0'" to load this file. \quit

-- bm25_query() became a C memo over its old plpgsql body, now semvec_bm25_query_uncached().
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

CREATE OR REPLACE FUNCTION bm25_query(tbl regclass, doc_column name, query text,
                           k1 float8 DEFAULT 1.2, b float8 DEFAULT 0.75)
    RETURNS bm25query AS 'MODULE_PATHNAME', 'semvec_bm25_query' LANGUAGE C STABLE PARALLEL SAFE;

-- bm25_search / hybrid_search: jit off, and the first WAND pass sized from their depth.
CREATE FUNCTION semvec_bm25_scan_batch(n integer) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT LEAST(n::bigint + GREATEST(10, n / 4), 1000000)::integer $$;

CREATE OR REPLACE FUNCTION bm25_search_as(key_type anyelement, tbl regclass, key_column name, doc_column name, query text,
                            top_k integer DEFAULT 10, k1 float8 DEFAULT 1.2, b float8 DEFAULT 0.75)
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
    idx regclass := @extschema@.semvec_bm25_index(tbl, doc_column);
BEGIN
    IF top_k IS NULL OR top_k < 1 THEN
        RAISE EXCEPTION 'top_k must be at least 1, not %', coalesce(top_k::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    key_expr := @extschema@.semvec_key_expr(tbl, key_column, pg_catalog.pg_typeof(key_type));
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
             THEN @extschema@.semvec_bm25_ranking_sql(tbl, doc_column, key_expr, '$1', '$2')
             ELSE @extschema@.semvec_bm25_index_ranking_sql(tbl, doc_column, key_expr, '$1', '$2') END)
        USING q, top_k;
END
$$;

CREATE OR REPLACE FUNCTION hybrid_search_as(key_type anyelement, tbl regclass, key_column name, doc_column name,
                              vector_column name, query_text text, query_vector vector DEFAULT NULL,
                              top_k integer DEFAULT 10,
                              keyword_depth integer DEFAULT 100, vector_depth integer DEFAULT 100,
                              rrf_k float8 DEFAULT 60,
                              keyword_weight float8 DEFAULT 1, vector_weight float8 DEFAULT 1,
                              k1 float8 DEFAULT 1.2, b float8 DEFAULT 0.75)
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
                                          pg_catalog.pg_typeof(key_type));
    -- An HNSW scan returns at most ef_search rows unless iterative: widen it for this statement.
    ef_before := pg_catalog.current_setting('hnsw.ef_search', true);
    iter_before := pg_catalog.current_setting('hnsw.iterative_scan', true);
    IF coalesce(ef_before::integer, 0) < LEAST(vector_depth, 1000) THEN
        PERFORM pg_catalog.set_config('hnsw.ef_search', LEAST(vector_depth, 1000)::text, true);
    END IF;
    IF vector_depth > 1000 AND coalesce(iter_before, 'off') = 'off' THEN
        PERFORM pg_catalog.set_config('hnsw.iterative_scan', 'relaxed_order', true);
    END IF;
    RETURN QUERY EXECUTE stmt
        USING prep.q, prep.qv, keyword_depth, vector_depth, keyword_weight, vector_weight, rrf_k, top_k;
    PERFORM pg_catalog.set_config('hnsw.ef_search', ef_before, true) WHERE ef_before IS NOT NULL;
    PERFORM pg_catalog.set_config('hnsw.iterative_scan', iter_before, true) WHERE iter_before IS NOT NULL;
END
$$;

CREATE OR REPLACE FUNCTION hybrid_search_explain(tbl regclass, key_column name, doc_column name, vector_column name,
                                      query_text text, query_vector vector DEFAULT NULL,
                                      top_k integer DEFAULT 10,
                                      keyword_depth integer DEFAULT 100, vector_depth integer DEFAULT 100,
                                      rrf_k float8 DEFAULT 60,
                                      keyword_weight float8 DEFAULT 1, vector_weight float8 DEFAULT 1,
                                      k1 float8 DEFAULT 1.2, b float8 DEFAULT 0.75)
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
            || @extschema@.semvec_hybrid_sql(tbl, key_column, doc_column, vector_column, NULL)
        USING prep.q, prep.qv, keyword_depth, vector_depth, keyword_weight, vector_weight, rrf_k, top_k
    LOOP
        RETURN NEXT line;
    END LOOP;
END
$$;

-- Sharded search (issue 19): everything sql/shard.sql makes is new in 0.2.0.

-- pg_proc: C (src/index/bm25/query.rs).
CREATE FUNCTION semvec_bm25_index_term_stats(index regclass, lexemes text[]) RETURNS bigint[]
    AS 'MODULE_PATHNAME', 'semvec_bm25_index_term_stats' LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- pg_proc: shard side, round 1. The statistics one server's hybrid_search() would score this
-- shard's rows with: the query's lexemes (parsed with the column's configuration), their counts in
-- the query, the shard's document count and total length, and each lexeme's document frequency.
-- With a bm25 index: the index's counts; without: bm25_corpus_stats and a count through the GIN index.
CREATE FUNCTION bm25_shard_stats(tbl regclass, doc_column name, query text,
                                 OUT config regconfig, OUT lexemes text[], OUT lexeme_counts integer[],
                                 OUT n_docs bigint, OUT total_length bigint, OUT df bigint[])
    LANGUAGE plpgsql STABLE
    SET jit = off
    AS $$
DECLARE
    idx regclass := @extschema@.semvec_bm25_index(tbl, doc_column);
    q @extschema@.bm25query;
    st bigint[];
    doc text;
BEGIN
    IF idx IS NOT NULL THEN
        config := @extschema@.semvec_bm25_index_parse_config(idx, tbl, doc_column);
        SELECT coalesce(pg_catalog.array_agg(u.lexeme ORDER BY u.lexeme), '{}'),
               coalesce(pg_catalog.array_agg(coalesce(pg_catalog.cardinality(u.positions), 1) ORDER BY u.lexeme), '{}')
          INTO lexemes, lexeme_counts
          FROM pg_catalog.unnest(pg_catalog.to_tsvector(config, coalesce(query, ''))) u;
        st := @extschema@.semvec_bm25_index_term_stats(idx, lexemes);
        n_docs := st[1];
        total_length := st[2];
        df := coalesce(st[3:], '{}');
        RETURN;
    END IF;
    q := @extschema@.semvec_bm25_parse(tbl, doc_column, query, 1.2, 0.75);
    config := q.config;
    lexemes := q.lexemes;
    lexeme_counts := q.lexeme_counts;
    SELECT s.n_docs, s.total_length INTO n_docs, total_length FROM @extschema@.bm25_stats(tbl, doc_column) s;
    df := '{}';
    IF q.or_query IS NOT NULL THEN
        doc := @extschema@.semvec_bm25_document_expr(tbl, doc_column, config);
        EXECUTE pg_catalog.format(
            'SELECT @extschema@.semvec_bm25_df(%s, $1) FROM ONLY %s WHERE %s OPERATOR(pg_catalog.@@) $2',
            doc, tbl, doc)
           INTO df USING q.lexemes, q.or_query;
        df := coalesce(df, pg_catalog.array_fill(0::bigint, ARRAY[pg_catalog.cardinality(q.lexemes)]));
    END IF;
END
$$;
COMMENT ON FUNCTION bm25_shard_stats(regclass, name, text) IS
    'BM25 statistics of a query on this server''s rows (documents, total length, document frequencies), for hybrid_search_sharded()';

-- pg_proc: the global query. Sums the shards' statistics (rows of bm25_shard_stats) into one
-- bm25query whose weights and average length are the ones one server holding all rows would use.
CREATE FUNCTION semvec_bm25_global_query(config regconfig, lexemes text[], lexeme_counts integer[],
                                         n_docs bigint, total_length bigint, df bigint[],
                                         k1 float8, b float8)
    RETURNS bm25query LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
    AS $$
DECLARE
    q @extschema@.bm25query;
BEGIN
    PERFORM @extschema@.semvec_bm25_check_params(k1, b);
    q.config := config;
    q.lexemes := lexemes;
    q.lexeme_counts := lexeme_counts;
    q.k1 := k1;
    q.b := b;
    q.n_docs := n_docs;
    q.avg_length := CASE WHEN n_docs > 0 THEN total_length::float8 / n_docs::float8 ELSE 0 END;
    q.or_query := @extschema@.semvec_bm25_or_tsquery(lexemes);
    SELECT coalesce(pg_catalog.array_agg(lexeme_counts[i] * @extschema@.semvec_bm25_idf(n_docs, coalesce(df[i], 0)) ORDER BY i), '{}')
      INTO q.weights
      FROM pg_catalog.generate_subscripts(lexemes, 1) i;
    RETURN q;
END
$$;

-- pg_proc: shard side, round 2. This shard's best keyword_depth rows for a global bm25query (side
-- 'k', value = BM25 score, ties by key) and its best vector_depth rows by distance (side 'v', value =
-- distance), each as one server's hybrid_search() ranks its candidates: the bm25 index scored with
-- the query's weights, or the GIN candidates scored with the global document frequencies `df`;
-- the HNSW index with ef_search raised to vector_depth.
CREATE FUNCTION hybrid_shard_candidates(tbl regclass, key_column name, doc_column name, vector_column name,
                                        query bm25query, df bigint[], query_vector vector,
                                        keyword_depth integer, vector_depth integer)
    RETURNS TABLE (side "char", id bigint, value float8)
    LANGUAGE plpgsql VOLATILE
    SET semvec.bm25_unmatched_rows = off
    SET enable_seqscan = off
    SET jit = off
    SET semvec.bm25_scan_batch = 20
    AS $$
DECLARE
    key_expr text := @extschema@.semvec_key_expr(tbl, key_column, 'pg_catalog.int8'::pg_catalog.regtype);
    doc text;
BEGIN
    IF keyword_depth > 0 AND query.or_query IS NOT NULL THEN
        PERFORM pg_catalog.set_config('semvec.bm25_scan_batch', @extschema@.semvec_bm25_scan_batch(keyword_depth)::text, true);
        IF @extschema@.semvec_bm25_index(tbl, doc_column) IS NOT NULL THEN
            RETURN QUERY EXECUTE pg_catalog.format('SELECT ''k''::"char", k, s FROM (%s) kw',
                    @extschema@.semvec_bm25_index_ranking_sql(tbl, doc_column, key_expr, '$1', '$2'))
                USING query, keyword_depth;
        ELSE
            doc := @extschema@.semvec_bm25_document_expr(tbl, doc_column,
                       @extschema@.semvec_bm25_registered_config(tbl, doc_column));
            RETURN QUERY EXECUTE pg_catalog.format(
                'SELECT ''k''::"char", k, s FROM ('
                'SELECT k, @extschema@.semvec_bm25_score_counts(c, $3, $1) AS s '
                'FROM (SELECT %1$s AS k, @extschema@.semvec_bm25_term_counts(%2$s, ($1).lexemes) AS c '
                '      FROM ONLY %3$s WHERE %2$s OPERATOR(pg_catalog.@@) ($1).or_query OFFSET 0) candidates '
                'ORDER BY s DESC, k LIMIT $2) kw',
                key_expr, doc, tbl)
                USING query, keyword_depth, df;
        END IF;
    END IF;
    IF vector_depth > 0 AND query_vector IS NOT NULL THEN
        IF coalesce(pg_catalog.current_setting('hnsw.ef_search', true)::integer, 0) < LEAST(vector_depth, 1000) THEN
            PERFORM pg_catalog.set_config('hnsw.ef_search', LEAST(vector_depth, 1000)::text, true);
        END IF;
        IF vector_depth > 1000 AND coalesce(pg_catalog.current_setting('hnsw.iterative_scan', true), 'off') = 'off' THEN
            PERFORM pg_catalog.set_config('hnsw.iterative_scan', 'relaxed_order', true);
        END IF;
        RETURN QUERY EXECUTE pg_catalog.format(
            'SELECT ''v''::"char", k, dist FROM (SELECT %1$s AS k, %2$I OPERATOR(%3$s) $1 AS dist FROM ONLY %4$s '
            'ORDER BY dist LIMIT $2) vs',
            key_expr, vector_column, @extschema@.semvec_vector_order_operator(tbl, vector_column), tbl)
            USING query_vector, vector_depth;
    END IF;
END
$$;
COMMENT ON FUNCTION hybrid_shard_candidates(regclass, name, name, name, bm25query, bigint[], vector, integer, integer) IS
    'this server''s keyword and vector candidates for a global bm25query, for hybrid_search_sharded()';

-- The shards of a table: every leaf partition (the table itself when it has none), with the
-- postgres_fdw server and the remote table of a foreign partition (server NULL: a local one).
CREATE FUNCTION semvec_shards(tbl regclass, OUT part regclass, OUT server name, OUT remote_table text)
    RETURNS SETOF record
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT t.relid::pg_catalog.regclass, s.srvname,
           CASE WHEN s.srvname IS NOT NULL THEN
               pg_catalog.format('%I.%I',
                   coalesce((SELECT pg_catalog.substr(o, 13) FROM pg_catalog.unnest(ft.ftoptions) o WHERE o LIKE 'schema_name=%'), n.nspname),
                   coalesce((SELECT pg_catalog.substr(o, 12) FROM pg_catalog.unnest(ft.ftoptions) o WHERE o LIKE 'table_name=%'), c.relname))
           END
      FROM pg_catalog.pg_partition_tree($1) t
      JOIN pg_catalog.pg_class c ON c.oid = t.relid
      JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_catalog.pg_foreign_table ft ON ft.ftrelid = c.oid
      LEFT JOIN pg_catalog.pg_foreign_server s ON s.oid = ft.ftserver
     WHERE t.isleaf
     ORDER BY t.relid::pg_catalog.regclass::text
$$;

-- The statement of vector_search_sharded(): one `ORDER BY ... LIMIT top_k` subquery per leaf
-- partition under a plain Append (OFFSET 0 keeps the planner from merging the sorted subqueries
-- with a Merge Append, which postgres_fdw cannot run asynchronously), then the best top_k of their
-- union. $1 is the query vector; keys as bigint.
CREATE FUNCTION semvec_vector_sharded_sql(tbl regclass, key_column name, vector_column name,
                                          op text, top_k integer)
    RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$
DECLARE
    parts text;
BEGIN
    IF op IS NULL OR op NOT IN ('<->', '<=>', '<#>', '<+>') THEN
        RAISE EXCEPTION 'op must be one of <->, <=>, <#>, <+>, not %', coalesce(op, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF top_k IS NULL OR top_k < 1 THEN
        RAISE EXCEPTION 'top_k must be at least 1, not %', coalesce(top_k::text, 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT pg_catalog.string_agg(pg_catalog.format(
               'SELECT * FROM (SELECT %1$s AS id, %2$I OPERATOR(@extschema@.%3$s) $1 AS distance FROM ONLY %4$s ORDER BY 2 LIMIT %5$s) p%6$s',
               @extschema@.semvec_key_expr(tbl, key_column, 'pg_catalog.int8'::pg_catalog.regtype),
               vector_column, op, s.part, top_k, s.n),
               ' UNION ALL ' ORDER BY s.n)
      INTO parts
      FROM (SELECT sh.part, pg_catalog.row_number() OVER () AS n FROM @extschema@.semvec_shards(tbl) sh) s;
    RETURN pg_catalog.format('SELECT id, distance FROM (%s OFFSET 0) u ORDER BY distance, id LIMIT %s', parts, top_k);
END
$$;

-- Nearest neighbours over the partitions of tbl, each asked for its own top_k at the same time.
CREATE FUNCTION vector_search_sharded(tbl regclass, key_column name, vector_column name, query_vector vector,
                                      top_k integer DEFAULT 10, op text DEFAULT '<=>')
    RETURNS TABLE (id bigint, distance float8)
    LANGUAGE plpgsql STABLE
    AS $$
BEGIN
    RETURN QUERY EXECUTE @extschema@.semvec_vector_sharded_sql(tbl, key_column, vector_column, op, top_k)
        USING query_vector;
END
$$;
COMMENT ON FUNCTION vector_search_sharded(regclass, name, name, vector, integer, text) IS
    'nearest neighbours over a partitioned table: every partition''s top_k (ORDER BY and LIMIT shipped to postgres_fdw shards, run concurrently), then the best top_k';

CREATE FUNCTION vector_search_sharded_explain(tbl regclass, key_column name, vector_column name, query_vector vector,
                                              top_k integer DEFAULT 10, op text DEFAULT '<=>')
    RETURNS SETOF text
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (VERBOSE, COSTS OFF) '
            || @extschema@.semvec_vector_sharded_sql(tbl, key_column, vector_column, op, top_k)
        USING query_vector
    LOOP
        RETURN NEXT line;
    END LOOP;
END
$$;

-- dblink's connection to one postgres_fdw server for this session (named semvec_shard_<server>),
-- opened with the server's user mapping when missing. Returns its name.
CREATE FUNCTION semvec_shard_connection(server name) RETURNS text
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    conn text := 'semvec_shard_' || server;
    open boolean;
BEGIN
    IF pg_catalog.to_regprocedure('dblink_connect(text,text)') IS NULL THEN
        RAISE EXCEPTION 'hybrid_search_sharded needs the dblink extension'
            USING ERRCODE = 'undefined_function',
                  HINT = 'Run CREATE EXTENSION dblink on the coordinator (it is part of PostgreSQL''s contrib).';
    END IF;
    EXECUTE 'SELECT $1 = ANY (coalesce(dblink_get_connections(), ''{}''))' INTO open USING conn;
    IF NOT open THEN
        EXECUTE 'SELECT dblink_connect($1, $2)' USING conn, server;
    END IF;
    RETURN conn;
END
$$;

-- Send one statement to every server (dblink_send_query), all before reading any answer, so the
-- shards work at the same time; returns the connections to read the answers from. A connection
-- that cannot take the statement (left broken or busy by an earlier error) is opened again once;
-- a shard that cannot be reached raises: nothing is ever skipped.
CREATE FUNCTION semvec_shard_send(servers name[], stmts text[]) RETURNS text[]
    LANGUAGE plpgsql VOLATILE
    AS $$
DECLARE
    conns text[] := '{}';
    conn text;
    sent integer;
BEGIN
    FOR i IN 1 .. coalesce(pg_catalog.cardinality(servers), 0) LOOP
        conn := @extschema@.semvec_shard_connection(servers[i]);
        EXECUTE 'SELECT CASE WHEN dblink_is_busy($1) = 0 THEN dblink_send_query($1, $2) ELSE 0 END' INTO sent USING conn, stmts[i];
        IF sent IS DISTINCT FROM 1 THEN
            EXECUTE 'SELECT dblink_disconnect($1)' USING conn;
            conn := @extschema@.semvec_shard_connection(servers[i]);
            EXECUTE 'SELECT dblink_send_query($1, $2)' INTO sent USING conn, stmts[i];
            IF sent IS DISTINCT FROM 1 THEN
                RAISE EXCEPTION 'could not send a query to shard server "%"', servers[i]
                    USING ERRCODE = 'connection_failure';
            END IF;
        END IF;
        conns := conns || conn;
    END LOOP;
    RETURN conns;
END
$$;

-- Hybrid search over the partitions of tbl (postgres_fdw foreign tables, or local ones), with the
-- result one server holding all rows returns from hybrid_search() with the same arguments:
-- round 1 sums every shard's BM25 statistics into one query, round 2 takes each shard's
-- keyword_depth / vector_depth best candidates for it, and the coordinator fuses the global
-- rankings by RRF. Needs dblink on the coordinator and semvec (in the same schema) on the shards;
-- the key column must be an integer.
CREATE FUNCTION hybrid_search_sharded(tbl regclass, key_column name, doc_column name, vector_column name,
                                      query_text text, query_vector vector DEFAULT NULL,
                                      top_k integer DEFAULT 10,
                                      keyword_depth integer DEFAULT 100, vector_depth integer DEFAULT 100,
                                      rrf_k float8 DEFAULT 60,
                                      keyword_weight float8 DEFAULT 1, vector_weight float8 DEFAULT 1,
                                      k1 float8 DEFAULT 1.2, b float8 DEFAULT 0.75)
    RETURNS TABLE (id bigint, score float8, keyword_rank integer, vector_rank integer)
    LANGUAGE plpgsql VOLATILE
    SET jit = off
    AS $$
DECLARE
    shard record;
    servers name[] := '{}';
    remote text[] := '{}';
    locals regclass[] := '{}';
    conns text[];
    stmts text[];
    qv vector := query_vector;
    q @extschema@.bm25query;
    st record;
    stats jsonb := '[]';
    first_st record;
    have_first boolean := false;
    n_total bigint := 0;
    len_total bigint := 0;
    df_total bigint[];
    sides "char"[] := '{}';
    ids bigint[] := '{}';
    vals float8[] := '{}';
    s "char"[];
    k bigint[];
    v float8[];
BEGIN
    PERFORM @extschema@.semvec_rrf_check_params(rrf_k, keyword_weight, vector_weight,
                                                keyword_depth, vector_depth, top_k);
    PERFORM @extschema@.semvec_bm25_check_params(k1, b);
    IF qv IS NULL THEN
        IF query_text IS NULL THEN
            RAISE EXCEPTION 'query_text and query_vector must not both be NULL'
                USING ERRCODE = 'null_value_not_allowed';
        END IF;
        -- Embedded once, here on the coordinator; the shards get the vector.
        EXECUTE 'SELECT @extschema@.embed($1)' INTO qv USING query_text;
    END IF;
    FOR shard IN SELECT * FROM @extschema@.semvec_shards(tbl) LOOP
        IF shard.server IS NULL THEN
            locals := locals || shard.part;
        ELSE
            servers := servers || shard.server;
            remote := remote || shard.remote_table;
        END IF;
    END LOOP;

    -- Round 1: every shard's statistics of the query, summed.
    SELECT pg_catalog.array_agg(pg_catalog.format(
               'SELECT config::text, lexemes, lexeme_counts, n_docs, total_length, df FROM @extschema@.bm25_shard_stats(%L, %L, %L)',
               r, doc_column, query_text) ORDER BY o)
      INTO stmts FROM pg_catalog.unnest(remote) WITH ORDINALITY u(r, o);
    conns := @extschema@.semvec_shard_send(servers, stmts);
    FOR i IN 1 .. coalesce(pg_catalog.cardinality(conns), 0) LOOP
        FOR st IN EXECUTE 'SELECT * FROM dblink_get_result($1) AS t('
                'config text, lexemes text[], lexeme_counts integer[], n_docs bigint, total_length bigint, df bigint[])'
            USING conns[i] LOOP
            stats := stats || pg_catalog.jsonb_build_array(pg_catalog.to_jsonb(st));
        END LOOP;
        -- the empty result that ends each answer: the connection is idle again after it
        EXECUTE 'SELECT count(*) FROM dblink_get_result($1) AS t(x text)' USING conns[i];
    END LOOP;
    FOR i IN 1 .. coalesce(pg_catalog.cardinality(locals), 0) LOOP
        FOR st IN SELECT sh.config::text, sh.lexemes, sh.lexeme_counts, sh.n_docs, sh.total_length, sh.df
                    FROM @extschema@.bm25_shard_stats(locals[i], doc_column, query_text) sh LOOP
            stats := stats || pg_catalog.jsonb_build_array(pg_catalog.to_jsonb(st));
        END LOOP;
    END LOOP;
    FOR st IN SELECT * FROM pg_catalog.jsonb_to_recordset(stats) AS t(
            config text, lexemes text[], lexeme_counts integer[], n_docs bigint, total_length bigint, df bigint[]) LOOP
        IF NOT have_first THEN
            first_st := st;
            have_first := true;
            df_total := pg_catalog.array_fill(0::bigint, ARRAY[pg_catalog.cardinality(st.lexemes)]);
        ELSIF st.config IS DISTINCT FROM first_st.config OR st.lexemes IS DISTINCT FROM first_st.lexemes THEN
            RAISE EXCEPTION 'the shards of "%" parse the query differently (text search configuration % and %)',
                tbl, first_st.config, st.config
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'Give every shard''s column the same configuration (bm25_create or the bm25 index''s text_config).';
        END IF;
        IF st.n_docs IS NULL THEN
            RAISE EXCEPTION 'a shard of "%" has no BM25 statistics for column "%"', tbl, doc_column
                USING ERRCODE = 'object_not_in_prerequisite_state',
                      HINT = 'Create a bm25 index on the column (or run bm25_create) on every shard.';
        END IF;
        n_total := n_total + st.n_docs;
        len_total := len_total + st.total_length;
        SELECT coalesce(pg_catalog.array_agg(df_total[j] + coalesce(st.df[j], 0) ORDER BY j), '{}') INTO df_total
          FROM pg_catalog.generate_subscripts(first_st.lexemes, 1) j;
    END LOOP;
    IF NOT have_first THEN
        RETURN;
    END IF;
    q := @extschema@.semvec_bm25_global_query(first_st.config::regconfig, first_st.lexemes, first_st.lexeme_counts,
                                               n_total, len_total, df_total, k1, b);

    -- Round 2: every shard's candidates for the global query and the query vector.
    SELECT pg_catalog.array_agg(pg_catalog.format(
               'SELECT side, id, value FROM @extschema@.hybrid_shard_candidates(%L, %L, %L, %L, %L, %L, %L, %s, %s)',
               r, key_column, doc_column, vector_column, q, df_total, qv, keyword_depth, vector_depth) ORDER BY o)
      INTO stmts FROM pg_catalog.unnest(remote) WITH ORDINALITY u(r, o);
    conns := @extschema@.semvec_shard_send(servers, stmts);
    FOR i IN 1 .. coalesce(pg_catalog.cardinality(conns), 0) LOOP
        EXECUTE 'SELECT coalesce(array_agg(side), ''{}''), coalesce(array_agg(id), ''{}''), coalesce(array_agg(value), ''{}'') '
                'FROM dblink_get_result($1) AS t(side "char", id bigint, value float8)'
            INTO s, k, v USING conns[i];
        sides := sides || s;
        ids := ids || k;
        vals := vals || v;
        EXECUTE 'SELECT count(*) FROM dblink_get_result($1) AS t(x text)' USING conns[i];
    END LOOP;
    FOR i IN 1 .. coalesce(pg_catalog.cardinality(locals), 0) LOOP
        SELECT coalesce(pg_catalog.array_agg(c.side), '{}'), coalesce(pg_catalog.array_agg(c.id), '{}'),
               coalesce(pg_catalog.array_agg(c.value), '{}')
          INTO s, k, v
          FROM @extschema@.hybrid_shard_candidates(locals[i], key_column, doc_column, vector_column,
                                                 q, df_total, qv, keyword_depth, vector_depth) c;
        sides := sides || s;
        ids := ids || k;
        vals := vals || v;
    END LOOP;

    -- The global rankings, fused as hybrid_search() fuses one server's (semvec_hybrid_sql).
    RETURN QUERY
    WITH c AS (SELECT * FROM ROWS FROM (pg_catalog.unnest(sides), pg_catalog.unnest(ids), pg_catalog.unnest(vals)) AS c(side, k, val)),
    keyword AS (
        SELECT c.k, pg_catalog.row_number() OVER (ORDER BY c.val DESC, c.k) AS r
          FROM c WHERE c.side = 'k' ORDER BY c.val DESC, c.k LIMIT keyword_depth),
    semantic AS (
        SELECT c.k, pg_catalog.row_number() OVER (ORDER BY c.val, c.k) AS r
          FROM c WHERE c.side = 'v' ORDER BY c.val, c.k LIMIT vector_depth)
    SELECT coalesce(keyword.k, semantic.k),
           @extschema@.rrf_score(keyword.r, rrf_k, keyword_weight) + @extschema@.rrf_score(semantic.r, rrf_k, vector_weight),
           keyword.r::integer, semantic.r::integer
      FROM keyword FULL JOIN semantic ON keyword.k = semantic.k
     ORDER BY 2 DESC, 1
     LIMIT top_k;
END
$$;
COMMENT ON FUNCTION hybrid_search_sharded(regclass, name, name, name, text, vector, integer, integer, integer,
                                          float8, float8, float8, float8, float8) IS
    'hybrid_search over the partitions of a table on postgres_fdw shards, with global BM25 statistics: one server''s result';
