-- Vectorizers: registration, enqueue only when the source changes, runs, status, pause/resume,
-- alter, failures parked after max_attempts, two vectorizers on one table, privileges, drop.
SET client_min_messages = notice;
\set SHOW_CONTEXT never
CREATE TABLE vz_docs (id integer PRIMARY KEY, title text, body text, views integer DEFAULT 0,
                      embedding vector(384));
INSERT INTO vz_docs (id, title, body)
SELECT g, 'title ' || g, 'the body of document number ' || g FROM generate_series(1, 6) g;
-- a vector already there is kept by the default backfill ('missing')
UPDATE vz_docs SET embedding = embed('title 6 the body of document number 6') WHERE id = 6;

-- errors
SELECT semvec_vectorize('vz_docs', 'title', 'nope');
SELECT semvec_vectorize('vz_docs', 'title', 'views');
SELECT semvec_vectorize('vz_docs', 'no_such_column || title', 'embedding');
SELECT semvec_vectorize('vz_docs', 'title', 'embedding', model => 'no-such-model');
SELECT semvec_vectorize('vz_docs', 'title', 'embedding', backfill => 'some');
CREATE TABLE vz_nokey (body text, embedding vector(384));
SELECT semvec_vectorize('vz_nokey', 'body', 'embedding');
CREATE TABLE vz_small (id integer PRIMARY KEY, body text, embedding vector(3));
SELECT semvec_vectorize('vz_small', 'body', 'embedding');

-- registration: an expression over the row, in batches of 4
SELECT semvec_vectorize('vz_docs', $$title || ' ' || body$$, 'embedding', batch_size => 4);
SELECT name, relation, source, vector_column, key_columns, model, batch_size, max_attempts, paused
  FROM semvec_vectorizer;
SELECT semvec_vectorize('vz_docs', 'body', 'embedding');
SELECT tgname FROM pg_trigger WHERE tgrelid = 'vz_docs'::regclass ORDER BY 1;
SELECT name, pending, in_progress, done, failed, lag IS NOT NULL AS lagging, last_error FROM semvec_vectorizer_status;

-- only changes of the source enqueue: an unrelated column does not, a changed title does
SELECT count(*) AS queued FROM semvec_vectorizer_queue;
UPDATE vz_docs SET views = views + 1;
SELECT count(*) AS queued FROM semvec_vectorizer_queue;
UPDATE vz_docs SET title = title WHERE id = 1;
SELECT count(*) AS queued FROM semvec_vectorizer_queue;
UPDATE vz_docs SET title = 'a new title' WHERE id = 2;
INSERT INTO vz_docs (id, title, body) VALUES (7, 'seven', 'inserted later'), (8, NULL, NULL);
SELECT key, status, attempts FROM semvec_vectorizer_queue ORDER BY id;

-- a run embeds every pending row, batch by batch, and empties the queue
CALL semvec_vectorizer_run();
SELECT name, pending, in_progress, done, failed, rows_per_second > 0 AS measured, lag, last_error
  FROM semvec_vectorizer_status;
SELECT id, embedding IS NULL AS no_vector,
       cosine_distance(embedding, embed(title || ' ' || body)) < 1e-6 AS current
  FROM vz_docs ORDER BY id;
SELECT count(*) AS queued FROM semvec_vectorizer_queue;
-- the run's own write-back enqueues nothing
CALL semvec_vectorizer_run();
SELECT name, pending, done FROM semvec_vectorizer_status;

-- max_rows bounds a run
UPDATE vz_docs SET body = body || '!' WHERE id <= 3;
CALL semvec_vectorizer_run('vz_docs_embedding', max_rows => 2);
SELECT name, pending FROM semvec_vectorizer_status;
CALL semvec_vectorizer_run('vz_docs_embedding');

-- deleted rows leave the queue at the next run
UPDATE vz_docs SET body = 'soon deleted' WHERE id = 7;
DELETE FROM vz_docs WHERE id = 7;
SELECT name, pending FROM semvec_vectorizer_status;
CALL semvec_vectorizer_run();
SELECT name, pending, done FROM semvec_vectorizer_status;

