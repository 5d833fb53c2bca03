/**
 * HTML that escapes by default. Every console page is built with the `html` tagged template:
 * each interpolated value is escaped for element content and quoted attribute values, unless
 * it is already SafeHtml (the result of another `html` template, or `raw`). So a login, a
 * group name or an error message can never become markup.
 *
 *   html`<p class="who">${user.login}</p>`            // escaped
 *   html`<ul>${groups.map((g) => html`<li>${g.name}</li>`)}</ul>`   // arrays are joined
 *   html`${isAdmin && html`<span>admin</span>`}`          // false, null, undefined render nothing
 *
 * Always quote attribute values (`href="${url}"`): escaping covers `"` and `'`, not spaces.
 * URLs that come from users need `safeUrl` as well, which only lets local paths and http(s)
 * through (no `javascript:`).
 */

/** Markup that is safe to insert as it is: made by `html` or `raw`, never from raw text. */
export class SafeHtml {
  readonly #markup: string;

  constructor(markup: string) {
    this.#markup = markup;
  }

  /** The markup itself. */
  toString(): string {
    return this.#markup;
  }
}

/** What a `html` template accepts: text (escaped), numbers, SafeHtml, lists of these, and nothing. */
export type HtmlValue = SafeHtml | string | number | bigint | boolean | null | undefined | readonly HtmlValue[];

const ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c] ?? c);
}

function render(value: HtmlValue): string {
  if (value instanceof SafeHtml) return value.toString();
  if (Array.isArray(value)) return value.map(render).join('');
  // `cond && html`…`` leaves `false` when cond is false; `true` never means text either.
  if (value === null || value === undefined || typeof value === 'boolean') return '';
  return escapeHtml(String(value));
}

/** The escaping tagged template: `html`<p>${text}</p>``. */
export function html(strings: TemplateStringsArray, ...values: readonly HtmlValue[]): SafeHtml {
  let out = strings[0] ?? '';
  values.forEach((value, index) => {
    out += render(value) + (strings[index + 1] ?? '');
  });
  return new SafeHtml(out);
}

/** Marks trusted markup (a constant, never text from a request or the database) as safe. */
export function raw(trusted: string): SafeHtml {
  return new SafeHtml(trusted);
}

/** Joins values (escaping text) with a separator given as markup. */
export function join(values: readonly HtmlValue[], separator: SafeHtml | string = ''): SafeHtml {
  return new SafeHtml(values.map(render).join(separator instanceof SafeHtml ? separator.toString() : escapeHtml(separator)));
}

/**
 * A URL fit for `href`/`action`: a path on this server, or an absolute http(s) URL; anything
 * else (`javascript:`, `data:`, protocol-relative `//host`) becomes `#`.
 */
export function safeUrl(url: string): string {
  if (/^\/(?![/\\])/.test(url)) return url;
  try {
    const parsed = new URL(url);
    return parsed.protocol === 'https:' || parsed.protocol === 'http:' ? parsed.href : '#';
  } catch {
    return '#';
  }
}
