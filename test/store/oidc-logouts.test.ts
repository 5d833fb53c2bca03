/**
 * The outbox of back-channel logouts (store/oidc-logouts.ts): what is queued, and the claims
 * through which instances sharing one database take turns, so that no logout is sent by two at
 * once and none is lost with an instance that dies. On SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { createOidcQueries } from '../../src/store/oidc.ts';
import { claimLogouts, queueLogouts, releaseLogout, removeClaimedLogout, retryClaimedLogout } from '../../src/store/oidc-logouts.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { transact } from '../../src/store/transact.ts';
import { createTestDatabase, eachDatabase, type ScratchDatabase } from '../support/databases.ts';

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
const iso = (ms: number): string => new Date(ms).toISOString();

eachDatabase('back-channel logout outbox on', (database) => {
  let scratch: ScratchDatabase;
  let one: Store;
  /** A second instance: connections of its own on PostgreSQL (SQLite runs one write at a time, so the same store). */
  let two: Store;

  before(async () => {
    scratch = await createTestDatabase(database, { migrated: true });
    one = await openStore(scratch.location);
    two = database === 'postgres' ? await openStore(scratch.location) : one;
    const oidc = createOidcQueries();
    const application = (clientId: string, backchannelLogoutUri: string | null) =>
      oidc.insertApplication(one.db, { clientId, name: clientId, secretHash: null, previousSecretHash: null, previousSecretExpiresAt: null, redirectUris: ['https://a.example.com/cb'], allowedGroups: [], backchannelLogoutUri, createdAt: iso(T0), updatedAt: iso(T0) });
    await application('listening', 'https://listening.example.com/logout');
    await application('quiet', null);
  });
  beforeEach(async () => {
    await one.db.deleteFrom('oidc_logouts').execute();
  });
  after(async () => {
    if (two !== one) await two.close();
    await one.close();
    await scratch.drop();
  });

  const queue = (ids: readonly string[], clientId = 'listening') => queueLogouts(one.db, ids.map((id) => ({ id, clientId, subject: `user-${id}`, cause: 'deactivated' })), iso(T0));
  const claim = (store: Store, instance: string, at: number, limit = 10) => transact(store.db, (trx) => claimLogouts(trx, store.dialect, instance, iso(at), iso(at + 30_000), limit));

  test('only applications with a back-channel logout URI get a row; a claim reads the URI the application has now', async () => {
    assert.deepEqual(await queueLogouts(one.db, [
      { id: 'a', clientId: 'listening', subject: 'u1', cause: 'suspended' },
      { id: 'b', clientId: 'quiet', subject: 'u1', cause: 'suspended' },
      { id: 'c', clientId: 'deleted-meanwhile', subject: 'u1', cause: 'suspended' },
    ], iso(T0)), ['listening']);
    const [claimed, ...more] = await claim(one, 'one', T0);
    assert.equal(more.length, 0);
    assert.deepEqual({ id: claimed?.id, uri: claimed?.uri, subject: claimed?.subject, cause: claimed?.cause, attempts: claimed?.attempts }, { id: 'a', uri: 'https://listening.example.com/logout', subject: 'u1', cause: 'suspended', attempts: 0 });
  });

  test('a claimed logout is not claimed again while its lease runs; once it has run out another instance takes it, and the first one\'s writes change nothing', async () => {
    await queue(['x']);
    assert.equal((await claim(one, 'one', T0)).length, 1);
    assert.equal((await claim(two, 'two', T0 + 1000)).length, 0, 'held by one');
    const taken = await claim(two, 'two', T0 + 31_000);
    assert.deepEqual(taken.map((logout) => logout.id), ['x'], 'the lease ran out: one is presumed dead');
    // One comes back late: its answer is not recorded over two's claim.
    assert.equal(await removeClaimedLogout(one.db, 'x', 'one'), false);
    assert.equal(await retryClaimedLogout(one.db, 'x', 'one', { attempts: 1, error: 'late', nextAttemptAt: iso(T0) }), false);
    assert.equal(await removeClaimedLogout(two.db, 'x', 'two'), true);
    assert.equal((await one.db.selectFrom('oidc_logouts').select('id').execute()).length, 0);
  });

  test('a failed attempt gives the claim back with the next attempt later: not claimed before then; a released claim is claimable at once', async () => {
    await queue(['r', 's']);
    const claimed = await claim(one, 'one', T0);
    assert.equal(claimed.length, 2);
    assert.equal(await retryClaimedLogout(one.db, 'r', 'one', { attempts: 1, error: 'answered 503', nextAttemptAt: iso(T0 + 5000) }), true);
    await releaseLogout(one.db, 's', 'one');
    assert.deepEqual((await claim(two, 'two', T0 + 1000)).map((logout) => logout.id), ['s']);
    const later = await claim(two, 'two', T0 + 6000);
    assert.deepEqual(later.map((logout) => [logout.id, logout.attempts, logout.lastError]), [['r', 1, 'answered 503']]);
  });

  test('two instances claiming at the same moment take different logouts, neither waiting for the other', { skip: database === 'sqlite' ? 'SQLite runs one write transaction at a time: the two claims cannot overlap' : false }, async () => {
    await queue(['p1', 'p2', 'p3', 'p4']);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let claimedFirst!: (ids: string[]) => void;
    const firstClaimed = new Promise<string[]>((resolve) => (claimedFirst = resolve));
    // One claims two and keeps its transaction open, its rows locked.
    const first = transact(one.db, async (trx) => {
      const claimed = await claimLogouts(trx, one.dialect, 'one', iso(T0), iso(T0 + 30_000), 2);
      claimedFirst(claimed.map((logout) => logout.id));
      await held;
      return claimed.map((logout) => logout.id);
    });
    const mine = await firstClaimed;
    // Two claims meanwhile: it skips the locked rows and takes the others at once.
    const theirs = (await claim(two, 'two', T0, 10)).map((logout) => logout.id);
    release();
    assert.deepEqual(await first, mine);
    assert.equal(mine.length, 2);
    assert.deepEqual([...mine, ...theirs].sort(), ['p1', 'p2', 'p3', 'p4'], 'each logout claimed once');
  });
});
