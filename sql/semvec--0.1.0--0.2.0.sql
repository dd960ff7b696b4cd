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

-- bm25_search / hybrid_search: jit off, and the first WAND pass sized from their depth (the
-- functions are created below, with a filter).
CREATE FUNCTION semvec_bm25_scan_batch(n integer) RETURNS integer
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT LEAST(n::bigint + GREATEST(10, n / 4), 1000000)::integer $$;

-- bm25_search / hybrid_search (issue 16): an optional last argument `filter jsonb`, a condition on
-- both sides' scans before their depth cuts ({"tenant_id": 7}, {"lang": ["en", "de"]}, ...; see
-- semvec_filter_sql()). New signatures: the old ones are dropped (calls without a filter resolve to
-- the new ones), and so are those of the SQL builders that gained a filter argument.
DROP FUNCTION bm25_search(regclass, name, name, text, integer, float8, float8);
DROP FUNCTION bm25_search_as(anyelement, regclass, name, name, text, integer, float8, float8);
DROP FUNCTION hybrid_search(regclass, name, name, name, text, vector, integer, integer, integer,
                            float8, float8, float8, float8, float8);
DROP FUNCTION hybrid_search_as(anyelement, regclass, name, name, name, text, vector, integer, integer, integer,
                               float8, float8, float8, float8, float8);
DROP FUNCTION hybrid_search_explain(regclass, name, name, name, text, vector, integer, integer, integer,
                                    float8, float8, float8, float8, float8);
DROP FUNCTION semvec_hybrid_sql(regclass, name, name, name, regtype);
DROP FUNCTION semvec_bm25_ranking_sql(regclass, name, text, text, text);
DROP FUNCTION semvec_bm25_index_ranking_sql(regclass, name, text, text, text);

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

-- Vectorizers (issue 18): everything sql/vectorizer.sql makes is new in 0.2.0.
-- The vectorizers. One row each; the triggers carry the id.
CREATE TABLE semvec_vectorizer (
    id               serial PRIMARY KEY,
    name             text NOT NULL UNIQUE,
    relation         regclass NOT NULL,
    source           text NOT NULL,          -- an SQL expression over the row's columns
    vector_column    name NOT NULL,
    key_columns      name[] NOT NULL,        -- the table's primary key when registered
    model            text NOT NULL,
    batch_size       integer NOT NULL CHECK (batch_size BETWEEN 1 AND 4096),
    max_attempts     integer NOT NULL CHECK (max_attempts >= 1),
    owner            regrole NOT NULL DEFAULT current_user::regrole,
    paused           boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    rows_done        bigint NOT NULL DEFAULT 0,   -- vectors written since registration
    last_run_started timestamptz,
    last_run_rows    bigint NOT NULL DEFAULT 0,
    last_run_seconds float8,
    last_error       text,                    -- the last error that stopped a run of this vectorizer
    last_error_at    timestamptz,
    UNIQUE (relation, vector_column)
);
COMMENT ON TABLE semvec_vectorizer IS 'vectorizers: vector_column kept equal to embed(source, model) by semvec_vectorizer_run()';
SELECT pg_catalog.pg_extension_config_dump('semvec_vectorizer', '');
SELECT pg_catalog.pg_extension_config_dump('semvec_vectorizer_id_seq', '');

-- The queue: one entry per change of a row's source (append-only; a row may have several).
CREATE TABLE semvec_vectorizer_queue (
    id            bigserial PRIMARY KEY,
    vectorizer_id integer NOT NULL,
    key           jsonb NOT NULL,             -- jsonb_build_array(primary key columns)
    enqueued_at   timestamptz NOT NULL DEFAULT now(),
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'failed')),
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text
);
CREATE INDEX semvec_vectorizer_queue_pending_idx ON semvec_vectorizer_queue (vectorizer_id, id) WHERE status = 'pending';
CREATE INDEX semvec_vectorizer_queue_key_idx ON semvec_vectorizer_queue (vectorizer_id, key);
COMMENT ON TABLE semvec_vectorizer_queue IS 'rows whose vector a vectorizer has to (re)compute';
SELECT pg_catalog.pg_extension_config_dump('semvec_vectorizer_queue', '');
SELECT pg_catalog.pg_extension_config_dump('semvec_vectorizer_queue_id_seq', '');

