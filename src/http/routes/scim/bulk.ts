/**
 * POST /Bulk (RFC 7644 §3.7). Each operation runs through the writes of its resource type
 * (users.ts, groups.ts): the code of the single request it stands for, so it applies atomically
 * on its own, in its own transaction, with the same rules, checks and audit entry. An operation
 * that fails changes nothing and undoes nothing the others did. scim/bulk.ts reads the
 * request, orders it by its bulkId references and shapes the response.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { GroupDirectory } from '../../../directory/groups.ts';
import type { UserDirectory } from '../../../directory/users.ts';
import type { ScimSchemas } from '../../../directory/scim-schemas.ts';
import type { Actor } from '../../../journal/actor.ts';
import {
  MAX_BULK_OPERATIONS,
  bulkResponse,
  parseBulkRequest,
  planBulk,
  resolveReferences,
  type BulkOperation,
  type BulkResult,
  type Created,
} from '../../../scim/bulk.ts';
import { ScimError } from '../../../scim/errors.ts';
import { etagOf, locationOf, type ResourceState } from '../../../scim/resources.ts';
import type { ResourceTypeName } from '../../../scim/schemas.ts';
import type { VersionCheck } from '../../../directory/users.ts';
import { SCIM_CONTENT_TYPE, describeScimError, isBodyTooLarge, scimErrorHandler } from '../../errors.ts';
import { checkStorableText, formatBytes } from '../../input.ts';
import { requireBody, versionCheckOf, type ResourceWrites } from './common.ts';
import { groupWrites } from './groups.ts';
import { userWrites } from './users.ts';

export interface BulkOptions {
  readonly users: UserDirectory;
  readonly groups: GroupDirectory;
  /** The extension schemas administrators declared: Bulk writes with the schemas in force. */
  readonly scimSchemas: ScimSchemas;
  readonly baseUrl: string;
  /** The largest Bulk request in bytes (`bulk.maxPayloadSize`): the app's body limit. */
  readonly maxPayloadSize: number;
  /**
   * Checks again that the request may write (its token, its user's rights, the SCIM switch),
   * throwing the ScimError the request itself would get: run before each operation after the
   * first, so that a token revoked, or a user deactivated, while a Bulk request runs stops it
   * at the next operation, as it would stop the next single request.
   */
  readmit(request: FastifyRequest): Promise<void>;
}

/** A resource type's writes, reduced to what a Bulk response reports of the resource. */
interface StateWrites {
  readonly patchStatus: 200 | 204;
  create(body: unknown, actor: Actor): Promise<ResourceState>;
  replace(id: string, body: unknown, allows: VersionCheck, actor: Actor): Promise<ResourceState>;
  patch(id: string, body: unknown, allows: VersionCheck, actor: Actor): Promise<ResourceState>;
  remove(id: string, allows: VersionCheck, actor: Actor): Promise<void>;
}

function stateWrites<Resource>(writes: ResourceWrites<Resource>): StateWrites {
  return {
    patchStatus: writes.patchStatus,
    // Each operation reads the schemas in force, as the single request it stands for does.
    create: async (body, actor) => writes.stateOf(await writes.create(await writes.schemasInForce(), body, actor, new Set())),
    replace: async (id, body, allows, actor) => writes.stateOf(await writes.replace(await writes.schemasInForce(), id, body, allows, actor, new Set())),
    patch: async (id, body, allows, actor) => writes.stateOf(await writes.patch(await writes.schemasInForce(), id, body, allows, actor, new Set())),
    remove: (id, allows, actor) => writes.remove(id, allows, actor),
  };
}

/** The endpoint of each resource type, as the metrics name SCIM resources. */
const RESOURCE_ENDPOINTS = { User: 'Users', Group: 'Groups' } as const satisfies Record<ResourceTypeName, string>;

/** One operation's result, and the id of the resource a successful POST created. */
interface Ran {
  readonly result: BulkResult;
  readonly createdId?: string;
}

/**
 * The entry of an operation left unrun because the request was refused before it (or the
 * re-check could not be made: the database out of reach is each operation's 503, as it would
 * be the operation's own).
 */
function notRun(operation: BulkOperation, refusal: unknown, request: FastifyRequest): Ran {
  const error = refusal instanceof ScimError ? new ScimError(refusal.status, refusal.scimType, `Not run: ${refusal.message}`, refusal.retryAfter) : refusal;
  const { status, body } = describeScimError(error, request);
  return {
    result: {
      ...(operation.method !== undefined ? { method: operation.method } : {}),
      ...(operation.bulkId !== undefined ? { bulkId: operation.bulkId } : {}),
      status,
      response: body,
    },
  };
}

