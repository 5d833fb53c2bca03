/**
 * `/api/v2/applications`: the OpenID Connect applications, for administrators; the same rules
 * and messages as `roster apps` (directory/applications.ts). A secret is in the answer of the
 * request that created it, once, and never again.
 */
import type { FastifyInstance } from 'fastify';
import type { Application, ApplicationChanges, Applications } from '../../../directory/applications.ts';
import { rejected } from '../../../errors.ts';
import { TAGS } from '../../api-docs.ts';
import { NO_BODY, errorResponses, listOf, noContent, objectBody, pageInfo, pagedQuery, parsePaging, ref, strictObject, type JsonSchema, type NamedSchema, type Query } from './common.ts';

const PATH = '/api/v2/applications';

/** An application as the admin API shows it: never its secret. */
export const APPLICATION: NamedSchema = {
  $id: 'Application',
  type: 'object',
  required: ['clientId', 'name', 'public', 'redirectUris', 'allowedGroups', 'createdAt', 'updatedAt'],
  properties: {
    clientId: { type: 'string' },
    name: { type: 'string' },
    public: { type: 'boolean', description: 'A public client has no secret and must use PKCE.' },
    redirectUris: { type: 'array', items: { type: 'string' }, description: 'Matched exactly.' },
    allowedGroups: { type: 'array', items: { type: 'string' }, description: 'Only members of one of these groups may sign in; empty: every active user.' },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
  },
};

const CLIENT_PARAMS: JsonSchema = strictObject({ clientId: { type: 'string', minLength: 1, maxLength: 100, description: 'The client id.' } }, ['clientId']);

const NAME: JsonSchema = { type: 'string', minLength: 1, maxLength: 100 };
const REDIRECT_URIS: JsonSchema = { type: 'array', minItems: 1, maxItems: 20, items: { type: 'string', minLength: 1, maxLength: 2000 }, description: 'https, or http for localhost only.' };
const ALLOWED_GROUPS: JsonSchema = { type: 'array', maxItems: 50, items: { type: 'string', minLength: 1, maxLength: 255 } };

const CREATE_BODY = strictObject(
  {
    name: NAME,
    redirectUris: REDIRECT_URIS,
    public: { type: 'boolean', default: false },
    allowedGroups: { ...ALLOWED_GROUPS, default: [] },
  },
  ['name', 'redirectUris'],
);

/** An application as GET shows it, with what each field does in a merge patch. */
const PATCH_BODY = strictObject(
  {
    name: NAME,
    redirectUris: { ...REDIRECT_URIS, description: 'Replaces the list. A URI left out is refused from now on, also for a code already issued to it.' },
    allowedGroups: { ...ALLOWED_GROUPS, description: 'Replaces the list; [] lets every active user in. A user left out is refused from their next refresh.' },
    clientId: { type: 'string', description: 'Read-only: accepted when it is the client id in the URL.' },
    public: { type: 'boolean', description: 'Read-only: accepted when unchanged (register a new application to change it).' },
    createdAt: { description: 'Read-only, ignored.' },
    updatedAt: { description: 'Read-only, ignored.' },
  },
  [],
  { description: 'A JSON merge patch (RFC 7396): fields present change, fields absent stay, so a GET answer can be sent back. The client id and the secret stay the same.' },
);

const CREATED: JsonSchema = {
  type: 'object',
  required: ['application'],
  properties: {
    application: ref(APPLICATION),
    clientSecret: { type: 'string', description: 'Shown once, in this answer only (absent for a public client).' },
    missingAllowedGroups: {
      type: 'array',
      items: { type: 'string' },
      description: 'The allowed groups no group is named (a typo, or not provisioned yet): nobody can sign in until one of the allowed groups exists. Empty when all exist.',
    },
  },
};

/** The answer of a creation or an edit: the application, and its allowed groups no group is named. */
const WITH_MISSING: JsonSchema = {
  type: 'object',
  required: ['application', 'missingAllowedGroups'],
  properties: { application: ref(APPLICATION), missingAllowedGroups: (CREATED['properties'] as Record<string, JsonSchema>)['missingAllowedGroups'] },
};

function present(application: Application): Record<string, unknown> {
  return { ...application, redirectUris: [...application.redirectUris], allowedGroups: [...application.allowedGroups] };
}

