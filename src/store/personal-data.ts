/**
 * SQL of an anonymization (directory/accounts.ts): the one list of what Roster holds of a person
 * in its own tables beyond what a deactivation already removed (memberships, sessions, known
 * browsers, OpenID grants; store/user-credentials.ts, store/memberships.ts). The account row stays,
 * under a login that names nobody, so that the audit log and the event feed keep pointing at an
 * id; what they recorded before stays until their retention removes it (docs/operations.md).
 */
import { sql } from 'kysely';
import { caseKey } from '../text.ts';
import type { DialectAdapter } from './dialect.ts';
import type { Executor } from './executor.ts';

/** What an erasure removed besides the account's fields, for its audit entry. */
export interface Erased {
  /** API tokens of the user deleted (revoked ones keep their names otherwise). */
  readonly deletedTokens: number;
}

/**
 * Empties every personal field of user `id` (name, email, external id, password hashes, last
 * sign-in, the SCIM document and what is derived from it: emails, unique values of custom
 * schemas) and gives it `login`; deletes its API tokens and the record of the last SAML
 * sign-ins attempted with its login or email (`signInNames`).
 */
export async function eraseUser(db: Executor, dialect: DialectAdapter, id: string, login: string, signInNames: readonly string[], now: string): Promise<Erased> {
  await db
    .updateTable('users')
    .set({
      login,
      login_key: caseKey(login),
      // A name no user can share (it holds the account's own id): no conflict mark.
      login_conflict: 0,
      display_name: null,
      display_name_key: null,
      email: null,
      email_key: null,
      external_id: null,
      password_hash: null,
      generated_password_hash: null,
      last_connection_at: null,
      scim_data: dialect.toJsonParameter({}),
      scim_fold: dialect.toJsonParameter({}),
      updated_at: now,
      version: sql<number>`version + 1`,
    })
    .where('id', '=', id)
    .execute();
  await db.deleteFrom('user_emails').where('user_id', '=', id).execute();
  await db.deleteFrom('scim_unique_values').where('resource_type', '=', 'User').where('resource_id', '=', id).execute();
  const tokens = await db.deleteFrom('tokens').where('user_id', '=', id).executeTakeFirst();
  const keys = [...new Set(signInNames.map(caseKey))];
  if (keys.length > 0) await db.deleteFrom('saml_sign_in_attempts').where('login_key', 'in', keys).execute();
  return { deletedTokens: Number(tokens.numDeletedRows) };
}
