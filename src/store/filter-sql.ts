/**
 * SCIM filters and sort keys compiled to SQL (RFC 7644 §3.4.2.2, §3.4.2.3), so that searches
 * run in the database and never load a table to filter it in memory.
 *
 * The fragments refer to the aliases of the surrounding query, which the callers write:
 *   Users:  FROM users AS u INNER JOIN scim_users AS su ON su.user_id = u.id
 *   Groups: FROM groups AS g INNER JOIN scim_groups AS sg ON sg.group_id = g.id
 * Every client value is a bound parameter. Every fragment is two-valued (never SQL NULL), so
 * `not` and `ne` keep the meaning the in-memory evaluator gives them (scim/filter/evaluate.ts):
 * `not` is true where the attribute is absent, and so is `ne` on a single-valued attribute; on a
 * multi-valued one `ne`, like every comparison, needs one value that matches: present, and
 * other than the filter's.
 *
 * Case: a caseExact=false text attribute is compared through its case key (text.ts caseKey),
 * computed in code and stored beside the value (users.login_key, groups.name_key,
 * user_emails.value_key …, and `scim_fold`, the document with such texts folded, from which
 * every JSON attribute is read); the filter's value is folded the same way. Never the
 * databases' lower(), which SQLite applies to ASCII only: both databases give the same answers
 * for all of Unicode. Attributes of declared extensions live in scim_fold like the enterprise
 * extension's, without an index of their own: a filter on one reads every row's JSON.
 *
 * Dates: meta.created and meta.lastModified are Roster's own Date#toISOString() text, whose
 * order is instant order. A dateTime a client sent is kept as sent (`…T12:00:00+02:00`), so
 * it is compared and sorted by the instant it names, read in SQL by instants.ts.
 *
 * Any filter the parser accepts compiles to SQL both databases run, however many terms it
 * chains: `or`/`and` chains become balanced trees (SQLite refuses expressions nested more than
 * 1000 deep, and reads a flat `a OR b OR …` as one level per term), `eq` on one attribute
 * becomes one `IN (…)`, and the bound values stay under SQLite's limit. Its cost grows in
 * proportion to the terms: the or-ed terms on one multi-valued attribute, or on one JSON value,
 * share one subquery (see disjunction; one subquery per term made SQLite's cost quadratic).
 */
import { sql, type OperationNode, type RawBuilder, type RawNode, type SqlBool, type ValueNode } from 'kysely';
import type { AttributePath, CompareOperator, Filter, FilterValue } from '../scim/filter/ast.ts';
import { comparisonProblem, logicalOperands } from '../scim/filter/evaluate.ts';
import { normaliseDateTime, readDateTime } from '../scim/date-time.ts';
import { ScimError, type ScimType } from '../scim/errors.ts';
import { comparesByCaseKey } from '../scim/keys.ts';
import {
  ENTERPRISE_USER_SCHEMA,
  USER_SCHEMA,
  findAttribute,
  resolveAttribute,
  resourceTypeName,
  schemasOf,
  type AttributeDefinition,
  type ResourceSchemas,
  type ResourceTypeName,
  type ResourceTypeRef,
} from '../scim/schemas.ts';
import { caseKey } from '../text.ts';
import type { DialectAdapter } from './dialect.ts';
import { instantOf } from './instants.ts';
import { managerValue, userModifiedAfter, userNotModifiedAfter, userResourceModifiedAt, userResourceVersion } from './resource-versions.ts';

type Expression = RawBuilder<unknown>;
type Condition = RawBuilder<SqlBool>;

/** How one scalar value is stored. */
interface Column {
  readonly expression: Expression;
  readonly nullable: boolean;
  /** 'integer': booleans as 0/1 columns (no comparison with ''); 'text': text, JSON values included. */
  readonly storage: 'text' | 'integer';
  /** Why the value cannot be filtered or sorted on, when it cannot. */
  readonly unavailable?: string;
  /**
   * The stored case key of the value (text.ts caseKey), for caseExact=false text: what `eq`,
   * `co`, ordering and sorting compare. For JSON attributes, read from scim_fold, the
   * expression itself holds the key.
   */
  readonly caseKey?: Expression;
  /**
   * For a value computed from an indexed column (meta.location from the id): `eq` compares
   * `column` with `key(value)` instead, so that the index serves it; no resource matches a
   * value `key` gives undefined for.
   */
  readonly keyed?: { readonly column: Expression; key(value: string): string | undefined };
  /**
   * For a dateTime computed from several tables (a user's lastModified): `expression > instant`
   * (or `>=`) in a form indexes can serve (`gt`, `ge`), and its negation in a form each row
   * answers by index (`le`, `lt`).
   */
  readonly after?: {
    readonly holds: (operator: '>' | '>=', instant: string) => Condition;
    readonly fails: (operator: '>' | '>=', instant: string) => Condition;
  };
  /**
   * True for a value stored as the client sent it (a JSON value), false or absent for one
   * Roster writes (meta.created is Date#toISOString() text). A dateTime sent by a client is
   * compared and sorted by the instant it names (instants.ts), not by its text.
   */
  readonly asSent?: boolean;
}

interface Scalar extends Column {
  readonly kind: 'scalar';
  readonly name: string;
  readonly definition: AttributeDefinition;
}

/** A singular complex attribute (`name`, `meta`, `manager`): its sub-attributes are scalars. */
interface Complex {
  readonly kind: 'complex';
  readonly name: string;
  readonly definition: AttributeDefinition;
  readonly scope: Scope;
}

/** A multi-valued attribute, stored in a side table or a JSON array. */
interface Collection {
  readonly kind: 'collection';
  readonly name: string;
  readonly definition: AttributeDefinition;
  /**
   * True when some element satisfies `where`; `selective` asks for the index-driven form,
   * `many` says that `where` joins many tests (see jsonCollection).
   */
  some(where: (element: Scope) => Condition, selective: boolean, many?: boolean): Condition;
  /** `pick` of the primary element, else of the first one (RFC 7644 §3.4.2.3). */
  primary(pick: (element: Scope) => Expression): Expression;
  /** Some element's `value` equals one of `values`, tested directly when the collection can (a User's groups with CompileOptions.groupIds); undefined otherwise. */
  valueIn?(values: readonly string[]): Condition | undefined;
}

/** What or-ed terms can share one subquery over: a collection's elements, or one JSON value (jsonValue). */
interface Shared {
  readonly kind: 'collection' | 'json value';
  readonly name: string;
  some(where: (element: Scope) => Condition, selective: boolean, many?: boolean): Condition;
}

/**
 * A JSON scalar as a subquery's single row, `(SELECT value AS v LIMIT 1)`, so that or-ed tests
 * of it read it from the document once; in the scope given to `where`, every name is that
 * value. SQLite does not flatten a subquery with LIMIT back into the expression; if a version
 * did, the cost would return, never a different answer.
 */
function jsonValue(compiler: Compiler, scalar: Scalar): Shared {
  return {
    kind: 'json value',
    name: scalar.name,
    some(where) {
      const alias = compiler.alias('v');
      const value = sql.ref(`${alias}.v`);
      const read: Scalar = { ...scalar, expression: value, caseKey: value };
      return sql<SqlBool>`EXISTS (SELECT 1 FROM (SELECT ${scalar.expression} AS v LIMIT 1) AS ${sql.id(alias)} WHERE ${where({ attribute: () => read })})`;
    },
  };
}

/**
 * A top-level attribute the resource type does not have, in a search over several resource
 * types (the root /.search, RFC 7644 §3.4.3): it is absent from every resource of this type.
 */
interface Absent {
  readonly kind: 'absent';
  readonly name: string;
  /** As the type that has it defines it: a multi-valued attribute with no value matches no `ne`. */
  readonly multiValued: boolean;
}

type Target = Scalar | Complex | Collection | Absent;

/** Resolves attribute names (case-insensitively, RFC 7643 §2.1) to where they are stored. */
interface Scope {
  attribute(name: string, schema: string | undefined): Target;
}

const TRUE = sql<SqlBool>`(1 = 1)`;
const FALSE = sql<SqlBool>`(1 = 0)`;

/**
 * The most values one filter may bind. SQLite allows 32766 parameters in a statement (its
 * default SQLITE_MAX_VARIABLE_NUMBER; PostgreSQL allows 65535) and the rest of a list query
 * binds a few more. Only client values and the location base are bound (JSON paths are
 * literals), no comparison binds more than one value per five characters of its text
 * (`id sw""or ` binds two), so a filter within the parser's MAX_INPUT_LENGTH binds about 2000
 * at most: this guards against that limit growing.
 */
