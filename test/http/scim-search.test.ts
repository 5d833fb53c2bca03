import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MAX_INPUT_LENGTH } from '../../src/scim/filter/index.ts';
import { MAX_PROJECTED_PATHS } from '../../src/scim/projection.ts';
import { eachDatabase } from '../support/databases.ts';
import { BASE_URL, SCIM, groupBody, startTestApp, userBody, type TestApp, type TestResponse } from '../support/app.ts';

const SEARCH_REQUEST = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
const ERROR_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:Error';

function assertScimError(response: TestResponse, status: number, scimType: string, detail?: RegExp): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.deepEqual(response.body.schemas, [ERROR_SCHEMA]);
  assert.equal(response.body.status, String(status));
  assert.equal(response.body.scimType, scimType);
  if (detail !== undefined) assert.match(response.body.detail, detail);
}

/** `count` copies of `term` joined by `separator`. */
function repeat(term: string, separator: string, count: number): string {
  return Array.from({ length: count }, () => term).join(separator);
}

/**
 * `term` joined by `separator` as often as fits before `last` within the filter length limit:
 * the longest chain of that shape Roster accepts.
 */
function longest(term: string, separator: string, last: string, open = '', close = ''): { filter: string; terms: number } {
  const room = MAX_INPUT_LENGTH - open.length - close.length - last.length;
  const count = Math.floor(room / (term.length + separator.length));
  const filter = `${open}${repeat(term, separator, count)}${separator}${last}${close}`;
  assert.ok(filter.length <= MAX_INPUT_LENGTH && filter.length > MAX_INPUT_LENGTH - term.length - separator.length, `${filter.length}`);
  return { filter, terms: count + 1 };
}

