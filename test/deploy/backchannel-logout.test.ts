/**
 * Back-channel logouts from real `roster serve` processes (main.ts starts the worker): a
 * deactivation committed by another process (as the CLI, or another instance, commits it) is
 * sent by serve, signed with the key its JWKS publishes, with its ROSTER_BASE_URL as `iss`;
 * on PostgreSQL two instances behind one base URL send each logout once; /metrics counts it.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { createServices, type Services } from '../../src/services.ts';
import { openStore, type Store } from '../../src/store/index.ts';
import { createTestDatabase, eachDatabase, type ScratchDatabase } from '../support/databases.ts';
import { startInstance, stop, waitHealthy, type Instance } from '../support/process.ts';
import { startReceiver, type Receiver } from '../support/receiver.ts';

const cli = { kind: 'cli' } as const;
const BASE_URL = 'https://roster.example.com';
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

eachDatabase('back-channel logouts from roster serve', (database) => {
  let scratch: ScratchDatabase;
  let store: Store;
  let services: Services;
  let receiver: Receiver;
  let instances: Instance[] = [];

  before(async () => {
    scratch = await createTestDatabase(database);
    // PostgreSQL: two instances behind one address, as behind a load balancer. SQLite: one.
    instances = await Promise.all((database === 'postgres' ? [1, 2] : [1]).map(() => startInstance(scratch.url, { ROSTER_BASE_URL: BASE_URL })));
    await Promise.all(instances.map(waitHealthy));
    store = await openStore(scratch.location);
    services = createServices(store, { baseUrl: BASE_URL });
    receiver = await startReceiver();
  });

  after(async () => {
    await Promise.all(instances.map(stop));
    await receiver.close();
    await store.close();
    await scratch.drop();
  });

  test('each deactivated user\'s logout reaches the application once, signed with the published key, from whichever instance', async () => {
    const { application } = await services.applications.create({ name: 'Wiki', redirectUris: ['https://wiki.example.com/cb'], public: false, allowedGroups: [], backchannelLogoutUri: `${receiver.url}/wiki` }, cli);
    const users: string[] = [];
    for (let i = 0; i < 8; i += 1) {
      const user = await services.accounts.create({ login: `leaver-${i}`, name: `Leaver ${i}`, local: false }, cli);
      // What the provider stores when the user signs in to the application: a grant.
      await new services.oidc.Adapter('Grant').upsert(`grant-${i}`, { accountId: user.id, clientId: application.clientId }, 3600);
      users.push(user.id);
    }
    for (const userId of users) await services.accounts.deactivate(userId, cli);
    await receiver.until((received) => received.length >= users.length, 60_000);
    // Long enough for a second delivery to show, were one to happen.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(receiver.received.length, users.length, 'one request per logout');

    const jwks = (await (await fetch(`${instances[0]!.base}/oidc/jwks`)).json()) as JSONWebKeySet;
    const subjects: string[] = [];
    for (const request of receiver.received) {
      assert.equal(request.path, '/hook/wiki');
      assert.equal(request.headers['content-type'], 'application/x-www-form-urlencoded');
      const token = new URLSearchParams(request.body).get('logout_token') ?? '';
      const { payload } = await jwtVerify(token, createLocalJWKSet(jwks), { issuer: BASE_URL, audience: application.clientId, typ: 'logout+jwt', algorithms: ['RS256'] });
      assert.deepEqual(payload.events, { [EVENT]: {} });
      subjects.push(String(payload.sub));
    }
    assert.deepEqual(subjects.sort(), [...users].sort());
    assert.equal((await store.db.selectFrom('oidc_logouts').select('id').execute()).length, 0, 'delivered logouts leave the outbox');

    let delivered = 0;
    for (const instance of instances) {
      const metrics = await (await fetch(`${instance.base}/metrics`)).text();
      delivered += Number(/^roster_oidc_backchannel_logouts_total\{outcome="delivered"\} (\d+)$/m.exec(metrics)?.[1] ?? 0);
    }
    assert.equal(delivered, users.length, 'the instances count what they delivered');
  });
});
