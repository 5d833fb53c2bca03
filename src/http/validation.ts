/**
 * How route schemas validate requests (Fastify's Ajv) and how their failures read. The admin
 * API declares a JSON schema per route (routes/api/common.ts); the same schemas validate the
 * requests and make the OpenAPI document (api-docs.ts), so the two cannot disagree.
 */
import type { FastifyRequest, FastifySchemaValidationError } from 'fastify';
import { DirectoryError, rejected } from '../errors.ts';

/**
 * Ajv options for every route schema. Fastify's defaults would drop unknown fields silently
 * (`removeAdditional`), turn `{"login": 5}` into `"5"` (`coerceTypes`) and fill in defaults, so
 * that a merge patch would set what the client left out (`useDefaults`): all three are off.
 * `verbose` gives the formatter the rejected value and its schema. `allErrors` stays off (Ajv's
 * advice: a hostile body could otherwise make it collect millions of errors).
 * Query strings are typed by `coerceQuery` instead, from the route's own schema.
 */
export const AJV_OPTIONS = {
  customOptions: { removeAdditional: false, coerceTypes: false, useDefaults: false, allErrors: false, verbose: true, allowUnionTypes: true },
} as const;

/** A JSON schema as route options carry it: a plain object read only by key. */
type Schema = Readonly<Record<string, unknown>>;

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The property schemas of an object schema. */
function propertiesOf(schema: Schema): Readonly<Record<string, unknown>> {
  return isSchema(schema['properties']) ? schema['properties'] : {};
}

function typesOf(schema: unknown): readonly string[] {
  if (!isSchema(schema)) return [];
  const type = schema['type'];
  if (typeof type === 'string') return [type];
  return Array.isArray(type) ? type.filter((item): item is string => typeof item === 'string') : [];
}

const TRUE_TEXTS = new Set(['true', 'on', 'yes', '1']);
const FALSE_TEXTS = new Set(['false', 'off', 'no', '0']);

/**
 * A query parameter's text as a boolean, read as SonarQube's Web API v2 (Spring's
 * StringToBooleanConverter) reads it, so that its scripts are understood: `true`/`false` in any
 * case (Python's requests sends `params={"active": True}` as `active=True`), `on`/`off`,
 * `yes`/`no`, `1`/`0`. Undefined for any other text.
 */
export function queryBoolean(text: string): boolean | undefined {
  const word = text.trim().toLowerCase();
  if (TRUE_TEXTS.has(word)) return true;
  if (FALSE_TEXTS.has(word)) return false;
  return undefined;
}

/**
 * Types the query parameters a route's querystring schema declares as integer or boolean
 * (`?pageSize=20` → 20, `?active=true` → true). Ajv could coerce them, but only for the whole
 * application, bodies included. An empty parameter counts as absent, as HTML forms send
 * `?q=&active=`. Anything that does not read as its type is left for the schema to refuse.
 */
export function coerceQuery(request: FastifyRequest): void {
  const schema = request.routeOptions.schema?.querystring;
  const query = request.query;
  if (!isSchema(schema) || !isSchema(query)) return;
  const properties = propertiesOf(schema);
  const typed: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(query)) {
    const declared = Object.hasOwn(properties, name) ? properties[name] : undefined;
    if (declared === undefined) {
      typed[name] = value;
      continue;
    }
    if (value === '') continue;
    const types = typesOf(declared);
    if (typeof value === 'string' && types.includes('integer') && /^-?\d{1,15}$/.test(value)) typed[name] = Number(value);
    else if (typeof value === 'string' && types.includes('boolean') && queryBoolean(value) !== undefined) typed[name] = queryBoolean(value);
    else typed[name] = value;
  }
  request.query = typed;
}

const TYPE_WORDS: Readonly<Record<string, string>> = {
  string: 'a string',
  boolean: 'true or false',
  integer: 'an integer',
  number: 'a number',
  object: 'a JSON object',
  array: 'a list',
  null: 'null',
};

/** The dotted field name of an Ajv instance path: `/certificates/1` → `certificates[1]`. */
function fieldName(instancePath: string, base: string): string {
  const tokens = instancePath
    .split('/')
    .slice(1)
    .map((token) => token.replace(/~1/g, '/').replace(/~0/g, '~'));
  let name = '';
  for (const token of tokens) name += /^\d+$/.test(token) && name !== '' ? `[${token}]` : name === '' ? token : `.${token}`;
  return name === '' ? base : name;
}

