/**
 * The audit trail's `actorUser` of a sign-in is the login of the user signed in as, spelled as
 * stored, whatever spelling the IdP asserted or the user typed (logins match regardless of case
 * and Unicode form): so `?actor=<login>` finds every sign-in of that user. `actor` keeps the
 * spelling that came in.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { SCIM, startTestApp, userBody, type TestApp } from '../support/app.ts';
import { passwordSignIn } from '../support/console.ts';
import { eachDatabase } from '../support/databases.ts';
import { signIn } from '../saml/idp.ts';

interface Entry {
  readonly actor: string;
  readonly actorUser: string | null;
  readonly action: string;
}

eachDatabase('sign-ins in the audit trail, however the login was spelled', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database });
  });
  after(() => app.close());

  async function byActor(actor: string, action: string): Promise<Entry[]> {
    const response = await app.request('GET', `/api/v2/audit-logs?actor=${encodeURIComponent(actor)}&action=${action}`);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body.auditLogs as Entry[];
  }

  test('SAML sign-ins asserted in another case or Unicode form are found by the stored login', async () => {
    assert.equal((await app.request('POST', `${SCIM}/Users`, userBody('zoë@contoso.com'))).status, 201);
    // NFD: "e" and a combining diaeresis, upper case, as an IdP may assert it.
    for (const login of ['zoë@contoso.com', 'ZOË@CONTOSO.COM', 'ZOE\u0308@Contoso.com']) {
      assert.equal((await signIn(app, { login })).statusCode, 303, login);
    }
    const found = await byActor('zoë@contoso.com', 'saml.signed_in');
    assert.deepEqual(found.map((entry) => entry.actor).sort(), ['saml:ZOE\u0308@Contoso.com', 'saml:ZOË@CONTOSO.COM', 'saml:zoë@contoso.com'].sort());
    assert.ok(found.every((entry) => entry.actorUser === 'zoë@contoso.com'));
  });

  test('a password sign-in typed in another case is found by the stored login; a refused one keeps the login typed', async () => {
    const password = (await app.services.administrators.resetPassword('admin', { kind: 'cli' })).password;
    assert.equal((await passwordSignIn(app, 'ADMIN', password)).statusCode, 303);
    const found = await byActor('admin', 'session.password_sign_in');
    assert.deepEqual(found.map((entry) => [entry.actor, entry.actorUser]), [['password:ADMIN', 'admin']]);
    assert.equal((await passwordSignIn(app, 'Admin', 'not the password', { remoteAddress: '198.51.100.7' })).statusCode, 403);
    const refused = await byActor('Admin', 'session.password_refused');
    assert.deepEqual(refused.map((entry) => entry.actorUser), ['Admin']);
  });
});
