-- semvec: the `sparsevec` type ('{1:1.5,3:2}/5': 1-based index:value pairs, then dimensions), its
-- functions, operators, casts and btree operator class. Names, signatures and cast contexts match
-- pgvector 0.8.

-- pg_type: shell type first, so its I/O functions can name it
CREATE TYPE sparsevec;

-- pg_proc: type I/O
CREATE FUNCTION sparsevec_in(cstring, oid, integer) RETURNS sparsevec
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sparsevec_in(cstring, oid, integer) IS 'I/O';
CREATE FUNCTION sparsevec_out(sparsevec) RETURNS cstring
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sparsevec_out(sparsevec) IS 'I/O';
CREATE FUNCTION sparsevec_typmod_in(cstring[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_typmod_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sparsevec_typmod_in(cstring[]) IS 'I/O typmod';
CREATE FUNCTION sparsevec_recv(internal, oid, integer) RETURNS sparsevec
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sparsevec_recv(internal, oid, integer) IS 'I/O';
CREATE FUNCTION sparsevec_send(sparsevec) RETURNS bytea
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sparsevec_send(sparsevec) IS 'I/O';

-- pg_type: the full type
CREATE TYPE sparsevec (
    INPUT     = sparsevec_in,
    OUTPUT    = sparsevec_out,
    TYPMOD_IN = sparsevec_typmod_in,
    RECEIVE   = sparsevec_recv,
    SEND      = sparsevec_send,
    STORAGE   = external
);
COMMENT ON TYPE sparsevec IS 'sparse vector';

-- pg_proc: distances and functions (overloads of the vector ones)
CREATE FUNCTION l2_distance(sparsevec, sparsevec) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l2_distance(sparsevec, sparsevec) IS 'Euclidean distance';
CREATE FUNCTION inner_product(sparsevec, sparsevec) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION inner_product(sparsevec, sparsevec) IS 'inner product';
CREATE FUNCTION cosine_distance(sparsevec, sparsevec) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cosine_distance(sparsevec, sparsevec) IS 'cosine distance';
CREATE FUNCTION l1_distance(sparsevec, sparsevec) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l1_distance(sparsevec, sparsevec) IS 'taxicab distance';
CREATE FUNCTION l2_norm(sparsevec) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_l2_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l2_norm(sparsevec) IS 'Euclidean norm';
CREATE FUNCTION l2_normalize(sparsevec) RETURNS sparsevec
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_l2_normalize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l2_normalize(sparsevec) IS 'normalize with Euclidean norm';

-- pg_proc: operator implementations and opclass support
CREATE FUNCTION sparsevec_lt(sparsevec, sparsevec) RETURNS bool
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sparsevec_lt(sparsevec, sparsevec) IS 'implementation of < operator';
CREATE FUNCTION sparsevec_le(sparsevec, sparsevec) RETURNS bool
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sparsevec_le(sparsevec, sparsevec) IS 'implementation of <= operator';
CREATE FUNCTION sparsevec_eq(sparsevec, sparsevec) RETURNS bool
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sparsevec_eq(sparsevec, sparsevec) IS 'implementation of = operator';
CREATE FUNCTION sparsevec_ne(sparsevec, sparsevec) RETURNS bool
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sparsevec_ne(sparsevec, sparsevec) IS 'implementation of <> operator';
CREATE FUNCTION sparsevec_ge(sparsevec, sparsevec) RETURNS bool
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sparsevec_ge(sparsevec, sparsevec) IS 'implementation of >= operator';
CREATE FUNCTION sparsevec_gt(sparsevec, sparsevec) RETURNS bool
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sparsevec_gt(sparsevec, sparsevec) IS 'implementation of > operator';
CREATE FUNCTION sparsevec_cmp(sparsevec, sparsevec) RETURNS int4
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sparsevec_cmp(sparsevec, sparsevec) IS 'less-equal-greater';
CREATE FUNCTION sparsevec_l2_squared_distance(sparsevec, sparsevec) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_l2_squared_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sparsevec_l2_squared_distance(sparsevec, sparsevec) IS 'squared Euclidean distance';
CREATE FUNCTION sparsevec_negative_inner_product(sparsevec, sparsevec) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sparsevec_negative_inner_product(sparsevec, sparsevec) IS 'negative inner product';

-- pg_proc: cast functions
CREATE FUNCTION sparsevec(sparsevec, integer, boolean) RETURNS sparsevec
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_typmod_cast' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sparsevec(sparsevec, integer, boolean) IS 'adjust sparsevec to typmod';
CREATE FUNCTION vector_to_sparsevec(vector, integer, boolean) RETURNS sparsevec
    AS 'MODULE_PATHNAME', 'semvec_vector_to_sparsevec' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION vector_to_sparsevec(vector, integer, boolean) IS 'convert vector to sparsevec';
CREATE FUNCTION sparsevec_to_vector(sparsevec, integer, boolean) RETURNS vector
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_to_vector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sparsevec_to_vector(sparsevec, integer, boolean) IS 'convert sparsevec to vector';
CREATE FUNCTION halfvec_to_sparsevec(halfvec, integer, boolean) RETURNS sparsevec
    AS 'MODULE_PATHNAME', 'semvec_halfvec_to_sparsevec' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_to_sparsevec(halfvec, integer, boolean) IS 'convert halfvec to sparsevec';
CREATE FUNCTION sparsevec_to_halfvec(sparsevec, integer, boolean) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'semvec_sparsevec_to_halfvec' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sparsevec_to_halfvec(sparsevec, integer, boolean) IS 'convert sparsevec to halfvec';
CREATE FUNCTION array_to_sparsevec(integer[], integer, boolean) RETURNS sparsevec
    AS 'MODULE_PATHNAME', 'semvec_array_to_sparsevec' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION array_to_sparsevec(integer[], integer, boolean) IS 'convert integer array to sparsevec';
CREATE FUNCTION array_to_sparsevec(real[], integer, boolean) RETURNS sparsevec
    AS 'MODULE_PATHNAME', 'semvec_array_to_sparsevec' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION array_to_sparsevec(real[], integer, boolean) IS 'convert real array to sparsevec';
CREATE FUNCTION array_to_sparsevec(double precision[], integer, boolean) RETURNS sparsevec
    AS 'MODULE_PATHNAME', 'semvec_array_to_sparsevec' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION array_to_sparsevec(double precision[], integer, boolean) IS 'convert double precision array to sparsevec';
CREATE FUNCTION array_to_sparsevec(numeric[], integer, boolean) RETURNS sparsevec
    AS 'MODULE_PATHNAME', 'semvec_array_to_sparsevec' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION array_to_sparsevec(numeric[], integer, boolean) IS 'convert numeric array to sparsevec';

-- pg_cast: pgvector's contexts (dense -> sparse implicit, sparse -> dense on assignment, arrays on
-- assignment)
CREATE CAST (sparsevec AS sparsevec) WITH FUNCTION sparsevec(sparsevec, integer, boolean) AS IMPLICIT;
CREATE CAST (sparsevec AS vector) WITH FUNCTION sparsevec_to_vector(sparsevec, integer, boolean) AS ASSIGNMENT;
CREATE CAST (vector AS sparsevec) WITH FUNCTION vector_to_sparsevec(vector, integer, boolean) AS IMPLICIT;
CREATE CAST (sparsevec AS halfvec) WITH FUNCTION sparsevec_to_halfvec(sparsevec, integer, boolean) AS ASSIGNMENT;
CREATE CAST (halfvec AS sparsevec) WITH FUNCTION halfvec_to_sparsevec(halfvec, integer, boolean) AS IMPLICIT;
CREATE CAST (integer[] AS sparsevec) WITH FUNCTION array_to_sparsevec(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (real[] AS sparsevec) WITH FUNCTION array_to_sparsevec(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS sparsevec) WITH FUNCTION array_to_sparsevec(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (numeric[] AS sparsevec) WITH FUNCTION array_to_sparsevec(numeric[], integer, boolean) AS ASSIGNMENT;

-- pg_operator: distance operators
CREATE OPERATOR <-> (LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = l2_distance, COMMUTATOR = '<->');
CREATE OPERATOR <#> (LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = sparsevec_negative_inner_product, COMMUTATOR = '<#>');
CREATE OPERATOR <=> (LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = cosine_distance, COMMUTATOR = '<=>');
CREATE OPERATOR <+> (LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = l1_distance, COMMUTATOR = '<+>');

-- pg_operator: comparison, as if the vectors were dense
CREATE OPERATOR < (
    LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = sparsevec_lt,
    COMMUTATOR = > , NEGATOR = >= ,
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
COMMENT ON OPERATOR < (sparsevec, sparsevec) IS 'less than';
CREATE OPERATOR <= (
    LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = sparsevec_le,
    COMMUTATOR = >= , NEGATOR = > ,
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
COMMENT ON OPERATOR <= (sparsevec, sparsevec) IS 'less than or equal';
CREATE OPERATOR = (
    LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = sparsevec_eq,
    COMMUTATOR = = , NEGATOR = <> ,
    RESTRICT = eqsel, JOIN = eqjoinsel
);
COMMENT ON OPERATOR = (sparsevec, sparsevec) IS 'equal';
CREATE OPERATOR <> (
    LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = sparsevec_ne,
    COMMUTATOR = <> , NEGATOR = = ,
    RESTRICT = neqsel, JOIN = neqjoinsel
);
COMMENT ON OPERATOR <> (sparsevec, sparsevec) IS 'not equal';
CREATE OPERATOR >= (
    LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = sparsevec_ge,
    COMMUTATOR = <= , NEGATOR = < ,
    RESTRICT = scalargesel, JOIN = scalargejoinsel
);
COMMENT ON OPERATOR >= (sparsevec, sparsevec) IS 'greater than or equal';
CREATE OPERATOR > (
    LEFTARG = sparsevec, RIGHTARG = sparsevec, PROCEDURE = sparsevec_gt,
    COMMUTATOR = < , NEGATOR = <= ,
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
COMMENT ON OPERATOR > (sparsevec, sparsevec) IS 'greater than';

-- pg_opclass, pg_amop, pg_amproc: btree ordering
CREATE OPERATOR CLASS sparsevec_ops
    DEFAULT FOR TYPE sparsevec USING btree AS
    OPERATOR 1 < ,
    OPERATOR 2 <= ,
    OPERATOR 3 = ,
    OPERATOR 4 >= ,
    OPERATOR 5 > ,
    FUNCTION 1 sparsevec_cmp(sparsevec, sparsevec);
