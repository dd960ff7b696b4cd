-- semvec: vectorizers (issue 18). A vectorizer keeps vector_column = embed(source, model) on every
-- row of a table, after the fact: statement-level triggers record the rows whose source changed in a
-- durable queue, and CALL semvec_vectorizer_run() or the background workers (src/vectorizer.rs, when
-- semvec is in shared_preload_libraries) embed them in batches through semvec_vectorizer_run_batch().
--
-- How it stays correct:
-- - Rows are found by the table's primary key (required: ctid moves on every UPDATE, and a key the
--   user names would need the same uniqueness and NOT NULL a primary key already guarantees). The
--   key is queued as a jsonb array of the key's values (ISO dates whatever DateStyle says).
-- - The queue is append-only: a writer's trigger only INSERTs, so it never waits for a worker. A
--   worker claims entries with FOR UPDATE SKIP LOCKED and holds them for one batch transaction:
--   read the current source, embed, write the vectors back, delete the claimed entries, commit. A
--   crash rolls the batch back and its entries are pending again.
-- - The write-back re-checks the source: a row whose source changed since it was read keeps its
--   vector, and the change's own (newer, unclaimed) queue entry embeds the new text next. So a row
--   ends with the vector of its current text.
-- - A batch that fails is retried row by row (each in a subtransaction); a row that fails counts an
--   attempt, and after max_attempts its entries are parked (status 'failed', with the error) until
--   its source changes again or the vectorizer is altered.
-- - Deleted rows: their entries are dropped when a run finds no row for them (no DELETE trigger).
--
-- Privileges: every statement of a run executes as the vectorizer's owner (the role that registered
-- it; the runner SET ROLEs to it), so a vectorizer writes only what its owner may write, and the
-- source expression never runs with more rights than its author's. Writers enqueue with their own
-- rights. The catalog and the queue are granted to PUBLIC and guarded by row level security: anyone
-- reads the catalog, members of the owner change a vectorizer and work its queue, and anyone who may
-- INSERT or UPDATE a table may enqueue its rows.

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
