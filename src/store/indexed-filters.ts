/**
 * Which SCIM filters the database answers from an index: the lookups IdPs make before each
 * write. A list filtered so takes a few rows' work, and is read on the main connection; any
 * other list may read every resource (seconds at a million users) and is read where it holds no
 * other request (on SQLite a reader thread, store/sqlite-readers.ts). Conservative: a filter
 * not recognised here is only read elsewhere, never wrongly.
 */
import type { Filter } from '../scim/filter/index.ts';
import { GROUP_SCHEMA, USER_SCHEMA } from '../scim/schemas.ts';

/**
 * Attributes (`attribute` or `attribute.subAttribute`, lower case) whose `eq` compares an indexed
 * column: the case keys (users_login_key, groups_name_key), external ids, the SCIM id, the
 * emails' value keys; `meta.location` is the SCIM id in a URL.
 */
const INDEXED_EQUALITY = {
  User: { schema: USER_SCHEMA.toLowerCase(), attributes: new Set(['username', 'externalid', 'id', 'emails.value', 'meta.location']) },
  Group: { schema: GROUP_SCHEMA.toLowerCase(), attributes: new Set(['displayname', 'externalid', 'id', 'meta.location']) },
} as const;

/**
 * Whether an index finds the resources `filter` matches: an `eq` on an indexed attribute, an
 * `or` of such (SQLite reads each branch from its index), or an `and` one side of which is one.
 */
export function answeredByIndex(filter: Filter, resourceType: keyof typeof INDEXED_EQUALITY): boolean {
  const indexed = INDEXED_EQUALITY[resourceType];
  switch (filter.kind) {
    case 'compare': {
      if (filter.op !== 'eq' || filter.value === null) return false;
      const { schema, attribute, subAttribute } = filter.path;
      if (schema !== undefined && schema.toLowerCase() !== indexed.schema) return false;
      return indexed.attributes.has(subAttribute === undefined ? attribute.toLowerCase() : `${attribute}.${subAttribute}`.toLowerCase());
    }
    case 'or':
      return answeredByIndex(filter.left, resourceType) && answeredByIndex(filter.right, resourceType);
    case 'and':
      return answeredByIndex(filter.left, resourceType) || answeredByIndex(filter.right, resourceType);
    default:
      return false;
  }
}
