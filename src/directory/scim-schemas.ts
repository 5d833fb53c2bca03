/**
 * Extension schemas declared by administrators: the schemas in force for every SCIM request,
 * and their declaration and removal (CLI `roster schemas`, admin API /api/v2/scim-schemas).
 *
 * They live in the database only. Every change to them also writes a new random *generation*
 * (a setting, in the same transaction). `current()` reads the generation and reuses the
 * registry it parsed last while the generation is the same, reading the schemas again only
 * when it changed; so a schema declared through one instance is in force on all of them at
 * their next request. `atGeneration` serves a caller that read the generation itself, with the
 * provisioning switch in the same statement (every SCIM request: scim-state.ts).
 */
import { randomUUID } from 'node:crypto';
import { readSchemaDeclaration } from '../scim/custom-schemas.ts';
import { schemaRegistry, type DeclaredSchema, type ResourceTypeName, type SchemaRegistry } from '../scim/schemas.ts';
import type { Executor } from '../store/executor.ts';
import type { Store } from '../store/index.ts';
import { createScimSchemaQueries, type StoredSchema } from '../store/scim-schemas.ts';
import { isUniqueViolation } from '../store/errors.ts';
import { transact } from '../store/transact.ts';
import type { Actor } from '../journal/actor.ts';
import { createJournal } from '../journal/journal.ts';
import { DirectoryError } from '../errors.ts';
import { createSettings, defineSetting, type Settings } from '../settings.ts';

/** What removing a schema did. */
export interface SchemaRemoval {
  readonly schema: DeclaredSchema;
  /** Resources whose values of the extension were deleted (only with `force`). */
  readonly resourcesChanged: number;
}

const PLURAL: Readonly<Record<ResourceTypeName, string>> = { User: 'users', Group: 'groups' };

/**
 * A new random value at every change of the declared schemas. Random, not a counter: two
 * instances changing them at once each write their own value (the row lock orders them), so the
 * last value written never equals one read before the last change committed.
 */
export const schemaGenerationSetting = defineSetting<string>({
  key: 'scim.schemas.generation',
  parse: (raw) => (typeof raw === 'string' && raw.length > 0 && raw.length <= 100 ? raw : undefined),
});

/** The generation of a database whose schemas were never changed (or changed before generations). */
const NEVER_CHANGED = '';

