/** SQL for SAML sign-in: profile refresh, last connection, group names, and the attempts log. */
import { sql } from 'kysely';
import type { Executor } from './executor.ts';
import { caseKey } from '../text.ts';

/** The last sign-in attempt made with one login. */
export interface SignInAttempt {
  readonly login: string;
  readonly nameId: string | null;
  readonly email: string | null;
  readonly at: string;
  readonly outcome: 'accepted' | 'refused';
  readonly reason: string | null;
}

/** Query factory for sign-in bookkeeping. */
export function createSignInQueries() {
  return {
    /** Sets name and email from the IdP (just-in-time mode) and bumps the version. */
    async updateProfile(db: Executor, userId: string, displayName: string | null, email: string | null, now: string): Promise<void> {
      await db
        .updateTable('users')
        .set({
          display_name: displayName,
          email,
          display_name_key: displayName === null ? null : caseKey(displayName),
          email_key: email === null ? null : caseKey(email),
          updated_at: now,
          version: sql<number>`version + 1`,
        })
        .where('id', '=', userId)
        .execute();
    },

    /** Records a successful sign-in (SonarQube's lastConnectionDate). Not a version change: nothing the IdP sees. */
    async touchLastConnection(db: Executor, userId: string, now: string): Promise<void> {
      await db.updateTable('users').set({ last_connection_at: now }).where('id', '=', userId).execute();
    },

    /** The names and ids of every group a user belongs to. */
    async groupsOf(db: Executor, userId: string): Promise<Array<{ id: string; name: string }>> {
      return db
        .selectFrom('memberships as m')
        .innerJoin('groups as g', 'g.id', 'm.group_id')
        .select(['g.id', 'g.name'])
        .where('m.user_id', '=', userId)
        .orderBy('g.name')
        .execute();
    },

    /** Deletes up to `limit` attempts made before `before` (ISO 8601); returns how many. */
    async purgeAttemptsBefore(db: Executor, before: string, limit: number): Promise<number> {
      const old = db.selectFrom('saml_sign_in_attempts').select('login_key').where('at', '<', before).limit(limit);
      const result = await db.deleteFrom('saml_sign_in_attempts').where('login_key', 'in', old).executeTakeFirst();
      return Number(result.numDeletedRows);
    },

    /** Overwrites the attempt row of this login. */
    async recordAttempt(db: Executor, attempt: SignInAttempt): Promise<void> {
      const values = {
        login: attempt.login,
        name_id: attempt.nameId,
        email: attempt.email,
        at: attempt.at,
        outcome: attempt.outcome,
        reason: attempt.reason,
      };
      await db
        .insertInto('saml_sign_in_attempts')
        .values({ login_key: caseKey(attempt.login), ...values })
        .onConflict((conflict) => conflict.column('login_key').doUpdateSet(values))
        .execute();
    },

    /**
     * The latest attempt that plausibly was this user's: same login, or the user's email as
     * the attempt's email or NameID (how a changed UPN still finds its owner).
     */
    async latestAttemptOf(db: Executor, login: string, email: string | null): Promise<SignInAttempt | undefined> {
      const keys = [login.toLowerCase(), ...(email === null ? [] : [email.toLowerCase()])];
      // The login's key is the one logins match by (caseKey: Unicode case folding, NFC), so that
      // `STRASSE` finds the attempts of `Straße`; rows written before it was keyed so (by
      // toLowerCase, the same for ASCII logins) are still found by the lower-cased login.
      const loginKeys = [...new Set([caseKey(login), login.toLowerCase()])];
      const row = await db
        .selectFrom('saml_sign_in_attempts')
        .selectAll()
        .where((eb) =>
          eb.or([
            eb('login_key', 'in', loginKeys),
            ...(email === null ? [] : [eb(sql<string>`lower(email)`, '=', email.toLowerCase())]),
            eb(sql<string>`lower(name_id)`, 'in', keys),
          ]),
        )
        .orderBy('at', 'desc')
        .executeTakeFirst();
      if (row === undefined) return undefined;
      return {
        login: row.login,
        nameId: row.name_id,
        email: row.email,
        at: row.at,
        outcome: row.outcome === 'accepted' ? 'accepted' : 'refused',
        reason: row.reason,
      };
    },
  };
}
