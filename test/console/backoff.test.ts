/**
 * Guessing protection of password sign-in (issue 9): 5 failures on a login, or 10 from one
 * address, within 15 minutes answer 429 with Retry-After; the count lives in the database, so
 * every instance applies the same one, and parallel guesses cannot slip past it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { buildApp } from '../../src/http/app.ts';
import { PASSWORD_BACKOFF } from '../../src/directory/password-sign-in.ts';
import { createServices } from '../../src/services.ts';
import { BASE_URL, startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { passwordSignIn, setCookieOf } from '../support/console.ts';

const cli = { kind: 'cli' } as const;

/** The known-browser cookie a successful sign-in sets, as `name=value` (the test app's base URL is https). */
function browserOf(response: Awaited<ReturnType<typeof passwordSignIn>>): string {
  const pair = setCookieOf(response, '__Host-roster_browser');
  assert.ok(pair, `no roster_browser cookie (${response.statusCode})`);
  return pair;
}

eachDatabase('password sign-in backoff', (database) => {
  let app: TestApp;
  let adminPassword = '';

  before(async () => {
    app = await startTestApp({ database, scim: false });
    adminPassword = (await app.services.administrators.resetPassword('admin', cli)).password;
    for (const login of ['erin', 'frank']) {
      await app.services.accounts.create({ login, name: login, password: `${login}-password-1`, local: true }, cli);
    }
  });
  after(() => app.close());

  test('the figures are 5 per login and 10 per address within 15 minutes', () => {
    assert.deepEqual(PASSWORD_BACKOFF, { login: { attempts: 5, windowMs: 15 * 60_000 }, source: { attempts: 10, windowMs: 15 * 60_000 } });
  });

  test('after 5 failures on a login, the 6th attempt gets 429 with Retry-After, even with the right password', async () => {
    for (let i = 1; i <= 5; i += 1) {
      const response = await passwordSignIn(app, 'erin', `guess-${i}`, { remoteAddress: `192.0.2.${i}` });
      assert.equal(response.statusCode, 403, `attempt ${i}`);
    }
    const refused = await passwordSignIn(app, 'ERIN', 'erin-password-1', { remoteAddress: '192.0.2.99' });
    assert.equal(refused.statusCode, 429);
    const retryAfter = Number(refused.headers['retry-after']);
    assert.ok(retryAfter > 0 && retryAfter <= 180, `Retry-After ${String(refused.headers['retry-after'])}`);
    assert.match(refused.body, /Too many failed sign-in attempts\. Try again in (3 minutes|\d+ seconds|a minute|2 minutes)\./);
    const audit = await app.services.store.db.selectFrom('audit_events').select('details').where('action', '=', 'session.password_refused').orderBy('seq', 'desc').executeTakeFirstOrThrow();
    assert.equal(JSON.parse(audit.details ?? '{}').reason, 'throttled');
  });

  test('another instance on the same database refuses the same login: the count is not kept in memory', async () => {
    const second = await buildApp({ services: createServices(app.services.store, { baseUrl: BASE_URL }), baseUrl: BASE_URL });
    try {
      const other: TestApp = { ...app, app: second };
      assert.equal((await passwordSignIn(other, 'erin', 'erin-password-1', { remoteAddress: '192.0.2.98' })).statusCode, 429);
    } finally {
      await second.close();
    }
  });

  test('other logins are not held back by one login\'s failures', async () => {
    const response = await passwordSignIn(app, 'frank', 'frank-password-1', { remoteAddress: '192.0.2.1' });
    assert.equal(response.statusCode, 303, response.body);
  });

  test('after 10 failures from one address, that address gets 429 for any login; other addresses do not', async () => {
    const address = '203.0.113.7';
    for (let i = 1; i <= 10; i += 1) {
      assert.equal((await passwordSignIn(app, `spray-${i}`, 'Summer2025!', { remoteAddress: address })).statusCode, 403, `attempt ${i}`);
    }
    const refused = await passwordSignIn(app, 'admin', adminPassword, { remoteAddress: address });
    assert.equal(refused.statusCode, 429);
    assert.ok(Number(refused.headers['retry-after']) <= 90);
    // An IPv6 client counts by its /64, the address of its IPv4-mapped form as IPv4.
    assert.equal((await passwordSignIn(app, 'admin', adminPassword, { remoteAddress: `::ffff:${address}` })).statusCode, 429);
    assert.equal((await passwordSignIn(app, 'admin', adminPassword, { remoteAddress: '203.0.113.8' })).statusCode, 303);
  });

  test('behind a trusted proxy (ROSTER_TRUSTED_PROXIES) each client counts by the address the proxy names, not by the proxy\'s', async () => {
    const proxied = await startTestApp({ database, scim: false, trustedProxies: [{ address: '10.0.0.2', prefix: 32, family: 'ipv4' }] });
    try {
      const password = (await proxied.services.administrators.resetPassword('admin', cli)).password;
      const via = (client: string) => ({ remoteAddress: '10.0.0.2', headers: { 'x-forwarded-for': client } });
      for (let i = 1; i <= 10; i += 1) assert.equal((await passwordSignIn(proxied, `spray-${i}`, 'Summer2025!', via('203.0.113.20'))).statusCode, 403);
      assert.equal((await passwordSignIn(proxied, 'admin', password, via('203.0.113.20'))).statusCode, 429);
      // Another client behind the same proxy is not held back by the first one's guesses …
      assert.equal((await passwordSignIn(proxied, 'admin', password, via('203.0.113.21'))).statusCode, 303);
      // … and an untrusted peer cannot pick its address: it counts as itself.
      for (let i = 1; i <= 10; i += 1) await passwordSignIn(proxied, `spoof-${i}`, 'Summer2025!', { remoteAddress: '198.51.100.5', headers: { 'x-forwarded-for': `192.0.2.${i}` } });
      assert.equal((await passwordSignIn(proxied, 'admin', password, { remoteAddress: '198.51.100.5', headers: { 'x-forwarded-for': '192.0.2.200' } })).statusCode, 429);
    } finally {
      await proxied.close();
    }
  });

  // Some proxies write the client with its port (`203.0.113.9:4711`, `[2001:db8::1]:443`): each
  // new connection's port made a new client, with a fresh budget, and the limit never applied.
  test('behind a trusted proxy that writes ports, brackets or a mapped address, a client counts once', async () => {
    const proxied = await startTestApp({ database, scim: false, trustedProxies: [{ address: '10.0.0.2', prefix: 32, family: 'ipv4' }] });
    try {
      const password = (await proxied.services.administrators.resetPassword('admin', cli)).password;
      const via = (client: string) => ({ remoteAddress: '10.0.0.2', headers: { 'x-forwarded-for': client } });
      for (let i = 1; i <= 10; i += 1) assert.equal((await passwordSignIn(proxied, `port-${i}`, 'Summer2025!', via(`203.0.113.30:${40000 + i}`))).statusCode, 403);
      assert.equal((await passwordSignIn(proxied, 'admin', password, via('203.0.113.30:50000'))).statusCode, 429, 'ip:port');
      assert.equal((await passwordSignIn(proxied, 'admin', password, via('::ffff:203.0.113.30'))).statusCode, 429, 'IPv4-mapped');
      assert.equal((await passwordSignIn(proxied, 'admin', password, via('::ffff:cb00:711e'))).statusCode, 429, 'IPv4-mapped, hex');
      for (let i = 1; i <= 10; i += 1) assert.equal((await passwordSignIn(proxied, `v6-${i}`, 'Summer2025!', via(`[2001:db8:7::${i}]:443`))).statusCode, 403);
      assert.equal((await passwordSignIn(proxied, 'admin', password, via('2001:db8:7::99'))).statusCode, 429, '[ipv6]:port, by its /64');
      // Another client is still its own.
      assert.equal((await passwordSignIn(proxied, 'admin', password, via('203.0.113.31:40001'))).statusCode, 303);
    } finally {
      await proxied.close();
    }
  });

  test('a success gives the attempt back: a login that signs in starts afresh', async () => {
    for (let i = 1; i <= 4; i += 1) await passwordSignIn(app, 'frank', `guess-${i}`, { remoteAddress: `198.18.0.${i}` });
    assert.equal((await passwordSignIn(app, 'frank', 'frank-password-1', { remoteAddress: '198.18.0.10' })).statusCode, 303);
    for (let i = 1; i <= 5; i += 1) {
      assert.equal((await passwordSignIn(app, 'frank', `again-${i}`, { remoteAddress: `198.18.1.${i}` })).statusCode, 403, `attempt ${i} after the success`);
    }
    assert.equal((await passwordSignIn(app, 'frank', 'frank-password-1', { remoteAddress: '198.18.1.9' })).statusCode, 429);
  });

  test('parallel guesses on one login get exactly 5 checks, the rest 429', async () => {
    await app.services.accounts.create({ login: 'grace', name: 'Grace', password: 'grace-password-1', local: true }, cli);
    const statuses = await Promise.all(Array.from({ length: 9 }, (_, i) => passwordSignIn(app, 'grace', `parallel-${i}`, { remoteAddress: `198.19.0.${i + 1}` }).then((response) => response.statusCode)));
    assert.deepEqual(statuses.sort(), [403, 403, 403, 403, 403, 429, 429, 429, 429]);
  });

  // Five wrong passwords from anywhere used to hold any login, admin's included, for minutes, and
  // one more guess every three minutes kept it held: its owner could not get in.
  test('a browser that signed in to a login before is not held back by strangers\' failures on it, only by its own', async () => {
    await app.services.accounts.create({ login: 'heidi', name: 'Heidi', password: 'heidi-password-1', local: true }, cli);
    const first = await passwordSignIn(app, 'heidi', 'heidi-password-1', { remoteAddress: '198.21.0.1' });
    assert.equal(first.statusCode, 303);
    const browser = browserOf(first);
    assert.match(browser, /^__Host-roster_browser=[A-Za-z0-9_-]{43}$/);
    assert.match(String(first.headers['set-cookie']), /__Host-roster_browser=[^;]+; Path=\/; HttpOnly; SameSite=Strict; Secure; Expires=/);

    for (let i = 1; i <= 5; i += 1) assert.equal((await passwordSignIn(app, 'heidi', `stranger-${i}`, { remoteAddress: `198.21.1.${i}` })).statusCode, 403);
    assert.equal((await passwordSignIn(app, 'heidi', 'heidi-password-1', { remoteAddress: '198.21.1.9' })).statusCode, 429, 'a stranger\'s browser is held back');
    const owner = await passwordSignIn(app, 'heidi', 'heidi-password-1', { remoteAddress: '198.21.0.1', cookie: browser });
    assert.equal(owner.statusCode, 303, 'the known browser signs in');
    assert.equal(browserOf(owner), browser, 'and keeps its cookie');

    // Its own failures count: five, and it waits too.
    for (let i = 1; i <= 5; i += 1) assert.equal((await passwordSignIn(app, 'heidi', `typo-${i}`, { remoteAddress: '198.21.0.1', cookie: browser })).statusCode, 403);
    assert.equal((await passwordSignIn(app, 'heidi', 'heidi-password-1', { remoteAddress: '198.21.0.1', cookie: browser })).statusCode, 429);
    const audit = await app.services.store.db.selectFrom('audit_events').select('details').where('action', '=', 'session.password_refused').orderBy('seq', 'desc').executeTakeFirstOrThrow();
    const details = JSON.parse(audit.details ?? '{}') as Record<string, unknown>;
    assert.deepEqual([details.reason, details.login, details.knownBrowser], ['throttled', 'heidi', true]);
  });

  test('a known browser is known to its account only: an invented cookie, or one known to another login, counts as a stranger', async () => {
    await app.services.accounts.create({ login: 'ivan', name: 'Ivan', password: 'ivan-password-1', local: true }, cli);
    await app.services.accounts.create({ login: 'judy', name: 'Judy', password: 'judy-password-1', local: true }, cli);
    const judys = browserOf(await passwordSignIn(app, 'judy', 'judy-password-1', { remoteAddress: '198.22.0.1' }));
    for (let i = 1; i <= 5; i += 1) await passwordSignIn(app, 'ivan', `stranger-${i}`, { remoteAddress: `198.22.1.${i}` });
    assert.equal((await passwordSignIn(app, 'ivan', 'ivan-password-1', { remoteAddress: '198.22.0.1', cookie: judys })).statusCode, 429);
    assert.equal((await passwordSignIn(app, 'ivan', 'ivan-password-1', { remoteAddress: '198.22.0.1', cookie: `__Host-roster_browser=${'A'.repeat(43)}` })).statusCode, 429);
  });

  test('a password reset forgets the browsers known to the account: they count as strangers again', async () => {
    const browser = browserOf(await passwordSignIn(app, 'admin', adminPassword, { remoteAddress: '198.23.0.1' }));
    adminPassword = (await app.services.administrators.resetPassword('admin', cli)).password;
    for (let i = 1; i <= 5; i += 1) await passwordSignIn(app, 'admin', `stranger-${i}`, { remoteAddress: `198.23.1.${i}` });
    assert.equal((await passwordSignIn(app, 'admin', adminPassword, { remoteAddress: '198.23.0.1', cookie: browser })).statusCode, 429);
  });

  test('known browsers are stored as hashes of their cookie, and forgotten 90 days after their last sign-in', async () => {
    await app.services.accounts.create({ login: 'lena', name: 'Lena', password: 'lena-password-1', local: true }, cli);
    const cookie = browserOf(await passwordSignIn(app, 'lena', 'lena-password-1', { remoteAddress: '198.24.0.1' }));
    const rows = await app.services.store.db.selectFrom('known_browsers').selectAll().execute();
    assert.ok(rows.length > 0);
    for (const row of rows) assert.match(row.id, /^[0-9a-f]{64}$/);
    assert.ok(rows.every((row) => !cookie.includes(row.id)));
    const latest = Math.max(...rows.map((row) => Date.parse(row.expires_at)));
    const days = (latest - Date.now()) / 86_400_000;
    assert.ok(days > 89.9 && days <= 90, `${days} days`);
    await app.services.store.db.updateTable('known_browsers').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).execute();
    assert.equal(await app.services.passwordSignIn.purgeKnownBrowsers(), rows.length);
    assert.deepEqual(await app.services.store.db.selectFrom('known_browsers').selectAll().execute(), []);
  });

  test('the backoff keeps no login or address in clear, and forgets keys whose allowance is whole again', async () => {
    const rows = await app.services.store.db.selectFrom('password_backoff').selectAll().execute();
    assert.ok(rows.length > 0);
    for (const row of rows) assert.match(row.key, /^[0-9a-f]{64}$/);
    const past = new Date(Date.now() - 1000).toISOString();
    await app.services.store.db.updateTable('password_backoff').set({ free_at: past }).execute();
    await passwordSignIn(app, 'admin', 'wrong', { remoteAddress: '198.20.0.1' });
    const left = await app.services.store.db.selectFrom('password_backoff').select('key').execute();
    assert.equal(left.length, 2, 'only the keys of the last attempt remain');
  });
});
