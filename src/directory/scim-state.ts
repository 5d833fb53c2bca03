/**
 * What every SCIM request needs before its route runs: whether provisioning is switched to
 * SCIM, and the schemas in force. Both come from one statement (the switch and the schemas'
 * generation are two settings; a bearer token's request reads them with the token, in its
 * statement: http/auth.ts), and the declared schemas are read again only when their
 * generation changed (scim-schemas.ts): a request does not pay three round trips to the
 * database for what almost never changes, and a change made through any instance still takes
 * effect at the next request everywhere.
 */
import type { SchemaRegistry } from '../scim/schemas.ts';
import type { Store } from '../store/index.ts';
import { provisioningModeSetting } from './provisioning.ts';
import { schemaGenerationSetting, type ScimSchemas } from './scim-schemas.ts';
import type { Settings } from '../settings.ts';

/** The SCIM state a request reads: `schemas` only when SCIM is on. */
export type ScimRequestState = { readonly enabled: false } | { readonly enabled: true; readonly schemas: SchemaRegistry };

/** Creates the reader of the SCIM state over a store. */
export function createScimState(store: Store, settings: Settings, scimSchemas: ScimSchemas) {
  const stateOf = async ([mode, generation]: readonly [string | undefined, string | undefined]): Promise<ScimRequestState> =>
    mode === 'scim' ? { enabled: true, schemas: await scimSchemas.atGeneration(generation) } : { enabled: false };
  return {
    /** Whether SCIM is on and, if so, the schemas in force, as of now. */
    async read(): Promise<ScimRequestState> {
      return stateOf(await settings.readTwo(store.db, provisioningModeSetting, schemaGenerationSetting));
    },
    /** The settings the state is made of, for a statement that reads them beside its own rows. */
    settingKeys: [provisioningModeSetting.key, schemaGenerationSetting.key] as const,
    /** The state from the stored texts of `settingKeys`, read by such a statement. */
    fromStored(stored: readonly [string | null, string | null]): Promise<ScimRequestState> {
      return stateOf(settings.fromStored(provisioningModeSetting, schemaGenerationSetting, stored));
    },
  };
}

export type ScimState = ReturnType<typeof createScimState>;
