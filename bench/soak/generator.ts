/**
 * The soak's request generator: from a seed, an endless stream of valid and hostile requests
 * across SCIM, the admin API and the SAML endpoints. The same seed gives the same stream (given
 * the same answers: created ids are reused), so any 5xx can be replayed with `--seed`.
 */

/** One request to send. `body` is sent as is (already serialised). */
export interface SoakRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  readonly path: string;
  readonly headers: Record<string, string>;
  readonly body?: string;
}

/** What the generator learns from answers: ids to reuse in later requests. */
export interface SoakMemory {
  readonly users: string[];
  readonly groups: string[];
}

const SCIM = '/api/scim/v2';
const SCIM_JSON = 'application/scim+json';
const FORM = 'application/x-www-form-urlencoded';
const PATCH_OP = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';
const USER_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const BULK_SCHEMA = 'urn:ietf:params:scim:api:messages:2.0:BulkRequest';
const KEEP = 400;

/** Percent-encodes a path segment; a lone surrogate becomes the bytes of one (%ED%A0%80), invalid UTF-8 on purpose. */
function segment(text: string): string {
  return text
    .split(/(\p{Cs})/u)
    .map((part) => (/^\p{Cs}$/u.test(part) ? '%ED%A0%80' : encodeURIComponent(part)))
    .join('');
}

