-- semvec: distances between binary vectors stored in PostgreSQL's `bit` type (pgvector 0.8's
-- functions and operators; `binary_quantize()` produces such values).

-- pg_proc: distances
CREATE FUNCTION hamming_distance(bit, bit) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_hamming_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION hamming_distance(bit, bit) IS 'Hamming distance';
CREATE FUNCTION jaccard_distance(bit, bit) RETURNS float8
    AS 'MODULE_PATHNAME', 'semvec_jaccard_distance' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION jaccard_distance(bit, bit) IS 'Jaccard distance';

-- pg_operator: distance operators
CREATE OPERATOR <~> (LEFTARG = bit, RIGHTARG = bit, PROCEDURE = hamming_distance, COMMUTATOR = '<~>');
CREATE OPERATOR <%> (LEFTARG = bit, RIGHTARG = bit, PROCEDURE = jaccard_distance, COMMUTATOR = '<%>');
