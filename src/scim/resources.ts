/**
 * Turning stored state into SCIM resources (RFC 7643 §3.1 `meta`, RFC 7644 §3.14 versions).
 * Pure: the caller gives the document, the identifiers and the timestamps.
 */
import { ENTERPRISE_USER_SCHEMA, RESOURCE_TYPES, resourceTypeName, type ResourceTypeName, type ResourceTypeRef } from './schemas.ts';

/** What a resource is made from, whatever the storage. */
export interface ResourceState {
  /** The SCIM id. */
  readonly id: string;
  /** The client-visible attributes (canonical names, extensions under their URN), without id and meta. */
  readonly document: Readonly<Record<string, unknown>>;
  readonly created: string;
  /** When what GET returns last changed, computed attributes (User.groups, Group.members) included. */
  readonly lastModified: string;
  /**
   * Changes whenever what GET returns changes, computed attributes included (RFC 7644 §3.14),
   * and never comes back; drives `meta.version` and the ETag. Opaque text, compared exactly.
   */
  readonly version: string;
  /**
   * Users: how the user their enterprise `manager.value` names is shown (memberDisplay), when
   * it names one; `manager.displayName` and `manager.$ref` are filled from it.
   */
  readonly managerDisplay?: string;
}

/** The entity tag of a version: weak, because equal versions are equivalent, not byte-identical. */
export function etagOf(version: string): string {
  return `W/"${version}"`;
}

/** The URL of a resource, for `meta.location` and the `Location` header. */
export function locationOf(baseUrl: string, resourceType: ResourceTypeName, id: string): string {
  return `${locationBase(baseUrl, resourceType)}${encodeURIComponent(id)}`;
}

/** What every `meta.location` of a resource type starts with: its endpoint's URL and a '/'. */
export function locationBase(baseUrl: string, resourceType: ResourceTypeName): string {
  return `${baseUrl}/api/scim/v2${RESOURCE_TYPES[resourceType].endpoint}/`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Each element of a reference list with its `$ref` (RFC 7643 §2.3.7): the URL of the resource its `value` names. */
function withRefs(list: unknown, baseUrl: string, target: ResourceTypeName): unknown {
  if (!Array.isArray(list)) return list;
  return list.map((element) => {
    if (!isObject(element) || typeof element.value !== 'string') return element;
    const { value, $ref: _sent, ...rest } = element;
    return { value, $ref: locationOf(baseUrl, target, value), ...rest };
  });
}

/**
 * The computed references of a document: `$ref` of Group `members` and User `groups`, and of
 * the enterprise `manager` with its `displayName` when `manager.value` names a user (both are
 * Roster's to say: a `$ref` a client sent is not shown, nor kept for a manager that is gone).
 */
function withReferences(resourceType: ResourceTypeName, document: Readonly<Record<string, unknown>>, state: ResourceState, baseUrl: string): Record<string, unknown> {
  const output: Record<string, unknown> = { ...document };
  if (resourceType === 'Group' && 'members' in output) output.members = withRefs(output.members, baseUrl, 'User');
  if (resourceType === 'User' && 'groups' in output) output.groups = withRefs(output.groups, baseUrl, 'Group');
  const extension = output[ENTERPRISE_USER_SCHEMA];
  if (resourceType === 'User' && isObject(extension) && isObject(extension.manager)) {
    const { $ref: _sent, displayName: _stale, ...manager } = extension.manager;
    const resolved = state.managerDisplay !== undefined && typeof manager.value === 'string';
    output[ENTERPRISE_USER_SCHEMA] = {
      ...extension,
      manager: resolved ? { ...manager, $ref: locationOf(baseUrl, 'User', manager.value as string), displayName: state.managerDisplay } : manager,
    };
  }
  return output;
}

/** The full SCIM representation: `schemas` first, then `id`, the attributes, and `meta`. */
export function renderResource(
  resourceType: ResourceTypeRef,
  state: ResourceState,
  baseUrl: string,
): Record<string, unknown> {
  const name = resourceTypeName(resourceType);
  const { schemas, ...attributes } = withReferences(name, state.document, state, baseUrl);
  return {
    schemas: Array.isArray(schemas) && schemas.length > 0 ? schemas : [RESOURCE_TYPES[name].schema],
    id: state.id,
    ...attributes,
    meta: {
      resourceType: name,
      created: state.created,
      lastModified: state.lastModified,
      location: locationOf(baseUrl, name, state.id),
      version: etagOf(state.version),
    },
  };
}

/**
 * True when an `If-Match` header value allows a write to `version` (RFC 7232 §3.1, as RFC 7644
 * §3.14 uses it): `*`, or a list containing the current tag. Weak and strong forms of the same
 * tag both match, since Roster only issues weak tags and clients sometimes drop the `W/`.
 */
export function ifMatchAllows(header: string, version: string): boolean {
  const value = header.trim();
  if (value === '*') return true;
  return value.split(',').some((tag) => tag.trim().replace(/^W\//, '').replace(/^"|"$/g, '') === version);
}

/** True when an `If-None-Match` header value names the current version (answer 304 to a GET). */
export function ifNoneMatchHits(header: string, version: string): boolean {
  return ifMatchAllows(header, version);
}
