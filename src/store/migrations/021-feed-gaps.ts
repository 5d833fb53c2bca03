/**
 * Stretches of the event feed that a restore undid (`roster db restore`): the positions the
 * replaced database had handed out after the backup's end. A cursor in one of them read changes
 * that are gone, so the feed answers it `410` instead of serving it as a good one.
 *
 * Safe to roll: a new table, which older instances do not read.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/** Creates `feed_gaps`: (after_tx, after_id) exclusive to (through_tx, through_id) inclusive. */
export async function up(db: Kysely<unknown>, dialect: DialectAdapter): Promise<void> {
  await sql`CREATE TABLE feed_gaps (
    id ${sql.raw(dialect.serialPrimaryKey)},
    after_tx BIGINT NOT NULL,
    after_id BIGINT NOT NULL,
    through_tx BIGINT NOT NULL,
    through_id BIGINT NOT NULL,
    restored_at TEXT NOT NULL
  )`.execute(db);
}
