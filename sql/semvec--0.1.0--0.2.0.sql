-- semvec 0.1.0 -> 0.2.0: the statements that turn an extension made by sql/semvec--0.1.0.sql into
-- what sql/*.sql make now. Every SQL change since 0.1.0 adds its statement here, in the same commit
-- (docs/upgrades.md); tests/scenarios/upgrade.sh diffs an updated database against a fresh one.
-- 0.2.0 only adds PostgreSQL 16-18 support: no SQL object changed yet.

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION semvec UPDATE TO '0.2.0'" to load this file. \quit
