/**
 * Bulk operations (RFC 7644 §3.7): reading a BulkRequest, the graph of its `bulkId`
 * references, the order to run its operations in, and the BulkResponse. Pure: the route runs
 * each operation through the same code as the single request it stands for.
 *
 * Decisions, and why:
 * - A reference is a string of the form `bulkId:<bulkId>` (RFC 7644 §3.7.2: the server "MUST
 *   replace the string"): the id in an operation's path (`/Users/bulkId:qwerty`), any string
 *   value of its `data` that is exactly such a reference (`members[].value`, `manager.value` with
 *   or without the extension's URN, a PATCH `value`, an extension's attribute), and a quoted
 *   `"bulkId:<bulkId>"` in a PATCH path's filter (`members[value eq "bulkId:qwerty"]`). Only a
 *   POST's bulkId names a resource; a reference to any other string is that operation's 400
 *   invalidValue, since it could never resolve.
 * - Operations run in request order, except that one runs after the POSTs it references
 *   (§3.7: a server may reorder "to improve processing performance" if the result is the same).
 * - Circular references (§3.7.1) are answered 409, as the RFC allows: resolving a circle would
 *   split an operation into two writes (create, then update), so it would no longer apply
 *   atomically like the single request it stands for. In Roster only `manager` can form one
 *   (group members are users, `User.groups` is read-only).
 * - An operation whose reference names a POST that failed cannot run: 409, like a circle left
 *   unresolved. It still counts as an error for `failOnErrors`.
 * - Problems of the request as a whole (not an object, no Operations list, a bulkId given twice,
 *   a bad failOnErrors) refuse it before anything runs: 400. Problems of one operation are that
 *   operation's error; the others still run ("continue performing as many changes as
 *   possible", §3.7).
 * - A POST without a bulkId is that operation's 400 invalidValue: the RFC requires one, and
 *   without it the answer cannot be matched to the operation that created a resource.
 * - More operations than maxOperations is a 413 naming the limit, without scimType, as the
 *   §3.7.4 example answers (`tooMany` is the filter's error, RFC 7644 Table 9).
 */
import { ScimError, badRequest, type ScimErrorBody } from './errors.ts';
import { isJsonObject, type JsonObject, type JsonValue } from './json.ts';
import { RESOURCE_TYPES, type ResourceTypeName } from './schemas.ts';

export const BULK_REQUEST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
export const BULK_RESPONSE_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:BulkResponse';

/**
 * The most operations one Bulk request may carry (`bulk.maxOperations`). As many as one page of
 * a list (filter.maxResults): a client that pages through another directory in 1000s can send
 * each page as one request. Each operation is its own transaction, so a full request holds no
 * lock longer than a single request does; it runs in about as long as 1000 single requests
 * without their round trips (docs/scim.md gives the figures).
 */
export const MAX_BULK_OPERATIONS = 1000;

export type BulkMethod = 'POST' | 'PUT' | 'PATCH' | 'DELETE';

const METHODS: readonly BulkMethod[] = ['POST', 'PUT', 'PATCH', 'DELETE'];
const REFERENCE = 'bulkId:';
const REQUEST_KEYS = ['schemas', 'Operations', 'failOnErrors'] as const;
const OPERATION_KEYS = ['method', 'bulkId', 'version', 'path', 'data'] as const;

interface OperationBase {
  /** Position in the request's Operations, from 0. */
  readonly index: number;
  /** The method as the response repeats it: upper case when it is one, as sent otherwise. */
  readonly method?: string;
  readonly bulkId?: string;
}

/** An operation that can run once the POSTs it references have. */
export interface RunnableOperation extends OperationBase {
  readonly kind: 'runnable';
  readonly method: BulkMethod;
  readonly resourceType: ResourceTypeName;
  /** The resource of a PUT, PATCH or DELETE: an id, or a `bulkId:` reference. */
  readonly id?: string;
  /** The If-Match value (`version`) of a PUT, PATCH or DELETE. */
  readonly version?: string;
  /** The body of the equivalent single request (POST, PUT, PATCH). */
  readonly data?: JsonValue;
  /** The bulkIds it references, each once. */
  readonly references: readonly string[];
}

/** An operation that cannot run; `problem` is its answer when its turn comes. */
export interface RefusedOperation extends OperationBase {
  readonly kind: 'refused';
  readonly problem: ScimError;
}

export type BulkOperation = RunnableOperation | RefusedOperation;