-- Privileges: granted to PUBLIC, limited row by row (the extension owner bypasses the policies).
REVOKE ALL ON semvec_vectorizer, semvec_vectorizer_queue FROM PUBLIC;
GRANT SELECT, INSERT, UPDATE, DELETE ON semvec_vectorizer, semvec_vectorizer_queue TO PUBLIC;
GRANT USAGE ON SEQUENCE semvec_vectorizer_id_seq, semvec_vectorizer_queue_id_seq TO PUBLIC;
ALTER TABLE semvec_vectorizer ENABLE ROW LEVEL SECURITY;
ALTER TABLE semvec_vectorizer_queue ENABLE ROW LEVEL SECURITY;
-- pg_policy: everyone reads the catalog (writers' triggers need the source and the key); members
-- of the owner role register, change and drop vectorizers.
CREATE POLICY semvec_vectorizer_read ON semvec_vectorizer FOR SELECT USING (true);
CREATE POLICY semvec_vectorizer_owner ON semvec_vectorizer FOR ALL
    USING (pg_catalog.pg_has_role(owner, 'MEMBER')) WITH CHECK (pg_catalog.pg_has_role(owner, 'MEMBER'));
-- pg_policy: a role that may write the table enqueues its rows; members of the owner work the queue.
CREATE POLICY semvec_vectorizer_queue_enqueue ON semvec_vectorizer_queue FOR INSERT
    WITH CHECK (EXISTS (SELECT FROM @extschema@.semvec_vectorizer v
                         WHERE v.id = vectorizer_id
                           AND (pg_catalog.has_table_privilege(v.relation, 'INSERT')
                                OR pg_catalog.has_table_privilege(v.relation, 'UPDATE'))));
CREATE POLICY semvec_vectorizer_queue_owner ON semvec_vectorizer_queue FOR ALL
    USING (EXISTS (SELECT FROM @extschema@.semvec_vectorizer v
                    WHERE v.id = vectorizer_id AND pg_catalog.pg_has_role(v.owner, 'MEMBER')));

-- SQL fragments over a row aliased semvec_row: its key (jsonb), the match of a key, its source (text).
CREATE FUNCTION semvec_vectorizer_key_sql(key_columns name[]) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
    SELECT 'pg_catalog.jsonb_build_array(' || pg_catalog.string_agg(pg_catalog.format('semvec_row.%I', c), ', ' ORDER BY o) || ')'
      FROM pg_catalog.unnest($1) WITH ORDINALITY AS k(c, o)
$$;

CREATE FUNCTION semvec_vectorizer_match_sql(tbl regclass, key_columns name[], key_ref text) RETURNS text
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    AS $$
    SELECT pg_catalog.string_agg(pg_catalog.format('semvec_row.%I = (%s ->> %s)::%s', k.c, $3, k.o - 1,
                                                   pg_catalog.format_type(a.atttypid, a.atttypmod)),
                                 ' AND ' ORDER BY k.o)
      FROM pg_catalog.unnest($2) WITH ORDINALITY AS k(c, o)
      JOIN pg_catalog.pg_attribute a ON a.attrelid = $1 AND a.attname = k.c AND NOT a.attisdropped
$$;

CREATE FUNCTION semvec_vectorizer_source_sql(source text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT '(' || $1 || ')::pg_catalog.text' $$;

-- Checks a source (a column name, or an expression over bare column names) against a table with the
-- caller's rights, and returns it as stored: a column name quoted, an expression as given.
CREATE FUNCTION semvec_vectorizer_check_source(tbl regclass, source text) RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    src text := source;
BEGIN
    IF src IS NULL OR btrim(src) = '' THEN
        RAISE EXCEPTION 'the source of a vectorizer must be a column name or an SQL expression'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF EXISTS (SELECT FROM pg_catalog.pg_attribute a
                WHERE a.attrelid = tbl AND a.attname = src AND a.attnum > 0 AND NOT a.attisdropped) THEN
        src := pg_catalog.format('%I', src);
    END IF;
    BEGIN
        EXECUTE pg_catalog.format('SELECT %s FROM %s semvec_row LIMIT 0',
                                  @extschema@.semvec_vectorizer_source_sql(src), tbl);
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE;
    WHEN OTHERS THEN
        RAISE EXCEPTION 'invalid vectorizer source %: %', pg_catalog.quote_literal(source), SQLERRM
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Give a column name, or an expression over the table''s columns written as bare names, such as title || '' '' || body.';
    END;
    RETURN src;
END
$$;

-- The model a vectorizer may use for a vector column: registered, with the column's dimensions.
CREATE FUNCTION semvec_vectorizer_check_model(tbl regclass, vector_column name, model text) RETURNS void
    LANGUAGE plpgsql STABLE
    AS $$
DECLARE
    dims integer;
    col_dims integer;
BEGIN
    SELECT m.dims INTO dims FROM @extschema@.semvec_model m WHERE m.name = model;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'embedding model "%" is not registered', model
            USING ERRCODE = 'undefined_object',
                  HINT = 'SELECT name FROM semvec_model lists the registered models.';
    END IF;
    SELECT CASE WHEN a.atttypmod > 0 THEN a.atttypmod END INTO col_dims
      FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = vector_column AND NOT a.attisdropped;
    IF col_dims IS NOT NULL AND col_dims <> dims THEN
        RAISE EXCEPTION 'column "%" of relation "%" has % dimensions, model "%" has %', vector_column, tbl, col_dims, model, dims
            USING ERRCODE = 'data_exception';
    END IF;
END
$$;

-- Trigger function (statement level, AFTER INSERT / AFTER UPDATE with transition tables), installed
-- by semvec_vectorize(); argument: the vectorizer id. Runs with the writer's rights: it evaluates
-- the source over the statement's rows, and enqueues inserted rows, rows whose source changed and
-- rows whose key changed. An UPDATE that leaves the source alone enqueues nothing.
CREATE FUNCTION semvec_vectorizer_enqueue() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    v @extschema@.semvec_vectorizer;
    key_sql text;
BEGIN
    IF TG_LEVEL <> 'STATEMENT' OR TG_WHEN <> 'AFTER' OR TG_NARGS <> 1 THEN
        RAISE EXCEPTION 'semvec_vectorizer_enqueue() must be installed by semvec_vectorize()'
            USING ERRCODE = 'trigger_protocol_violated';
    END IF;
    SELECT * INTO v FROM @extschema@.semvec_vectorizer z WHERE z.id = TG_ARGV[0]::integer;
    IF NOT FOUND THEN
        RETURN NULL;  -- a trigger left behind by a dropped vectorizer (a restored dump): inert
    END IF;
    key_sql := @extschema@.semvec_vectorizer_key_sql(v.key_columns);
    IF TG_OP = 'INSERT' THEN
        EXECUTE pg_catalog.format(
            'INSERT INTO @extschema@.semvec_vectorizer_queue (vectorizer_id, key) '
            'SELECT $1, %s FROM semvec_new_rows semvec_row', key_sql) USING v.id;
    ELSIF TG_OP = 'UPDATE' THEN
        EXECUTE pg_catalog.format(
            'INSERT INTO @extschema@.semvec_vectorizer_queue (vectorizer_id, key) '
            'SELECT $1, n.key FROM (SELECT %1$s AS key, %2$s AS src FROM semvec_new_rows semvec_row) n '
            'LEFT JOIN (SELECT %1$s AS key, %2$s AS src FROM semvec_old_rows semvec_row) o ON o.key = n.key '
            'WHERE o.key IS NULL OR o.src IS DISTINCT FROM n.src',
            key_sql, @extschema@.semvec_vectorizer_source_sql(v.source)) USING v.id;
    END IF;
    RETURN NULL;
END
$$;

-- Register a vectorizer: vector_column of tbl follows source (a column name or an expression over
-- the row, such as title || ' ' || body) embedded with model. Existing rows are queued by backfill:
-- 'missing' (default: rows whose vector is NULL; vectors already there are kept), 'all', or 'none'.
-- The caller becomes the owner: it needs SELECT on the source's columns, UPDATE on vector_column and
-- the TRIGGER privilege on the table. Returns the vectorizer's name.
CREATE FUNCTION semvec_vectorize(tbl regclass, source text, vector_column name,
                                 model text DEFAULT NULL, batch_size integer DEFAULT NULL,
                                 max_attempts integer DEFAULT 3, name text DEFAULT NULL,
                                 backfill text DEFAULT 'missing') RETURNS text
    LANGUAGE plpgsql
    AS $$
DECLARE
    vz_id integer;
    vz_name text := name;
    vz_model text := coalesce(model, pg_catalog.current_setting('semvec.default_model'));
    vz_batch integer := coalesce(batch_size, pg_catalog.current_setting('semvec.embed_batch_size')::integer);
    vz_source text;
    keys name[];
    kind "char";
    vtype regtype;
BEGIN
    IF tbl IS NULL OR vector_column IS NULL THEN
        RAISE EXCEPTION 'table and vector_column must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT c.relkind INTO kind FROM pg_catalog.pg_class c WHERE c.oid = tbl;
    IF kind NOT IN ('r', 'p') THEN
        RAISE EXCEPTION '"%" is not a table', tbl
            USING ERRCODE = 'wrong_object_type', HINT = 'A vectorizer writes the vectors of a table''s rows.';
    END IF;
    IF backfill IS NULL OR backfill NOT IN ('missing', 'all', 'none') THEN
        RAISE EXCEPTION 'backfill must be ''missing'', ''all'' or ''none'', not %', coalesce(pg_catalog.quote_literal(backfill), 'NULL')
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF vz_batch IS NULL OR vz_batch NOT BETWEEN 1 AND 4096 THEN
        RAISE EXCEPTION 'batch_size must be between 1 and 4096' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF max_attempts IS NULL OR max_attempts < 1 THEN
        RAISE EXCEPTION 'max_attempts must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT a.atttypid INTO vtype FROM pg_catalog.pg_attribute a
     WHERE a.attrelid = tbl AND a.attname = vector_column AND a.attnum > 0 AND NOT a.attisdropped;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'column "%" of relation "%" does not exist', vector_column, tbl USING ERRCODE = 'undefined_column';
    END IF;
    IF vtype NOT IN ('@extschema@.vector'::regtype, '@extschema@.halfvec'::regtype) THEN
        RAISE EXCEPTION 'column "%" of relation "%" has type %, not vector or halfvec', vector_column, tbl, vtype
            USING ERRCODE = 'datatype_mismatch';
    END IF;
    IF NOT pg_catalog.has_column_privilege(tbl, vector_column, 'UPDATE') THEN
        RAISE EXCEPTION 'permission denied to update column % of %', vector_column, tbl USING ERRCODE = 'insufficient_privilege';
    END IF;
    SELECT pg_catalog.array_agg(a.attname ORDER BY k.o) INTO keys
      FROM pg_catalog.pg_index i
      CROSS JOIN LATERAL pg_catalog.unnest(i.indkey) WITH ORDINALITY AS k(attnum, o)
      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
     WHERE i.indrelid = tbl AND i.indisprimary;
    IF keys IS NULL THEN
        RAISE EXCEPTION 'relation "%" has no primary key', tbl
            USING ERRCODE = 'object_not_in_prerequisite_state',
                  HINT = 'A vectorizer finds the rows to update by their primary key: ALTER TABLE ... ADD PRIMARY KEY.';
    END IF;
    vz_source := @extschema@.semvec_vectorizer_check_source(tbl, source);
    PERFORM @extschema@.semvec_vectorizer_check_model(tbl, vector_column, vz_model);
    vz_name := coalesce(vz_name, (SELECT c.relname || '_' || vector_column FROM pg_catalog.pg_class c WHERE c.oid = tbl));
    IF EXISTS (SELECT FROM @extschema@.semvec_vectorizer z WHERE z.relation = tbl AND z.vector_column = semvec_vectorize.vector_column) THEN
        RAISE EXCEPTION 'column "%" of relation "%" already has a vectorizer', vector_column, tbl
            USING ERRCODE = 'duplicate_object', HINT = 'Change it with semvec_vectorizer_alter(), or drop it first.';
    END IF;
    IF EXISTS (SELECT FROM @extschema@.semvec_vectorizer z WHERE z.name = vz_name) THEN
        RAISE EXCEPTION 'vectorizer "%" already exists', vz_name USING ERRCODE = 'duplicate_object';
    END IF;
    INSERT INTO @extschema@.semvec_vectorizer AS z (name, relation, source, vector_column, key_columns, model, batch_size, max_attempts)
    VALUES (vz_name, tbl, vz_source, vector_column, keys, vz_model, vz_batch, max_attempts)
    RETURNING z.id INTO vz_id;
    -- pg_trigger: the caller creates them (TRIGGER privilege); transition tables need one event each.
    EXECUTE pg_catalog.format('CREATE TRIGGER %I AFTER INSERT ON %s REFERENCING NEW TABLE AS semvec_new_rows '
                              'FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.semvec_vectorizer_enqueue(%s)',
                              'semvec_vectorizer_' || vz_id || '_insert', tbl, vz_id);
    EXECUTE pg_catalog.format('CREATE TRIGGER %I AFTER UPDATE ON %s REFERENCING OLD TABLE AS semvec_old_rows NEW TABLE AS semvec_new_rows '
                              'FOR EACH STATEMENT EXECUTE FUNCTION @extschema@.semvec_vectorizer_enqueue(%s)',
                              'semvec_vectorizer_' || vz_id || '_update', tbl, vz_id);
    IF backfill <> 'none' THEN
        PERFORM @extschema@.semvec_vectorizer_enqueue_all(vz_id, backfill = 'missing');
    END IF;
    RETURN vz_name;
END
$$;
COMMENT ON FUNCTION semvec_vectorize(regclass, text, name, text, integer, integer, text, text)
    IS 'register a vectorizer: vector_column follows embed(source, model), embedded by semvec_vectorizer_run()';

-- Queue every row of a vectorizer's table (only_missing: those whose vector is NULL); returns how many.
CREATE FUNCTION semvec_vectorizer_enqueue_all(vz_id integer, only_missing boolean) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
DECLARE
    v @extschema@.semvec_vectorizer;
    n bigint;
BEGIN
    SELECT * INTO STRICT v FROM @extschema@.semvec_vectorizer z WHERE z.id = vz_id;
    EXECUTE pg_catalog.format('INSERT INTO @extschema@.semvec_vectorizer_queue (vectorizer_id, key) '
                              'SELECT $1, %s FROM %s semvec_row %s',
                              @extschema@.semvec_vectorizer_key_sql(v.key_columns), v.relation,
                              CASE WHEN only_missing THEN pg_catalog.format('WHERE semvec_row.%I IS NULL', v.vector_column) ELSE '' END)
        USING v.id;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- A vectorizer by name, for a caller who may change it (a member of its owner role).
CREATE FUNCTION semvec_vectorizer_owned(vz_name text) RETURNS semvec_vectorizer
    LANGUAGE plpgsql
    AS $$
DECLARE
    v @extschema@.semvec_vectorizer;
BEGIN
    SELECT * INTO v FROM @extschema@.semvec_vectorizer z WHERE z.name = vz_name;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'vectorizer "%" does not exist', vz_name USING ERRCODE = 'undefined_object';
    END IF;
    IF NOT pg_catalog.pg_has_role(v.owner, 'MEMBER') THEN
        RAISE EXCEPTION 'must be a member of role "%" to change or run vectorizer "%"', v.owner, vz_name
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN v;
END
$$;

CREATE FUNCTION semvec_vectorizer_pause(name text) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v @extschema@.semvec_vectorizer := @extschema@.semvec_vectorizer_owned(name);
BEGIN
    UPDATE @extschema@.semvec_vectorizer z SET paused = true WHERE z.id = v.id;
END
$$;
COMMENT ON FUNCTION semvec_vectorizer_pause(text) IS 'stop embedding a vectorizer''s rows (changes are still queued)';

CREATE FUNCTION semvec_vectorizer_resume(name text) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v @extschema@.semvec_vectorizer := @extschema@.semvec_vectorizer_owned(name);
BEGIN
    UPDATE @extschema@.semvec_vectorizer z SET paused = false WHERE z.id = v.id;
END
$$;
COMMENT ON FUNCTION semvec_vectorizer_resume(text) IS 'embed a paused vectorizer''s rows again';

-- Change a vectorizer. A new model or source queues every row again (and forgets parked failures);
-- batch_size and max_attempts apply from the next batch.
CREATE FUNCTION semvec_vectorizer_alter(name text, batch_size integer DEFAULT NULL, model text DEFAULT NULL,
                                        max_attempts integer DEFAULT NULL, source text DEFAULT NULL) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v @extschema@.semvec_vectorizer := @extschema@.semvec_vectorizer_owned(name);
    new_source text := v.source;
    requeue boolean := false;
BEGIN
    IF batch_size IS NOT NULL AND batch_size NOT BETWEEN 1 AND 4096 THEN
        RAISE EXCEPTION 'batch_size must be between 1 and 4096' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF max_attempts IS NOT NULL AND max_attempts < 1 THEN
        RAISE EXCEPTION 'max_attempts must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF model IS NOT NULL AND model <> v.model THEN
        PERFORM @extschema@.semvec_vectorizer_check_model(v.relation, v.vector_column, model);
        requeue := true;
    END IF;
    IF source IS NOT NULL THEN
        new_source := @extschema@.semvec_vectorizer_check_source(v.relation, source);
        requeue := requeue OR new_source <> v.source;
    END IF;
    UPDATE @extschema@.semvec_vectorizer z
       SET batch_size = coalesce(semvec_vectorizer_alter.batch_size, z.batch_size),
           max_attempts = coalesce(semvec_vectorizer_alter.max_attempts, z.max_attempts),
           model = coalesce(semvec_vectorizer_alter.model, z.model),
           source = new_source
     WHERE z.id = v.id;
    IF requeue THEN
        DELETE FROM @extschema@.semvec_vectorizer_queue q WHERE q.vectorizer_id = v.id AND q.status = 'failed';
        PERFORM @extschema@.semvec_vectorizer_enqueue_all(v.id, false);
    END IF;
END
$$;
COMMENT ON FUNCTION semvec_vectorizer_alter(text, integer, text, integer, text)
    IS 'change a vectorizer; a new model or source re-embeds every row';

-- Drop a vectorizer and its triggers (dropping triggers needs the table's ownership); its queue
-- entries too unless drop_queue is false (they are then left for inspection, for the superuser).
CREATE FUNCTION semvec_vectorizer_drop(name text, drop_queue boolean DEFAULT true) RETURNS void
    LANGUAGE plpgsql
    AS $$
DECLARE
    v @extschema@.semvec_vectorizer := @extschema@.semvec_vectorizer_owned(name);
BEGIN
    IF EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = v.relation) THEN
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', 'semvec_vectorizer_' || v.id || '_insert', v.relation);
        EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS %I ON %s', 'semvec_vectorizer_' || v.id || '_update', v.relation);
    END IF;
    IF drop_queue THEN
        DELETE FROM @extschema@.semvec_vectorizer_queue q WHERE q.vectorizer_id = v.id;
    END IF;
    DELETE FROM @extschema@.semvec_vectorizer z WHERE z.id = v.id;
END
$$;
COMMENT ON FUNCTION semvec_vectorizer_drop(text, boolean) IS 'drop a vectorizer, its triggers and (by default) its queue';

-- Read, embed and write back the rows of some keys, in the caller's transaction; raises on any error.
-- A row whose source changed since it was read is not written (its newer queue entry is pending).
-- Returns the number of rows written; keys without a row are simply done.
CREATE FUNCTION semvec_vectorizer_embed_keys(v semvec_vectorizer, keys jsonb[]) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
DECLARE
    found_keys jsonb[];
    bodies text[];
    texts text[];
    vecs @extschema@.vector[];
    vals @extschema@.vector[] := '{}';
    j integer := 0;
    n bigint;
BEGIN
    EXECUTE pg_catalog.format(
        'SELECT pg_catalog.array_agg(k.key), pg_catalog.array_agg(r.body) '
        'FROM (SELECT DISTINCT key FROM pg_catalog.unnest($1) AS u(key)) k '
        'JOIN LATERAL (SELECT %s AS body FROM %s semvec_row WHERE %s) r ON true',
        @extschema@.semvec_vectorizer_source_sql(v.source), v.relation,
        @extschema@.semvec_vectorizer_match_sql(v.relation, v.key_columns, 'k.key'))
        INTO found_keys, bodies USING keys;
    IF found_keys IS NULL THEN
        RETURN 0;
    END IF;
    SELECT pg_catalog.array_agg(b) INTO texts FROM pg_catalog.unnest(bodies) AS b WHERE b IS NOT NULL;
    IF texts IS NOT NULL THEN
        vecs := @extschema@.embed_batch(texts, v.model);
    END IF;
    -- vals[i]: the vector of bodies[i] (NULL for a NULL source: the vector is cleared)
    FOR i IN 1 .. pg_catalog.array_length(bodies, 1) LOOP
        IF bodies[i] IS NULL THEN
            vals := vals || NULL::@extschema@.vector;
        ELSE
            j := j + 1;
            vals := vals || vecs[j];
        END IF;
    END LOOP;
    EXECUTE pg_catalog.format(
        'UPDATE %1$s semvec_row SET %2$I = u.vec '
        'FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3)) AS u(key, body, vec) '
        'WHERE %3$s AND (SELECT %4$s FROM (SELECT semvec_row.*) semvec_row) IS NOT DISTINCT FROM u.body',
        v.relation, v.vector_column,
        @extschema@.semvec_vectorizer_match_sql(v.relation, v.key_columns, 'u.key'),
        @extschema@.semvec_vectorizer_source_sql(v.source))
        USING found_keys, bodies, vals;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;

-- One batch of a vectorizer, in the caller's transaction, as the caller (the runner sets the role to
-- the owner): claim up to max_rows pending entries (FOR UPDATE SKIP LOCKED), embed their rows, write
-- the vectors, delete the entries; a failing batch is retried row by row and failing rows count an
-- attempt. Returns {entries claimed, vectors written, rows failed}.
CREATE FUNCTION semvec_vectorizer_step(vz_id integer, max_rows integer DEFAULT NULL) RETURNS bigint[]
    LANGUAGE plpgsql
    AS $$
DECLARE
    v @extschema@.semvec_vectorizer;
    ids bigint[];
    keys jsonb[];
    ukeys jsonb[];
    written bigint := 0;
    failed bigint := 0;
    k jsonb;
    err text;
    t0 timestamptz := pg_catalog.clock_timestamp();
BEGIN
    SELECT * INTO v FROM @extschema@.semvec_vectorizer z WHERE z.id = vz_id;
    IF NOT FOUND OR v.paused THEN
        RETURN '{0,0,0}';
    END IF;
    -- Problems of the whole vectorizer leave its rows pending, and say so in last_error.
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid = v.relation) THEN
        err := 'the table of the vectorizer was dropped';
    ELSIF NOT EXISTS (SELECT FROM @extschema@.semvec_model m WHERE m.name = v.model) THEN
        err := pg_catalog.format('embedding model "%s" is not registered', v.model);
    END IF;
    IF err IS NOT NULL THEN
        UPDATE @extschema@.semvec_vectorizer z SET last_error = err, last_error_at = pg_catalog.now() WHERE z.id = v.id;
        RETURN '{0,0,0}';
    END IF;
    SELECT pg_catalog.array_agg(c.id), pg_catalog.array_agg(c.key) INTO ids, keys
      FROM (SELECT q.id, q.key FROM @extschema@.semvec_vectorizer_queue q
             WHERE q.vectorizer_id = v.id AND q.status = 'pending'
             ORDER BY q.id LIMIT least(v.batch_size, coalesce(max_rows, v.batch_size))
               FOR UPDATE SKIP LOCKED) c;
    IF ids IS NULL THEN
        RETURN '{0,0,0}';
    END IF;
    -- "in progress" for semvec_vectorizer_status: a shared advisory lock (-id, rows) held by this batch
    PERFORM pg_catalog.pg_try_advisory_xact_lock_shared(-v.id, pg_catalog.cardinality(ids));
    BEGIN
        written := @extschema@.semvec_vectorizer_embed_keys(v, keys);
    EXCEPTION WHEN OTHERS THEN
        -- one row at a time, so one bad row does not stop the others
        written := 0;
        SELECT pg_catalog.array_agg(DISTINCT u.key) INTO ukeys FROM pg_catalog.unnest(keys) AS u(key);
        FOREACH k IN ARRAY ukeys LOOP
            BEGIN
                written := written + @extschema@.semvec_vectorizer_embed_keys(v, ARRAY[k]);
            EXCEPTION WHEN OTHERS THEN
                err := SQLERRM;
                failed := failed + 1;
                UPDATE @extschema@.semvec_vectorizer_queue q
                   SET attempts = q.attempts + 1, last_error = err,
                       status = CASE WHEN q.attempts + 1 >= v.max_attempts THEN 'failed' ELSE 'pending' END
                 WHERE q.id = ANY (ids) AND q.key = k;
                ids := ARRAY(SELECT i FROM pg_catalog.unnest(ids) AS i
                              WHERE i NOT IN (SELECT q.id FROM @extschema@.semvec_vectorizer_queue q
                                               WHERE q.id = ANY (ids) AND q.key = k));
            END;
        END LOOP;
    END;
    -- Done: the claimed entries, and failures parked earlier for the same rows.
    DELETE FROM @extschema@.semvec_vectorizer_queue q
     WHERE q.vectorizer_id = v.id
       AND (q.id = ANY (ids)
            OR (q.status = 'failed' AND q.key = ANY (ARRAY(SELECT q2.key FROM @extschema@.semvec_vectorizer_queue q2 WHERE q2.id = ANY (ids)))));
    UPDATE @extschema@.semvec_vectorizer z
       SET rows_done = z.rows_done + written,
           last_run_rows = z.last_run_rows + written,
           last_run_seconds = coalesce(z.last_run_seconds, 0) + extract(epoch FROM pg_catalog.clock_timestamp() - t0),
           last_error = NULL, last_error_at = NULL
     WHERE z.id = v.id;
    RETURN ARRAY[pg_catalog.cardinality(keys), written, failed];
