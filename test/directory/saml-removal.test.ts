/**
 * Removing the SAML configuration (the console's Delete, DELETE /api/v2/authentication/saml): refused while SCIM is on, and never
 * racing a concurrent "turn SCIM on" into SCIM without SAML, on either database.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DirectoryError } from '../../src/errors.ts';
import { startTestApp, testCertificate, TEST_IDP, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

const cli = { kind: 'cli' } as const;

eachDatabase('removing the SAML configuration', (database) => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp({ database, scim: false });
  });
  after(() => app.close());

  async function configure(): Promise<void> {
    assert.ok((await app.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()] }, cli)).ok);
  }

  test('is refused while SCIM is on, with the message that says why, and removes nothing', async () => {
    await configure();
    await app.services.provisioning.enable(cli);
    await assert.rejects(app.services.provisioning.removeSaml(cli), (error: unknown) => error instanceof DirectoryError && /SAML cannot be disabled while SCIM provisioning is on/.test(error.message));
    assert.ok((await app.services.saml.get()) !== undefined);
    await app.services.provisioning.disable(cli);
  });

  test('removes it while SCIM is off, once (false the second time), with an audit entry', async () => {
    await configure();
    assert.equal(await app.services.provisioning.removeSaml(cli), true);
    assert.equal(await app.services.saml.get(), undefined);
    assert.equal(await app.services.provisioning.removeSaml(cli), false);
    const events = await app.services.auditLog.list({ action: 'setting.removed' }, { offset: 0, limit: 5, ascending: false });
    assert.equal(events.total, 1);
  });

  test('DELETE /api/v2/authentication/saml: 204 while SCIM is off, 404 when not configured, 400 with the message while SCIM is on', async () => {
    await configure();
    await app.services.provisioning.enable(cli);
    const refused = await app.request('DELETE', '/api/v2/authentication/saml');
    assert.equal(refused.status, 400);
    assert.match(refused.body.message, /SAML cannot be disabled while SCIM provisioning is on/);
    await app.services.provisioning.disable(cli);
    assert.equal((await app.request('DELETE', '/api/v2/authentication/saml')).status, 204);
    assert.equal(await app.services.saml.get(), undefined);
    const again = await app.request('DELETE', '/api/v2/authentication/saml');
    assert.equal(again.status, 404);
    assert.equal(again.body.message, 'SAML is not configured.');
  });

  test('raced against turning SCIM on, never leaves SCIM on without SAML', async () => {
    for (let round = 0; round < 25; round += 1) {
      await app.services.provisioning.disable(cli);
      await configure();
      await Promise.allSettled([app.services.provisioning.enable(cli), app.services.provisioning.removeSaml(cli)]);
      const scim = await app.services.provisioning.isScimEnabled();
      const saml = await app.services.saml.get();
      assert.ok(!scim || saml !== undefined, `round ${round}: SCIM is on and SAML is gone`);
    }
  });
});
