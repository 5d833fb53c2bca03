/**
 * The SCIM schemas Roster implements, as data (RFC 7643 §4, §7, §8.7.1).
 *
 * Everything schema-driven reads these definitions: validation, PATCH, projection, the filter
 * compiler's case rules and the /Schemas discovery endpoint. Changing a characteristic here
 * changes behaviour everywhere at once.
 */
import type { AttributePath } from './filter/ast.ts';

export type AttributeType =
  | 'string'
  | 'boolean'
  | 'decimal'
  | 'integer'
  | 'dateTime'
  | 'binary'
  | 'reference'
  | 'complex';
export type Mutability = 'readOnly' | 'readWrite' | 'immutable' | 'writeOnly';
export type Returned = 'always' | 'never' | 'default' | 'request';
export type Uniqueness = 'none' | 'server' | 'global';

/** One attribute's characteristics (RFC 7643 §2.2, §7). */
export interface AttributeDefinition {
  readonly name: string;
  readonly type: AttributeType;
  readonly multiValued: boolean;
  readonly description: string;
  readonly required: boolean;
  readonly caseExact: boolean;
  readonly mutability: Mutability;
  readonly returned: Returned;
  readonly uniqueness: Uniqueness;
  readonly canonicalValues?: readonly string[];
  readonly referenceTypes?: readonly string[];
  readonly subAttributes?: readonly AttributeDefinition[];
}

export interface SchemaDefinition {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly attributes: readonly AttributeDefinition[];
}

export type ResourceTypeName = 'User' | 'Group';

export interface ResourceTypeDefinition {
  readonly id: ResourceTypeName;
  readonly name: ResourceTypeName;
  readonly endpoint: '/Users' | '/Groups';
  readonly description: string;
  readonly schema: string;
  readonly schemaExtensions: readonly { readonly schema: string; readonly required: boolean }[];
}

export const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
export const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
export const ENTERPRISE_USER_SCHEMA = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
export const LIST_RESPONSE_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:ListResponse';
export const SEARCH_REQUEST_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:SearchRequest';
export const PATCH_OP_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

// ---- compact builders: the RFC's defaults are required=false, caseExact=false (true for
// binary), mutability=readWrite, returned=default, uniqueness=none, multiValued=false.

type Options = Partial<Omit<AttributeDefinition, 'name' | 'type' | 'description' | 'subAttributes'>>;

function attr(name: string, type: AttributeType, description: string, options: Options = {}): AttributeDefinition {
  return {
    name,
    type,
    multiValued: false,
    description,
    required: false,
    // RFC 7643 §2.3.6: "A binary is case exact" (base64 is), although §8.7.1 lists
    // x509Certificates.value with caseExact false; filters compare it exactly.
    caseExact: type === 'binary',
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    ...options,
  };
}

function complex(
  name: string,
  description: string,
  subAttributes: readonly AttributeDefinition[],
  options: Options = {},
): AttributeDefinition {
  return { ...attr(name, 'complex', description, options), subAttributes };
}

/** The sub-attributes RFC 7643 §2.4 gives every multi-valued attribute, with the value's own type. */
function multiValuedEntry(
  name: string,
  description: string,
  valueType: AttributeType,
  types: readonly string[] | undefined,
  options: { valueCaseExact?: boolean; referenceTypes?: readonly string[] } = {},
): AttributeDefinition {
  const valueOptions: Options = {
    ...(options.valueCaseExact ? { caseExact: true } : {}),
    ...(options.referenceTypes ? { referenceTypes: options.referenceTypes } : {}),
  };
  const typeOptions: Options = types ? { canonicalValues: types } : {};
  return complex(
    name,
    description,
    [
      attr('value', valueType, `The value of ${name}.`, valueOptions),
      attr('display', 'string', 'A human-readable name, primarily used for display purposes.'),
      attr('type', 'string', "A label indicating the attribute's function.", typeOptions),
      attr('primary', 'boolean', 'Indicates the primary or preferred attribute value; at most one may be true.'),
    ],
    { multiValued: true },
  );
}

/** id, externalId and meta (RFC 7643 §3.1): part of every resource, outside any schema's attribute list. */
export const COMMON_ATTRIBUTES: readonly AttributeDefinition[] = [
  attr('id', 'string', 'Unique identifier for the resource, assigned by the service provider.', {
    caseExact: true,
    mutability: 'readOnly',
    returned: 'always',
    uniqueness: 'server',
  }),
  attr('externalId', 'string', 'Identifier of the resource as defined by the provisioning client.', {
    caseExact: true,
  }),
  complex(
    'meta',
    'Resource metadata.',
    [
      attr('resourceType', 'string', 'The name of the resource type of the resource.', {
        caseExact: true,
        mutability: 'readOnly',
      }),
      attr('created', 'dateTime', 'When the resource was added to the service provider.', { mutability: 'readOnly' }),
      attr('lastModified', 'dateTime', 'When the resource was last updated.', { mutability: 'readOnly' }),
      attr('location', 'reference', 'The URI of the resource.', {
        caseExact: true,
        mutability: 'readOnly',
        referenceTypes: ['uri'],
      }),
      attr('version', 'string', 'The version (entity tag) of the resource.', {
        caseExact: true,
        mutability: 'readOnly',
      }),
    ],
    { mutability: 'readOnly' },
  ),
];

