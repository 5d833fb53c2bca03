/**
 * `GET /api/v2/users-management/users/{id}/personal-data`: what Roster holds of one person, as
 * one JSON document (GDPR Art. 15; directory/personal-data.ts makes it, and records the access).
 */
import type { FastifyInstance } from 'fastify';
import { LIST_LIMIT, PERSONAL_DATA_FORMAT, type PersonalDataExport } from '../../../directory/personal-data.ts';
import { TAGS } from '../../api-docs.ts';
import { AUDIT_LOG_ENTRY } from './audit-logs.ts';
import { ID_PARAMS, ref, type JsonSchema, type NamedSchema } from './common.ts';
import { FEED_EVENT } from './events.ts';

const TEXT = { type: 'string' };
const NULLABLE_TEXT = { type: ['string', 'null'] };
const INSTANT = { type: 'string', format: 'date-time' };
const NULLABLE_INSTANT = { type: ['string', 'null'], format: 'date-time' };

/** An object whose fields are all given. */
function record(properties: Readonly<Record<string, JsonSchema>>, description?: string): JsonSchema {
  return { type: 'object', required: Object.keys(properties), properties, ...(description !== undefined ? { description } : {}) };
}

/** A list of the document: the newest items, how many in all, and where the rest is. */
function section(item: JsonSchema, description: string): JsonSchema {
  return record(
    {
      total: { type: 'integer', minimum: 0, description: 'How many there are in all.' },
      items: { type: 'array', items: item, description: `The newest ${LIST_LIMIT} at most.` },
      rest: { type: ['string', 'null'], description: 'Null when `items` holds them all; otherwise where to read the rest.' },
    },
    description,
  );
}

const APPLICATION_REF = record({ clientId: TEXT, name: { ...NULLABLE_TEXT, description: 'Null when the application was deleted since.' } });

/** The document, as directory/personal-data.ts PersonalData. */
export const PERSONAL_DATA: NamedSchema = {
  $id: 'PersonalData',
  ...record({
    format: { type: 'string', const: PERSONAL_DATA_FORMAT, description: 'The shape of this document.' },
    exportedAt: INSTANT,
    listLimit: { type: 'integer', description: 'The most items of each list.' },
    account: record({
      id: { type: 'string', description: "Roster's internal id." },
      login: TEXT,
      name: NULLABLE_TEXT,
      email: NULLABLE_TEXT,
      externalId: NULLABLE_TEXT,
      local: { type: 'boolean', description: 'Signs in with a password (true) or through SAML.' },
      managed: { type: 'boolean', description: 'Linked to SCIM: the identity provider manages it.' },
      active: { type: 'boolean' },
      administrator: { type: 'boolean', description: 'An administrator now.' },
      anonymized: { type: 'boolean', description: 'Its personal data was deleted: what is left.' },
      createdAt: INSTANT,
      updatedAt: INSTANT,
      lastSignInAt: NULLABLE_INSTANT,
    }, 'The account; never its password or a hash of it.'),
    scim: {
      type: ['object', 'null'],
      required: ['id', 'document'],
      properties: {
        id: { ...NULLABLE_TEXT, description: 'The SCIM id; null once SCIM no longer manages the user.' },
        document: { type: 'object', additionalProperties: true, description: 'The SCIM document as the identity provider sent it and Roster keeps it, without its groups.' },
      },
      description: 'Null for a user the identity provider never provisioned.',
    },
    groupMemberships: section(record({ group: record({ id: TEXT, name: TEXT }), since: INSTANT }), 'The groups the user is in, newest first.'),
    apiTokens: section(record({ name: TEXT, createdAt: INSTANT, lastUsedAt: NULLABLE_INSTANT, revokedAt: NULLABLE_INSTANT }), 'API tokens acting as the user, revoked ones included; never their secrets. Tokens do not expire.'),
    browserSessions: section(
      record({ createdAt: INSTANT, lastSeenAt: INSTANT, expiresAt: { ...INSTANT, description: 'The absolute end; a session unused for 8 hours ends sooner.' }, address: NULLABLE_TEXT, browser: NULLABLE_TEXT }),
      'Console sessions, most recently seen first, ended ones until the hourly clean-up; never their cookies.',
    ),
    knownBrowsers: section(record({ knownUntil: INSTANT }), 'Browsers that signed in with the password: their failed attempts count apart.'),
    openIdConnect: record({
      grants: section(
        record({
          application: APPLICATION_REF,
          scopes: { type: 'array', items: TEXT },
          claims: { type: 'array', items: TEXT },
          grantedAt: NULLABLE_INSTANT,
          expiresAt: NULLABLE_INSTANT,
          issued: record({ authorizationCodes: { type: 'integer' }, accessTokens: { type: 'integer' }, refreshTokens: { type: 'integer' } }, 'How many are stored; never their values.'),
        }),
        'What the user let each application read.',
      ),
      sessions: section(record({ signedInAt: NULLABLE_INSTANT, expiresAt: NULLABLE_INSTANT, applications: { type: 'array', items: APPLICATION_REF } }), 'Sign-ins to applications through Roster.'),
    }),
    samlSignInAttempts: section(
      record({ login: TEXT, nameId: NULLABLE_TEXT, email: NULLABLE_TEXT, at: INSTANT, outcome: { type: 'string', enum: ['accepted', 'refused'] }, reason: NULLABLE_TEXT }),
      'The last SAML sign-in attempt of each login that names the user (its login, or its email as email or NameID).',
    ),
    auditEntries: record({
      aboutUser: section(ref(AUDIT_LOG_ENTRY), 'Entries whose target is the user, newest first.'),
      byUser: section(ref(AUDIT_LOG_ENTRY), 'Entries whose actor is the user (by its login, since the user has had it), newest first; those about another user (a user, membership or token of someone else) without their details.'),
    }),
    events: section(ref(FEED_EVENT), "The change events about the user (its own changes and its memberships'), newest first, while the feed keeps them."),
    notIncluded: { type: 'array', items: TEXT, description: 'What Roster keeps that names the person but is not in the document, and where it is.' },
  }, 'What Roster holds of one person (GDPR Art. 15).'),
};

/** Registers the personal-data route. */
export function personalDataRoutes(app: FastifyInstance, personalData: PersonalDataExport): void {
  app.get<{ Params: { id: string } }>('/api/v2/users-management/users/:id/personal-data', {
    schema: {
      operationId: 'exportUserPersonalData',
      summary: 'Read what Roster holds of a user, as one document (GDPR Art. 15); the access is audited',
      description: `Each list holds the newest ${LIST_LIMIT} items with how many there are in all, and says where the rest is. Records the audit entry \`user.personal_data_exported\`.`,
      tags: [TAGS.users],
      params: ID_PARAMS,
      response: { 200: { ...ref(PERSONAL_DATA), description: 'The document.' } },
    },
  }, async (request) => personalData.export(request.params.id, request.actor));
}
