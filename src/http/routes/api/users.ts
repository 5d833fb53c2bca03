/**
 * `/api/v2/users-management/users`, shaped as SonarQube's Web API v2: list, create, read,
 * merge-patch, and DELETE = deactivate.
 */
import type { FastifyInstance } from 'fastify';
import { ACCOUNT_LIMITS, type Accounts } from '../../../directory/accounts.ts';
import { instantParameter } from '../../../directory/instant-parameter.ts';
import { userShape as presentUser } from '../../../directory/shapes.ts';
import { rejected } from '../../../errors.ts';
import { TAGS } from '../../api-docs.ts';
import {
  ID_PARAMS, errorResponses, listOf, noContent, objectBody, optionalBoolean, optionalString, pageInfo, pagedQuery, parsePaging, ref, strictObject,
  type JsonSchema, type NamedSchema, type Query,
} from './common.ts';

const PATH = '/api/v2/users-management/users';

const NULLABLE_TEXT = ['string', 'null'];

/** A user, as SonarQube's v2 API shows one. */
export const USER: NamedSchema = {
  $id: 'User',
  type: 'object',
  required: ['id', 'login', 'name', 'email', 'active', 'local', 'managed', 'externalLogin', 'externalProvider', 'externalId', 'sonarQubeLastConnectionDate'],
  properties: {
    id: { type: 'string', description: "Roster's internal id (not the SCIM id)." },
    login: { type: 'string', description: 'The login; for SAML users, the value of the SAML login attribute.' },
    name: { type: NULLABLE_TEXT },
    email: { type: NULLABLE_TEXT },
    active: { type: 'boolean', description: 'False once deactivated.' },
    local: { type: 'boolean', description: 'Signs in with a password (true) or through SAML (false).' },
    managed: { type: 'boolean', description: 'Linked to SCIM: the identity provider owns it.' },
    externalLogin: { type: 'string', description: 'The login (Roster signs SAML users in by login).' },
    externalProvider: { type: 'string', enum: ['roster', 'saml'], description: '`roster` for local users, `saml` for the others.' },
    externalId: { type: NULLABLE_TEXT, description: "The identity provider's id of the user." },
    sonarQubeLastConnectionDate: { type: NULLABLE_TEXT, format: 'date-time', description: 'The last sign-in (SonarQube\'s field name).' },
  },
};

const LOGIN: JsonSchema = {
  type: 'string',
  minLength: ACCOUNT_LIMITS.login.min,
  maxLength: ACCOUNT_LIMITS.login.max,
  description: 'No spaces or control characters; may be an email address.',
};
const NAME: JsonSchema = { type: 'string', minLength: 1, maxLength: ACCOUNT_LIMITS.name };
const EMAIL: JsonSchema = { type: NULLABLE_TEXT, maxLength: ACCOUNT_LIMITS.email };

const SCM_ACCOUNTS_DESCRIPTION = "SonarQube's field: Roster keeps no SCM accounts, so only null or an empty list is accepted (and changes nothing).";

/**
 * The body without SonarQube's `scmAccounts`, which clients generated from SonarQube's
 * description send with every user (null, or an empty list, when unset). Roster keeps no SCM
 * accounts: a list that names some is refused rather than dropped.
 */
function withoutScmAccounts(body: Record<string, unknown>): Record<string, unknown> {
  const { scmAccounts, ...rest } = body;
  if (scmAccounts !== undefined && scmAccounts !== null && !(Array.isArray(scmAccounts) && scmAccounts.length === 0)) {
    throw rejected('scmAccounts', scmAccounts, 'must be empty: Roster keeps no SCM accounts');
  }
  return rest;
}

const CREATE_BODY = strictObject(
  {
    login: LOGIN,
    name: NAME,
    email: EMAIL,
    password: {
      type: NULLABLE_TEXT,
      writeOnly: true,
      minLength: ACCOUNT_LIMITS.password.min,
      maxLength: ACCOUNT_LIMITS.password.max,
      description: 'Required for a local user; refused for the others.',
    },
    local: { type: ['boolean', 'null'], default: true, description: 'A local user signs in with a password; the others through SAML. Null or absent: true.' },
    scmAccounts: { type: ['array', 'null'], items: { type: 'string' }, description: SCM_ACCOUNTS_DESCRIPTION },
  },
  ['login', 'name'],
);

