/**
 * PostgreSQL: the event feed in commit order (store/journal.ts explains the order). Until
 * now an event's `tx` was its transaction's id, which PostgreSQL hands out when a transaction
 * first writes or locks, not when it commits: a transaction that waited for another's rows
 * committed after it but sorted before it, and an application replaying the feed could end
 * with a member removed that is still there, or a deleted group renamed after its deletion.
 *
 * Now events are written with a placeholder `tx` (minus the transaction id, below 0), and at
 * COMMIT a deferred trigger takes the next number from event_tickets' one row and gives it to
 * all the transaction's events. The row stays locked until the commit is done, so numbers
 * follow commit order without gaps (a transaction that fails after taking one gives it back).
 *
 * SQLite serialises its writes; nothing changes there.
 */
import { sql, type Kysely } from 'kysely';
import type { DialectAdapter } from '../dialect.ts';

/**
 * How far above every position handed out so far the numbers start. An instance of the
 * previous version still running would hand out positions from transaction ids (its readers
 * wait for the oldest running transaction); starting 2^32 above them, its readers see no
 * numbered event for billions of transactions, so they wait instead of moving past one.
 */
const GAP = 4294967296;

/** Creates event_tickets and the trigger that numbers each transaction's events at commit (PostgreSQL). */
export async function up(db: Kysely<unknown>, dialect: DialectAdapter): Promise<void> {
  if (dialect.feedNumbering.kind !== 'at-commit') return;
  const statements = [
    sql`CREATE TABLE event_tickets (
      id INTEGER PRIMARY KEY,
      last_ticket BIGINT NOT NULL
    )`,
    // Above every event, every horizon a reader was given (at most the next transaction id
    // plus the offset) and the retention start.
    sql`INSERT INTO event_tickets (id, last_ticket)
      SELECT 1, GREATEST(
        COALESCE((SELECT max(tx) FROM events), 0),
        pg_snapshot_xmax(pg_current_snapshot())::text::bigint + COALESCE((SELECT tx_offset FROM event_feed WHERE id = 1), 0),
        COALESCE((SELECT kept_from_tx FROM event_feed WHERE id = 1), 0)
      ) + ${sql.lit(GAP)}`,
    // Runs at COMMIT once per event of the transaction (queued only for placeholders): the
    // first numbers them all, the others find it done. The number is remembered for the
    // transaction only (set_config's third argument).
    sql`CREATE FUNCTION roster_number_events() RETURNS trigger LANGUAGE plpgsql AS $$
      DECLARE
        ticket BIGINT;
      BEGIN
        IF current_setting('roster.events_numbered', true) = NEW.tx::text THEN
          RETURN NULL;
        END IF;
        UPDATE event_tickets SET last_ticket = last_ticket + 1 WHERE id = 1 RETURNING last_ticket INTO ticket;
        IF ticket IS NULL THEN
          RAISE EXCEPTION 'event_tickets has lost its row: the event feed cannot number this transaction';
        END IF;
        UPDATE events SET tx = ticket WHERE tx = NEW.tx;
        PERFORM set_config('roster.events_numbered', NEW.tx::text, true);
        RETURN NULL;
      END
    $$`,
    // Deferred: it runs when every statement of the transaction is done and it holds every row
    // lock it will hold, so taking the number's lock last cannot deadlock. Rows copied with
    // their number (db copy) are not placeholders and are left as they are.
    sql`CREATE CONSTRAINT TRIGGER events_numbered_at_commit AFTER INSERT ON events
      DEFERRABLE INITIALLY DEFERRED
      FOR EACH ROW WHEN (NEW.tx < 0)
      EXECUTE FUNCTION roster_number_events()`,
  ];
  for (const statement of statements) await statement.execute(db);
}
