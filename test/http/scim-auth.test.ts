import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestApp, SCIM } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

eachDatabase('SCIM authentication and the SCIM switch', (database) => {

  test('a request without a token is 401 with WWW-Authenticate: Bearer and a SCIM error body', async () => {
    const roster = await startTestApp({ database });
    try {
      const response = await roster.app.inject({ method: 'GET', url: `${SCIM}/Users` });
      assert.equal(response.statusCode, 401);
      assert.match(String(response.headers['www-authenticate']), /^Bearer/);
      const body = JSON.parse(response.body);
      assert.equal(body.status, '401');
      assert.deepEqual(body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
    } finally {
      await roster.close();
    }
  });

  test('a wrong or revoked token is 401', async () => {
    const roster = await startTestApp({ database });
    try {
      const wrong = await roster.app.inject({ method: 'GET', url: `${SCIM}/Users`, headers: { authorization: 'Bearer roster_nope' } });
      assert.equal(wrong.statusCode, 401);
      await roster.services.tokens.revoke('test-idp', { kind: 'cli' });
      const revoked = await roster.request('GET', '/Users');
      assert.equal(revoked.status, 401);
    } finally {
      await roster.close();
    }
  });

  test('while SCIM provisioning is off, the SCIM endpoint answers 403 saying so', async () => {
    const roster = await startTestApp({ scim: false, database });
    try {
      const response = await roster.request('GET', '/Users');
      assert.equal(response.status, 403);
      assert.match(response.body.detail, /not enabled/);
      // It says how, whichever tool the administrator uses: the console, the CLI or the admin API.
      assert.match(response.body.detail, /in the console \(Authentication › Provisioning: SCIM\), with `npm run roster -- scim enable` or with POST \/api\/scim_management\/enable/);
      await roster.services.provisioning.enable({ kind: 'cli' });
      assert.equal((await roster.request('GET', '/Users')).status, 200);
    } finally {
      await roster.close();
    }
  });

  test('the SCIM switch API refuses to enable SCIM before SAML is configured, then reports the state', async () => {
    const roster = await startTestApp({ saml: false, database });
    try {
      const refused = await roster.request('POST', '/api/scim_management/enable');
      assert.equal(refused.status, 400);
      assert.match(refused.body.message, /SAML/);
      const status = await roster.request('GET', '/api/scim_management/status');
      assert.deepEqual(status.body, { enabled: false });
    } finally {
      await roster.close();
    }
  });

  test('a SCIM request reads its token, its owner, whether the owner is an administrator and the SCIM switch in one statement, and a change of each counts at the next request', async () => {
    const roster = await startTestApp({ database });
    try {
      // The first request of a token also records when it was last used; measure the next.
      assert.equal((await roster.request('GET', '/ServiceProviderConfig')).status, 200);
      const reads: string[] = [];
      const stop = roster.services.store.observeQueries((query) => {
        if (query.kind === 'select') reads.push(query.kind);
      });
      try {
        assert.equal((await roster.request('GET', '/ServiceProviderConfig')).status, 200);
      } finally {
        stop();
      }
      assert.equal(reads.length, 1);
      // Read at every request, not kept: the switch turned off, then the token revoked.
      await roster.services.provisioning.disable({ kind: 'cli' });
      assert.equal((await roster.request('GET', '/ServiceProviderConfig')).status, 403);
      await roster.services.provisioning.enable({ kind: 'cli' });
      assert.equal((await roster.request('GET', '/ServiceProviderConfig')).status, 200);
      await roster.services.tokens.revoke('test-idp', { kind: 'cli' });
      assert.equal((await roster.request('GET', '/ServiceProviderConfig')).status, 401);
    } finally {
      await roster.close();
    }
  });

  test('GET /healthz answers 200', async () => {
    const roster = await startTestApp({ database });
    try {
      const response = await roster.app.inject({ method: 'GET', url: '/healthz' });
      assert.equal(response.statusCode, 200);
    } finally {
      await roster.close();
    }
  });

  test('unknown SCIM paths and unimplemented features answer with SCIM errors', async () => {
    const roster = await startTestApp({ database });
    try {
      const unknown = await roster.request('GET', '/Widgets');
      assert.equal(unknown.status, 404);
      assert.equal(unknown.body.status, '404');
    } finally {
      await roster.close();
    }
  });
});
