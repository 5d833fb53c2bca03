/**
 * The console's Authentication, SCIM and Audit log pages (issue 9), HTTP-level on both
 * databases: the SAML configuration and its rules, the provisioning switch, tokens (the secret
 * shown once), the provisioning activity, the audit filters, and CSRF on every form.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { expiredTestKeyPair, startTestApp, testCertificate, testKeyPair, TEST_IDP, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { getPage, postForm, sessionFor, type ConsoleSession } from '../support/console.ts';

/** The SAML form's fields for the test IdP, as a browser would post them. */
function samlForm(extra: Record<string, string> = {}): Record<string, string> {
  return { providerName: 'Acme SSO', providerId: TEST_IDP.providerId, loginUrl: TEST_IDP.loginUrl, certificates: testCertificate(), ...extra };
}

eachDatabase('Authentication page', (database) => {
  describe('without SAML', () => {
    let app: TestApp;
    let admin: ConsoleSession;
    before(async () => {
      app = await startTestApp({ database, saml: false, scim: false });
      admin = await sessionFor(app, app.adminId);
    });
    after(() => app.close());

    test('says SAML is not configured and the SCIM choice is disabled, saying why', async () => {
      const page = await getPage(app, '/admin/authentication', admin);
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /SAML is not configured/);
      assert.match(page.body, /<button type="submit" class="button primary" disabled aria-describedby="scim-choice-why">Switch to SCIM<\/button>/);
      assert.match(page.body, /id="scim-choice-why">Configure SAML first/);
    });

    test('switching to SCIM anyway is refused with the admin API’s message and status, and SCIM stays off', async () => {
      const response = await postForm(app, '/admin/authentication/provisioning', { mode: 'scim' }, { session: admin });
      assert.equal(response.statusCode, 400, 'the admin API answers this refusal 400 too');
      assert.equal((await app.request('POST', '/api/scim_management/enable', {})).status, 400);
      assert.match(response.body, /SCIM provisioning requires SAML to be configured first/);
      assert.equal(await app.services.provisioning.isScimEnabled(), false);
    });

    test('a form with a wrong field is refused naming the field, and nothing is stored', async () => {
      const response = await postForm(app, '/admin/authentication/saml', samlForm({ loginUrl: 'ftp://idp.example.com/<x>' }), { session: admin });
      assert.equal(response.statusCode, 400);
      assert.match(response.body, /<li><a href="#field-loginUrl">SAML login URL<\/a>: /, 'the summary names the field by its label and links to it');
      assert.match(response.body, /aria-invalid="true"/);
      assert.match(response.body, /ftp:\/\/idp\.example\.com\/&lt;x&gt;/, 'the posted value is kept, escaped');
      assert.equal(await app.services.saml.get(), undefined);
    });

    test("several wrong fields are summed up in the form's order, in words rather than OpenSSL's codes", async () => {
      const response = await postForm(app, '/admin/authentication/saml', samlForm({ providerName: 'n'.repeat(300), providerId: '', certificates: '-----BEGIN CERTIFICATE-----\nMIIB!!\n-----END CERTIFICATE-----', spPrivateKey: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----', spCertificate: '' }), { session: admin });
      assert.equal(response.statusCode, 400);
      const summary = response.body.slice(response.body.indexOf('id="error-summary"'), response.body.indexOf('</ul>', response.body.indexOf('id="error-summary"')));
      const linked = [...summary.matchAll(/<a href="#field-([A-Za-z]+)">/g)].map(([, field]) => field);
      assert.deepEqual(linked, ['providerName', 'providerId', 'certificates', 'spCertificate']);
      assert.match(summary, /its base64 text is damaged/);
      assert.doesNotMatch(response.body, /error:[0-9A-F]{8}|routines::/);
      assert.equal(await app.services.saml.get(), undefined);
    });

    test('creating the configuration stores it, audits it, and enables the SCIM choice', async () => {
      const response = await postForm(app, '/admin/authentication/saml', samlForm(), { session: admin });
      assert.equal(response.statusCode, 303);
      assert.equal(response.headers.location, '/admin/authentication?notice=saml-saved');
      const stored = await app.services.saml.get();
      assert.equal(stored?.providerName, 'Acme SSO');
      assert.equal(stored?.userLoginAttribute, null, 'an empty field takes its default');
      const page = await getPage(app, '/admin/authentication?notice=saml-saved', admin);
      assert.match(page.body, /The SAML configuration is saved/);
      assert.match(page.body, /<code id="sp-metadata-url">http:\/\/localhost:8080\/saml\/metadata<\/code>|<code id="sp-metadata-url">https:\/\/roster\.test\/saml\/metadata<\/code>/);
      assert.match(page.body, /href="\/saml\/validation"/);
      assert.doesNotMatch(page.body, /disabled aria-describedby="scim-choice-why"/);
      const audit = await app.services.auditLog.list({ action: 'setting.changed', actor: 'admin' }, { offset: 0, limit: 5, ascending: false });
      assert.ok(audit.events.some((event) => event.targetId === 'saml' && event.actor === 'session:admin'));
    });

    test('the form is filled in from pasted IdP metadata, and nothing is saved until Save', async () => {
      const base64 = testCertificate().replace(/-----[A-Z ]+-----|\s+/g, '');
      const metadata = `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sts.example.net/tenant/"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>${base64}</X509Certificate></X509Data></KeyInfo></KeyDescriptor><SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sts.example.net/tenant/saml2"/></IDPSSODescriptor></EntityDescriptor>`;
      const before = await app.services.saml.get();
      const filled = await postForm(app, '/admin/authentication/saml/metadata', { metadata }, { session: admin });
      assert.equal(filled.statusCode, 200);
      assert.match(filled.body, /id="field-providerId" name="providerId" type="text" value="https:\/\/sts\.example\.net\/tenant\/"/);
      assert.match(filled.body, /value="https:\/\/sts\.example\.net\/tenant\/saml2"/);
      assert.match(filled.body, /-----BEGIN CERTIFICATE-----/);
      assert.match(filled.body, /Nothing is saved yet/);
      assert.deepEqual(await app.services.saml.get(), before);
      const refused = await postForm(app, '/admin/authentication/saml/metadata', { metadata: '<!DOCTYPE x><x/>' }, { session: admin });
      assert.equal(refused.statusCode, 400);
      assert.match(refused.body, /The metadata cannot be used: the metadata must not contain a DOCTYPE/);
      // Read metadata posts the whole form (its button's formaction): what was typed in the
      // other fields is kept, and only the identity provider's fields are filled in.
      assert.match(filled.body, /<button type="submit" class="button default" formaction="\/admin\/authentication\/saml\/metadata" formnovalidate>Read metadata<\/button>/);
      const typed = { providerName: 'Typed name', providerId: '', loginUrl: '', certificates: '', userLoginAttribute: 'upn', groupAttribute: 'groups', signRequests: '', allowIdpInitiated: 'true', spCertificate: '' };
      const kept = await postForm(app, '/admin/authentication/saml/metadata', { ...typed, metadata }, { session: admin });
      assert.equal(kept.statusCode, 200);
      assert.match(kept.body, /id="field-providerName" name="providerName" type="text" value="Typed name"/);
      assert.match(kept.body, /id="field-userLoginAttribute" name="userLoginAttribute" type="text" value="upn"/);
      assert.match(kept.body, /id="field-groupAttribute" name="groupAttribute" type="text" value="groups"/);
      assert.match(kept.body, /id="field-allowIdpInitiated" name="allowIdpInitiated" value="true" checked/);
      assert.match(kept.body, /id="field-providerId" name="providerId" type="text" value="https:\/\/sts\.example\.net\/tenant\/"/);
      const keptOnError = await postForm(app, '/admin/authentication/saml/metadata', { ...typed, metadata: '<x/>' }, { session: admin });
      assert.equal(keptOnError.statusCode, 400);
      assert.match(keptOnError.body, /value="upn"/);
      assert.deepEqual(await app.services.saml.get(), before);
    });

    test('Enter in a field saves: the form\'s first submit button is a Save; Read metadata with an empty box asks for the metadata in a plain sentence', async () => {
      const page = await getPage(app, '/admin/authentication/saml', admin);
      // The browser presses the form's first submit button on Enter (HTML implicit submission).
      const form = page.body.slice(page.body.indexOf('<form method="post" action="/admin/authentication/saml"'));
      const first = /<button type="submit"[^>]*>([^<]*)<\/button>/.exec(form);
      assert.equal(first?.[1], 'Save');
      assert.doesNotMatch(first?.[0] ?? '', /formaction/);
      const before = await app.services.saml.get();
      const empty = await postForm(app, '/admin/authentication/saml/metadata', { ...samlForm({ userLoginAttribute: 'upn', spPrivateKey: 'a typed key' }), metadata: '  \r\n' }, { session: admin });
      assert.equal(empty.statusCode, 400);
      assert.match(empty.body, /<a href="#field-metadata">SAML metadata \(XML\)<\/a>: Paste the identity provider’s metadata XML first\./);
      assert.doesNotMatch(empty.body, /well-formed|fatalError|root element/);
      assert.match(empty.body, /value="upn"/);
      // The key typed is not written back into the page, and the page says so.
      assert.doesNotMatch(empty.body, /a typed key/);
      assert.match(empty.body, /The key you typed is not sent back to the page: paste it again before you save\./);
      assert.deepEqual(await app.services.saml.get(), before);
    });

    test("malformed metadata is refused in plain words, saying where and what is expected, never in the parser's; the form keeps what was typed", async () => {
      const before = await app.services.saml.get();
      const typed = samlForm({ providerName: 'Typed name', userLoginAttribute: 'upn' });
      // Cut short on copying: the IDPSSODescriptor is not closed (a browser sends CRLF line breaks).
      const cut = '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sts.example.net/">\r\n  <md:IDPSSODescriptor>\r\n</md:EntityDescriptor>';
      const cases: ReadonlyArray<readonly [string, RegExp]> = [
        [cut, /The metadata cannot be used: the metadata is not well-formed XML, at line 3, column 22: the element &lt;md:IDPSSODescriptor&gt; is not closed before &lt;\/md:EntityDescriptor&gt;\. Expected: the identity provider’s federation metadata XML, whole \(one EntityDescriptor document\)\./],
        ['<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"', /not well-formed XML, at line 1, column \d+: it ends before every element is closed, as if cut short when copied\. Expected: the identity provider’s federation metadata XML/],
        ['https://login.example.net/tenant/federationmetadata.xml', /not well-formed XML, at line 1, column 1: it is an address, not the XML document: open the address and paste what it shows\./],
        ['<EntityDescriptor>\n  AT&T Corp.\n</EntityDescriptor>', /not well-formed XML, at line 2, column \d+: an “&amp;” starts no entity; an “&amp;” in text is written “&amp;amp;”\./],
      ];
      for (const [metadata, said] of cases) {
        const refused = await postForm(app, '/admin/authentication/saml/metadata', { ...typed, metadata }, { session: admin });
        assert.equal(refused.statusCode, 400, metadata);
        assert.match(refused.body, said);
        assert.doesNotMatch(refused.body, /fatalError|Reporting|caused|tag mismatch|entity not found/);
        // Beside the field as in the summary, and the form keeps what was typed, the metadata too.
        assert.match(refused.body, /class="field-error"[^>]*>The metadata cannot be used: the metadata is not well-formed XML/);
        assert.match(refused.body, /id="field-providerName" name="providerName" type="text" value="Typed name"/);
        assert.match(refused.body, /value="upn"/);
        assert.match(refused.body, /<details class="metadata-import" open>/);
        assert.match(refused.body, /<textarea id="field-metadata" [^>]*>[^<]*(EntityDescriptor|federationmetadata)[^<]*<\/textarea>/);
      }
      assert.deepEqual(await app.services.saml.get(), before);
    });

    test('metadata listing an expired signing certificate beside the current one fills in the current one and says which was left out', async () => {
      const keyOf = (pem: string): string =>
        `<KeyDescriptor use="signing"><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>${pem.replace(/-----[A-Z ]+-----|\s+/g, '')}</X509Certificate></X509Data></KeyInfo></KeyDescriptor>`;
      const metadata = `<EntityDescriptor xmlns="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sts.example.net/tenant/"><IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">${keyOf(expiredTestKeyPair().certificate)}${keyOf(testCertificate())}<SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sts.example.net/tenant/saml2"/></IDPSSODescriptor></EntityDescriptor>`;
      const filled = await postForm(app, '/admin/authentication/saml/metadata', { metadata }, { session: admin });
      assert.equal(filled.statusCode, 200);
      assert.match(filled.body, /The metadata lists the expired certificate CN=expired-idp, which expired on 2020-02-01 00:00 UTC: it was left out\./);
      const certificatesField = /<textarea[^>]*name="certificates"[^>]*>([^<]*)<\/textarea>/.exec(filled.body)?.[1] ?? '';
      assert.equal(certificatesField.match(/-----BEGIN CERTIFICATE-----/g)?.length, 1);
    });

    test('deleting the configuration while SCIM is off removes it and is audited', async () => {
      await postForm(app, '/admin/authentication/saml', samlForm(), { session: admin });
      const response = await postForm(app, '/admin/authentication/saml/delete', {}, { session: admin });
      assert.equal(response.statusCode, 303);
      assert.equal(await app.services.saml.get(), undefined);
      const audit = await app.services.auditLog.list({ action: 'setting.removed' }, { offset: 0, limit: 5, ascending: false });
      assert.equal(audit.events[0]?.targetId, 'saml');
    });
  });

  describe('with SAML and SCIM on', () => {
    let app: TestApp;
    let admin: ConsoleSession;
    before(async () => {
      app = await startTestApp({ database });
      admin = await sessionFor(app, app.adminId);
    });
    after(() => app.close());

    test('shows the configuration, its certificates and the SP URLs, escaped', async () => {
      const page = await getPage(app, '/admin/authentication', admin);
      assert.equal(page.statusCode, 200);
      assert.match(page.body, /<code>https:\/\/idp\.example\.com\/metadata<\/code>/);
      assert.match(page.body, /<code id="sp-acs-url">https:\/\/roster\.test\/saml\/acs<\/code>/);
      assert.match(page.body, /Valid, \d+ days left/);
      assert.doesNotMatch(page.body, /expires within 30 days/i);
    });

    test('a certificate expiring within 30 days is flagged with a warning', async () => {
      const soon = testKeyPair('expiring-idp', 10).certificate;
      const saved = await app.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate(), soon] }, { kind: 'cli' });
      assert.ok(saved.ok);
      const page = await getPage(app, '/admin/authentication', admin);
      assert.match(page.body, /An identity provider certificate expires within 30 days/);
      assert.match(page.body, /badge-warning">Expires in (9|10) days/);
      await app.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()] }, { kind: 'cli' });
    });

    test('editing keeps the stored SP private key when its field is left empty', async () => {
      const sp = testKeyPair('roster-sp', 365);
      const saved = await app.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()], spCertificate: sp.certificate, spPrivateKey: sp.privateKey }, { kind: 'cli' });
      assert.ok(saved.ok);
      const form = await getPage(app, '/admin/authentication/saml', admin);
      assert.doesNotMatch(form.body, /PRIVATE KEY/, 'the key is never shown');
      const response = await postForm(app, '/admin/authentication/saml', samlForm({ spCertificate: sp.certificate, signRequests: 'true' }), { session: admin });
      assert.equal(response.statusCode, 303);
      const stored = await app.services.saml.get();
      assert.equal(stored?.spPrivateKey, saved.config.spPrivateKey);
      assert.equal(stored?.signRequests, true);
      await app.services.saml.configure({ ...TEST_IDP, certificates: [testCertificate()] }, { kind: 'cli' });
    });

    test('Delete is disabled while SCIM is on, and the request sent anyway is refused', async () => {
      const page = await getPage(app, '/admin/authentication', admin);
      assert.match(page.body, /disabled aria-describedby="delete-saml-why">Delete<\/button>/);
      const response = await postForm(app, '/admin/authentication/saml/delete', {}, { session: admin });
      assert.equal(response.statusCode, 400, 'as DELETE /api/v2/authentication/saml answers it');
      assert.equal((await app.request('DELETE', '/api/v2/authentication/saml')).status, 400);
      assert.match(response.body, /SAML cannot be disabled while SCIM provisioning is on/);
      assert.ok((await app.services.saml.get()) !== undefined);
    });

    test('switching to just-in-time asks for confirmation naming the consequence', async () => {
      const page = await getPage(app, '/admin/authentication?confirm=switch-to-jit', admin);
      assert.match(page.body, /<dialog id="switch-to-jit" class="confirm" aria-labelledby="switch-to-jit-title" open>/);
      assert.match(page.body, /Every SCIM link is removed, and that cannot be undone/);
    });

    test('a switch to just-in-time posted without the confirmation is refused', async () => {
      const response = await postForm(app, '/admin/authentication/provisioning', { mode: 'jit' }, { session: admin });
      assert.equal(response.statusCode, 400);
      assert.match(response.body, /removes every SCIM link/);
      // The page's own way to confirm, not the API's flag or the CLI's option.
      assert.match(response.body, /confirm in its dialog/);
      assert.doesNotMatch(response.body, /--yes|&quot;confirm&quot;/);
      assert.equal(await app.services.provisioning.isScimEnabled(), true);
    });

    test('the provisioning switch without the CSRF token is refused with 403', async () => {
      const response = await postForm(app, '/admin/authentication/provisioning', { mode: 'jit', confirm: 'true' }, { session: admin, csrf: false });
      assert.equal(response.statusCode, 403);
      assert.equal(await app.services.provisioning.isScimEnabled(), true);
      assert.equal((await postForm(app, '/admin/authentication/saml', samlForm(), { session: admin, csrf: false })).statusCode, 403);
      assert.equal((await postForm(app, '/admin/authentication/saml/delete', {}, { session: admin, csrf: false })).statusCode, 403);
    });

    test('confirmed, the switch to just-in-time unlinks users; back to SCIM makes them read-only again', async () => {
      assert.equal((await app.request('POST', '/Users', userBody('linked@example.com'))).status, 201);
      const off = await postForm(app, '/admin/authentication/provisioning', { mode: 'jit', confirm: 'true' }, { session: admin });
      assert.equal(off.statusCode, 303);
      assert.equal(off.headers.location, '/admin/authentication?notice=scim-disabled');
      assert.equal(await app.services.provisioning.isScimEnabled(), false);
      assert.equal((await app.services.accounts.findByLogin('linked@example.com'))?.scimId, null, 'the SCIM link is gone');
      const page = await getPage(app, '/admin/authentication', admin);
      assert.match(page.body, /Users and groups from your identity provider become <strong>read-only here<\/strong>/);
      const on = await postForm(app, '/admin/authentication/provisioning', { mode: 'scim' }, { session: admin });
      assert.equal(on.statusCode, 303);
      assert.equal(await app.services.provisioning.isScimEnabled(), true);
    });

    test('someone who is not an administrator gets 403 and changes nothing', async () => {
      const created = await app.request('POST', '/Users', userBody('member@example.com'));
      assert.equal(created.status, 201);
      const member = await sessionFor(app, (await app.services.accounts.findByLogin('member@example.com'))?.id ?? '');
      assert.equal((await getPage(app, '/admin/authentication', member)).statusCode, 403);
      assert.equal((await postForm(app, '/admin/authentication/provisioning', { mode: 'jit', confirm: 'true' }, { session: member })).statusCode, 403);
      assert.equal(await app.services.provisioning.isScimEnabled(), true);
    });
  });
});

