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