eachDatabase('SCIM filters and searches', (database) => {
  let roster: TestApp;
  const userIds: string[] = [];
  const groupIds: string[] = [];
  const CERTIFICATE = 'QUJDRA==';

  before(async () => {
    roster = await startTestApp({ database });
    for (let i = 0; i < 3; i += 1) {
      const extra = i === 0 ? { x509Certificates: [{ value: CERTIFICATE }], emails: [{ value: 'zero@work.example', type: 'work' }] } : {};
      const created = await roster.request('POST', '/Users', userBody(`search-${i}@example.com`, extra));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      userIds.push(created.body.id);
    }
    for (let i = 1; i <= 3; i += 1) {
      const created = await roster.request('POST', '/Groups', groupBody(`Sales${i}`, i === 3 ? [userIds[1] ?? ''] : []));
      assert.equal(created.status, 201, JSON.stringify(created.body));
      groupIds.push(created.body.id);
    }
  });
  after(async () => {
    await roster.close();
  });

  async function users(filter: string): Promise<TestResponse> {
    return roster.request('POST', '/Users/.search', { schemas: [SEARCH_REQUEST], filter, count: 1000 });
  }

  async function userNames(filter: string): Promise<string[]> {
    const response = await users(filter);
    assert.equal(response.status, 200, JSON.stringify(response.body).slice(0, 500));
    return response.body.Resources.map((resource: { userName: string }) => resource.userName).sort();
  }

  async function groupNames(filter: string): Promise<string[]> {
    const response = await roster.request('POST', '/Groups/.search', { schemas: [SEARCH_REQUEST], filter });
    assert.equal(response.status, 200, JSON.stringify(response.body).slice(0, 500));
    return response.body.Resources.map((resource: { displayName: string }) => resource.displayName).sort();
  }

  // The local administrator is not SCIM-managed, so /Users lists only these.
  const ALL = ['search-0@example.com', 'search-1@example.com', 'search-2@example.com'];

  describe('long filters run or are refused with 400 invalidFilter, never a 500', () => {
    test('a 1,001-term or filter runs (it was a 500 on SQLite: expression tree too large)', async () => {
      assert.deepEqual(await userNames(repeat('id pr', ' or ', 1001)), ALL);
      const get = await roster.request('GET', `/Users?filter=${encodeURIComponent(repeat('id pr', ' or ', 1001))}`);
      assert.equal(get.status, 200, JSON.stringify(get.body).slice(0, 500));
      assert.equal(get.body.totalResults, ALL.length);
    });

    test('the longest or chain of eq on one attribute runs and matches case-insensitively', async () => {
      const { filter, terms } = longest('userName eq""', 'or ', 'userName eq"SEARCH-1@example.COM"');
      assert.ok(terms > 600, `${terms}`);
      assert.deepEqual(await userNames(filter), ['search-1@example.com']);
    });

    test('the longest or chain of eq on a case-exact attribute runs and compares exactly', async () => {
      const id = userIds[2] ?? '';
      assert.deepEqual(await userNames(longest('id eq""', 'or ', `id eq"${id}"`).filter), ['search-2@example.com']);
      assert.deepEqual(await userNames(longest('id eq""', 'or ', `id eq"${id.toUpperCase()}"`).filter), []);
    });

    test('the longest chains of pr terms run: or, and, mixed, under nested not', async () => {
      assert.deepEqual(await userNames(longest('id pr', ' or ', 'id pr').filter), ALL);
      assert.deepEqual(await userNames(longest('id pr', ' and ', 'userName ne "search-1@example.com"').filter), ['search-0@example.com', 'search-2@example.com']);
      assert.deepEqual(await userNames(longest('id pr and title pr', ' or ', 'userName ew "-0@example.com"').filter), ['search-0@example.com']);
      const even = longest('title pr', ' or ', 'userName eq "search-0@example.com"', 'not ('.repeat(50), ')'.repeat(50));
      assert.deepEqual(await userNames(even.filter), ['search-0@example.com']);
      const odd = longest('title pr', ' or ', 'userName eq "search-0@example.com"', 'not ('.repeat(49), ')'.repeat(49));
      assert.deepEqual(await userNames(odd.filter), ['search-1@example.com', 'search-2@example.com']);
    });

    test('100 comparisons other than eq and pr run, mixed with any number of eq; the 101st is 400 invalidFilter naming the limit', async () => {
      const hundred = `${repeat('id sw""', ' or ', 99)} or userName co "-2@"`;
      assert.deepEqual(await userNames(hundred), ALL);
      const mixed = `${repeat('externalId ew"x"', ' or ', 99)} or ${repeat('userName eq "nobody"', ' or ', 300)} or userName co "-2@"`;
      assert.deepEqual(await userNames(mixed), ['search-2@example.com']);
      const refused = await roster.request('GET', `/Users?filter=${encodeURIComponent(`${hundred} or title co "x"`)}`);
      assert.equal(refused.status, 400);
      assert.equal(refused.body.scimType, 'invalidFilter');
      assert.match(refused.body.detail, /more than 100 comparisons other than eq and pr \('co' here\)/);
    });

    test('value filters with the most terms run: emails[type eq … or …], members[value eq … or …]', async () => {
      const emails = longest('type eq"home"', 'or ', 'type eq "WORK"', 'emails[', ']');
      assert.deepEqual(await userNames(emails.filter), ['search-0@example.com']);
      const values = longest('value eq"x"', 'or ', 'value eq "ZERO@work.example"', 'emails[', ']');
      assert.deepEqual(await userNames(values.filter), ['search-0@example.com']);
      const members = longest('value eq"x"', ' or ', `value eq "${userIds[1] ?? ''}"`, 'members[', ']');
      assert.deepEqual(await groupNames(members.filter), ['Sales3']);
      assert.deepEqual(await groupNames(longest('displayName eq"x"', 'or ', 'displayName eq "sales2"').filter), ['Sales2']);
    });

    for (const terms of [5000, 100_000]) {
      test(`a ${terms.toLocaleString('en')}-term or filter is 400 invalidFilter: longer than the filter limit`, async () => {
        const filter = repeat('id pr', ' or ', terms);
        assertScimError(await users(filter), 400, 'invalidFilter', new RegExp(`at most ${MAX_INPUT_LENGTH} are accepted`));
      });
    }
  });

  describe('POST /.search reads a SearchRequest (RFC 7644 §3.4.3) strictly', () => {
    test('keys are read in any case: {"FILTER": …} filters (it returned every group)', async () => {
      const response = await roster.request('POST', '/Groups/.search', { SCHEMAS: [SEARCH_REQUEST], FILTER: 'displayName eq "Sales3"', Count: 5, sortorder: 'descending' });
      assert.equal(response.status, 200, JSON.stringify(response.body));
      assert.deepEqual(response.body.Resources.map((group: { displayName: string }) => group.displayName), ['Sales3']);
      const users = await roster.request('POST', '/Users/.search', { schemas: [SEARCH_REQUEST], Filter: 'userName eq "search-1@example.com"', ATTRIBUTES: ['userName'] });
      assert.equal(users.status, 200, JSON.stringify(users.body));
      assert.equal(users.body.totalResults, 1);
      assert.deepEqual(Object.keys(users.body.Resources[0]).sort(), ['id', 'schemas', 'userName']);
    });

    for (const endpoint of ['/Users/.search', '/Groups/.search', '/.search']) {
      test(`POST ${endpoint}: a list parameter in the URL is 400 invalidSyntax saying to move it into the body (it was ignored: every resource)`, async () => {
        const filter = encodeURIComponent('id eq "no-such-id"');
        assertScimError(await roster.request('POST', `${endpoint}?filter=${filter}`, { schemas: [SEARCH_REQUEST] }), 400, 'invalidSyntax', /move filter into the SearchRequest/);
        assertScimError(await roster.request('POST', `${endpoint}?Count=1&sortBy=id`, { schemas: [SEARCH_REQUEST] }), 400, 'invalidSyntax', /move count, sortBy into/);
        // Other query parameters (Entra ID's feature flags) are not list parameters: still fine.
        const flagged = await roster.request('POST', `${endpoint}?aadOptscim062020`, { schemas: [SEARCH_REQUEST], filter: 'id eq "no-such-id"' });
        assert.equal(flagged.status, 200, JSON.stringify(flagged.body));
        assert.equal((flagged.body as { totalResults: number }).totalResults, 0);
      });
    }

    for (const endpoint of ['/Users/.search', '/Groups/.search']) {
      test(`POST ${endpoint}: an unknown key is 400 invalidSyntax, never ignored`, async () => {
        assertScimError(await roster.request('POST', endpoint, { schemas: [SEARCH_REQUEST], filtr: 'id pr' }), 400, 'invalidSyntax', /"filtr"/);
        assertScimError(await roster.request('POST', endpoint, { schemas: [SEARCH_REQUEST], filter: 'id pr', Operations: [] }), 400, 'invalidSyntax', /"Operations"/);
      });

      test(`POST ${endpoint}: a key given twice in different cases is 400 invalidSyntax`, async () => {
        const body = { schemas: [SEARCH_REQUEST], filter: 'id pr', Filter: 'id eq "x"' };
        assertScimError(await roster.request('POST', endpoint, body), 400, 'invalidSyntax', /"filter" and "Filter"/);
      });

      test(`POST ${endpoint}: schemas, when sent, must be the SearchRequest URN; left out, it is tolerated as in PATCH`, async () => {
        const withoutSchemas = await roster.request('POST', endpoint, { filter: 'id eq "no-such-id"' });
        assert.equal(withoutSchemas.status, 200, JSON.stringify(withoutSchemas.body));
        assert.equal((withoutSchemas.body as { totalResults: number }).totalResults, 0, 'the filter applies');
        assertScimError(await roster.request('POST', endpoint, { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], filter: 'id pr' }), 400, 'invalidSyntax', /SearchRequest/);
        assertScimError(await roster.request('POST', endpoint, { schemas: SEARCH_REQUEST }), 400, 'invalidSyntax', /schemas/);
        assertScimError(await roster.request('POST', endpoint, [{ schemas: [SEARCH_REQUEST] }]), 400, 'invalidSyntax');
        const lowerCase = await roster.request('POST', endpoint, { schemas: [SEARCH_REQUEST.toLowerCase()] });
        assert.equal(lowerCase.status, 200, JSON.stringify(lowerCase.body));
      });
    }
  });

  describe('filter operators follow the attribute type (RFC 7644 §3.4.2.2)', () => {
    for (const op of ['gt', 'ge', 'lt', 'le']) {
      test(`${op} on the binary x509Certificates is 400 invalidFilter (it was an empty 200)`, async () => {
        assertScimError(await users(`x509Certificates ${op} "QUJD"`), 400, 'invalidFilter', new RegExp(`'${op}' does not apply to the binary attribute 'x509Certificates.value'`));
        const get = await roster.request('GET', `/Users?filter=${encodeURIComponent(`x509Certificates.value ${op} "QUJD"`)}`);
        assertScimError(get, 400, 'invalidFilter');
      });
    }

    test('eq, ne, co, sw, ew and pr apply to binary attributes, compared exactly (RFC 7643 §2.3.6)', async () => {
      assert.deepEqual(await userNames(`x509Certificates eq "${CERTIFICATE}"`), ['search-0@example.com']);
      assert.deepEqual(await userNames(`x509Certificates eq "${CERTIFICATE.toLowerCase()}"`), []);
      assert.deepEqual(await userNames('x509Certificates.value sw "QUJ"'), ['search-0@example.com']);
      assert.deepEqual(await userNames('x509Certificates.value co "JDR"'), ['search-0@example.com']);
      assert.deepEqual(await userNames('x509Certificates.value ew "qq=="'), []);
      assert.deepEqual(await userNames('x509Certificates pr'), ['search-0@example.com']);
      // ne on a multi-valued attribute: one certificate other than this one (RFC 7644 §3.4.2.2).
      assert.deepEqual(await userNames(`x509Certificates ne "${CERTIFICATE}"`), []);
      assert.deepEqual(await userNames(`x509Certificates ne "${CERTIFICATE.toLowerCase()}"`), ['search-0@example.com']);
      assert.equal((await userNames(`not (x509Certificates eq "${CERTIFICATE}")`)).length, ALL.length - 1);
    });
  });

  describe(`attributes and excludedAttributes name at most ${MAX_PROJECTED_PATHS} items`, () => {
    // Two names, repeated: what the probe sent to make each page cost its length times the page.
    const names = (count: number) => Array.from({ length: count }, (_, i) => (i % 2 === 0 ? 'userName' : 'emails.value'));

    for (const parameter of ['attributes', 'excludedAttributes'] as const) {
      test(`POST /Users/.search: ${MAX_PROJECTED_PATHS + 1} items in ${parameter} is 400 invalidValue naming the limit`, async () => {
        const response = await roster.request('POST', '/Users/.search', { schemas: [SEARCH_REQUEST], [parameter]: names(MAX_PROJECTED_PATHS + 1) });
        assertScimError(response, 400, 'invalidValue', new RegExp(`^${parameter} names ${MAX_PROJECTED_PATHS + 1} attributes; at most ${MAX_PROJECTED_PATHS}`));
      });

      test(`GET /Users and GET /Groups/:id: ${MAX_PROJECTED_PATHS + 1} items in ${parameter} in the URL are 400 invalidValue`, async () => {
        const query = `${parameter}=${names(MAX_PROJECTED_PATHS + 1).join(',')}`;
        assertScimError(await roster.request('GET', `/Users?${query}`), 400, 'invalidValue', /at most 1000/);
        assertScimError(await roster.request('GET', `/Groups/${groupIds[0] ?? ''}?${query}`), 400, 'invalidValue', /at most 1000/);
      });
    }

    test(`${MAX_PROJECTED_PATHS} items, a name repeated, answer as the name once does`, async () => {
      const once = await roster.request('POST', '/Users/.search', { schemas: [SEARCH_REQUEST], attributes: ['userName', 'emails.value'] });
      const repeated = await roster.request('POST', '/Users/.search', { schemas: [SEARCH_REQUEST], attributes: names(MAX_PROJECTED_PATHS) });
      assert.equal(repeated.status, 200, JSON.stringify(repeated.body).slice(0, 300));
      assert.deepEqual(repeated.body, once.body);
      assert.deepEqual(Object.keys(once.body.Resources[0]).sort(), ['emails', 'id', 'schemas', 'userName']);
      const excluded = (list: string[]) => roster.request('GET', `/Users?excludedAttributes=${encodeURIComponent(list.join(','))}`);
      assert.deepEqual((await excluded(Array.from({ length: 500 }, () => 'emails[type eq "work"]'))).body, (await excluded(['emails[type eq "work"]'])).body);
    });
  });

  describe('meta.location is filterable, as docs/scim.md says', () => {
    test('meta.location eq the URL of a user finds that user, and only with this base URL', async () => {
      const user = (await roster.request('GET', `/Users/${userIds[1] ?? ''}`)).body;
      assert.equal(user.meta.location, `${BASE_URL}${SCIM}/Users/${userIds[1] ?? ''}`);
      assert.deepEqual(await userNames(`meta.location eq "${user.meta.location}"`), ['search-1@example.com']);
      assert.deepEqual(await userNames(`meta.location eq "${user.meta.location}" or meta.location eq "${BASE_URL}${SCIM}/Users/${userIds[2] ?? ''}"`), [
        'search-1@example.com',
        'search-2@example.com',
      ]);
      assert.deepEqual(await userNames(`meta.location eq "https://elsewhere.test${SCIM}/Users/${userIds[1] ?? ''}"`), []);
      assert.deepEqual(await userNames(`meta.location eq "${user.meta.location.toUpperCase()}"`), []);
      assert.deepEqual(await userNames(`meta.location eq "${BASE_URL}${SCIM}/Groups/${userIds[1] ?? ''}"`), []);
      assert.equal((await userNames(`meta.location ne "${user.meta.location}"`)).length, ALL.length - 1);
      assert.deepEqual(await userNames(`meta.location sw "${BASE_URL}${SCIM}/Users/" and meta.location ew "${userIds[2] ?? ''}"`), ['search-2@example.com']);
    });

    test('meta.location works on Groups and sorts like the id', async () => {
      const location = `${BASE_URL}${SCIM}/Groups/${groupIds[0] ?? ''}`;
      assert.deepEqual(await groupNames(`meta.location eq "${location}"`), ['Sales1']);
      const sorted = await roster.request('GET', `/Groups?sortBy=meta.location&sortOrder=descending&attributes=displayName`);
      assert.equal(sorted.status, 200, JSON.stringify(sorted.body));
      assert.deepEqual(sorted.body.Resources.map((group: { id: string }) => group.id), [...groupIds].sort().reverse());
    });
  });
});
