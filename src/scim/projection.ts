/**
 * Which attributes a response shows (RFC 7644 §3.4.2.5 `attributes` / `excludedAttributes`,
 * RFC 7643 §2.2 `returned`).
 *
 * - `returned: always` (id, schemas) is always shown, whatever the parameters say;
 *   `never` (password) never; `default` unless `attributes` leaves it out or
 *   `excludedAttributes` names it; `request` when named in `attributes`, and in the answer to a
 *   POST, PUT or PATCH that gave it a value ("if the attribute was specified by the client",
 *   RFC 7643 §2.2), where it is then shown as a `default` one is.
 * - `attributes=name.givenName` shows `name` with only `givenName`; `emails.value` shows each
 *   email with only its value; an extension URN (`urn:…:enterprise:2.0:User`) selects or
 *   excludes the whole extension; `urn:…:User:employeeNumber` one of its attributes.
 * - Names are case-insensitive; names that match no attribute select nothing (no error: the
 *   RFC gives none, and clients send attributes of their own schemas).
 * - When both parameters are sent (the RFC says clients should not), both apply: `attributes`
 *   selects, then `excludedAttributes` removes.
 * - Leniency: a multi-valued attribute may carry a value filter, as in a PATCH path:
 *   `attributes=emails[type eq "work"]` shows `emails` with only the matching values (and
 *   `emails[type eq "work"].value` only their `value`); `excludedAttributes=emails[type eq "home"]`
 *   leaves those values out. Naming the attribute without a filter as well shows every value.
 * - Keys the schemas do not know are not shown.
 * - A request's names are resolved once (planProjection) and the plan applied to every resource
 *   of its answer: resolving them per resource made a long list cost its length times the page.
 */
import type { AttributePath, Filter } from './filter/ast.ts';
import { evaluateFilter } from './filter/evaluate.ts';
import { badRequest } from './errors.ts';
import { isJsonObject } from './json.ts';
import type { JsonObject, JsonValue } from './json.ts';
import { findAttribute, resolveAttribute, resourceSchemas, schemasOf } from './schemas.ts';
import type { AttributeDefinition, ResourceTypeRef, SchemaDefinition } from './schemas.ts';
import { extensionSchemasOf, resolveLoosely, schemaNamedBy } from './validate.ts';

/** An item of `attributes` / `excludedAttributes`: a path, with a value filter on a multi-valued attribute. */
export interface ProjectedPath extends AttributePath {
  /** `emails[type eq "work"]`: only (or, excluded, all but) the values that match. */
  readonly filter?: Filter;
}

/** The `attributes` / `excludedAttributes` request parameters, parsed. */
export interface ProjectionOptions {
  readonly attributes?: readonly ProjectedPath[];
  readonly excludedAttributes?: readonly ProjectedPath[];
  /** In the answer to a write: the attributes it gave a value (validate.ts NormaliseOptions.specified). */
  readonly specified?: ReadonlySet<AttributeDefinition>;
}

/** Attribute paths of one parameter, resolved against the schemas. */
interface Named {
  /** Attributes named whole (`name`, `emails`, `urn:…:User:manager`). */
  readonly whole: ReadonlySet<AttributeDefinition>;
  /** Attributes of which only some sub-attributes are named (`name.givenName`). */
  readonly subs: ReadonlyMap<AttributeDefinition, ReadonlySet<AttributeDefinition>>;
  /** Schemas named whole by URN (an extension, or the core schema). */
  readonly schemas: ReadonlySet<string>;
  /** Multi-valued attributes named with value filters: the values they select. */
  readonly filters: ReadonlyMap<AttributeDefinition, readonly Filter[]>;
}

/** How one top-level attribute is shown: all its (default) sub-attributes or only some. */
interface Shown {
  /** Undefined: every sub-attribute its `returned` allows. */
  readonly only: ReadonlySet<AttributeDefinition> | undefined;
  readonly excluded: ReadonlySet<AttributeDefinition>;
  /** Multi-valued: shown values must match one of these (undefined: every value). */
  readonly keep?: readonly Filter[];
  /** Multi-valued: values matching one of these are left out. */
  readonly drop?: readonly Filter[];
  /** The write's specified attributes (Plan.specified), for `returned: request` sub-attributes. */
  readonly specified: ReadonlySet<AttributeDefinition>;
}

