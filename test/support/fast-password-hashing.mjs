// Preloaded into every test process by `npm test` (`--import`, after tsx): new password hashes
// get the test-only cost (src/auth/passwords.ts) instead of OWASP's 128 MiB and quarter second,
// as Rails' `min_cost` does for its suites. The `roster` child processes the tests start get the
// same through test/support/roster-command.ts (fast-password-hashing-compiled.mjs when they run
// dist/). Tests of the cost itself, and of what a slow hash protects (the busy refusal, the
// rehash of older hashes), call `usePasswordHashCost('owasp')` first. A test file run by hand
// without this preload hashes at the OWASP cost: slower, and the same results.
//
// Plain JavaScript, and the main thread only: worker threads inherit the preloads but not the
// TypeScript loader (the SQLite reader threads, src/store/sqlite-read-worker.mjs), and hash nothing.
import { isMainThread } from 'node:worker_threads';

if (isMainThread) {
  const { usePasswordHashCost } = await import('../../src/auth/passwords.ts');
  usePasswordHashCost('test-only');
}
