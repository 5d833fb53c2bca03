/**
 * The one page layout of the console, and the headers every console answer carries. A page
 * handler builds its body with `html` and the components, then calls `sendPage`:
 *
 *   app.get('/admin/things', async (request, reply) =>
 *     sendPage(request, reply, { title: 'Things', body: html`<p>…</p>` }));
 *
 * The header shows who is signed in (a link to My account) and a sign-out button, and, for
 * administrators, the navigation of the administration sections (sections.ts), the current
 * one marked. A user who signs in with a password Roster generated is asked on every page to
 * choose their own. Pages are never cached and never framed.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { assetUrl } from './assets.ts';
import { html, type SafeHtml } from './html.ts';
import { ADMIN_SECTIONS, sectionOf } from './sections.ts';
import { banner, csrfField, errorSummary, noticeBanner, openConfirmationOf, type ErrorSummary, type Notice } from './components.ts';

/**
 * The console's Content-Security-Policy: scripts, styles and images only from Roster itself
 * (no inline script or style, no eval), forms only to Roster, never framed (clickjacking).
 */
export const CONSOLE_CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
].join('; ');

/** Sets the headers every console answer carries (pages, redirects, errors, assets). */
export function applySecurityHeaders(reply: FastifyReply): void {
  reply
    .header('content-security-policy', CONSOLE_CSP)
    .header('x-frame-options', 'DENY')
    .header('referrer-policy', 'same-origin')
    .header('cross-origin-opener-policy', 'same-origin')
    .header('cross-origin-resource-policy', 'same-origin')
    .header('permissions-policy', 'camera=(), microphone=(), geolocation=(), payment=()');
}

/** What a page says; `sendPage` wraps it in the layout. */
export interface PageOptions {
  /** The page's name: the <title> (with " · Roster") and, unless `heading` says otherwise, its <h1>. */
  readonly title: string;
  /** The content under the heading. */
  readonly body: SafeHtml;
  /** The HTTP status (200 unless said). */
  readonly status?: number;
  /** Replaces the <h1> (it must contain one). */
  readonly heading?: SafeHtml;
  /** A narrow, centred column without navigation (the sign-in page). */
  readonly narrow?: boolean;
  /**
   * The page answers a refused form: the error summary is shown under the heading and takes
   * the focus, and the title starts with "Error: " (what a screen reader reads first).
   */
  readonly errors?: ErrorSummary;
}

/** Where My account's password form is (pages/account.ts gives its section this id). */
const PASSWORD_FORM = '/account#password';

/**
 * The reminder on every page of a user who signs in with a password Roster generated: it was
 * printed or written to a file, so someone else may have seen it. A status, not an alert (it
 * is there on every page, and nothing is forced), until the user chooses their own.
 */
function generatedPasswordBanner(): SafeHtml {
  return banner({
    tone: 'warning',
    body: html`<p>You are signed in with a password Roster generated (at first start, by a reset, or when your account was created), which whoever ran the command may have seen. Choose your own: <a href="${PASSWORD_FORM}">My account › Password</a>.</p>`,
  });
}

/**
 * `?notice=` of a page a form was sent back to because its CSRF token was an earlier session's
 * (index.ts): any page holds forms, so the layout says it, not each page's own notices.
 */
export const FORM_EXPIRED_NOTICE = 'form-expired';
const LAYOUT_NOTICES: Readonly<Record<string, Notice>> = {
  [FORM_EXPIRED_NOTICE]: {
    tone: 'warning',
    text: 'The form you sent had expired (it was loaded before your latest sign-in, in this tab or another), so nothing was saved. This page is loaded again: send the form again from here.',
  },
};

/** The whole HTML document of a page, for the request's viewer. */
export function renderPage(request: FastifyRequest, options: PageOptions): string {
  // Pages rendered outside the console's scope (the HTML 404) have no viewer decorated.
  const viewer = request.viewer ?? null;
  const path = request.url.split('?')[0] ?? '/';
  const current = sectionOf(path);
  // A confirmation opened without scripts (components.ts confirmDialog): the page behind it is inert.
  const confirmation = openConfirmationOf(request);
  const nav =
    viewer?.administrator === true
      ? html`<nav class="sections" aria-label="Administration"><ul>
<li><a href="/admin"${path === '/admin' && html` aria-current="page"`}>Overview</a></li>
${ADMIN_SECTIONS.map((section) => html`<li><a href="${section.path}"${current === section && html` aria-current="${path === section.path ? 'page' : 'true'}"`}>${section.title}</a></li>`)}
</ul></nav>`
      : html``;
  const account =
    viewer === null
      ? html``
      : html`<div class="account"><a href="/account"${path === '/account' && html` aria-current="page"`}><span class="visually-hidden">My account: </span>${viewer.user.login}</a>
<form method="post" action="/sessions/sign-out" class="inline">${csrfField(request)}<button type="submit" class="button default">Sign out</button></form></div>`;
  const document = html`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.errors !== undefined && 'Error: '}${options.title} · Roster</title>
${viewer !== null && html`<meta name="roster-csrf" content="${viewer.csrfToken}">`}
<link rel="icon" href="${assetUrl('favicon.svg')}" type="image/svg+xml">
<link rel="stylesheet" href="${assetUrl('console.css')}">
<script src="${assetUrl('console.js')}" defer></script>
</head>
<body${options.narrow === true && html` class="narrow"`}>
${confirmation !== undefined && html`<div class="behind-dialog" inert>`}
<a class="skip-link" href="#main">Skip to main content</a>
<header class="topbar">
<a class="brand" href="/">Roster</a>
${nav}
${account}
</header>
<main id="main" tabindex="-1">
${options.heading ?? html`<h1>${options.title}</h1>`}
${options.errors !== undefined && errorSummary(options.errors)}
${viewer?.generatedPassword === true && generatedPasswordBanner()}
${viewer !== null && options.errors === undefined && noticeBanner(request, LAYOUT_NOTICES)}
${options.body}
</main>
${confirmation !== undefined && html`</div>
${confirmation}`}
</body>
</html>
`;
  return document.toString();
}

/** Sends a page in the layout, uncached. */
export function sendPage(request: FastifyRequest, reply: FastifyReply, options: PageOptions): FastifyReply {
  return reply
    .code(options.status ?? 200)
    .header('cache-control', 'no-store')
    .type('text/html; charset=utf-8')
    .send(renderPage(request, options));
}
