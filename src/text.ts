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

/**
 * The characters that show nothing, or only reorder what surrounds them: the bidirectional
 * marks, embeddings, overrides and isolates (U+061C, U+200E–U+200F, U+202A–U+202E,
 * U+2066–U+2069), zero-width and invisible spaces and operators (U+200B, U+2060–U+2064,
 * U+FEFF, U+180E), the soft hyphen (U+00AD) and the Hangul fillers that render blank
 * (U+115F, U+1160, U+3164, U+FFA0). The zero-width joiner and non-joiner (U+200C, U+200D) are
 * not among them: Persian and Indic spellings and emoji sequences need them.
 */
const INVISIBLE = '\u00ad\u061c\u115f\u1160\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\u3164\ufeff\uffa0';
const HAS_INVISIBLE = new RegExp(`[${INVISIBLE}]`, 'u');
const HIDDEN = new RegExp(`[\\p{Cc}${INVISIBLE}]`, 'gu');

/** Whether `text` contains a control character (Unicode category Cc: C0, DEL and C1). */
export function hasControlCharacter(text: string): boolean {
  return /\p{Cc}/u.test(text);
}

/**
 * Whether `text` contains a bidirectional embedding, override or isolate (U+202A–U+202E,
 * U+2066–U+2069), which reorders the text after it: `Eve\u{202E}gnp.exe` shows as `Eveexe.png`.
 * The marks U+200E and U+200F, which right-to-left text may need, are not among them.
 */
export function hasDirectionControl(text: string): boolean {
  return /[\u202a-\u202e\u2066-\u2069]/u.test(text);
}

/** Whether `text` contains a character that shows nothing or reverses the text around it. */
export function hasInvisibleCharacter(text: string): boolean {
  return HAS_INVISIBLE.test(text);
}

/**
 * `text` with every control and invisible character written as its code point (`admin\u{200B}`),
 * so that a message quoting a refused value shows what was wrong with it and cannot be
 * reordered or split into lines by it.
 */
export function revealHidden(text: string): string {
  return text.replace(HIDDEN, (char) => `\\u{${(char.codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, '0')}}`);
}
