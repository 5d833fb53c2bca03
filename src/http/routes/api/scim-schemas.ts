/**
 * `/api/v2/scim-schemas`: the extension schemas administrators declare for SCIM (custom
 * attributes their identity provider maps). Administrators' tokens only, like the whole admin
 * API; the CLI's `roster schemas …` calls the same service. A declaration is the schema as
 * /Schemas shows one plus `"extends": "User"` or `"Group"`; what GET returns can be sent back.
 */
import type { FastifyInstance } from 'fastify';
import { declaredSchemaRepresentation } from '../../../scim/discovery.ts';
import type { ScimSchemas } from '../../../directory/scim-schemas.ts';
import { DirectoryError } from '../../../directory/errors.ts';
import { objectBody, optionalBoolean, type Query } from './common.ts';

const PATH = '/api/v2/scim-schemas';

/** Registers the scim-schemas routes. */
export function scimSchemaRoutes(app: FastifyInstance, schemas: ScimSchemas): void {
  app.get(PATH, async () => ({ schemas: (await schemas.list()).map(declaredSchemaRepresentation) }));

  app.get<{ Params: { urn: string } }>(`${PATH}/:urn`, async (request) => {
    const wanted = request.params.urn.toLowerCase();
    const schema = (await schemas.list()).find((candidate) => candidate.id.toLowerCase() === wanted);
    if (schema === undefined) throw new DirectoryError('not_found', `No extension schema ${request.params.urn} is declared.`, 'urn');
    return declaredSchemaRepresentation(schema);
  });

  app.post(PATH, async (request, reply) => reply.code(201).send(declaredSchemaRepresentation(await schemas.add(objectBody(request.body), request.actor))));

  app.delete<{ Params: { urn: string }; Querystring: Query }>(`${PATH}/:urn`, async (request, reply) => {
    const force = optionalBoolean(request.query, 'force') ?? false;
    await schemas.remove(request.params.urn, { force }, request.actor);
    return reply.code(204).send();
  });
}