END
$$;

-- One batch of a vectorizer as its owner, in the caller's transaction, which the caller commits right
-- after (the role stays set until then): what CALL semvec_vectorizer_run() and the background workers
-- repeat. Returns {entries claimed, vectors written, rows failed}.
CREATE FUNCTION semvec_vectorizer_run_batch(vz_id integer, max_rows integer DEFAULT NULL) RETURNS bigint[]
    LANGUAGE plpgsql
    AS $$
DECLARE
    vz_owner regrole;
BEGIN
    SELECT z.owner INTO vz_owner FROM @extschema@.semvec_vectorizer z WHERE z.id = vz_id;
    IF NOT FOUND THEN
        RETURN '{0,0,0}';
    END IF;
    IF vz_owner <> current_user::regrole THEN
        PERFORM pg_catalog.set_config('role', vz_owner::text, true);
    END IF;
    RETURN @extschema@.semvec_vectorizer_step(vz_id, max_rows);
END
$$;

-- The vectorizers a background worker has work for: not paused, with pending entries, in id order.
CREATE FUNCTION semvec_vectorizer_worker_todo() RETURNS integer[]
    LANGUAGE sql STABLE
    AS $$
    SELECT coalesce(pg_catalog.array_agg(z.id ORDER BY z.id), '{}')
      FROM @extschema@.semvec_vectorizer z
     WHERE NOT z.paused
       AND EXISTS (SELECT FROM @extschema@.semvec_vectorizer_queue q WHERE q.vectorizer_id = z.id AND q.status = 'pending')