/** mulberry32: small, fast, and the same everywhere. */
export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Creates the stream for `seed`; `token` authenticates the API requests that should pass. */
export function createGenerator(seed: number, token: string): { next(): SoakRequest; remember(request: SoakRequest, status: number, body: string): void; memory: SoakMemory } {
  const random = prng(seed);
  const memory: SoakMemory = { users: [], groups: [] };
  const int = (n: number): number => Math.floor(random() * n);
  const chance = (p: number): boolean => random() < p;
  const pick = <T>(items: readonly T[]): T => items[int(items.length)] as T;
  const auth = (): Record<string, string> => (chance(0.97) ? { authorization: `Bearer ${token}` } : pick([{}, { authorization: 'Bearer nope' }, { authorization: `Basic ${token}` }, { authorization: 'Bearer ' + 'x'.repeat(5000) }]));

  const ODD = ['', ' ', '\u0000', '\u202e', '\ud800', '\udfff', '\uffff', '🦄', 'é', 'e\u0301', 'İ', 'ß', '\u200b', '"', '\\', '%00', '${x}', '<script>', "'; DROP TABLE users; --", '\r\n', 'ﬀ', 'Ω', '\u00a0'];
  function text(max = 24): string {
    if (chance(0.02)) return 'x'.repeat(pick([1000, 10_000, 100_000, 300_000]));
    let out = '';
    const length = int(max) + 1;
    for (let i = 0; i < length; i += 1) out += chance(0.15) ? pick(ODD) : String.fromCharCode(97 + int(26));
    return out;
  }
  /** Text that HTTP allows in a header value (visible ASCII and spaces), odd bytes as `%XX`. */
  function headerText(max: number): string {
    return text(max).slice(0, 8000).replace(/[^\x20-\x7e]/g, (c) => `%${(c.charCodeAt(0) & 0xff).toString(16).padStart(2, '0')}`);
  }
  function value(depth = 0): unknown {
    switch (int(depth > 2 ? 6 : 9)) {
      case 0: return text();
      case 1: return int(1000) - 500;
      case 2: return chance(0.5);
      case 3: return null;
      case 4: return pick([1e308, -0, 3.14, Number.MAX_SAFE_INTEGER + 2]);
      case 5: return pick(['true', '1', '2026-13-45T00:00:00Z', '']);
      case 6: return Array.from({ length: int(4) }, () => value(depth + 1));
      case 7: return Object.fromEntries(Array.from({ length: int(4) }, () => [pick(['value', 'display', 'type', 'primary', '$ref', text(6), '__proto__', 'constructor']), value(depth + 1)]));
      default: return { value: text(), primary: chance(0.5), type: pick(['work', 'home', text(4)]) };
    }
  }
  const existing = (list: readonly string[]): string => (list.length > 0 && chance(0.85) ? pick(list) : pick([text(8), '00000000-0000-0000-0000-000000000000', '..%2f..%2f', '%00', '1 or 1=1']));

  function userBody(): unknown {
    if (chance(0.6)) {
      return {
        schemas: [USER_SCHEMA],
        userName: `soak-${int(1e9)}${chance(0.2) ? pick(ODD) : ''}@example.com`,
        ...(chance(0.5) ? { externalId: text(12) } : {}),
        ...(chance(0.5) ? { name: { givenName: text(10), familyName: text(10) } } : {}),
        ...(chance(0.5) ? { emails: [{ value: `${text(8)}@example.com`, type: 'work', primary: true }] } : {}),
        ...(chance(0.3) ? { active: chance(0.8) } : {}),
        ...(chance(0.3) ? { displayName: text(30) } : {}),
      };
    }
    const body: Record<string, unknown> = { schemas: chance(0.7) ? [USER_SCHEMA] : value() };
    for (const key of ['userName', 'name', 'emails', 'active', 'externalId', 'displayName', 'groups', 'id', 'meta', text(6)]) if (chance(0.5)) body[key] = value();
    return body;
  }

  function filter(): string {
    const attrs = ['userName', 'displayName', 'externalId', 'emails.value', 'emails[type eq "work"].value', 'meta.lastModified', 'members.value', 'active', 'name.familyName', text(5), 'id'];
    const ops = ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le', 'pr', 'EQ', 'xx'];
    const literal = (): string => pick([`"${text(8).replace(/"/g, '')}"`, 'true', 'null', String(int(100)), '"2026-01-01T00:00:00Z"', `"${text(4)}`, '']);
    const term = (depth: number): string => {
      if (depth < 3 && chance(0.3)) return `${term(depth + 1)} ${pick(['and', 'or', 'AND', 'xor'])} ${term(depth + 1)}`;
      if (depth < 3 && chance(0.15)) return `${chance(0.5) ? 'not ' : ''}(${term(depth + 1)}${chance(0.9) ? ')' : ''}`;
      const op = pick(ops);
      return op === 'pr' ? `${pick(attrs)} pr` : `${pick(attrs)} ${op} ${literal()}`;
    };
    if (chance(0.05)) return '('.repeat(int(3000));
    return term(0);
  }

  function query(): string {
    const params = new URLSearchParams();
    if (chance(0.6)) params.set('filter', filter());
    if (chance(0.3)) params.set('startIndex', pick(['1', '0', '-5', String(int(1000)), 'abc', '1e9']));
    if (chance(0.3)) params.set('count', pick(['10', '0', '-1', '100000', 'x', '2.5']));
    if (chance(0.2)) params.set(pick(['attributes', 'excludedAttributes']), pick(['userName', 'members', 'emails.value', text(6), 'a,b,,c']));
    if (chance(0.15)) params.set('sortBy', pick(['userName', 'meta.created', text(5)]));
    if (chance(0.1)) params.set('cursor', pick(['', text(10), 'AAAA']));
    const rendered = params.toString();
    return rendered === '' ? '' : `?${rendered}`;
  }

  function patchOps(target: 'Users' | 'Groups'): unknown {
    const paths = target === 'Groups'
      ? ['members', 'displayName', `members[value eq "${existing(memory.users)}"]`, 'externalId', text(5), 'members[value eq', '']
      : ['active', 'userName', 'emails[type eq "work"].value', 'name.givenName', 'displayName', text(5), 'emails[', ''];
    const count = chance(0.05) ? int(400) : int(5) + 1;
    const operations = Array.from({ length: count }, () => {
      const op: Record<string, unknown> = { op: pick(['add', 'remove', 'replace', 'Add', 'REPLACE', 'move', text(3)]) };
      if (chance(0.8)) op['path'] = pick(paths);
      if (chance(0.85)) {
        op['value'] = target === 'Groups' && chance(0.6)
          ? Array.from({ length: int(5) + 1 }, () => ({ value: existing(memory.users) }))
          : value();
      }
      return op;
    });
    return chance(0.9) ? { schemas: [PATCH_OP], Operations: operations } : { Operations: value() };
  }

  function bulk(): unknown {
    const operations = Array.from({ length: int(6) + 1 }, (_, i) => {
      const method = pick(['POST', 'PUT', 'PATCH', 'DELETE', 'GET', text(3)]);
      const resource = pick(['Users', 'Groups'] as const);
      return {
        method,
        bulkId: chance(0.8) ? `b${i}` : value(),
        path: method === 'POST' ? `/${resource}` : `/${resource}/${chance(0.3) ? `bulkId:b${int(6)}` : existing(resource === 'Users' ? memory.users : memory.groups)}`,
        ...(method !== 'DELETE' ? { data: method === 'PATCH' ? patchOps(resource) : resource === 'Users' ? userBody() : { schemas: [GROUP_SCHEMA], displayName: text(12), members: [{ value: chance(0.5) ? `bulkId:b${int(6)}` : existing(memory.users) }] } } : {}),
      };
    });
    return { schemas: [BULK_SCHEMA], ...(chance(0.5) ? { failOnErrors: int(4) } : {}), Operations: chance(0.95) ? operations : value() };
  }

  /** A JSON body, or with some chance something that is not: broken JSON, another type, a deep array. */
  function json(body: unknown): string {
    if (chance(0.9)) return JSON.stringify(body);
    return pick([
      '{', '', 'null', '[]', '"x"', '{"schemas":', JSON.stringify(body).slice(0, -1), '\u0000', '{"a":1,"a":2}',
      `${'['.repeat(5000)}${']'.repeat(5000)}`, `{"__proto__":{"admin":true}}`, JSON.stringify(body) + 'garbage',
    ]);
  }

  function scim(): SoakRequest {
    const contentType = chance(0.95) ? SCIM_JSON : pick(['application/json', 'text/plain', FORM, 'application/scim+json; charset=latin1', '']);
    const headers = (): Record<string, string> => ({ ...auth(), ...(contentType === '' ? {} : { 'content-type': contentType }) });
    switch (int(14)) {
      case 0: case 1: return { method: 'POST', path: `${SCIM}/Users`, headers: headers(), body: json(userBody()) };
      case 2: return { method: 'GET', path: `${SCIM}/Users${query()}`, headers: auth() };
      case 3: return { method: 'GET', path: `${SCIM}/Groups${query()}`, headers: auth() };
      case 4: return { method: 'GET', path: `${SCIM}/Users/${segment(existing(memory.users))}${chance(0.3) ? query() : ''}`, headers: auth() };
      case 5: return { method: 'PUT', path: `${SCIM}/Users/${segment(existing(memory.users))}`, headers: headers(), body: json(userBody()) };
      case 6: case 7: return { method: 'PATCH', path: `${SCIM}/Users/${segment(existing(memory.users))}`, headers: headers(), body: json(patchOps('Users')) };
      case 8: return { method: 'POST', path: `${SCIM}/Groups`, headers: headers(), body: json(chance(0.7) ? { schemas: [GROUP_SCHEMA], displayName: `soak ${text(10)} ${int(1e6)}`, members: memory.users.slice(0, int(4)).map((id) => ({ value: id })) } : value()) };
      case 9: case 10: return { method: 'PATCH', path: `${SCIM}/Groups/${segment(existing(memory.groups))}`, headers: headers(), body: json(patchOps('Groups')) };
      case 11: return { method: 'POST', path: `${SCIM}/Bulk`, headers: headers(), body: json(bulk()) };
      case 12: return { method: 'DELETE', path: `${SCIM}/${pick(['Users', 'Groups'])}/${segment(existing(chance(0.5) ? memory.users : memory.groups))}`, headers: auth() };
      default: return { method: pick(['GET', 'POST', 'DELETE'] as const), path: `${SCIM}/${pick(['ServiceProviderConfig', 'Schemas', 'ResourceTypes', 'Me', '.search', 'Users/.search', text(6), 'Schemas/' + text(8)])}`, headers: headers(), ...(chance(0.5) ? { body: json({ schemas: ['urn:ietf:params:scim:api:messages:2.0:SearchRequest'], filter: filter(), count: value() }) } : {}) };
    }
  }

  function admin(): SoakRequest {
    const params = (): string => `?${new URLSearchParams(Object.fromEntries(Array.from({ length: int(4) }, () => [pick(['q', 'p', 'ps', 'pageSize', 'pageIndex', 'from', 'to', 'action', 'active', 'managed', text(4)]), pick(['1', '-1', '1e9', 'true', text(6), '2026-01-01', ''])]))).toString()}`;
    const headers = { ...auth(), 'content-type': chance(0.9) ? 'application/json' : pick(['text/plain', FORM, 'application/merge-patch+json']) };
    switch (int(9)) {
      case 0: return { method: 'GET', path: `/api/v2/users-management/users${params()}`, headers: auth() };
      case 1: return { method: 'GET', path: `/api/v2/authorizations/groups${params()}`, headers: auth() };
      case 2: return { method: 'GET', path: `/api/v2/audit-logs${params()}`, headers: auth() };
      case 3: return { method: 'GET', path: `/api/v2/users-management/users/${segment(text(8))}${chance(0.5) ? '/sign-in-check' : ''}`, headers: auth() };
      case 4: return { method: 'PUT', path: '/api/v2/authentication/saml', headers, body: json(Object.fromEntries(Array.from({ length: int(5) }, () => [pick(['providerId', 'loginUrl', 'certificate', 'certificates', 'applicationId', 'spPrivateKey', text(5)]), value()]))) };
      case 5: return { method: 'POST', path: '/api/v2/authorizations/group-memberships', headers, body: json({ groupId: text(8), userId: text(8) }) };
      case 6: return { method: 'PATCH', path: `/api/v2/users-management/users/${segment(text(8))}`, headers: { ...headers, 'content-type': 'application/merge-patch+json' }, body: json({ name: value(), email: value() }) };
      case 7: return { method: 'GET', path: pick(['/api/scim_management/status', '/api/v2/provisioning-activity', '/api/v2/applications', '/api/users/current', '/healthz']), headers: auth() };
      default: return { method: 'POST', path: `/api/v2/${pick(['users-management/users', 'authorizations/groups', 'applications', text(6)])}`, headers, body: json(Object.fromEntries(Array.from({ length: int(4) }, () => [pick(['login', 'name', 'email', 'password', 'description', text(4)]), value()]))) };
    }
  }

  function samlXml(): string {
    const samlp = 'xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"';
    switch (int(10)) {
      case 0: return `<!DOCTYPE r [<!ENTITY a "${'a'.repeat(10)}">${Array.from({ length: 9 }, (_, i) => `<!ENTITY a${i} "${'&a;'.repeat(10)}">`).join('')}]><samlp:Response ${samlp}>&a8;</samlp:Response>`;
      case 1: return `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><samlp:Response ${samlp}>&x;</samlp:Response>`;
      case 2: return `<samlp:Response ${samlp} ID="_${int(1e9)}" Version="2.0" InResponseTo="${text(10).replace(/"/g, '')}"><saml:Issuer>${text(20)}</saml:Issuer><samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:${pick(['Success', 'Responder', 'Requester'])}"/></samlp:Status>${chance(0.5) ? `<saml:Assertion ID="_a" Version="2.0"><saml:Subject><saml:NameID>${text(10)}</saml:NameID></saml:Subject></saml:Assertion>` : ''}</samlp:Response>`;
      case 3: return '<?x'.repeat(int(20_000));
      case 4: return `<samlp:Response ${samlp}>${'<a>'.repeat(int(3000))}</samlp:Response>`;
      case 5: return `<samlp:Response ${samlp}><saml:EncryptedAssertion><xenc:EncryptedData xmlns:xenc="http://www.w3.org/2001/04/xmlenc#">${text(40)}</xenc:EncryptedData></saml:EncryptedAssertion></samlp:Response>`;
      case 6: return `<samlp:Response ${samlp}><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo><ds:Reference URI="#${text(5)}"/></ds:SignedInfo><ds:SignatureValue>${text(20)}</ds:SignatureValue></ds:Signature></samlp:Response>`;
      case 7: return text(200);
      case 8: return `<samlp:LogoutResponse ${samlp}/>`;
      default: return `<r>${text(100)}</r>`;
    }
  }

  function saml(): SoakRequest {
    switch (int(8)) {
      case 0: case 1: case 2: {
        const xml = samlXml();
        let encoded = Buffer.from(xml, chance(0.05) ? 'utf16le' : 'utf8').toString('base64');
        if (chance(0.1)) encoded = encoded.slice(0, int(encoded.length));
        if (chance(0.05)) encoded = encoded.replace(/[A-M]/g, '!');
        const form = new URLSearchParams({ SAMLResponse: encoded, ...(chance(0.3) ? { RelayState: text(20) } : {}) }).toString();
        const type = chance(0.92) ? FORM : pick(['application/json', 'text/xml', 'multipart/form-data; boundary=x', '']);
        return { method: 'POST', path: '/saml/acs', headers: type === '' ? {} : { 'content-type': type }, body: chance(0.05) ? text(50) : form };
      }
      case 3: return { method: 'POST', path: '/saml/acs', headers: { 'content-type': FORM }, body: pick(['', 'SAMLResponse=', 'SAMLResponse=%%%', 'SAMLResponse=a&SAMLResponse=b', `SAMLResponse=${'A'.repeat(int(300_000))}`]) };
      case 4: return { method: 'GET', path: `/saml/login?returnTo=${segment(pick(['/ok', '//evil.example', '/\\evil', 'https://evil.example', text(20), '/' + 'a'.repeat(3000)]))}`, headers: chance(0.3) ? { cookie: `__Host-roster_saml=${headerText(10)}` } : {} };
      case 5: return { method: 'GET', path: pick(['/saml/metadata', '/saml/validation', '/saml/login']), headers: chance(0.2) ? { cookie: `roster_session=${headerText(20)}` } : {} };
      case 6: return { method: 'POST', path: '/saml/logout', headers: { 'content-type': FORM, ...(chance(0.5) ? { cookie: `roster_session=${headerText(20)}` } : {}) } };
      default: return { method: pick(['PUT', 'DELETE', 'PATCH'] as const), path: pick(['/saml/acs', '/saml/metadata', '/saml/' + text(5)]), headers: {} };
    }
  }

  return {
    memory,
    next(): SoakRequest {
      const area = random();
      if (area < 0.55) return scim();
      if (area < 0.75) return admin();
      return saml();
    },
    remember(request, status, body) {
      if (status !== 201 || !request.path.startsWith(SCIM)) return;
      try {
        const id = (JSON.parse(body) as { id?: unknown }).id;
        if (typeof id !== 'string') return;
        const list = request.path.startsWith(`${SCIM}/Groups`) ? memory.groups : memory.users;
        list.push(id);
        if (list.length > KEEP) list.splice(0, list.length - KEEP);
      } catch {
        // not JSON: nothing to remember
      }
    },
  };
}