/** Registers POST /Bulk. */
export function bulkRoutes(app: FastifyInstance, options: BulkOptions): void {
  const { baseUrl, maxPayloadSize } = options;
  const writes: Readonly<Record<ResourceTypeName, StateWrites>> = {
    User: stateWrites(userWrites(options.users, options.scimSchemas)),
    Group: stateWrites(groupWrites(options.groups, options.scimSchemas)),
  };

  /** Runs one operation; every failure becomes its result, never the request's. */
  async function run(operation: BulkOperation, circular: ScimError | undefined, created: ReadonlyMap<string, Created>, request: FastifyRequest): Promise<Ran> {
    const echo = {
      ...(operation.method !== undefined ? { method: operation.method } : {}),
      ...(operation.bulkId !== undefined ? { bulkId: operation.bulkId } : {}),
    };
    const failed = (error: unknown, location?: string): Ran => {
      const { status, body } = describeScimError(error, request);
      return { result: { ...echo, ...(location !== undefined ? { location } : {}), status, response: body } };
    };
    if (operation.kind === 'refused') return failed(operation.problem);
    if (circular) return failed(circular);
    const resolved = resolveReferences(operation, created);
    if (!resolved.ok) return failed(resolved.problem);
    const { resourceType, method } = operation;
    const target = writes[resourceType];
    const id = resolved.id;
    const location = id === undefined ? undefined : locationOf(baseUrl, resourceType, id);
    const allows = versionCheckOf(operation.version);
    const { data } = resolved;
    try {
      if (method === 'POST') {
        const state = await target.create(data, request.actor);
        return { result: { ...echo, location: locationOf(baseUrl, resourceType, state.id), version: etagOf(state.version), status: 201 }, createdId: state.id };
      }
      if (id === undefined) throw new ScimError(400, 'invalidSyntax', `Operations[${operation.index}].path names no resource.`);
      if (method === 'DELETE') {
        await target.remove(id, allows, request.actor);
        return { result: { ...echo, ...(location !== undefined ? { location } : {}), status: 204 } };
      }
      const state = method === 'PUT' ? await target.replace(id, data, allows, request.actor) : await target.patch(id, data, allows, request.actor);
      return {
        result: {
          ...echo,
          location: locationOf(baseUrl, resourceType, state.id),
          version: etagOf(state.version),
          status: method === 'PUT' ? 200 : target.patchStatus,
        },
      };
    } catch (error) {
      return failed(error, location);
    }
  }

  app.post(
    '/Bulk',
    {
      config: { checksBodyText: true },
      // RFC 7644 §3.7.4: a request beyond maxPayloadSize is a 413 that names the limit.
      errorHandler: (error, request, reply) =>
        scimErrorHandler(
          isBodyTooLarge(error)
            ? new ScimError(413, undefined, `The Bulk request is larger than maxPayloadSize (${maxPayloadSize} bytes, ${formatBytes(maxPayloadSize)}; ROSTER_MAX_BODY_SIZE sets it, see /ServiceProviderConfig).`)
            : error,
          request,
          reply,
        ),
    },
    async (request, reply) => {
      const bulk = parseBulkRequest(requireBody(request.body), { maxOperations: MAX_BULK_OPERATIONS, checkText: checkStorableText });
      const plan = planBulk(bulk.operations);
      const results = new Map<number, BulkResult>();
      const created = new Map<string, Created>();
      let failures = 0;
      // Once refused, the operations left are not run: each answers the refusal.
      let refused: { readonly error: unknown } | undefined;
      let first = true;
      for (const index of plan.order) {
        const operation = bulk.operations[index];
        if (operation === undefined) continue;
        if (!first && refused === undefined) refused = await options.readmit(request).then(() => undefined, (error: unknown) => ({ error }));
        first = false;
        const { result, createdId } = refused !== undefined ? notRun(operation, refused.error, request) : await run(operation, plan.circular.get(index), created, request);
        results.set(index, result);
        request.server.metrics.bulkOperation(operation.kind === 'runnable' ? RESOURCE_ENDPOINTS[operation.resourceType] : 'unknown', operation.method, result.status);
        if (operation.method === 'POST' && operation.bulkId !== undefined) {
          created.set(operation.bulkId, createdId !== undefined ? { ok: true, id: createdId } : { ok: false, index, status: result.status });
        }
        if (result.status >= 400) {
          failures += 1;
          // failOnErrors (§3.7): stop once that many operations have failed; report what ran.
          if (bulk.failOnErrors !== undefined && failures >= bulk.failOnErrors) break;
        }
      }
      // Entries in request order (what ran), whatever order references made them run in.
      const ran = [...results.entries()].sort(([a], [b]) => a - b).map(([, result]) => result);
      return reply.code(200).type(SCIM_CONTENT_TYPE).send(bulkResponse(ran));
    },
  );
}
