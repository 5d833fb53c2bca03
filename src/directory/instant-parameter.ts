/** Instants given as query parameters (filters of the audit log and of the users list). */
import { rejected } from '../errors.ts';
import { readDateTime } from '../scim/date-time.ts';

/**
 * An ISO 8601 instant, normalised to the stored form (UTC, milliseconds) so that text
 * comparison is time comparison. Read by date-time.ts's rules, not Date.parse, which rolls a
 * day that does not exist (`2026-11-31`) into the next month and reads a time without a zone
 * in the server's time zone: here the first is refused and the second is UTC. SonarQube's
 * basic offset (`+0100`, its examples' form) is read as well as the extended one (`+01:00`).
 */
export function instantParameter(query: Readonly<Record<string, unknown>>, name: string): string | undefined {
  const raw = query[name];
  if (raw === undefined || raw === '') return undefined;
  if (typeof raw !== 'string') throw rejected(name, raw, 'must be given once');
  const reading = readDateTime(raw.replace(/([+-]\d\d)(\d\d)$/, '$1:$2'), 'filter');
  if (!reading.ok) throw rejected(name, raw, `must be an ISO 8601 date or date-time, such as 2025-01-31 or 2025-01-31T12:00:00Z (${reading.problem})`);
  return new Date(reading.instant).toISOString();
}
