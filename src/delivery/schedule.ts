/**
 * When a failed delivery is tried again: a schedule of delays after the first attempt, each
 * with jitter, `Retry-After` honoured, and the point where Roster gives up on an endpoint.
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * The delays before each retry, from seconds to a day: 12 attempts over about three days
 * (70.7 hours). After the last retry fails the endpoint is disabled.
 */
export const DEFAULT_RETRY_SCHEDULE_MS: readonly number[] = [5 * SECOND, 30 * SECOND, 2 * MINUTE, 10 * MINUTE, 30 * MINUTE, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, DAY];
/** The longest wait a `Retry-After` may ask for. */
const MAX_RETRY_AFTER_MS = DAY;
/** Each delay is spread over ±20 %, so that endpoints failing together do not retry together. */
const JITTER = 0.2;

const UNITS: Readonly<Record<string, number>> = { ms: 1, s: SECOND, m: MINUTE, h: HOUR, d: DAY };

/**
 * Reads a schedule such as `5s,30s,2m,10m,1h,1d` (units ms, s, m, h, d): the delays before
 * each retry. Returns a message instead when it is not one.
 */
export function parseRetrySchedule(text: string): readonly number[] | string {
  const delays: number[] = [];
  for (const part of text.split(',')) {
    const match = /^\s*(\d{1,9})\s*(ms|s|m|h|d)\s*$/.exec(part);
    const unit = match === null ? undefined : UNITS[match[2] ?? ''];
    if (match === null || unit === undefined) return `"${part.trim()}" is not a delay such as 500ms, 5s, 2m, 1h or 1d`;
    const delay = Number(match[1]) * unit;
    if (delay < 1 || delay > 7 * DAY) return `"${part.trim()}" must be between 1ms and 7d`;
    delays.push(delay);
  }
  if (delays.length > 50) return 'at most 50 retries';
  return delays;
}

/** A delay with its jitter. */
export function withJitter(delayMs: number, random: () => number = Math.random): number {
  return Math.round(delayMs * (1 - JITTER + 2 * JITTER * random()));
}

/**
 * The wait a `Retry-After` header asks for (RFC 9110 §10.2.3: seconds, or an HTTP date), at
 * most a day; undefined when absent or unreadable.
 */
export function retryAfterMs(header: string | null, now: Date): number | undefined {
  if (header === null) return undefined;
  const text = header.trim();
  let wait: number;
  if (/^\d{1,10}$/.test(text)) wait = Number(text) * SECOND;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    wait = at - now.getTime();
  }
  return Math.min(Math.max(wait, 0), MAX_RETRY_AFTER_MS);
}

/** A duration for people: `2 days 22 hours`, `3 minutes`, `800 ms`. */
export function describeDuration(ms: number): string {
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [unit, size] of [['day', DAY], ['hour', HOUR], ['minute', MINUTE], ['second', SECOND]] as const) {
    const count = Math.floor(rest / size);
    if (count > 0) parts.push(`${count} ${unit}${count === 1 ? '' : 's'}`);
    rest -= count * size;
  }
  return parts.length === 0 ? `${rest} ms` : parts.slice(0, 2).join(' ');
}
