/**
 * xsd:dateTime, the lexical form of SCIM's dateTime type (RFC 7643 §2.3.5, XML Schema 1.1
 * Part 2 §3.3.7), read by Roster's own rules rather than Date.parse: V8 rolls impossible dates
 * over (`2020-02-30` becomes March 1st), takes a time without a zone as the server's local
 * time, and accepts offsets no clock uses. The same rules, written in SQL, read stored values
 * in filters and sorting (store/instants.ts), so the database and the evaluator agree.
 *
 * Two forms:
 * - `value`, what an attribute value must be: `YYYY-MM-DDThh:mm:ss`, an optional fraction of
 *   a second, an optional zone (`Z` or `±hh:mm`);
 * - `filter`, what a filter's literal may be: the same, or a date alone (midnight), minutes
 *   without seconds, `t` and `z` in lower case (`meta.created gt 2024-01-01` is common).
 *
 * Both: years 0000 to 9999, months 01 to 12, days that exist in their month (leap years by
 * the Gregorian rule), hours 00 to 23 or `24:00:00` (the end of the day: the next day's
 * midnight), minutes and seconds 00 to 59 (xsd:dateTime has no leap second), zones from
 * -14:00 to +14:00, and an instant within the years 0000 to 9999 in UTC (so that
 * `Date#toISOString()` text, four-digit years, orders as the instants do). A time without a
 * zone is UTC, so that no answer depends on the server's time zone. The instant keeps
 * milliseconds: further digits of the fraction are dropped, as Date does.
 */

/** How a text is read: as an attribute value, or as a filter's literal (lenient). */
export type DateTimeForm = 'value' | 'filter';

/** An xsd:dateTime read: its instant in milliseconds since 1970-01-01T00:00:00Z, or why it is none. */
export type DateTimeReading = { readonly ok: true; readonly instant: number } | { readonly ok: false; readonly problem: string };

const VALUE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(Z|[+-]\d{2}:\d{2})?$/;
const FILTER = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?([Zz]|[+-]\d{2}:\d{2})?)?$/;

/** The first and last instants of the years 0000 to 9999, UTC. */
export const FIRST_INSTANT = -62_167_219_200_000;
export const LAST_INSTANT = 253_402_300_799_999;

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];

/** Days in a month of the proleptic Gregorian calendar. */
export function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

function problem(text: string): DateTimeReading {
  return { ok: false, problem: text };
}

/** Reads an xsd:dateTime in the given form (see the file comment). */
export function readDateTime(text: string, form: DateTimeForm): DateTimeReading {
  const match = (form === 'value' ? VALUE : FILTER).exec(text);
  if (!match) return problem('it is not of the form 2024-05-01T12:00:00Z');
  const [, yearText = '', monthText = '', dayText = '', hourText = '00', minuteText = '00', secondText = '00', fraction = '', zone = 'Z'] = match;
  const [year, month, day, hour, minute, second] = [yearText, monthText, dayText, hourText, minuteText, secondText].map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12) return problem(`there is no month ${monthText}`);
  const days = daysInMonth(year, month);
  if (day < 1 || day > days) return problem(`${MONTHS[month - 1] ?? ''} ${yearText} has ${days} days`);
  const endOfDay = hour === 24 && minute === 0 && second === 0 && /^0*$/.test(fraction);
  if (hour > 23 && !endOfDay) return problem('hours go from 00 to 23 (24:00:00 is the end of the day)');
  if (minute > 59 || second > 59) return problem('minutes and seconds go from 00 to 59');
  let offset = 0;
  if (zone.toUpperCase() !== 'Z') {
    const zoneHours = Number(zone.slice(1, 3));
    const zoneMinutes = Number(zone.slice(4, 6));
    if (zoneMinutes > 59 || zoneHours > 14 || (zoneHours === 14 && zoneMinutes > 0)) return problem('time zones go from -14:00 to +14:00');
    offset = (zone.startsWith('-') ? -1 : 1) * (zoneHours * 60 + zoneMinutes) * 60_000;
  }
  // setUTCFullYear, not Date.UTC, which reads years 0 to 99 as 1900 to 1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, Number(fraction.slice(0, 3).padEnd(3, '0')));
  const instant = date.getTime() - offset;
  if (instant < FIRST_INSTANT || instant > LAST_INSTANT) return problem('in UTC it falls outside the years 0000 to 9999');
  return { ok: true, instant };
}

/**
 * A filter literal or stored value as `Date#toISOString()` text (how Roster writes its own
 * timestamps, meta.created and meta.lastModified, so that text order is instant order there);
 * undefined when it is not an xsd:dateTime.
 */
export function normaliseDateTime(text: string): string | undefined {
  const reading = readDateTime(text, 'filter');
  return reading.ok ? new Date(reading.instant).toISOString() : undefined;
}
