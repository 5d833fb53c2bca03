/**
 * The application services, wired once over a store. main.ts, the CLI and the tests all build
 * them here, so there is one composition of the domain (STYLE.md §4).
 */
import { createSamlConfigService, type SamlConfigService } from './auth/saml-config.ts';
import { createSamlServiceProvider, type SamlServiceProvider } from './auth/saml.ts';
import { createSessions, type SessionPolicy, type Sessions } from './auth/sessions.ts';
import { createTokenService, type TokenService } from './auth/tokens.ts';
import { createSignIn, type SignIn } from './directory/sign-in.ts';
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
  /** Roster as a SAML service provider (login redirect, metadata, response validation). */
  readonly samlSp: SamlServiceProvider;
  readonly sessions: Sessions;
  readonly signIn: SignIn;
}

export interface ServiceOptions {
  /** The public URL of this instance (ACS URL, entity ID, Secure cookies); see config.ts. */
  readonly baseUrl?: string;
  readonly sessionPolicy?: SessionPolicy;
}

/** Builds every service over one store. */
export function createServices(store: Store, options: ServiceOptions = {}): Services {
  const baseUrl = options.baseUrl ?? 'http://localhost:8080';
  const settings = createSettings(store);
  const saml = createSamlConfigService(settings);
  const provisioning = createProvisioning(store, settings);
  return {
    store,
    tokens: createTokenService(store),
    saml,
    provisioning,
    users: createUserDirectory(store),
    groups: createGroupDirectory(store),
    samlSp: createSamlServiceProvider(store, saml, baseUrl),
    sessions: createSessions(store, {
      secure: baseUrl.startsWith('https:'),
      ...(options.sessionPolicy !== undefined ? { policy: options.sessionPolicy } : {}),
    }),
    signIn: createSignIn(store, provisioning, () => saml.get()),
  };
}
