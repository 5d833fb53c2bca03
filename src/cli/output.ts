/**
 * How the CLI prints text that came from outside (an identity provider's SCIM displayName, an
 * admin API caller's group or application name, a client's path): a control character in it
 * must neither forge a row of a tab-separated listing (TAB, LF) nor reach the terminal as an
 * escape sequence (ESC), so every table cell and every name the CLI prints goes through here.
 */

// C0 and C1 controls (TAB and LF included), the Unicode characters that reorder or break what a
// terminal shows (bidirectional marks, overrides and isolates, the Arabic letter mark, line and
// paragraph separators), and the invisible ones that make two names look alike (zero-width space,
// word joiner, byte-order mark: `zero\u200bwidth` beside `zerowidth`). The zero-width joiner and
// non-joiner stay: emoji sequences and several scripts need them.
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]/g;

/** `text` made safe for a terminal and for one cell: each control character shown as `\xNN` (or `\uNNNN`). */
export function printable(text: string): string {
  return text.replace(UNPRINTABLE, (char) => {
    const code = char.charCodeAt(0);
    return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** A message of one or more lines (an error naming a group), each line printable. */
export function printableLines(text: string): string {
  return text.split('\n').map(printable).join('\n');
}

/** One line of tab-separated cells, each printable. */
export function tabbed(cells: readonly string[]): string {
  return cells.map(printable).join('\t');
}

/** Rows as columns padded to their widest cell, two spaces apart; every cell printable. */
export function table(rows: readonly (readonly string[])[]): string {
  const cells = rows.map((row) => row.map(printable));
  const widths = cells[0]?.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length))) ?? [];
  return cells.map((row) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd()).join('\n');
}

/**
 * Writes one piece of a long output to stdout, waiting while its reader is behind; resolves
 * false once the reader went away (`| head`: EPIPE closes stdout), after which the caller stops
 * producing. Waiting for a 'drain' alone hung there for ever: a closed stdout never drains, and
 * Node then exited 13 with the command's work left unfinished.
 */
export function writeOut(text: string): Promise<boolean> {
  const stdout = process.stdout;
  if (stdout.destroyed || !stdout.writable) return Promise.resolve(false);
  if (stdout.write(text)) return Promise.resolve(true);
  return new Promise((resolve) => {
    const settle = (written: boolean) => () => {
      stdout.off('drain', drained);
      stdout.off('close', closed);
      resolve(written);
    };
    const drained = settle(true);
    const closed = settle(false);
    stdout.once('drain', drained);
    stdout.once('close', closed);
  });
}
