/**
 * A test identity provider: builds SAML 2.0 Responses by hand, signs them with xml-crypto
 * (the library node-saml verifies with) and posts them to /saml/acs as a browser would.
 * Every knob a refusal test needs is an option, so each test says what it breaks.
 */
import { X509Certificate, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { inflateRawSync } from 'node:zlib';
import { SignedXml } from 'xml-crypto';
// node-saml's own dependency, the library it decrypts with: what the test IdP encrypts with.
import xmlenc from 'xml-encryption';
import type { LightMyRequestResponse } from 'fastify';
import { DOMParser } from '@xmldom/xmldom';
import { BASE_URL, TEST_IDP, testKeyPair, type TestApp, type TestKeyPair } from '../support/app.ts';

export const ACS_URL = `${BASE_URL}/saml/acs`;
export const SP_ENTITY_ID = `${BASE_URL}/saml/metadata`;

const MINUTE = 60 * 1000;
const RSA_SHA256 = 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256';
const EXC_C14N = 'http://www.w3.org/2001/10/xml-exc-c14n#';
const ENVELOPED = 'http://www.w3.org/2000/09/xmldsig#enveloped-signature';
const SHA256 = 'http://www.w3.org/2001/04/xmlenc#sha256';
/** What an IdP set to SHA-1 signs with. */
const SHA1_ALGORITHMS = { signature: 'http://www.w3.org/2000/09/xmldsig#rsa-sha1', digest: 'http://www.w3.org/2000/09/xmldsig#sha1' } as const;

export interface ResponseOptions {
  /** The SAML login: NameID, and the `login` attribute. */
  readonly login: string;
  readonly inResponseTo?: string | null;
  readonly attributes?: Readonly<Record<string, readonly string[]>>;
  /** Attributes sent as one Attribute element per value (as Keycloak's list mappers do), not one with every value. */
  readonly attributePerValue?: readonly string[];
  readonly issuer?: string;
  readonly audience?: string;
  readonly destination?: string;
  readonly recipient?: string;
  readonly notBefore?: Date;
  readonly notOnOrAfter?: Date;
  /** The AuthnStatement's SessionNotOnOrAfter: the IdP's bound on the session; none by default. */
  readonly sessionNotOnOrAfter?: Date;
  readonly assertionId?: string;
  /** What to sign: the assertion (default, as Entra ID does), the response, both, or nothing. */
  readonly sign?: 'assertion' | 'response' | 'both' | 'none';
  /** The signing key pair; defaults to the one startTestApp() trusts. */
  readonly keyPair?: TestKeyPair;
  /** The NameID's Format; default unspecified. */
  readonly nameIdFormat?: string;
  /** The signature's hash: SHA-256 (default, as Entra ID and Okta sign) or SHA-1. */
  readonly hash?: 'sha256' | 'sha1';
}

function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c] ?? c);
}

/** The unsigned assertion XML. */
export function assertionXml(options: ResponseOptions): string {
  const now = new Date();
  const notBefore = (options.notBefore ?? new Date(now.getTime() - MINUTE)).toISOString();
  const notOnOrAfter = (options.notOnOrAfter ?? new Date(now.getTime() + 5 * MINUTE)).toISOString();
  const inResponseTo = options.inResponseTo == null ? '' : ` InResponseTo="${escapeXml(options.inResponseTo)}"`;
  const sessionBound = options.sessionNotOnOrAfter === undefined ? '' : ` SessionNotOnOrAfter="${options.sessionNotOnOrAfter.toISOString()}"`;
  const element = (name: string, values: readonly string[]) =>
    `<saml:Attribute Name="${escapeXml(name)}">${values.map((v) => `<saml:AttributeValue>${escapeXml(v)}</saml:AttributeValue>`).join('')}</saml:Attribute>`;
  const attributes = Object.entries({ login: [options.login], ...options.attributes })
    .map(([name, values]) => (options.attributePerValue?.includes(name) ? values.map((value) => element(name, [value])).join('') : element(name, values)))
    .join('');
  return (
    `<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="${options.assertionId ?? `_a${randomUUID()}`}" Version="2.0" IssueInstant="${now.toISOString()}">` +
    `<saml:Issuer>${escapeXml(options.issuer ?? TEST_IDP.providerId)}</saml:Issuer>` +
    `<saml:Subject><saml:NameID Format="${escapeXml(options.nameIdFormat ?? 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified')}">${escapeXml(options.login)}</saml:NameID>` +
    `<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">` +
    `<saml:SubjectConfirmationData${inResponseTo} NotOnOrAfter="${notOnOrAfter}" Recipient="${escapeXml(options.recipient ?? ACS_URL)}"/>` +
    `</saml:SubjectConfirmation></saml:Subject>` +
    `<saml:Conditions NotBefore="${notBefore}" NotOnOrAfter="${notOnOrAfter}">` +
    `<saml:AudienceRestriction><saml:Audience>${escapeXml(options.audience ?? SP_ENTITY_ID)}</saml:Audience></saml:AudienceRestriction>` +
    `</saml:Conditions>` +
    `<saml:AuthnStatement AuthnInstant="${now.toISOString()}" SessionIndex="_s${randomUUID()}"${sessionBound}><saml:AuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Password</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>` +
    `<saml:AttributeStatement>${attributes}</saml:AttributeStatement>` +
    `</saml:Assertion>`
  );
}

