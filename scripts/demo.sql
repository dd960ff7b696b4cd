\pset footer off
\set ON_ERROR_STOP on
SET client_min_messages = warning;
DROP TABLE IF EXISTS items, packages CASCADE;
DROP EXTENSION IF EXISTS semvec CASCADE;
CREATE EXTENSION semvec;
RESET client_min_messages;
SELECT extversion AS semvec_version FROM pg_extension WHERE extname = 'semvec';

\echo
\echo '=== 1. vectors, exactly as with pgvector'
CREATE TABLE items (id bigserial PRIMARY KEY, name text, embedding vector(3));
INSERT INTO items (name, embedding) VALUES
    ('apple',  '[1,2,3]'), ('banana', '[4,5,6]'), ('cherry', '[1,2,4]'),
    ('durian', '[9,8,7]'), ('elder',  '[0.5,1.5,2.5]');
SELECT name, embedding,
       round((embedding <-> '[1,2,3]')::numeric, 4) AS l2,
       round((embedding <=> '[1,2,3]')::numeric, 4) AS cosine,
       round((embedding <#> '[1,2,3]')::numeric, 4) AS neg_inner,
       round((embedding <+> '[1,2,3]')::numeric, 4) AS l1
FROM items ORDER BY embedding <-> '[1,2,3]' LIMIT 5;
SELECT avg(embedding) AS avg, sum(embedding) AS sum, l2_normalize('[3,4]'::vector) AS normalized,
       binary_quantize('[1,-1,2,-2]'::vector) AS bits FROM items;

\echo
\echo '=== 2. a real corpus: Debian package descriptions, embedded inside PostgreSQL'
SELECT name, dims, left(model_sha256, 16) AS sha256 FROM semvec_model ORDER BY name;
CREATE TABLE packages (name text PRIMARY KEY, summary text, body text, embedding vector(384));
\copy packages (name, summary, body) FROM PROGRAM 'python3 scripts/demo_corpus.py 3000'
SELECT count(*) AS packages FROM packages;
SET semvec.embed_threads = 2;
-- embeds the summary and the start of the description in committed batches (watch the progress
-- NOTICEs); semvec_embed_table resumes where it stopped if interrupted
ALTER TABLE packages ADD COLUMN doc text GENERATED ALWAYS AS (summary || '. ' || left(body, 300)) STORED;
\timing on
CALL semvec_embed_table('packages', 'doc', 'embedding', 64);
CREATE INDEX packages_embedding ON packages USING hnsw (embedding vector_cosine_ops);
\timing off
SELECT pg_size_pretty(pg_relation_size('packages_embedding')) AS hnsw_index_size;

\echo
\echo '=== 3. semantic search: the query is embedded once, the HNSW index finds the neighbours'
DO $$
DECLARE line text;
BEGIN
    FOR line IN EXPLAIN (COSTS OFF) SELECT name FROM packages ORDER BY embedding <=> embed('play chess against the computer') LIMIT 5 LOOP
        RAISE NOTICE 'plan: %', regexp_replace(line, '\[[^]]*\]', '[...384 numbers: embed() ran once, at plan time...]');
    END LOOP;
END $$;
SELECT q.question, r.rank, r.name, r.summary
FROM (VALUES ('play chess against the computer'), ('edit photos and images'),
             ('watch network traffic on my machine'), ('compress files to save disk space'),
             ('learn to type faster')) AS q(question)
CROSS JOIN LATERAL (
    SELECT row_number() OVER () AS rank, name, left(summary, 60) AS summary
    FROM (SELECT name, summary FROM packages ORDER BY embedding <=> embed(q.question) LIMIT 3) top
) r;

\echo
\echo '=== 4. hybrid search: BM25 over a tsvector (GIN) fused with the vector ranking (HNSW) by RRF'
ALTER TABLE packages ADD COLUMN id bigserial UNIQUE;
ALTER TABLE packages ADD COLUMN tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', summary || '. ' || body)) STORED;
CREATE INDEX packages_tsv ON packages USING gin (tsv);
SELECT bm25_create('packages', 'tsv', 'english');
SELECT q.question, s.rank, s.semantic, h.hybrid
FROM (VALUES ('sqlite database browser'), ('ssh client for windows style terminals'),
             ('convert markdown documents to pdf')) AS q(question)
CROSS JOIN LATERAL (
    SELECT row_number() OVER () AS rank, name AS semantic
    FROM (SELECT name FROM packages ORDER BY embedding <=> embed(q.question) LIMIT 5) t
) s
JOIN LATERAL (
    SELECT row_number() OVER (ORDER BY hs.score DESC) AS rank, p.name AS hybrid
    FROM hybrid_search('packages', 'id', 'tsv', 'embedding', q.question, top_k => 5) hs
    JOIN packages p ON p.id = hs.id
) h ON h.rank = s.rank
ORDER BY q.question, s.rank;
