/**
 * The provisioning switch's row, written once as it reads when never set (`"jit"`): every admin
 * write share-locks that row to read the mode, and a lock needs a row. Without it, turning SCIM
 * on (which inserted the row) did not wait for an admin write in progress on PostgreSQL, which
 * then committed after the switch: a group created locally, or a member added to a group the
 * IdP had just taken over, that the IdP never sent and can never remove.
 *
 * Safe to roll: an older instance reads `"jit"` as it read the missing row.
 */
import { sql, type Kysely, type QueryExecutorProvider } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/**
 * The setting's key: a row every database has from this migration on (db copy leaves it out of
 * "empty"). Spelled here, not imported from directory/provisioning.ts: a migration may not reach
 * up into the directory layer, and must keep the key it wrote even if the setting were renamed
 * (which would take a migration of its own). A test checks that the two agree.
 */
export const PROVISIONING_MODE_KEY = 'provisioning.mode';

/** Inserts `provisioning.mode = "jit"` unless the switch was ever set. */
export async function seedProvisioningMode(db: QueryExecutorProvider): Promise<void> {
  await sql`INSERT INTO settings (key, value, updated_at) VALUES (${PROVISIONING_MODE_KEY}, '"jit"', ${new Date().toISOString()}) ON CONFLICT (key) DO NOTHING`.execute(db);
}

export async function up(db: Kysely<unknown>, _dialect: DialectAdapter): Promise<void> {
  await seedProvisioningMode(db);
}