const NOTHING: ReadonlySet<AttributeDefinition> = new Set();

/**
 * The most items `attributes` or `excludedAttributes` may name (docs/scim.md, Input limits).
 * Every attribute and sub-attribute of User with the enterprise extension is about 100 names,
 * and an extension is selected whole by its URN; a client naming each attribute of several
 * declared extensions as well stays in the hundreds. 1,000 leaves room for that and refuses
 * lists that exist only to make the server work (a 20 MiB body holds 1.5 million names).
 */
export const MAX_PROJECTED_PATHS = 1000;

/** `excluded`: an excluded path with a value filter removes values, not the attribute. */
function resolveNames(resourceType: ResourceTypeRef, paths: readonly ProjectedPath[], excluded: boolean): Named {
  const whole = new Set<AttributeDefinition>();
  const subs = new Map<AttributeDefinition, Set<AttributeDefinition>>();
  const schemas = new Set<string>();
  const filters = new Map<AttributeDefinition, Filter[]>();
  const unfiltered = new Set<AttributeDefinition>();
  const known = new Set(schemasOf(resourceType).map((schema) => schema.id));
  for (const path of paths) {
    const schema = path.filter === undefined ? schemaNamedBy(path, resourceType) : undefined;
    if (schema) {
      if (known.has(schema.id)) schemas.add(schema.id);
      continue;
    }
    const resolved = resolveLoosely(resourceType, path);
    if (!resolved) continue;
    if (path.filter !== undefined) {
      if (!resolved.attribute.multiValued || !resolved.attribute.subAttributes) {
        throw badRequest('invalidValue', `A value filter applies to a multi-valued attribute with sub-attributes; '${resolved.attribute.name}' is not one.`);
      }
      filters.set(resolved.attribute, [...(filters.get(resolved.attribute) ?? []), path.filter]);
      // Excluding some values leaves the attribute (and its sub-attributes) shown.
      if (excluded) continue;
    } else {
      unfiltered.add(resolved.attribute);
    }
    if (resolved.subAttribute) {
      const set = subs.get(resolved.attribute) ?? new Set();
      set.add(resolved.subAttribute);
      subs.set(resolved.attribute, set);
    } else {
      whole.add(resolved.attribute);
    }
  }
  // `attributes=emails,emails[type eq "work"]` shows every email: the unfiltered name wins.
  if (!excluded) for (const attribute of unfiltered) filters.delete(attribute);
  return { whole, subs, schemas, filters };
}

/**
 * A request's `attributes` / `excludedAttributes` resolved against the schemas of one resource
 * type: build it once per request with planProjection, apply it to each resource with projectWith.
 */
export interface ProjectionPlan {
  readonly resourceType: ResourceTypeRef;
  readonly requested: Named | undefined;
  readonly excluded: Named;
  /** Attributes the write being answered gave a value: `returned: request` ones count as `default`. */
  readonly specified: ReadonlySet<AttributeDefinition>;
}

/** Resolves the projection parameters once, for every resource of one answer. */
export function planProjection(resourceType: ResourceTypeRef, options: ProjectionOptions): ProjectionPlan {
  const attributes = options.attributes ?? [];
  return {
    resourceType,
    requested: attributes.length > 0 ? resolveNames(resourceType, attributes, false) : undefined,
    excluded: resolveNames(resourceType, options.excludedAttributes ?? [], true),
    specified: options.specified ?? NOTHING,
  };
}

/** Whether an attribute is shown when nothing names it: `default`, or `request` and given a value by the write answered. */
function shownByDefault(attribute: AttributeDefinition, specified: ReadonlySet<AttributeDefinition>): boolean {
  return attribute.returned === 'default' || (attribute.returned === 'request' && specified.has(attribute));
}

