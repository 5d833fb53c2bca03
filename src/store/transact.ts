/** Write transactions that survive a transient conflict with another transaction, and read snapshots. */
import type { Kysely, Transaction } from 'kysely';
import { isTransientConflict } from './errors.ts';
import type { Database } from './tables.ts';

const ATTEMPTS = 3;

/**
 * Runs `work` in one transaction, and again (up to 3 attempts in all) when the database
 * rolled it back for a deadlock or a busy lock. `work` must therefore have no effect outside
 * the database until it returns; everything it read is read again.
 */
export async function transact<T>(db: Kysely<Database>, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await db.transaction().execute(work);
    } catch (error) {
      if (attempt >= ATTEMPTS || !isTransientConflict(error)) throw error;
      // A little random back-off, so that the two losers of a deadlock do not meet again.
      await new Promise((resolve) => setTimeout(resolve, 5 + Math.random() * 20 * attempt));
    }
  }
}

/**
 * Runs `work` in one read-only snapshot, so that several reads (a count and a page, say)
 * agree with each other even while other instances write: PostgreSQL's READ COMMITTED would
 * take a new snapshot per statement. Read-only: no locks taken, none waited for.
 */
export async function readSnapshot<T>(db: Kysely<Database>, work: (trx: Transaction<Database>) => Promise<T>): Promise<T> {
  return db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(work);
}
