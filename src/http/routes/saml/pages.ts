/**
 * The few HTML pages of the SAML flow. Everything interpolated is escaped, and every message
 * is cut to MAX_MESSAGE characters: some quote what a client sent.
 */
import { shorten } from '../../../text.ts';
import { escapeHtml } from '../../console/html.ts';

/** The most characters a page shows of any one message. */
const MAX_MESSAGE = 500;

/**
 * A whole page around already-escaped body HTML: the SAML and OpenID Connect pages (sign-in
 * refusals, the sign-out question) all have this one shell.
 */
export function plainPage(title: string, bodyHtml: string): string {
  return [
    '<!DOCTYPE html>',
    '<html lang="en"><head><meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${escapeHtml(title)} · Roster</title>`,
    '<style>body{font-family:system-ui,sans-serif;max-width:46rem;margin:3rem auto;padding:0 1rem;line-height:1.5}',
    'table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .5rem;text-align:left;vertical-align:top}',
    '.refused{color:#a00}.ok{color:#070}</style>',
    // One <main> landmark holds the content, as on the console's pages (screen readers jump to it).
    '</head><body><main>',
    `<h1>${escapeHtml(title)}</h1>`,
    bodyHtml,
    '</main></body></html>',
  ].join('\n');
}

/** The page shown when a sign-in is refused: what failed, in one or two sentences. */
export function refusalPage(message: string, detail?: string): string {
  const extra = detail === undefined ? '' : `\n<p>${escapeHtml(shorten(detail, MAX_MESSAGE))}</p>`;
  return plainPage('Sign-in refused', `<p class="refused">${escapeHtml(shorten(message, MAX_MESSAGE))}</p>${extra}\n<p><a href="/saml/login">Try again</a></p>`);
}

/**
 * A page that moves on to `url` at once by itself, with a link for browsers that do not: the
 * answer to a sign-in form whose next stop is on another origin. Browsers check every redirect
 * of a form submission against the form page's CSP `form-action` ('self' on Roster's pages), so
 * a `303` to an application's address after the sign-in form would stop there, the user left on
 * the form; a page that navigates starts a new navigation that `form-action` does not govern.
 */
export function continuePage(url: string): string {
  const target = escapeHtml(url);
  return `<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="0;url=${target}"><title>Signing in · Roster</title></head>
<body><main><p>Signing you in… <a href="${target}">Continue</a></p></main></body></html>`;
}

/** A plain message page (e.g. SAML not configured). */
export function messagePage(title: string, message: string): string {
  return plainPage(title, `<p>${escapeHtml(shorten(message, MAX_MESSAGE))}</p>`);
}

/** The page of a browser request Roster cannot carry out now (its database, or the instance busy): when to try again. */
export function unavailablePage(retryAfterSeconds: number): string {
  return messagePage('Temporarily unavailable', `Roster cannot complete this request right now. Wait ${retryAfterSeconds === 1 ? 'a second' : `${retryAfterSeconds} seconds`} and try again.`);
}

/** The page of a browser request that failed inside Roster (the cause is logged). */
export function failurePage(): string {
  return messagePage('Something went wrong', 'Roster could not complete this request. Try again; if it keeps failing, tell your administrator.');
}

/** One row of the validation report. */
export interface ValidationRow {
  readonly label: string;
  readonly value: string;
}

/** The administrator's "test configuration" report: what the IdP sent and what Roster would do. */
export function validationPage(verdict: { ok: boolean; message: string }, rows: readonly ValidationRow[], attributes: Readonly<Record<string, readonly string[]>>): string {
  const verdictHtml = `<p class="${verdict.ok ? 'ok' : 'refused'}">${escapeHtml(shorten(verdict.message, MAX_MESSAGE))}</p>`;
  const table = (entries: ReadonlyArray<readonly [string, string]>): string =>
    `<table>${entries.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('')}</table>`;
  const attributeEntries = Object.entries(attributes).map(([name, values]) => [name, values.join(', ')] as const);
  return plainPage(
    'SAML configuration test',
    [
      verdictHtml,
      '<h2>Result</h2>',
      table(rows.map((row) => [row.label, row.value] as const)),
      '<h2>Attributes sent by the identity provider</h2>',
      attributeEntries.length === 0 ? '<p>None.</p>' : table(attributeEntries),
      '<p>No session was opened and no user was changed by this test.</p>',
    ].join('\n'),
  );
}
