-- semvec: the `halfvec` type (half-precision vectors), its functions, operators, casts, aggregates
-- and btree operator class. Names, signatures and cast contexts match pgvector 0.8.

-- pg_type: shell type first, so its I/O functions can name it
CREATE TYPE halfvec;

-- pg_proc: type I/O
CREATE FUNCTION halfvec_in(cstring, oid, integer) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'semvec_halfvec_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_in(cstring, oid, integer) IS 'I/O';
CREATE FUNCTION halfvec_out(halfvec) RETURNS cstring
    AS 'MODULE_PATHNAME', 'semvec_halfvec_out' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_out(halfvec) IS 'I/O';
CREATE FUNCTION halfvec_typmod_in(cstring[]) RETURNS integer
    AS 'MODULE_PATHNAME', 'semvec_halfvec_typmod_in' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_typmod_in(cstring[]) IS 'I/O typmod';
CREATE FUNCTION halfvec_recv(internal, oid, integer) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'semvec_halfvec_recv' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_recv(internal, oid, integer) IS 'I/O';
CREATE FUNCTION halfvec_send(halfvec) RETURNS bytea
    AS 'MODULE_PATHNAME', 'semvec_halfvec_send' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_send(halfvec) IS 'I/O';

-- pg_type: the full type
CREATE TYPE halfvec (
    INPUT     = halfvec_in,
    OUTPUT    = halfvec_out,
    TYPMOD_IN = halfvec_typmod_in,
    RECEIVE   = halfvec_recv,
    SEND      = halfvec_send,
    STORAGE   = external
);
COMMENT ON TYPE halfvec IS 'half-precision vector';