/** Wraps assertion XML (signed or not) in a Response. */
export function responseXml(assertion: string, options: Pick<ResponseOptions, 'inResponseTo' | 'destination' | 'issuer'> = {}): string {
  const inResponseTo = options.inResponseTo == null ? '' : ` InResponseTo="${escapeXml(options.inResponseTo)}"`;
  return (
    `<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r${randomUUID()}" Version="2.0" IssueInstant="${new Date().toISOString()}" Destination="${escapeXml(options.destination ?? ACS_URL)}"${inResponseTo}>` +
    `<saml:Issuer>${escapeXml(options.issuer ?? TEST_IDP.providerId)}</saml:Issuer>` +
    `<samlp:Status><samlp:StatusCode Value="urn:oasis:names:tc:SAML:2.0:status:Success"/></samlp:Status>` +
    assertion +
    `</samlp:Response>`
  );
}

/** Signs the first element named `localName` with an enveloped signature placed after its Issuer. */
export function sign(xml: string, localName: 'Assertion' | 'Response', keyPair: TestKeyPair = testKeyPair(), hash: 'sha256' | 'sha1' = 'sha256'): string {
  const signatureAlgorithm = hash === 'sha1' ? SHA1_ALGORITHMS.signature : RSA_SHA256;
  const signer = new SignedXml({ privateKey: keyPair.privateKey, publicCert: keyPair.certificate, signatureAlgorithm, canonicalizationAlgorithm: EXC_C14N });
  const element = `//*[local-name(.)='${localName}']`;
  signer.addReference({ xpath: element, transforms: [ENVELOPED, EXC_C14N], digestAlgorithm: hash === 'sha1' ? SHA1_ALGORITHMS.digest : SHA256 });
  signer.computeSignature(xml, { location: { reference: `${element}/*[local-name(.)='Issuer']`, action: 'after' } });
  return signer.getSignedXml();
}

/** A complete Response, signed as `options.sign` says. */
export function buildResponse(options: ResponseOptions): string {
  const mode = options.sign ?? 'assertion';
  const keyPair = options.keyPair ?? testKeyPair();
  let assertion = assertionXml(options);
  if (mode === 'assertion' || mode === 'both') assertion = sign(assertion, 'Assertion', keyPair, options.hash);
  let response = responseXml(assertion, options);
  if (mode === 'response' || mode === 'both') response = sign(response, 'Response', keyPair, options.hash);
  return response;
}

/**
 * The SAML request cookie (`__Host-roster_saml=…`) each test app's "browser" received from its
 * last /saml/login, sent back with its responses as a browser would.
 */
const browserCookies = new WeakMap<TestApp, string>();

/** The `name=value` of the SAML request cookie set by a /saml/login answer, or undefined. */
export function samlCookieOf(response: LightMyRequestResponse): string | undefined {
  const header = response.headers['set-cookie'];
  const all = Array.isArray(header) ? header : header === undefined ? [] : [header];
  const found = all.map((line) => /^((?:__Host-)?roster_saml=[^;]*)/.exec(line)?.[1]).find((value) => value !== undefined);
  return found;
}

/**
 * Posts a Response to the ACS as the browser's auto-submitted form would, with the SAML
 * request cookie of the browser that started the sign-in unless `cookie` says otherwise
 * (`null`: no cookie at all, as from a browser that started nothing).
 */
export async function postResponse(
  app: TestApp,
  xml: string,
  relayState?: string,
  options: { cookie?: string | null; headers?: Record<string, string>; remoteAddress?: string } = {},
): Promise<LightMyRequestResponse> {
  const form = new URLSearchParams({ SAMLResponse: Buffer.from(xml, 'utf8').toString('base64') });
  if (relayState !== undefined) form.set('RelayState', relayState);
  const cookie = options.cookie === undefined ? browserCookies.get(app) : options.cookie;
  return app.app.inject({
    method: 'POST',
    url: '/saml/acs',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie != null ? { cookie } : {}), ...options.headers },
    payload: form.toString(),
    ...(options.remoteAddress !== undefined ? { remoteAddress: options.remoteAddress } : {}),
  });
}

/**
 * Starts an SP-initiated sign-in and returns the AuthnRequest's ID (what InResponseTo must
 * say) and the SAML request cookie, which later posts send back.
 */