export interface BulkRequest {
  /** Stop after this many failed operations (absent: run them all). */
  readonly failOnErrors?: number;
  readonly operations: readonly BulkOperation[];
}

export interface BulkParseOptions {
  readonly maxOperations: number;
  /** Refuses text no database can store (http/input.ts), so that one operation's text fails only that operation. */
  readonly checkText: (value: unknown, where: string) => void;
}

/** Matches keys case-insensitively (as for PatchOp and SearchRequest); refuses unknown and repeated ones. */
function readKeys<K extends string>(object: JsonObject, keys: readonly K[], label: string): Map<K, JsonValue> {
  const found = new Map<K, { key: string; value: JsonValue }>();
  for (const [key, value] of Object.entries(object)) {
    const name = keys.find((known) => known.toLowerCase() === key.toLowerCase());
    if (name === undefined) {
      throw badRequest('invalidSyntax', `${label}: ${JSON.stringify(key)} is not a member of it; expected ${keys.join(', ')}.`);
    }
    const earlier = found.get(name);
    if (earlier !== undefined) {
      throw badRequest('invalidSyntax', `${label} names ${name} twice, as ${JSON.stringify(earlier.key)} and ${JSON.stringify(key)}.`);
    }
    found.set(name, { key, value });
  }
  return new Map([...found].map(([name, { value }]) => [name, value]));
}

/** A member that is absent or null reads as absent. */
function present(value: JsonValue | undefined): JsonValue | undefined {
  return value === null ? undefined : value;
}

/**
 * Reads a BulkRequest body. Throws ScimError for the request as a whole (400, or 413 beyond
 * maxOperations); each operation is either runnable or refused with its own error.
 */
export function parseBulkRequest(body: unknown, options: BulkParseOptions): BulkRequest {
  if (!isJsonObject(body)) {
    throw badRequest('invalidSyntax', `The Bulk request body must be a JSON object: {"schemas": ["${BULK_REQUEST_SCHEMA}"], "Operations": [...]}.`);
  }
  const members = readKeys(body, REQUEST_KEYS, 'The Bulk request');
  for (const [key, value] of Object.entries(body)) {
    options.checkText(key, 'The request body');
    if (key.toLowerCase() !== 'operations') options.checkText(value, `The request body's ${key}`);
  }
  // As for PATCH and search: `schemas` may be left out, but must not name another message.
  const schemas = present(members.get('schemas'));
  const wanted = BULK_REQUEST_SCHEMA.toLowerCase();
  if (schemas !== undefined && !(Array.isArray(schemas) && schemas.length > 0 && schemas.every((urn) => typeof urn === 'string' && urn.toLowerCase() === wanted))) {
    throw badRequest('invalidSyntax', `schemas must be ["${BULK_REQUEST_SCHEMA}"] in a Bulk request.`);
  }
  const raw = members.get('Operations');
  if (!Array.isArray(raw)) {
    throw badRequest('invalidSyntax', 'Operations must be a list of operations, e.g. [{"method": "POST", "path": "/Users", "bulkId": "qwerty", "data": {…}}].');
  }
  if (raw.length > options.maxOperations) {
    throw new ScimError(
      413,
      undefined,
      `The Bulk request has ${raw.length} operations, more than maxOperations (${options.maxOperations}) allows; send them in requests of at most ${options.maxOperations} (see /ServiceProviderConfig).`,
    );
  }
  const failOnErrors = parseFailOnErrors(present(members.get('failOnErrors')));
  const objects = raw.map((operation, index) => {
    if (!isJsonObject(operation)) {
      throw badRequest('invalidSyntax', `Operations[${index}] must be an object such as {"method": "POST", "path": "/Users", "bulkId": "qwerty", "data": {…}}.`);
    }
    return operation;
  });
  const bulkIds = declaredBulkIds(objects);
  const parsed = objects.map((operation, index) => parseOperation(operation, index, bulkIds.get(index), options));
  const posts = postsByBulkId(parsed);
  const withBulkId = new Map(parsed.flatMap((operation) => (operation.bulkId === undefined ? [] : [[operation.bulkId, operation] as const])));
  const operations = parsed.map((operation) => checkReferences(operation, posts, withBulkId));
  return { ...(failOnErrors !== undefined ? { failOnErrors } : {}), operations };
}

