/**
 * SQL for declared extension schemas (scim_schemas) and the values of attributes they declare
 * unique (scim_unique_values). See migrations/011-case-keys-and-custom-schemas.ts.
 */
import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import { compiledOnce } from './compiled.ts';
import type { DialectAdapter } from './dialect.ts';
import type { Executor } from './executor.ts';

/** One declared schema as stored. */
export interface StoredSchema {
  readonly urn: string;
  readonly resourceType: string;
  /** The canonical definition, as JSON text. */
  readonly definition: string;
  readonly createdAt: string;
}

/** A value to keep unique: the attribute (`urn:…:name`, lower-cased) and the value's key. */
export interface UniqueEntry {
  readonly attribute: string;
  readonly key: string;
}

type ResourceTable = 'users' | 'groups';

/** Values checked per query by takenBy. */
const TAKEN_BATCH = 50;

function tableOf(resourceType: 'User' | 'Group'): ResourceTable {
  return resourceType === 'User' ? 'users' : 'groups';
}

function hashOf(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** Query factory for declared schemas and unique values. */
export function createScimSchemaQueries(dialect: DialectAdapter) {
  // Read by every SCIM request (the schemas in force), compiled once (compiled.ts).
  // Named columns (a prepared statement on PostgreSQL: see tokens.ts).
  const selectAll = compiledOnce((db: Executor) =>
    db.selectFrom('scim_schemas').select(['urn', 'resource_type', 'definition', 'created_at']).orderBy('created_at').orderBy('urn_key'),
  );

  /** The condition "this row's document has the extension `urn`". */
  function carries(urn: string) {
    return sql<boolean>`${dialect.jsonText(sql.ref('scim_data'), [urn])} IS NOT NULL`;
  }

  return {
    /** Every declared schema, in declaration order. */
    async list(db: Executor): Promise<StoredSchema[]> {
      const rows = await selectAll(db);
      return rows.map((row) => ({ urn: row.urn, resourceType: row.resource_type, definition: row.definition, createdAt: row.created_at }));
    },

    /** Stores a declared schema (the caller checked that its URN is free). */
    async insert(db: Executor, schema: StoredSchema): Promise<void> {
      await db
        .insertInto('scim_schemas')
        .values({ urn_key: schema.urn.toLowerCase(), urn: schema.urn, resource_type: schema.resourceType, definition: schema.definition, created_at: schema.createdAt })
        .execute();
    },

    /** Deletes a declared schema by URN (any case). */
    async delete(db: Executor, urn: string): Promise<void> {
      await db.deleteFrom('scim_schemas').where('urn_key', '=', urn.toLowerCase()).execute();
    },

    /** How many resources of a type carry values of the extension `urn` (a scan: an administrator's question). */
    async countCarrying(db: Executor, resourceType: 'User' | 'Group', urn: string): Promise<number> {
      const result = await sql<{ n: number | string }>`SELECT count(*) AS n FROM ${sql.table(tableOf(resourceType))} WHERE ${carries(urn)}`.execute(db);
      return Number(result.rows[0]?.n ?? 0);
    },

    /**
     * Removes the extension `urn` from every resource of a type that carries it, as a change
     * (new version, lastModified), and forgets its unique values. Returns how many changed.
     */
    async strip(db: Executor, resourceType: 'User' | 'Group', urn: string, now: string): Promise<number> {
      const result = await sql`UPDATE ${sql.table(tableOf(resourceType))}
        SET scim_data = ${dialect.jsonWithout(sql.ref('scim_data'), urn)}, scim_fold = ${dialect.jsonWithout(sql.ref('scim_fold'), urn)},
            updated_at = ${now}, version = version + 1
        WHERE ${carries(urn)}`.execute(db);
      const prefix = `${urn.toLowerCase()}:`;
      await db
        .deleteFrom('scim_unique_values')
        .where('resource_type', '=', resourceType)
        .where(sql<string>`substr(attribute, 1, ${prefix.length})`, '=', prefix)
        .execute();
      return Number(result.numAffectedRows ?? 0);
    },

    /**
     * The first of `entries` another resource of the type already holds, or undefined. Read
     * before writing, for a message naming the attribute; the primary key still decides races.
     */
    async takenBy(db: Executor, resourceType: 'User' | 'Group', resourceId: string, entries: readonly UniqueEntry[]): Promise<UniqueEntry | undefined> {
      const hashed = entries.map((entry) => ({ entry, hash: hashOf(entry.key) }));
      // A few dozen pairs per query: a multi-valued attribute may hold a thousand values, and
      // SQLite refuses expressions nested 1000 deep (a flat OR nests one level per term).
      for (let start = 0; start < hashed.length; start += TAKEN_BATCH) {
        const batch = hashed.slice(start, start + TAKEN_BATCH);
        const row = await db
          .selectFrom('scim_unique_values')
          .select(['attribute', 'value_hash'])
          .where('resource_type', '=', resourceType)
          .where('resource_id', '<>', resourceId)
          .where((eb) => eb.or(batch.map(({ entry, hash }) => eb.and([eb('attribute', '=', entry.attribute), eb('value_hash', '=', hash)]))))
          .executeTakeFirst();
        if (row !== undefined) return batch.find(({ entry, hash }) => entry.attribute === row.attribute && hash === row.value_hash)?.entry;
      }
      return undefined;
    },

    /** Makes `entries` the unique values of one resource (a unique violation if another holds one). */
    async replace(db: Executor, resourceType: 'User' | 'Group', resourceId: string, entries: readonly UniqueEntry[]): Promise<void> {
      await db.deleteFrom('scim_unique_values').where('resource_type', '=', resourceType).where('resource_id', '=', resourceId).execute();
      if (entries.length === 0) return;
      await db
        .insertInto('scim_unique_values')
        .values(entries.map((entry) => ({ resource_type: resourceType, attribute: entry.attribute, value_hash: hashOf(entry.key), resource_id: resourceId })))
        .execute();
    },
  };
}

export type ScimSchemaQueries = ReturnType<typeof createScimSchemaQueries>;
