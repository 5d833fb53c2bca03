/**
 * `/api/v2/applications`: the OpenID Connect applications, for administrators; the same rules
 * and messages as `roster apps` (directory/applications.ts). A secret is in the answer of the
 * request that created it, once, and never again.
 */
import type { FastifyInstance } from 'fastify';
import type { Application, ApplicationChanges, Applications } from '../../../directory/applications.ts';
import { rejected } from '../../../errors.ts';
import { DEFAULT_SECRET_OVERLAP_SECONDS, MAX_SECRET_OVERLAP_SECONDS } from '../../../directory/secret-overlap.ts';
import { TAGS } from '../../api-docs.ts';
import { errorResponses, listOf, noContent, objectBody, pageInfo, pagedQuery, parsePaging, ref, strictObject, type JsonSchema, type NamedSchema, type Query } from './common.ts';

const PATH = '/api/v2/applications';

/** An application as the admin API shows it: never its secret. */
export const APPLICATION: NamedSchema = {
  $id: 'Application',
  type: 'object',
  required: ['clientId', 'name', 'public', 'redirectUris', 'allowedGroups', 'backchannelLogoutUri', 'createdAt', 'updatedAt', 'previousSecretExpiresAt'],
  properties: {
    clientId: { type: 'string' },
    name: { type: 'string' },
    public: { type: 'boolean', description: 'A public client has no secret and must use PKCE.' },
    redirectUris: { type: 'array', items: { type: 'string' }, description: 'Matched exactly.' },
    allowedGroups: { type: 'array', items: { type: 'string' }, description: 'Only members of one of these groups may sign in; empty: every active user.' },
    backchannelLogoutUri: {
      type: ['string', 'null'],
      description: 'Where Roster POSTs a logout token (OpenID Connect Back-Channel Logout) when a user\'s sign-in to the application ends; null: none.',
    },
    createdAt: { type: 'string', format: 'date-time' },
    updatedAt: { type: 'string', format: 'date-time' },
    previousSecretExpiresAt: { type: ['string', 'null'], format: 'date-time', description: 'After a rotation: until when the previous secret works too; null when it does not.' },
  },
};

const CLIENT_PARAMS: JsonSchema = strictObject({ clientId: { type: 'string', minLength: 1, maxLength: 100, description: 'The client id.' } }, ['clientId']);

const NAME: JsonSchema = { type: 'string', minLength: 1, maxLength: 100 };
const REDIRECT_URIS: JsonSchema = { type: 'array', minItems: 1, maxItems: 20, items: { type: 'string', minLength: 1, maxLength: 2000 }, description: 'https, or http for localhost only.' };
const ALLOWED_GROUPS: JsonSchema = { type: 'array', maxItems: 50, items: { type: 'string', minLength: 1, maxLength: 255 } };
const BACKCHANNEL_LOGOUT_URI: JsonSchema = {
  type: ['string', 'null'],
  maxLength: 2000,
  description: 'https, or http for localhost only; no fragment. null or an empty text: none.',
};

const CREATE_BODY = strictObject(
  {
    name: NAME,
    redirectUris: REDIRECT_URIS,
    public: { type: 'boolean', default: false },
    allowedGroups: { ...ALLOWED_GROUPS, default: [] },
    backchannelLogoutUri: BACKCHANNEL_LOGOUT_URI,
  },
  ['name', 'redirectUris'],
);

