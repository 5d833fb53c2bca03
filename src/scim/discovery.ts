/**
 * The discovery documents (RFC 7644 §4, RFC 7643 §5–§7). They describe exactly what Roster
 * implements: a feature is `supported: true` only when its endpoint works.
 */
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './list.ts';
import {
  BUILT_IN_REGISTRY,
  type AttributeDefinition,
  type DeclaredSchema,
  type ResourceTypeDefinition,
  type SchemaDefinition,
  type SchemaRegistry,
} from './schemas.ts';

const SPC_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';
const RESOURCE_TYPE_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
const SCHEMA_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';

function scimBase(baseUrl: string): string {
  return `${baseUrl}/api/scim/v2`;
}

/** The limits of /Bulk (RFC 7644 §3.7.4), as /ServiceProviderConfig advertises and the endpoint enforces them. */
export interface BulkLimits {
  readonly maxOperations: number;
  /** In bytes. */
  readonly maxPayloadSize: number;
}

/**
 * /ServiceProviderConfig (RFC 7643 §5, and `pagination` from RFC 9865 §4); `documentationUri`
 * only when the installation serves its documentation (http/docs.ts).
 */
export function serviceProviderConfig(
  baseUrl: string,
  bulk: BulkLimits,
  paging: { readonly cursorTimeout: number },
  documentationUri?: string,
): Record<string, unknown> {
  return {
    schemas: [SPC_SCHEMA],
    ...(documentationUri !== undefined ? { documentationUri } : {}),
    patch: { supported: true },
    bulk: { supported: true, maxOperations: bulk.maxOperations, maxPayloadSize: bulk.maxPayloadSize },
    filter: { supported: true, maxResults: MAX_PAGE_SIZE },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    // RFC 9865 §4. Index paging stays the default (§2.4: clients written for RFC 7644 expect
    // it); a `cursor` parameter, even empty, switches a request to cursors.
    pagination: {
      cursor: true,
      index: true,
      defaultPaginationMethod: 'index',
      defaultPageSize: DEFAULT_PAGE_SIZE,
      maxPageSize: MAX_PAGE_SIZE,
      cursorTimeout: paging.cursorTimeout,
    },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'Bearer token',
        description: 'Authentication with a Roster API token in the Authorization header (RFC 6750).',
        primary: true,
      },
    ],
    meta: {
      resourceType: 'ServiceProviderConfig',
      location: `${scimBase(baseUrl)}/ServiceProviderConfig`,
    },
  };
}

/** One /ResourceTypes entry (RFC 7643 §6). */
export function resourceTypeRepresentation(type: ResourceTypeDefinition, baseUrl: string): Record<string, unknown> {
  return {
    schemas: [RESOURCE_TYPE_SCHEMA],
    id: type.id,
    name: type.name,
    endpoint: type.endpoint,
    description: type.description,
    schema: type.schema,
    schemaExtensions: type.schemaExtensions.map((extension) => ({ ...extension })),
    meta: { resourceType: 'ResourceType', location: `${scimBase(baseUrl)}/ResourceTypes/${type.id}` },
  };
}

/** Every resource type, with the extensions of `registry` (declared ones included). */
export function resourceTypes(baseUrl: string, registry: SchemaRegistry = BUILT_IN_REGISTRY): Record<string, unknown>[] {
  return [registry.User, registry.Group].map((schemas) => resourceTypeRepresentation(schemas.type, baseUrl));
}

function attributeRepresentation(attribute: AttributeDefinition): Record<string, unknown> {
  const representation: Record<string, unknown> = {
    name: attribute.name,
    type: attribute.type,
    multiValued: attribute.multiValued,
    description: attribute.description,
    required: attribute.required,
    caseExact: attribute.caseExact,
    mutability: attribute.mutability,
    returned: attribute.returned,
    uniqueness: attribute.uniqueness,
  };
  if (attribute.canonicalValues) representation.canonicalValues = [...attribute.canonicalValues];
  if (attribute.referenceTypes) representation.referenceTypes = [...attribute.referenceTypes];
  if (attribute.subAttributes) representation.subAttributes = attribute.subAttributes.map(attributeRepresentation);
  return representation;
}

/** One /Schemas entry (RFC 7643 §7). */
export function schemaRepresentation(schema: SchemaDefinition, baseUrl: string): Record<string, unknown> {
  return {
    schemas: [SCHEMA_SCHEMA],
    id: schema.id,
    name: schema.name,
    description: schema.description,
    attributes: schema.attributes.map(attributeRepresentation),
    meta: { resourceType: 'Schema', location: `${scimBase(baseUrl)}/Schemas/${schema.id}` },
  };
}

/**
 * A declared schema as the admin API and the CLI show it: the /Schemas entry without `meta`,
 * plus `extends`, which is exactly what declaring it takes (so it can be sent back as it is).
 */
export function declaredSchemaRepresentation(schema: DeclaredSchema): Record<string, unknown> {
  return {
    schemas: [SCHEMA_SCHEMA],
    id: schema.id,
    name: schema.name,
    description: schema.description,
    extends: schema.extends,
    attributes: schema.attributes.map(attributeRepresentation),
  };
}

/** Every schema of `registry`: the built-in ones, then those administrators declared. */
export function schemas(baseUrl: string, registry: SchemaRegistry = BUILT_IN_REGISTRY): Record<string, unknown>[] {
  return registry.schemas.map((schema) => schemaRepresentation(schema, baseUrl));
}