export const MAX_BOUND_VALUES = 30_000;

const ORDER_SQL: Readonly<Record<CompareOperator, string>> = {
  eq: '=',
  ne: '<>',
  gt: '>',
  ge: '>=',
  lt: '<',
  le: '<=',
  co: '',
  sw: '',
  ew: '',
};

/** Escapes LIKE wildcards so that the client's `%` and `_` match themselves. */
function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, (char) => `\\${char}`);
}

/**
 * Conditions whose exact negation has a form of its own that the database plans better than
 * `NOT (…)`: a user's lastModified, whose `gt` is an `IN` over the ids modified since (which
 * PostgreSQL cannot hash for a million ids once negated) and whose `le` probes each user by index.
 */
const complements = new WeakMap<Condition, Condition>();

function withComplement(condition: Condition, complement: Condition): Condition {
  complements.set(condition, complement);
  complements.set(complement, condition);
  return condition;
}

function negate(condition: Condition): Condition {
  return complements.get(condition) ?? sql<SqlBool>`(NOT ${condition})`;
}

/**
 * `parts` joined by AND or OR as a balanced tree, built bottom-up: n terms nest log2(n)
 * deep, where SQLite parses a flat chain one level deeper per term and refuses 1000 levels.
 * Both databases flatten nested ANDs and ORs again when planning, so plans do not change.
 */
function combine(parts: readonly Condition[], operator: 'AND' | 'OR'): Condition {
  const joiner = operator === 'AND' ? sql` AND ` : sql` OR `;
  let level = parts;
  while (level.length > 1) {
    const next: Condition[] = [];
    for (let i = 0; i < level.length; i += 2) {
      const left = level[i];
      const right = level[i + 1];
      if (left === undefined) continue;
      next.push(right === undefined ? left : sql<SqlBool>`(${left}${joiner}${right})`);
    }
    level = next;
  }
  return level[0] ?? (operator === 'AND' ? TRUE : FALSE);
}

/** `left = v` for one value, `left IN (v1, v2, …)` for several (one node, served by the same index). */
function equalsAny(left: Expression, rights: readonly Expression[]): Condition {
  const [only] = rights;
  if (only !== undefined && rights.length === 1) return sql<SqlBool>`${left} = ${only}`;
  return sql<SqlBool>`${left} IN (${sql.join(rights)})`;
}

/** A compare node that `eq`s a string: the operands an or-chain gathers into one `IN`. */
type StringEquality = Filter & { readonly kind: 'compare'; readonly op: 'eq'; readonly value: string };

function isStringEquality(filter: Filter): filter is StringEquality {
  return filter.kind === 'compare' && filter.op === 'eq' && typeof filter.value === 'string';
}

/** The path as a key: equal for paths naming the same attribute the same way (names are case-insensitive). */
function pathKey(path: AttributePath): string {
  return [path.schema ?? '', path.attribute, path.subAttribute ?? ''].join(' ').toLowerCase();
}

/** How many values a compiled condition binds (immediate values are SQL literals, not parameters). */
function boundValues(root: OperationNode): number {
  let count = 0;
  const stack: OperationNode[] = [root];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    // The fragments here are built from sql`…` alone: raw nodes holding values, references and identifiers.
    if (node.kind === 'ValueNode' && (node as ValueNode).immediate !== true) count += 1;
    else if (node.kind === 'RawNode') stack.push(...(node as RawNode).parameters);
  }
  return count;
}

function isStringType(definition: AttributeDefinition): boolean {
  return definition.type === 'string' || definition.type === 'reference' || definition.type === 'binary';
}

/** Whether a value filter pins `value` with eq, so that an index on the value can drive the search. */
function pinsValue(filter: Filter): boolean {
  if (filter.kind === 'compare') {
    return filter.op === 'eq' && typeof filter.value === 'string' && filter.path.attribute.toLowerCase() === 'value';
  }
  return filter.kind === 'and' && logicalOperands(filter).some(pinsValue);
}

/** One compilation: fresh aliases for nested subqueries, and the error type to report. */
class Compiler {
  private aliases = 0;

  constructor(
    readonly resourceType: ResourceTypeRef,
    readonly dialect: DialectAdapter,
    /** The resources' URL without the id: meta.location is this followed by the id. */
    readonly locationBase: string,
    private readonly scimType: ScimType,
    /** 'filtered' or 'sorted on', for messages. */
    private readonly verb: string,
    /** True across resource types: an attribute this type lacks is absent, not an error. */
    private readonly lenient = false,
    /** With `lenient`: the other resource types searched, which define the attributes this one lacks. */
    private readonly elsewhere: readonly ResourceTypeRef[] = [],
    /** CompileOptions.groupIds. */
    readonly groupIds?: ReadonlyMap<string, string | null>,
  ) {}

  /** The top-level attributes (as written) that this type lacks, found by a lenient compilation. */
  readonly absent = new Set<string>();

  /** A new alias such as `e_3`; the counter keeps nested subqueries from colliding. */
  alias(prefix: string): string {
    this.aliases += 1;
    return `${prefix}_${this.aliases}`;
  }

  /** Throws the 400 this compilation reports (invalidFilter or invalidValue). */
  fail(detail: string): never {
    throw new ScimError(400, this.scimType, detail);
  }

  /** The detail for an attribute that exists but cannot be used here. */
  unavailable(name: string, reason: string): string {
    return `'${name}' cannot be ${this.verb}: ${reason}`;
  }

  // ---- resolution

  /** The resource type's name, for messages and meta.resourceType. */
  get typeName(): string {
    return resourceTypeName(this.resourceType);
  }

  /** The top-level scope of this resource type. */
  root(): Scope {
    return this.typeName === 'User' ? userScope(this) : groupScope(this);
  }

  /** The case key column of a caseExact=false text scalar; every such column has one (see the file comment). */
  keyOf(scalar: Scalar): Expression {
    if (scalar.caseKey === undefined) throw new Error(`filter-sql: '${scalar.name}' compares regardless of case but has no case key column`);
    return scalar.caseKey;
  }

  /**
   * Resolves a top-level attribute to its ResolvedAttribute, or fails naming it; in a lenient
   * compilation, undefined for an attribute this type lacks (recorded in `absent`).
   */
  resolve(name: string, schema: string | undefined): { schema: string; extension: boolean; attribute: AttributeDefinition } | undefined {
    const written = schema === undefined ? name : `${schema}:${name}`;
    const known = schema === undefined || schemasOf(this.resourceType).some((s) => s.id.toLowerCase() === schema.toLowerCase());
    const resolved = known ? resolveAttribute(this.resourceType, { ...(schema !== undefined ? { schema } : {}), attribute: name }) : undefined;
    if (resolved) return resolved;
    if (this.lenient) {
      this.absent.add(written);
      return undefined;
    }
    if (!known) this.fail(`unknown schema '${schema}' in '${written}' for ${this.typeName} resources`);
    return this.fail(`unknown attribute '${written}' for ${this.typeName} resources`);
  }

  /** The target of an attribute this type lacks (see `resolve`), multi-valued if another type searched defines it so. */
  absentTarget(name: string, schema: string | undefined): Absent {
    const path = { ...(schema !== undefined ? { schema } : {}), attribute: name };
    const multiValued = this.elsewhere.some((type) => resolveAttribute(type, path)?.attribute.multiValued === true);
    return { kind: 'absent', name: schema === undefined ? name : `${schema}:${name}`, multiValued };
  }

  /** The sub-attribute `sub` of a target, or the target itself. */
  leaf(target: Target, sub: string | undefined): Target {
    if (sub === undefined || target.kind === 'absent') return target;
    if (target.kind === 'scalar') this.fail(`'${target.name}' has no sub-attributes, so '${target.name}.${sub}' does not exist`);
    return target.kind === 'complex' ? target.scope.attribute(sub, undefined) : target;
  }

  /** A scalar, or a failure saying why the target is not one. */
  scalar(target: Target): Scalar {
    if (target.kind === 'absent') return this.fail(`unknown attribute '${target.name}' for ${this.typeName} resources`);
    if (target.kind === 'scalar') {
      if (target.unavailable !== undefined) this.fail(target.unavailable);
      return target;
    }
    const example = target.definition.subAttributes?.[0]?.name ?? 'value';
    return this.fail(`'${target.name}' is a complex attribute: name one of its sub-attributes, as in ${target.name}.${example}`);
  }