-- pause / resume: changes are queued while paused, embedded after
SELECT semvec_vectorizer_pause('vz_docs_embedding');
UPDATE vz_docs SET body = 'written while paused' WHERE id = 1;
CALL semvec_vectorizer_run('vz_docs_embedding');
CALL semvec_vectorizer_run();
SELECT name, paused, pending FROM semvec_vectorizer_status;
SELECT semvec_vectorizer_resume('vz_docs_embedding');
CALL semvec_vectorizer_run();
SELECT name, paused, pending FROM semvec_vectorizer_status;
SELECT cosine_distance(embedding, embed('title 1 written while paused')) < 1e-6 AS current FROM vz_docs WHERE id = 1;

-- a row that keeps failing is parked after max_attempts and does not stop the others
CREATE FUNCTION vz_reject() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.body LIKE 'poison%' AND NEW.embedding IS DISTINCT FROM OLD.embedding THEN
        RAISE EXCEPTION 'row % rejected', NEW.id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER vz_reject BEFORE UPDATE ON vz_docs FOR EACH ROW EXECUTE FUNCTION vz_reject();
SELECT semvec_vectorizer_alter('vz_docs_embedding', max_attempts => 2);
UPDATE vz_docs SET body = 'poison ' || id WHERE id IN (2, 3);
UPDATE vz_docs SET body = 'healthy' WHERE id = 4;
CALL semvec_vectorizer_run();
SELECT name, pending, failed, last_error FROM semvec_vectorizer_status;
SELECT key, status, attempts, last_error FROM semvec_vectorizer_queue ORDER BY key;
SELECT cosine_distance(embedding, embed('title 4 healthy')) < 1e-6 AS current FROM vz_docs WHERE id = 4;
-- a parked row is retried when its source changes again
UPDATE vz_docs SET body = 'cured' WHERE id = 2;
CALL semvec_vectorizer_run();
SELECT name, pending, failed FROM semvec_vectorizer_status;
SELECT key, status FROM semvec_vectorizer_queue ORDER BY key;
DROP TRIGGER vz_reject ON vz_docs;

-- a second vectorizer on the same table, with another model and column
ALTER TABLE vz_docs ADD COLUMN body_embedding vector(384);
SELECT semvec_vectorize('vz_docs', 'body', 'body_embedding', model => 'all-MiniLM-L6-v2-int8', name => 'vz_bodies');
UPDATE vz_docs SET title = 'only the title' WHERE id = 5;
SELECT name, pending FROM semvec_vectorizer_status ORDER BY name;
CALL semvec_vectorizer_run();
SELECT id, cosine_distance(body_embedding, embed(body, 'all-MiniLM-L6-v2-int8')) < 1e-6 AS current
  FROM vz_docs WHERE body IS NOT NULL ORDER BY id;

-- alter: a new model re-embeds every row; batch_size alone does not
SELECT semvec_vectorizer_alter('vz_bodies', batch_size => 2);
SELECT name, batch_size, pending FROM semvec_vectorizer_status JOIN semvec_vectorizer USING (name) ORDER BY name;
SELECT semvec_vectorizer_alter('vz_docs_embedding', model => 'all-MiniLM-L6-v2-int8');
SELECT name, model, pending, failed FROM semvec_vectorizer_status ORDER BY name;
CALL semvec_vectorizer_run();
SELECT id, cosine_distance(embedding, embed(title || ' ' || body, 'all-MiniLM-L6-v2-int8')) < 1e-6 AS current
  FROM vz_docs WHERE body IS NOT NULL ORDER BY id;
SELECT semvec_vectorizer_alter('vz_docs_embedding', source => 'no_such_column');
SELECT semvec_vectorizer_alter('no_such_vectorizer', batch_size => 1);

-- a dropped model leaves the rows pending, with the reason
SELECT semvec_vectorizer_alter('vz_bodies', model => 'all-MiniLM-L6-v2');
CALL semvec_vectorizer_run('vz_bodies', max_rows => 1);
UPDATE semvec_vectorizer SET model = 'gone-model' WHERE name = 'vz_bodies';
CALL semvec_vectorizer_run('vz_bodies');
SELECT name, pending > 0 AS waiting, failed, last_error FROM semvec_vectorizer_status WHERE name = 'vz_bodies';
SELECT semvec_vectorizer_alter('vz_bodies', model => 'all-MiniLM-L6-v2');
CALL semvec_vectorizer_run('vz_bodies');
SELECT name, pending, failed, last_error FROM semvec_vectorizer_status WHERE name = 'vz_bodies';