/** Registers the applications routes. */
export function applicationRoutes(app: FastifyInstance, applications: Applications): void {
  const tags = [TAGS.applications];
  app.get<{ Querystring: Query }>(PATH, {
    schema: {
      operationId: 'listApplications',
      summary: 'List the OpenID Connect applications, by name',
      tags,
      querystring: pagedQuery({}),
      response: { 200: listOf('applications', APPLICATION, 'A page of applications.') },
    },
  }, async (request) => {
    const paging = parsePaging(request.query);
    const all = await applications.list();
    return { applications: all.slice(paging.offset, paging.offset + paging.limit).map(present), page: pageInfo(paging, all.length) };
  });

  app.post<{ Body: { name: string; redirectUris: string[]; public?: boolean; allowedGroups?: string[] } }>(PATH, {
    schema: {
      operationId: 'createApplication',
      summary: 'Register an application; the answer holds its secret, once',
      tags,
      body: CREATE_BODY,
      response: { 201: { ...CREATED, description: 'The application and its secret.' } },
    },
  }, async (request, reply) => {
    const body = request.body;
    const { application, secret } = await applications.create(
      { name: body.name, redirectUris: body.redirectUris, public: body.public ?? false, allowedGroups: body.allowedGroups ?? [] },
      request.actor,
    );
    const missingAllowedGroups = await applications.missingGroups(application.allowedGroups);
    return reply.code(201).send({ application: present(application), ...(secret !== undefined ? { clientSecret: secret } : {}), missingAllowedGroups });
  });

  app.get<{ Params: { clientId: string } }>(`${PATH}/:clientId`, {
    schema: { operationId: 'getApplication', summary: 'Read an application', tags, params: CLIENT_PARAMS, response: { 200: { ...ref(APPLICATION), description: 'The application.' } } },
  }, async (request) => present(await applications.get(request.params.clientId)));

  app.patch<{ Params: { clientId: string } }>(`${PATH}/:clientId`, {
    schema: {
      operationId: 'updateApplication',
      summary: 'Change the name, the redirect URIs or the allowed groups (merge patch); the client id and the secret stay',
      tags,
      params: CLIENT_PARAMS,
      body: PATCH_BODY,
      consumes: ['application/merge-patch+json', 'application/json'],
      response: { 200: { ...WITH_MISSING, description: 'The application, changed, and its allowed groups that no group is named.' } },
    },
  }, async (request) => {
    const { clientId } = request.params;
    const body = objectBody(request.body);
    if (body['clientId'] !== undefined && body['clientId'] !== clientId) throw rejected('clientId', body['clientId'], 'is read-only: it must be the client id in the URL');
    if (body['public'] !== undefined && body['public'] !== (await applications.get(clientId)).public) {
      throw rejected('public', body['public'], 'is read-only: register a new application to change it');
    }
    const changes: ApplicationChanges = {
      ...(typeof body['name'] === 'string' ? { name: body['name'] } : {}),
      ...(Array.isArray(body['redirectUris']) ? { redirectUris: body['redirectUris'] as string[] } : {}),
      ...(Array.isArray(body['allowedGroups']) ? { allowedGroups: body['allowedGroups'] as string[] } : {}),
    };
    const { application } = await applications.update(clientId, changes, request.actor);
    return { application: present(application), missingAllowedGroups: await applications.missingGroups(application.allowedGroups) };
  });

  app.delete<{ Params: { clientId: string } }>(`${PATH}/:clientId`, {
    schema: { operationId: 'deleteApplication', summary: 'Delete an application; its tokens stop working', tags, params: CLIENT_PARAMS, response: { 204: noContent('Deleted.') } },
  }, async (request, reply) => {
    await applications.delete(request.params.clientId, request.actor);
    return reply.code(204).send();
  });

  app.post<{ Params: { clientId: string } }>(`${PATH}/:clientId/secret`, {
    schema: {
      operationId: 'rotateApplicationSecret',
      summary: 'Replace an application\'s secret (the old one stops working); the answer holds the new one, once',
      tags,
      params: CLIENT_PARAMS,
      body: NO_BODY,
      response: {
        200: { type: 'object', required: ['clientId', 'clientSecret'], properties: { clientId: { type: 'string' }, clientSecret: { type: 'string' } }, description: 'The new secret.' },
        ...errorResponses(400),
      },
    },
  }, async (request) => ({ clientId: request.params.clientId, clientSecret: await applications.rotateSecret(request.params.clientId, request.actor) }));
}
