/**
 * The provisioning switch, as SonarQube exposes it: GET status, POST enable, POST disable.
 * The CLI's `scim enable|disable|status` call the same service.
 */
import type { FastifyInstance } from 'fastify';
import { DirectoryError } from '../../../errors.ts';
import { DISABLE_CONFIRMATION_MESSAGE } from '../../../directory/provisioning.ts';
import type { Services } from '../../../services.ts';
import { TAGS } from '../../api-docs.ts';
import { NO_BODY, noContent, ref, type NamedSchema } from './common.ts';

/** `{"enabled": …}`, SonarQube's answer. */
export const SCIM_STATUS: NamedSchema = {
  $id: 'ScimStatus',
  type: 'object',
  required: ['enabled'],
  properties: { enabled: { type: 'boolean', description: 'SCIM provisioning is on: the identity provider manages users and groups.' } },
};

/**
 * `{"confirm": true}` in the body or `?confirm=true`, exactly: disabling cannot be undone. The
 * query's `confirm` is text, not one of the booleans other parameters read as SonarQube does
 * (`1`, `yes`, `TRUE`): a confirmation is the one word the documentation gives.
 */
function confirmed(body: unknown, query: unknown): boolean {
  const fromBody = typeof body === 'object' && body !== null && (body as { confirm?: unknown }).confirm === true;
  const fromQuery = typeof query === 'object' && query !== null && (query as { confirm?: unknown }).confirm === 'true';
  return fromBody || fromQuery;
}

/** Registers /api/scim_management/*. */
export function scimManagementRoutes(app: FastifyInstance, services: Services): void {
  const tags = [TAGS.provisioning];
  app.get('/api/scim_management/status', {
    schema: { operationId: 'getScimStatus', summary: 'Is SCIM provisioning on?', tags, response: { 200: { ...ref(SCIM_STATUS), description: 'The switch.' } } },
  }, async () => services.provisioning.status());

  app.post('/api/scim_management/enable', {
    schema: {
      operationId: 'enableScim',
      summary: 'Turn SCIM provisioning on (SAML must be configured first)',
      tags,
      body: NO_BODY,
      response: { 204: noContent('On (or already on).') },
    },
  }, async (request, reply) => {
    await services.provisioning.enable(request.actor);
    return reply.code(204).send();
  });

  app.post('/api/scim_management/disable', {
    schema: {
      operationId: 'disableScim',
      summary: 'Turn SCIM provisioning off: every SCIM link is removed, which cannot be undone',
      tags,
      body: {
        type: ['object', 'null'],
        additionalProperties: false,
        properties: { confirm: { type: 'boolean', description: 'Must be true (or ?confirm=true).' } },
      },
      querystring: { type: 'object', properties: { confirm: { type: 'string', enum: ['true'], description: 'The same confirmation, for clients that send no body: `true` exactly.' } } },
      response: { 204: noContent('Off (or already off).') },
    },
  }, async (request, reply) => {
    if (!confirmed(request.body, request.query)) throw new DirectoryError('invalid', DISABLE_CONFIRMATION_MESSAGE, 'confirm');
    await services.provisioning.disable(request.actor);
    return reply.code(204).send();
  });
}
