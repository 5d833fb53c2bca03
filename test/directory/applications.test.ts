/** Registered applications (directory/applications.ts): what their generated client ids look like. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestApp } from '../support/app.ts';

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
