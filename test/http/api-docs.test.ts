/**
 * GET /api/v2/api-docs: the OpenAPI 3.1 description of the admin API, generated from the route
 * schemas that validate requests. Checked here: it is served, it is structurally valid OpenAPI
 * 3.1, it describes every admin route the app registers (and nothing else), and every body it
 * describes refuses a field it does not describe.
 *
 * SQLite only: the document does not depend on the database, and the requests below are
 * refused by validation before any query but the token check runs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startTestApp, BASE_URL, type TestApp, SESSION_COOKIE } from '../support/app.ts';
import { registeredAdminRoutes } from '../support/routes.ts';

const DOCS = '/api/v2/api-docs';
const OPERATION_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;

type Json = any;

/** `METHOD /path` for each operation of the document. */
function documentedOperations(doc: Json): string[] {
  return Object.entries(doc.paths as Record<string, Json>)
    .flatMap(([path, item]) => OPERATION_METHODS.filter((method) => item[method] !== undefined).map((method) => `${method.toUpperCase()} ${path}`))
    .sort();
}

/** The value a local JSON pointer (`#/components/schemas/User`) designates, or undefined. */
function resolvePointer(doc: Json, ref: string): Json {
  if (!ref.startsWith('#/')) return undefined;
  let node: Json = doc;
  for (const raw of ref.slice(2).split('/')) {
    const token = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, token)) return undefined;
    node = node[token];
  }
  return node;
}

/** Every `$ref` value in the document. */
function references(node: Json, found: string[] = []): string[] {
  if (Array.isArray(node)) for (const item of node) references(item, found);
  else if (node !== null && typeof node === 'object') {
    for (const [key, value] of Object.entries(node)) {
      if (key === '$ref' && typeof value === 'string') found.push(value);
      else references(value, found);
    }
  }
  return found;
}

/**
 * The structural rules of OpenAPI 3.1 (https://spec.openapis.org/oas/v3.1.0) that a generator
 * can get wrong, as a list of problems. Not a full validator: no validator package is installed.
 */
function openApiProblems(doc: Json): string[] {
  const problems: string[] = [];
  if (typeof doc.openapi !== 'string' || !/^3\.1\.\d+$/.test(doc.openapi)) problems.push(`openapi is ${doc.openapi}, not 3.1.x`);
  if (typeof doc.info?.title !== 'string' || typeof doc.info?.version !== 'string') problems.push('info.title and info.version are required strings');
  if (doc.paths === null || typeof doc.paths !== 'object') problems.push('paths is missing');
  for (const ref of references(doc)) if (resolvePointer(doc, ref) === undefined) problems.push(`$ref ${ref} does not resolve`);
  const schemes = doc.components?.securitySchemes ?? {};
  for (const [name, scheme] of Object.entries(schemes as Record<string, Json>)) {
    if (!['apiKey', 'http', 'mutualTLS', 'oauth2', 'openIdConnect'].includes(scheme.type)) problems.push(`security scheme ${name} has type ${scheme.type}`);
    if (scheme.type === 'apiKey' && (typeof scheme.name !== 'string' || !['query', 'header', 'cookie'].includes(scheme.in))) problems.push(`apiKey scheme ${name} needs name and in`);
    if (scheme.type === 'http' && typeof scheme.scheme !== 'string') problems.push(`http scheme ${name} needs scheme`);
  }
  const operationIds = new Set<string>();
  const checkSecurity = (where: string, security: Json): void => {
    if (security === undefined) return;
    if (!Array.isArray(security)) problems.push(`${where}: security must be a list`);
    else for (const requirement of security) for (const name of Object.keys(requirement)) if (!Object.hasOwn(schemes, name)) problems.push(`${where}: unknown security scheme ${name}`);
  };
  checkSecurity('document', doc.security);
  for (const [path, item] of Object.entries((doc.paths ?? {}) as Record<string, Json>)) {
    if (!path.startsWith('/')) problems.push(`path ${path} does not start with /`);
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((match) => match[1]);
    for (const method of OPERATION_METHODS) {
      const operation = item[method];
      if (operation === undefined) continue;
      const where = `${method.toUpperCase()} ${path}`;
      if (typeof operation.operationId === 'string') {
        if (operationIds.has(operation.operationId)) problems.push(`${where}: operationId ${operation.operationId} is used twice`);
        operationIds.add(operation.operationId);
      } else problems.push(`${where}: no operationId`);
      const responses = Object.entries((operation.responses ?? {}) as Record<string, Json>);
      if (responses.length === 0) problems.push(`${where}: no responses`);
      if (!responses.some(([code]) => /^2(\d\d|XX)$/.test(code))) problems.push(`${where}: no success response`);
      for (const [code, response] of responses) {
        if (!/^([1-5](\d\d|XX)|default)$/.test(code)) problems.push(`${where}: response key ${code}`);
        const target = response.$ref === undefined ? response : resolvePointer(doc, response.$ref);
        if (typeof target?.description !== 'string') problems.push(`${where} ${code}: a response needs a description`);
      }
      const parameters = (operation.parameters ?? []) as Json[];
      const seen = new Set<string>();
      for (const parameter of parameters) {
        if (typeof parameter.name !== 'string' || !['query', 'header', 'path', 'cookie'].includes(parameter.in)) problems.push(`${where}: parameter without name or in`);
        if (seen.has(`${parameter.in}:${parameter.name}`)) problems.push(`${where}: parameter ${parameter.name} twice`);
        seen.add(`${parameter.in}:${parameter.name}`);
        if (parameter.in === 'path' && parameter.required !== true) problems.push(`${where}: path parameter ${parameter.name} must be required`);
        if (parameter.schema === undefined && parameter.content === undefined) problems.push(`${where}: parameter ${parameter.name} has no schema`);
      }
      const inPath = parameters.filter((parameter) => parameter.in === 'path').map((parameter) => parameter.name).sort();
      if (JSON.stringify(inPath) !== JSON.stringify([...templated].sort())) problems.push(`${where}: path parameters ${inPath} do not match the template`);
      if (operation.requestBody !== undefined && Object.keys(operation.requestBody.content ?? {}).length === 0) problems.push(`${where}: requestBody without content`);
      checkSecurity(where, operation.security);
    }
  }
  return problems;
}

