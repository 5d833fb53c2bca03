/**
 * SQL for the console's one-time form tokens (directory/form-submissions.ts): a token is claimed
 * by inserting its row, so that of two posts of the same form (a reload, Back and resubmit,
 * two instances) only the first acts.
 *
 * The rows live in `oidc_models` under a model name of their own rather than in a new table:
 * that table already is a shared key/expiry store whose expired rows main.ts deletes every few
 * minutes (applications.purgeExpired), and oidc-provider only reads its own model names.
 */
import type { Executor } from './executor.ts';

/** The `oidc_models.model` of claimed form tokens; oidc-provider never uses this name. */
export const FORM_SUBMISSION_MODEL = 'RosterFormSubmission';

/** Query factory for claimed form tokens. */
export function createFormSubmissionQueries() {
  return {
    /**
     * Records `key` as used until `expiresAt`; false while an earlier claim of it holds. A claim
     * that expired before `now` but is not deleted yet (the clean-up runs every few minutes) is
     * taken over: a one-time token that old is refused as stale before it gets here, and a claim
     * of a form's values holds for its window only. ON CONFLICT rather than a caught unique
     * violation, so that it is safe in a PostgreSQL transaction too.
     */
    async claim(db: Executor, key: string, expiresAt: string, now: string): Promise<boolean> {
      const result = await db
        .insertInto('oidc_models')
        .values({ model: FORM_SUBMISSION_MODEL, id: key, payload: '{}', grant_id: null, uid: null, user_code: null, account_id: null, expires_at: expiresAt, consumed_at: null })
        .onConflict((conflict) => conflict.columns(['model', 'id']).doUpdateSet({ expires_at: expiresAt }).where('oidc_models.expires_at', '<', now))
        .executeTakeFirst();
      return Number(result.numInsertedOrUpdatedRows ?? 0n) > 0;
    },

    /** Forgets a claim, so that the form may be sent again (its action failed). */
    async release(db: Executor, key: string): Promise<void> {
      await db.deleteFrom('oidc_models').where('model', '=', FORM_SUBMISSION_MODEL).where('id', '=', key).execute();
    },
  };
}