/**
 * A user as GET shows it, with what each field does in a merge patch. The text fields' limits
 * are checked by the directory (accounts.ts), only when a value changes: a user created by SCIM
 * or a SAML sign-in may hold a login or a name the admin API would not create (one character,
 * 300), and what GET shows must go back unchanged.
 */
const PATCH_BODY = strictObject(
  {
    login: { type: 'string', description: `Refused while SCIM is on. A new login has ${ACCOUNT_LIMITS.login.min} to ${ACCOUNT_LIMITS.login.max} characters, no spaces or control characters.` },
    // A user provisioned without a name shows null, and may send it back.
    name: { type: NULLABLE_TEXT, description: `null only when it is null already; a new name has 1 to ${ACCOUNT_LIMITS.name} characters.` },
    email: { type: NULLABLE_TEXT, description: `A new email has at most ${ACCOUNT_LIMITS.email} characters.` },
    externalId: { type: NULLABLE_TEXT, description: `Refused while SCIM is on; at most ${ACCOUNT_LIMITS.externalId} characters.` },
    id: { type: 'string', description: 'Read-only: accepted when it is the id in the URL.' },
    active: { type: 'boolean', description: 'Read-only: accepted when unchanged. DELETE deactivates; POST with the login reactivates.' },
    local: { type: 'boolean', description: 'Read-only: accepted when unchanged.' },
    managed: { type: 'boolean', description: 'Read-only: accepted when unchanged.' },
    externalLogin: { type: 'string', description: 'Derived from login: accepted when it is the login before or after the patch.' },
    externalProvider: { type: 'string', description: 'Derived from local: accepted when unchanged.' },
    sonarQubeLastConnectionDate: { type: NULLABLE_TEXT, description: 'Ignored: sign-ins set it.' },
    scmAccounts: { type: ['array', 'null'], items: { type: 'string' }, description: SCM_ACCOUNTS_DESCRIPTION },
  },
  [],
  { description: 'A JSON merge patch (RFC 7396): fields present change, fields absent stay; a field sent with its current value changes nothing, so a GET answer can be sent back.' },
);

/**
 * SonarQube's filters on SonarLint connections: Roster has none to filter on. Refused rather
 * than ignored, as unknown parameters are: a script asking for the users of SonarLint would
 * otherwise be answered with every user.
 */
function refuseSonarLintFilters(query: Query): void {
  for (const name of ['sonarLintLastConnectionDateFrom', 'sonarLintLastConnectionDateTo']) {
    const value = query[name];
    if (value !== undefined && value !== '') {
      throw rejected(name, value, 'is not supported: Roster records no SonarLint connections (sonarQubeLastConnectionDateFrom and sonarQubeLastConnectionDateTo filter on sign-ins)');
    }
  }
}

