/** Text helpers shared by every layer. */

/**
 * `text` cut to at most `max` characters in all, saying how much was cut
 * (`abc… (1234 more characters)`), so that no message grows with its input. A surrogate
 * pair is never split.
 */
export function shorten(text: string, max: number): string {
  if (text.length <= max) return text;
  // The suffix for the whole length is at least as long as the one finally written.
  let keep = Math.max(0, max - `… (${text.length} more characters)`.length);
  const last = text.charCodeAt(keep - 1);
  if (last >= 0xd800 && last <= 0xdbff) keep -= 1;
  return `${text.slice(0, keep)}… (${text.length - keep} more characters)`;
}

// Only ASCII: already in NFC, and toLowerCase is its whole case folding.
const ASCII = /^[\x00-\x7f]*$/;

/**
 * The key under which two texts are equal regardless of case, the same in code and in both
 * databases (which store it beside the value): Unicode's default caseless match (Unicode
 * §3.13, D145) with full case folding, for every script. `Émile`, `ÉMILE` and `E` + U+0301
 * + `mile` share one key; `STRASSE`, `straße` and `STRAẞE` share one (ß folds to ss); final
 * and medial sigma share one. Locale-free, as Unicode's default folding is: `I` folds to `i`,
 * the Turkish dotless `ı` stays itself, the dotted `İ` folds to `i` + U+0307. The result is in
 * NFC, so that `e` is not a substring of the key of `é`. See docs/scim.md, "Case and Unicode".
 */
export function caseKey(text: string): string {
  if (ASCII.test(text)) return text.toLowerCase();
  let folded = '';
  // Code point by code point, so that no context (final sigma) changes a character's key and
  // substring tests on keys (co, sw, ew) mean what they say. lower→upper→lower is full case
  // folding (ß → SS → ss, ſ → S → s, ẞ → ß → SS → ss) except for `ı`, which only Turkic folding
  // maps, and Cherokee, which it maps to one case consistently (the key is not shown to anyone).
  for (const char of text.normalize('NFD')) folded += char === '\u0131' ? char : char.toLowerCase().toUpperCase().toLowerCase();
  return folded.normalize('NFC');
}
// A spreadsheet reads a cell starting with one of these as a formula (OWASP, "CSV Injection").
const FORMULA_START = /^[=+\-@\t\r]/;

/**
 * One CSV record (RFC 4180), CRLF included. A cell that a spreadsheet would run as a formula
 * (starting with = + - @, a tab or a carriage return) is prefixed with `'`, so that exported
 * text someone else wrote (a login, a group name) stays text; a cell with a comma, a quote or a
 * line break is quoted. `null` is an empty cell.
 */
export function csvRecord(cells: readonly (string | number | null)[]): string {
  return `${cells
    .map((cell) => {
      if (cell === null) return '';
      let text = String(cell);
      if (typeof cell === 'string' && FORMULA_START.test(text)) text = `'${text}`;
      return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
    })
    .join(',')}\r\n`;
}

/** An ISO 8601 instant as people read it in messages and pages: `2026-12-02 15:11 UTC`. */
export function readableTime(iso: string): string {
  return `${new Date(iso).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}