$$;

-- One batch for a background worker, which commits after it. run_start: the worker comes back to this
-- vectorizer after finding it idle, so its run counters (last_run_*) start again. An error is not
-- raised: it is logged (WARNING) and kept as the vectorizer's last error, and the worker goes on with
-- the other vectorizers (and comes back to this one after semvec.vectorizer_naptime). Returns the
-- entries claimed (0: nothing done).
CREATE FUNCTION semvec_vectorizer_worker_batch(vz_id integer, run_start boolean) RETURNS bigint
    LANGUAGE plpgsql
    AS $$
DECLARE
    res bigint[];
    err text;
BEGIN
    IF run_start THEN
        UPDATE @extschema@.semvec_vectorizer z
           SET last_run_started = pg_catalog.clock_timestamp(), last_run_rows = 0, last_run_seconds = NULL
         WHERE z.id = vz_id;
    END IF;
    BEGIN
        res := @extschema@.semvec_vectorizer_run_batch(vz_id);
        RETURN res[1];
    EXCEPTION WHEN OTHERS THEN
        err := SQLERRM;
        RAISE WARNING 'vectorizer "%": %', (SELECT z.name FROM @extschema@.semvec_vectorizer z WHERE z.id = vz_id), err;
        UPDATE @extschema@.semvec_vectorizer z SET last_error = err, last_error_at = pg_catalog.now() WHERE z.id = vz_id;
        RETURN 0;
    END;