eachDatabase('SCIM page', (database) => {
  let app: TestApp;
  let admin: ConsoleSession;
  before(async () => {
    app = await startTestApp({ database });
    admin = await sessionFor(app, app.adminId);
  });
  after(() => app.close());

  test('shows the SCIM base URL to copy and the tokens with their last use', async () => {
    assert.equal((await app.request('GET', '/Users')).status, 200);
    const page = await getPage(app, '/admin/scim', admin);
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<code id="scim-base-url">https:\/\/roster\.test\/api\/scim\/v2<\/code>/);
    assert.match(page.body, /<strong>test-idp<\/strong><\/td><td>admin<\/td><td><time[^>]*>[^<]+<\/time><\/td><td><time/);
  });

  test('a token created is shown once, then never again', async () => {
    const response = await postForm(app, '/admin/scim/tokens', { name: 'okta', user: 'admin' }, { session: admin });
    assert.equal(response.statusCode, 201);
    assert.equal(response.headers['cache-control'], 'no-store');
    const secret = /<code id="new-token">(roster_[A-Za-z0-9_-]+)<\/code>/.exec(response.body)?.[1];
    assert.ok(secret !== undefined, 'the secret is on the page');
    assert.match(response.body, /cannot show it again/);
    const verified = await app.services.tokens.verify(secret);
    assert.equal(verified?.name, 'okta');
    const later = await getPage(app, '/admin/scim', admin);
    assert.match(later.body, /<strong>okta<\/strong>/);
    assert.ok(!later.body.includes(secret), 'the secret is never shown again');
    assert.doesNotMatch(later.body, /id="new-token"/);
  });

  test('a second live token with the same name is refused with the token service’s message', async () => {
    const response = await postForm(app, '/admin/scim/tokens', { name: 'okta', user: 'admin' }, { session: admin });
    assert.equal(response.statusCode, 409);
    assert.match(response.body, /The token was not created/);
    assert.doesNotMatch(response.body, /id="new-token"/);
  });

  test('a token for an unknown login is refused and none is created', async () => {
    const before = (await app.services.tokens.list()).length;
    const response = await postForm(app, '/admin/scim/tokens', { name: 'nobody', user: 'no-such-user' }, { session: admin });
    assert.equal(response.statusCode, 404);
    assert.match(response.body, /No user has the login &quot;no-such-user&quot;/);
    assert.equal((await app.services.tokens.list()).length, before);
  });

  test('a token form with both fields wrong marks both at once', async () => {
    const before = (await app.services.tokens.list()).length;
    const response = await postForm(app, '/admin/scim/tokens', { name: '  ', user: '' }, { session: admin });
    assert.equal(response.statusCode, 400);
    assert.match(response.body, /id="field-name-error">A token name must be 1 to 100 characters long\.</);
    assert.match(response.body, /id="field-user-error">Enter the login of the user the token acts as\.</);
    assert.match(response.body, /<a href="#field-name">[^<]+<\/a>:[\s\S]*<a href="#field-user">[^<]+<\/a>:/, 'the summary links to both');
    assert.equal((await app.services.tokens.list()).length, before);
  });

  test('revoking a token stops it at once', async () => {
    const secret = await app.tokenFor(app.adminId, 'to-revoke');
    const response = await postForm(app, '/admin/scim/tokens/revoke', { name: 'to-revoke' }, { session: admin });
    assert.equal(response.statusCode, 303);
    assert.equal(response.headers.location, '/admin/scim?notice=token-revoked');
    assert.equal((await app.request('GET', '/Users', undefined, { authorization: `Bearer ${secret}` })).status, 401);
    const page = await getPage(app, '/admin/scim?notice=token-revoked', admin);
    assert.match(page.body, /The token is revoked/);
    assert.match(page.body, /<strong>to-revoke<\/strong>.*badge-neutral">Revoked/s);
  });

  test('token forms without the CSRF token are refused with 403', async () => {
    const before = (await app.services.tokens.list()).length;
    assert.equal((await postForm(app, '/admin/scim/tokens', { name: 'forged', user: 'admin' }, { session: admin, csrf: false })).statusCode, 403);
    assert.equal((await postForm(app, '/admin/scim/tokens/revoke', { name: 'test-idp' }, { session: admin, csrf: false })).statusCode, 403);
    const tokens = await app.services.tokens.list();
    assert.equal(tokens.length, before);
    assert.equal(tokens.find((token) => token.name === 'test-idp')?.revokedAt, null);
  });

  test('the activity lists the last SCIM calls, a failing one with its message, all escaped; Failures filters', async () => {
    assert.equal((await app.request('POST', '/Users', userBody('ada@example.com'))).status, 201);
    assert.equal((await app.request('POST', '/Users', userBody('ADA@example.com'))).status, 409);
    assert.equal((await app.request('GET', `/Users?filter=${encodeURIComponent('userName eq "<script>"')}`)).status, 200);
    assert.equal((await app.request('GET', `/Users/%3Cimg%20src%3Dx%3E`)).status, 404);
    const page = await getPage(app, '/admin/scim', admin);
    assert.match(page.body, /<h2 id="activity-title">Provisioning activity<\/h2>/);
    assert.match(page.body, /<code class="nowrap">POST<\/code><\/td><td><code class="path">\/Users<\/code><\/td><td><span class="badge badge-warning">409<\/span><\/td><td>\d+ ms<\/td><td><span class="nowrap">test-idp<\/span><\/td><td><code>uniqueness<\/code>: [^<]*already/);
    assert.match(page.body, /filter: <code>userName eq &quot;&lt;script&gt;&quot;<\/code>/);
    assert.doesNotMatch(page.body, /<script>"|<img src=x>/);
    const failures = await getPage(app, '/admin/scim?show=failures', admin);
    assert.match(failures.body, /<a href="\/admin\/scim\?show=failures" aria-current="true">Failures<\/a>/);
    assert.match(failures.body, /badge-warning">409/);
    assert.doesNotMatch(failures.body, /badge-success">20\d/);
  });

  test('the activity pages by its cursor', async () => {
    for (let index = 0; index < 26; index += 1) assert.equal((await app.request('GET', `/Users?count=1&startIndex=${index + 1}`)).status, 200);
    const first = await getPage(app, '/admin/scim', admin);
    const next = /<a class="button default" rel="next" href="([^"]+)">Next<\/a>/.exec(first.body)?.[1]?.replace(/&amp;/g, '&');
    assert.ok(next !== undefined && next.startsWith('/admin/scim?cursor='), `next link: ${next}`);
    const second = await getPage(app, next, admin);
    assert.equal(second.statusCode, 200);
    assert.match(second.body, /older requests/);
    assert.match(second.body, /rel="prev" href="\/admin\/scim"/);
    const bad = await getPage(app, '/admin/scim?cursor=%3Cb%3E', admin);
    assert.equal(bad.statusCode, 400);
    assert.doesNotMatch(bad.body, /<b>/);
  });
});

eachDatabase('Audit log page', (database) => {
  let app: TestApp;
  let admin: ConsoleSession;
  before(async () => {
    app = await startTestApp({ database });
    admin = await sessionFor(app, app.adminId);
    assert.equal((await app.request('POST', '/Users', userBody('audited@example.com', { displayName: '<i>Audited</i>' }))).status, 201);
    assert.equal((await app.request('POST', `/Groups`, { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'auditors' })).status, 201);
  });
  after(() => app.close());

  test('lists the entries newest first, escaped, with export links', async () => {
    const page = await getPage(app, '/admin/audit', admin);
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /<code class="nowrap">group\.created<\/code>.*<code class="nowrap">user\.created<\/code>/s);
    assert.match(page.body, /&lt;i&gt;Audited&lt;\/i&gt;/);
    assert.doesNotMatch(page.body, /<i>Audited/);
    assert.match(page.body, /href="\/api\/v2\/audit-logs\/export\?format=csv"/);
    assert.match(page.body, /href="\/api\/v2\/audit-logs\/export\?format=jsonl"/);
  });

  test('a user or group target links to its page, which names it', async () => {
    const user = await app.services.accounts.findByLogin('audited@example.com');
    const page = await getPage(app, '/admin/audit?action=user.created', admin);
    const link = `/admin/users/${user!.id}`;
    assert.ok(page.body.includes(`href="${link}"`), 'the target id links to the user page');
    assert.match((await getPage(app, link, admin)).body, /audited@example\.com/);
    const groups = await getPage(app, '/admin/audit?action=group.created', admin);
    const groupLink = /href="(\/admin\/groups\/[^"]+)"/.exec(groups.body)?.[1];
    assert.ok(groupLink, 'the group target links to its page');
    assert.match((await getPage(app, groupLink, admin)).body, /auditors/);
  });

  test('filters by action, actor, target and time, and the export links carry the filters', async () => {
    const byAction = await getPage(app, '/admin/audit?action=user.*', admin);
    assert.match(byAction.body, /<code class="nowrap">user\.created<\/code>/);
    assert.doesNotMatch(byAction.body, /<code class="nowrap">group\.created<\/code>/);
    assert.match(byAction.body, /href="\/api\/v2\/audit-logs\/export\?format=csv&amp;action=user\.\*"/);
    const byTarget = await getPage(app, '/admin/audit?targetType=group', admin);
    assert.match(byTarget.body, /<code class="nowrap">group\.created<\/code>/);
    assert.doesNotMatch(byTarget.body, /<code class="nowrap">user\.created<\/code>/);
    assert.match(byTarget.body, /<option value="group" selected>group<\/option>/);
    const byActor = await getPage(app, '/admin/audit?actor=nobody-at-all', admin);
    assert.match(byActor.body, /No entry matches these filters/);
    const future = await getPage(app, '/admin/audit?from=2999-01-01', admin);
    assert.match(future.body, /No entry matches these filters/);
    const past = await getPage(app, `/admin/audit?to=2000-01-01&actor=token:test-idp`, admin);
    assert.match(past.body, /No entry matches these filters/);
    const recent = await getPage(app, `/admin/audit?from=2000-01-01&actor=token:test-idp`, admin);
    assert.match(recent.body, /<code class="nowrap">user\.created<\/code>/);
  });

  test('a filter the API refuses is explained on the page with its message', async () => {
    const page = await getPage(app, '/admin/audit?from=yesterday%3Cb%3E', admin);
    assert.equal(page.statusCode, 400);
    assert.match(page.body, /These filters cannot be used/);
    assert.match(page.body, /<a href="#field-from">From<\/a>: Must be an ISO 8601 date/, 'the summary links to the field');
    assert.doesNotMatch(page.body, /yesterday<b>/);
    // No export link that would lead to the export's own refusal.
    assert.doesNotMatch(page.body, /audit-logs\/export/);
    assert.match(page.body, /Correct the filters to export what they select/);
    assert.match((await getPage(app, '/admin/audit?from=2000-01-01', admin)).body, /href="\/api\/v2\/audit-logs\/export\?from=2000-01-01&amp;format=csv"|audit-logs\/export\?[^"]*from=2000-01-01/);
  });

  test('pages by its cursor', async () => {
    for (let index = 0; index < 51; index += 1) assert.equal((await app.request('POST', '/Users', userBody(`u${index}@example.com`))).status, 201);
    const first = await getPage(app, '/admin/audit?action=user.created', admin);
    const next = /rel="next" href="([^"]+)"/.exec(first.body)?.[1]?.replace(/&amp;/g, '&');
    assert.ok(next?.includes('cursor='), `next link: ${next}`);
    const second = await getPage(app, next ?? '', admin);
    assert.equal(second.statusCode, 200);
    assert.match(second.body, /older entries/);
    assert.match(second.body, /<code class="nowrap">user\.created<\/code>/);
    assert.ok(!second.body.includes('u50@example.com'), 'the newest entry is on the first page only');
  });

  test('the export link answers an administrator’s session', async () => {
    const response = await app.app.inject({ method: 'GET', url: '/api/v2/audit-logs/export?format=csv&action=group.created', headers: { cookie: admin.cookie } });
    assert.equal(response.statusCode, 200);
    assert.match(response.body, /group\.created/);
  });

  test('is for administrators only', async () => {
    const member = await sessionFor(app, (await app.services.accounts.findByLogin('audited@example.com'))?.id ?? '');
    assert.equal((await getPage(app, '/admin/audit', member)).statusCode, 403);
  });

  /** The Target cell of the first row of `action` on an audit log page. */
  const cellOf = (body: string, action: string): string => {
    const row = new RegExp(`<code class="nowrap">${action.replace('.', '\\.')}</code></td><td>(.*?)</td>`).exec(body);
    assert.ok(row, `no ${action} row`);
    return row[1] ?? '';
  };

  test("the Target column names what still exists (a user's login, a group's name, an application's name, as they are now) and gives the whole id of what was deleted", async () => {
    const cli = { kind: 'cli' } as const;
    // SCIM is on here: the identity provider creates, renames and deletes.
    const created = await app.request('POST', '/Users', userBody('named-target@example.com'));
    assert.equal(created.status, 201);
    const scimId = (created.body as { id: string }).id;
    const rename = { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'userName', value: 'renamed-target@example.com' }] };
    assert.equal((await app.request('PATCH', `/Users/${scimId}`, rename)).status, 200);
    const userId = (await app.services.accounts.findByLogin('renamed-target@example.com'))?.id;
    const group = await app.request('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'short-lived' });
    const groupId = (await app.services.groupManagement.list({ q: 'short-lived' }, { offset: 0, limit: 1 })).groups[0]?.id;
    assert.ok(userId !== undefined && groupId !== undefined);
    assert.equal((await app.request('DELETE', `/Groups/${(group.body as { id: string }).id}`)).status, 204);
    const { application } = await app.services.applications.create({ name: 'Team <wiki>', redirectUris: ['https://wiki.example.com/cb'], public: false, allowedGroups: [] }, cli);
    const users = (await getPage(app, `/admin/audit?targetId=${userId}`, admin)).body;
    // Created under another login: both entries say what the user is called now.
    for (const action of ['user.created', 'user.updated']) {
      assert.equal(cellOf(users, action), `user<br><a class="target-name" href="/admin/users/${userId}" title="user ${userId}"><bdi>renamed-target@example.com</bdi></a>`);
    }
    const groups = (await getPage(app, `/admin/audit?targetId=${groupId}`, admin)).body;
    assert.equal(cellOf(groups, 'group.created'), `group<br><code class="path">${groupId}</code><br><span class="hint">no longer exists</span>`);
    assert.doesNotMatch(groups, new RegExp(`href="/admin/groups/${groupId}"`));
    const applications = (await getPage(app, `/admin/audit?targetId=${application.clientId}`, admin)).body;
    assert.equal(
      cellOf(applications, 'application.created'),
      `application<br><a class="target-name" href="/admin/applications/${application.clientId}" title="application ${application.clientId}"><bdi>Team &lt;wiki&gt;</bdi></a>`,
    );
  });

  test("the Target column names tokens (revoked ones too) and webhooks (by their URL, its query hidden as in the details), and marks a deleted webhook", async () => {
    const cli = { kind: 'cli' } as const;
    const owner = await app.services.accounts.findByLogin('audited@example.com');
    assert.ok(owner);
    const { record } = await app.services.tokens.create('audit-named-token', cli, owner.id);
    assert.equal(await app.services.tokens.revoke('audit-named-token', cli), true);
    const { webhook } = await app.services.webhooks.create({ url: 'https://hooks.example.com/roster?key=s3cret' }, cli);
    const { webhook: gone } = await app.services.webhooks.create({ url: 'https://gone.example.com/roster' }, cli);
    await app.services.webhooks.remove(gone.id, cli);
    const tokens = (await getPage(app, `/admin/audit?targetId=${record.id}`, admin)).body;
    for (const action of ['token.created', 'token.revoked']) {
      assert.equal(cellOf(tokens, action), `token<br><a class="target-name" href="/admin/scim#tokens-title" title="token ${record.id}"><bdi>audit-named-token</bdi></a>`);
    }
    const hooks = (await getPage(app, `/admin/audit?targetId=${webhook.id}`, admin)).body;
    const cell = cellOf(hooks, 'webhook.created');
    assert.match(cell, new RegExp(`^webhook<br><a class="target-name" href="/admin/webhooks/${webhook.id}" title="webhook ${webhook.id}"><bdi>https://hooks\\.example\\.com/roster\\?\\[query hidden, sha256 [0-9a-f]{12}\\]</bdi></a>$`));
    assert.doesNotMatch(hooks, /s3cret/);
    const deleted = (await getPage(app, `/admin/audit?targetId=${gone.id}`, admin)).body;
    assert.equal(cellOf(deleted, 'webhook.deleted'), `webhook<br><code class="path">${gone.id}</code><br><span class="hint">no longer exists</span>`);
  });
});
