import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { CompiledQuery, sql } from 'kysely';
import type { Store } from '../../src/store/index.ts';
import { eachDatabase, openTestStore } from '../support/databases.ts';
import { compileFilter, compileSortKey, groupValuesIn, MAX_BOUND_VALUES } from '../../src/store/filter-sql.ts';
import { createGroupQueries } from '../../src/store/groups.ts';
import { evaluateFilter, parseFilter, type Filter } from '../../src/scim/filter/index.ts';
import { parseAttributePath } from '../../src/scim/path.ts';
import { ScimError } from '../../src/scim/errors.ts';
import { COMMON_ATTRIBUTES, USER_SCHEMA_DEFINITION, type ResourceTypeName } from '../../src/scim/schemas.ts';
import { foldDocument } from '../../src/scim/keys.ts';
import { caseKey } from '../../src/text.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const BASE = 'https://roster.test/api/scim/v2';

/** What the routes pass: meta.location is this followed by the id. */
function options(resourceType: ResourceTypeName) {
  return { locationBase: `${BASE}/${resourceType}s/` };
}

interface UserFixture {
  id: string;
  scimId: string;
  login: string;
  displayName?: string;
  externalId?: string;
  active: boolean;
  updatedAt: string;
  data: Record<string, unknown>;
  emails: { value: string; type: string; primary?: boolean }[];
}

const USERS: readonly UserFixture[] = [
  {
    id: 'i1',
    scimId: 'u1',
    login: 'BJensen',
    displayName: 'Babs Jensen',
    externalId: 'Ext-1',
    active: true,
    updatedAt: '2024-03-01T08:30:00.000Z',
    data: {
      name: { familyName: 'Jensen', givenName: 'Barbara' },
      displayName: 'Babs Jensen',
      title: 'Tour Guide',
      phoneNumbers: [
        { value: '555-1234', type: 'work' },
        { value: '555-9999', type: 'mobile', primary: true },
      ],
      addresses: [{ type: 'work', locality: 'Hollywood', primary: true }],
      [ENTERPRISE]: { employeeNumber: '701984', manager: { value: 'u2', displayName: 'Jim' } },
    },
    emails: [
      { value: 'bjensen@example.com', type: 'work', primary: true },
      { value: 'babs@jensen.org', type: 'home' },
    ],
  },
  {
    id: 'i2',
    scimId: 'u2',
    login: 'jsmith',
    externalId: 'EXT-2',
    active: false,
    updatedAt: '2024-01-10T00:00:00.000Z',
    data: {
      name: { familyName: 'smith', givenName: 'Jim' },
      phoneNumbers: [{ value: '555-5000', type: 'home' }],
      [ENTERPRISE]: { employeeNumber: '100', department: 'R&D' },
    },
    emails: [{ value: 'jim@corp.example', type: 'work' }],
  },
  {
    id: 'i3',
    scimId: 'u3',
    login: '100%_sure',
    active: true,
    updatedAt: '2024-02-15T12:00:00.000Z',
    data: { name: { familyName: 'Adams' }, title: '' },
    emails: [],
  },
  {
    id: 'i4',
    scimId: 'u4',
    login: 'zed',
    active: true,
    updatedAt: '2024-01-20T00:00:00.000Z',
    data: { name: { familyName: 'de Vries' } },
    emails: [
      { value: 'Zed@Example.com', type: 'other', primary: false },
      { value: 'a@zed.org', type: 'work', primary: true },
    ],
  },
];

const GROUPS = [
  { id: 'gi1', scimId: 'g1', name: 'Admins', externalId: 'gx1', members: ['i1', 'i2'] },
  { id: 'gi2', scimId: 'g2', name: 'Staff', externalId: null, members: ['i1'] },
  { id: 'gi3', scimId: 'g3', name: 'Empty', externalId: null, members: [] },
] as const;

