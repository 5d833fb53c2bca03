import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { sql } from 'kysely';
import { readDateTime } from '../../src/scim/date-time.ts';
import type { Store } from '../../src/store/index.ts';
import { instantOf } from '../../src/store/instants.ts';
import { eachDatabase, openTestStore } from '../support/databases.ts';

/** What scim/date-time.ts reads a stored value as: its instant, or null. */
function expected(text: string | null): number | null {
  if (text === null) return null;
  const reading = readDateTime(text, 'value');
  return reading.ok ? reading.instant : null;
}

/** Texts a dateTime attribute may hold: valid values, and odd ones stored by earlier versions or never. */
const TEXTS: readonly (string | null)[] = [
  '2021-06-01T12:00:00+02:00', '2021-06-01T10:00:00Z', '2021-06-01T10:00:00', '2021-06-01T10:30:00.5Z',
  '2021-06-01T10:30:00.123456789-07:00', '2021-06-01T10:30:00.000Z', '1969-12-31T23:59:59.999Z', '1970-01-01T00:00:00Z',
  '0000-01-01T00:00:00Z', '0000-02-29T12:00:00Z', '0001-01-01T00:00:00Z', '0099-03-01T00:00:00Z', '1600-02-29T00:00:00Z',
  '9999-12-31T23:59:59.999Z', '9999-12-31T24:00:00Z', '0000-01-01T00:00:00+00:01', '0000-01-01T00:00:00-00:01',
  '2020-02-29T00:00:00Z', '2020-02-30T00:00:00Z', '2021-02-29T00:00:00Z', '1900-02-29T00:00:00Z', '2000-02-29T00:00:00Z',
  '2020-04-31T00:00:00Z', '2020-13-01T00:00:00Z', '2020-00-01T00:00:00Z', '2020-01-00T00:00:00Z', '2020-01-32T00:00:00Z',
  '2020-12-31T24:00:00Z', '2020-12-31T24:00:00.000+01:00', '2020-12-31T24:00:00.001Z', '2020-12-31T24:00:01Z', '2020-12-31T25:00:00Z',
  '2020-01-01T10:60:00Z', '2016-12-31T23:59:60Z', '2020-01-01T00:00:00+14:00', '2020-01-01T00:00:00-14:00',
  '2020-01-01T00:00:00+14:01', '2020-01-01T00:00:00+15:00', '2020-01-01T00:00:00+01:60', '2020-01-01T00:00:00+0100',
  '2020-01-01T00:00:00.Z', '2020-01-01T00:00:00.', '2020-01-01T00:00:00z', '2020-01-01t00:00:00Z', '2020-01-01 00:00:00Z',
  '2020-01-01', '2020-01-01T00:00Z', '-2020-01-01T00:00:00Z', '12020-01-01T00:00:00Z', '+2020-01-01T00:00:00Z',
  '2020-01-01T00:00:00.5+02:00Z', '2020-01-01T00:00:00ZZ', '2020-01-01T00:00:00+02:00+02:00', '２０２０-01-01T00:00:00Z',
  '2020-01-01T00:00:00.٣Z', '9999-99-99T99:99:99', 'not a date', '', 'Z', '+99:99', 'true', '42', null,
];

/** A deterministic generator (mulberry32), so that a failure names texts that come back. */
function generator(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Texts near the rules' edges: every part drawn a little beyond its range. */
function randomTexts(count: number): string[] {
  const random = generator(7643);
  const pad = (value: number, width: number) => String(value).padStart(width, '0');
  const draw = (low: number, high: number) => low + Math.floor(random() * (high - low + 1));
  return Array.from({ length: count }, () => {
    const fraction = random() < 0.5 ? '' : `.${Array.from({ length: draw(1, 5) }, () => draw(0, 9)).join('')}`;
    const zoneKind = draw(0, 2);
    const zone = zoneKind === 0 ? '' : zoneKind === 1 ? 'Z' : `${random() < 0.5 ? '+' : '-'}${pad(draw(0, 15), 2)}:${pad(draw(0, 61), 2)}`;
    const year = random() < 0.1 ? draw(0, 2) * 4999 : draw(0, 9999);
    return `${pad(year, 4)}-${pad(draw(0, 13), 2)}-${pad(draw(0, 32), 2)}T${pad(draw(0, 25), 2)}:${pad(draw(0, 61), 2)}:${pad(draw(0, 61), 2)}${fraction}${zone}`;
  });
}

eachDatabase('instantOf: the instant of a stored xsd:dateTime, in SQL', (database) => {
  let store: Store;

  before(async () => {
    store = await openTestStore(database);
  });
  after(async () => {
    await store.close();
  });

  /** instantOf over texts read from rows (as filters read stored values), as numbers or null. */
  async function instants(texts: readonly (string | null)[]): Promise<(number | null)[]> {
    const output: (number | null)[] = [];
    // SQLite joins at most 500 SELECTs with UNION ALL.
    for (let start = 0; start < texts.length; start += 400) {
      const chunk = texts.slice(start, start + 400);
      const rows = sql.join(chunk.map((text, index) => sql`SELECT ${sql.lit(index)} AS n, CAST(${text} AS TEXT) AS t`), sql` UNION ALL `);
      const { rows: result } = await sql<{ instant: number | string | null }>`SELECT ${instantOf(sql.ref('v.t'))} AS instant FROM (${rows}) AS v ORDER BY v.n`.execute(store.db);
      output.push(...result.map((row) => (row.instant === null ? null : Number(row.instant))));
    }
    return output;
  }

  it('agrees with scim/date-time.ts on valid values and on texts that are none', async () => {
    const got = await instants(TEXTS);
    TEXTS.forEach((text, index) => assert.equal(got[index], expected(text), String(text)));
  });

  it('agrees with scim/date-time.ts on 2000 texts near the edges of every rule', async () => {
    const texts = randomTexts(2000);
    const got = await instants(texts);
    const valid = texts.filter((text) => expected(text) !== null).length;
    assert.ok(valid > 100 && valid < 1900, `${valid} valid texts: the sample should hold both kinds`);
    texts.forEach((text, index) => assert.equal(got[index], expected(text), text));
  });

  it('never fails, even on a text the planner sees as a constant', async () => {
    for (const text of ['2020-01-01T00:00:00.', '2020', '', '2020-02-30T00:00:00Z', '2020-01-01T00:00:00.5+02:00Z']) {
      const { rows } = await sql<{ instant: unknown }>`SELECT ${instantOf(sql.val(text))} AS instant`.execute(store.db);
      assert.equal(rows[0]?.instant, null, text);
    }
  });
});
