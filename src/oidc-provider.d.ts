/**
 * The part of oidc-provider (v9, which ships no type definitions) Roster uses; see
 * node_modules/oidc-provider/docs/README.md for the full configuration.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface InteractionDetails {
    readonly uid: string;
    /** When the interaction began (seconds since the epoch). */
    readonly iat?: number;
    readonly prompt: { readonly name: string; readonly reasons: readonly string[]; readonly details: Record<string, unknown> };
    readonly params: Record<string, unknown> & { readonly client_id?: string; readonly scope?: string };
    readonly session?: { readonly accountId?: string };
    readonly grantId?: string;
    /** What an earlier interactionResult stored, until the provider resumes with it. */
    readonly result?: Record<string, unknown>;
  }

  export interface GrantInstance {
    addOIDCScope(scope: string): void;
    addOIDCClaims(claims: readonly string[]): void;
    addResourceScope(resource: string, scope: string): void;
    save(): Promise<string>;
  }

  export interface KoaContextLike {
    readonly req: IncomingMessage;
    readonly oidc: {
      readonly client?: { readonly clientId: string };
      readonly session?: { readonly accountId?: string };
      readonly params?: Record<string, unknown>;
      readonly result?: Record<string, unknown>;
      readonly route: string;
    };
    get(header: string): string;
  }

  export class Check {
    constructor(reason: string, description: string, check: (ctx: KoaContextLike) => boolean | Promise<boolean>);
    /** `error`: the OAuth error a request with prompt=none gets when the check asks for a prompt. */
    constructor(reason: string, description: string, error: string, check: (ctx: KoaContextLike) => boolean | Promise<boolean>);
    static readonly REQUEST_PROMPT: true;
    static readonly NO_NEED_TO_PROMPT: false;
  }

  export interface Prompt {
    readonly name: string;
    readonly checks: { add(check: Check, index?: number): void };
  }

  export const interactionPolicy: {
    base(): { get(name: string): Prompt | undefined };
    Check: typeof Check;
  };

  export const errors: {
    AccessDenied: new (description?: string) => Error;
    /** 400 invalid_grant at the token endpoint. */
    InvalidGrant: new (description?: string) => Error;
    /** 400 invalid_request_uri at the authorization endpoint (a pushed request's request_uri). */
    InvalidRequestUri: new (description?: string) => Error;
  };

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    proxy: boolean;
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
    interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
    interactionResult(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<string>;
    readonly Grant: {
      new (properties: { accountId: string; clientId: string }): GrantInstance;
      find(id: string): Promise<GrantInstance | undefined>;
    };
    /** The provider's client model; its prototype's compareClientSecret checks a presented secret. */
    readonly Client: { prototype: { compareClientSecret(actual: unknown): boolean | Promise<boolean> } };
    on(event: string, listener: (...args: unknown[]) => void): this;
    /** A Koa middleware run around every request of the provider (before its own). */
    use(middleware: (ctx: never, next: () => Promise<void>) => Promise<void>): this;
  }
}