/** An application as GET shows it, with what each field does in a merge patch. */
const PATCH_BODY = strictObject(
  {
    name: NAME,
    redirectUris: { ...REDIRECT_URIS, description: 'Replaces the list. A URI left out is refused from now on, also for a code already issued to it.' },
    allowedGroups: { ...ALLOWED_GROUPS, description: 'Replaces the list; [] lets every active user in. A user left out is refused from their next refresh.' },
    backchannelLogoutUri: { ...BACKCHANNEL_LOGOUT_URI, description: 'Replaces the URI; null removes it (logouts still queued for the application are dropped when their turn comes).' },
    clientId: { type: 'string', description: 'Read-only: accepted when it is the client id in the URL.' },
    public: { type: 'boolean', description: 'Read-only: accepted when unchanged (register a new application to change it).' },
    createdAt: { description: 'Read-only, ignored.' },
    updatedAt: { description: 'Read-only, ignored.' },
    previousSecretExpiresAt: { description: 'Read-only, ignored: POST …/secret sets it, DELETE …/previous-secret clears it.' },
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

/** What a rotation may choose: how long the previous secret keeps working. */
const ROTATE_BODY: JsonSchema = {
  type: ['object', 'null'],
  additionalProperties: false,
  properties: {
    overlapSeconds: {
      type: 'integer',
      minimum: 0,
      maximum: MAX_SECRET_OVERLAP_SECONDS,
      default: DEFAULT_SECRET_OVERLAP_SECONDS,
      description: `How long the previous secret keeps working beside the new one, in seconds: 0 stops it at once; at most ${MAX_SECRET_OVERLAP_SECONDS} (7 days).`,
    },
  },
  description: 'No body, an empty JSON object (an overlap of 24 hours), or the overlap.',
};

/** The answer of a rotation: the new secret, once, and until when the previous one works. */
const ROTATED: JsonSchema = {
  type: 'object',
  required: ['clientId', 'clientSecret', 'previousSecretExpiresAt', 'stoppedOverlapUntil', 'application'],
  properties: {
    clientId: { type: 'string' },
    clientSecret: { type: 'string', description: 'Shown once, in this answer only.' },
    previousSecretExpiresAt: { type: ['string', 'null'], format: 'date-time', description: 'Until when the secret just replaced keeps working; null with an overlap of 0.' },
    stoppedOverlapUntil: {
      type: ['string', 'null'],
      format: 'date-time',
      description: 'One previous secret at a time: when the rotation came during an earlier overlap, the secret before the replaced one stopped at once, and this says until when it would have worked. Null otherwise.',
    },
    application: ref(APPLICATION),
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

  app.post<{ Body: { name: string; redirectUris: string[]; public?: boolean; allowedGroups?: string[]; backchannelLogoutUri?: string | null } }>(PATH, {
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
      { name: body.name, redirectUris: body.redirectUris, public: body.public ?? false, allowedGroups: body.allowedGroups ?? [], backchannelLogoutUri: body.backchannelLogoutUri ?? null },
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
      summary: 'Change the name, the redirect URIs, the allowed groups or the back-channel logout URI (merge patch); the client id and the secret stay',
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
      ...(typeof body['backchannelLogoutUri'] === 'string' || body['backchannelLogoutUri'] === null ? { backchannelLogoutUri: body['backchannelLogoutUri'] } : {}),
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

  app.post<{ Params: { clientId: string }; Body: { overlapSeconds?: number } | null }>(`${PATH}/:clientId/secret`, {
    schema: {
      operationId: 'rotateApplicationSecret',
      summary: 'Issue a new secret; the previous one keeps working for the overlap (24 hours unless told). The answer holds the new one, once',
      tags,
      params: CLIENT_PARAMS,
      body: ROTATE_BODY,
      response: { 200: { ...ROTATED, description: 'The new secret.' }, ...errorResponses(400) },
    },
  }, async (request) => {
    const overlapSeconds = request.body?.overlapSeconds;
    const { application, secret, stoppedOverlapUntil } = await applications.rotateSecret(request.params.clientId, request.actor, overlapSeconds !== undefined ? { overlapSeconds } : {});
    return { clientId: application.clientId, clientSecret: secret, previousSecretExpiresAt: application.previousSecretExpiresAt, stoppedOverlapUntil, application: present(application) };
  });

  app.delete<{ Params: { clientId: string } }>(`${PATH}/:clientId/previous-secret`, {
    schema: {
      operationId: 'endApplicationSecretOverlap',
      summary: 'End a rotation\'s overlap now: the previous secret stops working',
      tags,
      params: CLIENT_PARAMS,
      response: {
        200: {
          type: 'object',
          required: ['application', 'ended'],
          properties: { application: ref(APPLICATION), ended: { type: 'boolean', description: 'false when no previous secret was working: nothing changed.' } },
          description: 'The application, without a previous secret.',
        },
        ...errorResponses(400),
      },
    },
  }, async (request) => {
    const { application, ended } = await applications.endSecretOverlap(request.params.clientId, request.actor);
    return { application: present(application), ended };
  });
}
