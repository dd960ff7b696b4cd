-- semvec: the bm25 index access method (src/index/bm25/, crates/bm25index): BM25 top-k by
-- block-max WAND for ORDER BY doc <@> bm25_query(...), over a tsvector column or a text column
-- with a text search configuration.

-- pg_proc + pg_am
CREATE FUNCTION bm25handler(internal) RETURNS index_am_handler
    AS 'MODULE_PATHNAME', 'semvec_bm25_handler' LANGUAGE C;
COMMENT ON FUNCTION bm25handler(internal) IS 'bm25 index access method handler';

CREATE ACCESS METHOD bm25 TYPE INDEX HANDLER bm25handler;
COMMENT ON ACCESS METHOD bm25 IS 'BM25 posting-list index with block-max WAND top-k';

-- pg_proc + pg_operator: doc <@> query = minus the BM25 score (ascending order = best first),
-- with the query's own weights and average length (bm25_query() takes them from the index).
CREATE FUNCTION bm25_distance(tsvector, bm25query) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_bm25_tsvector_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION bm25_distance(text, bm25query) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_bm25_text_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION bm25_distance(tsvector, bm25query) IS 'minus the Okapi BM25 score of a document for a bm25_query()';
COMMENT ON FUNCTION bm25_distance(text, bm25query) IS 'minus the Okapi BM25 score of to_tsvector(the query''s configuration, text)';

CREATE OPERATOR <@> (LEFTARG = tsvector, RIGHTARG = bm25query, PROCEDURE = bm25_distance);
CREATE OPERATOR <@> (LEFTARG = text, RIGHTARG = bm25query, PROCEDURE = bm25_distance);

-- pg_opclass, pg_amop: one ordering operator each.
CREATE OPERATOR CLASS tsvector_bm25_ops
    DEFAULT FOR TYPE tsvector USING bm25 AS
    OPERATOR 1 <@> (tsvector, bm25query) FOR ORDER BY float_ops;

CREATE OPERATOR CLASS text_bm25_ops
    DEFAULT FOR TYPE text USING bm25 AS
    OPERATOR 1 <@> (text, bm25query) FOR ORDER BY float_ops;

-- Index statistics for bm25_query(): {n_docs, total_length, avg_length, weight per lexeme}.
CREATE FUNCTION semvec_bm25_index_stats(index regclass, lexemes text[], counts integer[], k1 float8, b float8)
    RETURNS float8[] AS 'MODULE_PATHNAME', 'semvec_bm25_index_stats' LANGUAGE C STABLE STRICT PARALLEL SAFE;
-- The index's text_config, or NULL.
CREATE FUNCTION semvec_bm25_index_config(index regclass) RETURNS regconfig
    AS 'MODULE_PATHNAME', 'semvec_bm25_index_config' LANGUAGE C STABLE STRICT PARALLEL SAFE;

-- The bm25 index serving a column (valid, on the bare column, without predicate), or NULL; also
-- NULL while semvec.bm25_index_search is off.
CREATE FUNCTION semvec_bm25_index(tbl regclass, doc_column name) RETURNS regclass
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$
    SELECT ic.oid::pg_catalog.regclass
      FROM pg_catalog.pg_index i
      JOIN pg_catalog.pg_class ic ON ic.oid = i.indexrelid
      JOIN pg_catalog.pg_am am ON am.oid = ic.relam
      JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
     WHERE i.indrelid = $1 AND a.attname = $2 AND i.indisvalid AND i.indisready
       AND i.indpred IS NULL AND i.indexprs IS NULL
       AND am.amhandler = '@extschema@.bm25handler(internal)'::pg_catalog.regprocedure
       AND COALESCE(pg_catalog.current_setting('semvec.bm25_index_search', true), 'on') <> 'off'
     ORDER BY ic.relname
     LIMIT 1
$$;

-- The configuration queries of a column with a bm25 index are parsed with: the index's
-- text_config, else the one the column was registered with by bm25_create(), else
-- default_text_search_config. Both set and different is an error.
CREATE FUNCTION semvec_bm25_index_parse_config(idx regclass, tbl regclass, doc_column name) RETURNS regconfig
    LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$
DECLARE
    icfg regconfig := @extschema@.semvec_bm25_index_config(idx);
    rcfg regconfig := @extschema@.semvec_bm25_registered_config(tbl, doc_column);
BEGIN
    IF icfg IS NOT NULL AND rcfg IS NOT NULL AND icfg <> rcfg THEN
        RAISE EXCEPTION 'bm25 index "%" uses text search configuration %, but column "%" of relation "%" was registered with %',
            idx, icfg, doc_column, tbl, rcfg
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'Use the same configuration for both, or drop one (bm25_drop() or DROP INDEX).';
    END IF;
    RETURN COALESCE(icfg, rcfg, pg_catalog.get_current_ts_config());
END
$$;

-- A query for a column with a bm25 index: lexemes parsed with the index's configuration,
-- weights and average length from the index's statistics (the ones an index scan begun now uses).
CREATE FUNCTION semvec_bm25_index_query(idx regclass, tbl regclass, doc_column name, query text,
                                        k1 float8, b float8)
    RETURNS bm25query LANGUAGE plpgsql STABLE PARALLEL SAFE
    AS $$
DECLARE
    q @extschema@.bm25query;
    st float8[];
BEGIN
    PERFORM @extschema@.semvec_bm25_check_params(k1, b);
    q.config := @extschema@.semvec_bm25_index_parse_config(idx, tbl, doc_column);
    SELECT coalesce(pg_catalog.array_agg(u.lexeme ORDER BY u.lexeme), '{}'),
           coalesce(pg_catalog.array_agg(coalesce(pg_catalog.cardinality(u.positions), 1) ORDER BY u.lexeme), '{}')
      INTO q.lexemes, q.lexeme_counts
      FROM pg_catalog.unnest(pg_catalog.to_tsvector(q.config, coalesce(query, ''))) u;
    st := @extschema@.semvec_bm25_index_stats(idx, q.lexemes, q.lexeme_counts, k1, b);
    q.k1 := k1;
    q.b := b;
    q.n_docs := st[1]::bigint;
    q.avg_length := st[3];
    q.weights := coalesce(st[4:], '{}');
    q.or_query := @extschema@.semvec_bm25_or_tsquery(q.lexemes);
    RETURN q;
END
$$;