const ADDRESS_TYPES = ['work', 'home', 'other'];

export const USER_SCHEMA_DEFINITION: SchemaDefinition = {
  id: USER_SCHEMA,
  name: 'User',
  description: 'User Account',
  attributes: [
    attr('userName', 'string', 'Unique identifier for the User, used to sign in (the SAML login).', {
      required: true,
      uniqueness: 'server',
    }),
    complex('name', "The components of the user's real name.", [
      attr('formatted', 'string', 'The full name, formatted for display.'),
      attr('familyName', 'string', 'The family name (last name).'),
      attr('givenName', 'string', 'The given name (first name).'),
      attr('middleName', 'string', 'The middle name(s).'),
      attr('honorificPrefix', 'string', 'The honorific prefix(es), e.g. Ms.'),
      attr('honorificSuffix', 'string', 'The honorific suffix(es), e.g. III.'),
    ]),
    attr('displayName', 'string', 'The name of the User, suitable for display to end-users.'),
    attr('nickName', 'string', 'The casual way to address the user.'),
    attr('profileUrl', 'reference', "A fully qualified URL pointing to a page representing the User's profile.", {
      referenceTypes: ['external'],
    }),
    attr('title', 'string', "The user's title, such as 'Vice President'."),
    attr('userType', 'string', 'The relationship between the organization and the user.'),
    attr('preferredLanguage', 'string', "The user's preferred written or spoken language (RFC 7231 Accept-Language)."),
    attr('locale', 'string', "The user's default location for localizing items (e.g. en-US)."),
    attr('timezone', 'string', "The User's time zone in the IANA Time Zone database format."),
    attr('active', 'boolean', "The User's administrative status."),
    attr('password', 'string', "The User's cleartext password; write-only, never returned.", {
      mutability: 'writeOnly',
      returned: 'never',
    }),
    multiValuedEntry('emails', 'Email addresses for the user.', 'string', ['work', 'home', 'other']),
    multiValuedEntry('phoneNumbers', 'Phone numbers for the User.', 'string', ['work', 'home', 'mobile', 'fax', 'pager', 'other']),
    multiValuedEntry('ims', 'Instant messaging addresses for the User.', 'string', [
      'aim',
      'gtalk',
      'icq',
      'xmpp',
      'msn',
      'skype',
      'qq',
      'yahoo',
    ]),
    multiValuedEntry('photos', 'URLs of photos of the User.', 'reference', ['photo', 'thumbnail'], {
      referenceTypes: ['external'],
    }),
    complex(
      'addresses',
      'A physical mailing address for this User.',
      [
        attr('formatted', 'string', 'The full mailing address, formatted for display.'),
        attr('streetAddress', 'string', 'The full street address component.'),
        attr('locality', 'string', 'The city or locality component.'),
        attr('region', 'string', 'The state or region component.'),
        attr('postalCode', 'string', 'The zip code or postal code component.'),
        attr('country', 'string', 'The country name component (ISO 3166-1 alpha-2).'),
        attr('type', 'string', 'A label indicating the attribute\'s function.', { canonicalValues: ADDRESS_TYPES }),
        attr('primary', 'boolean', 'Indicates the primary or preferred address.'),
      ],
      { multiValued: true },
    ),
    complex(
      'groups',
      'The groups the user belongs to; computed from group memberships, read-only.',
      [
        attr('value', 'string', 'The id of the group.', { mutability: 'readOnly', caseExact: true }),
        attr('$ref', 'reference', 'The URI of the group.', { mutability: 'readOnly', referenceTypes: ['Group'] }),
        attr('display', 'string', "The group's displayName.", { mutability: 'readOnly' }),
        attr('type', 'string', "How the membership was derived: 'direct'.", {
          mutability: 'readOnly',
          canonicalValues: ['direct', 'indirect'],
        }),
      ],
      { multiValued: true, mutability: 'readOnly' },
    ),
    multiValuedEntry('entitlements', 'A list of entitlements for the User.', 'string', undefined),
    multiValuedEntry('roles', 'A list of roles for the User.', 'string', undefined),
    multiValuedEntry('x509Certificates', 'A list of certificates issued to the User.', 'binary', undefined),
  ],
};