  /** What an element of a collection is compared through when no sub-attribute is named. */
  elementValue(collection: Collection, sub: string | undefined): string {
    if (sub !== undefined) return sub;
    if (collection.definition.subAttributes && !findAttribute(collection.definition.subAttributes, 'value')) {
      const example = collection.definition.subAttributes[0]?.name ?? 'type';
      this.fail(`'${collection.name}' has no 'value' sub-attribute: name one, as in ${collection.name}.${example}`);
    }
    return 'value';
  }

  // ---- filters

  /** The SQL condition for `filter`, with paths resolved in `scope`. */
  condition(filter: Filter, scope: Scope): Condition {
    switch (filter.kind) {
      case 'and':
        return combine(
          logicalOperands(filter).map((operand) => this.condition(operand, scope)),
          'AND',
        );
      case 'or':
        return this.disjunction(logicalOperands(filter), scope);
      case 'not':
        return negate(this.condition(filter.filter, scope));
      case 'present':
        return this.present(filter.path, scope);
      case 'compare':
        return this.compare(filter.path, filter.op, filter.value, scope);
      case 'valuePath':
        return this.valuePath(filter.path, filter.filter, scope);
    }
  }

  /**
   * `a or b or …`: the `eq` comparisons of one attribute with strings become one `IN (…)`
   * (where the first of them stood), the other operands stay as they are.
   */
  private disjunction(operands: readonly Filter[], scope: Scope): Condition {
    const values = new Map<string, string[]>();
    for (const operand of operands) {
      if (!isStringEquality(operand)) continue;
      const key = pathKey(operand.path);
      const list = values.get(key);
      if (list) list.push(operand.value);
      else values.set(key, [operand.value]);
    }
    // Operands that each ask for some element of one collection, gathered per collection
    // (see elementTest); the group's place is its first operand's.
    const groups = new Map<string, { collection: Shared; first: Filter; wheres: ((element: Scope) => Condition)[]; part: number }>();
    const parts: Condition[] = [];
    for (const operand of operands) {
      if (!isStringEquality(operand)) {
        const test = this.elementTest(operand, scope) ?? this.jsonValueTest(operand, scope);
        if (test === undefined) {
          parts.push(this.condition(operand, scope));
          continue;
        }
        const key = `${test.collection.kind} ${test.collection.name.toLowerCase()}`;
        const group = groups.get(key);
        if (group) group.wheres.push(test.where);
        else {
          groups.set(key, { collection: test.collection, first: operand, wheres: [test.where], part: parts.length });
          parts.push(FALSE); // replaced below
        }
        continue;
      }
      const key = pathKey(operand.path);
      const list = values.get(key);
      if (list === undefined) continue; // gathered into an earlier operand's IN
      values.delete(key);
      parts.push(list.length === 1 ? this.compare(operand.path, 'eq', operand.value, scope) : this.equalsOneOf(operand.path, list, scope));
    }
    // Some element satisfies a, or some satisfies b: some element satisfies (a or b). One
    // subquery for the whole group, where one per operand made SQLite's cost grow with the
    // square of their number (every subquery's cursor on the same table stays open, and each
    // opening of one walks the list of them), and PostgreSQL's with one more plan node each.
    for (const { collection, first, wheres, part } of groups.values()) {
      parts[part] =
        wheres.length === 1
          ? this.condition(first, scope)
          : collection.some((element) => combine(wheres.map((where) => where(element)), 'OR'), false, true);
    }
    return combine(parts, 'OR');
  }

  /**
   * For a comparison or `pr` on a value read from the JSON document (title, name.givenName, an
   * extension's attribute …), that value as a Shared whose one "element" is the value: the
   * or-ed terms on it then read it once, where each term read it (json_type and json_extract,
   * twice each) from every row, eight times the cost of a term on a column.
   */
  private jsonValueTest(filter: Filter, scope: Scope): { collection: Shared; where: (element: Scope) => Condition } | undefined {
    if (filter.kind !== 'compare' && filter.kind !== 'present') return undefined;
    const target = this.target(filter.path, scope);
    if (target.kind === 'collection' || target.kind === 'absent') return undefined;
    const leaf = this.leaf(target, filter.path.subAttribute);
    if (leaf.kind !== 'scalar' || leaf.asSent !== true || leaf.unavailable !== undefined) return undefined;
    const where =
      filter.kind === 'present'
        ? (element: Scope) => this.presentScalar(this.scalar(element.attribute('', undefined)))
        : (element: Scope) => this.compareScalar(this.scalar(element.attribute('', undefined)), filter.op, filter.value);
    return { collection: jsonValue(this, leaf), where };
  }

  /**
   * For an operand that holds when SOME element of a collection satisfies a condition
   * (RFC 7644 §3.4.2.2: a comparison, `ne` included, `pr`, a value filter), that collection and
   * condition; undefined for any other operand, and for one an index can drive (an `eq` on
   * `value`), which keeps its own `id IN (SELECT …)`. `eq null` is the negation of such a test:
   * it cannot share one.
   */
  private elementTest(filter: Filter, scope: Scope): { collection: Shared; where: (element: Scope) => Condition } | undefined {
    if (filter.kind !== 'compare' && filter.kind !== 'present' && filter.kind !== 'valuePath') return undefined;
    const { path } = filter;
    const collection = this.target(path, scope);
    if (collection.kind !== 'collection') return undefined;
    switch (filter.kind) {
      case 'present': {
        const sub = path.subAttribute;
        if (sub === undefined) return { collection, where: () => TRUE };
        return { collection, where: (element) => this.presentScalar(this.scalar(element.attribute(sub, undefined))) };
      }
      case 'valuePath': {
        if (path.subAttribute !== undefined || pinsValue(filter.filter)) return undefined;
        const inner = filter.filter;
        return { collection, where: (element) => this.condition(inner, element) };
      }
      case 'compare': {
        const { op, value } = filter;
        const sub = this.elementValue(collection, path.subAttribute);
        if (value === null) return undefined;
        if (op === 'eq' && typeof value === 'string' && sub.toLowerCase() === 'value') return undefined;
        const pick = (element: Scope): Scalar => this.scalar(element.attribute(sub, undefined));
        if (op === 'ne') return { collection, where: (element) => this.presentAndOther(pick(element), value) };
        return { collection, where: (element) => this.compareScalar(pick(element), op, value) };
      }
    }
  }

  /** `path eq v1 or path eq v2 or …`, exactly as compare() reads each, as one test. */
  private equalsOneOf(path: AttributePath, values: readonly string[], scope: Scope): Condition {
    const target = this.target(path, scope);
    if (target.kind === 'absent') return FALSE;
    if (target.kind === 'collection') {
      const sub = this.elementValue(target, path.subAttribute);
      const selective = sub.toLowerCase() === 'value';
      const direct = selective ? target.valueIn?.(values) : undefined;
      if (direct !== undefined) return direct;
      return target.some((element) => this.scalarEqualsOneOf(this.scalar(element.attribute(sub, undefined)), values), selective);
    }
    return this.scalarEqualsOneOf(this.scalar(this.leaf(target, path.subAttribute)), values);
  }

  private scalarEqualsOneOf(scalar: Scalar, values: readonly string[]): Condition {
    for (const value of values) {
      const problem = comparisonProblem(scalar.definition, 'eq', value, scalar.name);
      if (problem !== undefined) this.fail(problem);
    }
    // Only text compares as text: a dateTime's values are instants, each normalised by test().
    if (!isStringType(scalar.definition)) return combine(values.map((value) => this.compareScalar(scalar, 'eq', value)), 'OR');
    const test = this.textEquals(scalar, [...new Set(values)]);
    return scalar.nullable ? sql<SqlBool>`(${scalar.expression} IS NOT NULL AND ${test})` : test;
  }

  /** Text equality with any of `values`, by the attribute's case rule (RFC 7643 §2.2 caseExact). */
  private textEquals(scalar: Scalar, values: readonly string[]): Condition {
    if (scalar.keyed) {
      const { column, key } = scalar.keyed;
      const keys = values.map((value) => key(value)).filter((value) => value !== undefined);
      return keys.length === 0 ? FALSE : equalsAny(column, keys.map((value) => sql.val(value)));
    }
    // Case keys on both sides, `key = ?` / `key IN (?, …)`, so that the key indexes
    // (users_login_key, groups_name_key, user_emails_value_key) serve the common lookups.
    if (comparesByCaseKey(scalar.definition)) {
      return equalsAny(this.keyOf(scalar), [...new Set(values.map(caseKey))].map((value) => sql.val(value)));
    }
    return equalsAny(scalar.expression, values.map((value) => sql.val(value)));
  }

