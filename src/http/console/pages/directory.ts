/**
 * What the Users and Groups pages share: the actor of a console change, the managed-mode
 * banner, the source filters, and how a refusal of the domain is shown on the page.
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
    return { ok: false, refusal: { status: adminStatusOf(error), message: error.message } };
  }
}

/** The refusal as an alert banner, or nothing. */
export function refusalBanner(refusal: Refusal | undefined): SafeHtml {
  return refusal === undefined ? html`` : banner({ tone: 'error', title: 'Refused', body: html`<p>${refusal.message}</p>` });
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
