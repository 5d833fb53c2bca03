/**
 * Who made a change, as the journal records it: in the audit trail as one string
 * (`token:okta`), in the event feed as an object.
 */

/**
 * Who made a change: a token (its name and the user it belongs to), a signed-in user acting
 * through their session, a SAML or password sign-in, the command line, or Roster itself.
 */
export type Actor =
  | { readonly kind: 'token'; readonly name: string; readonly userId?: string | null; readonly login?: string | null }
  /** A signed-in user acting through their session. */
  | { readonly kind: 'session'; readonly userId: string; readonly login: string }
  /**
   * A browser signing in through SAML, named by the login its assertion carried (if any);
   * `user` is the login of the user it signed in as, spelled as stored (the assertion's may
   * differ in case or in Unicode form), once known.
   */
  | { readonly kind: 'saml'; readonly login: string | null; readonly user?: string }
  /** A browser signing in with a local account's password, named by the login it typed; `user` as for SAML. */
  | { readonly kind: 'password'; readonly login: string; readonly user?: string }
  | { readonly kind: 'cli' }
  | { readonly kind: 'system' };

/** Describes an actor as one string for the audit trail, e.g. `token:okta-provisioning`. */
export function describeActor(actor: Actor): string {
  switch (actor.kind) {
    case 'token':
      return `token:${actor.name}`;
    case 'session':
      return `session:${actor.login}`;
    case 'saml':
      return actor.login === null ? 'saml' : `saml:${actor.login}`;
    case 'password':
      return `password:${actor.login}`;
    case 'cli':
      return 'cli';
    case 'system':
      return 'system';
  }
}

/**
 * The login of the user behind an actor (a token's owner, a session's user, the user a sign-in
 * signed in as; a refused sign-in's login as sent), or null. The audit trail's `actorUser`, which
 * its `actor` filter matches: spelled as stored, so that one filter finds every sign-in of a user
 * however the IdP or the user spelled the login.
 */
export function actorLogin(actor: Actor): string | null {
  switch (actor.kind) {
    case 'token':
      return actor.login ?? null;
    case 'session':
      return actor.login;
    case 'saml':
    case 'password':
      return actor.user ?? actor.login;
    case 'cli':
    case 'system':
      return null;
  }
}

/** The internal id of the user behind an actor, or null (the self-deactivation rule needs it). */
export function actorUserId(actor: Actor): string | null {
  return actor.kind === 'token' || actor.kind === 'session' ? (actor.userId ?? null) : null;
}

/**
 * The actor as the event feed shows it: `{"kind":"token","name":"okta","userId":"…","login":"admin"}`,
 * `{"kind":"session","userId":"…","login":"ada"}`, `{"kind":"saml","login":"ada"}`,
 * `{"kind":"password","login":"ada"}`, `{"kind":"cli"}`,
 * `{"kind":"system"}`. Never a secret.
 */
export function actorObject(actor: Actor): Record<string, string | null> {
  switch (actor.kind) {
    case 'token':
      return { kind: 'token', name: actor.name, userId: actor.userId ?? null, login: actor.login ?? null };
    case 'session':
      return { kind: 'session', userId: actor.userId, login: actor.login };
    case 'saml':
    case 'password':
      return { kind: actor.kind, login: actor.login };
    case 'cli':
    case 'system':
      return { kind: actor.kind };
  }
}

/**
 * The audit trail's text (`token:okta`) for an actor as the event feed stored it (actorObject's
 * JSON), so that a page showing both says who acted in the same words; `unknown` for JSON that
 * is not an actor.
 */
export function describeStoredActor(json: string): string {
  let stored: unknown;
  try {
    stored = JSON.parse(json);
  } catch {
    return 'unknown';
  }
  if (typeof stored !== 'object' || stored === null) return 'unknown';
  const { kind, name, login } = stored as Record<string, unknown>;
  const text = (value: unknown) => (typeof value === 'string' ? value : null);
  switch (kind) {
    case 'token':
      return describeActor({ kind, name: text(name) ?? '' });
    case 'session':
    case 'password':
      return describeActor({ kind, login: text(login) ?? '', userId: '' });
    case 'saml':
      return describeActor({ kind, login: text(login) });
    case 'cli':
    case 'system':
      return describeActor({ kind });
    default:
      return 'unknown';
  }
}
