/**
 * The application services, wired once over a store. main.ts, the CLI and the tests all build
 * them here, so there is one composition of the domain (STYLE.md §4).
 */
import { createSamlConfigService, type SamlConfigService } from './auth/saml-config.ts';
import { createTokenService, type TokenService } from './auth/tokens.ts';
import { createGroupDirectory, type GroupDirectory } from './directory/groups.ts';
import { createProvisioning, type Provisioning } from './directory/provisioning.ts';
import { createSettings } from './directory/settings.ts';
import { createUserDirectory, type UserDirectory } from './directory/users.ts';
import type { Store } from './store/index.ts';

export interface Services {
  readonly store: Store;
  readonly tokens: TokenService;
  readonly saml: SamlConfigService;
  readonly provisioning: Provisioning;
  readonly users: UserDirectory;
  readonly groups: GroupDirectory;
}

/** Builds every service over one store. */
export function createServices(store: Store): Services {
  const settings = createSettings(store);
  return {
    store,
    tokens: createTokenService(store),
    saml: createSamlConfigService(settings),
    provisioning: createProvisioning(store, settings),
    users: createUserDirectory(store),
    groups: createGroupDirectory(store),
  };
}
