/**
 * Password hashes are expensive on purpose (scrypt, 128 MiB, about a quarter of a second): two
 * run at once per process and a few more may wait; past that a check is refused as busy at once.
 * Before, every check waited in an unbounded queue while holding a request slot, and sign-ins
 * spread over many addresses (each within its backoff) waited up to 47 s, taking every slot
 * from SCIM.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MAX_WAITING_HASHES, hashPassword, usePasswordHashCost, verifyPassword } from '../../src/auth/passwords.ts';
import { RetryLaterError } from '../../src/errors.ts';
import { startTestApp, type TestApp } from '../support/app.ts';
import { passwordSignIn } from '../support/console.ts';

// What this file checks is the real cost (npm test preloads the test-only one).
usePasswordHashCost('owasp');

describe('password hashes at once', () => {
  test('two run, MAX_WAITING_HASHES wait, and the rest are refused as busy at once', async () => {
    const attempts = 2 + MAX_WAITING_HASHES + 3;
    const outcomes = await Promise.allSettled(Array.from({ length: attempts }, (_, i) => hashPassword(`password ${i}`)));
    const refused = outcomes.filter((outcome): outcome is PromiseRejectedResult => outcome.status === 'rejected');
    assert.equal(refused.length, 3);
    for (const { reason } of refused) {
      assert.ok(reason instanceof RetryLaterError && reason.reason === 'busy', String(reason));
      assert.match(reason.message, /Too many password checks/);
    }
    // The hashes made are good ones, and once the burst is over every check runs again.
    const made = outcomes.find((outcome): outcome is PromiseFulfilledResult<string> => outcome.status === 'fulfilled');
    assert.ok(made);
    assert.equal(await verifyPassword('password 0', made.value), true);
  });

  describe('over HTTP', () => {
    let app: TestApp;
    before(async () => {
      app = await startTestApp({ scim: false });
    });
    after(() => app.close());

    test('a burst of sign-ins from many addresses: the excess is answered 503 with Retry-After at once, never a 500, and sign-in works after it', async () => {
      const answers = await Promise.all(
        Array.from({ length: 2 + MAX_WAITING_HASHES + 6 }, (_, i) => passwordSignIn(app, `nobody-${i}@example.com`, 'wrong password', { remoteAddress: `198.51.100.${i + 1}` })),
      );
      const statuses = answers.map((answer) => answer.statusCode);
      assert.ok(statuses.every((status) => status === 403 || status === 503), statuses.join(','));
      const busy = answers.filter((answer) => answer.statusCode === 503);
      assert.ok(busy.length >= 1, statuses.join(','));
      for (const answer of busy) assert.equal(answer.headers['retry-after'], '2');
      const { password } = await app.services.administrators.resetPassword('admin', { kind: 'cli' });
      assert.equal((await passwordSignIn(app, 'admin', password)).statusCode, 303);
    });
  });
});