  private target(path: AttributePath, scope: Scope): Target {
    return scope.attribute(path.attribute, path.schema);
  }

  private present(path: AttributePath, scope: Scope): Condition {
    const target = this.target(path, scope);
    if (target.kind === 'absent') return FALSE;
    if (target.kind === 'collection') {
      const sub = path.subAttribute;
      if (sub === undefined) return target.some(() => TRUE, false);
      return target.some((element) => this.presentScalar(this.scalar(element.attribute(sub, undefined))), false);
    }
    return this.presentTarget(this.leaf(target, path.subAttribute));
  }

  /** `pr` (RFC 7644 §3.4.2.2): not null, not "", and for a complex value some present sub-attribute. */
  private presentTarget(target: Target): Condition {
    if (target.kind === 'absent') return FALSE;
    if (target.kind === 'scalar') return this.presentScalar(this.scalar(target));
    if (target.kind === 'collection') return target.some(() => TRUE, false);
    const parts = (target.definition.subAttributes ?? [])
      .map((sub) => target.scope.attribute(sub.name, undefined))
      .filter((sub): sub is Scalar => sub.kind === 'scalar' && sub.unavailable === undefined)
      .map((sub) => this.presentScalar(sub));
    return combine(parts, 'OR');
  }

  private presentScalar(scalar: Scalar): Condition {
    const e = scalar.expression;
    if (scalar.storage === 'text') return scalar.nullable ? sql<SqlBool>`(${e} IS NOT NULL AND ${e} <> '')` : sql<SqlBool>`(${e} <> '')`;
    return scalar.nullable ? sql<SqlBool>`(${e} IS NOT NULL)` : TRUE;
  }

  private compare(path: AttributePath, op: CompareOperator, value: FilterValue, scope: Scope): Condition {
    const target = this.target(path, scope);
    // Absent everywhere: only `eq null` holds, and `ne` on a single-valued attribute, as for
    // any absent value (evaluate.ts); a multi-valued one has no value that could differ.
    if (target.kind === 'absent') return (value === null ? op === 'eq' : op === 'ne' && !target.multiValued) ? TRUE : FALSE;
    if (target.kind === 'collection') {
      // Any element matching makes the resource match (RFC 7644 §3.4.2.2), `ne` too: some
      // value present and other than v (see evaluate.ts).
      const sub = this.elementValue(target, path.subAttribute);
      const pick = (element: Scope): Scalar => this.scalar(element.attribute(sub, undefined));
      if (value === null) {
        if (op !== 'eq' && op !== 'ne') this.fail(`'${op}' cannot compare '${target.name}' with null; use 'pr' or 'eq null'`);
        const some = target.some((element) => this.presentScalar(pick(element)), false);
        return op === 'eq' ? negate(some) : some;
      }
      const selective = op === 'eq' && typeof value === 'string' && sub.toLowerCase() === 'value';
      const direct = selective ? target.valueIn?.([value]) : undefined;
      if (direct !== undefined) return direct;
      if (op === 'ne') return target.some((element) => this.presentAndOther(pick(element), value), false);
      return target.some((element) => this.compareScalar(pick(element), op, value), selective);
    }
    const leaf = this.leaf(target, path.subAttribute);
    if (leaf.kind !== 'scalar' && value === null && (op === 'eq' || op === 'ne')) {
      const present = this.presentTarget(leaf);
      return op === 'eq' ? negate(present) : present;
    }
    return this.compareScalar(this.scalar(leaf), op, value);
  }

  /** `ne` on one value of a multi-valued attribute: it is present, and not equal to `value`. */
  private presentAndOther(scalar: Scalar, value: string | number | boolean): Condition {
    return sql<SqlBool>`(${this.presentScalar(scalar)} AND ${this.compareScalar(scalar, 'ne', value)})`;
  }

  private compareScalar(scalar: Scalar, op: CompareOperator, value: FilterValue): Condition {
    const problem = comparisonProblem(scalar.definition, op, value, scalar.name);
    if (problem !== undefined) this.fail(problem);
    if (value === null) return op === 'eq' ? negate(this.presentScalar(scalar)) : this.presentScalar(scalar);
    if (op === 'ne') return negate(this.compareScalar(scalar, 'eq', value));
    const test = this.test(scalar, op, value);
    // The IS NOT NULL guard keeps the result two-valued, and leaves the test itself in a
    // form an index on the column can serve.
    return scalar.nullable ? sql<SqlBool>`(${scalar.expression} IS NOT NULL AND ${test})` : test;
  }

  /** The comparison itself, once comparisonProblem has checked the value's type. */
  private test(scalar: Scalar, op: CompareOperator, value: string | number | boolean): Condition {
    const e = scalar.expression;
    const operator = sql.raw(ORDER_SQL[op]);
    switch (scalar.definition.type) {
      case 'boolean': {
        const literal = scalar.storage === 'integer' ? (value ? 1 : 0) : value ? 'true' : 'false';
        return sql<SqlBool>`${e} = ${literal}`;
      }
      case 'integer':
      case 'decimal':
        return sql<SqlBool>`CAST(${e} AS NUMERIC) ${operator} ${value}`;
      case 'dateTime': {
        // RFC 7644 §3.4.2.2: dateTime compared chronologically. A value as the client sent it
        // (`…T12:00:00+02:00`) is read as an instant; a value that names none matches nothing,
        // as in the evaluator (COALESCE keeps the result two-valued for `not`).
        if (scalar.asSent === true) {
          const reading = readDateTime(String(value), 'filter');
          const milliseconds = reading.ok ? reading.instant : Number.NaN; // comparisonProblem has refused the rest
          return sql<SqlBool>`COALESCE(${instantOf(e)} ${operator} ${milliseconds}, ${FALSE})`;
        }
        // Stored as Date#toISOString() text: normalising the literal the same way makes text
        // order instant order.
        const instant = normaliseDateTime(String(value)) ?? '';
        if (scalar.after !== undefined) {
          // x < t is not (x >= t): exact, since such a value is never NULL; so is `not (x > t)`
          // as x <= t, which `not (…)` of the filter then reads in the other form (negate).
          const { holds, fails } = scalar.after;
          if (op === 'gt') return withComplement(holds('>', instant), fails('>', instant));
          if (op === 'ge') return withComplement(holds('>=', instant), fails('>=', instant));
          if (op === 'lt') return withComplement(fails('>=', instant), holds('>=', instant));
          if (op === 'le') return withComplement(fails('>', instant), holds('>', instant));
        }
        return sql<SqlBool>`${e} ${operator} ${instant}`;
      }
      default:
        return this.textTest(scalar, op, String(value));
    }
  }

  private textTest(scalar: Scalar, op: CompareOperator, value: string): Condition {
    const e = scalar.expression;
    if (op === 'eq') return this.textEquals(scalar, [value]);
    if (comparesByCaseKey(scalar.definition)) {
      // RFC 7643 §2.2 caseExact=false: case keys on both sides. Keys hold no ASCII capitals,
      // so SQLite's ASCII-blind LIKE and PostgreSQL's exact one agree.
      const key = this.keyOf(scalar);
      const folded = caseKey(value);
      if (op === 'co' || op === 'sw' || op === 'ew') {
        const pattern = `${op === 'sw' ? '' : '%'}${escapeLike(folded)}${op === 'ew' ? '' : '%'}`;
        const like = sql<SqlBool>`${key} LIKE ${pattern} ESCAPE '\\'`;
        return op === 'sw' ? this.prefixRange(key, folded, like) : like;
      }
      return sql<SqlBool>`${this.dialect.binaryOrder(key)} ${sql.raw(ORDER_SQL[op])} ${folded}`;
    }
    // Case-exact: SQLite's LIKE ignores ASCII case, so use position and substring tests.
    switch (op) {
      case 'co':
        return sql<SqlBool>`${this.dialect.strpos(e, sql.val(value))} > 0`;
      case 'sw':
        return sql<SqlBool>`substr(${e}, 1, length(${value})) = ${value}`;
      case 'ew':
        return sql<SqlBool>`substr(${e}, length(${e}) - length(${value}) + 1) = ${value}`;
      default:
        return sql<SqlBool>`${this.dialect.binaryOrder(e)} ${sql.raw(ORDER_SQL[op])} ${value}`;
    }
  }