eachDatabase('filter → SQL', (database) => {
  let store: Store;

  before(async () => {
    store = await openTestStore(database);
    const { db, dialect } = store;
    for (const user of USERS) {
      await db
        .insertInto('users')
        .values({
          id: user.id,
          login: user.login,
          login_key: caseKey(user.login),
          display_name: user.displayName ?? null,
          display_name_key: user.displayName === undefined ? null : caseKey(user.displayName),
          email: null,
          active: user.active ? 1 : 0,
          local: 0,
          password_hash: null,
          external_id: user.externalId ?? null,
          scim_data: dialect.toJsonParameter({ ...user.data, emails: user.emails }),
          scim_fold: dialect.toJsonParameter(foldDocument('User', { ...user.data, emails: user.emails })),
          created_at: '2024-01-01T00:00:00.000Z',
          updated_at: user.updatedAt,
          version: 1,
          last_connection_at: null,
        })
        .execute();
      await db.insertInto('scim_users').values({ scim_id: user.scimId, user_id: user.id }).execute();
      for (const [position, email] of user.emails.entries()) {
        await db
          .insertInto('user_emails')
          .values({
            user_id: user.id,
            position,
            value: email.value,
            type: email.type,
            is_primary: email.primary ? 1 : 0,
            display: null,
            value_key: caseKey(email.value),
            type_key: caseKey(email.type),
            display_key: null,
          })
          .execute();
      }
    }
    for (const group of GROUPS) {
      await db
        .insertInto('groups')
        .values({
          id: group.id,
          name: group.name,
          name_key: caseKey(group.name),
          description: null,
          external_id: group.externalId,
          scim_data: dialect.toJsonParameter({}),
          created_at: '2024-01-01T00:00:00.000Z',
          updated_at: '2024-01-01T00:00:00.000Z',
          version: 1,
        })
        .execute();
      await db.insertInto('scim_groups').values({ scim_id: group.scimId, group_id: group.id }).execute();
      for (const member of group.members) {
        await db.insertInto('memberships').values({ group_id: group.id, user_id: member, created_at: '2024-01-01T00:00:00.000Z' }).execute();
      }
    }
  });

  after(async () => {
    await store.close();
  });

  function parse(text: string) {
    const parsed = parseFilter(text);
    if (!parsed.ok) assert.fail(`${text}: ${parsed.error.message}`);
    return parsed.value;
  }

  function usersQuery(text: string) {
    return store.db
      .selectFrom('users as u')
      .innerJoin('scim_users as su', 'su.user_id', 'u.id')
      .select('su.scim_id')
      .where(compileFilter(parse(text), 'User', store.dialect, options('User')))
      .orderBy('su.scim_id');
  }

  async function users(text: string): Promise<string[]> {
    const rows = await usersQuery(text).execute();
    return rows.map((row) => row.scim_id);
  }

  async function groups(text: string): Promise<string[]> {
    const rows = await store.db
      .selectFrom('groups as g')
      .innerJoin('scim_groups as sg', 'sg.group_id', 'g.id')
      .select('sg.scim_id')
      .where(compileFilter(parse(text), 'Group', store.dialect, options('Group')))
      .orderBy('sg.scim_id')
      .execute();
    return rows.map((row) => row.scim_id);
  }

  async function sortedUsers(sortBy: string, descending = false): Promise<string[]> {
    const path = parseAttributePath(sortBy);
    if (!path.ok) assert.fail(path.error.message);
    const rows = await store.db
      .selectFrom('users as u')
      .innerJoin('scim_users as su', 'su.user_id', 'u.id')
      .select('su.scim_id')
      .orderBy(sql`${compileSortKey(path.value, 'User', store.dialect, options('User'))} ${descending ? sql`DESC NULLS FIRST` : sql`ASC NULLS LAST`}`)
      .orderBy('su.scim_id')
      .execute();
    return rows.map((row) => row.scim_id);
  }

  function rejects(text: string, resourceType: ResourceTypeName, detail: RegExp): void {
    assert.throws(
      () => compileFilter(parse(text), resourceType, store.dialect, options(resourceType)),
      (error: unknown) => {
        assert.ok(error instanceof ScimError, String(error));
        assert.equal(error.status, 400);
        assert.equal(error.scimType, 'invalidFilter');
        assert.match(error.message, detail);
        return true;
      },
    );
  }

  describe('compileFilter on Users: userName (case-insensitive, u.login)', () => {
    const cases: readonly [string, string[]][] = [
      ['userName eq "bjensen"', ['u1']],
      ['UserName Eq "BJENSEN"', ['u1']],
      ['userName ne "bjensen"', ['u2', 'u3', 'u4']],
      ['userName co "SMI"', ['u2']],
      ['userName sw "BJ"', ['u1']],
      ['userName ew "ED"', ['u4']],
      ['userName gt "jsmith"', ['u4']],
      ['userName ge "jsmith"', ['u2', 'u4']],
      ['userName lt "bjensen"', ['u3']],
      ['userName le "bjensen"', ['u1', 'u3']],
      ['userName pr', ['u1', 'u2', 'u3', 'u4']],
      ['urn:ietf:params:scim:schemas:core:2.0:User:userName eq "zed"', ['u4']],
    ];
    for (const [filter, expected] of cases) {
      it(filter, async () => assert.deepEqual(await users(filter), expected));
    }
  });

  describe('compileFilter on Users: LIKE wildcards in client values match themselves', () => {
    const cases: readonly [string, string[]][] = [
      ['userName co "%"', ['u3']],
      ['userName co "_"', ['u3']],
      ['userName sw "100%"', ['u3']],
      ['userName ew "%_sure"', ['u3']],
      ['userName co "\\\\"', []],
      ['externalId co "%"', []],
      ['userName co ""', ['u1', 'u2', 'u3', 'u4']],
    ];
    for (const [filter, expected] of cases) {
      it(filter, async () => assert.deepEqual(await users(filter), expected));
    }
  });

  describe('compileFilter on Users: caseExact attributes (id, externalId)', () => {
    const cases: readonly [string, string[]][] = [
      ['id eq "u1"', ['u1']],
      ['id eq "U1"', []],
      ['externalId eq "Ext-1"', ['u1']],
      ['externalId eq "ext-1"', []],
      ['externalId co "xt"', ['u1']],
      ['externalId sw "EXT"', ['u2']],
      ['externalId ew "-1"', ['u1']],
      ['externalId ew "xExt-1"', []],
      ['externalId gt "EXT-2"', ['u1']],
      ['externalId ne "Ext-1"', ['u2', 'u3', 'u4']],
      ['externalId pr', ['u1', 'u2']],
    ];
    for (const [filter, expected] of cases) {
      it(filter, async () => assert.deepEqual(await users(filter), expected));
    }
  });

  describe('compileFilter on Users: a negated lastModified comparison', () => {
    // `not (gt)` read as `le`: the negated `IN` over the ids modified since, which PostgreSQL
    // cannot hash once it holds a million ids, ran for minutes; the `le` form probes each user.
    const sqlOf = (text: string) => usersQuery(text).compile();
    for (const [negated, plain] of [
      ['not (meta.lastModified gt "2024-02-01T00:00:00Z")', 'meta.lastModified le "2024-02-01T00:00:00Z"'],
      ['not (meta.lastModified ge "2024-02-01T00:00:00Z")', 'meta.lastModified lt "2024-02-01T00:00:00Z"'],
      ['not (meta.lastModified lt "2024-02-01T00:00:00Z")', 'meta.lastModified ge "2024-02-01T00:00:00Z"'],
      ['not (meta.lastModified le "2024-02-01T00:00:00Z")', 'meta.lastModified gt "2024-02-01T00:00:00Z"'],
      ['not (not (meta.lastModified gt "2024-02-01T00:00:00Z"))', 'meta.lastModified gt "2024-02-01T00:00:00Z"'],
    ] as const) {
      it(`${negated} is compiled as ${plain}, with the same answer`, async () => {
        assert.equal(sqlOf(negated).sql, sqlOf(plain).sql);
        assert.deepEqual(await users(negated), await users(plain));
      });
    }
  });

  describe('compileFilter on Users: booleans, dates and meta', () => {
    const cases: readonly [string, string[]][] = [
      ['active eq true', ['u1', 'u3', 'u4']],
      ['active eq false', ['u2']],
      ['active ne true', ['u2']],
      ['active pr', ['u1', 'u2', 'u3', 'u4']],
      ['meta.lastModified gt "2024-02-01T00:00:00Z"', ['u1', 'u3']],
      ['meta.lastModified gt "2024-02-15T13:00:00+01:00"', ['u1']],
      ['meta.lastModified ge "2024-02-15T13:00:00+01:00"', ['u1', 'u3']],
      ['meta.lastModified lt "2024-01-15"', ['u2']],
      ['meta.lastModified eq "2024-01-10T00:00:00Z"', ['u2']],
      ['meta.created le "2024-01-01T00:00:00.000Z"', ['u1', 'u2', 'u3', 'u4']],
      ['meta.resourceType eq "User"', ['u1', 'u2', 'u3', 'u4']],
      // Own writes, membership changes, then the sum of the groups' name versions (u1 is in two
      // groups), then, for a user with a manager (u1's is u2), the manager's own version.
      ['meta.version eq "W/\\"1.0.0\\""', ['u3', 'u4']],
      ['meta.version eq "W/\\"1.0.2.1\\""', ['u1']],
      ['meta.version eq "W/\\"1.0.2\\""', []],
      ['meta pr', ['u1', 'u2', 'u3', 'u4']],
      [`meta.location eq "${BASE}/Users/u2"`, ['u2']],
      [`meta.location eq "${BASE}/Users/U2"`, []],
      [`meta.location eq "${BASE}/Groups/u2"`, []],
      [`meta.location eq "https://elsewhere.test/api/scim/v2/Users/u2"`, []],
      [`meta.location eq "${BASE}/Users/u1" or meta.location eq "${BASE}/Users/u4" or meta.location eq "x"`, ['u1', 'u4']],
      [`meta.location ne "${BASE}/Users/u2"`, ['u1', 'u3', 'u4']],
      [`meta.location sw "${BASE}/Users/"`, ['u1', 'u2', 'u3', 'u4']],
      ['meta.location ew "/u3"', ['u3']],
      ['meta.location co "Users/u"', ['u1', 'u2', 'u3', 'u4']],
      ['meta.location pr', ['u1', 'u2', 'u3', 'u4']],
    ];
    for (const [filter, expected] of cases) {
      it(filter, async () => assert.deepEqual(await users(filter), expected));
    }
  });

  describe('compileFilter on Users: JSON attributes, absence, and, or, not', () => {
    const cases: readonly [string, string[]][] = [
      ['name.familyName eq "JENSEN"', ['u1']],
      ['name.familyName gt "b"', ['u1', 'u2', 'u4']],
      ['name.givenName pr', ['u1', 'u2']],
      ['name pr', ['u1', 'u2', 'u3', 'u4']],
      ['displayName eq "babs jensen"', ['u1']],
      ['title pr', ['u1']],
      ['title eq null', ['u2', 'u3', 'u4']],
      ['title ne null', ['u1']],
      ['title ne "Tour Guide"', ['u2', 'u3', 'u4']],
      ['not (title eq "tour guide")', ['u2', 'u3', 'u4']],
      ['not (title co "guide" or title pr)', ['u2', 'u3', 'u4']],
      ['title co "guide" and active eq true', ['u1']],
      ['userName eq "zed" or name.familyName eq "smith"', ['u2', 'u4']],
      ['userName eq "zed" or name.familyName eq "smith" and active eq true', ['u4']],
      ['(userName eq "zed" or name.familyName eq "smith") and active eq false', ['u2']],
      ['not (not (userName eq "zed"))', ['u4']],
    ];
    for (const [filter, expected] of cases) {
      it(filter, async () => assert.deepEqual(await users(filter), expected));
    }
  });

  describe('compileFilter on Users: emails (user_emails side table)', () => {
    const cases: readonly [string, string[]][] = [
      ['emails.value eq "BJENSEN@example.com"', ['u1']],
      ['emails eq "jim@corp.example"', ['u2']],
      ['emails co "example.com"', ['u1', 'u4']],
      ['emails.type eq "home"', ['u1']],
      // RFC 7644 §3.4.2.2: one value matching is enough, for ne too; no email, no match.
      ['emails.type ne "work"', ['u1', 'u4']],
      ['emails ne "jim@corp.example"', ['u1', 'u4']],
      ['not (emails.type eq "work")', ['u3']],
      ['emails.display ne "x"', []],
      ['emails[type ne "work"]', ['u1', 'u4']],
      ['emails.primary eq true', ['u1', 'u4']],
      ['emails pr', ['u1', 'u2', 'u4']],
      ['not (emails pr)', ['u3']],
      ['emails.display pr', []],
      ['emails eq null', ['u3']],
      ['emails[type eq "work" and value co "jensen"]', ['u1']],
      ['emails[type eq "home" and value co "example.com"]', []],
      ['emails[primary eq true and type eq "other"]', []],
      ['emails[type eq "other" or primary eq true]', ['u1', 'u4']],
      ['emails[value eq "zed@example.com" and type eq "other"]', ['u4']],
      ['emails[not (type eq "work")]', ['u1', 'u4']],
      ['not (emails[type eq "work"])', ['u3']],
      // An email without `primary` has none (RFC 7643 §2.5), as the document says: the side
      // table's is_primary is 0 for it and for `"primary": false` (Zed's other email) alike.
      ['emails.primary pr', ['u1', 'u4']],
      ['not (emails.primary pr)', ['u2', 'u3']],
      ['emails[primary pr]', ['u1', 'u4']],
      ['emails.primary eq false', ['u4']],
      ['emails[primary eq false and type eq "other"]', ['u4']],
      ['emails[type eq "home" and not (primary pr)]', ['u1']],
      ['emails[value eq "jim@corp.example" and primary eq null]', ['u2']],
      ['emails.primary eq null', ['u2', 'u3']],
    ];
    for (const [filter, expected] of cases) {
      it(filter, async () => assert.deepEqual(await users(filter), expected));
    }
  });

  describe('compileFilter on Users: phoneNumbers and addresses (JSON arrays)', () => {
    const cases: readonly [string, string[]][] = [
      ['phoneNumbers eq "555-5000"', ['u2']],
      ['phoneNumbers.type eq "HOME"', ['u2']],
      ['phoneNumbers.type ne "home"', ['u1']],
      ['phoneNumbers.primary ne true', []],
      ['phoneNumbers[type eq "mobile" and value sw "555"]', ['u1']],
      ['phoneNumbers[type eq "work" and primary eq true]', []],
      ['phoneNumbers[primary eq true]', ['u1']],
      ['phoneNumbers pr', ['u1', 'u2']],
      ['phoneNumbers.primary pr', ['u1']],
      ['phoneNumbers.primary eq false', []],
      ['addresses[locality eq "hollywood"]', ['u1']],
      ['addresses.locality co "WOOD"', ['u1']],
      ['addresses.primary eq true', ['u1']],
    ];
    for (const [filter, expected] of cases) {
      it(filter, async () => assert.deepEqual(await users(filter), expected));
    }
  });

  describe('compileFilter on Users: enterprise extension', () => {
    const cases: readonly [string, string[]][] = [
      [`${ENTERPRISE}:employeeNumber eq "701984"`, ['u1']],
      [`${ENTERPRISE}:employeeNumber sw "1"`, ['u2']],
      [`${ENTERPRISE}:manager.value eq "u2"`, ['u1']],
      [`${ENTERPRISE}:manager.value eq "U2"`, []],
      // displayName and $ref are what GET shows: from the user that manager.value names (u2,
      // shown by its login, having no display name), never what was stored.
      [`${ENTERPRISE}:manager.displayName eq "JSMITH"`, ['u1']],
      [`${ENTERPRISE}:manager.displayName eq "jim"`, []],
      [`${ENTERPRISE}:manager.$ref eq "${BASE}/Users/u2"`, ['u1']],
      [`${ENTERPRISE}:manager pr`, ['u1']],
      [`${ENTERPRISE}:department eq "r&d"`, ['u2']],
      [`not (${ENTERPRISE}:department pr)`, ['u1', 'u3', 'u4']],
      [`URN:IETF:PARAMS:SCIM:SCHEMAS:EXTENSION:ENTERPRISE:2.0:USER:EMPLOYEENUMBER eq "100"`, ['u2']],
    ];
    for (const [filter, expected] of cases) {
      it(filter, async () => assert.deepEqual(await users(filter), expected));
    }
  });

  describe('compileFilter on Users: groups (memberships)', () => {
    const cases: readonly [string, string[]][] = [
      ['groups.value eq "g2"', ['u1']],
      ['groups eq "g1"', ['u1', 'u2']],
      ['groups.value eq "G1"', []],
      ['groups.display eq "admins"', ['u1', 'u2']],
      ['groups[type eq "direct" and display eq "staff"]', ['u1']],
      ['groups pr', ['u1', 'u2']],
      ['not (groups pr)', ['u3', 'u4']],
      ['groups.value ne "g2"', ['u1', 'u2']],
      ['groups.value ne "g1"', ['u1']],
      ['groups.value eq "g1" or groups.value eq "g2"', ['u1', 'u2']],
      ['groups.value eq "g2" or groups.value eq "nowhere"', ['u1']],
      ['groups.value eq "nowhere"', []],
      ['not (groups.value eq "g2")', ['u2', 'u3', 'u4']],
      ['groups.value eq "g1" and emails co "corp"', ['u2']],
      ['groups.value eq "g3"', []],
      ['urn:ietf:params:scim:schemas:core:2.0:User:groups.value eq "g2"', ['u1']],
    ];
    /** `text`'s users with the groups it names by SCIM id read first, as the directory compiles it (CompileOptions.groupIds). */
    async function usersNamingGroups(text: string): Promise<string[]> {
      const filter = parse(text);
      const named = groupValuesIn(filter);
      const found = new Map((await createGroupQueries(store.dialect).findByScimIds(store.db, named)).map((group) => [group.scimId, group.id]));
      const groupIds = new Map(named.map((scimId) => [scimId, found.get(scimId) ?? null]));
      const rows = await store.db
        .selectFrom('users as u')
        .innerJoin('scim_users as su', 'su.user_id', 'u.id')
        .select('su.scim_id')
        .where(compileFilter(filter, 'User', store.dialect, { ...options('User'), groupIds }))
        .orderBy('su.scim_id')
        .execute();
      return rows.map((row) => row.scim_id);
    }
    for (const [filter, expected] of cases) {
      it(filter, async () => {
        assert.deepEqual(await users(filter), expected);
        assert.deepEqual(await usersNamingGroups(filter), expected, 'with the groups read first');
      });
    }
    it('groupValuesIn lists the SCIM ids compared with a group value, and no other', () => {
      assert.deepEqual(groupValuesIn(parse('groups.value eq "a" or (groups eq "b" and not (GROUPS.VALUE eq "c")) or groups.display eq "d" or groups.value ne "e" or emails.value eq "f"')).sort(), ['a', 'b', 'c']);
    });
  });

  describe('compileFilter on Groups', () => {
    const cases: readonly [string, string[]][] = [
      ['displayName eq "ADMINS"', ['g1']],
      ['displayName sw "s"', ['g2']],
      ['id eq "g3"', ['g3']],
      ['externalId eq "gx1"', ['g1']],
      ['externalId pr', ['g1']],
      ['members.value eq "u2"', ['g1']],
      ['members eq "u1"', ['g1', 'g2']],
      ['members[value eq "u1" and display co "JENSEN"]', ['g1', 'g2']],
      ['members.display sw "jsm"', ['g1']],
      ['members.type eq "User"', ['g1', 'g2']],
      ['members pr', ['g1', 'g2']],
      ['not (members pr)', ['g3']],
      ['members.value ne "u2"', ['g1', 'g2']],
      ['not (members.value eq "u2")', ['g2', 'g3']],
      ['meta.resourceType eq "Group"', ['g1', 'g2', 'g3']],
      ['meta.lastModified lt "2025-01-01T00:00:00Z"', ['g1', 'g2', 'g3']],
      [`meta.location eq "${BASE}/Groups/g2"`, ['g2']],
      [`meta.location eq "${BASE}/Users/g2"`, []],
    ];
    for (const [filter, expected] of cases) {
      it(filter, async () => assert.deepEqual(await groups(filter), expected));
    }
  });

  describe('compileFilter: client values are bound parameters', () => {
    it('never puts a client string into the SQL text', () => {
      const compiled = usersQuery('userName eq "x\'; DROP TABLE users; --" or emails co "secret%" or title sw "tt"').compile();
      assert.doesNotMatch(compiled.sql, /DROP|drop|secret|tt/);
      // userName compares regardless of case: its value is bound as its case key.
      assert.ok(compiled.parameters.includes("x'; drop table users; --"), JSON.stringify(compiled.parameters));
    });

    it('keeps nested subquery aliases distinct', async () => {
      const compiled = usersQuery('emails[type eq "work"] and not (emails.type eq "home") and groups pr and groups.value eq "g1"').compile();
      const aliases = [...compiled.sql.matchAll(/ AS "([a-z]+_\d+)"/g)].map((match) => match[1]);
      assert.equal(new Set(aliases).size, aliases.length, compiled.sql);
      assert.deepEqual(await users('emails[type eq "work"] and not (emails.type eq "home") and groups pr and groups.value eq "g1"'), ['u2']);
    });

    it('compiles an or-chain of eq on one attribute to one IN with one value per term', () => {
      const compiled = usersQuery('userName eq "a" or title pr or USERNAME eq "B" or userName eq "a" or emails eq "c" or emails eq "d"').compile();
      assert.equal(compiled.sql.match(/"(login_key|value_key)" IN \(/g)?.length, 2, compiled.sql);
      // Case keys: "a" and "B" are two values, "a" twice is one.
      assert.deepEqual(compiled.parameters, ['a', 'b', 'c', 'd']);
    });
  });

  describe('compileFilter: chains of any length compile to SQL both databases run', () => {
    /** `a op b op c …`, nested the way the parser nests it (left-deep). */
    function chain(kind: 'and' | 'or', operands: readonly Filter[]): Filter {
      const [first, ...rest] = operands;
      if (first === undefined) assert.fail('no operands');
      return rest.reduce<Filter>((left, right) => ({ kind, left, right }), first);
    }

    function terms(count: number, term: (i: number) => string): Filter[] {
      return Array.from({ length: count }, (_, i) => parse(term(i)));
    }

    async function usersMatching(filter: Filter): Promise<string[]> {
      const rows = await store.db
        .selectFrom('users as u')
        .innerJoin('scim_users as su', 'su.user_id', 'u.id')
        .select('su.scim_id')
        .where(compileFilter(filter, 'User', store.dialect, options('User')))
        .orderBy('su.scim_id')
        .execute();
      return rows.map((row) => row.scim_id);
    }

    // The parser's length limit keeps a filter under about 1,100 terms; the compiler does not
    // rely on it, so it is tested far beyond.
    for (const count of [1001, 5000]) {
      const label = count.toLocaleString('en');
      it(`${label} or-ed eq on userName (one IN, case-insensitive)`, async () => {
        assert.deepEqual(await usersMatching(chain('or', [...terms(count, (i) => `userName eq "n${i}"`), parse('userName eq "ZED"')])), ['u4']);
      });
      it(`${label} or-ed eq on id (one IN, case-exact)`, async () => {
        assert.deepEqual(await usersMatching(chain('or', [...terms(count, (i) => `id eq "U${i % 5}"`), parse('id eq "u3"')])), ['u3']);
      });
      it(`${label} or-ed sw (a balanced tree)`, async () => {
        assert.deepEqual(await usersMatching(chain('or', [...terms(count, (i) => `userName sw "n${i}"`), parse('userName sw "BJ"')])), ['u1']);
      });
      it(`${label} and-ed ne`, async () => {
        assert.deepEqual(await usersMatching(chain('and', terms(count, (i) => `userName ne "n${i}"`))), ['u1', 'u2', 'u3', 'u4']);
      });
      it(`${label} mixed and/or terms`, async () => {
        const pairs = Array.from({ length: count / 2 }, (_, i) => chain('and', [parse(`userName eq "n${i}"`), parse('active eq true')]));
        const last = chain('and', [parse('userName eq "JSMITH"'), parse('active eq false')]);
        assert.deepEqual(await usersMatching(chain('or', [...pairs, last])), ['u2']);
      });
      it(`${label} terms under nested not`, async () => {
        let filter = chain('or', [...terms(count, (i) => `title co "x${i}"`), parse('title pr')]);
        for (let i = 0; i < 51; i += 1) filter = { kind: 'not', filter };
        assert.deepEqual(await usersMatching(filter), ['u2', 'u3', 'u4']);
      });
      it(`${label} terms in value filters`, async () => {
        const emails = chain('or', [...terms(count, (i) => `type eq "t${i}"`), parse('type eq "OTHER"')]);
        assert.deepEqual(await usersMatching({ kind: 'valuePath', path: { attribute: 'emails' }, filter: emails }), ['u4']);
        const values = chain('or', [...terms(count, (i) => `value eq "v${i}"`), parse('value eq "JIM@corp.example"')]);
        assert.deepEqual(await usersMatching({ kind: 'valuePath', path: { attribute: 'emails' }, filter: values }), ['u2']);
        const phones = chain('or', [...terms(count, (i) => `type eq "t${i}" and value pr`), parse('type eq "mobile"')]);
        assert.deepEqual(await usersMatching({ kind: 'valuePath', path: { attribute: 'phoneNumbers' }, filter: phones }), ['u1']);
      });
      it(`${label} or-ed eq on Group members.value`, async () => {
        const filter = chain('or', [...terms(count, (i) => `members.value eq "m${i}"`), parse('members.value eq "u2"')]);
        const rows = await store.db
          .selectFrom('groups as g')
          .innerJoin('scim_groups as sg', 'sg.group_id', 'g.id')
          .select('sg.scim_id')
          .where(compileFilter(filter, 'Group', store.dialect, options('Group')))
          .execute();
        assert.deepEqual(rows.map((row) => row.scim_id), ['g1']);
      });
    }

    it(`binds up to ${MAX_BOUND_VALUES} values (under SQLite's 32766) and refuses more with 400 invalidFilter`, async () => {
      // A case-exact `sw` binds its value twice: the most values per term.
      const most = terms(MAX_BOUND_VALUES / 2, (i) => `externalId sw "x${i}"`);
      assert.deepEqual(await usersMatching(chain('or', most)), []);
      assert.throws(
        () => compileFilter(chain('or', [...most, parse('externalId sw "EXT"')]), 'User', store.dialect, options('User')),
        (error: unknown) =>
          error instanceof ScimError && error.status === 400 && error.scimType === 'invalidFilter' && /compares 30002 values; at most 30000/.test(error.message),
      );
    });

    it('a chain of 30,000 terms that also tests schemas compiles (its rewrite recursed once per term and overflowed the stack)', async () => {
      const long = chain('or', [...terms(30_000, (i) => `externalId eq "x${i}"`), parse('schemas eq "urn:ietf:params:scim:schemas:core:2.0:User"')]);
      assert.equal((await usersMatching(long)).length > 0, true);
    });
  });

  describe('compileFilter: or-ed terms on one multi-valued attribute or JSON value share one subquery', () => {
    /** `term(0) or term(1) or …` as text, as a client sends it. */
    function orChain(count: number, term: (i: number) => string): string {
      return Array.from({ length: count }, (_, i) => term(i)).join(' or ');
    }

    const occurrences = (text: string, pattern: RegExp) => text.match(pattern)?.length ?? 0;

    // One subquery per term made SQLite's cost grow with the square of the number of terms
    // (100 `emails co` terms: 69 s at 100,000 users); the shape is what is tested, not a time.
    const shapes: readonly [string, string, RegExp][] = [
      ['emails co', 'emails co "x{i}"', /FROM user_emails\b/g],
      ['emails.type sw', 'emails.type sw "x{i}"', /FROM user_emails\b/g],
      ['emails[type eq … and value co …]', 'emails[type eq "work" and value co "x{i}"]', /FROM user_emails\b/g],
      ['emails ne', 'emails ne "x{i}"', /FROM user_emails\b/g],
      ['emails[primary eq true and value co …] (read from the document)', 'emails[primary eq true and value co "x{i}"]', /json_each|jsonb_array_elements/g],
      ['phoneNumbers co (a JSON collection)', 'phoneNumbers co "x{i}"', /json_each|jsonb_array_elements/g],
      ['groups.display co', 'groups.display co "x{i}"', /FROM memberships\b/g],
    ];
    for (const [label, term, from] of shapes) {
      it(`40 or-ed ${label}: one subquery, not 40`, () => {
        const compiled = usersQuery(orChain(40, (i) => term.replace('{i}', String(i)))).compile();
        assert.equal(occurrences(compiled.sql, from), 1, compiled.sql.slice(0, 2000));
      });
    }

    // A value read from the JSON document (json_type and json_extract on SQLite, #>> on
    // PostgreSQL) is read once for all the or-ed terms on it, not once or twice per term.
    const values: readonly [string, string][] = [
      ['title co', 'title co "x{i}"'],
      ['name.givenName sw / pr / eq null', 'name.givenName sw "x{i}" or name.givenName pr or name.givenName eq null'],
      [`${ENTERPRISE}:department gt`, `${ENTERPRISE}:department gt "x{i}"`],
    ];
    for (const [label, term] of values) {
      it(`40 or-ed ${label}: the JSON value is read once`, () => {
        const compiled = usersQuery(orChain(40, (i) => term.replaceAll('{i}', String(i)))).compile();
        assert.ok(occurrences(compiled.sql, /"u"\."scim_fold"/g) <= 2, compiled.sql.slice(0, 2000));
      });
    }

    it('40 or-ed emails[primary eq true and value co …]: each element\'s value and primary are read once', () => {
      const compiled = usersQuery(orChain(40, (i) => `emails[primary eq true and value co "x${i}"]`)).compile();
      assert.ok(occurrences(compiled.sql, /'\$\."value"'|'\{"value"\}'/g) <= 2, compiled.sql.slice(0, 2000));
      assert.ok(occurrences(compiled.sql, /'\$\."primary"'|'\{"primary"\}'/g) <= 2, compiled.sql.slice(0, 2000));
    });

    it('keeps index-driven terms (eq on value) out of the shared subquery', () => {
      const compiled = usersQuery('emails co "a" or emails[value eq "b@x" and type co "w"] or emails.type co "c" or emails eq null').compile();
      // The shared EXISTS for `co`, the indexed IN for the value filter, the NOT EXISTS for `eq null`.
      assert.equal(occurrences(compiled.sql, /FROM user_emails\b/g), 3, compiled.sql);
      assert.match(compiled.sql, /"u"\."id" IN \(SELECT "e_\d+"\."user_id" FROM user_emails/);
    });

    if (database === 'sqlite') {
      it('SQLite reads user_emails once per user for 40 or-ed emails co terms, not 40 times', async () => {
        const compiled = usersQuery(orChain(40, (i) => `emails co "x${i}"`)).compile();
        const result = await store.db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${compiled.sql}`, [...compiled.parameters]));
        const details = result.rows.map((row) => row.detail);
        // One step of the plan on user_emails (a correlated subquery, or a join on tables this small).
        assert.equal(details.filter((detail) => /\be_\d+\b/.test(detail)).length, 1, details.join('\n'));
      });
    }

    // The in-memory evaluator is the reference (RFC 7644 §3.4.2.2): the SQL must give its answers.
    const groupsOf = (id: string) =>
      GROUPS.filter((group) => (group.members as readonly string[]).includes(id)).map((group) => ({ value: group.scimId, display: group.name, type: 'direct' }));
    const resources = USERS.map((user) => ({
      id: user.scimId,
      userName: user.login,
      ...(user.displayName === undefined ? {} : { displayName: user.displayName }),
      ...(user.externalId === undefined ? {} : { externalId: user.externalId }),
      active: user.active,
      ...user.data,
      emails: user.emails,
      groups: groupsOf(user.id),
    }));
    const attributes = [...COMMON_ATTRIBUTES, ...USER_SCHEMA_DEFINITION.attributes];

    function expected(text: string): string[] {
      const filter = parse(text);
      return resources.filter((resource) => evaluateFilter(filter, resource, attributes)).map((resource) => resource.id).sort();
    }

    // Terms of every kind a group gathers, on the attributes with several elements, each
    // matching some fixture user and most matching none, so that every chain tests which ones it finds.
    const TERMS: readonly string[] = [
      'emails co "JENSEN"', 'emails co "nobody"', 'emails.type eq "OTHER"', 'emails.type sw "h"', 'emails ne "jim@corp.example"',
      'emails[type eq "work" and value ew ".ORG"]', 'emails[type eq "home" and value co "zed"]', 'emails.primary eq false',
      'emails[primary eq true and value sw "a@"]', 'emails.display pr', 'emails pr', 'emails eq null', 'emails.value eq "JIM@corp.example"',
      'emails[value eq "babs@jensen.org" and type eq "home"]', 'not (emails co "@")', 'groups.display co "STAF"', 'groups.display eq "nope"',
      'groups.value eq "g1"', 'groups ne "g1"', 'groups pr', 'phoneNumbers co "-99"', 'phoneNumbers[type eq "home"]', 'phoneNumbers.primary eq true',
      'phoneNumbers ne "555-1234"', 'addresses.locality sw "holly"', 'title co "GUIDE"', 'userName co "%"', 'emails[type eq "work"] and active eq false',
      'title pr', 'title eq null', 'title ne "Tour Guide"', 'title gt "T"', 'title co "zzz"', 'name.familyName sw "DE"', 'name.familyName co "MS"',
      'name.givenName ew "RA"', 'name.givenName pr', 'name.familyName eq "ADAMS"', 'name.familyName le "b"',
    ];
    const chains: string[] = [];
    for (let seed = 1; chains.length < 80; seed += 1) {
      // A small deterministic choice of 2 to 9 terms.
      const count = 2 + (seed % 8);
      const picked = Array.from({ length: count }, (_, k) => TERMS[(seed * 7 + k * (seed % 5 + 3)) % TERMS.length] ?? '');
      chains.push(picked.map((term) => (term.includes(' and ') ? `(${term})` : term)).join(' or '));
    }
    chains.push(TERMS.map((term) => `(${term})`).join(' or '));
    chains.push(`${orChain(30, (i) => `title co "q${i}"`)} or title sw "tour" or name.familyName ew "S"`);
    chains.push(`not (${orChain(30, (i) => `title co "q${i}"`)} or title pr) and name.familyName pr`);
    chains.push(`${orChain(20, (i) => `phoneNumbers[type eq "w${i}" and value co "5"]`)} or phoneNumbers[type eq "MOBILE" and primary eq true] or phoneNumbers pr`);
    chains.push(`${orChain(20, (i) => `emails[primary eq true and value co "q${i}"]`)} or emails[primary eq false and value sw "ZED"] or emails.primary eq true`);
    chains.push(`phoneNumbers[type eq "work" or value ew "99"] or phoneNumbers ne "555-5000" or addresses[locality co "wood" and primary eq true]`);
    chains.push(`not (${orChain(30, (i) => `emails co "q${i}"`)} or emails.type eq "home")`);
    chains.push(`emails[${orChain(30, (i) => `value co "q${i}"`)} or type eq "OTHER"] or groups.display co "adm"`);
    for (const chain of chains) {
      it(`agrees with the evaluator: ${chain.length > 140 ? `${chain.slice(0, 140)}…` : chain}`, async () => {
        assert.deepEqual(await users(chain), expected(chain));
      });
    }
  });

  describe('compileFilter: indexes serve the common lookups', () => {
    // The plans differ by database, so each has its own expectations. PostgreSQL would scan
    // tables this small anyway: enable_seqscan=off asks whether an index COULD serve the query.
    async function plan(filter: string): Promise<string[]> {
      const compiled = usersQuery(filter).compile();
      if (database === 'sqlite') {
        const result = await store.db.executeQuery<{ detail: string }>(
          CompiledQuery.raw(`EXPLAIN QUERY PLAN ${compiled.sql}`, [...compiled.parameters]),
        );
        return result.rows.map((row) => row.detail);
      }
      return store.db.transaction().execute(async (trx) => {
        await sql`SET LOCAL enable_seqscan = off`.execute(trx);
        const result = await trx.executeQuery<{ 'QUERY PLAN': string }>(CompiledQuery.raw(`EXPLAIN ${compiled.sql}`, [...compiled.parameters]));
        return result.rows.map((row) => row['QUERY PLAN']);
      });
    }

    const cases: readonly [string, RegExp, RegExp][] = [
      ['userName eq "bjensen"', /users_login_key/, /users_login_key/],
      ['externalId eq "Ext-1"', /users_external_id/, /users_external_id/],
      ['emails.value eq "bjensen@example.com"', /user_emails_value_key/, /user_emails_value_key/],
      ['emails[value eq "bjensen@example.com" and type eq "work"]', /user_emails_value_key/, /user_emails_value_key/],
      ['id eq "u1"', /SEARCH su USING (COVERING )?INDEX sqlite_autoindex_scim_users_1/, /Index (Only )?Scan using scim_users_pkey/],
      ['groups.value eq "g1"', /SEARCH sg_\d+ USING (COVERING )?INDEX sqlite_autoindex_scim_groups_1/, /Index (Only )?Scan using scim_groups_pkey/],
      // An or-chain of eq on one attribute is one IN (…), served by the same indexes.
      ['userName eq "bjensen" or userName eq "ZED" or userName eq "x"', /users_login_key/, /users_login_key/],
      ['externalId eq "Ext-1" or externalId eq "EXT-2"', /users_external_id/, /users_external_id/],
      ['emails.value eq "bjensen@example.com" or emails eq "a@zed.org"', /user_emails_value_key/, /user_emails_value_key/],
      ['id eq "u1" or id eq "u2"', /SEARCH su USING (COVERING )?INDEX sqlite_autoindex_scim_users_1/, /Index (Only )?Scan (using|on) scim_users_pkey/],
      [`meta.location eq "${BASE}/Users/u1"`, /SEARCH su USING (COVERING )?INDEX sqlite_autoindex_scim_users_1/, /Index (Only )?Scan using scim_users_pkey/],
      [`meta.location eq "${BASE}/Users/u1" or meta.location eq "${BASE}/Users/u2"`, /SEARCH su USING (COVERING )?INDEX sqlite_autoindex_scim_users_1/, /Index (Only )?Scan (using|on) scim_users_pkey/],
      // Delta sync: users changed since, their memberships included, found from the three time indexes.
      ['meta.lastModified gt "2024-02-01T00:00:00Z"', /users_updated_at/, /users_updated_at/],
      ['meta.lastModified ge "2024-02-01T00:00:00Z"', /user_membership_changes_at/, /user_membership_changes_at/],
      ['meta.lastModified gt "2024-02-01T00:00:00Z" and active eq true', /groups_name_changed_at/, /groups_name_changed_at/],
    ];
    for (const [filter, sqliteIndex, postgresIndex] of cases) {
      const index = database === 'sqlite' ? sqliteIndex : postgresIndex;
      it(`${filter} uses ${index.source} and does not scan users`, async () => {
        const details = await plan(filter);
        assert.ok(details.some((detail) => index.test(detail)), details.join('\n'));
        assert.ok(!details.some((detail) => /^SCAN u\b|Seq Scan on users/.test(detail.trim())), details.join('\n'));
      });
    }
  });

  describe('compileFilter: invalidFilter errors', () => {
    const cases: readonly [string, RegExp, ResourceTypeName?][] = [
      ['nickname2 eq "x"', /unknown attribute 'nickname2'/],
      ['name.nope eq "x"', /'name' has no sub-attribute 'nope'/],
      ['userName.first eq "x"', /'userName' has no sub-attributes/],
      ['urn:example:params:scim:schemas:Foo:bar eq "x"', /unknown schema 'urn:example:params:scim:schemas:Foo'/],
      [`${ENTERPRISE}:nope pr`, /unknown attribute '.*:nope'/],
      ['password eq "secret"', /'password' cannot be filtered: it is write-only/],
      ['password pr', /'password' cannot be filtered/],
      ['active eq "yes"', /'active' is a boolean/],
      ['active co "t"', /'co' does not apply to the boolean attribute 'active'/],
      ['active gt true', /'gt' does not apply to the boolean/],
      ['emails.primary gt false', /'gt' does not apply to the boolean/],
      ['name gt "x"', /'name' is a complex attribute/],
      ['name eq "x"', /'name' is a complex attribute/],
      ['userName eq 42', /'userName' is a string/],
      ['userName gt null', /'gt' cannot compare 'userName' with null/],
      ['emails gt null', /'gt' cannot compare 'emails' with null/],
      ['meta.lastModified gt "yesterday"', /'meta.lastModified' is a dateTime/],
      ['meta.created gt 5', /'meta.created' is a dateTime/],
      ['meta.created co "2024"', /'co' does not apply to the dateTime/],
      ['x509Certificates gt "QUJD"', /'gt' does not apply to the binary attribute 'x509Certificates.value'/],
      ['x509Certificates.value ge "QUJD"', /'ge' does not apply to the binary attribute 'x509Certificates.value'/],
      ['x509Certificates[value lt "QUJD"]', /'lt' does not apply to the binary attribute 'x509Certificates.value'/],
      ['x509Certificates le "QUJD" or x509Certificates le "QUJE"', /'le' does not apply to the binary attribute/],
      ['x509Certificates eq 1', /'x509Certificates.value' is binary data: compare it with a "string"/],
      ['userName eq "a" or userName eq 1', /'userName' is a string/],
      ['emails.value eq "a" or emails.value eq "b" or emails.value eq true', /'emails.value' is a string/],
      ['addresses eq "x"', /'addresses' has no 'value' sub-attribute/],
      ['emails.nope eq "x"', /'emails' has no sub-attribute 'nope'/],
      ['emails[nope eq "x"]', /'emails' has no sub-attribute 'nope'/],
      ['groups.$ref eq "x"', /'groups.\$ref' cannot be filtered/],
      ['userName[value eq "x"]', /'userName' is neither multi-valued nor complex/],
      ['members eq "u1"', /unknown attribute 'members' for User/],
      ['userName eq "x"', /unknown attribute 'userName' for Group/, 'Group'],
      ['members.value eq 1', /'members.value' is a string/, 'Group'],
    ];
    for (const [filter, detail, resourceType = 'User'] of cases) {
      it(`${resourceType}: ${filter}`, () => rejects(filter, resourceType, detail));
    }
  });

  describe('compileSortKey', () => {
    const cases: readonly [string, string[]][] = [
      ['userName', ['u3', 'u1', 'u2', 'u4']],
      ['name.familyName', ['u3', 'u4', 'u1', 'u2']],
      ['externalId', ['u2', 'u1', 'u3', 'u4']],
      ['emails', ['u4', 'u1', 'u2', 'u3']],
      ['emails.value', ['u4', 'u1', 'u2', 'u3']],
      ['phoneNumbers', ['u2', 'u1', 'u3', 'u4']],
      ['meta.lastModified', ['u2', 'u4', 'u3', 'u1']],
      ['active', ['u2', 'u1', 'u3', 'u4']],
      [`${ENTERPRISE}:employeeNumber`, ['u2', 'u1', 'u3', 'u4']],
      ['id', ['u1', 'u2', 'u3', 'u4']],
      ['groups', ['u1', 'u2', 'u3', 'u4']],
      ['groups.display', ['u1', 'u2', 'u3', 'u4']],
      ['meta.location', ['u1', 'u2', 'u3', 'u4']],
    ];
    for (const [sortBy, expected] of cases) {
      it(`sorts Users by ${sortBy}`, async () => assert.deepEqual(await sortedUsers(sortBy), expected));
    }

    it('sorts descending', async () => {
      assert.deepEqual(await sortedUsers('userName', true), ['u4', 'u2', 'u1', 'u3']);
    });

    // RFC 7644 §3.4.2.3: no value sorts last ascending (above) and first descending, on both
    // databases (SQLite's own default puts NULL first ascending).
    it('sorts resources without a value first when descending', async () => {
      assert.deepEqual(await sortedUsers('externalId', true), ['u3', 'u4', 'u1', 'u2']);
    });

    it('sorts Groups by displayName, case-insensitively', async () => {
      const path = parseAttributePath('displayName');
      assert.ok(path.ok);
      const rows = await store.db
        .selectFrom('groups as g')
        .innerJoin('scim_groups as sg', 'sg.group_id', 'g.id')
        .select('sg.scim_id')
        .orderBy(compileSortKey(path.value, 'Group', store.dialect, options('Group')))
        .execute();
      assert.deepEqual(
        rows.map((row) => row.scim_id),
        ['g1', 'g3', 'g2'],
      );
    });

    const errors: readonly [string, RegExp][] = [
      ['nope', /unknown attribute 'nope'/],
      ['name', /'name' is a complex attribute: sort by one of its sub-attributes/],
      ['password', /'password' cannot be sorted on/],
    ];
    for (const [sortBy, detail] of errors) {
      it(`rejects sortBy=${sortBy} with invalidValue`, () => {
        const path = parseAttributePath(sortBy);
        assert.ok(path.ok);
        assert.throws(
          () => compileSortKey(path.value, 'User', store.dialect, options('User')),
          (error: unknown) => error instanceof ScimError && error.status === 400 && error.scimType === 'invalidValue' && detail.test(error.message),
        );
      });
    }
  });
});
