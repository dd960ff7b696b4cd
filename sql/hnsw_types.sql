-- semvec: hnsw operator classes for halfvec, sparsevec and bit (pgvector's names).

-- pg_proc: support function 3 tells the index which type it stores (pgvector's "type info"
-- functions); an opclass without it stores `vector`. Not meant to be called from SQL.
CREATE FUNCTION hnsw_halfvec_support(internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'semvec_hnsw_halfvec_support' LANGUAGE C;
COMMENT ON FUNCTION hnsw_halfvec_support(internal) IS 'hnsw support: halfvec';
CREATE FUNCTION hnsw_bit_support(internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'semvec_hnsw_bit_support' LANGUAGE C;
COMMENT ON FUNCTION hnsw_bit_support(internal) IS 'hnsw support: bit';
CREATE FUNCTION hnsw_sparsevec_support(internal) RETURNS internal
    AS 'MODULE_PATHNAME', 'semvec_hnsw_sparsevec_support' LANGUAGE C;
COMMENT ON FUNCTION hnsw_sparsevec_support(internal) IS 'hnsw support: sparsevec';

-- pg_opclass, pg_amop, pg_amproc: one ordering operator each; support function 1 is the distance
-- the index computes, function 2 (a norm) marks cosine (stored normalised), function 3 the type.
CREATE OPERATOR CLASS halfvec_l2_ops
    FOR TYPE halfvec USING hnsw AS
    OPERATOR 1 <-> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 halfvec_l2_squared_distance(halfvec, halfvec),
    FUNCTION 3 hnsw_halfvec_support(internal);

CREATE OPERATOR CLASS halfvec_ip_ops
    FOR TYPE halfvec USING hnsw AS
    OPERATOR 1 <#> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 halfvec_negative_inner_product(halfvec, halfvec),
    FUNCTION 3 hnsw_halfvec_support(internal);

CREATE OPERATOR CLASS halfvec_cosine_ops
    FOR TYPE halfvec USING hnsw AS
    OPERATOR 1 <=> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 halfvec_negative_inner_product(halfvec, halfvec),
    FUNCTION 2 l2_norm(halfvec),
    FUNCTION 3 hnsw_halfvec_support(internal);

CREATE OPERATOR CLASS halfvec_l1_ops
    FOR TYPE halfvec USING hnsw AS
    OPERATOR 1 <+> (halfvec, halfvec) FOR ORDER BY float_ops,
    FUNCTION 1 l1_distance(halfvec, halfvec),
    FUNCTION 3 hnsw_halfvec_support(internal);

CREATE OPERATOR CLASS bit_hamming_ops
    FOR TYPE bit USING hnsw AS
    OPERATOR 1 <~> (bit, bit) FOR ORDER BY float_ops,
    FUNCTION 1 hamming_distance(bit, bit),
    FUNCTION 3 hnsw_bit_support(internal);

CREATE OPERATOR CLASS bit_jaccard_ops
    FOR TYPE bit USING hnsw AS
    OPERATOR 1 <%> (bit, bit) FOR ORDER BY float_ops,
    FUNCTION 1 jaccard_distance(bit, bit),
    FUNCTION 3 hnsw_bit_support(internal);

CREATE OPERATOR CLASS sparsevec_l2_ops
    FOR TYPE sparsevec USING hnsw AS
    OPERATOR 1 <-> (sparsevec, sparsevec) FOR ORDER BY float_ops,
    FUNCTION 1 sparsevec_l2_squared_distance(sparsevec, sparsevec),
    FUNCTION 3 hnsw_sparsevec_support(internal);

CREATE OPERATOR CLASS sparsevec_ip_ops
    FOR TYPE sparsevec USING hnsw AS
    OPERATOR 1 <#> (sparsevec, sparsevec) FOR ORDER BY float_ops,
    FUNCTION 1 sparsevec_negative_inner_product(sparsevec, sparsevec),
    FUNCTION 3 hnsw_sparsevec_support(internal);

CREATE OPERATOR CLASS sparsevec_cosine_ops
    FOR TYPE sparsevec USING hnsw AS
    OPERATOR 1 <=> (sparsevec, sparsevec) FOR ORDER BY float_ops,
    FUNCTION 1 sparsevec_negative_inner_product(sparsevec, sparsevec),
    FUNCTION 2 l2_norm(sparsevec),
    FUNCTION 3 hnsw_sparsevec_support(internal);

CREATE OPERATOR CLASS sparsevec_l1_ops
    FOR TYPE sparsevec USING hnsw AS
    OPERATOR 1 <+> (sparsevec, sparsevec) FOR ORDER BY float_ops,
    FUNCTION 1 l1_distance(sparsevec, sparsevec),
    FUNCTION 3 hnsw_sparsevec_support(internal);
