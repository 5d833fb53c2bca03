/**
 * The instant an xsd:dateTime text names, computed in SQL: how filters and sorting read the
 * dateTime values of declared extensions, which are stored as the client sent them
 * (`2021-06-01T12:00:00+02:00` is before `2021-06-01T10:30:00Z`, whatever their text says).
 *
 * Why in the query, and why this way:
 * - Values are kept as sent, so that a client gets back what it wrote; the instant is read
 *   where the value is, when a filter runs. Normalising at write instead would change what
 *   clients get back and leave the values already stored as they are.
 * - Nothing here can fail. A cast such as PostgreSQL's `::timestamptz` fails the whole
 *   statement on a text it cannot read, and stored values may be such texts (versions before
 *   scim/date-time.ts stored `2020-02-30T00:00:00Z`): every filter on the attribute would then
 *   answer 500. Here the text's shape is checked first (with every digit turned into a '9'),
 *   then a text of the right shape, and only such a text, is cut into numbers and checked
 *   against the calendar; a value that names no instant reads as NULL, and matches no
 *   comparison, as in the in-memory evaluator.
 * - Only what both databases have, with the same meaning: substr with a positive length,
 *   length, replace, CASE, integer arithmetic (division truncates, so every operand is kept
 *   non-negative). No dialect difference to keep in step. The steps are nested subqueries so
 *   that each is written once; CASE orders the guards, since neither database promises the
 *   order in which AND evaluates its operands.
 *
 * The rules are those of scim/date-time.ts for values (its `value` form, the only one ever
 * stored); test/store/instants.test.ts runs both over the same texts on both databases.
 */
import { sql, type RawBuilder } from 'kysely';
import { FIRST_INSTANT, LAST_INSTANT } from '../scim/date-time.ts';

type Expression = RawBuilder<unknown>;

const DAY_MS = 86_400_000;

/**
 * Days from 0400-03-01 (years shifted by one 400-year cycle so that every operand of the
 * divisions below stays non-negative for the years 0000 to 9999) to the given date, months
 * counted from March so that the leap day comes last; the SQL below computes the same.
 */
function shiftedDays(year: number, month: number, day: number): number {
  const years = year + 400 - (month <= 2 ? 1 : 0);
  const months = month <= 2 ? month + 9 : month - 3;
  return 365 * years + Math.trunc(years / 4) - Math.trunc(years / 100) + Math.trunc(years / 400) + Math.trunc((153 * months + 2) / 5) + day - 1;
}

const EPOCH_DAYS = shiftedDays(1970, 1, 1);

/** The text with every ASCII digit turned into '9': its shape, compared with patterns such as '9999-99-99'. */
function shapeOf(text: Expression): Expression {
  let shape = text;
  for (const digit of '012345678') shape = sql`replace(${shape}, ${sql.lit(digit)}, '9')`;
  return shape;
}

/** How many characters at the end of shape `s` are a zone: 6 for ±hh:mm, 1 for Z, else 0. */
function zoneLength(s: Expression): Expression {
  return sql`(CASE WHEN length(${s}) >= 25 AND substr(${s}, length(${s}) - 5, 6) IN ('+99:99', '-99:99') THEN 6 WHEN length(${s}) >= 20 AND substr(${s}, length(${s}), 1) = 'Z' THEN 1 ELSE 0 END)`;
}

/**
 * 1 when shape `s`, whose zone is `z` characters long, is `9999-99-99T99:99:99`, then
 * nothing or a '.' and at least one digit, then the zone; else 0. Lengths given to substr are
 * positive in the branch that uses them (PostgreSQL refuses a negative one).
 */
function wellFormed(s: Expression, z: Expression): Expression {
  return sql`(CASE
    WHEN length(${s}) < 19 THEN 0
    WHEN substr(${s}, 1, 19) <> '9999-99-99T99:99:99' THEN 0
    WHEN length(${s}) = 19 + ${z} THEN 1
    WHEN substr(${s}, 20, 1) <> '.' OR length(${s}) = 20 + ${z} THEN 0
    WHEN replace(substr(${s}, 21, length(${s}) - 20 - ${z}), '9', '') = '' THEN 1
    ELSE 0 END)`;
}

/** The digits of the fraction of text `t` (zone `z` characters long), '' when it has none. */
function fractionDigits(t: Expression, z: Expression): Expression {
  return sql`(CASE WHEN length(${t}) > 20 + ${z} THEN substr(${t}, 21, length(${t}) - 20 - ${z}) ELSE '' END)`;
}

/** A well-formed text in one fixed layout, `YYYY-MM-DDThh:mm:ss.fff±hh:mm`, so that each number has its place. */
function fixedLayout(t: Expression, z: Expression, digits: Expression): Expression {
  return sql`(substr(${t}, 1, 19) || '.' || substr(${digits} || '000', 1, 3) || CASE WHEN ${z} = 6 THEN substr(${t}, length(${t}) - 5, 6) ELSE '+00:00' END)`;
}

