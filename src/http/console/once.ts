/**
 * One-time form tokens in the console (directory/form-submissions.ts): forms whose answer shows
 * a secret once carry `_once`; the post claims it before acting. A reload of the answer, or
 * Back and resubmit, posts the same token again: nothing is done, and the page says so,
 * instead of creating a second application or rotating a secret the receiver just got.
 */
import type { FastifyRequest } from 'fastify';
import type { FormClaim, FormSubmissions } from '../../directory/form-submissions.ts';
import { banner, formValue, type FormBody } from './components.ts';
import { CSRF_FIELD } from '../csrf.ts';
import { viewerOf } from './viewer.ts';
import { html, type HtmlValue, type SafeHtml } from './html.ts';

/** The form field carrying the token. */
export const ONCE_FIELD = '_once';

/** A post's claim on its form token; `release` gives it back when the action failed. */
export interface OnceClaim {
  readonly claim: FormClaim;
  release(): Promise<void>;
}

/** The hidden field with a fresh token, for a form's body. */
export function onceField(submissions: FormSubmissions): SafeHtml {
  return html`<input type="hidden" name="${ONCE_FIELD}" value="${submissions.issue()}">`;
}

/** `{ _once: <fresh token> }`, for forms built from a list of hidden fields. */
export function onceFields(submissions: FormSubmissions): Record<string, string> {
  return { [ONCE_FIELD]: submissions.issue() };
}

/**
 * Claims the posted form's token. A creation (`repeatOnSameValues`) is also refused as a repeat
 * when the same user sent this form with the same values a moment ago from another load of the
 * page (Back and resubmit: a fresh token, the values the browser filled in again).
 */
export async function claimForm(request: FastifyRequest, submissions: FormSubmissions, options: { readonly repeatOnSameValues?: boolean } = {}): Promise<OnceClaim> {
  const token = formValue(request, ONCE_FIELD);
  const claim = await submissions.claim(token);
  const release = () => submissions.release(token);
  if (claim !== 'act' || options.repeatOnSameValues !== true) return { claim, release };
  const fingerprint = fingerprintOf(request);
  if (!(await submissions.claimValues(fingerprint))) {
    await release();
    return { claim: 'repeat', release: async () => {} };
  }
  return { claim, release: async () => void (await Promise.all([release(), submissions.releaseValues(fingerprint)])) };
}

/** Who sent which form with which values (the tokens left out). */
function fingerprintOf(request: FastifyRequest): string {
  const body = (request.body ?? {}) as FormBody;
  const fields = Object.entries(body)
    .filter(([name]) => name !== ONCE_FIELD && name !== CSRF_FIELD)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([viewerOf(request).user.id, request.url.split('?')[0], fields]);
}

/** The HTTP status of a post that did nothing: 409 for a repeat, 400 for a stale form. */
export function statusOfRefused(claim: Exclude<FormClaim, 'act'>): number {
  return claim === 'repeat' ? 409 : 400;
}

/**
 * The banner of a post that did nothing. `done` says what the first post did and where to see
 * it, e.g. "The webhook's secret was rotated."
 */
export function refusedBanner(claim: Exclude<FormClaim, 'act'>, done: HtmlValue): SafeHtml {
  return claim === 'repeat'
    ? banner({ tone: 'warning', title: 'Already done: nothing was changed this time', body: html`<p>This form was sent before (the page was reloaded, or sent again after going back). ${done} A secret is shown only once, on the page that answered the first time: if it was lost, issue a new one.</p>` })
    : banner({ tone: 'warning', title: 'This form is too old: nothing was changed', body: html`<p>It was loaded more than 12 hours ago. Use the form on this page if you still want to do it.</p>` });
}
