/**
 * How far this process's clock is from the database's. Instances of one PostgreSQL database
 * compare times each of them wrote: a webhook endpoint's lease, a shared rate-limit budget, a
 * session's start (an ID token's auth_time), the `meta.lastModified` an IdP syncs from. Those hold
 * only while the instances' clocks agree (docs/deploy.md, Clocks); the database's clock is the
 * one reference they all reach, so each instance measures itself against it, warns when it is
 * off, and writes the times Roster compares itself (leases, rate-limit budgets) by it. SQLite has no
 * such reference and needs none: every process that opens its file runs on that host's clock.
 */
import { sql } from 'kysely';
import type { Store } from './types.ts';

/** Beyond this, an instance says its clock is off (docs/deploy.md: keep them within a second). */
const CLOCK_OFFSET_WARNING_MS = 1000;

/**
 * The database's clock minus this process's (`now`), in milliseconds, halfway through the
 * round trip; undefined on SQLite. A positive offset: this instance is behind.
 */
async function measureClockOffset(store: Store, now: () => number = Date.now): Promise<number | undefined> {
  if (!store.dialect.remoteStatements) return undefined;
  const sent = now();
  // clock_timestamp(), not now(): now() is the transaction's start, which a pooled
  // connection's server may have taken a while before.
  const { rows } = await sql<{ ms: number | string }>`SELECT (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS ms`.execute(store.db);
  const received = now();
  return Number(rows[0]?.ms) - (sent + received) / 2;
}

/** A log line for an offset beyond CLOCK_OFFSET_WARNING_MS, else undefined. */
export function clockOffsetWarning(offsetMs: number | undefined): string | undefined {
  if (offsetMs === undefined || Math.abs(offsetMs) <= CLOCK_OFFSET_WARNING_MS) return undefined;
  const seconds = (Math.abs(offsetMs) / 1000).toFixed(1);
  return (
    `this instance's clock is ${seconds} s ${offsetMs > 0 ? 'behind' : 'ahead of'} the database's: rate limits and ` +
    'webhooks follow the database\'s clock, but the times stored with changes, sessions and the audit trail, and the ' +
    'sign-in times applications see, are off by as much; synchronise every host with NTP (docs/deploy.md, Clocks)'
  );
}

/**
 * The time an instance writes where other instances compare it (rate-limit budgets, webhook
 * leases and signatures): this host's clock moved by its measured difference from the
 * database's, so that instances whose hosts disagree still agree with each other. `align()`
 * measures again (roster serve: at start and every five minutes); until the first, and on
 * SQLite, it is the host's clock. Differences under ALIGN_FLOOR_MS are left alone: a round
 * trip's noise, not a clock out of step.
 */
export interface SharedClock {
  now(): number;
  /** Measures the difference again and applies it; returns it (undefined on SQLite). */
  align(): Promise<number | undefined>;
  /** Measures the difference without applying it (/metrics at each scrape). */
  measure(): Promise<number | undefined>;
}

const ALIGN_FLOOR_MS = 50;

export function createSharedClock(store: Store, host: () => number = Date.now): SharedClock {
  let offsetMs = 0;
  return {
    now: () => host() + offsetMs,
    async align() {
      const measured = await measureClockOffset(store, host);
      if (measured !== undefined) offsetMs = Math.abs(measured) < ALIGN_FLOOR_MS ? 0 : Math.round(measured);
      return measured;
    },
    measure: () => measureClockOffset(store, host),
  };
}