/** Every number of the fixed layout `c` as an integer column; `c` is well-formed, so each cast reads digits. */
function numbers(c: Expression): Expression {
  const at = (start: number, length: number) => sql`CAST(substr(${c}, ${sql.lit(start)}, ${sql.lit(length)}) AS INTEGER)`;
  return sql`${at(1, 4)} AS y, ${at(6, 2)} AS mo, ${at(9, 2)} AS d, ${at(12, 2)} AS h, ${at(15, 2)} AS mi, ${at(18, 2)} AS se, ${at(21, 3)} AS ms,
    CASE substr(${c}, 24, 1) WHEN '-' THEN -1 ELSE 1 END AS sign, ${at(25, 2)} AS oh, ${at(28, 2)} AS om`;
}

/** Whether the numbers of `p` make a date, a time and a zone that exist (scim/date-time.ts's rules). */
function onTheCalendar(p: (column: string) => Expression): Expression {
  const [y, mo, d, h, mi, se, oh, om] = [p('y'), p('mo'), p('d'), p('h'), p('mi'), p('se'), p('oh'), p('om')];
  const daysInMonth = sql`CASE WHEN ${mo} = 2 THEN CASE WHEN (${y} % 4 = 0 AND ${y} % 100 <> 0) OR ${y} % 400 = 0 THEN 29 ELSE 28 END WHEN ${mo} IN (4, 6, 9, 11) THEN 30 ELSE 31 END`;
  return sql`${p('ok')} = 1 AND ${mo} BETWEEN 1 AND 12 AND ${d} BETWEEN 1 AND ${daysInMonth}
    AND (${h} < 24 OR (${h} = 24 AND ${mi} = 0 AND ${se} = 0 AND ${p('zero')} = 1)) AND ${mi} < 60 AND ${se} < 60
    AND ${om} < 60 AND (${oh} < 14 OR (${oh} = 14 AND ${om} = 0))`;
}

/** Milliseconds since 1970-01-01T00:00:00Z of the numbers of `p` (BIGINT: a day count times 86,400,000 overflows INTEGER). */
function epochMilliseconds(p: (column: string) => Expression): Expression {
  const [y, mo, d] = [p('y'), p('mo'), p('d')];
  const years = sql`(${y} + 400 - CASE WHEN ${mo} <= 2 THEN 1 ELSE 0 END)`;
  const months = sql`(CASE WHEN ${mo} <= 2 THEN ${mo} + 9 ELSE ${mo} - 3 END)`;
  const days = sql`(365 * ${years} + ${years} / 4 - ${years} / 100 + ${years} / 400 + (153 * ${months} + 2) / 5 + ${d} - 1 - ${sql.lit(EPOCH_DAYS)})`;
  return sql`(CAST(${days} AS BIGINT) * ${sql.lit(DAY_MS)} + ${p('h')} * 3600000 + ${p('mi')} * 60000 + ${p('se')} * 1000 + ${p('ms')}
    - ${p('sign')} * (${p('oh')} * 60 + ${p('om')}) * 60000)`;
}

/**
 * The instant `text` names, in milliseconds since 1970-01-01T00:00:00Z (a BIGINT), or NULL when
 * it names none (or is NULL): readDateTime(text, 'value') of scim/date-time.ts, in SQL.
 */
export function instantOf(text: Expression): RawBuilder<number | string | null> {
  const column = (alias: string) => (name: string) => sql.ref(`${alias}.${name}`);
  const t0 = column('dt_text');
  const t1 = column('dt_shape');
  const t2 = column('dt_zone');
  const t3 = column('dt_form');
  const t4 = column('dt_layout');
  const t5 = column('dt_numbers');
  const placeholder = sql`'0000-01-01T00:00:00.000+00:00'`;
  // Each step is computed once: without the fence, both databases would flatten the steps
  // into one expression that repeats each step wherever the next one reads it, tens of
  // thousands of copies of the text's JSON lookup (seconds to plan on PostgreSQL).
  const once = sql`LIMIT 1 OFFSET 0`;
  return sql<number | string | null>`(SELECT CASE WHEN dt_instant.ms BETWEEN ${sql.lit(FIRST_INSTANT)} AND ${sql.lit(LAST_INSTANT)} THEN dt_instant.ms END FROM
    (SELECT CASE WHEN ${onTheCalendar(t5)} THEN ${epochMilliseconds(t5)} END AS ms FROM
    (SELECT ${numbers(t4('c'))}, ${t4('ok')} AS ok, ${t4('zero')} AS zero FROM
    (SELECT CASE WHEN ${t3('ok')} = 1 THEN ${fixedLayout(t3('t'), t3('z'), t3('digits'))} ELSE ${placeholder} END AS c, ${t3('ok')} AS ok,
      CASE WHEN replace(${t3('digits')}, '0', '') = '' THEN 1 ELSE 0 END AS zero FROM
    (SELECT ${t2('t')} AS t, ${t2('z')} AS z, ${wellFormed(t2('s'), t2('z'))} AS ok, ${fractionDigits(t2('t'), t2('z'))} AS digits FROM
    (SELECT ${t1('t')} AS t, ${t1('s')} AS s, ${zoneLength(t1('s'))} AS z FROM
    (SELECT ${t0('t')} AS t, ${shapeOf(t0('t'))} AS s FROM
    (SELECT ${text} AS t) AS dt_text ${once}) AS dt_shape ${once}) AS dt_zone ${once}) AS dt_form ${once}) AS dt_layout ${once}) AS dt_numbers ${once}) AS dt_instant)`;
}
