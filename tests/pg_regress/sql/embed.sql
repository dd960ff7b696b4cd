-- compare-pgvector: skip
-- In-database embedding with the default model (installed by scripts/models/setup_models.sh).
SELECT name, dims, pooling, normalized, max_tokens, length(model_sha256) AS sha_len FROM semvec_model ORDER BY name;
SELECT vector_dims(embed('a man is eating food'));
SELECT round(vector_norm(embed('a man is eating food'))::numeric, 4) AS norm;
-- similar sentences are closer than unrelated ones
SELECT cosine_distance(embed('a man is eating food'), embed('a man eats a meal'))
     < cosine_distance(embed('a man is eating food'), embed('the stock market fell sharply')) AS closer;
-- a named model argument, and the int8 variant agrees closely with fp32
SELECT cosine_distance(embed('hello world', model => 'all-MiniLM-L6-v2'), embed('hello world')) < 1e-6 AS same_model;
SELECT cosine_distance(embed('hello world', model => 'all-MiniLM-L6-v2-int8'), embed('hello world')) < 0.02 AS int8_close;
-- empty strings embed (just [CLS][SEP]); NULL gives NULL
SELECT vector_dims(embed(''));
SELECT embed(NULL) IS NULL AS null_in_null_out;
-- batch form: input order, NULL elements stay NULL, same vectors as one at a time
SELECT array_length(embed_batch(ARRAY['first', NULL, 'third']), 1) AS n,
       (embed_batch(ARRAY['first', NULL, 'third']))[2] IS NULL AS middle_null,
       cosine_distance((embed_batch(ARRAY['first', NULL, 'third']))[3], embed('third')) < 1e-5 AS third_matches;
-- long inputs are truncated at 256 tokens, so adding text past that changes nothing
SELECT cosine_distance(embed(repeat('lorem ipsum dolor ', 200)), embed(repeat('lorem ipsum dolor ', 200) || 'the end')) < 1e-6 AS truncated;
-- errors: unknown model, with a hint
SELECT embed('x', model => 'no-such-model');
-- query-side embed() is folded into a constant at plan time: the index serves the ORDER BY
CREATE TABLE docs (id int PRIMARY KEY, body text NOT NULL,
                   embedding vector(384) GENERATED ALWAYS AS (embed(body)) STORED);
INSERT INTO docs (id, body) VALUES
    (1, 'The cat sat on the mat.'), (2, 'Stocks rallied after the central bank decision.'),
    (3, 'A kitten is sleeping on a rug.'), (4, 'The football match ended in a draw.'),
    (5, 'Interest rates were left unchanged.');
CREATE INDEX ON docs USING hnsw (embedding vector_cosine_ops);
SET enable_seqscan = off;
DO $$
DECLARE plan text := ''; line text;
BEGIN
    FOR line IN EXPLAIN (COSTS OFF) SELECT id FROM docs ORDER BY embedding <=> embed('a sleeping cat') LIMIT 2 LOOP
        plan := plan || line || E'\n';
    END LOOP;
    RAISE NOTICE 'index scan: %, embed() folded to a constant: %',
        plan LIKE '%Index Scan using docs_embedding_idx%', plan NOT LIKE '%embed(%';
END $$;
SELECT id, body FROM docs ORDER BY embedding <=> embed('a sleeping cat') LIMIT 2;
SELECT id FROM docs ORDER BY embedding <=> embed('monetary policy and markets') LIMIT 2;
RESET enable_seqscan;
-- an expression index on embed() works too
CREATE INDEX docs_expr ON docs USING hnsw ((embed(body)::vector(384)) vector_cosine_ops);
DROP TABLE docs;
-- the bulk helper fills a column in committed batches and reports progress
CREATE TABLE notes (id int PRIMARY KEY, body text, embedding vector(384));
INSERT INTO notes SELECT i, 'note number ' || i FROM generate_series(1, 50) i;
INSERT INTO notes VALUES (51, NULL);
SET client_min_messages = warning;
CALL semvec_embed_table('notes', 'body', 'embedding', 16);
RESET client_min_messages;
SELECT count(*) FILTER (WHERE embedding IS NOT NULL) AS embedded, count(*) FILTER (WHERE embedding IS NULL) AS skipped FROM notes;
SELECT rows_done, rows_total, finished FROM semvec_embed_progress WHERE relation = 'notes'::regclass;
SELECT cosine_distance(embedding, embed(body)) < 1e-5 AS consistent FROM notes WHERE id = 7;
-- nothing left to do on a second run
SET client_min_messages = warning;
CALL semvec_embed_table('notes', 'body', 'embedding');
RESET client_min_messages;
CALL semvec_embed_table('notes', 'body', 'embedding', 0);
DROP TABLE notes;
-- chunking on the model's tokenizer
SELECT chunk_no, chunk FROM chunk_text('One sentence here. Another one follows. And a third sentence to finish the text.', 8, 2);
SELECT count_tokens('a man is eating food');
SELECT * FROM chunk_text('x', 0, 0);
-- registering the same files again under the same name is accepted; other content is refused
SELECT semvec_register_model('all-MiniLM-L6-v2', 'all-MiniLM-L6-v2/model.onnx', 'all-MiniLM-L6-v2/tokenizer.json');
SELECT semvec_register_model('all-MiniLM-L6-v2', 'all-MiniLM-L6-v2-int8/model.onnx', 'all-MiniLM-L6-v2-int8/tokenizer.json');
SELECT semvec_register_model('bad-pooling', 'all-MiniLM-L6-v2/model.onnx', 'all-MiniLM-L6-v2/tokenizer.json', 'max');
-- Errors that name the model directory (which differs between installations: /usr/share/postgresql/15,
-- a PostgreSQL 18 copy under the checkout, ...) are shown with it as <model_dir>.
SELECT setting || '/extension/semvec/models' AS model_dir FROM pg_config WHERE name = 'SHAREDIR' \gset
SET semvec_regress.model_dir = :'model_dir';
DO $$
DECLARE msg text; hint text;
BEGIN
    PERFORM semvec_register_model('missing', 'nope/model.onnx', 'nope/tokenizer.json');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
    RAISE NOTICE 'SQLSTATE %: %', SQLSTATE, replace(msg, current_setting('semvec_regress.model_dir'), '<model_dir>');
    RAISE NOTICE 'HINT: %', replace(hint, current_setting('semvec_regress.model_dir'), '<model_dir>');