  /**
   * `sw` on a case key as a code-point range too (`key >= prefix AND key < the next prefix`), which
   * SQLite serves from the key's index (users_login_key: 1.4 s for `userName sw` at a million users
   * otherwise); `like` stays, so the matches are LIKE's. PostgreSQL compares in code-point order
   * ("C", binaryOrder), where its index in the database's collation does not serve the range but
   * the answer is the same: a locale's order could put a match outside it.
   */
  private prefixRange(key: Expression, prefix: string, like: Condition): Condition {
    const codePoints = [...prefix];
    const last = codePoints.pop();
    if (last === undefined) return like;
    let next = (last.codePointAt(0) ?? 0) + 1;
    if (next === 0xd800) next = 0xe000; // no text holds a surrogate alone
    const ordered = this.dialect.binaryOrder(key);
    if (next > 0x10ffff) return sql<SqlBool>`(${ordered} >= ${prefix} AND ${like})`;
    const beyond = codePoints.join('') + String.fromCodePoint(next);
    return sql<SqlBool>`(${ordered} >= ${prefix} AND ${ordered} < ${beyond} AND ${like})`;
  }

  private valuePath(path: AttributePath, filter: Filter, scope: Scope): Condition {
    const target = this.target(path, scope);
    if (target.kind === 'absent') return FALSE;
    if (path.subAttribute !== undefined) this.fail(`a value filter cannot follow the sub-attribute '${path.attribute}.${path.subAttribute}'`);
    if (target.kind === 'collection') return target.some((element) => this.condition(filter, element), pinsValue(filter));
    if (target.kind === 'complex') return this.condition(filter, target.scope);
    return this.fail(`'${target.name}' is neither multi-valued nor complex, so it cannot take a value filter '[…]'`);
  }

  // ---- sorting

  /** The ORDER BY expression for a scalar: case-insensitive strings fold case (RFC 7644 §3.4.2.3). */
  sortExpression(scalar: Scalar): Expression {
    if (comparesByCaseKey(scalar.definition)) return this.dialect.binaryOrder(this.keyOf(scalar));
    if (scalar.definition.type === 'integer' || scalar.definition.type === 'decimal') return sql`CAST(${scalar.expression} AS NUMERIC)`;
    // By instant, NULL (sorted as no value) for a value that names none; see test().
    if (scalar.definition.type === 'dateTime' && scalar.asSent === true) return instantOf(scalar.expression);
    if (isStringType(scalar.definition)) return this.dialect.binaryOrder(scalar.expression);
    return scalar.expression;
  }
}

// ---- scopes: where each attribute lives (see the migration for the tables)

function scalarOf(name: string, definition: AttributeDefinition, column: Column): Scalar {
  return { kind: 'scalar', name, definition, ...column };
}

/** A text column; `caseKey` is its stored case key, for attributes compared regardless of case. */
function textColumn(expression: Expression, nullable: boolean, caseKey?: Expression): Column {
  return caseKey === undefined ? { expression, nullable, storage: 'text' } : { expression, nullable, storage: 'text', caseKey };
}

/** A JSON value read from scim_fold, as the client sent it: the expression is its own case key (scim/keys.ts foldDocument). */
function foldedColumn(expression: Expression): Column {
  return { ...textColumn(expression, true, expression), asSent: true };
}

/** A constant's column: the key is computed here. */
function literalColumn(value: string): Column {
  return textColumn(sql.lit(value), false, sql.lit(caseKey(value)));
}

/** A scope over sub-attributes whose columns `columns` gives, keyed by canonical sub-attribute name. */
function subAttributeScope(
  compiler: Compiler,
  parent: AttributeDefinition,
  parentName: string,
  columns: (definition: AttributeDefinition) => Column,
): Scope {
  return {
    attribute(name, schema) {
      const definition = findAttribute(parent.subAttributes ?? [], name);
      if (schema !== undefined || !definition) {
        return compiler.fail(`unknown attribute '${parentName}.${name}': '${parentName}' has no sub-attribute '${name}'`);
      }
      return scalarOf(`${parentName}.${definition.name}`, definition, columns(definition));
    },
  };
}

/** Columns from a fixed table, by canonical name; sub-attributes not listed cannot be used. */
function fixedColumns(compiler: Compiler, parentName: string, table: Readonly<Record<string, Column>>) {
  return (definition: AttributeDefinition): Column =>
    table[definition.name] ?? {
      expression: sql`NULL`,
      nullable: true,
      storage: 'text',
      unavailable: compiler.unavailable(`${parentName}.${definition.name}`, 'it is computed when the resource is returned'),
    };
}

/** An attribute kept in a JSON document column, at `path` (canonical names; RFC 7643 §3.3 for extensions). */
function jsonTarget(
  compiler: Compiler,
  document: Expression,
  path: readonly string[],
  definition: AttributeDefinition,
  name: string,
): Target {
  const { dialect } = compiler;
  if (definition.multiValued) return jsonCollection(compiler, document, path, definition, name);
  if (definition.type === 'complex') {
    const scope = subAttributeScope(compiler, definition, name, (sub) => foldedColumn(dialect.jsonText(document, [...path, sub.name])));
    return { kind: 'complex', name, definition, scope };
  }
  return scalarOf(name, definition, foldedColumn(dialect.jsonText(document, path)));
}

function jsonCollection(
  compiler: Compiler,
  document: Expression,
  path: readonly string[],
  definition: AttributeDefinition,
  name: string,
): Collection {
  const { dialect } = compiler;
  const elementScope = (alias: string): Scope =>
    definition.subAttributes
      ? subAttributeScope(compiler, definition, name, (sub) => foldedColumn(dialect.jsonElementText(alias, [sub.name])))
      : {
          // A multi-valued simple attribute: its elements are the values themselves.
          attribute: () => scalarOf(name, { ...definition, multiValued: false }, foldedColumn(dialect.jsonElementText(alias, []))),
        };
  const elements = (alias: string): Expression => dialect.jsonArrayElements(document, path, alias);
  return {
    kind: 'collection',
    name,
    definition,
    some(where, _selective, many = false) {
      const alias = compiler.alias('j');
      if (!many || !definition.subAttributes) return sql<SqlBool>`EXISTS (SELECT 1 FROM ${elements(alias)} WHERE ${where(elementScope(alias))})`;
      // Many tests of an element (or-ed terms, see disjunction): each sub-attribute they name
      // is read from the element once, into one subquery row they all test, where each test
      // read it again (json_type and json_extract, twice each). LIMIT keeps SQLite from
      // flattening the row back into the expressions.
      const row = compiler.alias('x');
      const reads = new Map<string, Expression>();
      const condition = where(
        subAttributeScope(compiler, definition, name, (sub) => {
          reads.set(sub.name, dialect.jsonElementText(alias, [sub.name]));
          return foldedColumn(sql.ref(`${row}.${sub.name}`));
        }),
      );
      if (reads.size === 0) return sql<SqlBool>`EXISTS (SELECT 1 FROM ${elements(alias)} WHERE ${condition})`;
      const columns = sql.join([...reads].map(([column, read]) => sql`${read} AS ${sql.id(column)}`));
      return sql<SqlBool>`EXISTS (SELECT 1 FROM ${elements(alias)} WHERE EXISTS (SELECT 1 FROM (SELECT ${columns} LIMIT 1) AS ${sql.id(row)} WHERE ${condition}))`;
    },
    primary(pick) {
      const first = compiler.alias('j');
      const firstValue = sql`(SELECT ${pick(elementScope(first))} FROM ${elements(first)} LIMIT 1)`;
      if (!findAttribute(definition.subAttributes ?? [], 'primary')) return firstValue;
      const primary = compiler.alias('j');
      const isPrimary = dialect.jsonElementText(primary, ['primary']);
      return sql`COALESCE((SELECT ${pick(elementScope(primary))} FROM ${elements(primary)} WHERE ${isPrimary} = 'true' LIMIT 1), ${firstValue})`;
    },
  };
}

/** The rows of a side table for one multi-valued attribute, with fresh aliases. */
interface SideRows {
  /** `table AS alias JOIN …` */
  readonly from: Expression;
  /** The column linking an element to its resource (users.id or groups.id). */
  readonly owner: Expression;
  readonly columns: Readonly<Record<string, Column>>;
  /** Primary element first, then list order; without it, sorting takes the smallest value. */
  readonly order?: Expression;
}

