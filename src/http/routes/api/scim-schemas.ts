/**
 * `/api/v2/scim-schemas`: the extension schemas administrators declare for SCIM (custom
 * attributes their identity provider maps). Administrators only, like the whole admin API; the
 * CLI's `roster schemas …` calls the same service. A declaration is the schema as /Schemas shows
 * one plus `"extends": "User"` or `"Group"`; what GET returns can be sent back.
 *
 * The body's top level is strict like every admin body (common.ts); the attribute definitions
 * inside are open in the route schema on purpose: scim/custom-schemas.ts checks them member by
 * member (unknown members included) and names every problem in one 400, which Ajv, stopping at
 * the first error, would not.
 */
import type { FastifyInstance } from 'fastify';
import { declaredSchemaRepresentation } from '../../../scim/discovery.ts';
import type { ScimSchemas } from '../../../directory/scim-schemas.ts';
import { DirectoryError } from '../../../errors.ts';
import { TAGS } from '../../api-docs.ts';
import { errorResponses, noContent, objectBody, optionalBoolean, ref, strictObject, type NamedSchema, type Query } from './common.ts';

const PATH = '/api/v2/scim-schemas';

/** An attribute definition as /Schemas shows one (RFC 7643 §7); checked by scim/custom-schemas.ts. */
const ATTRIBUTE_DEFINITION = {
  type: 'object',
  additionalProperties: true,
  description: 'An attribute as RFC 7643 §7 defines it: name, type, multiValued, description, required, caseExact, mutability, returned, uniqueness, canonicalValues, referenceTypes, subAttributes.',
} as const;

/** A declared extension schema, as GET returns it and POST takes it. */
export const SCIM_SCHEMA_DECLARATION: NamedSchema = {
  $id: 'ScimSchemaDeclaration',
  type: 'object',
  required: ['schemas', 'id', 'name', 'description', 'extends', 'attributes'],
  properties: {
    schemas: { type: 'array', items: { type: 'string' } },
    id: { type: 'string', description: 'The schema URN.' },
    name: { type: 'string' },
    description: { type: 'string' },
    extends: { type: 'string', enum: ['User', 'Group'], description: 'The resource type the schema extends.' },
    attributes: { type: 'array', items: ATTRIBUTE_DEFINITION },
  },
};

const DECLARATION_BODY = strictObject({
  schemas: { type: 'array', items: { type: 'string' }, description: 'May be sent (as GET returns it); not needed.' },
  id: { description: 'The schema URN, e.g. urn:ietf:params:scim:schemas:extension:acme:2.0:User.' },
  name: { description: 'A short name.' },
  description: { description: 'Optional.' },
  extends: { description: '"User" or "Group".' },
  attributes: { type: 'array', items: ATTRIBUTE_DEFINITION, description: 'At least one attribute.' },
  meta: { type: 'object', additionalProperties: true, description: 'Ignored: what /Schemas shows may be sent back.' },
});

const URN_PARAMS = strictObject({ urn: { type: 'string', minLength: 1, description: 'The schema URN (case-insensitive).' } }, ['urn']);

/** Registers the scim-schemas routes. */
export function scimSchemaRoutes(app: FastifyInstance, schemas: ScimSchemas): void {
  const tags = [TAGS.scimSchemas];
  app.addSchema(SCIM_SCHEMA_DECLARATION);

  app.get(PATH, {
    schema: {
      operationId: 'listScimSchemas',
      summary: 'The declared SCIM extension schemas, in declaration order',
      tags,
      response: { 200: { type: 'object', required: ['schemas'], properties: { schemas: { type: 'array', items: ref(SCIM_SCHEMA_DECLARATION) } } } },
    },
  }, async () => ({ schemas: (await schemas.list()).map(declaredSchemaRepresentation) }));

  app.get<{ Params: { urn: string } }>(`${PATH}/:urn`, {
    schema: {
      operationId: 'getScimSchema',
      summary: 'One declared SCIM extension schema',
      tags,
      params: URN_PARAMS,
      response: { 200: ref(SCIM_SCHEMA_DECLARATION), ...errorResponses(404) },
    },
  }, async (request) => {
    const wanted = request.params.urn.toLowerCase();
    const schema = (await schemas.list()).find((candidate) => candidate.id.toLowerCase() === wanted);
    if (schema === undefined) throw new DirectoryError('not_found', `No extension schema ${request.params.urn} is declared.`, 'urn');
    return declaredSchemaRepresentation(schema);
  });

  app.post(PATH, {
    schema: {
      operationId: 'addScimSchema',
      summary: 'Declare a SCIM extension schema (custom attributes of users or groups)',
      tags,
      body: DECLARATION_BODY,
      response: { 201: ref(SCIM_SCHEMA_DECLARATION), ...errorResponses(400) },
    },
  }, async (request, reply) => reply.code(201).send(declaredSchemaRepresentation(await schemas.add(objectBody(request.body), request.actor))));

  app.delete<{ Params: { urn: string }; Querystring: Query }>(`${PATH}/:urn`, {
    schema: {
      operationId: 'removeScimSchema',
      summary: 'Remove a declared SCIM extension schema',
      tags,
      params: URN_PARAMS,
      querystring: {
        type: 'object',
        properties: { force: { type: 'boolean', description: 'Remove it even while users or groups carry its values, which are deleted too.' } },
      },
      response: { 204: noContent('Removed.'), ...errorResponses(404, 409) },
    },
  }, async (request, reply) => {
    const force = optionalBoolean(request.query, 'force') ?? false;
    await schemas.remove(request.params.urn, { force }, request.actor);
    return reply.code(204).send();
  });
}
