/**
 * Query parameters of list and search requests (RFC 7644 §3.4.2, §3.4.3; `cursor` from RFC
 * 9865) and the ListResponse message. Parsing only: the store runs the query.
 */
import { badRequest } from './errors.ts';
import { isJsonObject } from './json.ts';
import { LIST_RESPONSE_SCHEMA, SEARCH_REQUEST_SCHEMA } from './schemas.ts';

/** Paging limits, also reported by /ServiceProviderConfig (filter.maxResults, pagination). */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/** Raw query parameters as strings (GET) or JSON values (POST /.search). */
export interface RawListParameters {
  readonly filter?: unknown;
  readonly sortBy?: unknown;
  readonly sortOrder?: unknown;
  readonly startIndex?: unknown;
  readonly count?: unknown;
  /** RFC 9865: empty for the first page of a cursor walk, then a nextCursor or previousCursor. */
  readonly cursor?: unknown;
  readonly attributes?: unknown;
  readonly excludedAttributes?: unknown;
}

/** The list and projection parameters of a query string (RFC 7644 §3.4.2, §3.9; `cursor` from RFC 9865). */
const QUERY_PARAMETERS = ['filter', 'sortBy', 'sortOrder', 'startIndex', 'count', 'cursor', 'attributes', 'excludedAttributes'] as const;

/**
 * The list parameters of a query string, their names matched regardless of case: clients send
 * `Filter=` or `startindex=`, and ignoring a misspelt filter would answer with every resource.
 * Other names are ignored (Entra ID adds feature flags such as `aadOptscim062020`); one name
 * given in two spellings is a 400 invalidSyntax.
 */
export function queryParameters(query: unknown): RawListParameters {
  if (typeof query !== 'object' || query === null || Array.isArray(query)) return {};
  const found = new Map<string, { key: string; value: unknown }>();
  for (const [key, value] of Object.entries(query as Record<string, unknown>)) {
    const name = QUERY_PARAMETERS.find((known) => known.toLowerCase() === key.toLowerCase());
    if (name === undefined) continue;
    const earlier = found.get(name);
    if (earlier !== undefined) {
      throw badRequest('invalidSyntax', `The query string names ${name} twice, as ${JSON.stringify(earlier.key)} and ${JSON.stringify(key)}.`);
    }
    found.set(name, { key, value });
  }
  const parameters: Record<string, unknown> = {};
  for (const [name, { value }] of found) parameters[name] = value;
  return parameters as RawListParameters;
}

/** The members of a SearchRequest (RFC 7644 §3.4.3, and `cursor` from RFC 9865 §3), spelt as the RFCs spell them. */
const SEARCH_REQUEST_KEYS = ['schemas', 'attributes', 'excludedAttributes', 'filter', 'sortBy', 'sortOrder', 'startIndex', 'count', 'cursor'] as const;

/**
 * Reads the body of `POST …/.search` (RFC 7644 §3.4.3) into list parameters. Keys are matched
 * case-insensitively, as attribute names are (RFC 7643 §2.1) and as PatchOp keys are. Any other
 * key, or one key given twice in different cases, is a 400 invalidSyntax: ignoring a misspelt
 * "filter" would answer with every resource. `schemas`, when sent, must name the SearchRequest URN.
 * `query` is the request's query string: a list parameter there is refused too.
 */
export function parseSearchRequest(body: unknown, query?: unknown): RawListParameters {
  // A search's parameters travel in its body. One left in the URL was ignored, so a filter
  // there answered with every resource: refuse it, saying where it belongs.
  const inQuery = Object.keys(queryParameters(query));
  if (inQuery.length > 0) {
    throw badRequest('invalidSyntax', `POST .search reads its parameters from the body (RFC 7644 §3.4.3), not from the URL: move ${inQuery.join(', ')} into the SearchRequest.`);
  }
  if (!isJsonObject(body)) {
    throw badRequest('invalidSyntax', `The search body must be a JSON object: {"schemas": ["${SEARCH_REQUEST_SCHEMA}"], "filter": …}.`);
  }
  const found = new Map<string, { key: string; value: unknown }>();
  for (const [key, value] of Object.entries(body)) {
    const name = SEARCH_REQUEST_KEYS.find((known) => known.toLowerCase() === key.toLowerCase());
    if (name === undefined) {
      throw badRequest('invalidSyntax', `${JSON.stringify(key)} is not a SearchRequest attribute; expected ${SEARCH_REQUEST_KEYS.join(', ')}.`);
    }
    const earlier = found.get(name);
    if (earlier !== undefined) {
      throw badRequest('invalidSyntax', `The search body names ${name} twice, as ${JSON.stringify(earlier.key)} and ${JSON.stringify(key)}.`);
    }
    found.set(name, { key, value });
  }
  // Leniency as for PatchOp: a client that leaves `schemas` out still means a search (the
  // endpoint says so), but a body that names another message schema is not one.
  const schemas = found.get('schemas')?.value;
  const wanted = SEARCH_REQUEST_SCHEMA.toLowerCase();
  const valid = schemas === undefined || (Array.isArray(schemas) && schemas.length > 0 && schemas.every((urn) => typeof urn === 'string' && urn.toLowerCase() === wanted));
  if (!valid) throw badRequest('invalidSyntax', `schemas must be ["${SEARCH_REQUEST_SCHEMA}"] in a search request.`);
  const value = (name: (typeof SEARCH_REQUEST_KEYS)[number]) => found.get(name)?.value;
  return {
    filter: value('filter'),
    sortBy: value('sortBy'),
    sortOrder: value('sortOrder'),
    startIndex: value('startIndex'),
    count: value('count'),
    cursor: value('cursor'),
    attributes: value('attributes'),
    excludedAttributes: value('excludedAttributes'),
  };
}

