import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FIRST_INSTANT, LAST_INSTANT, normaliseDateTime, readDateTime, type DateTimeForm } from '../../src/scim/date-time.ts';

function instant(text: string, form: DateTimeForm = 'value'): number | string {
  const reading = readDateTime(text, form);
  return reading.ok ? reading.instant : reading.problem;
}

describe('readDateTime: xsd:dateTime (RFC 7643 §2.3.5)', () => {
  it('reads a date-time with a zone, a fraction, or neither (then UTC)', () => {
    assert.equal(instant('2021-06-01T12:00:00+02:00'), Date.parse('2021-06-01T10:00:00Z'));
    assert.equal(instant('2021-06-01T10:00:00Z'), Date.parse('2021-06-01T10:00:00Z'));
    assert.equal(instant('2021-06-01T10:00:00'), Date.parse('2021-06-01T10:00:00Z'));
    assert.equal(instant('2021-06-01T10:00:00.1234567-07:00'), Date.parse('2021-06-01T17:00:00.123Z'));
    assert.equal(instant('0001-01-01T00:00:00Z'), Date.parse('0001-01-01T00:00:00Z'));
    assert.equal(instant('0099-03-01T00:00:00Z'), Date.parse('0099-03-01T00:00:00Z'), 'not 1999: years below 100 are years');
  });

  it('refuses dates that do not exist, saying why', () => {
    assert.equal(instant('2020-02-30T00:00:00Z'), 'February 2020 has 29 days');
    assert.equal(instant('2021-02-29T00:00:00Z'), 'February 2021 has 28 days');
    assert.equal(instant('1900-02-29T00:00:00Z'), 'February 1900 has 28 days');
    assert.equal(typeof instant('2000-02-29T00:00:00Z'), 'number');
    assert.equal(instant('2020-04-31T00:00:00Z'), 'April 2020 has 30 days');
    assert.equal(instant('2020-13-01T00:00:00Z'), 'there is no month 13');
    assert.equal(instant('2020-00-10T00:00:00Z'), 'there is no month 00');
    assert.equal(instant('2020-01-00T00:00:00Z'), 'January 2020 has 31 days');
  });

  it('reads 24:00:00 as the next midnight, and refuses other hours beyond 23, minute 60 and second 60', () => {
    assert.equal(instant('2020-12-31T24:00:00Z'), Date.parse('2021-01-01T00:00:00Z'));
    assert.equal(instant('2020-12-31T24:00:00.000Z'), Date.parse('2021-01-01T00:00:00Z'));
    assert.match(String(instant('2020-12-31T24:00:01Z')), /hours go from 00 to 23/);
    assert.match(String(instant('2020-12-31T24:00:00.5Z')), /hours go from 00 to 23/);
    assert.match(String(instant('2020-12-31T25:00:00Z')), /hours go from 00 to 23/);
    assert.match(String(instant('2020-12-31T10:60:00Z')), /minutes and seconds/);
    assert.match(String(instant('2016-12-31T23:59:60Z')), /minutes and seconds/);
  });

  it('takes zones from -14:00 to +14:00 only', () => {
    assert.equal(instant('2020-01-01T00:00:00+14:00'), Date.parse('2019-12-31T10:00:00Z'));
    assert.equal(instant('2020-01-01T00:00:00-14:00'), Date.parse('2020-01-01T14:00:00Z'));
    assert.match(String(instant('2020-01-01T00:00:00+14:01')), /time zones/);
    assert.match(String(instant('2020-01-01T00:00:00+23:59')), /time zones/);
    assert.match(String(instant('2020-01-01T00:00:00+01:60')), /time zones/);
  });

  it('keeps instants within the years 0000 to 9999, UTC', () => {
    assert.equal(instant('0000-01-01T00:00:00Z'), FIRST_INSTANT);
    assert.equal(instant('9999-12-31T23:59:59.999Z'), LAST_INSTANT);
    assert.match(String(instant('0000-01-01T00:00:00+01:00')), /outside the years 0000 to 9999/);
    assert.match(String(instant('9999-12-31T24:00:00Z')), /outside the years 0000 to 9999/);
  });

  it('takes the lexical form exactly for values, leniently in filters', () => {
    for (const text of ['2024-05-01', '2024-05-01T12:00', '2024-05-01t12:00:00z', '-2024-05-01T00:00:00Z', '12024-05-01T00:00:00Z', '2024-5-1T00:00:00Z', ' 2024-05-01T00:00:00Z', 'yesterday', '']) {
      assert.equal(typeof instant(text, 'value'), 'string', text);
    }
    assert.equal(instant('2024-05-01', 'filter'), Date.parse('2024-05-01T00:00:00Z'));
    assert.equal(instant('2024-05-01T12:00', 'filter'), Date.parse('2024-05-01T12:00:00Z'));
    assert.equal(instant('2024-05-01t12:00:00z', 'filter'), Date.parse('2024-05-01T12:00:00Z'));
    assert.equal(instant('2020-02-30', 'filter'), 'February 2020 has 29 days');
  });

  it('normaliseDateTime gives Date#toISOString text, undefined for what is no date', () => {
    assert.equal(normaliseDateTime('2024-03-01T09:00:00+02:00'), '2024-03-01T07:00:00.000Z');
    assert.equal(normaliseDateTime('2020-02-30T00:00:00Z'), undefined);
  });
});
