/**
 * The OpenAPI 3.1 document of the admin API, at GET /api/v2/api-docs (where SonarQube serves
 * its Web API v2 description). @fastify/swagger builds it from the route schemas, the same
 * ones that validate requests and serialize answers (routes/api/common.ts), so it describes
 * what the API does. SCIM, the /saml pages and /healthz are left out: SCIM is described by its
 * own discovery endpoints (RFC 7644 §4).
 *
 * Served without authentication: it holds no data, only the shapes every Roster instance has
 * (docs/api.md says the same), and tools (code generators, API gateways, Swagger UI) fetch it
 * without credentials. It does not name Roster's version.
 */
import swagger from '@fastify/swagger';
import type { FastifyInstance, FastifySchema, RouteOptions } from 'fastify';
import { apiErrorHandler } from './errors.ts';
import { errorResponses, type JsonSchema } from './routes/api/common.ts';
import { apiOfPath } from './routing.ts';

/** Where the document is served. */
export const API_DOCS_PATH = '/api/v2/api-docs';

/** The security schemes; each scope of the admin API names the ones it accepts. */
export const SECURITY = {
  /** The admin API proper: an administrator's token only. */
  token: [{ bearerToken: [] }],
  /** The SAML settings and the sign-in check: a token, or an administrator's browser session. */
  tokenOrSession: [{ bearerToken: [] }, { session: [] }],
  /** /api/users/current: a browser session. */
  session: [{ session: [] }],
} as const;

/** The tags that group operations in the document. */
export const TAGS = {
  users: 'Users',
  groups: 'Groups',
  memberships: 'Group memberships',
  provisioning: 'Provisioning',
  scimSchemas: 'SCIM extension schemas',
  saml: 'SAML',
  audit: 'Audit log',
  events: 'Change events',
  webhooks: 'Webhooks',
  session: 'Session',
  applications: 'Applications',
} as const;

const TAG_DESCRIPTIONS: Readonly<Record<string, string>> = {
  [TAGS.users]: 'Local and SAML users (SonarQube Web API v2 `users-management`). DELETE deactivates; `/personal-data` gives what Roster holds of one person (GDPR Art. 15).',
  [TAGS.groups]: 'Groups (SonarQube Web API v2 `authorizations`).',
  [TAGS.memberships]: 'Who belongs to which group.',
  [TAGS.provisioning]: 'SCIM provisioning on or off, as SonarQube\'s `/api/scim_management`.',
  [TAGS.scimSchemas]: 'The extension schemas that define custom SCIM attributes (`roster schemas …` in the CLI).',
  [TAGS.saml]: 'The SAML identity provider Roster trusts, and whether a user can sign in.',
  [TAGS.audit]: 'The audit trail of every change.',
  [TAGS.events]: 'The feed of changes to users, groups and memberships, for applications that keep a copy (docs/events.md).',
  [TAGS.webhooks]: 'Endpoints that receive every change as a signed POST (Standard Webhooks), their deliveries and replays (docs/events.md).',
  [TAGS.session]: 'The user signed in through the browser.',
  [TAGS.applications]: 'Applications that sign their users in through Roster (OpenID Connect clients).',
};

// A body that may be absent is described as an optional object: `null` is how Fastify
// validates a missing body, not something to send.
const OPTIONAL_BODY = 'x-roster-optional-body';

function bodyMayBeAbsent(body: unknown): boolean {
  const type = (body as JsonSchema | undefined)?.['type'];
  return Array.isArray(type) && type.includes('null');
}

/**
 * Adds to each route the scope registers what the scope decides rather than the route: who may
 * call it (`security`, one of SECURITY) and the errors any route of the scope can answer. Call
 * it next to the scope's authentication hook, so that the document says what the hook does.
 */