/** A value as a message shows it: text as is, anything else as JSON; write-only values (secrets) masked. */
function shown(value: unknown, schema: unknown, part: string): string | undefined {
  if (isSchema(schema) && schema['writeOnly'] === true) return '***';
  if (value === undefined || value === null) return undefined;
  // A repeated query parameter (`?q=a&q=b`) arrives as a list of its values.
  if (part === 'querystring' && Array.isArray(value)) return value.join(',');
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * The fields an object carries that its schema does not describe, when the schema refuses
 * them (`additionalProperties: false`); empty otherwise.
 */
function unknownFields(data: unknown, schema: unknown): string[] {
  if (!isSchema(schema) || schema['additionalProperties'] !== false || !isSchema(data)) return [];
  const known = propertiesOf(schema);
  return Object.keys(data).filter((key) => !Object.hasOwn(known, key));
}

/** "Unknown field(s): Login (did you mean login?), foo. This request accepts: login, name." */
function unknownFieldsMessage(unknown: readonly string[], schema: Schema, prefix: string): string {
  const known = Object.keys(propertiesOf(schema));
  const named = unknown.map((key) => {
    const match = known.find((candidate) => candidate.toLowerCase() === key.toLowerCase());
    return `${prefix}${key}${match === undefined ? '' : ` (did you mean ${prefix}${match}?)`}`;
  });
  const accepted = known.length === 0 ? 'This request accepts no fields.' : `This request accepts: ${known.map((key) => `${prefix}${key}`).join(', ')}.`;
  return `Unknown field(s): ${named.join(', ')}. ${accepted}`;
}

function between(schema: Schema, low: string, high: string, unit: string): string {
  const min = typeof schema[low] === 'number' ? schema[low] : 0;
  const max = schema[high];
  return typeof max === 'number' ? `${unit}must be between ${min} and ${max}` : `${unit}must be at least ${min}`;
}

/** Why a value failed one schema keyword, in the words of SonarQube's Web API v2 messages. */
function reason(error: FastifySchemaValidationError & { parentSchema?: unknown; data?: unknown }, part: string): string {
  const schema = isSchema(error.parentSchema) ? error.parentSchema : {};
  const params = error.params as Readonly<Record<string, unknown>>;
  switch (error.keyword) {
    case 'type': {
      // A repeated query parameter arrives as a list.
      if (part === 'querystring' && Array.isArray(error.data)) return 'must be given once';
      // An explicit null where a value is required: SonarQube's words, as for a missing field.
      if (error.data === null) return 'must not be null';
      return `must be ${typesOf(schema).map((type) => TYPE_WORDS[type] ?? type).join(' or ')}`;
    }
    case 'enum':
      return `must be one of ${(Array.isArray(schema['enum']) ? schema['enum'] : []).map((value) => JSON.stringify(value)).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(schema['const'])}`;
    case 'minLength':
    case 'maxLength':
      return between(schema, 'minLength', 'maxLength', 'size ');
    case 'minimum':
    case 'maximum':
      return between(schema, 'minimum', 'maximum', '');
    case 'minItems':
    case 'maxItems':
      return `${between(schema, 'minItems', 'maxItems', 'the number of items ')}`;
    case 'format':
      return `must be a valid ${String(params['format'])}`;
    default:
      return error.message ?? 'is not valid';
  }
}

/**
 * Fastify's schemaErrorFormatter: the first failure of a request part as a DirectoryError
 * (so a 400 `{"message"}` in the admin API), naming the field. Unknown fields come first and
 * all together, even when Ajv stopped at a missing one: `{"Login": "ada"}` is a misspelling
 * to point out, not a missing login.
 */
export function schemaErrorFormatter(errors: FastifySchemaValidationError[], part: string): Error {
  const error = errors[0] as (FastifySchemaValidationError & { parentSchema?: unknown; data?: unknown }) | undefined;
  if (error === undefined) return new DirectoryError('invalid', `The request ${part} is not valid.`);
  const base = part === 'querystring' ? 'query' : part;
  if (error.keyword === 'additionalProperties' || error.keyword === 'required') {
    const unknown = unknownFields(error.data, error.parentSchema);
    if (unknown.length > 0 && isSchema(error.parentSchema)) {
      const prefix = error.instancePath === '' ? '' : `${fieldName(error.instancePath, base)}.`;
      return new DirectoryError('invalid', unknownFieldsMessage(unknown, error.parentSchema, prefix), `${prefix}${unknown[0]}`);
    }
  }
  if (error.keyword === 'required') {
    const missing = String((error.params as { missingProperty?: unknown }).missingProperty ?? '');
    const prefix = error.instancePath === '' ? '' : `${fieldName(error.instancePath, base)}.`;
    return rejected(`${prefix}${missing}`, undefined, 'must not be null');
  }
  const field = fieldName(error.instancePath, base);
  return rejected(field, shown(error.data, error.parentSchema, part), reason(error, part));
}
