/**
 * What the OpenID provider reports and answers when things go wrong: an application's sign-in
 * counted by its outcome (a code issued, or the OAuth error the application got), a request the
 * database failed logged with its stack and answered as unavailable in OAuth's shape (a page for
 * a browser), as every other part of Roster answers a database outage. SQLite: PRAGMA query_only
 * makes every write fail as a read-only database does (SQLITE_READONLY).
 */
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { sql } from 'kysely';
import { DATABASE_RETRY_AFTER_SECONDS } from '../../src/http/errors.ts';
import { captureLog } from '../support/log-capture.ts';
import { SCIM, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { sessionFor } from '../support/console.ts';
import { CookieJar, follow, relyingParty } from '../support/oidc.ts';

const REDIRECT = 'https://wiki.example.com/callback';
const cli = { kind: 'cli' } as const;

/** The value of the sample `name{labels}` in a Prometheus text, 0 when absent. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('OpenID provider failures and outcomes', () => {
  let roster: TestApp;
  const log = captureLog();
  const logged = log.lines;
  let userId: string;

  before(async () => {
    roster = await startTestApp({ logger: { level: 'info', stream: log.stream } });
    assert.equal((await roster.request('POST', '/Users', userBody('ada'))).status, 201);
    userId = (await roster.services.accounts.findByLogin('ada'))!.id;
  });
  after(async () => roster.close());

  /** Starts an authorization of ada's browser at `name`'s application; where the browser lands. */
  async function signInTo(name: string, allowedGroups: string[]) {
    const { application, secret } = await roster.services.applications.create({ name, redirectUris: [REDIRECT], public: false, allowedGroups }, cli);
    const config = await relyingParty(roster, application.clientId, secret);
    const jar = new CookieJar();
    jar.add((await sessionFor(roster, userId)).cookie);
    const verifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT,
      scope: 'openid',
      code_challenge: await client.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state: 'state',
    });
    return { application, secret, config, jar, url, verifier };
  }

  async function signIns(): Promise<string> {
    return (await roster.app.inject({ method: 'GET', url: '/metrics' })).body;
  }

  test('sign-ins are counted when the application gets its answer: a code as success, a refusal by its OAuth error', async () => {
    const before = await signIns();
    const allowed = await signInTo('Wiki', []);
    const landing = await follow(roster, allowed.url, allowed.jar);
    assert.ok(landing.url.searchParams.get('code'), `ended at ${landing.url}`);
    // ada is in no group: the application refuses her after her Roster session answered the login prompt.
    const refused = await signInTo('Ops', ['operators']);
    const refusal = await follow(roster, refused.url, refused.jar);
    assert.equal(refusal.url.searchParams.get('error'), 'access_denied');
    const after = await signIns();
    const success = 'roster_sign_ins_total{method="oidc",outcome="success"}';
    const denied = 'roster_sign_ins_total{method="oidc",outcome="access_denied"}';
    assert.equal(sample(after, success) - sample(before, success), 1, 'one code issued');
    assert.equal(sample(after, denied) - sample(before, denied), 1, 'one refusal');
  });

  test('a request the database fails is logged with its stack and answered 503 with Retry-After: OAuth\'s error object to an application, a page to a browser', async () => {
    // A code issued while the database is up, exchanged while it refuses writes (the code is spent by a write).
    const app = await signInTo('Notes', []);
    const landing = await follow(roster, app.url, app.jar);
    const code = landing.url.searchParams.get('code');
    assert.ok(code);
    const other = await signInTo('Board', []);
    await sql`PRAGMA query_only = ON`.execute(roster.services.store.db);
    try {
      const exchange = await roster.app.inject({
        method: 'POST',
        url: '/oidc/token',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${encodeURIComponent(app.application.clientId)}:${encodeURIComponent(app.secret ?? '')}`).toString('base64')}`,
        },
        payload: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: app.verifier }).toString(),
      });
      assert.equal(exchange.statusCode, 503, exchange.body);
      assert.equal(exchange.headers['retry-after'], String(DATABASE_RETRY_AFTER_SECONDS));
      assert.equal(exchange.json().error, 'temporarily_unavailable');
      assert.match(exchange.json().error_description, /database/);
      const requestId = String(exchange.headers['x-request-id']);
      const failure = logged.map((line) => JSON.parse(line) as { level: number; requestId?: string; msg: string; err?: { stack?: string } }).find((line) => line.level === 50 && line.requestId === requestId);
      assert.ok(failure, `an error line for request ${requestId}`);
      assert.match(failure.msg, /OpenID Connect request failed/);
      assert.match(failure.err?.stack ?? '', /readonly|read-only/i);

      // The browser starting a sign-in (the provider writes its interaction) gets a page.
      const page = await roster.app.inject({ method: 'GET', url: `${other.url.pathname}${other.url.search}`, headers: { accept: 'text/html', cookie: other.jar.header() } });
      assert.equal(page.statusCode, 503, page.body.slice(0, 300));
      assert.equal(page.headers['retry-after'], String(DATABASE_RETRY_AFTER_SECONDS));
      assert.match(String(page.headers['content-type']), /text\/html/);
      assert.match(page.body, /Temporarily unavailable/);
    } finally {
      await sql`PRAGMA query_only = OFF`.execute(roster.services.store.db);
    }
    // The database back: the code was not spent, the exchange succeeds.
    const tokens = await client.authorizationCodeGrant(app.config, landing.url, { pkceCodeVerifier: app.verifier, expectedState: 'state' });
    assert.ok(tokens.access_token);
  });
});

test('what fails before the provider answers (here: the instance at its limit of requests) is answered in OAuth\'s shape, or a page for a browser', async () => {
  const roster = await startTestApp({ app: { admission: { maxConcurrent: 1, queueTimeoutMs: 100, maxQueued: 8 } } });
  try {
    // A SCIM create whose body never ends holds the one slot.
    const body = new PassThrough();
    const held = roster.app.inject({ method: 'POST', url: `${SCIM}/Users`, headers: { authorization: `Bearer ${roster.token}`, 'content-type': 'application/scim+json' }, payload: body });
    await new Promise((resolve) => setTimeout(resolve, 50));
    const token = await roster.app.inject({ method: 'POST', url: '/oidc/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=authorization_code&code=x' });
    assert.equal(token.statusCode, 503, token.body);
    assert.equal(token.headers['retry-after'], '1');
    assert.equal(token.json().error, 'temporarily_unavailable');
    assert.match(token.json().error_description, /ROSTER_MAX_CONCURRENT_REQUESTS/);
    const page = await roster.app.inject({ method: 'GET', url: '/oidc/auth?client_id=x', headers: { accept: 'text/html' } });
    assert.equal(page.statusCode, 503);
    assert.match(String(page.headers['content-type']), /text\/html/);
    assert.match(page.body, /Temporarily unavailable/);
    assert.match(page.body, /Wait a second and try again/);
    body.end(JSON.stringify(userBody('held')));
    assert.equal((await held).statusCode, 201);
  } finally {
    await roster.close();
  }
});