/** How a list request pages: by index (RFC 7644 §3.4.2.4, the default) or by cursor (RFC 9865). */
export type Paging =
  | {
      readonly kind: 'index';
      /** 1-based, as in SCIM. */
      readonly startIndex: number;
      readonly count: number;
    }
  | {
      readonly kind: 'cursor';
      /** '' for the first page. */
      readonly cursor: string;
      /** Undefined when the request left `count` out: the cursor's own, or the default on the first page. */
      readonly count: number | undefined;
    };

function given(value: unknown): boolean {
  return value !== undefined && value !== null && value !== '';
}

function integerOf(name: string, value: unknown, scimType: 'invalidValue' | 'invalidCount' = 'invalidValue'): number | undefined {
  if (!given(value)) return undefined;
  const number = typeof value === 'number' ? value : typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isSafeInteger(number)) throw badRequest(scimType, `${name} must be an integer (got ${JSON.stringify(value)}).`);
  return number;
}

/**
 * Paging per RFC 7644 §3.4.2.4: startIndex below 1 is read as 1; a negative count as 0; a count
 * above the maximum is reduced to it (the response's itemsPerPage tells the client).
 *
 * A `cursor` parameter, even empty, asks for cursor paging (RFC 9865 §2.4; index paging stays
 * the default): `count` must then be an integer from 0 to MAX_PAGE_SIZE (a negative one reads as
 * 0), else 400 invalidCount (RFC 9865 §2.1), and `startIndex` may not come with it.
 */
export function parsePaging(raw: RawListParameters): Paging {
  if (raw.cursor !== undefined && raw.cursor !== null) {
    if (typeof raw.cursor !== 'string') throw badRequest('invalidCursor', 'cursor must be a string: empty for the first page, then a nextCursor or previousCursor value.');
    if (given(raw.startIndex)) {
      throw badRequest('invalidValue', 'startIndex and cursor ask for two kinds of paging: send startIndex (index paging) or cursor (cursor paging, RFC 9865), not both.');
    }
    const count = integerOf('count', raw.count, 'invalidCount');
    if (count !== undefined && count > MAX_PAGE_SIZE) {
      throw badRequest('invalidCount', `count must be between 0 and ${MAX_PAGE_SIZE} (maxPageSize) with cursor paging (got ${count}).`);
    }
    return { kind: 'cursor', cursor: raw.cursor.trim(), count: count === undefined ? undefined : Math.max(0, count) };
  }
  const startIndex = Math.max(1, integerOf('startIndex', raw.startIndex) ?? 1);
  const count = Math.min(MAX_PAGE_SIZE, Math.max(0, integerOf('count', raw.count) ?? DEFAULT_PAGE_SIZE));
  return { kind: 'index', startIndex, count };
}

/** sortOrder: `ascending` (default) or `descending`, case-insensitive. */
export function parseSortOrder(raw: unknown): 'ascending' | 'descending' {
  if (raw === undefined || raw === null || raw === '') return 'ascending';
  if (typeof raw === 'string') {
    const value = raw.toLowerCase();
    if (value === 'ascending' || value === 'descending') return value;
  }
  throw badRequest('invalidValue', `sortOrder must be "ascending" or "descending" (got ${JSON.stringify(raw)}).`);
}

/**
 * A comma-separated attribute list (GET) or an array of names (POST /.search); `split` divides
 * the string form (default: at every comma).
 */
export function parseNameList(name: string, raw: unknown, split: (text: string) => string[] = (text) => text.split(',')): string[] {
  if (raw === undefined || raw === null || raw === '') return [];
  const items = typeof raw === 'string' ? split(raw) : Array.isArray(raw) ? raw : undefined;
  if (!items || items.some((item) => typeof item !== 'string')) {
    throw badRequest('invalidValue', `${name} must be a comma-separated list of attribute names.`);
  }
  return (items as string[]).map((item) => item.trim()).filter((item) => item.length > 0);
}

/** The ListResponse message of a page reached by cursor (RFC 9865 §2): no startIndex, the cursors that apply. */
export function cursorListResponse(
  resources: readonly unknown[],
  totalResults: number,
  cursors: { readonly previousCursor?: string | undefined; readonly nextCursor?: string | undefined },
): Record<string, unknown> {
  return {
    schemas: [LIST_RESPONSE_SCHEMA],
    totalResults,
    itemsPerPage: resources.length,
    ...(cursors.previousCursor !== undefined ? { previousCursor: cursors.previousCursor } : {}),
    ...(cursors.nextCursor !== undefined ? { nextCursor: cursors.nextCursor } : {}),
    Resources: resources,
  };
}

/** The ListResponse message (RFC 7644 §3.4.2). */
export function listResponse(
  resources: readonly unknown[],
  totalResults: number,
  startIndex: number,
): Record<string, unknown> {
  return {
    schemas: [LIST_RESPONSE_SCHEMA],
    totalResults,
    startIndex,
    itemsPerPage: resources.length,
    Resources: resources,
  };
}