function parseFailOnErrors(raw: JsonValue | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const number = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*\d+\s*$/.test(raw) ? Number(raw) : NaN;
  // 0 would mean stopping before the first error, which no operation can cause: refuse it.
  if (!Number.isSafeInteger(number) || number < 1) {
    throw badRequest('invalidValue', `failOnErrors must be a positive integer, the number of failed operations after which Roster stops (got ${JSON.stringify(raw)}).`);
  }
  return number;
}

/** The bulkId of each operation that has one; a bulkId must be a non-empty string, unique in the request (§3.7). */
function declaredBulkIds(operations: readonly JsonObject[]): Map<number, string> {
  const byIndex = new Map<number, string>();
  const byBulkId = new Map<string, number>();
  operations.forEach((operation, index) => {
    const key = Object.keys(operation).find((name) => name.toLowerCase() === 'bulkid');
    const value = key === undefined ? undefined : present(operation[key]);
    if (value === undefined) return;
    if (typeof value !== 'string' || value === '') {
      throw badRequest('invalidSyntax', `Operations[${index}].bulkId must be a non-empty string (got ${JSON.stringify(value)}).`);
    }
    const earlier = byBulkId.get(value);
    if (earlier !== undefined) {
      throw badRequest('invalidSyntax', `bulkId ${JSON.stringify(value)} is given to Operations[${earlier}] and Operations[${index}]; a bulkId must be unique within a Bulk request (RFC 7644 §3.7).`);
    }
    byBulkId.set(value, index);
    byIndex.set(index, value);
  });
  return byIndex;
}

function parseOperation(raw: JsonObject, index: number, bulkId: string | undefined, options: BulkParseOptions): BulkOperation {
  const label = `Operations[${index}]`;
  const methodKey = Object.keys(raw).find((name) => name.toLowerCase() === 'method');
  const sentMethod = methodKey === undefined ? undefined : raw[methodKey];
  const known = typeof sentMethod === 'string' ? METHODS.find((name) => name === sentMethod.toUpperCase()) : undefined;
  const base: OperationBase = {
    index,
    ...(typeof sentMethod === 'string' ? { method: known ?? sentMethod } : {}),
    ...(bulkId !== undefined ? { bulkId } : {}),
  };
  try {
    options.checkText(raw, label);
    const members = readKeys(raw, OPERATION_KEYS, label);
    if (known === undefined) {
      const sent = sentMethod === undefined ? 'is missing' : `is ${JSON.stringify(sentMethod)}`;
      throw badRequest('invalidSyntax', `${label}.method ${sent}; it must be POST, PUT, PATCH or DELETE.`);
    }
    // RFC 7644 §3.7: bulkId is REQUIRED for a POST. Without one the client cannot tell which
    // answer holds the id of what it created, nor refer to it from another operation.
    if (known === 'POST' && bulkId === undefined) {
      throw badRequest('invalidValue', `${label}.bulkId is required for a POST (RFC 7644 §3.7): a string unique in the request, e.g. "bulkId": "qwerty"; the answer's operation carries it with the new resource's location.`);
    }
    const { resourceType, id } = parseTarget(present(members.get('path')), known, label);
    // The id is decoded from the path: `%00` must meet the rule the URL of a single request meets.
    if (id !== undefined) options.checkText(id, `The id in ${label}.path`);
    const version = parseVersion(present(members.get('version')), label);
    const data = present(members.get('data'));
    if (data === undefined && known !== 'DELETE') {
      throw badRequest('invalidSyntax', `${label}.data is required for a ${known}: the body of the equivalent single request.`);
    }
    const payload = known === 'DELETE' ? undefined : data;
    return {
      ...base,
      kind: 'runnable',
      method: known,
      resourceType,
      ...(id !== undefined ? { id } : {}),
      ...(version !== undefined && known !== 'POST' ? { version } : {}),
      ...(payload !== undefined ? { data: payload } : {}),
      references: referencesOf(known, id, payload),
    };
  } catch (error) {
    if (error instanceof ScimError) return { ...base, kind: 'refused', problem: error };
    throw error;
  }
}

/**
 * Reads an operation's path: the endpoint for a POST (`/Users`), one resource otherwise
 * (`/Users/<id>`, `/Groups/bulkId:ytrewq`). Endpoint names match regardless of case, and
 * repeated slashes are ignored, as for single requests.
 */
