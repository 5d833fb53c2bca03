/**
 * Old rows for the clean-ups to delete, written straight into the tables (as a long stop or a
 * shortened retention leaves them): provisioning activity 60 days old, ended sessions.
 */
import type { Store } from '../../src/store/index.ts';

const ROWS_PER_STATEMENT = 1000;
const DAY_MS = 86_400_000;

/** Writes `count` provisioning-activity rows that arrived 60 days ago. */
export async function oldActivity(store: Store, count: number): Promise<void> {
  const start = Date.now() - 60 * DAY_MS;
  for (let done = 0; done < count; done += ROWS_PER_STATEMENT) {
    const rows = Array.from({ length: Math.min(ROWS_PER_STATEMENT, count - done) }, (_, i) => ({
      at: new Date(start + (done + i) * 1000).toISOString(),
      method: 'GET',
      path: '/api/scim/v2/Users',
      filter: null,
      status: 200,
      duration_ms: 1,
      token_id: null,
      token_name: 'okta',
      token_user: 'admin',
      source: '127.0.0.1',
      scim_type: null,
      detail: null,
      request_count: 1,
      fold_key: null,
    }));
    await store.db.insertInto('scim_activity').values(rows).execute();
  }
}

/** Writes `count` sessions of `userId` that expired 40 days ago. */
export async function endedSessions(store: Store, userId: string, count: number): Promise<void> {
  const ended = new Date(Date.now() - 40 * DAY_MS).toISOString();
  for (let done = 0; done < count; done += ROWS_PER_STATEMENT) {
    const rows = Array.from({ length: Math.min(ROWS_PER_STATEMENT, count - done) }, (_, i) => ({
      id: `ended-${done + i}`,
      user_id: userId,
      created_at: ended,
      last_seen_at: ended,
      expires_at: ended,
      address: null,
      browser: null,
    }));
    await store.db.insertInto('sessions').values(rows).execute();
  }
}