function sideTableCollection(
  compiler: Compiler,
  definition: AttributeDefinition,
  name: string,
  resourceId: Expression,
  rows: () => SideRows,
): Collection {
  const scopeOf = (side: SideRows): Scope => subAttributeScope(compiler, definition, name, fixedColumns(compiler, name, side.columns));
  return {
    kind: 'collection',
    name,
    definition,
    some(where, selective) {
      const side = rows();
      const condition = where(scopeOf(side));
      // When the condition pins an indexed value, `id IN (SELECT …)` lets the database start
      // from that index; a correlated EXISTS would visit every resource first.
      if (selective) return sql<SqlBool>`${resourceId} IN (SELECT ${side.owner} FROM ${side.from} WHERE ${condition})`;
      return sql<SqlBool>`EXISTS (SELECT 1 FROM ${side.from} WHERE ${side.owner} = ${resourceId} AND ${condition})`;
    },
    primary(pick) {
      const side = rows();
      const value = pick(scopeOf(side));
      if (side.order === undefined) return sql`(SELECT min(${value}) FROM ${side.from} WHERE ${side.owner} = ${resourceId})`;
      return sql`(SELECT ${value} FROM ${side.from} WHERE ${side.owner} = ${resourceId} ORDER BY ${side.order} LIMIT 1)`;
    },
  };
}

/**
 * `emails`: the indexed user_emails table, kept in step with scim_data.emails by the store,
 * except where `primary` is named. user_emails.is_primary is 0 both for `"primary": false` and
 * for an email without `primary`, which is unassigned (RFC 7643 §2.5: `pr` is false, `eq false`
 * does not hold); the document keeps the difference, so those conditions read the emails from
 * it, as phoneNumbers are read. `primary eq true` is then read there too: IdPs look emails up
 * by value, which stays on the index.
 */
function emailsCollection(compiler: Compiler, definition: AttributeDefinition): Collection {
  const side = emailsTable(compiler, definition);
  const document = jsonCollection(compiler, sql.ref('u.scim_fold'), ['emails'], definition, 'emails');
  return {
    ...side,
    some(where, selective, many) {
      const table = noticingPrimary((notice) => side.some((element) => where(notice(element)), selective, many));
      return table.namesPrimary ? document.some(where, false, many) : table.result;
    },
    primary(pick) {
      const table = noticingPrimary((notice) => side.primary((element) => pick(notice(element))));
      return table.namesPrimary ? document.primary(pick) : table.result;
    },
  };
}

/** What `build` makes with element scopes wrapped by `notice`, and whether it named `primary` in one. */
function noticingPrimary<R>(build: (notice: (element: Scope) => Scope) => R): { readonly result: R; readonly namesPrimary: boolean } {
  let namesPrimary = false;
  const notice = (element: Scope): Scope => ({
    attribute(name, schema) {
      if (name.toLowerCase() === 'primary') namesPrimary = true;
      return element.attribute(name, schema);
    },
  });
  const result = build(notice);
  return { result, namesPrimary };
}

/** `emails` as the user_emails table holds them (see emailsCollection for `primary`). */
function emailsTable(compiler: Compiler, definition: AttributeDefinition): Collection {
  return sideTableCollection(compiler, definition, 'emails', sql.ref('u.id'), () => {
    const e = compiler.alias('e');
    const ref = (column: string) => sql.ref(`${e}.${column}`);
    return {
      from: sql`user_emails AS ${sql.id(e)}`,
      owner: ref('user_id'),
      columns: {
        value: textColumn(ref('value'), true, ref('value_key')),
        type: textColumn(ref('type'), true, ref('type_key')),
        display: textColumn(ref('display'), true, ref('display_key')),
        primary: { expression: ref('is_primary'), nullable: false, storage: 'integer' },
      },
      order: sql`${ref('is_primary')} DESC, ${ref('position')}`,
    };
  });
}

/** A User's `groups`: computed from memberships (RFC 7643 §4.1.2), all direct. */
function userGroupsCollection(compiler: Compiler, definition: AttributeDefinition): Collection {
  const collection = userGroupsRows(compiler, definition);
  const known = compiler.groupIds;
  if (known === undefined) return collection;
  return {
    ...collection,
    // The memberships of the groups' own rows (CompileOptions.groupIds says why).
    valueIn(values) {
      const ids: string[] = [];
      for (const value of values) {
        if (!known.has(value)) return undefined;
        const id = known.get(value);
        if (id !== undefined && id !== null) ids.push(id);
      }
      if (ids.length === 0) return FALSE;
      const m = compiler.alias('m');
      return sql<SqlBool>`u.id IN (SELECT ${sql.ref(`${m}.user_id`)} FROM memberships AS ${sql.id(m)} WHERE ${equalsAny(sql.ref(`${m}.group_id`), ids.map((id) => sql.val(id)))})`;
    },
  };
}

/** A User's `groups` as rows of memberships joined to the groups' SCIM ids and names. */
function userGroupsRows(compiler: Compiler, definition: AttributeDefinition): Collection {
  return sideTableCollection(compiler, definition, 'groups', sql.ref('u.id'), () => {
    const m = compiler.alias('m');
    const sg = compiler.alias('sg');
    const g = compiler.alias('g');
    return {
      from: sql`memberships AS ${sql.id(m)} JOIN scim_groups AS ${sql.id(sg)} ON ${sql.ref(`${sg}.group_id`)} = ${sql.ref(`${m}.group_id`)} JOIN groups AS ${sql.id(g)} ON ${sql.ref(`${g}.id`)} = ${sql.ref(`${m}.group_id`)}`,
      owner: sql.ref(`${m}.user_id`),
      columns: {
        value: textColumn(sql.ref(`${sg}.scim_id`), false),
        display: textColumn(sql.ref(`${g}.name`), false, sql.ref(`${g}.name_key`)),
        type: literalColumn('direct'),
      },
    };
  });
}

/** A Group's `members`: the memberships table joined to the members' SCIM ids. */
function membersCollection(compiler: Compiler, definition: AttributeDefinition): Collection {
  return sideTableCollection(compiler, definition, 'members', sql.ref('g.id'), () => {
    const m = compiler.alias('m');
    const su = compiler.alias('su');
    const mu = compiler.alias('mu');
    return {
      from: sql`memberships AS ${sql.id(m)} JOIN scim_users AS ${sql.id(su)} ON ${sql.ref(`${su}.user_id`)} = ${sql.ref(`${m}.user_id`)} JOIN users AS ${sql.id(mu)} ON ${sql.ref(`${mu}.id`)} = ${sql.ref(`${m}.user_id`)}`,
      owner: sql.ref(`${m}.group_id`),
      columns: {
        value: textColumn(sql.ref(`${su}.scim_id`), false),
        // memberDisplay() in memberships.ts, in SQL.
        display: textColumn(
          sql`coalesce(${sql.ref(`${mu}.display_name`)}, ${sql.ref(`${mu}.login`)})`,
          false,
          sql`coalesce(${sql.ref(`${mu}.display_name_key`)}, ${sql.ref(`${mu}.login_key`)})`,
        ),
        type: literalColumn('User'),
      },
    };
  });
}

/** id, externalId and meta (RFC 7643 §3.1), which live in columns of the resource's tables. */
function commonTarget(compiler: Compiler, definition: AttributeDefinition, table: 'u' | 'g', idColumn: Expression): Target {
  const column = (name: string) => sql.ref(`${table}.${name}`);
  switch (definition.name) {
    case 'id':
      return scalarOf('id', definition, textColumn(idColumn, false));
    case 'externalId':
      return scalarOf('externalId', definition, textColumn(column('external_id'), true));
    default: {
      const base = compiler.locationBase;
      // A user's version and lastModified follow its groups too: the same SQL as its reads
      // (resource-versions.ts), so a filter matches what GET shows. A group's are its columns.
      const user = table === 'u';
      const columns: Record<string, Column> = {
        created: textColumn(column('created_at'), false),
        lastModified: user
          ? { ...textColumn(userResourceModifiedAt(compiler.dialect, 'u'), false), after: { holds: (operator, instant) => userModifiedAfter('u', operator, instant), fails: (operator, instant) => userNotModifiedAfter('u', operator, instant) } }
          : textColumn(column('updated_at'), false),
        resourceType: textColumn(sql.lit(compiler.typeName), false),
        // Rendered as base + encodeURIComponent(id) (scim/resources.ts); SCIM ids are UUIDs
        // (ids.ts), which encoding leaves as they are. `eq` becomes `id = …` on the id's index.
        location: {
          ...textColumn(sql`(${base} || ${idColumn})`, false),
          keyed: { column: idColumn, key: (value) => (value.startsWith(base) ? value.slice(base.length) : undefined) },
        },
        version: textColumn(sql`('W/"' || ${user ? userResourceVersion(compiler.dialect, 'u') : column('version')} || '"')`, false),
      };
      const scope = subAttributeScope(compiler, definition, 'meta', (sub) =>
        columns[sub.name] ?? {
          expression: sql`NULL`,
          nullable: true,
          storage: 'text',
          unavailable: compiler.unavailable(`meta.${sub.name}`, 'it is not stored'),
        },
      );
      return { kind: 'complex', name: 'meta', definition, scope };
    }
  }
}

