/**
 * What the Users and Groups pages share: the actor of a console change, the managed-mode
 * banner, the source filters; and, for every page with a form, how a refusal of the domain is
 * shown (the page's error summary, and the reason beside the field it names).
 *
 * The rules themselves are not here: each change calls the same directory service as the
 * admin API (accounts, groupManagement, memberships), which refuses it with its own message
 * while SCIM is on; pages only grey out what the same rule would refuse.
 */
import type { FastifyRequest } from 'fastify';
import { DirectoryError } from '../../../errors.ts';
import { adminStatusOf } from '../../errors.ts';
import { badge, banner, filterLinks, queryValue, type ErrorSummary, type Query } from '../components.ts';
import { html, type SafeHtml } from '../html.ts';
import { viewerOf } from '../viewer.ts';

/** A refusal to show on the page that was acted on: the domain's message and its HTTP status. */
export interface Refusal {
  readonly status: number;
  readonly message: string;
  /** The form fields at fault, in the form's order, and what is wrong with each value, when the domain names them. */
  readonly fields?: ReadonlyArray<{ readonly name: string; readonly reason: string }>;
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
    return { ok: false, refusal: refusalOf(error) };
  }
}

/**
 * A DirectoryError as a Refusal: the admin API's status, the domain's message, and every field
 * it refused (the same check refused the others of the input with it: DirectoryError.others).
 */
export function refusalOf(error: DirectoryError): Refusal {
  // A value refused has its reason in plain words apart from the admin API's sentence; another
  // refusal about a field (a login taken, no such user) is said in its own sentence.
  const fields = [error, ...error.others]
    .filter((refused) => refused.field !== undefined)
    .map((refused) => ({ name: refused.field ?? '', reason: refused.valueRefusal?.plain ?? refused.message }));
  return { status: adminStatusOf(error), message: error.message, ...(fields.length > 0 ? { fields } : {}) };
}

/** The fields of a form a refusal may name, by the domain's field name: their element id and label. */
export type FormFields = Readonly<Record<string, { readonly id: string; readonly label: string }>>;

/**
 * The refusal as the page's error summary (PageOptions.errors). Each refused field that is one
 * of the form's `fields` is listed, in their order, with a link to it, named by its label, and what is wrong in
 * the words shown beside it (`fieldError`), rather than the admin API's "Value … for field login
 * was rejected"; a refusal about none of them is the domain's message.
 */
export function refusalSummary(refusal: Refusal, fields: FormFields = {}, title = 'Nothing was saved'): ErrorSummary {
  // In the form's order, whatever order the domain checked them in.
  const problems = Object.entries(fields).flatMap(([name, at]) => {
    const refused = refusal.fields?.find((candidate) => candidate.name === name);
    return refused === undefined ? [] : [{ field: at, message: asSentence(refused.reason) }];
  });
  return problems.length > 0 ? { title, problems } : { title: 'Refused', problems: [{ message: refusal.message }] };
}

/** The `error` option of the form field `name` when `refusal` is about it: its reason, as a sentence. */
export function fieldError(refusal: Refusal | undefined, name: string): { error?: string } {
  const reason = refusal?.fields?.find((refused) => refused.name === name)?.reason;
  return reason === undefined ? {} : { error: asSentence(reason) };
}

/**
 * What to show beside the field a DirectoryError names: the reason alone when the message
 * frames it in the admin API's words ("Value … for field url was rejected. Error: …"), which
 * name the API's field rather than the form's label; otherwise the message.
 */
export function besideField(error: DirectoryError): string {
  return error.valueRefusal === undefined ? error.message : asSentence(error.valueRefusal.plain);
}

function asSentence(reason: string): string {
  return `${reason.charAt(0).toUpperCase()}${reason.slice(1)}${/[.!?]$/.test(reason) ? '' : '.'}`;
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

/**
 * Marks the administrators' group (ROSTER_ADMIN_GROUP) wherever a group is named in a list or a
 * heading: its name alone does not say that its members administer Roster.
 */
export function adminGroupBadge(isAdminGroup: boolean): SafeHtml {
  return isAdminGroup ? html` ${badge('Administrators', 'warning')}` : html``;
}

/**
 * An inactive user's badge: "Suspended by IdP" while the identity provider keeps it linked with
 * `active=false` (its memberships are kept but grant nothing), "Deactivated" otherwise (SCIM
 * DELETE, the admin API, the CLI and the console unlink it and remove its memberships).
 */
export function inactiveBadge(user: { readonly active: boolean; readonly scimId: string | null }): SafeHtml {
  if (user.active) return html``;
  return user.scimId !== null ? badge('Suspended by IdP', 'neutral') : badge('Deactivated', 'neutral');
}

/** The "Local" badge of a resource SCIM does not manage, shown while SCIM is on. */
export function sourceBadge(scimOn: boolean, resource: { readonly scimId: string | null }): SafeHtml {
  return scimOn && resource.scimId === null ? badge('Local', 'info') : html``;
}
