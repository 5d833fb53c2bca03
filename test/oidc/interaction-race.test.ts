/**
 * The provider's consent step when the user's provider session or interaction goes away while
 * it runs (a deactivation, "Sign out everywhere", a sign-out in another tab): it read them, and
 * finds them gone when it finishes. It answered nothing (the browser waited until it gave up,
 * holding one of the instance's admission slots); it now answers "Sign-in expired".
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import * as client from 'openid-client';
import { startTestApp, userBody, BASE_URL } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { sessionFor } from '../support/console.ts';
import { waitForLockWaits } from '../support/lock-waits.ts';
import { CookieJar, relyingParty } from '../support/oidc.ts';

const REDIRECT = 'https://wiki.example.com/callback';

eachDatabase('OpenID Connect consent step racing the end of its session', (database) => {
  test(
    'the step answers "Sign-in expired" when the interaction and the provider session go between its read and its finish',
    // A PostgreSQL table lock holds the step between the two, exactly where the race happens.
    { skip: database === 'sqlite' ? 'needs a PostgreSQL table lock to hold the step between its two reads' : false },
    async () => {
      const app = await startTestApp({ database });
      const holder = new pg.Client({ connectionString: app.databaseUrl, application_name: 'test' });
      await holder.connect();
      try {
        assert.equal((await app.request('POST', '/Users', userBody('ida'))).status, 201);
        const userId = (await app.services.accounts.findByLogin('ida'))!.id;
        const { application, secret } = await app.services.applications.create({ name: 'Wiki', redirectUris: [REDIRECT], public: false, allowedGroups: [] }, { kind: 'cli' });
        const config = await relyingParty(app, application.clientId, secret);
        const jar = new CookieJar();
        jar.add((await sessionFor(app, userId)).cookie);
        const start = client.buildAuthorizationUrl(config, {
          redirect_uri: REDIRECT,
          // offline_access: Roster adds prompt=consent (registered applications otherwise skip the step).
          scope: 'openid offline_access',
          code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
          code_challenge_method: 'S256',
        });

        // The browser's hops up to the consent step: the login step (answered from the Roster
        // session) comes first, then the provider sends the browser to the interaction again.
        let url = new URL(start.toString(), BASE_URL);
        let interactions = 0;
        for (let hop = 0; ; hop += 1) {
          assert.ok(hop < 10, 'the consent step was never reached');
          if (url.pathname.startsWith('/oidc/interaction/') && ++interactions === 2) break;
          const response = await app.app.inject({ method: 'GET', url: `${url.pathname}${url.search}`, headers: { cookie: jar.header(), accept: 'text/html' } });
          jar.store(response.headers['set-cookie']);
          const refresh = /<meta http-equiv="refresh" content="0;url=([^"]+)">/.exec(response.body)?.[1];
          const next = refresh?.replace(/&amp;/g, '&') ?? response.headers.location;
          assert.equal(typeof next, 'string', `hop ${hop} to ${url.pathname} answered ${response.statusCode}`);
          url = new URL(String(next), url);
        }

        // Every write to the provider's rows waits: the step reads the interaction, then waits
        // to store the grant; meanwhile its interaction and session go, as a deactivation deletes them.
        await holder.query('BEGIN');
        await holder.query('LOCK TABLE oidc_models IN EXCLUSIVE MODE');
        const step = app.app.inject({ method: 'GET', url: `${url.pathname}${url.search}`, headers: { cookie: jar.header(), accept: 'text/html' } });
        await waitForLockWaits(holder);
        await holder.query("DELETE FROM oidc_models WHERE model IN ('Interaction', 'Session')");
        await holder.query('COMMIT');

        let timer: NodeJS.Timeout | undefined;
        const answer = await Promise.race([step, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), 10_000)))]);
        clearTimeout(timer);
        assert.ok(answer !== undefined, 'the consent step never answered');
        assert.equal(answer.statusCode, 400);
        assert.match(answer.body, /Sign-in expired/);
        assert.match(answer.body, /Go back to the application and sign in again/);
      } finally {
        await holder.end();
        await app.close();
      }
    },
  );
});
