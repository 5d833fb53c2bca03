/**
 * Anyone may start an OpenID Connect sign-in, and each one the provider accepts is stored (its
 * parameters included) until it completes or expires: a probe's single client stored 9,455 of them
 * in 30 seconds, 167 MB, kept an hour. Sign-ins started are now counted per client address
 * (ROSTER_OIDC_RATE_LIMIT, across instances), an IPv6 client by its /64; an authorization request
 * longer than 8 KiB is refused unread; a sign-in in progress lives 15 minutes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as client from 'openid-client';
import { MAX_AUTHORIZATION_REQUEST } from '../../src/http/oidc/routes.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { relyingParty } from '../support/oidc.ts';

const REDIRECT = 'https://wiki.example.com/callback';

describe('sign-ins started by anonymous clients', () => {
  let roster: TestApp;
  let authorizationUrl: (state: string) => URL;
  let credentials: string;
  let clientId: string;

  before(async () => {
    roster = await startTestApp({ signInRateLimit: { perMinute: 10, burst: 5 } });
    const { application, secret } = await roster.services.applications.create({ name: 'Wiki', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, { kind: 'cli' });
    const config = await relyingParty(roster, application.clientId, secret);
    clientId = application.clientId;
    credentials = Buffer.from(`${encodeURIComponent(application.clientId)}:${encodeURIComponent(secret ?? '')}`).toString('base64');
    authorizationUrl = (state) => client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT, scope: 'openid', state });
  });
  after(() => roster.close());

  async function start(state: string, remoteAddress: string) {
    const url = authorizationUrl(state);
    return roster.app.inject({ method: 'GET', url: `${url.pathname}${url.search}`, remoteAddress, headers: { accept: 'text/html' } });
  }

  async function interactions(): Promise<Array<{ expires_at: string | null }>> {
    return roster.services.store.db.selectFrom('oidc_models').select('expires_at').where('model', '=', 'Interaction').execute();
  }

  test('beyond the limit a client address is answered 429 with Retry-After and a page, and nothing is stored; another address is not held back', async () => {
    const stored = (await interactions()).length;
    const answers = [];
    for (let i = 0; i < 8; i += 1) answers.push(await start(`s${i}`, '198.51.100.9'));
    const statuses = answers.map((answer) => answer.statusCode);
    assert.deepEqual(statuses.slice(0, 5), [303, 303, 303, 303, 303], statuses.join(', '));
    assert.deepEqual(statuses.slice(5), [429, 429, 429], statuses.join(', '));
    const refused = answers[5];
    assert.ok(Number(refused?.headers['retry-after']) >= 1, String(refused?.headers['retry-after']));
    assert.match(refused?.body ?? '', /Too many sign-ins were started from your network in a short time\. Wait \d+ seconds and try again\./);
    assert.equal((await interactions()).length - stored, 5, 'one stored sign-in per request let through');
    assert.equal((await start('other', '203.0.113.4')).statusCode, 303);
  });

  test('an IPv6 client counts by its /64: its neighbours share its allowance', async () => {
    const statuses = [];
    for (let i = 0; i < 6; i += 1) statuses.push((await start(`v6-${i}`, `2001:db8:1:2::${i + 1}`)).statusCode);
    assert.deepEqual(statuses, [303, 303, 303, 303, 303, 429]);
    assert.equal((await start('v6-other', '2001:db8:1:3::1')).statusCode, 303);
  });

  test('an authorization request longer than 8 KiB is refused with 414 before the provider stores anything', async () => {
    const stored = (await interactions()).length;
    const answer = await start('x'.repeat(MAX_AUTHORIZATION_REQUEST + 1), '192.0.2.77');
    assert.equal(answer.statusCode, 414);
    assert.match(answer.body, /The application(?:'|&#39;)s sign-in request is \d+ KiB long; Roster takes at most 8 KiB/);
    assert.equal((await interactions()).length, stored);
    // A long state within the bound is taken.
    assert.equal((await start('x'.repeat(4000), '192.0.2.77')).statusCode, 303);
  });

  test('pushed authorization requests (RFC 9126) count alike, and one longer than 8 KiB is refused 413 in OAuth\'s shape', async () => {
    const push = (state: string) =>
      roster.app.inject({
        method: 'POST',
        url: '/oidc/request',
        remoteAddress: '192.0.2.99',
        headers: { authorization: `Basic ${credentials}`, 'content-type': 'application/x-www-form-urlencoded' },
        payload: new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, scope: 'openid', state }).toString(),
      });
    const statuses = [];
    for (let i = 0; i < 6; i += 1) statuses.push((await push(`p${i}`)).statusCode);
    assert.deepEqual(statuses, [201, 201, 201, 201, 201, 429]);
    const refused = await push('again');
    assert.equal(refused.json().error, 'temporarily_unavailable');
    assert.match(refused.json().error_description, /Too many sign-ins started from this address: Roster allows 10 a minute per client address, 5 at once \(ROSTER_OIDC_RATE_LIMIT\)/);
    const long = await roster.app.inject({
      method: 'POST',
      url: '/oidc/request',
      remoteAddress: '192.0.2.100',
      headers: { authorization: `Basic ${credentials}`, 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT, scope: 'openid', state: 'x'.repeat(MAX_AUTHORIZATION_REQUEST) }).toString(),
    });
    assert.equal(long.statusCode, 413);
    assert.equal(long.json().error, 'invalid_request');
  });

  test('a sign-in in progress is kept 15 minutes, not an hour', async () => {
    const before = Date.now();
    assert.equal((await start('ttl', '192.0.2.88')).statusCode, 303);
    const latest = (await interactions()).map((row) => Date.parse(row.expires_at ?? '')).reduce((a, b) => Math.max(a, b));
    assert.ok(latest >= before + 14 * 60_000 && latest <= Date.now() + 15 * 60_000 + 1000, new Date(latest).toISOString());
  });
});
