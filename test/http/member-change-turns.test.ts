/**
 * Big member changes (an IdP's first push of a group of everyone, a full-list PUT dropping most
 * of them) are written in slices with turns of the event loop between them (store/memberships.ts
 * inSlices), in one transaction: other requests that need no database are answered meanwhile.
 * On SQLite a statement runs in this process; the 100,000 members of a group's creation were one
 * statement that held every request, `/livez` included, for 2.5–3 s.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, test } from 'node:test';
import { seedUsers } from '../../bench/support.ts';
import { SCIM, groupBody, startTestApp, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';

/** Three slices of members: more turns than a request over a socket needs to be answered. */
const MEMBERS = 12_000;

/** GET /livez over a real connection: it arrives as a socket does, in its own turn. */
function livez(base: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(`${base}/livez`, (answer) => {
        answer.resume();
        answer.on('end', () => resolve(answer.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

eachDatabase('a big member change lets other requests through', (database) => {
  let roster: TestApp;
  let base: string;
  let members: string[];
  before(async () => {
    roster = await startTestApp({ database });
    base = await roster.app.listen({ port: 0, host: '127.0.0.1' });
    members = (await seedUsers(roster.services.store, { count: MEMBERS })).scimIds;
  });
  after(() => roster.close());

  test(`a /livez sent while a group of ${MEMBERS.toLocaleString('en')} members is created is answered before the creation ends, and every member is added once`, async () => {
    let created = false;
    const creating = roster.services.groups.create({ displayName: 'Everyone' }, members, { kind: 'system' }).then((group) => {
      created = true;
      return group;
    });
    const status = await livez(base);
    const answeredFirst = !created;
    const group = await creating;
    assert.equal(status, 200);
    assert.equal(answeredFirst, true, '/livez waited for the whole creation');

    const db = roster.services.store.db;
    const memberships = await db.selectFrom('memberships').select((eb) => eb.fn.countAll<number>().as('n')).where('group_id', '=', group.group.id).executeTakeFirstOrThrow();
    assert.equal(Number(memberships.n), MEMBERS);
    const added = await db.selectFrom('events').select((eb) => eb.fn.countAll<number>().as('n')).where('type', '=', 'group.user_added').executeTakeFirstOrThrow();
    assert.equal(Number(added.n), MEMBERS, 'one group.user_added event per member');
    const listed = await roster.request('GET', `${SCIM}/Groups/${group.scimId}`);
    assert.equal(listed.status, 200);
    const shown = (listed.body.members as { value: string }[]).map((member) => member.value).sort();
    assert.deepEqual(shown, [...members].sort());
  });

  test(`a /livez sent while a full-list PUT drops ${(MEMBERS - 1000).toLocaleString('en')} of the members is answered before the PUT ends, and exactly those are removed`, async () => {
    const created = await roster.request('POST', `${SCIM}/Groups?excludedAttributes=members`, groupBody('Most', members));
    assert.equal(created.status, 201);
    const kept = members.slice(0, 1000);
    let answered = false;
    const putting = roster.request('PUT', `${SCIM}/Groups/${created.body.id}?excludedAttributes=members`, groupBody('Most', kept)).then((answer) => {
      answered = true;
      return answer;
    });
    // Sent once the PUT's body is in: the removal is what remains of it.
    await new Promise((resolve) => setImmediate(resolve));
    const status = await livez(base);
    const answeredFirst = !answered;
    assert.equal((await putting).status, 200);
    assert.equal(status, 200);
    assert.equal(answeredFirst, true, '/livez waited for the whole PUT');
    const read = await roster.request('GET', `${SCIM}/Groups/${created.body.id}`);
    assert.deepEqual((read.body.members as { value: string }[]).map((member) => member.value).sort(), [...kept].sort());
  });
});