/** The schema service: closure over the store, wired once in services.ts. */
export function createScimSchemas(store: Store, settings: Settings = createSettings(store)) {
  const queries = createScimSchemaQueries(store.dialect);
  const journal = createJournal(store.dialect);
  // The registry parsed from the rows last read, reused while they are the same rows.
  let parsed: { readonly signature: string; readonly registry: SchemaRegistry } | undefined;
  // The registry in force at a generation, reused while the generation is the same.
  let known: { readonly generation: string; readonly registry: SchemaRegistry } | undefined;

  function registryOf(rows: readonly StoredSchema[]): SchemaRegistry {
    const signature = rows.map((row) => row.definition).join('\n');
    if (parsed?.signature === signature) return parsed.registry;
    const declared: DeclaredSchema[] = [];
    for (const row of rows) {
      // Stored definitions were produced by this reader; reading them again keeps one code path.
      const result = readSchemaDeclaration(JSON.parse(row.definition) as unknown, schemaRegistry(declared));
      if (!result.ok) throw new Error(`The stored definition of schema ${row.urn} is not valid any more: ${result.problems.join('; ')}`);
      declared.push(result.schema);
    }
    const registry = schemaRegistry(declared);
    parsed = { signature, registry };
    return registry;
  }

  /** The registry in force at `generation`, read on `db` (the schemas are read only when it changed). */
  async function atGeneration(generation: string, db: Executor): Promise<SchemaRegistry> {
    if (known?.generation === generation) return known.registry;
    // Read after the generation: a change committed in between makes the next generation differ.
    const registry = registryOf(await queries.list(db));
    known = { generation, registry };
    return registry;
  }

  async function current(db: Executor): Promise<SchemaRegistry> {
    return atGeneration((await settings.read(db, schemaGenerationSetting)) ?? NEVER_CHANGED, db);
  }

  /** Records a change of the schemas, in its transaction. */
  async function changed(trx: Parameters<Settings['write']>[0]): Promise<void> {
    await settings.write(trx, schemaGenerationSetting, randomUUID());
  }

  function find(registry: SchemaRegistry, urn: string): DeclaredSchema {
    const wanted = urn.toLowerCase();
    const schema = registry.declared.find((candidate) => candidate.id.toLowerCase() === wanted);
    if (schema === undefined) {
      const builtIn = registry.schemas.some((candidate) => candidate.id.toLowerCase() === wanted);
      throw new DirectoryError('not_found', builtIn ? `${urn} is built into Roster and cannot be removed.` : `No extension schema ${urn} is declared.`, 'urn');
    }
    return schema;
  }

  async function declare(input: unknown, actor: Actor): Promise<DeclaredSchema> {
    return transact(store.db, async (trx) => {
      const registry = await current(trx);
      const result = readSchemaDeclaration(input, registry);
      if (!result.ok) throw new DirectoryError('invalid', `The schema definition is not valid: ${result.problems.join('; ')}.`, 'definition');
      const schema = result.schema;
      const now = new Date().toISOString();
      await queries.strip(trx, schema.extends, schema.id, now);
      await queries.insert(trx, { urn: schema.id, resourceType: schema.extends, definition: JSON.stringify(schema), createdAt: now });
      await changed(trx);
      await journal.record(trx, actor, {
        action: 'scim.schema_added',
        targetType: 'schema',
        targetId: schema.id,
        details: { urn: schema.id, extends: schema.extends, attributes: schema.attributes.map((attribute) => attribute.name) },
      }, now);
      return schema;
    });
  }

  return {
    /** The schemas in force: built-in and declared. Pass the transaction of a write that depends on them. */
    async current(db: Executor = store.db): Promise<SchemaRegistry> {
      return current(db);
    },

    /** The schemas in force when their generation (schemaGenerationSetting, undefined if never set) is `generation`. */
    async atGeneration(generation: string | undefined, db: Executor = store.db): Promise<SchemaRegistry> {
      return atGeneration(generation ?? NEVER_CHANGED, db);
    },

    /** The declared schemas, in declaration order. */
    async list(): Promise<readonly DeclaredSchema[]> {
      return (await current(store.db)).declared;
    },

    /**
     * Declares an extension schema from a definition as /Schemas shows one plus `extends`;
     * every problem is reported at once (400). Values stored under the same URN by a schema
     * removed earlier cannot come back: the resources that still carry them (a write that raced
     * the removal) lose them now.
     */
    async add(input: unknown, actor: Actor): Promise<DeclaredSchema> {
      try {
        return await declare(input, actor);
      } catch (error) {
        // Another instance declared the same URN between our read and our insert.
        if (isUniqueViolation(error)) throw new DirectoryError('conflict', 'This schema was declared by another request at the same time.', 'id');
        throw error;
      }
    },

    /**
     * Removes a declared schema. Refused (409) while resources carry its values, unless
     * `force`, which deletes those values from every resource in the same transaction (each
     * gets a new version) and is audited with their number.
     */
    async remove(urn: string, options: { readonly force: boolean }, actor: Actor): Promise<SchemaRemoval> {
      return transact(store.db, async (trx) => {
        const schema = find(await current(trx), urn);
        const carrying = await queries.countCarrying(trx, schema.extends, schema.id);
        if (carrying > 0 && !options.force) {
          throw new DirectoryError(
            'conflict',
            `${schema.id} is in use: ${carrying} ${carrying === 1 ? `${PLURAL[schema.extends].slice(0, -1)} carries` : `${PLURAL[schema.extends]} carry`} its attributes. Remove it with --force (admin API: ?force=true) to delete those values as well.`,
            'urn',
          );
        }
        const now = new Date().toISOString();
        const resourcesChanged = await queries.strip(trx, schema.extends, schema.id, now);
        await queries.delete(trx, schema.id);
        await changed(trx);
        await journal.record(trx, actor, {
          action: 'scim.schema_removed',
          targetType: 'schema',
          targetId: schema.id,
          details: { urn: schema.id, extends: schema.extends, force: options.force, resourcesChanged },
        }, now);
        return { schema, resourcesChanged };
      });
    },
  };
}

export type ScimSchemas = ReturnType<typeof createScimSchemas>;
