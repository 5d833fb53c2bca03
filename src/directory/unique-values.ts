/**
 * `uniqueness: server` for attributes of declared extensions (RFC 7643 §2.2): each value is a
 * row of scim_unique_values, whose primary key refuses a second holder on every instance.
 */
import { hasUniqueAttributes, uniqueValues } from '../scim/keys.ts';
import type { ResourceSchemas } from '../scim/schemas.ts';
import type { Executor } from '../store/executor.ts';
import { isUniqueViolation } from '../store/errors.ts';
import type { Store } from '../store/index.ts';
import { createScimSchemaQueries } from '../store/scim-schemas.ts';
import { DirectoryError } from '../errors.ts';

const NOUN = { User: 'user', Group: 'group' } as const;

/** The unique-values keeper: closure over the store. */
export function createUniqueValues(store: Store) {
  const queries = createScimSchemaQueries(store.dialect);

  return {
    /**
     * Records the unique values of a resource's document in the write's transaction; 409
     * (uniqueness) naming the attribute when another resource holds one. Costs nothing while
     * no declared schema of the type has a unique attribute.
     */
    async keep(db: Executor, schemas: ResourceSchemas, resourceId: string, document: Readonly<Record<string, unknown>>): Promise<void> {
      if (!hasUniqueAttributes(schemas)) return;
      const values = uniqueValues(schemas, document);
      const taken = await queries.takenBy(db, schemas.name, resourceId, values);
      const refusal = (label: string, value: string) =>
        new DirectoryError('conflict', `${label} "${value}" is already used by another ${NOUN[schemas.name]} (the attribute is declared unique).`, label);
      if (taken !== undefined) {
        const value = values.find((candidate) => candidate.attribute === taken.attribute && candidate.key === taken.key);
        throw refusal(value?.label ?? taken.attribute, value?.value ?? taken.key);
      }
      try {
        await queries.replace(db, schemas.name, resourceId, values);
      } catch (error) {
        // A concurrent write took a value between the check and the insert.
        const first = values[0];
        if (isUniqueViolation(error) && first !== undefined) throw refusal(values.length === 1 ? first.label : 'An attribute declared unique', values.length === 1 ? first.value : 'its value');
        throw error;
      }
    },

    /** Frees a resource's unique values (it left SCIM: deleted, or unlinked). */
    async forget(db: Executor, resourceType: 'User' | 'Group', resourceId: string): Promise<void> {
      await queries.replace(db, resourceType, resourceId, []);
    },
  };
}

export type UniqueValues = ReturnType<typeof createUniqueValues>;