-- privileges: no UPDATE on the vector column, no vectorizer; others' vectorizers are not theirs
CREATE ROLE semvec_regress_vz_reader;
GRANT SELECT ON vz_docs TO semvec_regress_vz_reader;
SET ROLE semvec_regress_vz_reader;
SELECT semvec_vectorize('vz_docs', 'title', 'embedding', name => 'stolen');
SELECT semvec_vectorizer_pause('vz_bodies');
SELECT semvec_vectorizer_drop('vz_bodies');
CALL semvec_vectorizer_run('vz_bodies');
INSERT INTO semvec_vectorizer_queue (vectorizer_id, key)
SELECT id, '[1]' FROM semvec_vectorizer WHERE name = 'vz_bodies';
SELECT count(*) AS visible_queue FROM semvec_vectorizer_queue;
RESET ROLE;
-- a writer enqueues with its own rights, the owner's run embeds
GRANT INSERT, UPDATE (title, body) ON vz_docs TO semvec_regress_vz_reader;
SET ROLE semvec_regress_vz_reader;
INSERT INTO vz_docs (id, title, body) VALUES (9, 'nine', 'written by another role');
CALL semvec_vectorizer_run();
RESET ROLE;
SELECT name, pending FROM semvec_vectorizer_status ORDER BY name;
CALL semvec_vectorizer_run();
SELECT name, pending FROM semvec_vectorizer_status ORDER BY name;

-- drop: the vectorizer, its triggers and its queue
UPDATE vz_docs SET body = 'pending at drop' WHERE id = 1;
SELECT semvec_vectorizer_drop('vz_bodies');
SELECT name FROM semvec_vectorizer_status;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'vz_docs'::regclass ORDER BY 1;
-- a dropped table takes its vectorizers and pending rows with it
SELECT name, pending FROM semvec_vectorizer_status;
DROP TABLE vz_docs;
SELECT count(*) AS vectorizers FROM semvec_vectorizer;
SELECT count(*) AS queued FROM semvec_vectorizer_queue;
DROP TABLE vz_nokey, vz_small;

-- one batch as a background worker runs it: an error becomes a WARNING and the vectorizer's last
-- error, not an ERROR (the worker goes on with the others)
CREATE ROLE semvec_regress_vz_gone;
CREATE TABLE vz_orphan (id integer PRIMARY KEY, body text, embedding vector(384));
GRANT SELECT, UPDATE, TRIGGER ON vz_orphan TO semvec_regress_vz_gone;
SET ROLE semvec_regress_vz_gone;
SELECT semvec_vectorize('vz_orphan', 'body', 'embedding', name => 'vz_orphan');
RESET ROLE;
REVOKE ALL ON vz_orphan FROM semvec_regress_vz_gone;
DROP ROLE semvec_regress_vz_gone;
INSERT INTO vz_orphan VALUES (1, 'whose owner is gone');
SELECT semvec_vectorizer_worker_todo() = ARRAY[id] AS has_work FROM semvec_vectorizer WHERE name = 'vz_orphan';
SET client_min_messages = error;  -- the WARNING names the dropped role's OID
SELECT semvec_vectorizer_worker_batch(id, true) AS claimed FROM semvec_vectorizer WHERE name = 'vz_orphan';
RESET client_min_messages;
SELECT pending, regexp_replace(last_error, '[0-9]+', 'N') AS last_error FROM semvec_vectorizer_status WHERE name = 'vz_orphan';
-- with an owner again, the batch embeds the row, clears the error and starts the run's counters
UPDATE semvec_vectorizer SET owner = current_user::regrole WHERE name = 'vz_orphan';
SELECT semvec_vectorizer_worker_batch(id, true) AS claimed FROM semvec_vectorizer WHERE name = 'vz_orphan';
SELECT s.pending, s.done, s.last_error, v.last_run_rows, v.last_run_started IS NOT NULL AS started
  FROM semvec_vectorizer_status s JOIN semvec_vectorizer v USING (name) WHERE name = 'vz_orphan';
SELECT cosine_distance(embedding, embed('whose owner is gone')) < 1e-6 AS embedded FROM vz_orphan;
SELECT semvec_vectorizer_worker_todo() AS no_work;
DROP TABLE vz_orphan;
DROP OWNED BY semvec_regress_vz_reader;
DROP ROLE semvec_regress_vz_reader;
