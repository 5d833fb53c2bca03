/**
 * The bounded slice of the soak (bench/soak.ts, issue 14) that `npm test` runs: the same seeded
 * generator of valid and hostile SCIM, admin API and SAML requests, 2,000 of them over four
 * keep-alive connections to a listening instance, on every database. Not one may answer 5xx or
 * go unanswered; a failure prints each request as a curl line to replay.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { asCurl, runSoak } from '../../bench/soak/runner.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

const SEED = 14_2026;
const REQUESTS = 2_000;

eachDatabase('the soak slice', (database) => {
  let app: TestApp;
  let base: string;
  before(async () => {
    app = await startTestApp({ database });
    await app.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.app.server.address() as AddressInfo).port}`;
  });
  after(() => app.close());

  test(`${REQUESTS} seeded random requests get no 5xx and no dropped connection`, async () => {
    const report = await runSoak({ base, token: app.token, seed: SEED, count: REQUESTS, concurrency: 4 });
    const problems = [...report.serverErrors, ...report.dropped].map((problem) => `#${problem.index} ${problem.outcome} ${problem.answer ?? ''}\n${asCurl(base, problem.request).slice(0, 1000)}`);
    assert.deepEqual(problems, []);
    assert.equal(report.sent, REQUESTS);
    // The stream exercises every kind of answer, not only refusals.
    assert.ok((report.byClass['2xx'] ?? 0) > REQUESTS / 10, JSON.stringify(report.byClass));
    assert.ok((report.byClass['4xx'] ?? 0) > REQUESTS / 4, JSON.stringify(report.byClass));
  });
});
