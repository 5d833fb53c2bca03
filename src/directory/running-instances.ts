/**
 * The one check behind the commands that need every Roster instance stopped (`db feed-end`,
 * `db continue-feed`, `secrets rotate-key`): whether another Roster process is using the database.
 */
import type { Store } from '../store/index.ts';
import type { Executor } from '../store/executor.ts';
import { describeConnections, otherRosterConnections } from '../store/migrate.ts';
import { DirectoryError } from '../errors.ts';

/**
 * Refuses while another Roster process (an instance, or a command) is connected to the database,
 * saying `why` every instance must be stopped. Exact for instances on PostgreSQL (a serving
 * instance keeps a connection: its webhook worker looks for work every second). On SQLite the
 * caller says whether another process had the file open when it opened it (`sqliteOpenElsewhere`,
 * store/sqlite.ts openElsewhere); without it nothing is checked there. `db`: the transaction of
 * the change that needs them stopped, holding the lock an instance starting waits for.
 */
export async function refuseWhileRosterRuns(store: Store, why: string, options: { readonly sqliteOpenElsewhere?: boolean; readonly db?: Executor } = {}): Promise<void> {
  const nothingChanged = 'Stop every instance (and let running commands end), then run this again. Nothing was changed.';
  if (options.sqliteOpenElsewhere === true) {
    throw new DirectoryError('precondition', `Another process (a Roster instance or command) has this SQLite database open, and every instance must be stopped before ${why}. ${nothingChanged}`);
  }
  const others = await otherRosterConnections(store, options.db);
  if (others.length === 0) return;
  throw new DirectoryError('precondition', `Roster is still running on this database (connections: ${describeConnections(others)}), and every instance must be stopped before ${why}. ${nothingChanged}`);
}
