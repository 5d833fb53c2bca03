/** GET /api/v2/users-management/users/{id}/sign-in-check (administrators): can this user sign in now, and if not, why. */
import type { FastifyInstance, FastifySchema } from 'fastify';
import type { Services } from '../../../services.ts';
import { TAGS } from '../../api-docs.ts';
import { ID_PARAMS, ref, type NamedSchema } from './common.ts';

const NULLABLE_TEXT = ['string', 'null'];

/** The answer of the sign-in check. */
export const SIGN_IN_CHECK: NamedSchema = {
  $id: 'SignInCheck',
  type: 'object',
  required: ['userId', 'login', 'canSignIn', 'problems', 'warnings', 'lastAttempt', 'lastConnectionDate'],
  properties: {
    userId: { type: 'string' },
    login: { type: 'string' },
    canSignIn: { type: 'boolean' },
    problems: {
      type: 'array',
      description: 'Why the user cannot sign in now; empty when they can.',
      items: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', enum: ['saml_not_configured', 'certificate_expired', 'not_provisioned', 'deactivated', 'login_mismatch', 'local_account', 'login_white_space'] },
          message: { type: 'string' },
        },
      },
    },
    warnings: { type: 'array', items: { type: 'string' } },
    lastAttempt: {
      type: ['object', 'null'],
      description: 'The last SAML sign-in attempt with this login or email.',
      required: ['login', 'nameId', 'email', 'at', 'outcome', 'reason'],
      properties: {
        login: { type: 'string' },
        nameId: { type: NULLABLE_TEXT },
        email: { type: NULLABLE_TEXT },
        at: { type: 'string', format: 'date-time' },
        outcome: { type: 'string', enum: ['accepted', 'refused'] },
        reason: { type: NULLABLE_TEXT },
      },
    },
    lastConnectionDate: { type: NULLABLE_TEXT, format: 'date-time' },
  },
};

/** Registers the sign-in check. */
export function signInCheckRoute(app: FastifyInstance, services: Services): void {
  // Typed as FastifySchema, so that the handler may answer 404 too.
  const schema: FastifySchema = {
    operationId: 'checkUserSignIn',
    summary: 'Can this user sign in now, and if not, why',
    tags: [TAGS.users],
    params: ID_PARAMS,
    response: { 200: { ...ref(SIGN_IN_CHECK), description: 'The check.' } },
  };
  app.get<{ Params: { id: string } }>('/api/v2/users-management/users/:id/sign-in-check', { schema }, async (request, reply) => {
    const check = await services.signIn.check(request.params.id);
    if (check === undefined) return reply.code(404).send({ message: 'User not found.' });
    return check;
  });
}
