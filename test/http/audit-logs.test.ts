import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createJournal } from '../../src/journal/journal.ts';
import { eachDatabase } from '../support/databases.ts';
import { startTestApp, type TestApp } from '../support/app.ts';

interface Entry {
  seq: number;
  at: string;
  actor: string;
  actorUser: string | null;
  action: string;
  targetType: string;
  targetId: string | null;
  details: unknown;
}

/** Splits a CSV text (RFC 4180, CRLF records) into records of cells. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const char = text[i];
    if (quoted) {
      if (char === '"' && text[i + 1] === '"') {
        cell += '"';
        i += 1;
      } else if (char === '"') quoted = false;
      else cell += char;
    } else if (char === '"') quoted = true;
    else if (char === ',') {
      record.push(cell);
      cell = '';
    } else if (char === '\r' && text[i + 1] === '\n') {
      record.push(cell);
      records.push(record);
      record = [];
      cell = '';
      i += 1;
    } else cell += char;
  }
  return records;
}

const LOGS = '/api/v2/audit-logs';

eachDatabase('GET /api/v2/audit-logs', (database) => {
  let roster: TestApp;
  let startedAt: string;
  before(async () => {
    roster = await startTestApp({ database, scim: false });
    startedAt = new Date().toISOString();
    const group = (await roster.request('POST', '/api/v2/authorizations/groups', { name: 'auditors' })).body;
    await roster.request('POST', '/api/v2/authorizations/group-memberships', { groupId: group.id, userId: roster.adminId });
    await roster.request('PATCH', `/api/v2/authorizations/groups/${group.id}`, { description: 'they read logs' }, { 'content-type': 'application/merge-patch+json' });
  });
  after(async () => {
    await roster.close();
  });

  test('lists newest first with paging, and oldest first with sort=seq', async () => {
    const newest = await roster.request('GET', `${LOGS}?pageSize=2`);
    assert.equal(newest.status, 200);
    assert.equal(newest.body.auditLogs.length, 2);
    assert.equal(newest.body.auditLogs[0].action, 'group.updated');
    assert.ok(newest.body.auditLogs[0].seq > newest.body.auditLogs[1].seq);
    assert.deepEqual(newest.body.page.pageSize, 2);
    const oldest = await roster.request('GET', `${LOGS}?sort=seq&pageSize=1`);
    assert.equal(oldest.body.auditLogs[0].action, 'setting.changed');
  });

  test('records the token name and its user, and the change before and after', async () => {
    const page = await roster.request('GET', `${LOGS}?actor=admin&targetType=group`);
    assert.deepEqual(page.body.auditLogs.map((e: { action: string }) => e.action), ['group.updated', 'group.created']);
    const updated = page.body.auditLogs[0];
    assert.equal(updated.actor, 'token:test-idp');
    assert.equal(updated.actorUser, 'admin');
    assert.deepEqual(updated.details.after, { name: 'auditors', description: 'they read logs' });
    const byToken = await roster.request('GET', `${LOGS}?actor=token:test-idp&targetType=membership`);
    assert.equal(byToken.body.page.total, 1);
    assert.equal(byToken.body.auditLogs[0].details.userId, roster.adminId);
  });

  test('filters on a time range and rejects malformed filters', async () => {
    const since = await roster.request('GET', `${LOGS}?from=${encodeURIComponent(startedAt)}`);
    assert.equal(since.body.page.total, 3);
    const before = await roster.request('GET', `${LOGS}?to=${encodeURIComponent(startedAt)}`);
    assert.ok(before.body.auditLogs.every((e: { at: string }) => e.at < startedAt));
    const bad = await roster.request('GET', `${LOGS}?from=yesterday`);
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /field from/);
    assert.equal((await roster.request('GET', `${LOGS}?targetType=planet`)).status, 400);
    // A day that does not exist is refused, not rolled into the next month.
    const impossible = await roster.request('GET', `${LOGS}?to=2026-11-31T06:40:00Z`);
    assert.equal(impossible.status, 400);
    assert.match(impossible.body.message, /field to .*November 2026 has 30 days/);
    // A time without a zone is UTC whatever the server's time zone (here New York's);
    // basic and extended offsets name the same instant.
    const at = new Date(Date.parse(startedAt) - 30 * 60_000);
    const noZone = at.toISOString().slice(0, 19);
    const plusOne = new Date(at.getTime() + 3_600_000).toISOString().slice(0, 19);
    const zone = process.env.TZ;
    process.env.TZ = 'America/New_York';
    try {
      const totals = [];
      for (const from of [`${noZone}Z`, noZone, `${plusOne}+01:00`, `${plusOne}+0100`]) {
        totals.push((await roster.request('GET', `${LOGS}?from=${encodeURIComponent(from)}&pageSize=0`)).body.page.total);
      }
      assert.equal(new Set(totals).size, 1, JSON.stringify(totals));
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  test('a deactivation and a group deletion record the attributes before and after', async () => {
    const user = (await roster.request('POST', '/api/v2/users-management/users', { login: 'gone', name: 'Gone', local: false })).body;
    await roster.request('DELETE', `/api/v2/users-management/users/${user.id}`);
    const deactivated = (await roster.request('GET', `${LOGS}?targetId=${user.id}`)).body.auditLogs[0];
    assert.equal(deactivated.action, 'user.deactivated');
    assert.deepEqual([deactivated.details.before.active, deactivated.details.after.active], [true, false]);
    const group = (await roster.request('POST', '/api/v2/authorizations/groups', { name: 'short-lived', description: 'soon gone' })).body;
    await roster.request('DELETE', `/api/v2/authorizations/groups/${group.id}`);
    const deleted = (await roster.request('GET', `${LOGS}?targetId=${group.id}`)).body.auditLogs[0];
    assert.equal(deleted.action, 'group.deleted');
    assert.deepEqual(deleted.details.before, { name: 'short-lived', description: 'soon gone' });
  });

  test('a membership removed names its group and its user, as one added does', async () => {
    const group = (await roster.request('POST', '/api/v2/authorizations/groups', { name: 'readers' })).body;
    const membership = (await roster.request('POST', '/api/v2/authorizations/group-memberships', { groupId: group.id, userId: roster.adminId })).body;
    assert.equal((await roster.request('DELETE', `/api/v2/authorizations/group-memberships/${membership.id}`)).status, 204);
    const [removed, added] = (await roster.request('GET', `${LOGS}?targetId=${membership.id}`)).body.auditLogs;
    assert.deepEqual([removed.action, added.action], ['membership.removed', 'membership.added']);
    const expected = { groupId: group.id, userId: roster.adminId, group: 'readers', login: 'admin' };
    assert.deepEqual(added.details, expected);
    assert.deepEqual(removed.details, expected);
  });

  test('filters on the action, exactly or by prefix, combined with the other filters', async () => {
    const exact = await roster.request('GET', `${LOGS}?action=group.created`);
    assert.ok(exact.body.page.total >= 1);
    assert.ok(exact.body.auditLogs.every((e: Entry) => e.action === 'group.created'));
    const prefix = await roster.request('GET', `${LOGS}?action=group.*&actor=admin`);
    const actions = new Set(prefix.body.auditLogs.map((e: Entry) => e.action));
    assert.ok(actions.has('group.created') && actions.has('group.updated'), [...actions].join());
    assert.ok([...actions].every((action) => String(action).startsWith('group.')));
    const none = await roster.request('GET', `${LOGS}?action=group.created&targetType=user`);
    assert.equal(none.body.page.total, 0);
    // `group` alone is not a prefix: actions are matched whole unless the value ends in *.
    assert.equal((await roster.request('GET', `${LOGS}?action=group`)).body.page.total, 0);
    for (const bad of ['*', 'x'.repeat(101)]) assert.equal((await roster.request('GET', `${LOGS}?action=${bad}`)).status, 400, bad);
  });

  test('pages follow one another by cursor, newest or oldest first, without gaps or repeats', async () => {
    const all = (await roster.request('GET', `${LOGS}?pageSize=500`)).body;
    assert.equal(all.page.next, null);
    for (const sort of ['-seq', 'seq']) {
      const seen: number[] = [];
      let cursor: string | null = null;
      do {
        const page: { auditLogs: Entry[]; page: { next: string | null; total: number } } = (
          await roster.request('GET', `${LOGS}?pageSize=2&sort=${sort}${cursor === null ? '' : `&cursor=${cursor}`}`)
        ).body;
        assert.equal(page.page.total, all.page.total);
        seen.push(...page.auditLogs.map((e) => e.seq));
        cursor = page.page.next;
      } while (cursor !== null);
      const expected = all.auditLogs.map((e: Entry) => e.seq);
      assert.deepEqual(seen, sort === '-seq' ? expected : [...expected].reverse());
    }
    const second = await roster.request('GET', `${LOGS}?pageSize=2&cursor=${all.auditLogs[1].seq}`);
    assert.deepEqual(second.body.auditLogs.map((e: Entry) => e.seq), all.auditLogs.slice(2, 4).map((e: Entry) => e.seq));
    assert.equal((await roster.request('GET', `${LOGS}?cursor=yesterday`)).status, 400);
  });

  test('GET /export gives the filtered log as CSV, oldest first, with formulas defused', async () => {
    // An IdP can put anything in a login; a spreadsheet must not run it.
    await createJournal(roster.services.store.dialect).record(roster.services.store.db, { kind: 'saml', login: '=HYPERLINK("https://evil.example","x")' }, { action: 'saml.sign_in_refused', targetType: 'user', details: { reason: 'a "quoted", multi\nline reason' } });
    const answer = await roster.request('GET', `${LOGS}/export?format=csv`);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-type'], 'text/csv; charset=utf-8');
    assert.match(String(answer.headers['content-disposition']), /^attachment; filename="roster-audit-[\d-TZ]+\.csv"$/);
    const records = parseCsv(answer.raw.body);
    assert.deepEqual(records[0], ['seq', 'at', 'actor', 'actorUser', 'action', 'targetType', 'targetId', 'details']);
    const rows = records.slice(1);
    const listed = (await roster.request('GET', `${LOGS}?sort=seq&pageSize=500`)).body.auditLogs as Entry[];
    assert.deepEqual(rows.map((row) => Number(row[0])), listed.map((e) => e.seq));
    const refused = rows.at(-1) ?? [];
    assert.equal(refused[3], `'=HYPERLINK("https://evil.example","x")`);
    assert.equal(refused[2], 'saml:=HYPERLINK("https://evil.example","x")');
    assert.deepEqual(JSON.parse(refused[7] ?? ''), { reason: 'a "quoted", multi\nline reason' });
    const groups = parseCsv((await roster.request('GET', `${LOGS}/export?format=csv&targetType=group&action=group.*`)).raw.body).slice(1);
    assert.ok(groups.length >= 2 && groups.every((row) => row[5] === 'group'));
  });

  test('GET /export gives JSON lines by default, and refuses an unknown format', async () => {
    const answer = await roster.request('GET', `${LOGS}/export?actor=admin`);
    assert.equal(answer.status, 200);
    assert.equal(answer.headers['content-type'], 'application/x-ndjson; charset=utf-8');
    const lines = answer.raw.body.trimEnd().split('\n').map((line) => JSON.parse(line) as Entry);
    assert.ok(lines.length >= 3);
    assert.ok(lines.every((e) => e.actorUser === 'admin'));
    assert.deepEqual(lines.map((e) => e.seq), [...lines.map((e) => e.seq)].sort((a, b) => a - b));
    const bad = await roster.request('GET', `${LOGS}/export?format=xml`);
    assert.equal(bad.status, 400);
    assert.match(bad.body.message, /field format/);
  });

  test('an export larger than one batch is complete and in order', async () => {
    const actor = { kind: 'system' } as const;
    const journal = createJournal(roster.services.store.dialect);
    await roster.services.store.db.transaction().execute(async (trx) => {
      for (let i = 0; i < 2100; i += 1) await journal.record(trx, actor, { action: 'test.filler', targetType: 'user', targetId: `filler-${i}` });
    });
    const answer = await roster.request('GET', `${LOGS}/export?action=test.filler`);
    const lines = answer.raw.body.trimEnd().split('\n').map((line) => JSON.parse(line) as Entry);
    assert.equal(lines.length, 2100);
    assert.deepEqual(lines.map((e) => e.targetId), Array.from({ length: 2100 }, (_, i) => `filler-${i}`));
  });

  test('the bootstrap administrator is created by the system, without its password', async () => {
    const created = await roster.request('GET', `${LOGS}?targetId=${roster.adminId}`);
    assert.equal(created.body.auditLogs[0].actor, 'system');
    assert.equal(created.body.auditLogs[0].action, 'user.created');
    assert.ok(!JSON.stringify(created.body).includes('scrypt'));
  });
});
