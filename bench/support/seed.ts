/**
 * Seeding for the benchmarks: SCIM-linked users written straight through the store in batches,
 * the way migrations and `db copy` write rows, because creating 100k users over HTTP would
 * measure the creates rather than what a benchmark is about.
 */
import { newId } from '../../src/ids.ts';
import type { Store } from '../../src/store/index.ts';

/** Inserts `count` active SCIM users `member<i>@bench.example`; returns their SCIM ids in order. */
export async function seedScimUsers(store: Store, count: number): Promise<string[]> {
  const now = new Date().toISOString();
  const scimIds: string[] = [];
  for (let start = 0; start < count; start += 500) {
    const users = [];
    const links = [];
    for (let i = start; i < Math.min(count, start + 500); i += 1) {
      const id = newId();
      const scimId = newId();
      const login = `member${i}@bench.example`;
      // Logins are ASCII lower case here, so each is its own case key (text.ts caseKey).
      users.push({ id, login, login_key: login, display_name: null, display_name_key: null, email: null, email_key: null, active: 1, local: 0, password_hash: null, external_id: null, scim_data: store.dialect.toJsonParameter({}), scim_fold: store.dialect.toJsonParameter({}), created_at: now, updated_at: now, version: 1, last_connection_at: null });
      links.push({ scim_id: scimId, user_id: id });
      scimIds.push(scimId);
    }
    await store.db.insertInto('users').values(users).execute();
    await store.db.insertInto('scim_users').values(links).execute();
  }
  return scimIds;
}
