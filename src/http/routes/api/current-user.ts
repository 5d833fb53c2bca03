/** GET /api/users/current: the signed-in user, as SonarQube answers it; 401 without a valid session. */
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../services.ts';
import { ScimError } from '../../../scim/errors.ts';
import { TAGS } from '../../api-docs.ts';
import { sessionUser } from '../../session-auth.ts';
import { ref, type NamedSchema } from './common.ts';

/** The signed-in user. */
export const CURRENT_USER: NamedSchema = {
  $id: 'CurrentUser',
  type: 'object',
  required: ['login', 'name', 'email', 'active', 'local', 'managed', 'passwordGenerated', 'groups'],
  properties: {
    login: { type: 'string' },
    name: { type: 'string', description: 'The name, else the login.' },
    email: { type: ['string', 'null'] },
    active: { type: 'boolean' },
    local: { type: 'boolean' },
    managed: { type: 'boolean' },
    passwordGenerated: { type: 'boolean', description: 'The user signs in with a password Roster generated (first start, `roster admin reset-password`, `roster users create`) and has not chosen their own yet.' },
    groups: { type: 'array', items: { type: 'string' }, description: 'The names of the groups that count for access.' },
  },
};

/** Registers GET /api/users/current. */
export function currentUserRoute(app: FastifyInstance, services: Services): void {
  app.get('/api/users/current', {
    schema: {
      operationId: 'getCurrentUser',
      summary: 'The user signed in through this browser session',
      tags: [TAGS.session],
      response: { 200: { ...ref(CURRENT_USER), description: 'The signed-in user.' } },
    },
  }, async (request) => {
    const user = await sessionUser(request, services);
    if (user === undefined) throw new ScimError(401, undefined, 'Not signed in: sign in through /saml/login.');
    // The groups that count for access, not the raw memberships: the one answer every access
    // decision shares (directory/access.ts).
    const [memberOf, passwordGenerated] = await Promise.all([services.access.groupsOf(user.id), services.passwordSignIn.signsInWithGeneratedPassword(user)]);
    const groups = memberOf.map((group) => group.name);
    return {
      login: user.login,
      name: user.name ?? user.login,
      email: user.email,
      active: user.active,
      local: user.local,
      managed: user.managed,
      passwordGenerated,
      groups,
    };
  });
}