END
$$;

-- Embed the pending rows of one vectorizer (name) or of every vectorizer the caller may run (a
-- member of its owner role; paused ones are skipped), batch by batch, committing each batch; at most
-- max_rows queue entries per vectorizer. Each batch runs as the vectorizer's owner. Not inside a
-- transaction block (it commits).
CREATE PROCEDURE semvec_vectorizer_run(name text DEFAULT NULL, max_rows bigint DEFAULT NULL)
    LANGUAGE plpgsql
    AS $$
DECLARE
    vz_ids integer[];
    vz_id integer;
    res bigint[];
    claimed bigint;
BEGIN
    IF max_rows IS NOT NULL AND max_rows < 1 THEN
        RAISE EXCEPTION 'max_rows must be at least 1' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF name IS NOT NULL THEN
        vz_ids := ARRAY[(@extschema@.semvec_vectorizer_owned(name)).id];
        IF (SELECT z.paused FROM @extschema@.semvec_vectorizer z WHERE z.id = vz_ids[1]) THEN
            RAISE NOTICE 'vectorizer "%" is paused', name;
            RETURN;
        END IF;
    ELSE
        vz_ids := ARRAY(SELECT z.id FROM @extschema@.semvec_vectorizer z
                         WHERE NOT z.paused AND pg_catalog.pg_has_role(z.owner, 'MEMBER') ORDER BY z.id);
    END IF;
    FOREACH vz_id IN ARRAY vz_ids LOOP
        UPDATE @extschema@.semvec_vectorizer z
           SET last_run_started = pg_catalog.clock_timestamp(), last_run_rows = 0, last_run_seconds = NULL
         WHERE z.id = vz_id;
        CONTINUE WHEN NOT FOUND;
        COMMIT;  -- not held during the batches: concurrent runs of the same vectorizer must not wait
        claimed := 0;
        LOOP
            res := @extschema@.semvec_vectorizer_run_batch(vz_id, (max_rows - claimed)::integer);
            COMMIT;
            claimed := claimed + res[1];
            EXIT WHEN res[1] = 0 OR claimed >= max_rows;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON PROCEDURE semvec_vectorizer_run(text, bigint)
    IS 'embed the pending rows of a vectorizer (or of all), one committed batch at a time, as their owners';

