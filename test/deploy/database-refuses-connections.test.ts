/**
 * /healthz tells a PostgreSQL that answers but refuses new connections (SQLSTATE 53300:
 * max_connections, or a CONNECTION LIMIT, reached by other clients) from one that does not
 * answer: the operator then looks for who holds the connections, not at a database that is up.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { READINESS_CACHE_MS } from '../../src/http/health.ts';
import { startTestApp } from '../support/app.ts';
import { POSTGRES_URL } from '../support/databases.ts';

test('/healthz says the database refuses new connections when it does', { skip: POSTGRES_URL === undefined ? 'needs PostgreSQL (ROSTER_TEST_POSTGRES_URL)' : false }, async () => {
  const roster = await startTestApp({ database: 'postgres' });
  const name = new URL(roster.databaseUrl).pathname.slice(1);
  const admin = new pg.Client({ connectionString: POSTGRES_URL });
  await admin.connect();
  try {
    assert.equal((await roster.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    // No new connection to the database, and the ones open ended: the next check must connect.
    await admin.query(`ALTER DATABASE ${name} CONNECTION LIMIT 0`);
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
    await new Promise((resolve) => setTimeout(resolve, READINESS_CACHE_MS + 200));
    const refused = await roster.app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(refused.statusCode, 503, refused.body);
    assert.match(refused.json().detail, /answers but refuses new connections \(SQLSTATE 53300/);

    await admin.query(`ALTER DATABASE ${name} CONNECTION LIMIT -1`);
    await new Promise((resolve) => setTimeout(resolve, READINESS_CACHE_MS + 200));
    assert.equal((await roster.app.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
  } finally {
    await admin.query(`ALTER DATABASE ${name} CONNECTION LIMIT -1`).catch(() => {});
    await admin.end();
    await roster.close();
  }
});
