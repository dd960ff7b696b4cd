// pgvector's Node.js client (pgvector/pg with node-postgres) against semvec: exact round trips of
// the text format, nearest neighbours through an HNSW index, pgvector's error for wrong dimensions.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import pgvector from 'pgvector/pg';

const EDGE = [1e-7, -0, 3.4028235e38, -3.4028235e38, 1.1754944e-38, 1e-45, 0.1, 1 / 3, -2.5, 16777217];
const EDGE_TEXT = '[1e-07,-0,3.4028235e+38,-3.4028235e+38,1.1754944e-38,1e-45,0.1,0.33333334,-2.5,1.6777216e+07]';

// float32 bit patterns, so -0 and 0 differ
const f32Bits = (xs) => Array.from(new Uint32Array(Float32Array.from(xs).buffer));

const client = new pg.Client({
  host: process.env.PGHOST ?? '/tmp',
  port: Number(process.env.PGPORT ?? 28815),
  user: process.env.PGUSER ?? 'postgres',
  database: process.env.SEMVEC_CLIENTS_DB ?? 'semvec_clients',
});

before(async () => {
  await client.connect();
  await client.query(`CREATE EXTENSION IF NOT EXISTS "${process.env.SEMVEC_CLIENTS_EXTENSION ?? 'semvec'}"`);
  await pgvector.registerTypes(client);
  await client.query('DROP TABLE IF EXISTS node_items');
  await client.query('CREATE TABLE node_items (id int PRIMARY KEY, embedding vector(10))');
});

after(async () => {
  await client.query('DROP TABLE IF EXISTS node_items');
  await client.end();
});

test('text format round-trips edge values exactly', async () => {
  await client.query('DELETE FROM node_items');
  // toSql() writes JSON, where -0 becomes 0 (a client-side property, the same with pgvector)
  await client.query('INSERT INTO node_items VALUES (1, $1), (2, $2)', [pgvector.toSql(EDGE), EDGE_TEXT]);
  const { rows } = await client.query('SELECT embedding, embedding::text AS t FROM node_items ORDER BY id');
  assert.deepEqual(f32Bits(rows[0].embedding), f32Bits(EDGE.map((x) => (Object.is(x, -0) ? 0 : x))));
  assert.deepEqual(f32Bits(rows[1].embedding), f32Bits(EDGE));
  assert.equal(rows[1].t, EDGE_TEXT);
  await client.query('DELETE FROM node_items');
});

test('nearest neighbours go through the hnsw index and match exact search', async () => {
  // deterministic data: a small linear congruential generator
  let s = 12345;
  const rnd = () => ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648) * 2 - 1;
  const data = Array.from({ length: 300 }, () => Array.from({ length: 10 }, rnd));
  await client.query('DELETE FROM node_items');
  for (let i = 0; i < data.length; i++) {
    await client.query('INSERT INTO node_items VALUES ($1, $2)', [i, pgvector.toSql(data[i])]);
  }
  await client.query('CREATE INDEX node_items_hnsw ON node_items USING hnsw (embedding vector_l2_ops)');
  const sql = 'SELECT id FROM node_items ORDER BY embedding <-> $1 LIMIT 5';
  const q = pgvector.toSql(data[99].map((x) => x + 0.001));
  await client.query('SET enable_seqscan = off');
  await client.query('SET hnsw.ef_search = 100');
  const plan = (await client.query(`EXPLAIN (COSTS OFF) ${sql}`, [q])).rows.map((r) => r['QUERY PLAN']).join('\n');
  assert.match(plan, /Index Scan using node_items_hnsw on node_items/);
  const byIndex = (await client.query(sql, [q])).rows.map((r) => r.id);
  await client.query('RESET enable_seqscan');
  await client.query('SET enable_indexscan = off');
  const exact = (await client.query(sql, [q])).rows.map((r) => r.id);
  await client.query('RESET ALL');
  assert.deepEqual(byIndex, exact);
  assert.equal(byIndex[0], 99);
});

test('wrong dimensions fail with pgvector message and SQLSTATE', async () => {
  await assert.rejects(
    client.query('INSERT INTO node_items VALUES (1000, $1)', [pgvector.toSql([1, 2])]),
    (err) => err.code === '22000' && err.message === 'expected 10 dimensions, not 2',
  );
});