export function describeRoutes(scope: FastifyInstance, access: keyof typeof SECURITY): void {
  const security = SECURITY[access];
  scope.addHook('onRoute', (route: RouteOptions) => {
    const schema = (route.schema ?? {}) as FastifySchema & JsonSchema;
    const takesInput = schema.body !== undefined || schema.querystring !== undefined || schema.params !== undefined;
    const statuses = [
      ...(takesInput ? [400] : []),
      401,
      // Any signed-in user may read /api/users/current; everything else is for administrators.
      ...(access === 'session' ? [] : [403]),
      ...(route.url.includes(':') ? [404] : []),
      ...(schema.body !== undefined ? [413, 415] : []),
      // The rate limit counts the requests of the scopes that check an administrator (auth.ts
      // `throttle`); /api/users/current is not counted.
      ...(access === 'session' ? [] : [429]),
      500,
      // The database unreachable or too slow, or the instance too busy (admission.ts): any route.
      503,
    ];
    const response = { ...errorResponses(...statuses), ...((schema.response ?? {}) as Record<string, unknown>) };
    route.schema = { ...schema, security: security.map((scheme) => ({ ...scheme })), response };
  });
}

/** Leaves out of the document every route that is not the admin API's, and the document itself. */
function transform({ schema, url }: { schema: FastifySchema; url: string }): { schema: FastifySchema; url: string } {
  if (apiOfPath(url) !== 'admin' || url === API_DOCS_PATH) return { schema: { ...(schema ?? {}), hide: true } as FastifySchema, url };
  const body = (schema as JsonSchema).body;
  if (bodyMayBeAbsent(body)) {
    const types = ((body as JsonSchema)['type'] as string[]).filter((type) => type !== 'null');
    return { schema: { ...schema, body: { ...(body as JsonSchema), type: types.length === 1 ? types[0] : types }, [OPTIONAL_BODY]: true } as FastifySchema, url };
  }
  return { schema, url };
}

/** Marks the request bodies that may be left out as not required (see OPTIONAL_BODY). */
function markOptionalBodies(openapiObject: Record<string, unknown>): void {
  for (const item of Object.values((openapiObject['paths'] ?? {}) as Record<string, Record<string, Record<string, unknown>>>)) {
    for (const operation of Object.values(item)) {
      if (operation[OPTIONAL_BODY] !== true) continue;
      delete operation[OPTIONAL_BODY];
      const requestBody = operation['requestBody'] as Record<string, unknown> | undefined;
      if (requestBody !== undefined) requestBody['required'] = false;
    }
  }
}

/** Registers the document generator on the root app; call it before any route is registered. */
export async function registerApiDocs(app: FastifyInstance, baseUrl: string, sessionCookie: string): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Roster admin API',
        // The version of this description's shapes (SonarQube Web API v2), not of Roster.
        version: '2',
        description:
          "Roster's admin API: users, groups, memberships, the SCIM switch, the SAML settings, the audit log and the change events, with the paths, fields and errors of SonarQube Server's Web API v2. " +
          'Bodies refuse fields they do not describe (400 naming them); what a GET returns can be sent back to its PUT or PATCH. ' +
          'The SCIM API for identity providers is described by its own discovery endpoints under /api/scim/v2.',
      },
      servers: [{ url: baseUrl }],
      components: {
        securitySchemes: {
          bearerToken: {
            type: 'http',
            scheme: 'bearer',
            description: 'A token of an active administrator, from `npm run roster -- tokens create --name <name>`.',
          },
          session: {
            type: 'apiKey',
            in: 'cookie',
            name: sessionCookie,
            description: 'The browser session of a signed-in user (through SAML, or with the password of a local account such as admin): an administrator, except for /api/users/current. State-changing requests also need the CSRF token.',
          },
        },
      },
      tags: Object.values(TAGS).map((name) => ({ name, description: TAG_DESCRIPTIONS[name] ?? name })),
    },
    stripBasePath: false,
    // Components are named by their $id (User, Group …) rather than def-0, def-1 …
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, index) => (typeof json['$id'] === 'string' ? json['$id'] : `def-${index}`) },
    transform,
    transformObject: (document) => {
      if (!('openapiObject' in document)) return document.swaggerObject;
      markOptionalBodies(document.openapiObject as Record<string, unknown>);
      return document.openapiObject;
    },
  });
}

/** Serves the document; register after the routes it describes (it is generated on first request). */
export async function apiDocsRoute(app: FastifyInstance): Promise<void> {
  await app.register(async (scope) => {
    scope.setErrorHandler(apiErrorHandler);
    scope.get(API_DOCS_PATH, {
      schema: {
        hide: true,
        response: { 200: { type: 'object', additionalProperties: true, description: 'This document.' }, ...errorResponses(500) },
      },
    }, async () => app.swagger());
  });
}