function parseTarget(raw: JsonValue | undefined, method: BulkMethod, label: string): { resourceType: ResourceTypeName; id?: string } {
  const expected = method === 'POST' ? 'the endpoint to create in, /Users or /Groups' : 'the resource, e.g. /Users/<id> or /Users/bulkId:<bulkId>';
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw badRequest('invalidSyntax', `${label}.path is required for a ${method}: ${expected}.`);
  }
  if (/[?#]/.test(raw)) {
    throw badRequest('invalidSyntax', `${label}.path ${JSON.stringify(raw)} has a query or fragment; it must be ${expected}.`);
  }
  const [endpoint = '', ...rest] = raw.trim().split('/').filter((segment) => segment !== '');
  const type = Object.values(RESOURCE_TYPES).find((candidate) => candidate.endpoint.slice(1).toLowerCase() === endpoint.toLowerCase());
  if (type === undefined) {
    throw new ScimError(404, undefined, `${label}.path ${JSON.stringify(raw)}: there is no SCIM endpoint /${endpoint}; Bulk operations apply to /Users and /Groups.`);
  }
  const resourceType = type.id as ResourceTypeName;
  if (method === 'POST') {
    if (rest.length > 0) throw badRequest('invalidSyntax', `${label}.path ${JSON.stringify(raw)}: a POST's path is ${expected}, without an id.`);
    return { resourceType };
  }
  const [segment, ...extra] = rest;
  if (segment === undefined || extra.length > 0) {
    throw badRequest('invalidSyntax', `${label}.path ${JSON.stringify(raw)}: a ${method}'s path names ${expected}.`);
  }
  try {
    return { resourceType, id: decodeURIComponent(segment) };
  } catch {
    throw badRequest('invalidSyntax', `${label}.path ${JSON.stringify(raw)} contains a malformed percent-encoding.`);
  }
}

/** `version`: the If-Match value, an entity tag such as W/"3" (a bare number is read as one). */
function parseVersion(raw: JsonValue | undefined, label: string): string | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw === 'number' && Number.isSafeInteger(raw)) return String(raw);
  if (typeof raw !== 'string' || raw.trim() === '') {
    throw badRequest('invalidSyntax', `${label}.version must be the resource's version as meta.version gives it, e.g. "W/\\"3\\"" (got ${JSON.stringify(raw)}).`);
  }
  return raw;
}

/** The bulkId a string refers to, when it is a reference. */
function referenceIn(text: string): string | undefined {
  return text.startsWith(REFERENCE) ? text.slice(REFERENCE.length) : undefined;
}

// A reference inside a PATCH path's filter: a quoted comparison value, `"bulkId:qwerty"`.
const QUOTED_REFERENCE = /"bulkId:((?:[^"\\]|\\.)*)"/g;

/** The `path` strings of a PatchOp body's operations. */
function patchPaths(data: JsonValue | undefined): string[] {
  if (!isJsonObject(data)) return [];
  const operationsKey = Object.keys(data).find((key) => key.toLowerCase() === 'operations');
  const operations = operationsKey === undefined ? undefined : data[operationsKey];
  if (!Array.isArray(operations)) return [];
  return operations.flatMap((operation) => {
    if (!isJsonObject(operation)) return [];
    return Object.entries(operation).flatMap(([key, value]) => (key.toLowerCase() === 'path' && typeof value === 'string' ? [value] : []));
  });
}

function visitStrings(value: JsonValue | undefined, visit: (text: string) => void): void {
  if (typeof value === 'string') visit(value);
  else if (Array.isArray(value)) value.forEach((item) => visitStrings(item, visit));
  else if (isJsonObject(value)) Object.values(value).forEach((item) => visitStrings(item, visit));
}

function referencesOf(method: BulkMethod, id: string | undefined, data: JsonValue | undefined): string[] {
  const found = new Set<string>();
  const note = (text: string) => {
    const bulkId = referenceIn(text);
    if (bulkId !== undefined) found.add(bulkId);
  };
  if (id !== undefined) note(id);
  visitStrings(data, note);
  if (method === 'PATCH') {
    for (const path of patchPaths(data)) {
      for (const match of path.matchAll(QUOTED_REFERENCE)) found.add(unescapeQuoted(match[1] ?? ''));
    }
  }
  return [...found];
}

function unescapeQuoted(text: string): string {
  try {
    return JSON.parse(`"${text}"`) as string;
  } catch {
    return text;
  }
}

