/**
 * Turning stored state into SCIM resources (RFC 7643 §3.1 `meta`, RFC 7644 §3.14 versions).
 * Pure: the caller gives the document, the identifiers and the timestamps.
 */
import { RESOURCE_TYPES, resourceTypeName, type ResourceTypeName, type ResourceTypeRef } from './schemas.ts';

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

/** The full SCIM representation: `schemas` first, then `id`, the attributes, and `meta`. */
export function renderResource(
  resourceType: ResourceTypeRef,
  state: ResourceState,
  baseUrl: string,
): Record<string, unknown> {
  const name = resourceTypeName(resourceType);
  const { schemas, ...attributes } = state.document;
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