END $$;
-- a non-superuser without pg_read_server_files cannot register models
CREATE ROLE semvec_regress_nobody;
SET ROLE semvec_regress_nobody;
SELECT semvec_register_model('x', 'all-MiniLM-L6-v2/model.onnx', 'all-MiniLM-L6-v2/tokenizer.json');
SELECT vector_dims(embed('but may embed'));
RESET ROLE;
-- a pg_read_server_files member may, but only below the model directory
GRANT pg_read_server_files TO semvec_regress_nobody;
SET ROLE semvec_regress_nobody;
DO $$
DECLARE msg text; detail text;
BEGIN
    PERFORM semvec_register_model('x', '../../../../../../../../../../../../../../../../../../../../etc/passwd', 'all-MiniLM-L6-v2/tokenizer.json');
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    RAISE NOTICE 'SQLSTATE %: %', SQLSTATE, replace(msg, current_setting('semvec_regress.model_dir'), '<model_dir>');
    RAISE NOTICE 'DETAIL: %', detail;
END $$;
RESET ROLE;
DROP ROLE semvec_regress_nobody;
-- a long embedding batch honours query cancellation between sub-batches, and the session goes on
SET statement_timeout = '300ms';
SELECT array_length(embed_batch(array_agg('sentence number ' || i || ' about cancellation')), 1)
FROM generate_series(1, 3000) i;
RESET statement_timeout;
SELECT vector_dims(embed('still usable'));
-- Dropping a model that is not registered is not an error.
SELECT semvec_drop_model('no-such-model');
-- A model dropped and registered again under the same name with other files: the session does not
-- keep using the copy it loaded before.
SELECT semvec_register_model('regress-swap', 'all-MiniLM-L6-v2/model.onnx', 'all-MiniLM-L6-v2/tokenizer.json');
SELECT embed('swap test', model => 'regress-swap') = embed('swap test', model => 'all-MiniLM-L6-v2') AS fp32;
SELECT semvec_drop_model('regress-swap');
SELECT semvec_register_model('regress-swap', 'all-MiniLM-L6-v2-int8/model.onnx', 'all-MiniLM-L6-v2-int8/tokenizer.json');
SELECT embed('swap test', model => 'regress-swap') = embed('swap test', model => 'all-MiniLM-L6-v2-int8') AS int8,
       embed('swap test', model => 'regress-swap') = embed('swap test', model => 'all-MiniLM-L6-v2') AS still_fp32;
SELECT semvec_drop_model('regress-swap');
-- embed() is PARALLEL SAFE: in a parallel plan each worker embeds its share (reading the model
-- catalog must not assign a transaction ID, which a parallel worker may not), and the results
-- equal the serial ones.
CREATE TABLE embed_par (id int, body text);
INSERT INTO embed_par SELECT i, 'parallel sentence ' || i FROM generate_series(1, 200) i;
ALTER TABLE embed_par SET (parallel_workers = 2);
ANALYZE embed_par;
CREATE TABLE embed_serial AS SELECT id, embed(body) AS e FROM embed_par;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF) SELECT id, embed(body) FROM embed_par;
CREATE FUNCTION embed_par_run(OUT workers text, OUT rows int, OUT equal int) LANGUAGE plpgsql AS $$
DECLARE l text; launched int := 0;
BEGIN
    FOR l IN EXECUTE 'EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT id, embed(body) FROM embed_par' LOOP
        IF l ~ 'Workers Launched' THEN launched := substring(l from '(\d+)')::int; END IF;
    END LOOP;
    workers := CASE WHEN launched > 0 THEN 'launched' ELSE 'none' END;
    CREATE TEMP TABLE embed_got ON COMMIT DROP AS SELECT id, embed(body) AS e FROM embed_par;
    SELECT count(*), count(*) FILTER (WHERE g.e = s.e) INTO rows, equal FROM embed_got g JOIN embed_serial s USING (id);
END $$;
SELECT * FROM embed_par_run();
DROP FUNCTION embed_par_run;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP TABLE embed_par, embed_serial;