/** The index of the POST with each bulkId (refused ones included: they fail their dependants). */
function postsByBulkId(operations: readonly BulkOperation[]): Map<string, number> {
  const posts = new Map<string, number>();
  for (const operation of operations) {
    if (operation.bulkId !== undefined && operation.method === 'POST') posts.set(operation.bulkId, operation.index);
  }
  return posts;
}

/** Refuses an operation whose references can never resolve: a bulkId no POST of the request has. */
function checkReferences(operation: BulkOperation, posts: ReadonlyMap<string, number>, withBulkId: ReadonlyMap<string, BulkOperation>): BulkOperation {
  if (operation.kind === 'refused') return operation;
  for (const bulkId of operation.references) {
    if (posts.has(bulkId)) continue;
    const other = withBulkId.get(bulkId);
    const detail = other === undefined
      ? `bulkId:${bulkId} names no operation of this Bulk request; a reference names the bulkId of a POST in the same request (RFC 7644 §3.7.2).`
      : `bulkId:${bulkId} is the bulkId of a ${other.method ?? 'malformed'} operation (Operations[${other.index}]); only a POST's bulkId names a resource to reference.`;
    return {
      index: operation.index,
      method: operation.method,
      ...(operation.bulkId !== undefined ? { bulkId: operation.bulkId } : {}),
      kind: 'refused',
      problem: badRequest('invalidValue', `Operations[${operation.index}]: ${detail}`),
    };
  }
  return operation;
}

/** The order to run a request's operations in, and those caught in circular references. */
export interface BulkPlan {
  /** Every operation's index, each after the POSTs it references (but those of a circle). */
  readonly order: readonly number[];
  /** The operations on a circle of references, with the error each answers (409, §3.7.1). */
  readonly circular: ReadonlyMap<number, ScimError>;
}

/**
 * Orders the operations: request order, except that an operation comes after the POSTs it
 * references; finds circles of references (Tarjan's strongly connected components).
 */
export function planBulk(operations: readonly BulkOperation[]): BulkPlan {
  const posts = postsByBulkId(operations);
  const edges = operations.map((operation) =>
    operation.kind === 'runnable' ? operation.references.flatMap((bulkId) => { const index = posts.get(bulkId); return index === undefined ? [] : [index]; }) : [],
  );

  const order: number[] = [];
  const placed = new Set<number>();
  // Depth is bounded by maxOperations (a chain of 1000 references), well within the stack.
  const place = (index: number): void => {
    if (placed.has(index)) return;
    placed.add(index);
    for (const next of edges[index] ?? []) place(next);
    order.push(index);
  };
  operations.forEach((operation) => place(operation.index));

  const circular = new Map<number, ScimError>();
  for (const component of stronglyConnected(edges)) {
    const [only] = component;
    const circle = component.length > 1 || (only !== undefined && (edges[only] ?? []).includes(only));
    if (!circle) continue;
    const names = component
      .sort((a, b) => a - b)
      .map((index) => `Operations[${index}] (bulkId:${operations[index]?.bulkId ?? ''})`)
      .join(', ');
    const detail =
      component.length === 1
        ? `${names} references its own bulkId: the resource does not exist before the operation creates it.`
        : `${names} reference each other in a circle; Roster does not split operations to resolve circular references (RFC 7644 §3.7.1): create them first, then send the references in PATCH operations.`;
    for (const index of component) circular.set(index, new ScimError(409, undefined, detail));
  }
  return { order, circular };
}

/** Tarjan's algorithm: the strongly connected components of a graph given as adjacency lists. */
function stronglyConnected(edges: readonly (readonly number[])[]): number[][] {
  const indexOf = new Map<number, number>();
  const lowLink = new Map<number, number>();
  const stack: number[] = [];
  const onStack = new Set<number>();
  const components: number[][] = [];
  let counter = 0;
  const connect = (node: number): void => {
    indexOf.set(node, counter);
    lowLink.set(node, counter);
    counter += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of edges[node] ?? []) {
      if (!indexOf.has(next)) {
        connect(next);
        lowLink.set(node, Math.min(lowLink.get(node) ?? 0, lowLink.get(next) ?? 0));
      } else if (onStack.has(next)) {
        lowLink.set(node, Math.min(lowLink.get(node) ?? 0, indexOf.get(next) ?? 0));
      }
    }
    if (lowLink.get(node) === indexOf.get(node)) {
      const component: number[] = [];
      let member: number | undefined;
      do {
        member = stack.pop();
        if (member === undefined) break;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      components.push(component);
    }
  };
  edges.forEach((_next, node) => {
    if (!indexOf.has(node)) connect(node);
  });
  return components;
}

