/**
 * The clean-ups delete in batches with a turn of the event loop between them, so that requests
 * are answered while a backlog is deleted. On SQLite every statement answers at once
 * (better-sqlite3 is synchronous): without the turn, deleting 100,000 ended sessions held every
 * request of the server for over a second.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { startTestApp, type TestApp } from '../support/app.ts';
import { endedSessions, oldActivity } from '../support/backlog.ts';
import { eachDatabase } from '../support/databases.ts';

/** Twenty batches of a thousand: more turns than a request over a socket needs to be answered. */
const ROWS = 20_000;

/** GET /healthz over a real connection: it arrives as a socket does, in its own turn. */
function healthz(base: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(`${base}/healthz`, (answer) => {
        answer.resume();
        answer.on('end', () => resolve(answer.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

/** Runs `purge` and a /healthz at once; says how many rows it deleted and whether /healthz was answered before it ended. */
async function alongside(base: string, purge: () => Promise<number>): Promise<{ deleted: number; status: number; answeredFirst: boolean }> {
  let purged = false;
  const deleting = purge().then((deleted) => {
    purged = true;
    return deleted;
  });
  const [status, answeredFirst] = await healthz(base).then((code) => [code, !purged] as const);
  return { deleted: await deleting, status, answeredFirst };
}

eachDatabase('the clean-ups give the event loop a turn between batches', (database) => {
  let roster: TestApp;
  let base: string;
  before(async () => {
    roster = await startTestApp({ database, scim: false });
    base = await roster.app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(() => roster.close());

  test(`a /healthz sent while ${ROWS.toLocaleString('en')} rows of old provisioning activity are deleted is answered before the clean-up ends`, async () => {
    await oldActivity(roster.services.store, ROWS);
    const seen = await alongside(base, () => roster.services.activity.purge(30));
    assert.equal(seen.deleted, ROWS);
    assert.equal(seen.status, 200);
    assert.equal(seen.answeredFirst, true, '/healthz waited for the whole clean-up');
  });

  test(`a /healthz sent while ${ROWS.toLocaleString('en')} ended sessions are deleted is answered before the clean-up ends`, async () => {
    await endedSessions(roster.services.store, roster.adminId, ROWS);
    const seen = await alongside(base, () => roster.services.sessions.purgeEnded());
    assert.equal(seen.deleted, ROWS);
    assert.equal(seen.status, 200);
    assert.equal(seen.answeredFirst, true, '/healthz waited for the whole clean-up');
  });
});