export async function startLogin(app: TestApp, path = '/saml/login', headers: Record<string, string> = {}): Promise<{ requestId: string; location: string; cookie: string | undefined }> {
  const cookie = browserCookies.get(app);
  const response = await app.app.inject({ method: 'GET', url: path, headers: { ...(cookie !== undefined && headers['cookie'] === undefined ? { cookie } : {}), ...headers } });
  if (response.statusCode !== 302) throw new Error(`${path} answered ${response.statusCode}: ${response.body}`);
  const location = String(response.headers.location);
  const samlRequest = new URL(location).searchParams.get('SAMLRequest') ?? '';
  const request = inflateRawSync(Buffer.from(samlRequest, 'base64')).toString('utf8');
  const id = /\sID="([^"]+)"/.exec(request)?.[1];
  if (id === undefined) throw new Error(`no ID in AuthnRequest: ${request}`);
  const issued = samlCookieOf(response);
  if (issued !== undefined && headers['cookie'] === undefined) browserCookies.set(app, issued);
  return { requestId: id, location, cookie: issued };
}

/** The session cookie's value from a Set-Cookie header, or undefined. */
export function sessionCookieOf(response: LightMyRequestResponse): string | undefined {
  const header = response.headers['set-cookie'];
  const first = Array.isArray(header) ? header[0] : header;
  return first === undefined ? undefined : /^(?:__Host-)?roster_session=([^;]*)/.exec(first)?.[1];
}

/** The whole browser flow: start, answer as the IdP, post. */
export async function signIn(app: TestApp, options: Omit<ResponseOptions, 'inResponseTo'>, loginPath?: string): Promise<LightMyRequestResponse> {
  const { requestId } = await startLogin(app, loginPath);
  return postResponse(app, buildResponse({ ...options, inResponseTo: requestId }));
}

/** The encryption algorithms (XML Encryption URIs) when a test wants other ones than Entra ID's and Okta's. */
export interface EncryptionChoice {
  readonly content?: xmlenc.EncryptionAlgorithm;
  readonly keyTransport?: xmlenc.KeyEncryptionAlgorithm;
}

/**
 * Encrypts assertion XML (signed or not) to `certificate` as Entra ID and Okta do: AES-256-GCM
 * content, the key wrapped with RSA-OAEP, in a saml:EncryptedAssertion.
 */
export async function encryptAssertion(assertion: string, certificate: string, cipher: EncryptionChoice = {}): Promise<string> {
  const rsaPub = new X509Certificate(certificate).publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const encrypt = promisify(xmlenc.encrypt.bind(xmlenc)) as (content: string, options: xmlenc.EncryptOptions) => Promise<string>;
  const encrypted = await encrypt(assertion, {
    rsa_pub: rsaPub,
    pem: certificate,
    encryptionAlgorithm: cipher.content ?? 'http://www.w3.org/2009/xmlenc11#aes256-gcm',
    keyEncryptionAlgorithm: cipher.keyTransport ?? 'http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p',
    disallowEncryptionWithInsecureAlgorithm: false,
    warnInsecureAlgorithm: false,
  });
  return `<saml:EncryptedAssertion>${encrypted}</saml:EncryptedAssertion>`;
}

/** A Response whose assertion is signed (unless `sign` says otherwise) and then encrypted to `encryptTo`. */
export async function buildEncryptedResponse(options: ResponseOptions & { readonly encryptTo: string; readonly cipher?: EncryptionChoice }): Promise<string> {
  const mode = options.sign ?? 'assertion';
  const keyPair = options.keyPair ?? testKeyPair();
  let assertion = assertionXml(options);
  if (mode === 'assertion' || mode === 'both') assertion = sign(assertion, 'Assertion', keyPair, options.hash);
  let response = responseXml(await encryptAssertion(assertion, options.encryptTo, options.cipher), options);
  if (mode === 'response' || mode === 'both') response = sign(response, 'Response', keyPair, options.hash);
  return response;
}

/** The certificates Roster's metadata publishes, by KeyDescriptor use, in order, as base64 DER (whitespace removed). */
export async function publishedCertificates(app: TestApp): Promise<Record<string, string[]>> {
  const response = await app.app.inject({ method: 'GET', url: '/saml/metadata' });
  if (response.statusCode !== 200) throw new Error(`/saml/metadata answered ${response.statusCode}`);
  const document = new DOMParser().parseFromString(response.body, 'text/xml');
  const result: Record<string, string[]> = {};
  for (const descriptor of Array.from(document.getElementsByTagNameNS('urn:oasis:names:tc:SAML:2.0:metadata', 'KeyDescriptor'))) {
    const use = descriptor.getAttribute('use') ?? '(none)';
    for (const cert of Array.from(descriptor.getElementsByTagNameNS('http://www.w3.org/2000/09/xmldsig#', 'X509Certificate'))) (result[use] ??= []).push((cert.textContent ?? '').replace(/\s+/g, ''));
  }
  return result;
}

/** A certificate as PEM from its base64 DER. */
export function pemOf(base64: string): string {
  return ['-----BEGIN CERTIFICATE-----', ...(base64.match(/.{1,64}/g) ?? []), '-----END CERTIFICATE-----'].join('\n');
}
