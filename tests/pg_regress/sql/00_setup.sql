-- The extension every other file uses.
DROP EXTENSION IF EXISTS semvec CASCADE;
CREATE EXTENSION semvec;
SELECT extname FROM pg_extension WHERE extname = 'semvec';