/** Registers the users routes. */
export function userRoutes(app: FastifyInstance, accounts: Accounts): void {
  const tags = [TAGS.users];
  app.get<{ Querystring: Query }>(PATH, {
    schema: {
      operationId: 'listUsers',
      summary: 'List users, by login',
      tags,
      querystring: pagedQuery({
        q: { type: 'string', description: 'Login, name or email contains this (any case).' },
        active: { type: 'boolean', description: 'Absent: active and deactivated users alike (SonarQube: active only).' },
        managed: { type: 'boolean', description: 'Only while SCIM is on (400 otherwise).' },
        externalIdentity: { type: 'string', description: 'The external login (in Roster, the login) is exactly this, case included.' },
        sonarQubeLastConnectionDateFrom: { type: 'string', description: 'Signed in at or after this ISO 8601 instant (2020-01-01T00:00:00+0100).' },
        sonarQubeLastConnectionDateTo: { type: 'string', description: 'Never signed in, or last at or before this ISO 8601 instant.' },
        groupId: { type: 'string', description: 'Only the members of this group.' },
        'groupId!': { type: 'string', description: 'Only the users who are not members of this group.' },
        sonarLintLastConnectionDateFrom: { type: 'string', description: 'Refused (400): Roster has no SonarLint connections.' },
        sonarLintLastConnectionDateTo: { type: 'string', description: 'Refused (400): Roster has no SonarLint connections.' },
      }),
      response: { 200: listOf('users', USER, 'A page of users.') },
    },
  }, async (request) => {
    const query = request.query;
    const paging = parsePaging(query);
    const q = optionalString(query, 'q');
    const active = optionalBoolean(query, 'active');
    const managed = optionalBoolean(query, 'managed');
    refuseSonarLintFilters(query);
    const login = optionalString(query, 'externalIdentity');
    const connectedFrom = instantParameter(query, 'sonarQubeLastConnectionDateFrom');
    const connectedTo = instantParameter(query, 'sonarQubeLastConnectionDateTo');
    const groupId = optionalString(query, 'groupId');
    const notInGroupId = optionalString(query, 'groupId!');
    const result = await accounts.list(
      {
        ...(q !== undefined ? { q } : {}), ...(active !== undefined ? { active } : {}), ...(managed !== undefined ? { managed } : {}),
        ...(login !== undefined ? { login } : {}), ...(connectedFrom !== undefined ? { connectedFrom } : {}), ...(connectedTo !== undefined ? { connectedTo } : {}),
        ...(groupId !== undefined ? { groupId } : {}), ...(notInGroupId !== undefined ? { notInGroupId } : {}),
      },
      paging,
    );
    return { users: result.users.map(presentUser), page: pageInfo(paging, result.total) };
  });

  // SonarQube answers a creation with 200 and the user, not 201.
  app.post(PATH, {
    schema: {
      operationId: 'createUser',
      summary: 'Create a user, or reactivate the deactivated user with this login',
      tags,
      body: CREATE_BODY,
      response: { 200: { ...ref(USER), description: 'The user.' }, ...errorResponses(409) },
    },
  }, async (request) => presentUser(await accounts.create(withoutScmAccounts(objectBody(request.body)), request.actor)));

  app.get<{ Params: { id: string } }>(`${PATH}/:id`, {
    schema: { operationId: 'getUser', summary: 'Read a user', tags, params: ID_PARAMS, response: { 200: { ...ref(USER), description: 'The user.' } } },
  }, async (request) => presentUser(await accounts.get(request.params.id)));

  app.patch<{ Params: { id: string } }>(`${PATH}/:id`, {
    schema: {
      operationId: 'updateUser',
      summary: 'Change a user (merge patch)',
      tags,
      params: ID_PARAMS,
      body: PATCH_BODY,
      consumes: ['application/merge-patch+json', 'application/json'],
      response: { 200: { ...ref(USER), description: 'The user, changed.' }, ...errorResponses(409) },
    },
  }, async (request) => presentUser(await accounts.update(request.params.id, withoutScmAccounts(objectBody(request.body)), request.actor)));

  app.delete<{ Params: { id: string }; Querystring: Query }>(`${PATH}/:id`, {
    schema: {
      operationId: 'deactivateUser',
      summary: 'Deactivate a user: its memberships, tokens and sessions go; with anonymize=true its personal data too',
      tags,
      params: ID_PARAMS,
      querystring: {
        type: 'object',
        properties: {
          anonymize: {
            type: 'boolean',
            description: "Also delete the user's personal data (SonarQube's parameter): its name, email, external id, password, SCIM attributes and tokens go, and its login becomes anonymized-<id>. Allowed for a user already deactivated too. Cannot be undone.",
          },
        },
      },
      response: { 204: noContent('Deactivated (or already inactive); anonymized when asked (or already).') },
    },
  }, async (request, reply) => {
    const anonymize = optionalBoolean(request.query, 'anonymize') ?? false;
    await accounts.deactivate(request.params.id, request.actor, { anonymize });
    return reply.code(204).send();
  });
}
