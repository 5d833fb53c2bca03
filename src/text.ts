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
