/**
 * The SCIM 2.0 endpoint, mounted at /api/scim/v2: authentication, the provisioning switch,
 * SCIM errors for everything (including unknown paths), then the resource routes.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ScimError } from '../../../scim/errors.ts';
import { SCIM_NOT_ENABLED_MESSAGE } from '../../../directory/provisioning.ts';
import type { Services } from '../../../services.ts';
import { authenticateReading, throttle } from '../../auth.ts';
import { authenticateSelf } from '../../session-auth.ts';
import { scimErrorHandler } from '../../errors.ts';
import { MAX_BULK_OPERATIONS } from '../../../scim/bulk.ts';
import { bulkRoutes } from './bulk.ts';
import { discoveryRoutes } from './discovery.ts';
import { groupRoutes } from './groups.ts';
import { meRoutes } from './me.ts';
import { rootRoutes } from './root.ts';
import { userRoutes } from './users.ts';


/** What the SCIM endpoint is built from. */
export interface ScimEndpointOptions {
  readonly services: Services;
  readonly baseUrl: string;
  readonly maxBodySize: number;
  /** Where this instance serves docs/scim.md (http/docs.ts), if it does. */
  readonly documentationUri?: string;
}

/** Registers the SCIM endpoint on a Fastify scope (prefix /api/scim/v2). */
export async function scimEndpoint(app: FastifyInstance, options: ScimEndpointOptions): Promise<void> {
  const { services, baseUrl, maxBodySize, documentationUri } = options;
  app.setErrorHandler(scimErrorHandler);
  app.decorateRequest('scimSchemas', null);
  app.setNotFoundHandler((request, reply) =>
    scimErrorHandler(new ScimError(404, undefined, `There is no SCIM endpoint ${request.method} ${request.url}.`), request, reply),
  );

  /**
   * Lets a request in: its token (or, for /Me, its session), the rate limit, and the SCIM switch
   * with the schemas in force. Bulk asks again before each operation after the first
   * (`readmit`), without the rate limit: one request counts once.
   */
  const admitScim = async (request: FastifyRequest, counted: boolean): Promise<void> => {
    // /Me is the one SCIM route a user who is not an administrator may call, by session or token.
    const config = request.routeOptions.config as { selfService?: boolean } | undefined;
    // The switch and the schemas in force; the routes use these schemas (schemasIn). An
    // administrator's token is read with the switch in one statement.
    let stored: readonly [string | null, string | null] | undefined;
    if (config?.selfService === true) await authenticateSelf(request, services);
    else stored = await authenticateReading(request, services, services.scimState.settingKeys);
    if (counted) await throttle(request, services.rateLimits);
    const state = stored === undefined ? await services.scimState.read() : await services.scimState.fromStored(stored);
    if (!state.enabled) throw new ScimError(403, undefined, SCIM_NOT_ENABLED_MESSAGE);
    request.scimSchemas = state.schemas;
  };
  app.addHook('onRequest', (request) => admitScim(request, true));

  // A Bulk request may be as large as any request: the body limit is sized for a Bulk request
  // at maxOperations (http/input.ts), so one number says both.
  const bulk = { maxOperations: MAX_BULK_OPERATIONS, maxPayloadSize: maxBodySize };
  discoveryRoutes(app, baseUrl, bulk, { cursorTimeout: services.listCursors.timeoutSeconds }, documentationUri);
  userRoutes(app, services.users, services.listCursors, baseUrl, services.scimSchemas);
  groupRoutes(app, services.groups, services.listCursors, baseUrl, services.scimSchemas);
  rootRoutes(app, services.rootSearch, services.listCursors, baseUrl);
  meRoutes(app, services.users, baseUrl);
  bulkRoutes(app, { users: services.users, groups: services.groups, scimSchemas: services.scimSchemas, baseUrl, maxPayloadSize: bulk.maxPayloadSize, readmit: (request) => admitScim(request, false) });

  // Optional parts of RFC 7644 that Roster does not implement yet; ServiceProviderConfig says so.
  const notImplemented = (feature: string) => async () => {
    throw new ScimError(501, undefined, `${feature} is not supported by Roster; see /ServiceProviderConfig.`);
  };
}
