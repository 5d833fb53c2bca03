/**
 * The layering rules of docs ARCHITECTURE.md, checked on the source text so that they keep
 * holding: all SQL lives in src/store/, and src/ modules import one another without cycles.
 * A static scan, not a type-checker: it reads every .ts file under src/ as text. And one rule
 * of the HTTP layer, checked on the running app: every admin API route declares the schemas
 * that validate its input and describe it (src/http/routes/api/common.ts).
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import Fastify from 'fastify';
import { adminRouteProblems, enforceAdminRoutePattern, strictObject } from '../src/http/routes/api/common.ts';
import { startTestApp } from './support/app.ts';
import { registeredAdminRoutes } from './support/routes.ts';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');

/** Every .ts file under `directory`, as absolute paths. */
function sourceFiles(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) => {
    const path = join(directory, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/**
 * The code without its comments, so that a comment may name a query method. Line comments
 * count only after whitespace or at a line start, which leaves `http://` in strings alone.
 */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|\s)\/\/.*$/gm, '$1');
}

const QUERY_BUILDER_CALL = /\b(selectFrom|insertInto|updateTable|deleteFrom)\s*\(/g;
/** `import { sql } from 'kysely'`, `import { sql as raw, type X } from "kysely"`: a value import of `sql`. */
const SQL_IMPORT = /\bimport\s+(?!type\b)\{([^}]*)\}\s*from\s*['"]kysely['"]/g;

/** What in one file breaks "all SQL lives in src/store/". */
function sqlOutsideStore(text: string): string[] {
  const code = withoutComments(text);
  const found = [...code.matchAll(QUERY_BUILDER_CALL)].map((match) => `${match[1]}(`);
  for (const match of code.matchAll(SQL_IMPORT)) {
    const names = (match[1] ?? '').split(',').map((name) => name.trim());
    if (names.some((name) => /^sql\b/.test(name))) found.push("import { sql } from 'kysely'");
  }
  return found;
}

/** Relative module specifiers a file imports or re-exports at run time (`import type` / `export type` left out). */
function runtimeImports(text: string): string[] {
  const code = withoutComments(text);
  const statement = /\b(import|export)\s+(type\s+)?(?:[^'";]*?\s+from\s+)?['"](\.{1,2}\/[^'"]+)['"]/g;
  return [...code.matchAll(statement)].filter((match) => match[2] === undefined).map((match) => match[3] ?? '');
}

/** The import cycles among `graph`'s modules, each as a path that returns to its start. */
function findCycles(graph: ReadonlyMap<string, readonly string[]>): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'open');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'open') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (state.get(next) === undefined) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...graph.keys()].sort()) if (state.get(node) === undefined) visit(node);
  return cycles;
}

/** Modules that import nothing of Roster's own, so any layer may use them. */
const LEAF_MODULES = ['src/text.ts', 'src/ids.ts', 'src/errors.ts', 'src/signals.ts'];

const files = sourceFiles(SRC);
const name = (path: string): string => relative(ROOT, path).split('\\').join('/');

