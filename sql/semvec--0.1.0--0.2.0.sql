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