/** What a POST that ran left for the operations that reference its bulkId. */
export type Created = { readonly ok: true; readonly id: string } | { readonly ok: false; readonly index: number; readonly status: number };

/**
 * The operation with its references replaced by the ids of the resources they name, or the
 * 409 it answers when one of those POSTs failed. Every POST it references must have run.
 */
export function resolveReferences(
  operation: RunnableOperation,
  created: ReadonlyMap<string, Created>,
): { readonly ok: true; readonly id?: string; readonly data?: JsonValue } | { readonly ok: false; readonly problem: ScimError } {
  const ids = new Map<string, string>();
  for (const bulkId of operation.references) {
    const outcome = created.get(bulkId);
    if (outcome?.ok === true) {
      ids.set(bulkId, outcome.id);
      continue;
    }
    const why = outcome === undefined ? 'did not run' : `failed with status ${outcome.status}`;
    const where = outcome === undefined ? '' : ` (Operations[${outcome.index}])`;
    return {
      ok: false,
      problem: new ScimError(409, undefined, `Operations[${operation.index}] references bulkId:${bulkId}, but the POST that has that bulkId${where} ${why}, so the reference cannot be resolved.`),
    };
  }
  const replace = (text: string): string => {
    const bulkId = referenceIn(text);
    return bulkId === undefined ? text : (ids.get(bulkId) ?? text);
  };
  const id = operation.id === undefined ? undefined : replace(operation.id);
  let data = operation.data === undefined ? undefined : mapStrings(operation.data, replace);
  if (operation.method === 'PATCH' && data !== undefined) data = replaceInPatchPaths(data, ids);
  return { ok: true, ...(id !== undefined ? { id } : {}), ...(data !== undefined ? { data } : {}) };
}

function mapStrings(value: JsonValue, replace: (text: string) => string): JsonValue {
  if (typeof value === 'string') return replace(value);
  if (Array.isArray(value)) return value.map((item) => mapStrings(item, replace));
  if (isJsonObject(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, mapStrings(item, replace)]));
  return value;
}

/** Replaces the quoted references in the path filters of a PatchOp body. */
function replaceInPatchPaths(data: JsonValue, ids: ReadonlyMap<string, string>): JsonValue {
  if (!isJsonObject(data)) return data;
  return Object.fromEntries(
    Object.entries(data).map(([key, operations]) => {
      if (key.toLowerCase() !== 'operations' || !Array.isArray(operations)) return [key, operations];
      return [
        key,
        operations.map((operation) => {
          if (!isJsonObject(operation)) return operation;
          return Object.fromEntries(
            Object.entries(operation).map(([name, value]) => {
              if (name.toLowerCase() !== 'path' || typeof value !== 'string') return [name, value];
              return [name, value.replace(QUOTED_REFERENCE, (whole, escaped: string) => {
                const id = ids.get(unescapeQuoted(escaped));
                return id === undefined ? whole : JSON.stringify(id);
              })];
            }),
          );
        }),
      ];
    }),
  );
}

/** The outcome of one operation, as the BulkResponse reports it (RFC 7644 §3.7.3). */
export interface BulkResult {
  readonly method?: string;
  readonly bulkId?: string;
  /** The resource's URL; absent for a POST that failed. */
  readonly location?: string;
  /** The resource's version (ETag) after the operation; absent after DELETE and on failure. */
  readonly version?: string;
  /** The status the equivalent single request would have answered. */
  readonly status: number;
  /** The error body of a failed operation. */
  readonly response?: ScimErrorBody;
}

/** The BulkResponse: one entry per operation that ran, `status` a string as in the RFC's examples. */
export function bulkResponse(results: readonly BulkResult[]): JsonObject {
  return {
    schemas: [BULK_RESPONSE_SCHEMA],
    Operations: results.map((result) => {
      const entry: JsonObject = {};
      if (result.location !== undefined) entry.location = result.location;
      if (result.method !== undefined) entry.method = result.method;
      if (result.bulkId !== undefined) entry.bulkId = result.bulkId;
      if (result.version !== undefined) entry.version = result.version;
      entry.status = String(result.status);
      if (result.response !== undefined) entry.response = { ...result.response } as unknown as JsonObject;
      return entry;
    }),
  };
}
