/**
 * What the Users and Groups pages share: the actor of a console change, the managed-mode
 * banner, the source filters; and, for every page with a form, how a refusal of the domain is
 * shown (a banner, or the reason beside the field it names).
 *
 * The rules themselves are not here: each change calls the same directory service as the
 * admin API (accounts, groupManagement, memberships), which refuses it with its own message
 * while SCIM is on; pages only grey out what the same rule would refuse.
 */
import type { FastifyRequest } from 'fastify';
import { DirectoryError } from '../../../errors.ts';
import { adminStatusOf } from '../../errors.ts';
import { badge, banner, filterLinks, queryValue, type Query } from '../components.ts';
import { html, type SafeHtml } from '../html.ts';
import { viewerOf } from '../viewer.ts';

/** A refusal to show on the page that was acted on: the domain's message and its HTTP status. */
export interface Refusal {
  readonly status: number;
  readonly message: string;
  /** The form field at fault and what is wrong with its value, when the domain names one. */
  readonly field?: { readonly name: string; readonly reason: string };
}

/**
 * Runs a change; a DirectoryError (a managed-mode refusal, a name taken, a field rejected)
 * becomes a Refusal with the admin API's status and the domain's message. Anything else throws.
 */
export async function attempt<T>(change: () => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; refusal: Refusal }> {
  try {
    return { ok: true, value: await change() };
  } catch (error) {
    if (!(error instanceof DirectoryError)) throw error;
    const field = error.field !== undefined && error.valueRefusal !== undefined ? { field: { name: error.field, reason: error.valueRefusal.reason } } : {};
    return { ok: false, refusal: { status: adminStatusOf(error), message: error.message, ...field } };
  }
}

/**
 * The refusal as an alert banner, or nothing. When it is about one of `fields` (the form's field
 * names, each with its element id), the banner points at the field, which says what is wrong
 * (`fieldError`), rather than repeating the admin API's "Value … for field login was rejected".
 */
export function refusalBanner(refusal: Refusal | undefined, fields: Readonly<Record<string, string>> = {}): SafeHtml {
  if (refusal === undefined) return html``;
  const at = refusal.field === undefined ? undefined : fields[refusal.field.name];
  if (at !== undefined) {
    return banner({ tone: 'error', title: 'Nothing was saved', body: html`<p>Correct the <a href="#${at}">field marked below</a> and send the form again.</p>` });
  }
  return banner({ tone: 'error', title: 'Refused', body: html`<p>${refusal.message}</p>` });
}

/** The `error` option of the form field `name` when `refusal` is about it: its reason, as a sentence. */
export function fieldError(refusal: Refusal | undefined, name: string): { error?: string } {
  const reason = refusal?.field?.name === name ? refusal.field.reason : undefined;
  return reason === undefined ? {} : { error: asSentence(reason) };
}

/**
 * What to show beside the field a DirectoryError names: the reason alone when the message
 * frames it in the admin API's words ("Value … for field url was rejected. Error: …"), which
 * name the API's field rather than the form's label; otherwise the message.
 */
export function besideField(error: DirectoryError): string {
  return error.valueRefusal === undefined ? error.message : asSentence(error.valueRefusal.reason);
}

function asSentence(reason: string): string {
  return `${reason.charAt(0).toUpperCase()}${reason.slice(1)}.`;
}

/** The managed-mode banner of the Users and Groups pages while SCIM is on. */
export function managedBanner(what: 'users' | 'groups'): SafeHtml {
  const text =
    what === 'users'
      ? 'Users are managed by your identity provider; only local users can be deactivated here.'
      : 'Groups and their members are managed by your identity provider; only local groups can be deleted here.';
  return banner({ tone: 'info', title: 'SCIM provisioning is on', body: html`<p id="managed-note">${text}</p>` });
}

/** `?source=idp|local` as the domain's `managed` filter; only offered while SCIM is on. */
export function managedFilter(query: Query): { managed?: boolean } {
  const source = queryValue(query, 'source');
  return source === 'idp' ? { managed: true } : source === 'local' ? { managed: false } : {};
}

/** The "All · From IdP · Local" filter links (shown while SCIM is on). */
export function sourceFilter(path: string, query: Query): SafeHtml {
  return filterLinks({
    label: 'Source',
    path,
    query,
    param: 'source',
    options: [
      { label: 'All', value: undefined },
      { label: 'From IdP', value: 'idp' },
      { label: 'Local', value: 'local' },
    ],
  });
}

/** The "Local" badge of a resource SCIM does not manage, shown while SCIM is on. */
export function sourceBadge(scimOn: boolean, resource: { readonly scimId: string | null }): SafeHtml {
  return scimOn && resource.scimId === null ? badge('Local', 'info') : html``;
}
