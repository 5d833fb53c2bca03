/** SQL that cuts a user's access: its API tokens and its browser sessions (deactivation). */
import type { Executor } from './executor.ts';

/** Revokes every live token of a user; returns the ids of the tokens revoked. */
export async function revokeTokensOf(db: Executor, userId: string, at: string): Promise<string[]> {
  const rows = await db.selectFrom('tokens').select('id').where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
  if (rows.length === 0) return [];
  await db.updateTable('tokens').set({ revoked_at: at }).where('user_id', '=', userId).where('revoked_at', 'is', null).execute();
  return rows.map((row) => row.id);
}

/** Deletes every session of a user but the one stored as `keep`, if given; returns how many went. */
export async function deleteSessionsOf(db: Executor, userId: string, keep?: string): Promise<number> {
  let statement = db.deleteFrom('sessions').where('user_id', '=', userId);
  if (keep !== undefined) statement = statement.where('id', '!=', keep);
  const result = await statement.executeTakeFirst();
  return Number(result.numDeletedRows);
}

/**
 * Gives tokens issued before tokens had owners (user_id NULL) to `userId`, so that an
 * upgraded instance's IdP keeps working; returns the ids of the tokens adopted.
 */
export async function adoptOwnerlessTokens(db: Executor, userId: string): Promise<string[]> {
  const rows = await db.selectFrom('tokens').select('id').where('user_id', 'is', null).where('revoked_at', 'is', null).execute();
  if (rows.length === 0) return [];
  await db.updateTable('tokens').set({ user_id: userId }).where('user_id', 'is', null).where('revoked_at', 'is', null).execute();
  return rows.map((row) => row.id);
}