/**
 * The enterprise `manager`: `value` as stored, `displayName` and `$ref` as GET shows them,
 * computed from the user that `value` names (none when it names no user).
 */
function managerTarget(compiler: Compiler, definition: AttributeDefinition): Target {
  const value = managerValue(compiler.dialect, 'u');
  const ms = compiler.alias('ms');
  const mu = compiler.alias('mu');
  // memberDisplay() in memberships.ts, in SQL; `key` picks the same value's case key.
  const ofManager = (columns: Expression) =>
    sql`(SELECT ${columns} FROM scim_users AS ${sql.id(ms)} JOIN users AS ${sql.id(mu)} ON ${sql.ref(`${mu}.id`)} = ${sql.ref(`${ms}.user_id`)} WHERE ${sql.ref(`${ms}.scim_id`)} = ${value})`;
  const display = ofManager(sql`coalesce(${sql.ref(`${mu}.display_name`)}, ${sql.ref(`${mu}.login`)})`);
  const displayKey = ofManager(sql`coalesce(${sql.ref(`${mu}.display_name_key`)}, ${sql.ref(`${mu}.login_key`)})`);
  const usersBase = compiler.locationBase;
  // A $ref exists only when `value` is the SCIM id of a user: a server-made UUID, ASCII, which
  // lower() folds alike on both databases; the base's key is computed here.
  const ref = sql`(CASE WHEN ${display} IS NULL THEN NULL ELSE ${usersBase} || ${value} END)`;
  const refKey = sql`(CASE WHEN ${display} IS NULL THEN NULL ELSE ${caseKey(usersBase)} || lower(${value}) END)`;
  const columns: Record<string, Column> = {
    value: textColumn(value, true),
    displayName: textColumn(display, true, displayKey),
    $ref: textColumn(ref, true, refKey),
  };
  const name = `${ENTERPRISE_USER_SCHEMA}:manager`;
  return { kind: 'complex', name, definition, scope: subAttributeScope(compiler, definition, name, fixedColumns(compiler, name, columns)) };
}

function userScope(compiler: Compiler): Scope {
  // JSON attributes are read from the folded document (see the file comment).
  const document = sql.ref('u.scim_fold');
  return {
    attribute(name, schema) {
      const resolved = compiler.resolve(name, schema);
      if (resolved === undefined) return compiler.absentTarget(name, schema);
      const definition = resolved.attribute;
      if (resolved.schema === '') return commonTarget(compiler, definition, 'u', sql.ref('su.scim_id'));
      if (resolved.schema === ENTERPRISE_USER_SCHEMA && definition.name === 'manager') return managerTarget(compiler, definition);
      if (resolved.extension) {
        return jsonTarget(compiler, document, [resolved.schema, definition.name], definition, `${resolved.schema}:${definition.name}`);
      }
      switch (definition.name) {
        case 'userName':
          return scalarOf('userName', definition, textColumn(sql.ref('u.login'), false, sql.ref('u.login_key')));
        case 'active':
          return scalarOf('active', definition, { expression: sql.ref('u.active'), nullable: false, storage: 'integer' });
        case 'password':
          // RFC 7643 §4.1.1, §7: writeOnly, returned never; a filter would leak it bit by bit.
          return compiler.fail(compiler.unavailable('password', 'it is write-only'));
        case 'emails':
          return emailsCollection(compiler, definition);
        case 'groups':
          return userGroupsCollection(compiler, definition);
        default:
          return jsonTarget(compiler, document, [definition.name], definition, definition.name);
      }
    },
  };
}

function groupScope(compiler: Compiler): Scope {
  const document = sql.ref('g.scim_fold');
  return {
    attribute(name, schema) {
      const resolved = compiler.resolve(name, schema);
      if (resolved === undefined) return compiler.absentTarget(name, schema);
      const definition = resolved.attribute;
      if (resolved.schema === '') return commonTarget(compiler, definition, 'g', sql.ref('sg.scim_id'));
      if (resolved.extension) {
        return jsonTarget(compiler, document, [resolved.schema, definition.name], definition, `${resolved.schema}:${definition.name}`);
      }
      switch (definition.name) {
        case 'displayName':
          return scalarOf('displayName', definition, textColumn(sql.ref('g.name'), false, sql.ref('g.name_key')));
        case 'members':
          return membersCollection(compiler, definition);
        default:
          return jsonTarget(compiler, document, [definition.name], definition, definition.name);
      }
    },
  };
}

// ---- public API

/** What compiling needs beyond the filter. */
export interface CompileOptions {
  /** The URL of the resources' endpoint with its trailing '/': meta.location is this followed by the id. */
  readonly locationBase: string;
  /**
   * The internal ids of the groups a User filter names by SCIM id (`groups.value eq "…"`, listed
   * by groupValuesIn), null for an id that names no group, read before compiling: the membership
   * test then names the group's own row, whose share of the memberships PostgreSQL's planner
   * knows. Reached through the join on SCIM ids, every group was planned as an average one (200
   * members), and a page of a 100,000-member group's users took seconds instead of milliseconds.
   */
  readonly groupIds?: ReadonlyMap<string, string | null>;
}

/**
 * The SCIM ids a User filter compares a group's `value` with (`groups.value eq "…"`, `groups eq
 * "…"`, or-ed or not), for CompileOptions.groupIds.
 */
export function groupValuesIn(filter: Filter): string[] {
  const found = new Set<string>();
  const stack: Filter[] = [filter];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (node.kind === 'and' || node.kind === 'or') stack.push(node.left, node.right);
    else if (node.kind === 'not') stack.push(node.filter);
    else if (node.kind === 'compare' && node.op === 'eq' && typeof node.value === 'string') {
      const { attribute, subAttribute, schema } = node.path;
      const core = schema === undefined || schema.toLowerCase() === USER_SCHEMA.toLowerCase();
      if (core && attribute.toLowerCase() === 'groups' && (subAttribute === undefined || subAttribute.toLowerCase() === 'value')) found.add(node.value);
    }
  }
  return [...found];
}

/**
 * Compiles a parsed filter to a condition over the resource type's query aliases (see the
 * file comment); throws ScimError 400 invalidFilter for unknown attributes, write-only ones,
 * comparisons that make no sense for the attribute's type, and more values than one
 * statement may bind.
 */
export function compileFilter(
  filter: Filter,
  resourceType: ResourceTypeRef,
  dialect: DialectAdapter,
  options: CompileOptions,
): RawBuilder<SqlBool> {
  return filterWith(new Compiler(resourceType, dialect, options.locationBase, 'invalidFilter', 'filtered', false, [], options.groupIds), filter);
}

function filterWith(compiler: Compiler, filter: Filter): RawBuilder<SqlBool> {
  const condition = compiler.condition(withSchemasResolved(filter, compiler), compiler.root());
  const values = boundValues(condition.toOperationNode());
  if (values > MAX_BOUND_VALUES) {
    compiler.fail(`the filter compares ${values} values; at most ${MAX_BOUND_VALUES} are accepted: split it into several requests`);
  }
  return condition;
}

/** Always true of a resource (`id` always has a value), and its negation: `schemas` tests reduced to a constant. */
const ALWAYS: Filter = { kind: 'present', path: { attribute: 'id' } };
const NEVER: Filter = { kind: 'not', filter: ALWAYS };

