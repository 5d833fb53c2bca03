/**
 * Case-insensitive uniqueness and matching give the same answers on SQLite and PostgreSQL for
 * all of Unicode (issue 12): every comparison uses text.ts caseKey, stored beside the value.
 * Before, SQLite's lower() folded ASCII only, so `Émile` and `émile` were two users there.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { groupBody, startTestApp, userBody, type TestApp } from '../support/app.ts';

const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
// The same name in two Unicode forms: é as one code point (NFC), and e + U+0301 (NFD).
const ZOE_NFC = 'Zo\u00eb@example.com';
const ZOE_NFD = 'Zoe\u0308@example.com';

eachDatabase('Unicode case-insensitive names', (database) => {
  let roster: TestApp;
  before(async () => {
    roster = await startTestApp({ database });
  });
  after(async () => {
    await roster.close();
  });

  async function create(userName: string, extra: Record<string, unknown> = {}) {
    return roster.request('POST', '/Users', userBody(userName, extra));
  }

  async function userNames(filter: string, sort = ''): Promise<string[]> {
    const response = await roster.request('GET', `/Users?filter=${encodeURIComponent(filter)}${sort}`);
    assert.equal(response.status, 200, JSON.stringify(response.body));
    return response.body.Resources.map((user: { userName: string }) => user.userName);
  }

  test('Émile and émile are one userName: 409 uniqueness, and userName eq "ÉMILE" finds it', async () => {
    assert.equal((await create('émile@example.com')).status, 201);
    const duplicate = await create('Émile@example.com');
    assert.equal(duplicate.status, 409);
    assert.equal(duplicate.body.scimType, 'uniqueness');
    assert.deepEqual(await userNames('userName eq "ÉMILE@EXAMPLE.COM"'), ['émile@example.com']);
    assert.deepEqual(await userNames('userName sw "ÉMI"'), ['émile@example.com']);
    assert.deepEqual(await userNames('userName co "MILE@"'), ['émile@example.com']);
  });

  test('an or-chain of eq (one IN list) compares case keys, so ÉMILE finds émile on both databases', async () => {
    assert.deepEqual(await userNames('userName eq "ÉMILE@EXAMPLE.COM" or userName eq "nobody@example.com"'), ['émile@example.com']);
    assert.deepEqual(await userNames('emails.value eq "ÉMILE@EXAMPLE.COM" or emails.value eq "NOBODY@EXAMPLE.COM"'), []);
  });

  test('a name in NFC and the same name in NFD are the same user', async () => {
    assert.equal((await create(ZOE_NFC)).status, 201);
    const duplicate = await create(ZOE_NFD);
    assert.equal(duplicate.status, 409);
    assert.deepEqual(await userNames(`userName eq "${ZOE_NFD.toUpperCase()}"`), [ZOE_NFC]);
    // NFC keys: "e" is not a substring of "ë".
    assert.deepEqual(await userNames('userName sw "zoe"'), []);
  });

  test('STRASSE, straße and STRAẞE are one userName (full case folding: ß is ss)', async () => {
    assert.equal((await create('straße@example.com')).status, 201);
    assert.equal((await create('STRASSE@example.com')).status, 409);
    assert.equal((await create('STRAẞE@example.com')).status, 409);
    assert.deepEqual(await userNames('userName eq "strasse@example.com"'), ['straße@example.com']);
  });

  test('Turkish i: I matches i, the dotless ı only itself, İ only i + U+0307', async () => {
    assert.equal((await create('Işık@example.com')).status, 201);
    assert.equal((await create('işık@example.com')).status, 409, 'I folds to i');
    assert.equal((await create('ışık@example.com')).status, 201, 'ı is a letter of its own');
    assert.equal((await create('İnci@example.com')).status, 201);
    assert.equal((await create('inci@example.com')).status, 201, 'İ does not fold to a plain i');
    assert.equal((await create('i\u0307nci@example.com')).status, 409, 'İ folds to i + combining dot above');
    assert.deepEqual(await userNames('userName eq "işık@EXAMPLE.COM"'), ['Işık@example.com']);
    // Locale-free folding: the capital of ı is I only in Turkish; I itself folds to i.
    assert.deepEqual(await userNames('userName eq "IŞIK@EXAMPLE.COM"'), []);
  });

  test('group displayNames follow the same rule', async () => {
    const created = await roster.request('POST', '/Groups', groupBody('Équipe Größe'));
    assert.equal(created.status, 201);
    const duplicate = await roster.request('POST', '/Groups', groupBody('ÉQUIPE GRÖSSE'));
    assert.equal(duplicate.status, 409);
    assert.equal(duplicate.body.scimType, 'uniqueness');
    const found = await roster.request('GET', `/Groups?filter=${encodeURIComponent('displayName eq "équipe grösse"')}`);
    assert.deepEqual(found.body.Resources.map((group: { id: string }) => group.id), [created.body.id]);
  });

  test('emails and JSON attributes (name.familyName) match regardless of case for all of Unicode', async () => {
    const created = await create('mueller@example.com', {
      name: { familyName: 'Müller', givenName: 'Ölaf' },
      emails: [{ value: 'Ölaf.Müller@Example.com', type: 'work' }],
    });
    assert.equal(created.status, 201);
    assert.deepEqual(await userNames('emails.value eq "ölaf.müller@example.com"'), ['mueller@example.com']);
    assert.deepEqual(await userNames('emails[value sw "ÖLAF" and type eq "WORK"]'), ['mueller@example.com']);
    assert.deepEqual(await userNames('name.familyName eq "MÜLLER"'), ['mueller@example.com']);
    assert.deepEqual(await userNames('name.givenName co "LAF"'), ['mueller@example.com']);
    assert.deepEqual(await userNames('name.familyName gt "mz"'), ['mueller@example.com'], 'ü sorts after z in code-point order');
  });

  test('emails that differ only in Unicode form or case are one value (RFC 7643 §2.4)', async () => {
    const created = await create('forms@example.com', { emails: [{ value: ZOE_NFC, type: 'work' }, { value: ZOE_NFD.toUpperCase(), type: 'work' }] });
    assert.equal(created.status, 201);
    assert.deepEqual(created.body.emails, [{ value: ZOE_NFC, type: 'work' }]);
    const patched = await roster.request('PATCH', `/Users/${created.body.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'replace', path: `emails[value eq "${ZOE_NFD.toUpperCase()}"].type`, value: 'home' }],
    });
    assert.equal(patched.status, 200);
    assert.deepEqual(patched.body.emails, [{ value: ZOE_NFC, type: 'home' }], 'the value filter matched the NFC value');
  });

  test('sorting by userName orders case keys in code-point order, the same on both databases', async () => {
    const names = await userNames('userName co "@example.com"', '&sortBy=userName');
    // Keys: forms, inci, işık (ş is U+015F), i + U+0307 + nci, mueller, strasse, zoë, émile (é is
    // U+00E9), ışık (U+0131).
    assert.deepEqual(names, [
      'forms@example.com',
      'inci@example.com',
      'Işık@example.com',
      'İnci@example.com',
      'mueller@example.com',
      'straße@example.com',
      ZOE_NFC,
      'émile@example.com',
      'ışık@example.com',
    ]);
  });

  test('the admin API search matches names regardless of case for all of Unicode', async () => {
    const page = await roster.request('GET', `/api/v2/users-management/users?q=${encodeURIComponent('ÉMILE')}`);
    assert.equal(page.status, 200);
    assert.deepEqual(page.body.users.map((user: { login: string }) => user.login), ['émile@example.com']);
    const groups = await roster.request('GET', `/api/v2/authorizations/groups?q=${encodeURIComponent('GRÖSSE')}`);
    assert.deepEqual(groups.body.groups.map((group: { name: string }) => group.name), ['Équipe Größe']);
  });

  // Last: the users it creates would show in the lists of the tests above.
  test('userName sw matches by case key over the whole code-point range (an index range plus LIKE)', async () => {
    for (const name of ['ab_c@example.com', 'abzc@example.com', 'Ab@example.com', 'q\uD7FFz@example.com', 'q\uE000@example.com', 'q\u{1F600}@example.com', 'q\u{1F601}@example.com']) {
      assert.equal((await create(name)).status, 201, name);
    }
    const sorted = (names: string[]) => [...names].sort();
    assert.deepEqual(sorted(await userNames('userName sw "AB"')), ['Ab@example.com', 'ab_c@example.com', 'abzc@example.com']);
    assert.deepEqual(await userNames('userName sw "ab_"'), ['ab_c@example.com'], 'LIKE wildcards match literally');
    assert.deepEqual(await userNames('userName sw "q\uD7FF"'), ['q\uD7FFz@example.com'], 'the last character before the surrogates');
    assert.deepEqual(await userNames('userName sw "q\u{1F600}"'), ['q\u{1F600}@example.com'], 'a character outside the BMP');
    assert.deepEqual(sorted(await userNames('userName sw "Q"')), sorted(['q\uD7FFz@example.com', 'q\uE000@example.com', 'q\u{1F600}@example.com', 'q\u{1F601}@example.com']));
  });
});
