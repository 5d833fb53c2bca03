/**
 * Hostile XML at the ACS (issue 14): a DOCTYPE or ENTITY declaration, in any spelling or
 * encoding, is refused from the decoded bytes before any XML parser runs, so a billion laughs
 * costs nothing and an external entity is never fetched; an oversized SAMLResponse is refused
 * before it is decoded. Each refusal is a page saying why and a budgeted audit entry.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { MAX_SAML_RESPONSE_LENGTH } from '../../src/auth/saml.ts';
import { startTestApp, userBody, type TestApp } from '../support/app.ts';
import { eachDatabase } from '../support/databases.ts';
import { buildResponse, startLogin } from './idp.ts';

const SAMLP = 'xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"';
const BILLION_LAUGHS = [
  '<?xml version="1.0"?>',
  '<!DOCTYPE lolz [',
  '<!ENTITY lol "lol">',
  ...Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? '' : i};`.repeat(10)}">`),
  ']>',
  `<samlp:Response ${SAMLP} ID="_r" Version="2.0"><samlp:Status>&lol9;</samlp:Status></samlp:Response>`,
].join('\n');

eachDatabase('SAML: hostile XML is refused before parsing', (database) => {
  let app: TestApp;
  let directory: string;
  let secretFile: string;
  let fetches = 0;
  let server: Server;
  let serverUrl: string;
  before(async () => {
    app = await startTestApp({ database });
    await app.request('POST', '/Users', userBody('alice@example.com'));
    directory = mkdtempSync(join(tmpdir(), 'roster-xxe-'));
    secretFile = join(directory, 'secret.txt');
    writeFileSync(secretFile, 'TOP-SECRET-MARKER-7c1d');
    server = createServer((_request, response) => {
      fetches += 1;
      response.end('FETCHED-MARKER-91ab');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/entity`;
  });
  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    rmSync(directory, { recursive: true, force: true });
    await app.close();
  });

  /** Posts raw bytes as the SAMLResponse and returns status, body and how long it took. */
  async function post(bytes: Buffer | string, cookie?: string): Promise<{ status: number; body: string; ms: number }> {
    const encoded = (typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes).toString('base64');
    const started = performance.now();
    const response = await app.app.inject({
      method: 'POST',
      url: '/saml/acs',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie !== undefined ? { cookie } : {}) },
      payload: new URLSearchParams({ SAMLResponse: encoded }).toString(),
    });
    return { status: response.statusCode, body: response.body, ms: performance.now() - started };
  }

  async function lastRefusal(): Promise<{ reason: string; message: string }> {
    const event = await app.services.store.db
      .selectFrom('audit_events')
      .select('details')
      .where('action', '=', 'saml.sign_in_refused')
      .orderBy('seq', 'desc')
      .executeTakeFirstOrThrow();
    return JSON.parse(event.details ?? '{}');
  }

  test('a billion-laughs response is refused at once with 400, a page saying why, and an audit entry', async () => {
    const answer = await post(BILLION_LAUGHS);
    assert.equal(answer.status, 400, answer.body);
    assert.match(answer.body, /refused unread: the document contains a DOCTYPE declaration, which SAML never uses/);
    assert.ok(answer.ms < 1_000, `took ${answer.ms} ms`);
    const audited = await lastRefusal();
    assert.equal(audited.reason, 'xml_declaration');
    assert.match(audited.message, /DOCTYPE declaration/);
  });

  test('external entities (SYSTEM file, SYSTEM and PUBLIC URLs) are refused and nothing is read or fetched', async () => {
    const documents = [
      `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file://${secretFile}">]><samlp:Response ${SAMLP}>&x;</samlp:Response>`,
      `<!DOCTYPE r [<!ENTITY x SYSTEM "${serverUrl}">]><samlp:Response ${SAMLP}>&x;</samlp:Response>`,
      `<!DOCTYPE r PUBLIC "-//X//Y" "${serverUrl}"><samlp:Response ${SAMLP}/>`,
      `<!DOCTYPE r [<!ENTITY % p SYSTEM "${serverUrl}"> %p;]><samlp:Response ${SAMLP}/>`,
    ];
    for (const document of documents) {
      const answer = await post(document);
      assert.equal(answer.status, 400, document);
      assert.doesNotMatch(answer.body, /TOP-SECRET-MARKER|FETCHED-MARKER/);
      assert.equal((await lastRefusal()).reason, 'xml_declaration');
    }
    assert.equal(fetches, 0);
    const trail = await app.services.store.db.selectFrom('audit_events').select('details').execute();
    assert.ok(trail.every((row) => !/TOP-SECRET-MARKER|FETCHED-MARKER/.test(row.details ?? '')));
  });

  test('declarations in another spelling or encoding are refused too', async () => {
    const body = `<samlp:Response ${SAMLP}/>`;
    const variants: Array<[string, Buffer]> = [
      ['lower case', Buffer.from(`<!doctype r [<!entity a "b">]>${body}`)],
      ['whitespace after <!', Buffer.from(`<! \n\tDOCTYPE r>${body}`)],
      ['a bare ENTITY declaration', Buffer.from(`<samlp:Response ${SAMLP}><!ENTITY a "b"></samlp:Response>`)],
      ['after a comment and a processing instruction', Buffer.from(`<?xml version="1.0"?><!-- hi --><!DOCTYPE r>${body}`)],
    ];
    for (const [label, bytes] of variants) {
      const answer = await post(bytes);
      assert.equal(answer.status, 400, label);
      assert.equal((await lastRefusal()).reason, 'xml_declaration', label);
    }
    // UTF-16 hides "<!DOCTYPE" from a UTF-8 byte scan: any document not in UTF-8 is refused.
    const utf16 = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`<!DOCTYPE r [<!ENTITY a "b">]>${body}`, 'utf16le')]);
    const withoutBom = Buffer.from(`<!DOCTYPE r>${body}`, 'utf16le');
    for (const [label, bytes] of [['UTF-16 with BOM', utf16], ['UTF-16 without BOM', withoutBom]] as const) {
      const answer = await post(bytes);
      assert.equal(answer.status, 400, label);
      assert.match(answer.body, /not UTF-8/, label);
      assert.equal((await lastRefusal()).reason, 'xml_declaration', label);
    }
  });

  test('comments and CDATA sections are not declarations: a valid response with them signs in', async () => {
    const { requestId, cookie } = await startLogin(app);
    const xml = buildResponse({ login: 'alice@example.com', inResponseTo: requestId }).replace('<samlp:Status>', '<!-- IdP build 42 --><samlp:Status>');
    const answer = await post(xml, cookie);
    assert.equal(answer.status, 303, answer.body);
  });

  test('a SAMLResponse field longer than the limit is refused with 413 before it is decoded', async () => {
    const field = 'PD94'.repeat(MAX_SAML_RESPONSE_LENGTH / 4 + 1);
    const response = await app.app.inject({
      method: 'POST',
      url: '/saml/acs',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: `SAMLResponse=${field}`,
    });
    assert.equal(response.statusCode, 413, response.body);
    assert.match(response.body, /holds 257 KiB; Roster reads at most 256 KiB/);
    assert.equal((await lastRefusal()).reason, 'too_large');
  });

  test('malformed XML just under the limit is refused at its first error, not after minutes of parsing', async () => {
    // 190 KiB of "<?x": node-saml's parser reported each broken processing instruction from the
    // start of the text, which kept a CPU busy for minutes per request.
    const room = (MAX_SAML_RESPONSE_LENGTH * 3) / 4 - 100;
    const documents = ['<?x'.repeat(room / 3), '<'.repeat(room), `<r>${'<a b="'.repeat(room / 6)}</r>`];
    for (const document of documents) {
      const answer = await post(document);
      assert.equal(answer.status, 403, answer.body);
      assert.match(answer.body, /not well-formed XML/);
      assert.ok(answer.ms < 2_000, `took ${answer.ms} ms`);
      assert.equal((await lastRefusal()).reason, 'malformed');
    }
  });

  test('a response that decodes to the most KiB of nested elements answers below 500 within seconds', async () => {
    const xml = `<samlp:Response ${SAMLP}>${'<a>'.repeat(27_000)}${'</a>'.repeat(27_000)}</samlp:Response>`;
    assert.ok(Buffer.byteLength(xml) * (4 / 3) < MAX_SAML_RESPONSE_LENGTH);
    const answer = await post(xml);
    assert.ok(answer.status >= 400 && answer.status < 500, `${answer.status}`);
    assert.ok(answer.ms < 5_000, `took ${answer.ms} ms`);
  });
});