/**
 * `schemas` in a filter (RFC 7644 §3.4.2.2's own example: `schemas eq
 * "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"`), rewritten for `compiler`'s
 * resource type in terms of attributes: a resource lists its core schema always, and an
 * extension when it holds a value of one of the extension's attributes (validate.ts writes
 * `schemas` so). URNs compare regardless of case. `eq`, `ne` (some listed URN other than the
 * one named) and `pr` are the tests that make sense of a list of URNs; others are refused.
 * Value filters are left alone: `schemas` is no sub-attribute.
 */
function withSchemasResolved(filter: Filter, compiler: Compiler): Filter {
  return namesSchemas(filter) ? resolveSchemas(filter, compiler) : filter;
}

/** Whether `filter` tests `schemas` anywhere outside value filters; without recursion, as chains may hold thousands of terms. */
function namesSchemas(filter: Filter): boolean {
  const stack: Filter[] = [filter];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (node.kind === 'and' || node.kind === 'or') stack.push(node.left, node.right);
    else if (node.kind === 'not') stack.push(node.filter);
    else if (node.kind !== 'valuePath' && isSchemasPath(node.path)) return true;
  }
  return false;
}

function isSchemasPath(path: AttributePath): boolean {
  return path.schema === undefined && path.subAttribute === undefined && path.attribute.toLowerCase() === 'schemas';
}

function resolveSchemas(filter: Filter, compiler: Compiler): Filter {
  switch (filter.kind) {
    case 'and':
    case 'or': {
      // Each operand of the chain at once, rebuilt as a chain again: recursion goes only as deep
      // as operators of different kinds nest, never as long as a chain is.
      const kind = filter.kind;
      return logicalOperands(filter)
        .map((operand) => resolveSchemas(operand, compiler))
        .reduce((left, right) => ({ kind, left, right }));
    }
    case 'not':
      return { kind: 'not', filter: resolveSchemas(filter.filter, compiler) };
    case 'valuePath':
      return filter;
    case 'present':
    case 'compare': {
      if (!isSchemasPath(filter.path)) return filter;
      if (filter.kind === 'present') return ALWAYS;
      if (filter.op !== 'eq' && filter.op !== 'ne') compiler.fail(`'${filter.op}' cannot test 'schemas'; use eq, ne or pr`);
      if (typeof filter.value !== 'string') return compiler.fail("'schemas' is compared with a schema URN in quotes");
      const [core, ...extensions] = schemasOf(compiler.resourceType);
      const listed = (urn: string): Filter => {
        if (core !== undefined && urn.toLowerCase() === core.id.toLowerCase()) return ALWAYS;
        const extension = extensions.find((schema) => schema.id.toLowerCase() === urn.toLowerCase());
        return extension === undefined ? NEVER : holdsValueOf(extension.id, extension.attributes);
      };
      if (filter.op === 'eq') return listed(filter.value);
      // ne: some URN listed other than this one; the core schema is always listed.
      const named = filter.value.toLowerCase();
      if (core === undefined || named !== core.id.toLowerCase()) return ALWAYS;
      return extensions.map((schema) => holdsValueOf(schema.id, schema.attributes)).reduce<Filter>((left, right) => ({ kind: 'or', left, right }), NEVER);
    }
  }
}

/** Some attribute of the extension `schema` that a filter may read has a value. */
function holdsValueOf(schema: string, attributes: readonly AttributeDefinition[]): Filter {
  return attributes
    .filter((attribute) => attribute.mutability !== 'writeOnly' && attribute.returned !== 'never')
    .map((attribute): Filter => ({ kind: 'present', path: { schema, attribute: attribute.name } }))
    .reduce<Filter>((left, right) => ({ kind: 'or', left, right }), NEVER);
}

/** CompileOptions of one resource type in a search over all of them, with the schemas in force for it (built-in ones when absent). */
export interface RootCompileOptions extends CompileOptions {
  readonly schemas?: ResourceSchemas;
}

/** Fails (as `scimType`) for a top-level attribute that no resource type has. */
function assertSomeTypeHas(compilers: readonly Compiler[], scimType: ScimType): void {
  for (const name of compilers[0]?.absent ?? []) {
    if (compilers.every((compiler) => compiler.absent.has(name))) {
      throw new ScimError(400, scimType, `unknown attribute '${name}': neither User nor Group resources have it`);
    }
  }
}

/**
 * A filter over every resource type (the root /.search, RFC 7644 §3.4.3), compiled for each:
 * an attribute one type lacks is absent on its resources (comparisons with it are false, `pr`
 * false, `not` true, `ne` true unless it is multi-valued), as RFC 7644 §3.4.2.2 treats absent
 * values; an attribute neither type has is a 400 invalidFilter, as on one endpoint.
 */
export function compileRootFilter(
  filter: Filter,
  dialect: DialectAdapter,
  options: Readonly<Record<ResourceTypeName, RootCompileOptions>>,
): Record<ResourceTypeName, RawBuilder<SqlBool>> {
  const schemas = (type: ResourceTypeName): ResourceTypeRef => options[type].schemas ?? type;
  const other = (type: ResourceTypeName): ResourceTypeName => (type === 'User' ? 'Group' : 'User');
  const compiler = (type: ResourceTypeName) =>
    new Compiler(schemas(type), dialect, options[type].locationBase, 'invalidFilter', 'filtered', true, [schemas(other(type))]);
  const user = compiler('User');
  const group = compiler('Group');
  const result = { User: filterWith(user, filter), Group: filterWith(group, filter) };
  assertSomeTypeHas([user, group], 'invalidFilter');
  return result;
}

/** A compiled sort key: the ORDER BY expression and whether it can be NULL (no value). */
export interface CompiledSort {
  readonly expression: RawBuilder<unknown>;
  /** False when every resource has a value (userName, id, meta.created …): keyset conditions then need no NULL branch and indexes serve them. */
  readonly nullable: boolean;
}

/**
 * The ORDER BY expression for `sortBy` (RFC 7644 §3.4.2.3): case-insensitive strings fold
 * case, a multi-valued attribute sorts by its primary (else first) value. Throws ScimError
 * 400 invalidValue for attributes that do not exist or cannot be sorted on. NULLs (no value)
 * sort first on SQLite and last on PostgreSQL unless the caller says `NULLS LAST`/`IS NULL`.
 */
export function compileSort(
  path: AttributePath,
  resourceType: ResourceTypeRef,
  dialect: DialectAdapter,
  options: CompileOptions,
): CompiledSort {
  return sortWith(new Compiler(resourceType, dialect, options.locationBase, 'invalidValue', 'sorted on'), path);
}

function sortWith(compiler: Compiler, path: AttributePath): CompiledSort {
  const target = compiler.root().attribute(path.attribute, path.schema);
  // An attribute this type lacks (root search): no value, so its resources sort as NULLs do.
  if (target.kind === 'absent') return { expression: sql`NULL`, nullable: true };
  if (target.kind === 'collection') {
    const sub = compiler.elementValue(target, path.subAttribute);
    // A resource may have no element: the primary value's subquery is then NULL.
    return { expression: target.primary((element) => compiler.sortExpression(compiler.scalar(element.attribute(sub, undefined)))), nullable: true };
  }
  const leaf = compiler.leaf(target, path.subAttribute);
  if (leaf.kind === 'complex') {
    const example = leaf.definition.subAttributes?.[0]?.name ?? 'value';
    compiler.fail(`'${leaf.name}' is a complex attribute: sort by one of its sub-attributes, as in ${leaf.name}.${example}`);
  }
  const scalar = compiler.scalar(leaf);
  return { expression: compiler.sortExpression(scalar), nullable: scalar.nullable };
}

/** The sort key of `sortBy` for each resource type (root /.search): NULL where a type lacks the attribute. */
export function compileRootSort(
  path: AttributePath,
  dialect: DialectAdapter,
  options: Readonly<Record<ResourceTypeName, RootCompileOptions>>,
): Record<ResourceTypeName, CompiledSort> {
  const compiler = (type: ResourceTypeName) =>
    new Compiler(options[type].schemas ?? type, dialect, options[type].locationBase, 'invalidValue', 'sorted on', true);
  const user = compiler('User');
  const group = compiler('Group');
  const result = { User: sortWith(user, path), Group: sortWith(group, path) };
  assertSomeTypeHas([user, group], 'invalidValue');
  return result;
}

/** The ORDER BY expression alone of compileSort. */
export function compileSortKey(
  path: AttributePath,
  resourceType: ResourceTypeRef,
  dialect: DialectAdapter,
  options: CompileOptions,
): RawBuilder<unknown> {
  return compileSort(path, resourceType, dialect, options).expression;
}