/** Whether and how a top-level attribute of schema `schemaUrn` ('' for id/externalId/meta) is shown. */
function shownAs(attribute: AttributeDefinition, schemaUrn: string, plan: ProjectionPlan): Shown | undefined {
  const { requested, excluded, specified } = plan;
  if (attribute.returned === 'never') return undefined;
  if (attribute.returned === 'always') return { only: undefined, excluded: NOTHING, specified };
  let only: ReadonlySet<AttributeDefinition> | undefined;
  if (requested) {
    const namedSubs = requested.subs.get(attribute);
    // Naming a schema selects its default attributes, not the `request` ones (RFC 7643 §2.2).
    const bySchema = requested.schemas.has(schemaUrn) && shownByDefault(attribute, specified);
    if (requested.whole.has(attribute) || bySchema) only = undefined;
    else if (namedSubs) only = namedSubs;
    else return undefined;
  } else if (!shownByDefault(attribute, specified)) {
    return undefined;
  }
  if (excluded.whole.has(attribute) || excluded.schemas.has(schemaUrn)) return undefined;
  const keep = requested?.filters.get(attribute);
  const drop = excluded.filters.get(attribute);
  return { only, excluded: excluded.subs.get(attribute) ?? NOTHING, specified, ...(keep ? { keep } : {}), ...(drop ? { drop } : {}) };
}

/** Whether a value of a multi-valued attribute passes the value filters of `shown`. */
function valueShown(attribute: AttributeDefinition, element: JsonValue, shown: Shown): boolean {
  if (shown.keep === undefined && shown.drop === undefined) return true;
  if (!isJsonObject(element)) return shown.keep === undefined;
  const subAttributes = attribute.subAttributes ?? [];
  const matches = (filter: Filter) => evaluateFilter(filter, element, subAttributes);
  if (shown.keep !== undefined && !shown.keep.some(matches)) return false;
  return shown.drop === undefined || !shown.drop.some(matches);
}

function subAttributeShown(subAttribute: AttributeDefinition, shown: Shown): boolean {
  if (subAttribute.returned === 'never') return false;
  if (subAttribute.returned === 'always') return true;
  if (shown.excluded.has(subAttribute)) return false;
  if (shown.only) return shown.only.has(subAttribute);
  return shownByDefault(subAttribute, shown.specified);
}

function projectComplex(attribute: AttributeDefinition, value: JsonObject, shown: Shown): JsonObject | undefined {
  const output: JsonObject = {};
  for (const [key, raw] of Object.entries(value)) {
    const subAttribute = findAttribute(attribute.subAttributes ?? [], key);
    if (subAttribute && subAttributeShown(subAttribute, shown)) output[subAttribute.name] = raw;
  }
  return Object.keys(output).length > 0 ? output : undefined;
}

function projectValue(attribute: AttributeDefinition, value: JsonValue, shown: Shown): JsonValue | undefined {
  if (attribute.type !== 'complex') return value;
  if (Array.isArray(value)) {
    const filtered = shown.keep === undefined && shown.drop === undefined ? value : value.filter((element) => valueShown(attribute, element, shown));
    // `members` of a big group: skip the per-element work when every sub-attribute is shown anyway.
    if (!shown.only && shown.excluded.size === 0 && (attribute.subAttributes ?? []).every((sub) => sub.returned === 'default')) {
      if (filtered === value) return value;
      return filtered.length > 0 ? filtered : undefined;
    }
    const elements = filtered
      .map((element) => (isJsonObject(element) ? projectComplex(attribute, element, shown) : element))
      .filter((element): element is JsonValue => element !== undefined);
    return elements.length > 0 ? elements : undefined;
  }
  return isJsonObject(value) ? projectComplex(attribute, value, shown) : value;
}

function projectExtension(schema: SchemaDefinition, value: JsonObject, plan: ProjectionPlan): JsonObject | undefined {
  const output: JsonObject = {};
  for (const [key, raw] of Object.entries(value)) {
    const attribute = findAttribute(schema.attributes, key);
    const shown = attribute && shownAs(attribute, schema.id, plan);
    const projected = shown && projectValue(attribute, raw, shown);
    if (attribute && projected !== undefined) output[attribute.name] = projected;
  }
  return Object.keys(output).length > 0 ? output : undefined;
}

/**
 * The resource as the client asked to see it: `attributes` / `excludedAttributes` applied
 * together with each attribute's `returned` characteristic. Returns a new object. For the
 * resources of a list, plan once and call projectWith for each.
 */
