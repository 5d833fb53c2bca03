/**
 * An assertion is read by the SAML configuration it was checked against: an administrator who
 * changes the configuration (another login attribute, another identity provider) while a
 * sign-in is under way does not have that sign-in's assertion read by rules it was not checked
 * by.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestApp, testCertificate, TEST_IDP } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { signIn } from './idp.ts';

const cli = { kind: 'cli' } as const;

eachDatabase('SAML reconfigured while a sign-in is under way', (database) => {
  test('the sign-in takes its login from the attribute of the configuration that checked its assertion', async () => {
    const roster = await startTestApp({ database, scim: false });
    try {
      assert.ok((await roster.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()], userLoginAttribute: 'login' }, cli)).ok);
      const validate = roster.services.samlSp.validate.bind(roster.services.samlSp);
      // The administrator's change commits once the response was checked, before it is read.
      roster.services.samlSp.validate = async (...args) => {
        const result = await validate(...args);
        assert.ok((await roster.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()], userLoginAttribute: 'upn' }, cli)).ok);
        return result;
      };
      const response = await signIn(roster, { login: 'gus@example.com', attributes: { upn: ['someone-else@example.com'] } });
      assert.equal(response.statusCode, 303, response.body.slice(0, 300));
      assert.notEqual(await roster.services.accounts.findByLogin('gus@example.com'), undefined, 'gus signed in, as the checked configuration reads the assertion');
      assert.equal(await roster.services.accounts.findByLogin('someone-else@example.com'), undefined, 'nobody was signed in by the new rules');
    } finally {
      await roster.close();
    }
  });
});
