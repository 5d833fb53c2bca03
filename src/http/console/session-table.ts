/**
 * The table of a user's live sessions, on My account and on an administrator's user page: when
 * and where each signed in, and a button that ends one. Address and browser are what the client
 * said at sign-in, shown as text (html`` escapes them) and trusted for nothing else.
 */
import type { FastifyRequest } from 'fastify';
import type { SessionSummary } from '../../auth/sessions.ts';
import { actionButton, badge, dataTable, labelFor, timeTag } from './components.ts';
import { html, type SafeHtml } from './html.ts';

/** The form field that names the session to end (its handle, never anything that opens it). */
export const SESSION_FIELD = 'session';

/** Shown for sessions opened before Roster recorded where they came from. */
const UNKNOWN = '—';

/** A sign-in time to the second, as the button names it ("2025-01-31 12:34:56 UTC"); the table shows minutes. */
function signedInAt(iso: string): string {
  return `${new Date(iso).toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/**
 * The sessions as a table; `endAction` is where each row's "End" button posts, shown on every
 * row but the current session (which "Sign out" ends).
 */
export function sessionTable(request: FastifyRequest, sessions: readonly SessionSummary[], options: { readonly caption: string; readonly endAction: string }): SafeHtml {
  return dataTable({
    caption: options.caption,
    captionHidden: true,
    columns: ['Browser', 'Address', 'Signed in', 'Last active', 'Ends', ''],
    rows: sessions.map((session) => [
      session.browser ?? UNKNOWN,
      session.address === null ? UNKNOWN : html`<code class="nowrap">${session.address}</code>`,
      timeTag(session.createdAt),
      timeTag(session.lastSeenAt),
      timeTag(session.expiresAt),
      session.current
        ? badge('This session', 'success')
        : actionButton(request, {
            action: options.endAction,
            // A screen reader going from button to button hears which session each one ends: the
            // same browser at the same address is told apart by when it signed in, to the second.
            label: labelFor('End', `the session of ${session.browser ?? 'an unknown browser'}${session.address === null ? '' : ` at ${session.address}`}, signed in ${signedInAt(session.createdAt)}`),
            fields: { [SESSION_FIELD]: session.handle },
          }),
    ]),
    empty: 'No active sessions.',
  });
}
