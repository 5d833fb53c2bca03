/**
 * Route schemas compiled when their route first needs them instead of at start-up. Fastify
 * compiles the Ajv validator and the fast-json-stringify serializer of every route schema in
 * `ready()`: for the admin API's routes that was about a quarter of the CPU of starting, and the
 * generated code stayed in memory on instances whose admin API is never called (an IdP only
 * calls SCIM, which has no route schemas). Here each schema gets a stand-in that compiles it
 * with Fastify's own default compilers, with the same options, on its first call: the same
 * validation, the same serialization and the same errors, a few milliseconds later.
 *
 * A schema that does not compile now fails its route's first request (a 500) instead of the
 * start; test/http/schema-compilers.test.ts compiles every route's schemas to keep that from
 * shipping.
 */
import { createRequire } from 'node:module';
import type { FastifyServerOptions } from 'fastify';

type Factories = NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>;
type ValidatorFactory = NonNullable<Factories['buildValidator']>;
type SerializerFactory = NonNullable<Factories['buildSerializer']>;
type ValidatorCompiler = ReturnType<ValidatorFactory>;
type SerializerCompiler = ReturnType<SerializerFactory>;
type Validator = ReturnType<ValidatorCompiler>;
type Serializer = ReturnType<SerializerCompiler>;

/** The factories for Fastify's `schemaController` option, and a way to compile what is still pending. */
export interface LazySchemaCompilers {
  readonly compilersFactory: { readonly buildValidator: ValidatorFactory; readonly buildSerializer: SerializerFactory };
  /** Compiles every schema no request has needed yet; returns how many there were. Throws what a compiler throws. */
  compilePending(): number;
}

// Fastify's defaults, from Fastify's own dependencies (the versions it was built with), loaded
// when the first schema is compiled.
const fromFastify = createRequire(createRequire(import.meta.url).resolve('fastify'));
let defaults: { readonly buildValidator: ValidatorFactory; readonly buildSerializer: SerializerFactory } | undefined;
function fastifyDefaults(): { readonly buildValidator: ValidatorFactory; readonly buildSerializer: SerializerFactory } {
  defaults ??= {
    // Both packages export a function that makes a factory with its own cache (one Ajv per
    // set of shared schemas and options), as Fastify does once per server.
    buildValidator: (fromFastify('@fastify/ajv-compiler') as () => ValidatorFactory)(),
    buildSerializer: (fromFastify('@fastify/fast-json-stringify-compiler') as () => SerializerFactory)(),
  };
  return defaults;
}

/** Creates the factories of one app: each schema is compiled on its first use, once. */
export function createLazySchemaCompilers(): LazySchemaCompilers {
  const pending = new Set<() => unknown>();

  /** A function that compiles with `compile` on its first call and then is what it compiled. */
  function deferred<T>(compile: () => T): () => T {
    let compiled: { value: T } | undefined;
    const get = (): T => {
      if (compiled === undefined) {
        compiled = { value: compile() };
        pending.delete(get);
      }
      return compiled.value;
    };
    pending.add(get);
    return get;
  }

  const buildValidator: ValidatorFactory = (externalSchemas, options) => {
    // The factory itself builds an Ajv instance and compiles its meta-schema: deferred too.
    const compiler = deferred(() => fastifyDefaults().buildValidator(externalSchemas, options));
    return ((route: Parameters<ValidatorCompiler>[0]) => {
      // Fastify lowercases a headers schema's names only for its own compiler, and Node gives
      // header names in lowercase: with ours, `Authorization` would silently never match.
      if (route.httpPart === 'headers') throw new Error(`${route.method} ${route.url}: route schemas do not declare headers (see src/http/schema-compilers.ts); check them in the handler`);
      const validator = deferred(() => compiler()(route));
      const standIn = (...args: unknown[]): unknown => (validator() as (...args: unknown[]) => unknown)(...args);
      // Fastify reads these off the function: `schemaEnv` (an Ajv validator, which it then
      // calls with the parent object so that Ajv may replace the root value) and `errors`
      // after a failed validation.
      Object.defineProperty(standIn, 'schemaEnv', { get: () => (validator() as { schemaEnv?: unknown }).schemaEnv });
      Object.defineProperty(standIn, 'errors', { get: () => validator().errors });
      return standIn as Validator;
    }) as ValidatorCompiler;
  };

  const buildSerializer: SerializerFactory = (externalSchemas, options) => {
    const compiler = deferred(() => fastifyDefaults().buildSerializer(externalSchemas, options));
    return ((route: Parameters<SerializerCompiler>[0]) => {
      const serializer = deferred(() => compiler()(route));
      return ((data: unknown) => serializer()(data)) as Serializer;
    }) as SerializerCompiler;
  };

  return {
    compilersFactory: { buildValidator, buildSerializer },
    compilePending() {
      let count = 0;
      // Compiling a route's schema compiles its scope's compiler first, which leaves the set.
      for (const compile of [...pending]) {
        if (!pending.has(compile)) continue;
        compile();
        count += 1;
      }
      return count;
    },
  };
}
