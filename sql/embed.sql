-- semvec: in-database embedding, the model registry, chunking and bulk embedding.

-- The model registry. A name always means the same weights (content hashes are checked when a
-- model is loaded and re-registration with other content is refused), which is what makes
-- embed() IMMUTABLE and usable in generated columns and expression indexes.
CREATE TABLE semvec_model (
    name             text PRIMARY KEY,
    model_path       text NOT NULL,
    tokenizer_path   text NOT NULL,
    dims             integer NOT NULL CHECK (dims BETWEEN 1 AND 16000),
    pooling          text NOT NULL DEFAULT 'mean' CHECK (pooling IN ('mean', 'cls')),
    normalized       boolean NOT NULL DEFAULT true,
    max_tokens       integer NOT NULL DEFAULT 256 CHECK (max_tokens > 0),
    model_sha256     text NOT NULL,
    tokenizer_sha256 text NOT NULL,
    registered_by    name NOT NULL DEFAULT current_user,
    registered_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE semvec_model IS 'embedding models usable by embed()';
SELECT pg_catalog.pg_extension_config_dump('semvec_model', '');
GRANT SELECT ON semvec_model TO PUBLIC;
-- Members of pg_read_server_files may register models (they can read server files anyway);
-- the functions below check the model directory for non-superusers.
GRANT INSERT, DELETE ON semvec_model TO pg_read_server_files;

CREATE FUNCTION semvec_register_model(name text, model_path text, tokenizer_path text,
                                      pooling text DEFAULT 'mean', normalized boolean DEFAULT true,
                                      max_tokens integer DEFAULT 256) RETURNS integer
    AS 'MODULE_PATHNAME', 'semvec_register_model_wrapper' LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION semvec_register_model(text, text, text, text, boolean, integer)
    IS 'register an ONNX sentence-embedding model and its tokenizer.json; returns its dimensions';

CREATE FUNCTION semvec_drop_model(name text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'semvec_drop_model_wrapper' LANGUAGE C VOLATILE STRICT;

CREATE FUNCTION semvec_register_installed_models() RETURNS integer
    AS 'MODULE_PATHNAME', 'semvec_register_installed_models_wrapper' LANGUAGE C VOLATILE;
REVOKE ALL ON FUNCTION semvec_register_installed_models() FROM PUBLIC;

CREATE FUNCTION semvec_models() RETURNS SETOF semvec_model
    LANGUAGE sql STABLE AS $$ SELECT * FROM semvec_model ORDER BY name $$;

-- embed(): IMMUTABLE given the contract above, so a constant argument is embedded once at plan
-- time and `ORDER BY embedding <=> embed('...')` uses the index.
CREATE FUNCTION embed(input text) RETURNS vector
    AS 'MODULE_PATHNAME', 'semvec_embed_text' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000;
COMMENT ON FUNCTION embed(text) IS 'embed text with the model named by semvec.default_model';
CREATE FUNCTION embed(input text, model text) RETURNS vector
    AS 'MODULE_PATHNAME', 'semvec_embed_model' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000;
COMMENT ON FUNCTION embed(text, text) IS 'embed text with a registered model';

CREATE FUNCTION embed_batch(inputs text[]) RETURNS vector[]
    AS 'MODULE_PATHNAME', 'semvec_embed_batch' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000;
COMMENT ON FUNCTION embed_batch(text[]) IS 'embed many texts, one inference per batch, in input order';
CREATE FUNCTION embed_batch(inputs text[], model text) RETURNS vector[]
    AS 'MODULE_PATHNAME', 'semvec_embed_batch_model' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 10000;

CREATE FUNCTION chunk_text(input text, max_tokens integer DEFAULT 256, overlap integer DEFAULT 32)
    RETURNS TABLE (chunk_no integer, chunk text)
    AS 'MODULE_PATHNAME', 'chunk_text_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE COST 1000 ROWS 4;
COMMENT ON FUNCTION chunk_text(text, integer, integer)
    IS 'split text into ordered chunks of at most max_tokens model tokens, overlapping by overlap tokens';
CREATE FUNCTION count_tokens(input text) RETURNS integer
    AS 'MODULE_PATHNAME', 'count_tokens_wrapper' LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

-- Progress of semvec_embed_table runs, committed batch by batch so other sessions can watch.
CREATE TABLE semvec_embed_progress (
    relation    regclass NOT NULL,
    text_column name NOT NULL,
    vector_column name NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp(),
    rows_done   bigint NOT NULL DEFAULT 0,
    rows_total  bigint NOT NULL,
    rows_per_second float8,
    eta         interval,
    finished    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (relation, vector_column)
);
GRANT SELECT ON semvec_embed_progress TO PUBLIC;

-- Fill vector_column from text_column for every row where it is NULL, batch by batch, committing
-- after each batch: interrupted runs resume where they stopped. Runs with the caller's privileges.
CREATE PROCEDURE semvec_embed_table(relation regclass, text_column name, vector_column name,
                                    batch_size integer DEFAULT NULL, model text DEFAULT NULL)
LANGUAGE plpgsql AS $proc$
#variable_conflict use_column
DECLARE
    bs integer := coalesce(batch_size, current_setting('semvec.embed_batch_size')::integer);
    mdl text := coalesce(model, current_setting('semvec.default_model'));
    total bigint;
    done bigint := 0;
    n bigint;
    t0 timestamptz := clock_timestamp();
    rate float8;
    track boolean := has_table_privilege('@extschema@.semvec_embed_progress', 'INSERT');
BEGIN
    IF bs < 1 THEN
        RAISE EXCEPTION 'batch_size must be at least 1' USING ERRCODE = '22023';
    END IF;
    IF NOT has_column_privilege(relation, text_column, 'SELECT') THEN
        RAISE EXCEPTION 'permission denied for column % of %', text_column, relation USING ERRCODE = '42501';
    END IF;
    IF NOT has_column_privilege(relation, vector_column, 'UPDATE') THEN
        RAISE EXCEPTION 'permission denied to update column % of %', vector_column, relation USING ERRCODE = '42501';
    END IF;
    EXECUTE format('SELECT count(*) FROM %s WHERE %I IS NULL AND %I IS NOT NULL', relation, vector_column, text_column)
        INTO total;
    RAISE NOTICE 'semvec_embed_table: % rows of % to embed with %', total, relation, mdl;
    LOOP
        EXECUTE format(
            'WITH batch AS (SELECT ctid AS id, %1$I AS body FROM %2$s WHERE %3$I IS NULL AND %1$I IS NOT NULL LIMIT %4$s FOR UPDATE SKIP LOCKED),
                  packed AS (SELECT array_agg(id) AS ids, array_agg(body) AS bodies FROM batch),
                  done AS (SELECT u.id, u.v FROM packed, unnest(packed.ids, @extschema@.embed_batch(packed.bodies, $1)) AS u(id, v)
                           WHERE packed.ids IS NOT NULL)
             UPDATE %2$s t SET %3$I = done.v FROM done WHERE t.ctid = done.id',
            text_column, relation, vector_column, bs) USING mdl;
        GET DIAGNOSTICS n = ROW_COUNT;
        EXIT WHEN n = 0;
        done := done + n;
        rate := done / greatest(extract(epoch FROM clock_timestamp() - t0), 1e-3);
        RAISE NOTICE 'semvec_embed_table: % / % rows (% rows/s, ETA %)', done, total, round(rate::numeric, 1),
            CASE WHEN rate > 0 THEN make_interval(secs => round(greatest(total - done, 0) / rate)) END;
        IF track THEN
            INSERT INTO @extschema@.semvec_embed_progress AS p (relation, text_column, vector_column, rows_done, rows_total, rows_per_second, eta)
            VALUES (relation, text_column, vector_column, done, total, rate,
                    CASE WHEN rate > 0 THEN make_interval(secs => greatest(total - done, 0) / rate) END)
            ON CONFLICT (relation, vector_column) DO UPDATE
                SET rows_done = excluded.rows_done, rows_total = excluded.rows_total, updated_at = clock_timestamp(),
                    rows_per_second = excluded.rows_per_second, eta = excluded.eta, finished = false;
        END IF;
        COMMIT;
    END LOOP;
    IF track THEN
        UPDATE @extschema@.semvec_embed_progress SET finished = true, updated_at = clock_timestamp(), eta = '0'
        WHERE semvec_embed_progress.relation = semvec_embed_table.relation
          AND semvec_embed_progress.vector_column = semvec_embed_table.vector_column;
        COMMIT;
    END IF;
    RAISE NOTICE 'semvec_embed_table: done, % rows', done;
END
$proc$;
COMMENT ON PROCEDURE semvec_embed_table(regclass, name, name, integer, text)
    IS 'embed text_column into vector_column for rows where it is NULL, in committed batches (resumable)';

-- The models shipped by scripts/models/setup_models.sh, when installed.
SELECT semvec_register_installed_models();