const ENTERPRISE_USER_SCHEMA_DEFINITION: SchemaDefinition = {
  id: ENTERPRISE_USER_SCHEMA,
  name: 'EnterpriseUser',
  description: 'Enterprise User',
  attributes: [
    attr('employeeNumber', 'string', 'Numeric or alphanumeric identifier assigned to a person.'),
    attr('costCenter', 'string', 'Identifies the name of a cost center.'),
    attr('organization', 'string', 'Identifies the name of an organization.'),
    attr('division', 'string', 'Identifies the name of a division.'),
    attr('department', 'string', 'Identifies the name of a department.'),
    complex('manager', "The User's manager.", [
      attr('value', 'string', 'The id of the SCIM resource representing the manager.', { caseExact: true }),
      // RFC 7643 §4.3 leaves it writable; Roster computes it from `value` (the manager's URL),
      // so what a client sends is ignored, like displayName.
      attr('$ref', 'reference', 'The URI of the SCIM resource representing the manager.', {
        mutability: 'readOnly',
        referenceTypes: ['User'],
      }),
      attr('displayName', 'string', "The displayName of the User's manager.", { mutability: 'readOnly' }),
    ]),
  ],
};

export const GROUP_SCHEMA_DEFINITION: SchemaDefinition = {
  id: GROUP_SCHEMA,
  name: 'Group',
  description: 'Group',
  attributes: [
    attr('displayName', 'string', 'A human-readable name for the Group; unique regardless of case.', {
      required: true,
      uniqueness: 'server',
    }),
    complex(
      'members',
      'A list of members of the Group (Users).',
      [
        attr('value', 'string', 'The id of the member.', { mutability: 'immutable', caseExact: true }),
        attr('$ref', 'reference', 'The URI of the member.', { mutability: 'immutable', referenceTypes: ['User'] }),
        attr('display', 'string', 'The name of the member.', { mutability: 'readOnly' }),
        attr('type', 'string', 'The type of the member.', { mutability: 'immutable', canonicalValues: ['User'] }),
      ],
      { multiValued: true },
    ),
  ],
};

/** The schemas built into Roster: the core schemas and the enterprise extension. */
export const SCHEMAS: readonly SchemaDefinition[] = [
  USER_SCHEMA_DEFINITION,
  ENTERPRISE_USER_SCHEMA_DEFINITION,
  GROUP_SCHEMA_DEFINITION,
];

/** The resource types with their built-in extensions only; `SchemaRegistry` adds declared ones. */
export const RESOURCE_TYPES: Readonly<Record<ResourceTypeName, ResourceTypeDefinition>> = {
  User: {
    id: 'User',
    name: 'User',
    endpoint: '/Users',
    description: 'User Account',
    schema: USER_SCHEMA,
    schemaExtensions: [{ schema: ENTERPRISE_USER_SCHEMA, required: false }],
  },
  Group: {
    id: 'Group',
    name: 'Group',
    endpoint: '/Groups',
    description: 'Group',
    schema: GROUP_SCHEMA,
    schemaExtensions: [],
  },
};

/** An extension schema an administrator declared (`roster schemas add`), and the resource type it extends. */
export interface DeclaredSchema extends SchemaDefinition {
  readonly extends: ResourceTypeName;
}

/**
 * A resource type with the schemas in force for it: its core schema, then its extensions
 * (built-in first, then declared ones in declaration order). What every schema-driven function
 * of scim/ and the filter compiler reads; a bare ResourceTypeName means the built-in schemas.
 */
export interface ResourceSchemas {
  readonly name: ResourceTypeName;
  /** The /ResourceTypes entry, `schemaExtensions` included. */
  readonly type: ResourceTypeDefinition;
  readonly core: SchemaDefinition;
  readonly extensions: readonly SchemaDefinition[];
}

/** A resource type by name (built-in schemas only) or with the schemas in force. */
export type ResourceTypeRef = ResourceTypeName | ResourceSchemas;

/** Every schema in force: the built-in ones and those administrators declared. */
export interface SchemaRegistry {
  readonly User: ResourceSchemas;
  readonly Group: ResourceSchemas;
  /** Every schema, for /Schemas: built-in first, then declared ones. */
  readonly schemas: readonly SchemaDefinition[];
  readonly declared: readonly DeclaredSchema[];
}

function builtInSchema(urn: string): SchemaDefinition {
  const schema = SCHEMAS.find((candidate) => candidate.id === urn);
  if (!schema) throw new Error(`no built-in schema ${urn}`);
  return schema;
}

