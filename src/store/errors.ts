/** Recognising database errors that mean something to the domain, on either database. */

/** True when `error` is a violation of a UNIQUE index or primary key (SQLite or PostgreSQL). */
export function isUniqueViolation(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('code' in error)) return false;
  const code = (error as { code: unknown }).code;
  // better-sqlite3 reports extended result codes; pg reports SQLSTATE 23505.
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}

/**
 * True when a transaction failed only because of another one and may simply run again:
 * a PostgreSQL deadlock (40P01) or serialization failure (40001), or SQLite still busy after
 * busy_timeout (another process held the write lock that long).
 */
export function isTransientConflict(error: unknown): boolean {
  if (typeof error !== 'object' || error === null || !('code' in error)) return false;
  const code = (error as { code: unknown }).code;
  return code === '40P01' || code === '40001' || code === 'SQLITE_BUSY';
}
