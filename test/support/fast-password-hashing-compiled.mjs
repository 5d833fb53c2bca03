// fast-password-hashing.mjs for a `roster` child process that runs the compiled dist/
// (test/support/roster-command.ts preloads it): the cost must be set on dist's own module.
import { isMainThread } from 'node:worker_threads';

if (isMainThread) {
  const { usePasswordHashCost } = await import('../../dist/auth/passwords.js');
  usePasswordHashCost('test-only');
}
