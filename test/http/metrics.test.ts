/**
 * GET /metrics: Prometheus text with requests by route pattern, SCIM operations, database
 * statements (and the PostgreSQL pool), sign-ins and the process's metrics; readable without a
 * token from ROSTER_METRICS_ALLOW's addresses only, otherwise with an administrator's token.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { TEST_IDP, startTestApp, testCertificate, testKeyPair, userBody, type TestApp } from '../support/app.ts';
import { passwordSignIn } from '../support/console.ts';
import { eachDatabase } from '../support/databases.ts';

const SCIM = '/api/scim/v2';
const OUTSIDE = '203.0.113.9';

async function scrape(
  roster: TestApp,
  options: { remoteAddress?: string; token?: string; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string; type: string | undefined }> {
  const answer = await roster.app.inject({
    method: 'GET',
    url: '/metrics',
    ...(options.remoteAddress !== undefined ? { remoteAddress: options.remoteAddress } : {}),
    headers: { ...(options.token !== undefined ? { authorization: `Bearer ${options.token}` } : {}), ...options.headers },
  });
  return { status: answer.statusCode, body: answer.body, type: answer.headers['content-type'] as string | undefined };
}

/** The value of the sample `name{labels}` (labels in the order prom-client writes them), or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

eachDatabase('GET /metrics', (database) => {
  test('counts requests by route pattern, method and status, and SCIM operations by resource, operation and outcome', async () => {
    const roster = await startTestApp({ database });
    try {
      const created = await roster.request('POST', '/Users', userBody('grace'));
      assert.equal(created.status, 201);
      const id = created.body.id as string;
      for (let i = 0; i < 3; i += 1) assert.equal((await roster.request('GET', `/Users/${id}`)).status, 200);
      assert.equal((await roster.request('GET', '/Users/no-such-id')).status, 404);
      assert.equal((await roster.request('PATCH', `/Users/${id}`, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: 'G' }] })).status, 200);
      assert.equal((await roster.request('GET', `/Users?filter=${encodeURIComponent('userName eq "grace"')}`)).status, 200);
      assert.equal((await roster.app.inject({ method: 'GET', url: '/no-such-page' })).statusCode, 404);

      const { status, body, type } = await scrape(roster);
      assert.equal(status, 200);
      assert.match(type ?? '', /^text\/plain; version=0\.0\.4/);
      assert.equal(sample(body, `roster_http_requests_total{route="${SCIM}/Users/:id",method="GET",status="200"}`), 3);
      assert.equal(sample(body, `roster_http_requests_total{route="${SCIM}/Users/:id",method="GET",status="404"}`), 1);
      assert.equal(sample(body, `roster_http_requests_total{route="${SCIM}/Users",method="POST",status="201"}`), 1);
      assert.equal(sample(body, `roster_http_requests_total{route="(unmatched)",method="GET",status="404"}`), 1);
      assert.equal(sample(body, `roster_http_request_duration_seconds_count{route="${SCIM}/Users/:id",method="GET",status="200"}`), 3);
      assert.equal(sample(body, `roster_http_request_duration_seconds_bucket{le="+Inf",route="${SCIM}/Users/:id",method="GET",status="200"}`), 3);
      // Labels are route patterns: no id, no query string, no path a client made up.
      assert.ok(!body.includes(id));
      assert.ok(!body.includes('grace'));
      assert.ok(!body.includes('no-such'));

      assert.equal(sample(body, 'roster_scim_operations_total{resource="Users",operation="create",outcome="success"}'), 1);
      assert.equal(sample(body, 'roster_scim_operations_total{resource="Users",operation="get",outcome="success"}'), 3);
      assert.equal(sample(body, 'roster_scim_operations_total{resource="Users",operation="get",outcome="client_error"}'), 1);
      assert.equal(sample(body, 'roster_scim_operations_total{resource="Users",operation="patch",outcome="success"}'), 1);
      assert.equal(sample(body, 'roster_scim_operations_total{resource="Users",operation="list",outcome="success"}'), 1);

      // A Bulk request counts once (200), and each of its operations under its own resource, by its own status.
      const bulk = await roster.request('POST', '/Bulk', {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'],
        Operations: [
          { method: 'POST', path: '/Users', bulkId: 'a', data: userBody('bulk-a') },
          { method: 'POST', path: '/Users', bulkId: 'b', data: userBody('grace') },
          { method: 'DELETE', path: '/Groups/no-such-group' },
          { method: 'COPY', path: '/Users' },
          // A method named like a property every object has is unknown too, not that property's value.
          { method: 'constructor', path: '/Users' },
        ],
      });
      assert.equal(bulk.status, 200);
      assert.deepEqual(bulk.body.Operations.map((operation: { status: string | number }) => String(operation.status)), ['201', '409', '404', '400', '400']);
      const afterBulk = (await scrape(roster)).body;
      assert.equal(sample(afterBulk, 'roster_scim_operations_total{resource="Bulk",operation="bulk",outcome="success"}'), 1);
      assert.equal(sample(afterBulk, 'roster_scim_operations_total{resource="Users",operation="create",outcome="success"}'), 2);
      assert.equal(sample(afterBulk, 'roster_scim_operations_total{resource="Users",operation="create",outcome="client_error"}'), 1);
      assert.equal(sample(afterBulk, 'roster_scim_operations_total{resource="Groups",operation="delete",outcome="client_error"}'), 1);
      assert.equal(sample(afterBulk, 'roster_scim_operations_total{resource="unknown",operation="unknown",outcome="client_error"}'), 2);
      assert.doesNotMatch(afterBulk, /operation="function/);

      // The process's own metrics come along.
      assert.ok(sample(body, 'process_cpu_user_seconds_total') !== undefined, 'process metrics');
      assert.match(body, /^nodejs_eventloop_lag_seconds /m);
      assert.match(body, /^process_resident_memory_bytes /m);
    } finally {
      await roster.close();
    }
  });

  test('times database statements by kind, and shows the pool on PostgreSQL', async () => {
    const roster = await startTestApp({ database });
    try {
      assert.equal((await roster.request('POST', '/Users', userBody('linus'))).status, 201);
      const before = await scrape(roster);
      const selects = sample(before.body, 'roster_db_query_duration_seconds_count{kind="select",outcome="ok"}') ?? 0;
      const inserts = sample(before.body, 'roster_db_query_duration_seconds_count{kind="insert",outcome="ok"}') ?? 0;
      assert.ok(selects > 0, before.body);
      assert.ok(inserts > 0, 'the create inserted rows');
      assert.ok((sample(before.body, 'roster_db_query_duration_seconds_count{kind="transaction",outcome="ok"}') ?? 0) > 0, 'BEGIN and COMMIT count');
      assert.ok(sample(before.body, 'roster_db_query_duration_seconds_bucket{le="+Inf",kind="select",outcome="ok"}') === selects);

      // A read adds selects and no inserts.
      assert.equal((await roster.request('GET', '/Users')).status, 200);
      const after = await scrape(roster);
      assert.ok((sample(after.body, 'roster_db_query_duration_seconds_count{kind="select",outcome="ok"}') ?? 0) > selects);

      if (database === 'postgres') {
        const size = roster.location.kind === 'postgres' ? roster.location.poolSize : undefined;
        assert.equal(sample(after.body, 'roster_db_pool_max_connections'), size ?? 10, 'ROSTER_DATABASE_POOL_SIZE');
        assert.ok((sample(after.body, 'roster_db_pool_connections{state="idle"}') ?? -1) >= 1, after.body);
        assert.ok(sample(after.body, 'roster_db_pool_connections{state="in_use"}') !== undefined);
        assert.equal(sample(after.body, 'roster_db_pool_waiting'), 0);
        // The list above was a long read (no filter): it ran and gave its connection back.
        assert.equal(sample(after.body, 'roster_db_long_reads{state="running"}'), 0, after.body);
        assert.equal(sample(after.body, 'roster_db_long_reads{state="waiting"}'), 0);
        // Same host as the database here: the clocks agree to well within the warning's second.
        const offset = sample(after.body, 'roster_clock_offset_seconds');
        assert.ok(offset !== undefined && Math.abs(offset) < 1, after.body);
      } else {
        assert.doesNotMatch(after.body, /roster_db_pool/, 'SQLite has no pool');
        assert.doesNotMatch(after.body, /roster_clock_offset_seconds \S/, 'nor a clock of its own to compare with');
      }
    } finally {
      await roster.close();
    }
  });

  test('shows what alerts watch, read from the shared database: the SAML certificates\' expiry, whether the IdP still calls, whether each webhook endpoint keeps up', async () => {
    const roster = await startTestApp({ database });
    try {
      const sp = testKeyPair('roster-sp', 30);
      const configured = await roster.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()], spCertificate: sp.certificate, spPrivateKey: sp.privateKey }, { kind: 'cli' });
      assert.ok(configured.ok);
      const idp = new X509Certificate(testCertificate());
      const ours = new X509Certificate(sp.certificate);
      const first = await scrape(roster);
      assert.equal(sample(first.body, `roster_saml_certificate_expiry_timestamp_seconds{role="idp",fingerprint="${idp.fingerprint256}"}`), Date.parse(idp.validTo) / 1000);
      assert.equal(sample(first.body, `roster_saml_certificate_expiry_timestamp_seconds{role="sp",fingerprint="${ours.fingerprint256}"}`), Date.parse(ours.validTo) / 1000);
      // A next SP key pair during a rollover is apart from the current one: `sp` still says when the current one expires.
      const next = testKeyPair('roster-sp-next');
      const added = await roster.services.saml.rollSpKeys({ add: { certificate: next.certificate, privateKey: next.privateKey } }, { kind: 'cli' });
      assert.ok(added.ok, JSON.stringify(added));
      const rolling = (await scrape(roster)).body;
      const nextFingerprint = new X509Certificate(next.certificate).fingerprint256;
      assert.equal(sample(rolling, `roster_saml_certificate_expiry_timestamp_seconds{role="sp-next",fingerprint="${nextFingerprint}"}`), Date.parse(new X509Certificate(next.certificate).validTo) / 1000);
      assert.equal(sample(rolling, `roster_saml_certificate_expiry_timestamp_seconds{role="sp",fingerprint="${ours.fingerprint256}"}`), Date.parse(ours.validTo) / 1000);
      assert.doesNotMatch(rolling, new RegExp(`role="sp",fingerprint="${nextFingerprint}"`));
      assert.equal(sample(first.body, 'roster_scim_provisioning_enabled'), 1);

      // The IdP's last call: recorded with the activity (written in batches), whatever its answer.
      const before = Date.now();
      assert.equal((await roster.request('GET', '/Users/no-such-id')).status, 404);
      let last: number | undefined;
      for (let tries = 0; tries < 50 && last === undefined; tries += 1) {
        last = sample((await scrape(roster)).body, 'roster_scim_last_request_timestamp_seconds');
        if (last === undefined) await new Promise((resolve) => setTimeout(resolve, 100));
      }
      assert.ok(last !== undefined && last * 1000 >= before - 1000 && last * 1000 <= Date.now(), `last request at ${last}`);

      // An endpoint delivers from its creation on: caught up, then one event behind while no worker runs here.
      const { webhook } = await roster.services.webhooks.create({ url: 'https://app.example.com/hooks/roster-metrics', types: null }, { kind: 'cli' });
      const caughtUp = await scrape(roster);
      assert.equal(sample(caughtUp.body, `roster_webhook_enabled{webhook="${webhook.id}"}`), 1);
      assert.equal(sample(caughtUp.body, `roster_webhook_failed_attempts{webhook="${webhook.id}"}`), 0);
      assert.equal(sample(caughtUp.body, `roster_webhook_lag_seconds{webhook="${webhook.id}"}`), 0);
      assert.equal((await roster.request('POST', '/Users', userBody('lagging'))).status, 201);
      await new Promise((resolve) => setTimeout(resolve, 1100));
      const behind = sample((await scrape(roster)).body, `roster_webhook_lag_seconds{webhook="${webhook.id}"}`) ?? 0;
      assert.ok(behind >= 1 && behind < 30, `lag ${behind}`);
      await roster.services.webhooks.disable(webhook.id, { kind: 'cli' });
      await roster.services.provisioning.disable({ kind: 'cli' });
      const after = await scrape(roster);
      assert.equal(sample(after.body, `roster_webhook_enabled{webhook="${webhook.id}"}`), 0);
      assert.equal(sample(after.body, 'roster_scim_provisioning_enabled'), 0);
      assert.ok(!after.body.includes('app.example.com'), 'no URL in a label');
    } finally {
      await roster.close();
    }
  });

  test('counts password sign-ins by outcome', async () => {
    const roster = await startTestApp({ database });
    try {
      const { password } = await roster.services.administrators.resetPassword('admin', { kind: 'cli' });
      assert.equal((await passwordSignIn(roster, 'admin', 'wrong password')).statusCode, 403);
      assert.equal((await passwordSignIn(roster, 'nobody', 'whatever')).statusCode, 403);
      assert.equal((await passwordSignIn(roster, 'admin', password)).statusCode, 303);
      const { body } = await scrape(roster);
      assert.equal(sample(body, 'roster_sign_ins_total{method="password",outcome="wrong_password"}'), 1);
      assert.equal(sample(body, 'roster_sign_ins_total{method="password",outcome="unknown_login"}'), 1);
      assert.equal(sample(body, 'roster_sign_ins_total{method="password",outcome="success"}'), 1);
    } finally {
      await roster.close();
    }
  });
});

describe('GET /metrics access', () => {
  test('loopback may read it without a token; another address needs an administrator\'s token', async () => {
    const roster = await startTestApp();
    try {
      for (const address of ['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1']) assert.equal((await scrape(roster, { remoteAddress: address })).status, 200, address);

      const anonymous = await scrape(roster, { remoteAddress: OUTSIDE });
      assert.equal(anonymous.status, 401);
      assert.match(JSON.parse(anonymous.body).message, /ROSTER_METRICS_ALLOW/);
      assert.equal((await scrape(roster, { remoteAddress: '::ffff:10.0.0.1' })).status, 401);
      assert.equal((await scrape(roster, { remoteAddress: OUTSIDE, token: 'roster_not-a-token' })).status, 401);

      const admin = await scrape(roster, { remoteAddress: OUTSIDE, token: roster.token });
      assert.equal(admin.status, 200);
      assert.match(admin.body, /^# TYPE roster_http_requests_total counter$/m);

      assert.equal((await roster.request('POST', '/Users', userBody('reader'))).status, 201);
      const user = await roster.services.accounts.findByLogin('reader');
      assert.ok(user);
      const userToken = await roster.tokenFor(user.id, 'reader-token');
      const refused = await scrape(roster, { remoteAddress: OUTSIDE, token: userToken });
      assert.equal(refused.status, 403);
      assert.equal(JSON.parse(refused.body).message, 'Insufficient privileges');
    } finally {
      await roster.close();
    }
  });

  test('a request a proxy forwarded from loopback needs a token: the client is whoever reached the proxy', async () => {
    const roster = await startTestApp();
    try {
      for (const headers of [{ 'x-forwarded-for': '203.0.113.9' }, { forwarded: 'for=203.0.113.9' }, { 'x-real-ip': '203.0.113.9' }, { via: '1.1 proxy' }]) {
        const proxied = await scrape(roster, { remoteAddress: '127.0.0.1', headers });
        assert.equal(proxied.status, 401, JSON.stringify(headers));
        assert.match(JSON.parse(proxied.body).message, /not through a proxy/);
        assert.equal((await scrape(roster, { remoteAddress: '127.0.0.1', headers, token: roster.token })).status, 200);
      }
      assert.equal((await scrape(roster, { remoteAddress: '127.0.0.1' })).status, 200);
    } finally {
      await roster.close();
    }
  });

  test('from a trusted proxy (ROSTER_TRUSTED_PROXIES), the client the proxy names is the one ROSTER_METRICS_ALLOW judges', async () => {
    const roster = await startTestApp({ trustedProxies: [{ address: '127.0.0.1', prefix: 32, family: 'ipv4' }], metricsAllow: [{ address: '10.0.0.0', prefix: 8, family: 'ipv4' }] });
    try {
      assert.equal((await scrape(roster, { remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': '10.1.2.3' } })).status, 200);
      assert.equal((await scrape(roster, { remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': '203.0.113.9' } })).status, 401);
      // An untrusted peer cannot name another address.
      assert.equal((await scrape(roster, { remoteAddress: '203.0.113.9', headers: { 'x-forwarded-for': '10.1.2.3' } })).status, 401);
    } finally {
      await roster.close();
    }
  });

  test('a trusted proxy on loopback that names no client in X-Forwarded-For does not make its clients loopback', async () => {
    // nginx on the same host with only `proxy_set_header X-Real-IP $remote_addr;`.
    const roster = await startTestApp({ trustedProxies: [{ address: '127.0.0.1', prefix: 32, family: 'ipv4' }] });
    try {
      for (const headers of [{ 'x-real-ip': '203.0.113.9' }, { forwarded: 'for=203.0.113.9' }, { via: '1.1 nginx' }, { 'x-forwarded-for': '' }, { 'x-forwarded-for': ' , ' }]) {
        const proxied = await scrape(roster, { remoteAddress: '127.0.0.1', headers });
        assert.equal(proxied.status, 401, JSON.stringify(headers));
        assert.equal((await scrape(roster, { remoteAddress: '127.0.0.1', headers, token: roster.token })).status, 200);
      }
      // A client on loopback that the proxy names is loopback; a direct scrape still needs nothing.
      assert.equal((await scrape(roster, { remoteAddress: '127.0.0.1', headers: { 'x-forwarded-for': '127.0.0.1' } })).status, 200);
      assert.equal((await scrape(roster, { remoteAddress: '127.0.0.1' })).status, 200);
    } finally {
      await roster.close();
    }
  });

  test('ROSTER_METRICS_ALLOW replaces loopback with its addresses and ranges', async () => {
    const roster = await startTestApp({ metricsAllow: [{ address: '10.0.0.0', prefix: 8, family: 'ipv4' }, { address: '2001:db8::', prefix: 32, family: 'ipv6' }] });
    try {
      assert.equal((await scrape(roster, { remoteAddress: '10.20.30.40' })).status, 200);
      assert.equal((await scrape(roster, { remoteAddress: '2001:db8::5' })).status, 200);
      assert.equal((await scrape(roster, { remoteAddress: '127.0.0.1' })).status, 401);
      assert.equal((await scrape(roster, { remoteAddress: '127.0.0.1', token: roster.token })).status, 200);
    } finally {
      await roster.close();
    }
  });

  test('each app counts its own requests: two apps in one process do not share or collide', async () => {
    const first = await startTestApp();
    const second = await startTestApp();
    try {
      for (let i = 0; i < 2; i += 1) await first.app.inject({ method: 'GET', url: '/healthz' });
      await second.app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(sample((await scrape(first)).body, 'roster_http_requests_total{route="/healthz",method="GET",status="200"}'), 2);
      assert.equal(sample((await scrape(second)).body, 'roster_http_requests_total{route="/healthz",method="GET",status="200"}'), 1);
    } finally {
      await first.close();
      await second.close();
    }
  });
});