-- pg_event_trigger: a dropped table takes its vectorizers and their queues with it.
CREATE FUNCTION semvec_vectorizer_forget_dropped() RETURNS event_trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp
    AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT z.id, z.name FROM @extschema@.semvec_vectorizer z
               JOIN pg_catalog.pg_event_trigger_dropped_objects() d
                 ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = z.relation AND d.objsubid = 0
    LOOP
        DELETE FROM @extschema@.semvec_vectorizer_queue q WHERE q.vectorizer_id = r.id;
        DELETE FROM @extschema@.semvec_vectorizer z WHERE z.id = r.id;
        RAISE NOTICE 'vectorizer "%" dropped with its table', r.name;
    END LOOP;
END
$$;
CREATE EVENT TRIGGER semvec_vectorizer_drop_table ON sql_drop
    EXECUTE FUNCTION semvec_vectorizer_forget_dropped();

-- What each vectorizer has to do. Counts of queue entries are those the caller may see (members of
-- the owner; the superuser sees all). in_progress: rows in batches running now; lag: the age of the
-- oldest pending entry; rows_per_second: of the last run.
CREATE VIEW semvec_vectorizer_status WITH (security_invoker = true) AS
SELECT v.name,
       v.relation AS "table",
       v.vector_column,
       v.model,
       v.paused,
       coalesce(q.pending, 0) AS pending,
       coalesce((SELECT sum(l.objid::bigint) FROM pg_catalog.pg_locks l
                  WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.classid::bigint = 4294967296 - v.id
                    AND l.database = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())), 0)::bigint
           AS in_progress,
       v.rows_done AS done,
       coalesce(q.failed, 0) AS failed,
       CASE WHEN v.last_run_seconds > 0 THEN round((v.last_run_rows / v.last_run_seconds)::numeric, 1) END AS rows_per_second,
       pg_catalog.now() - q.oldest_pending AS lag,
       coalesce(q.last_error, v.last_error) AS last_error
  FROM @extschema@.semvec_vectorizer v
  LEFT JOIN LATERAL (
        SELECT count(DISTINCT x.key) FILTER (WHERE x.status = 'pending') AS pending,
               count(DISTINCT x.key) FILTER (WHERE x.status = 'failed') AS failed,
               min(x.enqueued_at) FILTER (WHERE x.status = 'pending') AS oldest_pending,
               (SELECT y.last_error FROM @extschema@.semvec_vectorizer_queue y
                 WHERE y.vectorizer_id = v.id AND y.last_error IS NOT NULL ORDER BY y.id DESC LIMIT 1) AS last_error
          FROM @extschema@.semvec_vectorizer_queue x
         WHERE x.vectorizer_id = v.id) q ON true;
