/** Discovery endpoints (RFC 7644 §4): what this service provider supports. */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { resourceTypeRepresentation, resourceTypes, schemaRepresentation, schemas, serviceProviderConfig, type BulkLimits } from '../../../scim/discovery.ts';
import { ScimError } from '../../../scim/errors.ts';
import { listResponse } from '../../../scim/list.ts';
import { findSchemaIn } from '../../../scim/schemas.ts';
import { schemasIn } from './common.ts';
import { SCIM_CONTENT_TYPE } from '../../errors.ts';

// RFC 7644 §4: filtering discovery resources is not defined; a filter SHOULD get 403.
function refuseFilter(request: FastifyRequest): void {
  const query = request.query as Record<string, unknown> | undefined;
  if (query && Object.keys(query).some((name) => name.toLowerCase() === 'filter')) {
    throw new ScimError(403, undefined, 'Discovery endpoints cannot be filtered.');
  }
}

/**
 * Registers /ServiceProviderConfig, /ResourceTypes and /Schemas, which show the declared
 * extension schemas too; `documentationUri` is where this instance serves docs/scim.md.
 */
export function discoveryRoutes(app: FastifyInstance, baseUrl: string, bulk: BulkLimits, paging: { cursorTimeout: number }, documentationUri?: string): void {
  app.get('/ServiceProviderConfig', async (request, reply) => {
    refuseFilter(request);
    return reply.type(SCIM_CONTENT_TYPE).send(serviceProviderConfig(baseUrl, bulk, paging, documentationUri));
  });

  app.get('/ResourceTypes', async (request, reply) => {
    refuseFilter(request);
    const all = resourceTypes(baseUrl, schemasIn(request));
    return reply.type(SCIM_CONTENT_TYPE).send(listResponse(all, all.length, 1));
  });

  app.get<{ Params: { id: string } }>('/ResourceTypes/:id', async (request, reply) => {
    const registry = schemasIn(request);
    const type = [registry.User, registry.Group].find((candidate) => candidate.name.toLowerCase() === request.params.id.toLowerCase());
    if (!type) throw new ScimError(404, undefined, `Resource type ${request.params.id} not found; Roster has User and Group.`);
    return reply.type(SCIM_CONTENT_TYPE).send(resourceTypeRepresentation(type.type, baseUrl));
  });

  app.get('/Schemas', async (request, reply) => {
    refuseFilter(request);
    const all = schemas(baseUrl, schemasIn(request));
    return reply.type(SCIM_CONTENT_TYPE).send(listResponse(all, all.length, 1));
  });

  app.get<{ Params: { id: string } }>('/Schemas/:id', async (request, reply) => {
    const schema = findSchemaIn(schemasIn(request), request.params.id);
    if (!schema) throw new ScimError(404, undefined, `Schema ${request.params.id} not found.`);
    return reply.type(SCIM_CONTENT_TYPE).send(schemaRepresentation(schema, baseUrl));
  });
}