-- pg_proc: distances and functions (overloads of the vector ones)
CREATE FUNCTION l2_distance(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_halfvec_l2_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l2_distance(halfvec, halfvec) IS 'Euclidean distance';
CREATE FUNCTION inner_product(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_halfvec_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION inner_product(halfvec, halfvec) IS 'inner product';
CREATE FUNCTION cosine_distance(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_halfvec_cosine_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION cosine_distance(halfvec, halfvec) IS 'cosine distance';
CREATE FUNCTION l1_distance(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_halfvec_l1_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l1_distance(halfvec, halfvec) IS 'taxicab distance';
CREATE FUNCTION vector_dims(halfvec) RETURNS integer
    AS 'MODULE_PATHNAME', 'semvec_halfvec_vector_dims' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION vector_dims(halfvec) IS 'number of dimensions';
CREATE FUNCTION l2_norm(halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_halfvec_l2_norm' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l2_norm(halfvec) IS 'Euclidean norm';
CREATE FUNCTION l2_normalize(halfvec) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'semvec_halfvec_l2_normalize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION l2_normalize(halfvec) IS 'normalize with Euclidean norm';
CREATE FUNCTION binary_quantize(halfvec) RETURNS bit
    AS 'MODULE_PATHNAME', 'semvec_halfvec_binary_quantize' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION binary_quantize(halfvec) IS 'binary quantize';
CREATE FUNCTION subvector(halfvec, int, int) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'semvec_halfvec_subvector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION subvector(halfvec, int, int) IS 'subvector';

-- pg_proc: operator implementations and opclass support
CREATE FUNCTION halfvec_add(halfvec, halfvec) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'semvec_halfvec_add' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_add(halfvec, halfvec) IS 'implementation of + operator';
CREATE FUNCTION halfvec_sub(halfvec, halfvec) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'semvec_halfvec_sub' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_sub(halfvec, halfvec) IS 'implementation of - operator';
CREATE FUNCTION halfvec_mul(halfvec, halfvec) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'semvec_halfvec_mul' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_mul(halfvec, halfvec) IS 'implementation of * operator';
CREATE FUNCTION halfvec_concat(halfvec, halfvec) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'semvec_halfvec_concat' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_concat(halfvec, halfvec) IS 'implementation of || operator';
CREATE FUNCTION halfvec_lt(halfvec, halfvec) RETURNS bool
    AS 'MODULE_PATHNAME', 'semvec_halfvec_lt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_lt(halfvec, halfvec) IS 'implementation of < operator';
CREATE FUNCTION halfvec_le(halfvec, halfvec) RETURNS bool
    AS 'MODULE_PATHNAME', 'semvec_halfvec_le' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_le(halfvec, halfvec) IS 'implementation of <= operator';
CREATE FUNCTION halfvec_eq(halfvec, halfvec) RETURNS bool
    AS 'MODULE_PATHNAME', 'semvec_halfvec_eq' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_eq(halfvec, halfvec) IS 'implementation of = operator';
CREATE FUNCTION halfvec_ne(halfvec, halfvec) RETURNS bool
    AS 'MODULE_PATHNAME', 'semvec_halfvec_ne' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_ne(halfvec, halfvec) IS 'implementation of <> operator';
CREATE FUNCTION halfvec_ge(halfvec, halfvec) RETURNS bool
    AS 'MODULE_PATHNAME', 'semvec_halfvec_ge' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_ge(halfvec, halfvec) IS 'implementation of >= operator';
CREATE FUNCTION halfvec_gt(halfvec, halfvec) RETURNS bool
    AS 'MODULE_PATHNAME', 'semvec_halfvec_gt' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_gt(halfvec, halfvec) IS 'implementation of > operator';
CREATE FUNCTION halfvec_cmp(halfvec, halfvec) RETURNS int4
    AS 'MODULE_PATHNAME', 'semvec_halfvec_cmp' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_cmp(halfvec, halfvec) IS 'less-equal-greater';
CREATE FUNCTION halfvec_l2_squared_distance(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_halfvec_l2_squared_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_l2_squared_distance(halfvec, halfvec) IS 'squared Euclidean distance';
CREATE FUNCTION halfvec_negative_inner_product(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_halfvec_negative_inner_product' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_negative_inner_product(halfvec, halfvec) IS 'negative inner product';
CREATE FUNCTION halfvec_spherical_distance(halfvec, halfvec) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_halfvec_spherical_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_spherical_distance(halfvec, halfvec) IS 'spherical distance';
CREATE FUNCTION halfvec_accum(double precision[], halfvec) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'semvec_halfvec_accum' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_accum(double precision[], halfvec) IS 'aggregate transition function';
CREATE FUNCTION halfvec_avg(double precision[]) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'semvec_halfvec_avg' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_avg(double precision[]) IS 'aggregate final function';
CREATE FUNCTION halfvec_combine(double precision[], double precision[]) RETURNS double precision[]
    AS 'MODULE_PATHNAME', 'semvec_vector_combine' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_combine(double precision[], double precision[]) IS 'aggregate combine function';

-- pg_aggregate: the same float8[] state as avg(vector) ({count, sums...}); sum folds with +
CREATE AGGREGATE avg(halfvec) (
    SFUNC = halfvec_accum,
    STYPE = double precision[],
    FINALFUNC = halfvec_avg,
    COMBINEFUNC = halfvec_combine,
    INITCOND = '{0}',
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE avg(halfvec) IS 'the average (arithmetic mean) as halfvec of all halfvec values';

CREATE AGGREGATE sum(halfvec) (
    SFUNC = halfvec_add,
    STYPE = halfvec,
    COMBINEFUNC = halfvec_add,
    PARALLEL = SAFE
);
COMMENT ON AGGREGATE sum(halfvec) IS 'sum as halfvec across all halfvec input values';

-- pg_proc: cast functions
CREATE FUNCTION halfvec(halfvec, integer, boolean) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'semvec_halfvec_typmod_cast' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec(halfvec, integer, boolean) IS 'adjust halfvec to typmod';
CREATE FUNCTION halfvec_to_vector(halfvec, integer, boolean) RETURNS vector
    AS 'MODULE_PATHNAME', 'semvec_halfvec_to_vector' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_to_vector(halfvec, integer, boolean) IS 'convert halfvec to vector';
CREATE FUNCTION vector_to_halfvec(vector, integer, boolean) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'semvec_vector_to_halfvec' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION vector_to_halfvec(vector, integer, boolean) IS 'convert vector to halfvec';
CREATE FUNCTION array_to_halfvec(integer[], integer, boolean) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'semvec_array_to_halfvec' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION array_to_halfvec(integer[], integer, boolean) IS 'convert integer array to halfvec';
CREATE FUNCTION array_to_halfvec(real[], integer, boolean) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'semvec_array_to_halfvec' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION array_to_halfvec(real[], integer, boolean) IS 'convert real array to halfvec';
CREATE FUNCTION array_to_halfvec(double precision[], integer, boolean) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'semvec_array_to_halfvec' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION array_to_halfvec(double precision[], integer, boolean) IS 'convert double precision array to halfvec';
CREATE FUNCTION array_to_halfvec(numeric[], integer, boolean) RETURNS halfvec
    AS 'MODULE_PATHNAME', 'semvec_array_to_halfvec' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION array_to_halfvec(numeric[], integer, boolean) IS 'convert numeric array to halfvec';
CREATE FUNCTION halfvec_to_float4(halfvec, integer, boolean) RETURNS real[]
    AS 'MODULE_PATHNAME', 'semvec_halfvec_to_float4' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION halfvec_to_float4(halfvec, integer, boolean) IS 'convert halfvec to float4 array';

-- pg_cast: pgvector's contexts (vector -> halfvec implicit, halfvec -> vector and real[] on
-- assignment, arrays -> halfvec on assignment)
CREATE CAST (halfvec AS halfvec) WITH FUNCTION halfvec(halfvec, integer, boolean) AS IMPLICIT;
CREATE CAST (halfvec AS vector) WITH FUNCTION halfvec_to_vector(halfvec, integer, boolean) AS ASSIGNMENT;
CREATE CAST (vector AS halfvec) WITH FUNCTION vector_to_halfvec(vector, integer, boolean) AS IMPLICIT;
CREATE CAST (halfvec AS real[]) WITH FUNCTION halfvec_to_float4(halfvec, integer, boolean) AS ASSIGNMENT;
CREATE CAST (integer[] AS halfvec) WITH FUNCTION array_to_halfvec(integer[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (real[] AS halfvec) WITH FUNCTION array_to_halfvec(real[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (double precision[] AS halfvec) WITH FUNCTION array_to_halfvec(double precision[], integer, boolean) AS ASSIGNMENT;
CREATE CAST (numeric[] AS halfvec) WITH FUNCTION array_to_halfvec(numeric[], integer, boolean) AS ASSIGNMENT;

-- pg_operator: distance operators
CREATE OPERATOR <-> (LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = l2_distance, COMMUTATOR = '<->');
CREATE OPERATOR <#> (LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_negative_inner_product, COMMUTATOR = '<#>');
CREATE OPERATOR <=> (LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = cosine_distance, COMMUTATOR = '<=>');
CREATE OPERATOR <+> (LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = l1_distance, COMMUTATOR = '<+>');

-- pg_operator: arithmetic
CREATE OPERATOR + (LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_add, COMMUTATOR = +);
COMMENT ON OPERATOR + (halfvec, halfvec) IS 'add';
CREATE OPERATOR - (LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_sub);
COMMENT ON OPERATOR - (halfvec, halfvec) IS 'subtract';
CREATE OPERATOR * (LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_mul, COMMUTATOR = *);
COMMENT ON OPERATOR * (halfvec, halfvec) IS 'multiply';
CREATE OPERATOR || (LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_concat);
COMMENT ON OPERATOR || (halfvec, halfvec) IS 'concatenate';

-- pg_operator: comparison, with the scalar selectivity estimators (as for vector)
CREATE OPERATOR < (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_lt,
    COMMUTATOR = > , NEGATOR = >= ,
    RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
COMMENT ON OPERATOR < (halfvec, halfvec) IS 'less than';
CREATE OPERATOR <= (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_le,
    COMMUTATOR = >= , NEGATOR = > ,
    RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
COMMENT ON OPERATOR <= (halfvec, halfvec) IS 'less than or equal';
CREATE OPERATOR = (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_eq,
    COMMUTATOR = = , NEGATOR = <> ,
    RESTRICT = eqsel, JOIN = eqjoinsel
);
COMMENT ON OPERATOR = (halfvec, halfvec) IS 'equal';
CREATE OPERATOR <> (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_ne,
    COMMUTATOR = <> , NEGATOR = = ,
    RESTRICT = neqsel, JOIN = neqjoinsel
);
COMMENT ON OPERATOR <> (halfvec, halfvec) IS 'not equal';
CREATE OPERATOR >= (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_ge,
    COMMUTATOR = <= , NEGATOR = < ,
    RESTRICT = scalargesel, JOIN = scalargejoinsel
);
COMMENT ON OPERATOR >= (halfvec, halfvec) IS 'greater than or equal';
CREATE OPERATOR > (
    LEFTARG = halfvec, RIGHTARG = halfvec, PROCEDURE = halfvec_gt,
    COMMUTATOR = < , NEGATOR = <= ,
    RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
COMMENT ON OPERATOR > (halfvec, halfvec) IS 'greater than';

-- pg_opclass, pg_amop, pg_amproc: btree ordering
CREATE OPERATOR CLASS halfvec_ops
    DEFAULT FOR TYPE halfvec USING btree AS
    OPERATOR 1 < ,
    OPERATOR 2 <= ,
    OPERATOR 3 = ,
    OPERATOR 4 >= ,
    OPERATOR 5 > ,
    FUNCTION 1 halfvec_cmp(halfvec, halfvec);