GRANT SELECT ON semvec_vectorizer_status TO PUBLIC;
COMMENT ON VIEW semvec_vectorizer_status IS 'vectorizers: pending, in progress, done and failed rows, speed, lag, last error';

-- Filter key columns of hnsw indexes (issue 16).
-- Filter key columns after the vector (USING hnsw (embedding vector_cosine_ops, tenant_id, labels)):
-- default operator classes for the key types. pg_opfamily/pg_opclass/pg_amop: strategy 1 is `=`
-- (scalar keys, also `IN (...)` / `= ANY(array)`), strategy 2 is `&&` (array keys). Integer
-- types share one family so `int4_col = int8_value` is an index condition too. No support
-- functions: the index stores integer values and 64-bit hashes of text, and the executor
-- rechecks every condition.
CREATE OPERATOR FAMILY integer_filter_ops USING hnsw;
CREATE OPERATOR CLASS int2_filter_ops DEFAULT
    FOR TYPE int2 USING hnsw FAMILY integer_filter_ops AS
    OPERATOR 1 = (int2, int2);
CREATE OPERATOR CLASS int4_filter_ops DEFAULT
    FOR TYPE int4 USING hnsw FAMILY integer_filter_ops AS
    OPERATOR 1 = (int4, int4);
CREATE OPERATOR CLASS int8_filter_ops DEFAULT
    FOR TYPE int8 USING hnsw FAMILY integer_filter_ops AS
    OPERATOR 1 = (int8, int8);
ALTER OPERATOR FAMILY integer_filter_ops USING hnsw ADD
    OPERATOR 1 = (int2, int4), OPERATOR 1 = (int2, int8),
    OPERATOR 1 = (int4, int2), OPERATOR 1 = (int4, int8),
    OPERATOR 1 = (int8, int2), OPERATOR 1 = (int8, int4);
CREATE OPERATOR CLASS text_filter_ops DEFAULT
    FOR TYPE text USING hnsw AS
    OPERATOR 1 = (text, text);
CREATE OPERATOR CLASS int2_array_filter_ops DEFAULT
    FOR TYPE int2[] USING hnsw AS
    OPERATOR 2 && (anyarray, anyarray);
CREATE OPERATOR CLASS int4_array_filter_ops DEFAULT
    FOR TYPE int4[] USING hnsw AS
    OPERATOR 2 && (anyarray, anyarray);
CREATE OPERATOR CLASS int8_array_filter_ops DEFAULT
    FOR TYPE int8[] USING hnsw AS
    OPERATOR 2 && (anyarray, anyarray);
CREATE OPERATOR CLASS text_array_filter_ops DEFAULT
    FOR TYPE text[] USING hnsw AS
    OPERATOR 2 && (anyarray, anyarray);
