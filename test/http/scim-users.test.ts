import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { eachDatabase } from '../support/databases.ts';
import { startTestApp, userBody, BASE_URL, type TestApp } from '../support/app.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

eachDatabase('SCIM /Users', (database) => {
  let roster: TestApp;
  before(async () => {
    roster = await startTestApp({ database });
  });
  after(async () => {
    await roster.close();
  });

  test('POST /Users creates a user: 201, Location, ETag, meta, and no password in the answer', async () => {
    const response = await roster.request('POST', '/Users', userBody('bjensen@example.com', {
      externalId: 'bjensen-ext',
      name: { givenName: 'Barbara', familyName: 'Jensen' },
      emails: [{ value: 'bjensen@example.com', type: 'work', primary: true }],
      password: 't1meMa$heen',
      [ENTERPRISE]: { employeeNumber: '701984', manager: { value: 'boss-id' } },
    }));
    assert.equal(response.status, 201);
    assert.match(String(response.headers['content-type']), /^application\/scim\+json/);
    const user = response.body;
    assert.ok(user.id);
    assert.equal(response.headers.location, `${BASE_URL}/api/scim/v2/Users/${user.id}`);
    assert.equal(response.headers.etag, user.meta.version);
    assert.equal(user.meta.resourceType, 'User');
    assert.equal(user.meta.location, response.headers.location);
    assert.equal(user.userName, 'bjensen@example.com');
    assert.equal(user.externalId, 'bjensen-ext');
    assert.equal(user.active, true);
    assert.equal(user.password, undefined);
    assert.equal(user[ENTERPRISE].employeeNumber, '701984');
    assert.deepEqual(user.schemas.sort(), ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE].sort());
  });

  test('POST /Users with a userName that differs only in case answers 409 uniqueness', async () => {
    await roster.request('POST', '/Users', userBody('casey@example.com'));
    const response = await roster.request('POST', '/Users', userBody('CASEY@example.com'));
    assert.equal(response.status, 409);
    assert.equal(response.body.scimType, 'uniqueness');
    assert.equal(response.body.status, '409');
    assert.deepEqual(response.body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
    assert.match(response.body.detail, /CASEY@example.com/);
  });

  test('POST /Users without userName answers 400 with a detail naming it', async () => {
    const response = await roster.request('POST', '/Users', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], displayName: 'x' });
    assert.equal(response.status, 400);
    assert.match(response.body.detail, /userName/);
  });

  test('GET /Users/:id reads the user; an unknown id is 404 with a SCIM error', async () => {
    const created = (await roster.request('POST', '/Users', userBody('reader@example.com'))).body;
    const response = await roster.request('GET', `/Users/${created.id}`);
    assert.equal(response.status, 200);
    assert.equal(response.body.userName, 'reader@example.com');
    const missing = await roster.request('GET', '/Users/not-a-uuid-at-all');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.status, '404');
  });

  test('GET /Users?filter=userName eq "…" finds the user regardless of case; no match is an empty list', async () => {
    await roster.request('POST', '/Users', userBody('Finder@Example.com'));
    const found = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName eq "finder@example.com"')}`);
    assert.equal(found.status, 200);
    assert.equal(found.body.totalResults, 1);
    assert.equal(found.body.Resources[0].userName, 'Finder@Example.com');
    assert.deepEqual(found.body.schemas, ['urn:ietf:params:scim:api:messages:2.0:ListResponse']);
    const none = await roster.request('GET', '/Users?filter=userName+eq+%22nobody-0f3a%22');
    assert.equal(none.status, 200);
    assert.equal(none.body.totalResults, 0);
    assert.deepEqual(none.body.Resources, []);
  });

  test('a malformed filter is 400 invalidFilter that says where it broke', async () => {
    const response = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName eq')}`);
    assert.equal(response.status, 400);
    assert.equal(response.body.scimType, 'invalidFilter');
    assert.match(response.body.detail, /character/);
  });

  test('a filter on an unknown attribute is 400 invalidFilter', async () => {
    const response = await roster.request('GET', `/Users?filter=${encodeURIComponent('shoeSize eq 42')}`);
    assert.equal(response.status, 400);
    assert.equal(response.body.scimType, 'invalidFilter');
  });

  test('filters on emails, the enterprise extension and with and/or/not select the right users', async () => {
    await roster.request('POST', '/Users', userBody('f1@corp.example', { emails: [{ value: 'f1@corp.example', type: 'work' }], [ENTERPRISE]: { department: 'Sales' } }));
    await roster.request('POST', '/Users', userBody('f2@corp.example', { emails: [{ value: 'f2@home.example', type: 'home' }], [ENTERPRISE]: { department: 'R&D' } }));
    const byEmail = await roster.request('GET', `/Users?filter=${encodeURIComponent('emails[type eq "work" and value co "@corp.example"]')}`);
    assert.deepEqual(byEmail.body.Resources.map((u: any) => u.userName), ['f1@corp.example']);
    const byDepartment = await roster.request('GET', `/Users?filter=${encodeURIComponent(`${ENTERPRISE}:department eq "r&d"`)}`);
    assert.deepEqual(byDepartment.body.Resources.map((u: any) => u.userName), ['f2@corp.example']);
    const combined = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName sw "f" and not (emails.type eq "home")')}`);
    assert.ok(combined.body.Resources.some((u: any) => u.userName === 'f1@corp.example'));
    assert.ok(!combined.body.Resources.some((u: any) => u.userName === 'f2@corp.example'));
  });

  test('an email sent without primary has none: list filters agree with attributes= value filters', async () => {
    const bob = await roster.request('POST', '/Users', userBody('bob@x.example', { emails: [{ value: 'bob@x.example' }] }));
    const eve = await roster.request('POST', '/Users', userBody('eve@x.example', { emails: [{ value: 'eve@x.example', primary: false }] }));
    assert.equal(bob.status, 201);
    assert.equal(eve.status, 201);
    const names = async (filter: string) => {
      const response = await roster.request('GET', `/Users?filter=${encodeURIComponent(`(${filter}) and userName ew "@x.example"`)}`);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body.Resources.map((user: { userName: string }) => user.userName).sort();
    };
    assert.deepEqual(await names('emails.primary pr and userName eq "bob@x.example"'), []);
    assert.deepEqual(await names('emails.primary pr'), ['eve@x.example']);
    assert.deepEqual(await names('emails[primary pr]'), ['eve@x.example']);
    assert.deepEqual(await names('emails.primary eq false'), ['eve@x.example']);
    assert.deepEqual(await names('not (emails.primary pr)'), ['bob@x.example']);
    for (const [user, shown] of [[bob, undefined], [eve, [{ value: 'eve@x.example', primary: false }]]] as const) {
      const projected = await roster.request('GET', `/Users/${user.body.id}?attributes=${encodeURIComponent('emails[primary pr]')}`);
      assert.deepEqual(projected.body.emails, shown);
    }
  });

  test('ne on a multi-valued attribute matches a user one of whose values differs (RFC 7644 §3.4.2.2)', async () => {
    await roster.request('POST', '/Users', userBody('alice-ne@y.example', { emails: [{ value: 'a@work.example', type: 'work' }, { value: 'a@home.example', type: 'home' }] }));
    await roster.request('POST', '/Users', userBody('wendy-ne@y.example', { emails: [{ value: 'w@work.example', type: 'work' }] }));
    await roster.request('POST', '/Users', userBody('nemo-ne@y.example'));
    const names = async (filter: string) => {
      const response = await roster.request('GET', `/Users?filter=${encodeURIComponent(`(${filter}) and userName ew "-ne@y.example"`)}`);
      assert.equal(response.status, 200, JSON.stringify(response.body));
      return response.body.Resources.map((user: { userName: string }) => user.userName).sort();
    };
    assert.deepEqual(await names('emails.type ne "work"'), ['alice-ne@y.example']);
    assert.deepEqual(await names('emails[type ne "work"]'), ['alice-ne@y.example']);
    assert.deepEqual(await names('not (emails.type eq "work")'), ['nemo-ne@y.example']);
    assert.deepEqual(await names('title ne "Boss"'), ['alice-ne@y.example', 'nemo-ne@y.example', 'wendy-ne@y.example']);
  });

  test('paging with startIndex and count visits every user exactly once, with exact totalResults', async () => {
    for (let i = 0; i < 7; i += 1) await roster.request('POST', '/Users', userBody(`page-${i}@paging.example`));
    const seen: string[] = [];
    let total = -1;
    for (let start = 1; ; start += 3) {
      const page = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName ew "@paging.example"')}&startIndex=${start}&count=3`);
      total = page.body.totalResults;
      assert.equal(page.body.startIndex, start);
      seen.push(...page.body.Resources.map((u: any) => u.userName));
      if (page.body.Resources.length < 3) break;
    }
    assert.equal(total, 7);
    assert.equal(seen.length, 7);
    assert.equal(new Set(seen).size, 7);
  });

  test('sortBy and sortOrder order the list', async () => {
    for (const name of ['s-b', 's-c', 's-a']) await roster.request('POST', '/Users', userBody(`${name}@sort.example`));
    const response = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName ew "@sort.example"')}&sortBy=userName&sortOrder=descending`);
    assert.deepEqual(response.body.Resources.map((u: any) => u.userName), ['s-c@sort.example', 's-b@sort.example', 's-a@sort.example']);
  });

  test('sortBy across pages keeps the order of one page: every user once, ties by id, absent values last', async () => {
    const titles = ['b', 'a', null, 'b', 'c', null, 'a'];
    for (const [i, title] of titles.entries()) {
      await roster.request('POST', '/Users', userBody(`p${i}@sortpages.example`, title === null ? {} : { title }));
    }
    const filter = encodeURIComponent('userName ew "@sortpages.example"');
    const whole = (await roster.request('GET', `/Users?filter=${filter}&sortBy=title`)).body.Resources.map((u: any) => u.id);
    assert.deepEqual(
      (await Promise.all(whole.map(async (id: string) => (await roster.request('GET', `/Users/${id}`)).body.title ?? null))),
      ['a', 'a', 'b', 'b', 'c', null, null],
    );
    const paged: string[] = [];
    for (let start = 1; start <= titles.length; start += 2) {
      const page = await roster.request('GET', `/Users?filter=${filter}&sortBy=title&startIndex=${start}&count=2`);
      paged.push(...page.body.Resources.map((u: any) => u.id));
    }
    assert.deepEqual(paged, whole);
  });

  test('attributes and excludedAttributes shape the returned resources; id is always returned', async () => {
    await roster.request('POST', '/Users', userBody('shape@example.com', { displayName: 'Shape', title: 'Boss' }));
    const filter = encodeURIComponent('userName eq "shape@example.com"');
    const only = await roster.request('GET', `/Users?filter=${filter}&attributes=displayName`);
    const resource = only.body.Resources[0];
    assert.equal(resource.displayName, 'Shape');
    assert.ok(resource.id);
    assert.equal(resource.title, undefined);
    assert.equal(resource.userName, undefined);
    const excluded = await roster.request('GET', `/Users?filter=${filter}&excludedAttributes=title`);
    assert.equal(excluded.body.Resources[0].title, undefined);
    assert.equal(excluded.body.Resources[0].displayName, 'Shape');
  });

  test('POST /Users/.search takes the same parameters in a body', async () => {
    await roster.request('POST', '/Users', userBody('searched@example.com'));
    const response = await roster.request('POST', '/Users/.search', {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'],
      filter: 'userName eq "searched@example.com"',
      attributes: ['userName'],
      startIndex: 1,
      count: 10,
    });
    assert.equal(response.status, 200);
    assert.equal(response.body.totalResults, 1);
    assert.equal(response.body.Resources[0].userName, 'searched@example.com');
  });

  test('PUT /Users/:id replaces the user and changes meta.version', async () => {
    const created = (await roster.request('POST', '/Users', userBody('put@example.com', { title: 'Old', nickName: 'Nick' }))).body;
    const response = await roster.request('PUT', `/Users/${created.id}`, userBody('put@example.com', { title: 'New' }));
    assert.equal(response.status, 200);
    assert.equal(response.body.title, 'New');
    assert.equal(response.body.nickName, undefined);
    assert.notEqual(response.body.meta.version, created.meta.version);
    assert.equal(response.body.meta.created, created.meta.created);
  });

  test('PATCH /Users/:id replaces a work email through a value path, creating it when missing', async () => {
    const created = (await roster.request('POST', '/Users', userBody('patch@example.com'))).body;
    const response = await roster.request('PATCH', `/Users/${created.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [
        { op: 'replace', path: 'emails[type eq "work"].value', value: 'patch@work.example' },
        { op: 'add', path: 'title', value: 'Engineer' },
        { op: 'replace', path: `${ENTERPRISE}:department`, value: 'Ops' },
      ],
    });
    assert.equal(response.status, 200);
    assert.deepEqual(response.body.emails.map((e: any) => [e.type, e.value]), [['work', 'patch@work.example']]);
    assert.equal(response.body.title, 'Engineer');
    assert.equal(response.body[ENTERPRISE].department, 'Ops');
    const found = await roster.request('GET', `/Users?filter=${encodeURIComponent('emails.value eq "PATCH@work.example"')}`);
    assert.equal(found.body.totalResults, 1);
  });

  test('PATCH that targets id or meta is 400 mutability and changes nothing', async () => {
    const created = (await roster.request('POST', '/Users', userBody('immutable@example.com'))).body;
    for (const path of ['id', 'meta.created']) {
      const response = await roster.request('PATCH', `/Users/${created.id}`, {
        schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
        Operations: [{ op: 'replace', path, value: 'x' }],
      });
      assert.equal(response.status, 400, path);
      assert.equal(response.body.scimType, 'mutability', path);
    }
    const after = (await roster.request('GET', `/Users/${created.id}`)).body;
    assert.equal(after.meta.version, created.meta.version);
  });

  test('PATCH active=false keeps the user visible as inactive; active=true restores it', async () => {
    const created = (await roster.request('POST', '/Users', userBody('soft@example.com'))).body;
    const off = await roster.request('PATCH', `/Users/${created.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'Replace', path: 'active', value: 'False' }],
    });
    assert.equal(off.status, 200);
    assert.equal(off.body.active, false);
    const filtered = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName eq "soft@example.com" and active eq false')}`);
    assert.equal(filtered.body.totalResults, 1);
    const on = await roster.request('PATCH', `/Users/${created.id}`, {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
      Operations: [{ op: 'replace', value: { active: true } }],
    });
    assert.equal(on.body.active, true);
  });

  test('If-Match with a stale version is 412; the current version is accepted; If-None-Match gives 304', async () => {
    const created = (await roster.request('POST', '/Users', userBody('etag@example.com'))).body;
    const patch = { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'title', value: 'A' }] };
    const first = await roster.request('PATCH', `/Users/${created.id}`, patch, { 'if-match': created.meta.version });
    assert.equal(first.status, 200);
    const stale = await roster.request('PATCH', `/Users/${created.id}`, { ...patch, Operations: [{ op: 'replace', path: 'title', value: 'B' }] }, { 'if-match': created.meta.version });
    assert.equal(stale.status, 412);
    const unchanged = await roster.request('GET', `/Users/${created.id}`, undefined, { 'if-none-match': first.body.meta.version });
    assert.equal(unchanged.status, 304);
    const current = await roster.request('GET', `/Users/${created.id}`);
    assert.equal(current.body.title, 'A');
  });

  test('DELETE /Users/:id answers 204; the id is then 404, and the userName can be provisioned again', async () => {
    const created = (await roster.request('POST', '/Users', userBody('gone@example.com'))).body;
    const deleted = await roster.request('DELETE', `/Users/${created.id}`, undefined, { 'content-type': 'application/scim+json; charset=utf-8' });
    assert.equal(deleted.status, 204);
    assert.equal((await roster.request('GET', `/Users/${created.id}`)).status, 404);
    assert.equal((await roster.request('DELETE', `/Users/${created.id}`)).status, 404);
    const again = await roster.request('POST', '/Users', userBody('gone@example.com'));
    assert.equal(again.status, 201);
    assert.notEqual(again.body.id, created.id);
    assert.equal(again.body.active, true);
  });

  test('attributes and excludedAttributes shape the answers of POST, PUT and PATCH /Users; password is never returned', async () => {
    const created = await roster.request('POST', '/Users?attributes=userName,password', userBody('writes@example.com', { password: 'S3cret!', title: 'T' }));
    assert.equal(created.status, 201);
    assert.deepEqual(Object.keys(created.body).sort(), ['id', 'schemas', 'userName']);
    const id = created.body.id;
    const read = await roster.request('GET', `/Users/${id}?attributes=password`);
    assert.deepEqual(Object.keys(read.body).sort(), ['id', 'schemas']);
    const put = await roster.request('PUT', `/Users/${id}?excludedAttributes=meta,title`, userBody('writes@example.com', { title: 'U', password: 'x' }));
    assert.equal(put.status, 200);
    assert.equal(put.body.meta, undefined);
    assert.equal(put.body.title, undefined);
    assert.equal(put.body.password, undefined);
    assert.equal(put.body.userName, 'writes@example.com');
    const patch = { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'V' }] };
    const patched = await roster.request('PATCH', `/Users/${id}?attributes=title`, patch);
    assert.deepEqual(patched.body, { schemas: [USER], id, title: 'V' });
  });

  test('count=0 answers only totalResults; a startIndex past the end answers an empty page', async () => {
    for (let i = 0; i < 3; i += 1) await roster.request('POST', '/Users', userBody(`count-${i}@count.example`));
    const filter = encodeURIComponent('userName ew "@count.example"');
    const none = await roster.request('GET', `/Users?filter=${filter}&count=0`);
    assert.equal(none.status, 200);
    assert.equal(none.body.totalResults, 3);
    assert.deepEqual(none.body.Resources, []);
    const beyond = await roster.request('GET', `/Users?filter=${filter}&startIndex=10&count=5`);
    assert.equal(beyond.status, 200);
    assert.equal(beyond.body.totalResults, 3);
    assert.equal(beyond.body.startIndex, 10);
    assert.equal(beyond.body.itemsPerPage, 0);
    assert.deepEqual(beyond.body.Resources, []);
  });

  test('filters: externalId is case-exact, pr on a complex attribute, groups.value, meta.version as the ETag reads', async () => {
    const a = (await roster.request('POST', '/Users', userBody('fa@filters.example', { externalId: 'Ext-A', name: { givenName: 'A' } }))).body;
    const b = (await roster.request('POST', '/Users', userBody('fb@filters.example', { externalId: 'ext-a' }))).body;
    const group = (await roster.request('POST', '/Groups', { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Filtered', members: [{ value: b.id }] })).body;
    const ids = async (filter: string) =>
      (await roster.request('GET', `/Users?filter=${encodeURIComponent(`userName ew "@filters.example" and (${filter})`)}`)).body.Resources.map((u: any) => u.id);
    assert.deepEqual(await ids('externalId eq "Ext-A"'), [a.id]);
    assert.deepEqual(await ids('externalId eq "EXT-A"'), []);
    assert.deepEqual(await ids('name pr'), [a.id]);
    assert.deepEqual(await ids('not (name pr)'), [b.id]);
    assert.deepEqual(await ids(`groups.value eq "${group.id}"`), [b.id]);
    assert.deepEqual(await ids('groups[display eq "filtered"]'), [b.id]);
    await roster.request('PATCH', `/Users/${a.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Versioned' }] });
    const etag = (await roster.request('GET', `/Users/${a.id}`)).headers.etag;
    assert.notEqual(etag, b.meta.version);
    assert.deepEqual(await ids(`meta.version eq ${JSON.stringify(etag)}`), [a.id]);
  });

  test('If-Match guards PUT and DELETE /Users/:id; If-None-Match: * gives 304', async () => {
    const created = (await roster.request('POST', '/Users', userBody('guarded@example.com'))).body;
    const stale = { 'if-match': 'W/"999"' };
    assert.equal((await roster.request('PUT', `/Users/${created.id}`, userBody('guarded@example.com', { title: 'X' }), stale)).status, 412);
    assert.equal((await roster.request('DELETE', `/Users/${created.id}`, undefined, stale)).status, 412);
    assert.equal((await roster.request('GET', `/Users/${created.id}`)).body.active, true);
    assert.equal((await roster.request('GET', `/Users/${created.id}`, undefined, { 'if-none-match': '*' })).status, 304);
    const put = await roster.request('PUT', `/Users/${created.id}`, userBody('guarded@example.com', { title: 'X' }), { 'if-match': created.meta.version });
    assert.equal(put.status, 200);
    assert.equal((await roster.request('DELETE', `/Users/${created.id}`, undefined, { 'if-match': put.body.meta.version })).status, 204);
  });

  test('If-Match on GET /Users/:id: a version it does not name is 412 (RFC 9110 §13.1.1), the current one or * the user', async () => {
    const created = (await roster.request('POST', '/Users', userBody('read-guarded@example.com'))).body;
    const stale = await roster.request('GET', `/Users/${created.id}`, undefined, { 'if-match': 'W/"999"' });
    assert.equal(stale.status, 412, JSON.stringify(stale.body));
    assert.deepEqual(stale.body.schemas, ['urn:ietf:params:scim:api:messages:2.0:Error']);
    assert.match(stale.body.detail, /has changed since version W\/"999"/);
    for (const ifMatch of [created.meta.version, '*', `W/"999", ${created.meta.version}`]) {
      const current = await roster.request('GET', `/Users/${created.id}`, undefined, { 'if-match': ifMatch });
      assert.equal(current.status, 200, ifMatch);
      assert.equal(current.body.userName, 'read-guarded@example.com');
    }
    // If-Match is checked first (RFC 9110 §13.2.2): a stale one is 412 even beside a hitting If-None-Match.
    assert.equal((await roster.request('GET', `/Users/${created.id}`, undefined, { 'if-match': 'W/"999"', 'if-none-match': '*' })).status, 412);
    assert.equal((await roster.request('GET', `/Users/${created.id}`, undefined, { 'if-match': created.meta.version, 'if-none-match': '*' })).status, 304);
  });

  test('PATCH removes a sub-attribute of a complex attribute; adding an email already present changes nothing', async () => {
    const created = (await roster.request('POST', '/Users', userBody('subattr@example.com', {
      name: { givenName: 'Sub', familyName: 'Attr' },
      emails: [{ value: 'subattr@example.com', type: 'work' }],
    }))).body;
    const removed = await roster.request('PATCH', `/Users/${created.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'name.givenName' }] });
    assert.deepEqual(removed.body.name, { familyName: 'Attr' });
    const again = await roster.request('PATCH', `/Users/${created.id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'add', path: 'emails', value: [{ value: 'subattr@example.com', type: 'work' }] }],
    });
    assert.equal(again.status, 200);
    assert.deepEqual(again.body.emails, [{ value: 'subattr@example.com', type: 'work' }]);
    assert.equal(again.body.meta.version, removed.body.meta.version);
  });

  test('renaming a user to a userName already taken, by PUT or PATCH, is 409 uniqueness', async () => {
    await roster.request('POST', '/Users', userBody('taken@example.com'));
    const created = (await roster.request('POST', '/Users', userBody('free@example.com'))).body;
    const put = await roster.request('PUT', `/Users/${created.id}`, userBody('TAKEN@example.com'));
    assert.equal(put.status, 409);
    assert.equal(put.body.scimType, 'uniqueness');
    const patch = await roster.request('PATCH', `/Users/${created.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'userName', value: 'Taken@Example.com' }] });
    assert.equal(patch.status, 409);
    assert.equal(patch.body.scimType, 'uniqueness');
    assert.equal((await roster.request('GET', `/Users/${created.id}`)).body.userName, 'free@example.com');
  });

  test('PUT /Users/:id without active, or with active null, leaves a deactivated user deactivated; only active true reactivates', async () => {
    const created = (await roster.request('POST', '/Users', userBody('dormant@example.com'))).body;
    const off = await roster.request('PATCH', `/Users/${created.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
    assert.equal(off.body.active, false);
    const put = await roster.request('PUT', `/Users/${created.id}`, userBody('dormant@example.com', { title: 'Away' }));
    assert.equal(put.status, 200);
    assert.equal(put.body.active, false);
    assert.equal(put.body.title, 'Away');
    const nulled = await roster.request('PUT', `/Users/${created.id}`, userBody('dormant@example.com', { title: 'Away', active: null }));
    assert.equal(nulled.status, 200);
    assert.equal(nulled.body.active, false);
    assert.equal(nulled.body.meta.version, put.body.meta.version, 'nothing changed');
    const removed = await roster.request('PATCH', `/Users/${created.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'remove', path: 'active' }] });
    assert.equal(removed.status, 200);
    assert.equal(removed.body.active, false);
    const inactive = await roster.request('GET', `/Users?filter=${encodeURIComponent('userName eq "dormant@example.com" and active eq false')}`);
    assert.equal(inactive.body.totalResults, 1);
    const on = await roster.request('PUT', `/Users/${created.id}`, userBody('dormant@example.com', { title: 'Back', active: true }));
    assert.equal(on.body.active, true);
    const kept = await roster.request('PUT', `/Users/${created.id}`, userBody('dormant@example.com', { title: 'Here' }));
    assert.equal(kept.body.active, true, 'a PUT without active keeps an active user active too');
  });

  test('POST /Users of a deactivated user: 409 while it is linked; after DELETE it is reactivated as before', async () => {
    const created = (await roster.request('POST', '/Users', userBody('returning@example.com'))).body;
    await roster.request('PATCH', `/Users/${created.id}`, { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'active', value: false }] });
    const linked = await roster.request('POST', '/Users', userBody('returning@example.com'));
    assert.equal(linked.status, 409);
    assert.equal((await roster.request('GET', `/Users/${created.id}`)).body.active, false);
    assert.equal((await roster.request('DELETE', `/Users/${created.id}`)).status, 204);
    const again = await roster.request('POST', '/Users', userBody('returning@example.com'));
    assert.equal(again.status, 201);
    assert.equal(again.body.active, true);
    const stillOff = await roster.request('POST', '/Users', userBody('returning-off@example.com', { active: false }));
    assert.equal(stillOff.body.active, false);
  });

  test('duplicate multi-valued values collapse regardless of case on POST, PUT and PATCH; one primary survives', async () => {
    const created = await roster.request('POST', '/Users', userBody('carol@x.example', {
      emails: [
        { value: 'carol@x.example', type: 'work', display: 'Carol' },
        { value: 'CAROL@x.example', type: 'Work', primary: true },
        { value: 'carol@x.example', type: 'home' },
      ],
      phoneNumbers: [{ value: '+1 555 0100', type: 'work' }, { value: '+1 555 0100', type: 'work' }],
    }));
    assert.equal(created.status, 201);
    assert.deepEqual(created.body.emails, [
      { value: 'carol@x.example', type: 'work', display: 'Carol', primary: true },
      { value: 'carol@x.example', type: 'home' },
    ]);
    assert.deepEqual(created.body.phoneNumbers, [{ value: '+1 555 0100', type: 'work' }]);
    const id = created.body.id;
    const put = await roster.request('PUT', `/Users/${id}`, userBody('carol@x.example', {
      emails: [{ value: 'carol@x.example', type: 'work', primary: true }, { value: 'Carol@X.example', type: 'work', primary: true }],
    }));
    assert.equal(put.status, 200);
    assert.deepEqual(put.body.emails, [{ value: 'carol@x.example', type: 'work', primary: true }]);
    const added = await roster.request('PATCH', `/Users/${id}`, {
      schemas: [PATCH_OP],
      Operations: [{ op: 'add', path: 'emails', value: [{ value: 'CAROL@x.example', type: 'work' }] }],
    });
    assert.equal(added.status, 200);
    assert.deepEqual(added.body.emails, [{ value: 'carol@x.example', type: 'work', primary: true }]);
    assert.equal(added.body.meta.version, put.body.meta.version, 'adding a duplicate changes nothing');
    const stored = (await roster.request('GET', `/Users/${id}`)).body;
    assert.deepEqual(stored.emails, [{ value: 'carol@x.example', type: 'work', primary: true }]);
  });

  test('a 412 names the version the client sent in If-Match, for PUT, PATCH and DELETE', async () => {
    const created = (await roster.request('POST', '/Users', userBody('stale412@example.com'))).body;
    const sent = created.meta.version;
    const changed = await roster.request('PUT', `/Users/${created.id}`, userBody('stale412@example.com', { title: 'Now' }), { 'if-match': sent });
    assert.equal(changed.status, 200);
    const patch = { schemas: [PATCH_OP], Operations: [{ op: 'replace', path: 'title', value: 'Later' }] };
    for (const [method, body] of [['PUT', userBody('stale412@example.com', { title: 'Later' })], ['PATCH', patch], ['DELETE', undefined]] as const) {
      const refused = await roster.request(method, `/Users/${created.id}`, body, { 'if-match': sent });
      assert.equal(refused.status, 412, method);
      assert.equal(refused.body.detail, `User ${created.id} has changed since version ${sent}; fetch it again.`, method);
      assert.ok(!refused.body.detail.includes(changed.body.meta.version), method);
    }
  });

  test('malformed JSON is 400 invalidSyntax', async () => {
    const response = await roster.request('POST', '/Users', '{"userName": ');
    assert.equal(response.status, 400);
    assert.equal(response.body.scimType, 'invalidSyntax');
  });

  test('application/json bodies are accepted as well as application/scim+json', async () => {
    const response = await roster.request('POST', '/Users', userBody('plainjson@example.com'), { 'content-type': 'application/json; charset=utf-8' });
    assert.equal(response.status, 201);
  });
});
