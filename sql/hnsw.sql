-- semvec: the hnsw index access method and its operator classes for vector (pgvector's names).

-- pg_proc + pg_am: the handler returns the IndexAmRoutine
CREATE FUNCTION hnswhandler(internal) RETURNS index_am_handler
    AS 'MODULE_PATHNAME', 'semvec_hnsw_handler' LANGUAGE C;
COMMENT ON FUNCTION hnswhandler(internal) IS 'hnsw index access method handler';

CREATE ACCESS METHOD hnsw TYPE INDEX HANDLER hnswhandler;
COMMENT ON ACCESS METHOD hnsw IS 'hnsw index access method';

-- pg_opclass, pg_amop, pg_amproc: one ordering operator each; support function 1 names the
-- distance the index computes internally, function 2 (a norm) marks cosine: normalise first.
CREATE OPERATOR CLASS vector_l2_ops
    FOR TYPE vector USING hnsw AS
    OPERATOR 1 <-> (vector, vector) FOR ORDER BY float_ops,
    FUNCTION 1 vector_l2_squared_distance(vector, vector);

CREATE OPERATOR CLASS vector_ip_ops
    FOR TYPE vector USING hnsw AS
    OPERATOR 1 <#> (vector, vector) FOR ORDER BY float_ops,
    FUNCTION 1 vector_negative_inner_product(vector, vector);

CREATE OPERATOR CLASS vector_cosine_ops
    FOR TYPE vector USING hnsw AS
    OPERATOR 1 <=> (vector, vector) FOR ORDER BY float_ops,
    FUNCTION 1 vector_negative_inner_product(vector, vector),
    FUNCTION 2 vector_norm(vector);

CREATE OPERATOR CLASS vector_l1_ops
    FOR TYPE vector USING hnsw AS
    OPERATOR 1 <+> (vector, vector) FOR ORDER BY float_ops,
    FUNCTION 1 l1_distance(vector, vector);

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