describe('architecture', () => {
  test('no file under src/ outside src/store/ builds queries or imports sql from kysely', () => {
    const store = join(SRC, 'store') + '/';
    const offenders = files
      .filter((path) => !path.startsWith(store))
      .flatMap((path) => sqlOutsideStore(readFileSync(path, 'utf8')).map((what) => `${name(path)}: ${what}`));
    assert.deepEqual(offenders, [], `SQL belongs in src/store/ (ARCHITECTURE.md); move these into a query factory there:\n${offenders.join('\n')}`);
  });

  test('src/http/ reaches the database only through the services (store/index.ts for the health check aside)', () => {
    const http = join(SRC, 'http') + '/';
    const offenders = files
      .filter((path) => path.startsWith(http))
      .flatMap((path) =>
        runtimeImports(readFileSync(path, 'utf8'))
          .map((specifier) => name(resolve(dirname(path), specifier)))
          .filter((module) => module.startsWith('src/store/') && module !== 'src/store/index.ts')
          .map((module) => `${name(path)} imports ${module}`),
      );
    assert.deepEqual(offenders, [], `Each layer only calls the one below it (ARCHITECTURE.md); go through directory/ or auth/:\n${offenders.join('\n')}`);
  });

  test('src/journal/ sits below auth/ and directory/: it imports only store/ and leaf modules', () => {
    const journal = join(SRC, 'journal') + '/';
    const allowed = (module: string): boolean => module.startsWith('src/journal/') || module.startsWith('src/store/') || LEAF_MODULES.includes(module);
    const offenders = files
      .filter((path) => path.startsWith(journal))
      .flatMap((path) =>
        runtimeImports(readFileSync(path, 'utf8'))
          .map((specifier) => name(resolve(dirname(path), specifier)))
          .filter((module) => !allowed(module))
          .map((module) => `${name(path)} imports ${module}`),
      );
    assert.ok(files.some((path) => path.startsWith(journal)), 'src/journal/ has no files');
    assert.deepEqual(offenders, [], `The journal is the writer below auth/ and directory/ (ARCHITECTURE.md); it may not reach up:\n${offenders.join('\n')}`);
  });

  test('src/settings.ts sits below auth/ and directory/ with the journal: it imports only store/, the journal and leaf modules', () => {
    const allowed = (module: string): boolean => module.startsWith('src/journal/') || module.startsWith('src/store/') || LEAF_MODULES.includes(module);
    const offenders = runtimeImports(readFileSync(join(SRC, 'settings.ts'), 'utf8'))
      .map((specifier) => name(resolve(SRC, specifier)))
      .filter((module) => !allowed(module));
    assert.deepEqual(offenders, [], `Settings are kept by auth/ and directory/ alike; src/settings.ts may not reach up into either:\n${offenders.join('\n')}`);
  });

  // text.ts is the floor: it imports nothing. The other leaves may use it (errors.ts writes hidden
  // characters out with it), and nothing else of Roster's, so no leaf can sit in a circle.
  test('leaf modules import nothing of Roster\'s own but src/text.ts, which imports nothing', () => {
    const offenders = LEAF_MODULES.flatMap((module) =>
      runtimeImports(readFileSync(join(ROOT, module), 'utf8'))
        .filter((specifier) => module === 'src/text.ts' || name(resolve(dirname(join(ROOT, module)), specifier)) !== 'src/text.ts')
        .map((specifier) => `${module} imports ${specifier}`),
    );
    assert.deepEqual(offenders, []);
  });

  test('auth/ does not reach up into directory/', () => {
    const auth = join(SRC, 'auth') + '/';
    const offenders = files
      .filter((path) => path.startsWith(auth))
      .flatMap((path) =>
        runtimeImports(readFileSync(path, 'utf8'))
          .map((specifier) => name(resolve(dirname(path), specifier)))
          .filter((module) => module.startsWith('src/directory/'))
          .map((module) => `${name(path)} imports ${module}`),
      );
    assert.deepEqual(offenders, [], `auth/ is below directory/ (record changes through src/journal/, keep settings through src/settings.ts, raise src/errors.ts):\n${offenders.join('\n')}`);
  });

  test('audit entries and events are written only through src/journal/: nothing else imports the journal SQL', () => {
    const offenders = files
      .filter((path) => !name(path).startsWith('src/journal/') && !name(path).startsWith('src/store/'))
      .flatMap((path) =>
        runtimeImports(readFileSync(path, 'utf8'))
          .map((specifier) => name(resolve(dirname(path), specifier)))
          .filter((module) => module === 'src/store/journal.ts')
          .map((module) => `${name(path)} imports ${module}`),
      );
    assert.deepEqual(offenders, [], `One writer (ARCHITECTURE.md): record changes with src/journal/journal.ts:\n${offenders.join('\n')}`);
  });

  test('the webhook worker (src/delivery/) runs inside serve: only main.ts starts it, and it never reaches into http/', () => {
    const delivery = 'src/delivery/';
    // config.ts reads the worker's defaults (the retry schedule, the lease) to validate the environment.
    const allowedImporters = ['src/main.ts', 'src/config.ts'];
    const offenders = files.flatMap((path) =>
      runtimeImports(readFileSync(path, 'utf8'))
        .map((specifier) => name(resolve(dirname(path), specifier)))
        .filter((module) => {
          const from = name(path);
          if (from.startsWith(delivery)) return module.startsWith('src/http/') || module.startsWith('src/cli/');
          return module.startsWith(delivery) && !allowedImporters.includes(from);
        })
        .map((module) => `${name(path)} imports ${module}`),
    );
    assert.ok(files.some((path) => name(path).startsWith(delivery)), 'src/delivery/ has no files');
    assert.deepEqual(offenders, [], `The deliveries sit beside http/ on top of directory/ (ARCHITECTURE.md):\n${offenders.join('\n')}`);
  });

  test('only the test suite selects the test-only password cost: nothing under src/ calls usePasswordHashCost', () => {
    const offenders = files.filter((path) => /\busePasswordHashCost\s*\(/.test(withoutComments(readFileSync(path, 'utf8'))) && name(path) !== 'src/auth/passwords.ts');
    assert.deepEqual(offenders.map(name), [], 'Roster hashes passwords at the OWASP cost; test/support/fast-password-hashing.mjs alone lowers it');
    // The scan must see the call it looks for, or a renamed function would pass.
    assert.match(readFileSync(join(ROOT, 'test', 'support', 'fast-password-hashing.mjs'), 'utf8'), /\busePasswordHashCost\('test-only'\)/);
  });

  test('src/ modules import one another without cycles', () => {
    const graph = new Map<string, string[]>();
    for (const path of files) {
      const imports = runtimeImports(readFileSync(path, 'utf8')).map((specifier) => name(resolve(dirname(path), specifier)));
      graph.set(name(path), imports);
    }
    // The scan must see the real edges, or an empty graph would pass.
    assert.ok((graph.get('src/services.ts') ?? []).includes('src/auth/tokens.ts'), 'the import scan found no edges');
    const cycles = findCycles(graph).map((cycle) => cycle.join(' -> '));
    assert.deepEqual(cycles, [], `import cycles:\n${cycles.join('\n')}`);
  });

  test('every admin API route that takes a body declares a schema refusing unknown fields, and is in the API description', async () => {
    const roster = await startTestApp({ scim: false });
    try {
      const doc = JSON.parse((await roster.app.inject({ method: 'GET', url: '/api/v2/api-docs' })).body);
      const routes = registeredAdminRoutes(roster.app);
      assert.ok(routes.length >= 20, `the route scan found only ${routes.length} admin routes`);
      const offenders = routes.flatMap((route) => {
        const [method = '', path = ''] = route.split(' ');
        const operation = doc.paths[path]?.[method.toLowerCase()];
        if (operation === undefined) return [`${route}: not in /api/v2/api-docs`];
        if (!['POST', 'PUT', 'PATCH'].includes(method)) return [];
        const body = operation.requestBody?.content?.['application/json']?.schema;
        const schema = body?.$ref === undefined ? body : doc.components.schemas[body.$ref.split('/').pop()];
        return schema?.additionalProperties === false ? [] : [`${route}: its body schema does not refuse unknown fields`];
      });
      assert.deepEqual(offenders, [], `Declare admin API routes as src/http/routes/api/common.ts shows:\n${offenders.join('\n')}`);
    } finally {
      await roster.close();
    }
  });

  test('an admin API route without a body schema, or with an open one, cannot be registered', async () => {
    const response = { 200: { type: 'object', additionalProperties: false, properties: {} } };
    assert.deepEqual(adminRouteProblems({ method: 'POST', url: '/api/v2/widgets' }), ['it declares no schema']);
    assert.deepEqual(adminRouteProblems({ method: 'POST', url: '/api/v2/widgets', schema: { operationId: 'createWidget', response } }), [
      'it takes a body but declares no body schema (use strictObject(), or NO_BODY)',
    ]);
    const open = { type: 'object', properties: { name: { type: 'string' }, size: { type: 'object', properties: {} } } };
    assert.deepEqual(adminRouteProblems({ method: 'PATCH', url: '/api/v2/widgets/:id', schema: { operationId: 'w', body: open, response } }), [
      'body accepts unknown fields: give it additionalProperties: false (strictObject() does)',
      'body.size accepts unknown fields: give it additionalProperties: false (strictObject() does)',
    ]);
    assert.deepEqual(adminRouteProblems({ method: 'GET', url: '/api/v2/widgets', schema: { response } }), ['it has no operationId']);
    assert.deepEqual(adminRouteProblems({ method: 'GET', url: '/api/v2/widgets', schema: { operationId: 'w' } }), ['it describes no success response (schema.response)']);
    assert.deepEqual(adminRouteProblems({ method: 'POST', url: '/api/v2/widgets', schema: { operationId: 'w', body: strictObject({ name: { type: 'string' } }), response } }), []);
    const checkedElsewhere = strictObject({ definition: { type: 'object', additionalProperties: true, description: 'checked by scim/' } });
    assert.deepEqual(adminRouteProblems({ method: 'POST', url: '/api/v2/widgets', schema: { operationId: 'w', body: checkedElsewhere, response } }), [], 'open on purpose');
    assert.deepEqual(adminRouteProblems({ method: 'POST', url: '/api/v2/widgets', schema: { operationId: 'w', body: { type: 'object', additionalProperties: true }, response } }), [
      'body accepts unknown fields: give it additionalProperties: false (strictObject() does)',
    ], 'the body itself never');
    assert.deepEqual(adminRouteProblems({ method: 'POST', url: '/api/scim/v2/Widgets' }), [], 'SCIM keeps its own validation');
    assert.deepEqual(adminRouteProblems({ method: 'POST', url: '/saml/widgets' }), []);

    const app = Fastify();
    enforceAdminRoutePattern(app);
    assert.throws(() => app.post('/api/v2/widgets', async () => ({})), /Admin API route POST \/api\/v2\/widgets does not follow src\/http\/routes\/api\/common\.ts: it declares no schema/);
    app.post('/saml/widgets', async () => ({}));
    await app.close();
  });

  describe('the scanners themselves', () => {
    test('a query builder call or a value import of sql is found; comments, type imports and other names are not', () => {
      assert.deepEqual(sqlOutsideStore("await db.selectFrom('users').execute();"), ['selectFrom(']);
      assert.deepEqual(sqlOutsideStore("db\n  .deleteFrom('sessions')"), ['deleteFrom(']);
      assert.deepEqual(sqlOutsideStore("import { type Kysely, sql } from 'kysely';"), ["import { sql } from 'kysely'"]);
      assert.deepEqual(sqlOutsideStore("import {\n  sql,\n} from \"kysely\";"), ["import { sql } from 'kysely'"]);
      assert.deepEqual(sqlOutsideStore("import type { Transaction } from 'kysely';"), []);
      assert.deepEqual(sqlOutsideStore("import { sqlish } from './x.ts';\n// db.insertInto('x') was here\n/* updateTable( */"), []);
      assert.deepEqual(sqlOutsideStore("const url = 'http://x'; tokens.insert(db, row);"), []);
    });

    test('relative value imports and re-exports are edges; type-only ones and packages are not', () => {
      const text = [
        "import { a } from './a.ts';",
        "import type { B } from '../b.ts';",
        "import * as c from './c.ts';",
        "import './d.ts';",
        "export { e } from './e.ts';",
        "export type { F } from './f.ts';",
        "import { g, type G } from './g.ts';",
        "import Fastify from 'fastify';",
        "import {\n  h,\n} from './h.ts';",
      ].join('\n');
      assert.deepEqual(runtimeImports(text), ['./a.ts', './c.ts', './d.ts', './e.ts', './g.ts', './h.ts']);
    });

    test('a cycle is reported as the path that closes it', () => {
      const graph = new Map([
        ['a', ['b']],
        ['b', ['c']],
        ['c', ['a', 'd']],
        ['d', []],
      ]);
      assert.deepEqual(findCycles(graph), [['a', 'b', 'c', 'a']]);
      assert.deepEqual(findCycles(new Map([['a', ['b']], ['b', []]])), []);
    });
  });
});