function resourceSchemasOf(name: ResourceTypeName, declared: readonly DeclaredSchema[]): ResourceSchemas {
  const base = RESOURCE_TYPES[name];
  const own = declared.filter((schema) => schema.extends === name);
  const builtIn = base.schemaExtensions.map((extension) => builtInSchema(extension.schema));
  return {
    name,
    type: { ...base, schemaExtensions: [...base.schemaExtensions, ...own.map((schema) => ({ schema: schema.id, required: false }))] },
    core: builtInSchema(base.schema),
    extensions: [...builtIn, ...own],
  };
}

/** The registry of the built-in schemas plus `declared` (validated by custom-schemas.ts). */
export function schemaRegistry(declared: readonly DeclaredSchema[]): SchemaRegistry {
  return {
    User: resourceSchemasOf('User', declared),
    Group: resourceSchemasOf('Group', declared),
    schemas: [...SCHEMAS, ...declared],
    declared,
  };
}

/** The built-in schemas alone. */
export const BUILT_IN_REGISTRY: SchemaRegistry = schemaRegistry([]);

/** The schemas in force for a resource type reference. */
export function resourceSchemas(ref: ResourceTypeRef): ResourceSchemas {
  return typeof ref === 'string' ? BUILT_IN_REGISTRY[ref] : ref;
}

/** The name of a referenced resource type. */
export function resourceTypeName(ref: ResourceTypeRef): ResourceTypeName {
  return typeof ref === 'string' ? ref : ref.name;
}

/** Finds a built-in schema by URN, case-insensitively (URNs are compared that way, RFC 8141). */
export function findSchema(urn: string): SchemaDefinition | undefined {
  return findSchemaIn(BUILT_IN_REGISTRY, urn);
}

/** Finds a schema of a registry by URN, case-insensitively. */
export function findSchemaIn(registry: SchemaRegistry, urn: string): SchemaDefinition | undefined {
  const wanted = urn.toLowerCase();
  return registry.schemas.find((schema) => schema.id.toLowerCase() === wanted);
}

/** The schemas a resource of this type may carry: its core schema first, then its extensions. */
export function schemasOf(resourceType: ResourceTypeRef): readonly SchemaDefinition[] {
  const schemas = resourceSchemas(resourceType);
  return [schemas.core, ...schemas.extensions];
}

/** Case-insensitive lookup of an attribute by name in a list (RFC 7643 §2.1). */
export function findAttribute(
  attributes: readonly AttributeDefinition[],
  name: string,
): AttributeDefinition | undefined {
  const wanted = name.toLowerCase();
  return attributes.find((attribute) => attribute.name.toLowerCase() === wanted);
}

/** An attribute path resolved against a resource type's schemas. */
export interface ResolvedAttribute {
  /** The URN of the schema that defines the attribute (core or extension); '' for id/externalId/meta. */
  readonly schema: string;
  /** True when the attribute lives in an extension schema (stored under the URN key in JSON). */
  readonly extension: boolean;
  readonly attribute: AttributeDefinition;
  /** Present when the path names a sub-attribute. */
  readonly subAttribute?: AttributeDefinition;
}

/**
 * Resolves `path` for a resource type: a URN prefix picks the schema; without one, the
 * common attributes and the core schema are searched (RFC 7644 §3.10: unqualified names
 * belong to the core schema). Undefined when the attribute or sub-attribute does not exist.
 */
export function resolveAttribute(resourceType: ResourceTypeRef, path: AttributePath): ResolvedAttribute | undefined {
  const schemas = resourceSchemas(resourceType);
  const type = schemas.type;
  let schemaUrn: string;
  let attribute: AttributeDefinition | undefined;
  if (path.schema !== undefined) {
    const schema = schemasOf(resourceType).find((s) => s.id.toLowerCase() === path.schema?.toLowerCase());
    if (!schema) return undefined;
    schemaUrn = schema.id;
    attribute = findAttribute(schema.attributes, path.attribute);
    if (!attribute && schema.id === type.schema) {
      attribute = findAttribute(COMMON_ATTRIBUTES, path.attribute);
      if (attribute) schemaUrn = '';
    }
  } else {
    attribute = findAttribute(COMMON_ATTRIBUTES, path.attribute);
    schemaUrn = '';
    if (!attribute) {
      attribute = findAttribute(schemas.core.attributes, path.attribute);
      schemaUrn = type.schema;
    }
  }
  if (!attribute) return undefined;
  const extension = schemaUrn !== '' && schemaUrn !== type.schema;
  if (path.subAttribute === undefined) return { schema: schemaUrn, extension, attribute };
  const subAttribute = findAttribute(attribute.subAttributes ?? [], path.subAttribute);
  if (!subAttribute) return undefined;
  return { schema: schemaUrn, extension, attribute, subAttribute };
}