/** The schema a requestBody or response designates, its `$ref` followed. */
function schemaOf(doc: Json, node: Json): Json {
  const schema = Object.values((node?.content ?? {}) as Record<string, Json>)[0]?.schema;
  return schema?.$ref === undefined ? schema : resolvePointer(doc, schema.$ref);
}

describe('GET /api/v2/api-docs', () => {
  let roster: TestApp;
  let doc: Json;
  before(async () => {
    roster = await startTestApp({ scim: false });
    const response = await roster.app.inject({ method: 'GET', url: DOCS });
    assert.equal(response.statusCode, 200, response.body);
    doc = JSON.parse(response.body);
  });
  after(() => roster.close());

  test('is served without authentication, as JSON, naming this instance as the server', async () => {
    const response = await roster.app.inject({ method: 'GET', url: DOCS });
    assert.match(String(response.headers['content-type']), /^application\/json/);
    assert.equal(doc.openapi, '3.1.0');
    assert.deepEqual(doc.servers, [{ url: BASE_URL }]);
  });

  test('is structurally valid OpenAPI 3.1: required fields, resolvable $refs, responses on every operation', () => {
    assert.deepEqual(openApiProblems(doc), []);
    // The checker itself must catch what it claims to.
    const broken = structuredClone(doc);
    broken.openapi = '3.0.3';
    const firstItem: Json = Object.values(broken.paths)[0];
    const firstOperation = firstItem.get ?? Object.values(firstItem)[0];
    firstOperation.responses = {};
    firstOperation.parameters = [...(firstOperation.parameters ?? []), { name: 'x', in: 'query', schema: { $ref: '#/components/schemas/Nope' } }];
    const problems = openApiProblems(broken).join('\n');
    assert.match(problems, /not 3\.1/);
    assert.match(problems, /no responses/);
    assert.match(problems, /Nope does not resolve/);
  });

  test('describes every admin route the app registers, and nothing else (no SCIM, no /saml pages)', () => {
    const registered = registeredAdminRoutes(roster.app);
    assert.ok(registered.length >= 20, `the route scan found only ${registered.length} routes`);
    assert.ok(registered.includes('PATCH /api/v2/users-management/users/{id}'));
    assert.deepEqual(documentedOperations(doc), registered);
  });

  test('declares how to authenticate: a bearer token, or an administrator\'s session where the route takes one', () => {
    assert.equal(doc.components.securitySchemes.bearerToken.scheme, 'bearer');
    assert.deepEqual(doc.components.securitySchemes.session, { type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: doc.components.securitySchemes.session.description });
    // The console's scripts call the admin API with the administrator's session (and its CSRF token).
    assert.deepEqual(doc.paths['/api/v2/users-management/users'].get.security, [{ bearerToken: [] }, { session: [] }]);
    assert.deepEqual(doc.paths['/api/v2/authentication/saml'].put.security, [{ bearerToken: [] }, { session: [] }]);
    assert.deepEqual(doc.paths['/api/users/current'].get.security, [{ session: [] }]);
  });

  test('describes lists with their page and errors with the {"message"} shape', () => {
    const list = schemaOf(doc, doc.paths['/api/v2/users-management/users'].get.responses['200']);
    assert.deepEqual(Object.keys(list.properties).sort(), ['page', 'users']);
    assert.deepEqual(resolvePointer(doc, list.properties.page.$ref).required, ['pageIndex', 'pageSize', 'total']);
    const error = schemaOf(doc, doc.paths['/api/v2/authorizations/groups'].post.responses['400']);
    assert.deepEqual(error.required, ['message']);
    assert.ok(doc.paths['/api/v2/authorizations/groups/{id}'].get.responses['404']);
    assert.ok(doc.paths['/api/v2/authorizations/groups'].get.responses['401']);
  });

  test('every operation may answer 503, and every one the rate limit counts 429, each {"message"} with Retry-After in seconds', () => {
    let operations = 0;
    for (const [path, item] of Object.entries(doc.paths as Record<string, Json>)) {
      for (const method of OPERATION_METHODS.filter((name) => item[name] !== undefined)) {
        operations += 1;
        const where = `${method.toUpperCase()} ${path}`;
        // /api/users/current takes a session of any user and is not rate limited (docs/api.md).
        const statuses = path === '/api/users/current' ? ['503'] : ['429', '503'];
        for (const status of statuses) {
          const response = item[method].responses[status];
          assert.ok(response !== undefined, `${where} lacks ${status}`);
          assert.deepEqual(schemaOf(doc, response).required, ['message'], `${where} ${status}`);
          assert.equal(response.headers?.['Retry-After']?.schema?.type, 'integer', `${where} ${status}: Retry-After`);
          assert.match(response.headers['Retry-After'].description, /seconds/i, `${where} ${status}`);
        }
      }
    }
    assert.ok(operations >= 20, `only ${operations} operations`);
    assert.equal(doc.paths['/api/users/current'].get.responses['429'], undefined, 'no rate limit there');
  });

  test('the audit export is described as it answers: JSON lines or CSV, as an attachment', async () => {
    const ok = doc.paths['/api/v2/audit-logs/export'].get.responses['200'];
    assert.deepEqual(Object.keys(ok.content).sort(), ['application/x-ndjson', 'text/csv']);
    assert.ok(ok.headers['Content-Disposition'], 'Content-Disposition is described');
    for (const format of ['jsonl', 'csv']) {
      const answer = await roster.request('GET', `/api/v2/audit-logs/export?format=${format}`);
      assert.equal(answer.status, 200);
      const mediaType = String(answer.headers['content-type']).split(';')[0] ?? '';
      assert.ok(Object.hasOwn(ok.content, mediaType), `${format} is answered as ${mediaType}, which the document describes`);
      assert.match(String(answer.headers['content-disposition']), /^attachment; filename=/);
    }
  });

  test('the audit entry names every kind of actor the trail records, password sign-ins included', () => {
    const entry = resolvePointer(doc, '#/components/schemas/AuditLogEntry');
    for (const actor of ['token:<name>', 'session:<login>', 'saml:<login>', 'password:<login>', 'cli', 'system']) {
      assert.ok(entry.properties.actor.description.includes(`\`${actor}\``), `${actor} in ${entry.properties.actor.description}`);
    }
  });

  test('every body it describes refuses fields it does not describe', async () => {
    const withBody = Object.entries(doc.paths as Record<string, Json>).flatMap(([path, item]) =>
      OPERATION_METHODS.filter((method) => item[method]?.requestBody !== undefined).map((method) => ({ method, path, schema: schemaOf(doc, item[method].requestBody) })),
    );
    assert.ok(withBody.length >= 8, `only ${withBody.length} operations take a body`);
    for (const { method, path, schema } of withBody) {
      assert.equal(schema.additionalProperties, false, `${method} ${path}`);
      const response = await roster.request(method.toUpperCase() as 'POST', path.replace(/\{\w+\}/g, 'some-id'), { rosterUnknownField: 1 });
      assert.equal(response.status, 400, `${method} ${path}: ${JSON.stringify(response.body)}`);
      assert.match(response.body.message, /^Unknown field\(s\): rosterUnknownField\b/, `${method} ${path}`);
    }
  });

  test('what the API answers has the fields the document describes', async () => {
    const created = await roster.request('POST', '/api/v2/users-management/users', { login: 'ada', name: 'Ada', local: false });
    const user = schemaOf(doc, doc.paths['/api/v2/users-management/users/{id}'].get.responses['200']);
    assert.deepEqual(Object.keys(created.body).sort(), Object.keys(user.properties).sort());
    const saml = (await roster.request('GET', '/api/v2/authentication/saml')).body;
    const settings = schemaOf(doc, doc.paths['/api/v2/authentication/saml'].get.responses['200']);
    assert.deepEqual(Object.keys(saml).sort(), Object.keys(settings.properties).sort());
  });
});
