/**
 * One suite, every real database (STYLE.md §2): wrap a suite in `eachDatabase` and it runs on
 * SQLite always, and on PostgreSQL when ROSTER_TEST_POSTGRES_URL is set (it says it skipped
 * otherwise).
 */
import { describe } from 'node:test';

export type TestDatabase = 'sqlite' | 'postgres';

/** The PostgreSQL server the tests may use, or undefined. */
export const POSTGRES_URL = process.env.ROSTER_TEST_POSTGRES_URL || undefined;

const LABEL: Record<TestDatabase, string> = { sqlite: 'SQLite', postgres: 'PostgreSQL' };

/** Declares the suite once per available database. */
export function eachDatabase(name: string, suite: (database: TestDatabase) => void): void {
  for (const database of ['sqlite', 'postgres'] as const) {
    if (database === 'postgres' && POSTGRES_URL === undefined) {
      describe(`${name} (on PostgreSQL)`, { skip: 'PostgreSQL skipped: set ROSTER_TEST_POSTGRES_URL to run it' }, () => {});
      continue;
    }
    describe(`${name} (on ${LABEL[database]})`, () => suite(database));
  }
}
