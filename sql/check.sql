-- semvec: verification of hnsw indexes (like amcheck's bt_index_check).

-- pg_proc: semvec_index_check(index, heapallindexed) -> jsonb report; "ok" is false when
-- corruption was found. Takes ShareLock on the table and the index (AccessShareLock on a hot
-- standby); only the table's owner or a superuser may run it (checked inside).
CREATE FUNCTION semvec_index_check(index regclass, heapallindexed boolean DEFAULT true) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'semvec_index_check' LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;
COMMENT ON FUNCTION semvec_index_check(regclass, boolean) IS
    'verify an hnsw index: pages, tuples, links, entry point, and (heapallindexed) that every visible row is indexed with its vector';