export function project(resourceType: ResourceTypeRef, resource: JsonObject, options: ProjectionOptions): JsonObject {
  return projectWith(planProjection(resourceType, options), resource);
}

/** The resource as a plan (planProjection) shows it. Returns a new object. */
export function projectWith(plan: ProjectionPlan, resource: JsonObject): JsonObject {
  const { resourceType } = plan;
  const extensions = extensionSchemasOf(resourceType);
  const output: JsonObject = { schemas: [] };
  for (const [key, value] of Object.entries(resource)) {
    if (key === 'schemas') continue;
    const extension = extensions.find((schema) => schema.id.toLowerCase() === key.toLowerCase());
    if (extension) {
      const projected = isJsonObject(value) ? projectExtension(extension, value, plan) : undefined;
      if (projected) output[extension.id] = projected;
      continue;
    }
    const resolved = resolveAttribute(resourceType, { attribute: key });
    const shown = resolved && shownAs(resolved.attribute, resolved.schema, plan);
    const projected = shown && projectValue(resolved.attribute, value, shown);
    if (resolved && projected !== undefined) output[resolved.attribute.name] = projected;
  }
  // schemas is `returned: always`; it lists the core schema and the extensions still shown.
  output['schemas'] = [resourceSchemas(resourceType).type.schema, ...extensions.filter((s) => s.id in output).map((s) => s.id)];
  return output;
}

/**
 * Whether the attribute at `path` would be shown under these options, so that the storage
 * layer can skip work: e.g. not read memberships for Groups listed with excludedAttributes=members.
 */
export function isRequested(resourceType: ResourceTypeRef, path: AttributePath, options: ProjectionOptions): boolean {
  return isShownBy(planProjection(resourceType, options), path);
}

/** isRequested for a plan already made. */
export function isShownBy(plan: ProjectionPlan, path: AttributePath): boolean {
  const { resourceType } = plan;
  const schema = schemaNamedBy(path, resourceType);
  if (schema) {
    return schema.attributes.some((attribute) => shownAs(attribute, schema.id, plan) !== undefined);
  }
  const resolved = resolveLoosely(resourceType, path);
  if (!resolved) return false;
  const shown = shownAs(resolved.attribute, resolved.schema, plan);
  if (!shown) return false;
  return resolved.subAttribute ? subAttributeShown(resolved.subAttribute, shown) : true;
}

/** The strings of `value eq "…"`, or of an `or` of such; undefined for any other filter. */
function valuesOfFilter(filter: Filter): string[] | undefined {
  if (filter.kind === 'or') {
    const left = valuesOfFilter(filter.left);
    const right = valuesOfFilter(filter.right);
    return left && right ? [...left, ...right] : undefined;
  }
  if (filter.kind !== 'compare' || filter.op !== 'eq' || typeof filter.value !== 'string') return undefined;
  const { path } = filter;
  return path.schema === undefined && path.subAttribute === undefined && path.attribute.toLowerCase() === 'value' ? [filter.value] : undefined;
}

/**
 * When the plan shows only the values of a multi-valued attribute whose case-exact `value` is
 * named by its value filters (`attributes=members[value eq "<id>"]`, ids joined by `or`, or
 * several such items): those values, so that the storage layer reads only them (a member check
 * on a big group reads one membership, not all). Undefined when any value may be shown; an
 * attribute not shown at all is isShownBy's answer. Values the plan would leave out anyway
 * (excludedAttributes) are still listed: projectWith removes them.
 */
export function valuesNamedBy(plan: ProjectionPlan, path: AttributePath): readonly string[] | undefined {
  const resolved = resolveLoosely(plan.resourceType, path);
  if (!resolved || resolved.subAttribute || !resolved.attribute.multiValued) return undefined;
  const value = findAttribute(resolved.attribute.subAttributes ?? [], 'value');
  // The storage layer compares exactly; a value compared regardless of case could match more.
  if (value?.caseExact !== true) return undefined;
  const keep = shownAs(resolved.attribute, resolved.schema, plan)?.keep;
  if (keep === undefined) return undefined;
  const values = new Set<string>();
  for (const filter of keep) {
    const named = valuesOfFilter(filter);
    if (named === undefined) return undefined;
    for (const text of named) values.add(text);
  }
  return [...values];
}
