/** Registered applications (directory/applications.ts): generated client ids, and editing an application in place. */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DirectoryError } from '../../src/errors.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

const cli = { kind: 'cli' } as const;

test('client ids are 128 random bits in base64url and never start with "-", which the CLI would read as an option', async () => {
  const roster = await startTestApp();
  try {
    const ids = new Set<string>();
    // One id in 64 started with "-" before; 400 ids miss that with a chance of about 2 in 10^3.
    for (let i = 0; i < 400; i += 1) {
      const { application } = await roster.services.applications.create({ name: `App ${i}`, redirectUris: ['https://app.example.com/callback'], public: true, allowedGroups: [] }, { kind: 'cli' });
      assert.match(application.clientId, /^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
      ids.add(application.clientId);
    }
    assert.equal(ids.size, 400);
  } finally {
    await roster.close();
  }
});

eachDatabase('editing an application on', (database) => {
  let roster: TestApp;
  before(async () => {
    roster = await startTestApp({ database });
  });
  after(async () => roster.close());

  const register = (name: string) =>
    roster.services.applications.create({ name, redirectUris: ['https://app.example.com/callback', 'https://app.example.com/other'], public: false, allowedGroups: ['staff'] }, cli);

  async function auditOf(clientId: string) {
    return (await roster.services.auditLog.list({ action: 'application.updated', targetId: clientId }, { offset: 0, limit: 10, ascending: true })).events;
  }

  test('an edit changes what it names, keeps the rest, the client id and the secret, and is audited with before and after', async () => {
    const { application } = await register('Wiki');
    const before = await roster.services.applications.findForProvider(application.clientId);
    const { application: edited, changed } = await roster.services.applications.update(
      application.clientId,
      { name: '  Team wiki ', redirectUris: ['https://wiki.example.com/callback'] },
      { kind: 'session', userId: roster.adminId, login: 'admin' },
    );
    assert.deepEqual(changed, ['name', 'redirectUris']);
    assert.equal(edited.clientId, application.clientId);
    assert.equal(edited.name, 'Team wiki');
    assert.deepEqual(edited.redirectUris, ['https://wiki.example.com/callback']);
    assert.deepEqual(edited.allowedGroups, ['staff'], 'allowed groups were not given: kept');
    assert.ok(edited.updatedAt > application.updatedAt);
    const stored = await roster.services.applications.findForProvider(application.clientId);
    assert.equal(stored?.secretHash, before?.secretHash, 'the secret is kept');
    assert.deepEqual(await roster.services.applications.get(application.clientId), edited);

    const [entry, ...more] = await auditOf(application.clientId);
    assert.equal(more.length, 0);
    assert.equal(entry?.actor, 'session:admin');
    assert.deepEqual(entry?.details, {
      name: 'Wiki',
      before: { name: 'Wiki', redirectUris: ['https://app.example.com/callback', 'https://app.example.com/other'] },
      after: { name: 'Team wiki', redirectUris: ['https://wiki.example.com/callback'] },
    });
  });

  test('an edit with the values the application has changes nothing and writes nothing', async () => {
    const { application } = await register('Same');
    const { application: kept, changed } = await roster.services.applications.update(application.clientId, { name: 'Same', allowedGroups: ['staff'] }, cli);
    assert.deepEqual(changed, []);
    assert.equal(kept.updatedAt, application.updatedAt);
    assert.deepEqual(await auditOf(application.clientId), []);
    // Empty allowed groups: every active user may sign in.
    const opened = await roster.services.applications.update(application.clientId, { allowedGroups: [] }, cli);
    assert.deepEqual(opened.changed, ['allowedGroups']);
    assert.deepEqual(opened.application.allowedGroups, []);
  });

  test('an edit is refused with the messages of registration, and then nothing changes', async () => {
    const { application } = await register('Strict');
    const refusals: Array<[Parameters<typeof roster.services.applications.update>[1], RegExp, string]> = [
      [{ redirectUris: ['http://app.example.com/cb'] }, /^The redirect URI "http:\/\/app.example.com\/cb" must use https; http is allowed only for localhost\.$/, 'redirectUris'],
      [{ redirectUris: ['https://app.example.com/cb#top'] }, /may not have a fragment/, 'redirectUris'],
      [{ redirectUris: [] }, /^An application needs at least one redirect URI\.$/, 'redirectUris'],
      [{ name: '   ' }, /^An application's name must have 1 to 100 characters\.$/, 'name'],
      [{ name: 'Fine', allowedGroups: [' '] }, /^An allowed group name must have 1 to 255 characters\.$/, 'allowedGroups'],
      // A name no group can hold, looking like one that exists: refused, the hidden character written out.
      [{ allowedGroups: ['engineers', 'roster-\u200badministrators'] }, /^The allowed group name "roster-\\u\{200B\}administrators" must not contain invisible or text-direction characters/, 'allowedGroups'],
      [{ allowedGroups: ['ops\tteam'] }, /^The allowed group name "ops\\u\{0009\}team" must not contain control characters/, 'allowedGroups'],
    ];
    for (const [changes, message, field] of refusals) {
      await assert.rejects(roster.services.applications.update(application.clientId, changes, cli), (error: unknown) => {
        assert.ok(error instanceof DirectoryError);
        assert.equal(error.code, 'invalid');
        assert.match(error.message, message);
        assert.equal(error.field, field);
        return true;
      });
    }
    assert.deepEqual(await roster.services.applications.get(application.clientId), application);
    assert.deepEqual(await auditOf(application.clientId), []);
  });

  test('an unknown client id is not_found', async () => {
    await assert.rejects(roster.services.applications.update('no-such-client', { name: 'X' }, cli), (error: unknown) => error instanceof DirectoryError && error.code === 'not_found' && /No application has the client id 'no-such-client'/.test(error.message));
  });

  test('two edits at once of different fields both apply: the later does not put back what the earlier changed', async () => {
    for (let round = 0; round < 5; round += 1) {
      const { application } = await register(`Busy ${round}`);
      await Promise.all([
        roster.services.applications.update(application.clientId, { name: `Renamed ${round}` }, cli),
        roster.services.applications.update(application.clientId, { allowedGroups: ['ops'] }, cli),
      ]);
      const after = await roster.services.applications.get(application.clientId);
      assert.equal(after.name, `Renamed ${round}`);
      assert.deepEqual(after.allowedGroups, ['ops']);
    }
  });
});
