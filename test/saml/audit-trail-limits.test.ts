/**
 * Anonymous posts to /saml/acs must not fill the database through the audit trail (security
 * review, issue 15, finding 1): every stored and every displayed message is capped, and one
 * client address writes at most 30 refusals per minute; the rest are counted in one summary
 * entry per address and minute. The counter lives in the database, so N instances share it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { buildApp } from '../../src/http/app.ts';
import { createServices } from '../../src/services.ts';
import { BASE_URL, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

/** The per-address budget docs/saml.md promises. */
const BUDGET = 30;
/** "A few hundred characters": the longest text an audit entry or a refusal page may carry. */
const MAX_TEXT = 500;

/**
 * A Response whose XML names an undeclared entity of `length` characters: the XML parser's
 * error quotes the whole name (the reviewer's case used a 760,000-character name).
 */
function quotingParserError(length: number): string {
  return `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"><x>&${'a'.repeat(length)};</x></samlp:Response>`;
}

/**
 * Waits for the next minute unless `seconds` are left in this one, so that the posts that
 * follow are counted in a single minute and the counts can be exact.
 */
async function withinOneMinute(seconds: number): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < seconds * 1000) await new Promise((resolve) => setTimeout(resolve, left + 50));
}

/** What one source left in the audit trail: refusals stored, summaries, the refusals they count, and the characters of it all. */
type Tally = { stored: number; summaries: number; suppressed: number; characters: number };

eachDatabase('the audit trail under anonymous SAML posts', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
  });
  after(() => app.close());

  async function post(xml: string, remoteAddress: string): Promise<LightMyRequestResponse> {
    const form = new URLSearchParams({ SAMLResponse: Buffer.from(xml, 'utf8').toString('base64') });
    return app.app.inject({ method: 'POST', url: '/saml/acs', remoteAddress, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form.toString() });
  }

  async function tally(source: string): Promise<Tally> {
    const stored = (await events('saml.sign_in_refused')).filter((entry) => entry.details['source'] === source);
    const summaries = (await events('audit.suppressed')).filter((entry) => entry.details['source'] === source);
    return {
      stored: stored.length,
      summaries: summaries.length,
      suppressed: summaries.reduce((sum, entry) => sum + Number(entry.details['suppressed']), 0),
      characters: [...stored, ...summaries].reduce((sum, entry) => sum + entry.size, 0),
    };
  }

  async function events(action: string) {
    const rows = await app.services.store.db.selectFrom('audit_events').select(['seq', 'details']).where('action', '=', action).orderBy('seq').execute();
    return rows.map((row) => ({ seq: row.seq, size: (row.details ?? '').length, details: JSON.parse(row.details ?? '{}') as Record<string, unknown> }));
  }

  test('a response whose parser error quotes 150,000 characters gets a short refusal page and a short audit entry', async () => {
    const response = await post(quotingParserError(150_000), '192.0.2.1');
    assert.equal(response.statusCode, 403);
    assert.match(response.body, /The SAML response could not be read/);
    assert.ok(response.body.length < 4096, `a ${response.body.length}-character refusal page`);
    const [entry] = (await events('saml.sign_in_refused')).slice(-1);
    assert.ok(entry !== undefined);
    assert.equal(entry.details['reason'], 'malformed');
    assert.ok(String(entry.details['message']).length <= MAX_TEXT, `a ${String(entry.details['message']).length}-character message`);
    assert.ok(entry.size < 2 * MAX_TEXT, `a ${entry.size}-character audit entry`);
  });

  test('many refused posts from one address leave a bounded audit trail whose counts still add up', async () => {
    const source = '203.0.113.7';
    const posts = 80;
    await withinOneMinute(20);
    for (let i = 0; i < posts; i += 1) {
      const response = await post(quotingParserError(100_000), source);
      assert.equal(response.statusCode, 403);
    }
    const counted = await tally(source);
    assert.deepEqual({ stored: counted.stored, summaries: counted.summaries, suppressed: counted.suppressed }, { stored: BUDGET, summaries: 1, suppressed: posts - BUDGET });
    assert.ok(counted.characters < (BUDGET + 1) * 2 * MAX_TEXT, `${counted.characters} characters of audit details`);
    const [summary] = (await events('audit.suppressed')).filter((entry) => entry.details['source'] === source);
    assert.equal(summary?.details['action'], 'saml.sign_in_refused');
    assert.match(String(summary?.details['minute']), /^\d{4}-\d\d-\d\dT\d\d:\d\dZ$/);
  });

  test('parallel posts from one address are counted exactly, each once', async () => {
    const source = '203.0.113.8';
    const posts = 60;
    await withinOneMinute(10);
    const answers = await Promise.all(Array.from({ length: posts }, () => post(quotingParserError(1_000), source)));
    assert.ok(answers.every((answer) => answer.statusCode === 403));
    const counted = await tally(source);
    assert.deepEqual({ stored: counted.stored, summaries: counted.summaries, suppressed: counted.suppressed }, { stored: BUDGET, summaries: 1, suppressed: posts - BUDGET });
  });

  test('two instances on one database draw on one budget per address', async () => {
    const second = await buildApp({ services: createServices(app.services.store, { baseUrl: BASE_URL }), baseUrl: BASE_URL });
    try {
      const source = '203.0.113.9';
      const form = new URLSearchParams({ SAMLResponse: Buffer.from(quotingParserError(1_000), 'utf8').toString('base64') }).toString();
      await withinOneMinute(10);
      for (let i = 0; i < 25; i += 1) {
        for (const instance of [app.app, second]) {
          const answer = await instance.inject({ method: 'POST', url: '/saml/acs', remoteAddress: source, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form });
          assert.equal(answer.statusCode, 403);
        }
      }
      const counted = await tally(source);
      assert.deepEqual({ stored: counted.stored, summaries: counted.summaries, suppressed: counted.suppressed }, { stored: BUDGET, summaries: 1, suppressed: 50 - BUDGET });
    } finally {
      await second.close();
    }
  });

  test('IPv6 clients count by their /64 network', async () => {
    await withinOneMinute(10);
    for (let i = 0; i < BUDGET + 5; i += 1) {
      assert.equal((await post(quotingParserError(1_000), `2001:db8:1:2::${(i + 1).toString(16)}`)).statusCode, 403);
    }
    const counted = await tally('2001:db8:1:2::/64');
    assert.deepEqual({ stored: counted.stored, summaries: counted.summaries, suppressed: counted.suppressed }, { stored: BUDGET, summaries: 1, suppressed: 5 });
  });

  test('another address is still recorded one refusal at a time while the first is over budget', async () => {
    const response = await post(quotingParserError(1_000), '198.51.100.9');
    assert.equal(response.statusCode, 403);
    const stored = (await events('saml.sign_in_refused')).filter((entry) => entry.details['source'] === '198.51.100.9');
    assert.equal(stored.length, 1);
  });

  test('every audit entry caps its text, whoever writes it (here a SCIM client)', async () => {
    const created = await app.request('POST', '/Users', userBody('long-name@example.com', { displayName: 'n'.repeat(5_000) }));
    assert.equal(created.status, 201);
    const [entry] = (await events('user.created')).slice(-1);
    assert.ok(entry !== undefined);
    const after = entry.details['after'] as Record<string, unknown>;
    assert.ok(String(after['displayName']).length <= MAX_TEXT);
    assert.match(String(after['displayName']), /^n+… \(\d+ more characters\)$/);
    // The user itself keeps its whole name: only the audit copy is shortened.
    assert.equal((await app.request('GET', `/Users/${created.body.id}`)).body.displayName.length, 5_000);
  });
});
