/**
 * `returned: request` (RFC 7643 §2.2): such an attribute "is returned in response to any PUT,
 * POST, or PATCH operations if the attribute was specified by the client", and by GET only
 * when `attributes` names it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';

const ACME = 'urn:ietf:params:scim:schemas:extension:acme:2.0:User';
const TEAM = 'urn:example:scim:schemas:team:1.0:Group';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

const ACME_SCHEMA = {
  id: ACME,
  name: 'AcmeUser',
  extends: 'User',
  attributes: [
    { name: 'req', type: 'string', returned: 'request' },
    { name: 'plain', type: 'string' },
    { name: 'badge', type: 'complex', subAttributes: [{ name: 'number', type: 'string' }, { name: 'pin', type: 'string', returned: 'request' }] },
  ],
};
const TEAM_SCHEMA = { id: TEAM, name: 'Team', extends: 'Group', attributes: [{ name: 'code', type: 'string', returned: 'request' }] };

eachDatabase('SCIM returned: request attributes', (database) => {
  let roster: TestApp;

  before(async () => {
    roster = await startTestApp({ database });
    assert.equal((await roster.request('POST', '/api/v2/scim-schemas', ACME_SCHEMA)).status, 201);
    assert.equal((await roster.request('POST', '/api/v2/scim-schemas', TEAM_SCHEMA)).status, 201);
  });
  after(async () => {
    await roster.close();
  });

  test('POST and PUT answer with the request attributes they set; GET only when attributes names them', async () => {
    const created = await roster.request('POST', '/Users', userBody('req@x.example', { [ACME]: { req: 'R1', plain: 'P', badge: { number: '7', pin: '1234' } } }));
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body[ACME], { req: 'R1', plain: 'P', badge: { number: '7', pin: '1234' } });

    const read = await roster.request('GET', `/Users/${created.body.id}`);
    assert.deepEqual(read.body[ACME], { plain: 'P', badge: { number: '7' } });
    const named = await roster.request('GET', `/Users/${created.body.id}?attributes=${encodeURIComponent(`${ACME}:req,${ACME}:badge.pin`)}`);
    assert.deepEqual(named.body[ACME], { req: 'R1', badge: { pin: '1234' } });

    const replaced = await roster.request('PUT', `/Users/${created.body.id}`, userBody('req@x.example', { [ACME]: { req: 'R2', badge: { number: '8' } } }));
    assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
    assert.deepEqual(replaced.body[ACME], { req: 'R2', badge: { number: '8' } });

    // attributes and excludedAttributes still apply to what the client set.
    const only = await roster.request('PUT', `/Users/${created.body.id}?attributes=userName`, userBody('req@x.example', { [ACME]: { req: 'R3' } }));
    assert.equal(only.body[ACME], undefined);
    const excluded = await roster.request('PUT', `/Users/${created.body.id}?excludedAttributes=${encodeURIComponent(`${ACME}:req`)}`, userBody('req@x.example', { [ACME]: { req: 'R4', plain: 'P' } }));
    assert.deepEqual(excluded.body[ACME], { plain: 'P' });
  });

  test('PATCH answers with the request attributes its operations set, not with those it left alone', async () => {
    const created = await roster.request('POST', '/Users', userBody('req-patch@x.example', { [ACME]: { req: 'R1', plain: 'P', badge: { number: '7', pin: '1' } } }));
    const id = created.body.id;
    const patch = (Operations: unknown[]) => roster.request('PATCH', `/Users/${id}`, { schemas: [PATCH_OP], Operations });

    const byPath = await patch([{ op: 'replace', path: `${ACME}:req`, value: 'R2' }]);
    assert.equal(byPath.status, 200, JSON.stringify(byPath.body));
    assert.deepEqual(byPath.body[ACME], { req: 'R2', plain: 'P', badge: { number: '7' } });

    const subAttribute = await patch([{ op: 'replace', path: `${ACME}:badge.pin`, value: '2' }]);
    assert.deepEqual(subAttribute.body[ACME], { plain: 'P', badge: { number: '7', pin: '2' } });

    const withoutPath = await patch([{ op: 'replace', value: { [ACME]: { req: 'R3' } } }]);
    assert.deepEqual(withoutPath.body[ACME], { req: 'R3', plain: 'P', badge: { number: '7' } });

    const other = await patch([{ op: 'replace', path: 'title', value: 'Boss' }]);
    assert.equal(other.body.title, 'Boss');
    assert.deepEqual(other.body[ACME], { plain: 'P', badge: { number: '7' } });
  });

  test('a group answers the same way', async () => {
    const created = await roster.request('POST', '/Groups', { displayName: 'Request Team', [TEAM]: { code: 'C1' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.deepEqual(created.body[TEAM], { code: 'C1' });
    assert.equal((await roster.request('GET', `/Groups/${created.body.id}`)).body[TEAM], undefined);
    const patched = await roster.request('PATCH', `/Groups/${created.body.id}?excludedAttributes=members`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'replace', path: `${TEAM}:code`, value: 'C2' }],
    });
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    assert.deepEqual(patched.body[TEAM], { code: 'C2' });
  });
});
