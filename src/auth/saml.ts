/**
 * Roster as a SAML 2.0 service provider, over @node-saml/node-saml: the AuthnRequest redirect,
 * our metadata, and the validation of responses posted to the ACS. XML signatures are checked
 * by node-saml (xml-crypto); this module adds what node-saml leaves to its caller: the issuer,
 * the destination and recipient, the one-time use of InResponseTo under concurrency, and the
 * replay cache. Validation never throws for a bad response: it returns a failure saying
 * exactly what was wrong (STYLE.md §6).
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Profile, SAML, SamlConfig as NodeSamlConfig } from '@node-saml/node-saml';
import type { getVerifiedXml } from '@node-saml/node-saml/lib/xml.js';
import type { Store } from '../store/index.ts';
import { inBatches } from '../store/transact.ts';
import { readableTime, shorten } from '../text.ts';
import { describeCertificate } from './saml-certificates.ts';
import { spKeyPairsOf, type SamlConfig, type SamlConfigService, type SpKeyPair } from './saml-config.ts';
import { createBrowserBinding, isSameBrowser } from './saml-browser.ts';
import { createRequestCache, isRememberedAssertion, purgeExpired, rememberAssertion, type RequestCache } from './saml-requests.ts';
import { screenXml, wellFormednessError } from './xml-safety.ts';
import { samlLibrary, samlXmlLibrary, xmldom } from './xml-libraries.ts';
import type { Element } from '@xmldom/xmldom';

/** Why a response was refused. Each code has a sentence in `describeSamlFailure`. */
export type SamlFailure =
  | { readonly code: 'not_configured' }
  | { readonly code: 'malformed'; readonly detail: string }
  | { readonly code: 'too_large'; readonly size: number }
  | { readonly code: 'xml_declaration'; readonly detail: string }
  | { readonly code: 'idp_error'; readonly detail: string }
  | { readonly code: 'signature'; readonly detail: string }
  | { readonly code: 'weak_signature'; readonly algorithm: string }
  | { readonly code: 'certificate_expired'; readonly subject: string; readonly validTo: string }
  | { readonly code: 'encrypted_without_key' }
  | { readonly code: 'decryption_failed'; readonly detail: string }
  | { readonly code: 'weak_encryption'; readonly algorithm: string }
  | { readonly code: 'wrong_issuer'; readonly expected: string; readonly received: string | null }
  | { readonly code: 'wrong_audience'; readonly detail: string }
  | { readonly code: 'wrong_destination'; readonly expected: string; readonly received: string | null }
  | ({ readonly code: 'expired' } & TimeBound)
  | ({ readonly code: 'not_yet_valid' } & TimeBound)
  | { readonly code: 'unsolicited' }
  | { readonly code: 'unknown_request' }
  | { readonly code: 'wrong_browser' }
  | { readonly code: 'replayed' }
  | { readonly code: 'session_ended'; readonly bound: string; readonly now: string };

/** What a valid assertion says. Attribute values are always lists, whatever the IdP sent. */
export interface SamlAssertion {
  readonly assertionId: string;
  readonly issuer: string;
  readonly nameId: string | null;
  readonly nameIdFormat: string | null;
  readonly sessionIndex: string | null;
  /**
   * When the session this sign-in opens must end at the latest: the earliest SessionNotOnOrAfter
   * of the assertion's AuthnStatements (SAML Core §2.7.2: the IdP's bound on sessions derived from
   * it), plus the clock tolerance; null when the IdP sets none.
   */
  readonly sessionEndsBy: Date | null;
  readonly attributes: Readonly<Record<string, readonly string[]>>;
  /** The request this answers; null for an IdP-initiated sign-in. */
  readonly inResponseTo: string | null;
  /** The local path to return to, as given to /saml/login. */
  readonly returnTo: string | null;
}

export type SamlResult =
  /**
   * `config` is the configuration the assertion was checked against: the one to read it by
   * (its login, name, email and group attributes), whatever was stored since.
   */
  | { readonly ok: true; readonly assertion: SamlAssertion; readonly config: SamlConfig }
  /** `returnTo` is that of the request the response claimed to answer, when Roster found it. */
  | { readonly ok: false; readonly failure: SamlFailure; readonly returnTo: string | null };

/** A sign-in to start: where to send the browser, and the cookie that binds the request to it. */
export interface LoginRedirect {
  /** The IdP URL carrying the AuthnRequest. */
  readonly url: string;
  /** A Set-Cookie header value for the browser (see saml-browser.ts). */
  readonly setCookie: string;
}

/** The SP's side of SAML, over the stored configuration (read on every call: instances share it). */
export interface SamlServiceProvider {
  /**
   * Issues an AuthnRequest bound to the browser whose Cookie header is `cookies`; undefined
   * when SAML is not configured. `forceAuthn` asks the IdP to authenticate the user anew
   * rather than answer from its own session (an application's prompt=login or max_age).
   */
  loginRedirect(returnTo: string | null, cookies: string | undefined, options?: { readonly forceAuthn?: boolean }): Promise<LoginRedirect | undefined>;
  /** Our SP metadata XML, or undefined when SAML is not configured. */
  metadata(): Promise<string | undefined>;
  /**
   * Validates a base64 SAMLResponse from the POST binding, posted by the browser whose Cookie
   * header is `cookies`: an answer to our request must come from the browser that started it.
   */
  validate(samlResponse: string, cookies: string | undefined): Promise<SamlResult>;
  /**
   * Deletes every expired request and remembered assertion, in batches with turns between them;
   * returns how many. For the periodic clean-up: each sign-in start deletes a few itself.
   */
  purgeExpired(): Promise<number>;
  /** Our ACS URL (what Destination and Recipient must say). */
  readonly acsUrl: string;
  /** Our entity ID under `config` (the audience assertions must name). */
  entityId(config: SamlConfig): string;
}

/**
 * The longest SAMLResponse field read, in base64 characters (192 KiB of XML). Entra ID sends at
 * most 150 groups in a SAML token (more become a Graph link) and a group value takes about 100
 * bytes, so real responses stay under 50 KiB; the 1 MiB body limit alone would let a response
 * decode to 768 KiB, and each KiB parsed costs CPU (three parsers read it).
 */
export const MAX_SAML_RESPONSE_LENGTH = 256 * 1024;
/** Expired requests (and assertions) a sign-in start deletes at most: the periodic clean-up deletes any backlog. */
const PURGE_AT_SIGN_IN = 20;
/** Rows per table and transaction of the periodic clean-up. */
const PURGE_BATCH = 5000;
/** Time allowed between our AuthnRequest and the IdP's answer (MFA prompts can take a while). */
const REQUEST_LIFETIME_MS = 15 * 60 * 1000;
/** Clock skew tolerated on NotBefore/NotOnOrAfter. */
const CLOCK_SKEW_MS = 2 * 60 * 1000;
/** Kept in the replay cache when an assertion states no NotOnOrAfter at all. */
const DEFAULT_ASSERTION_LIFETIME_MS = 60 * 60 * 1000;
const UNSPECIFIED_NAME_ID = 'urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified';

/** Creates the service provider over the store and the stored configuration. */
export function createSamlServiceProvider(store: Store, configs: SamlConfigService, baseUrl: string): SamlServiceProvider {
  const acsUrl = `${baseUrl}/saml/acs`;
  const browsers = createBrowserBinding({ secure: baseUrl.startsWith('https:'), lifetimeMs: REQUEST_LIFETIME_MS });
  const entityId = (config: SamlConfig): string => config.applicationId ?? `${baseUrl}/saml/metadata`;

  /**
   * node-saml over `config`, trusting `certificates` (by default all configured ones), decrypting
   * with `decryptionKey` (by default the current SP key; several are tried in `validate`).
   */
  function nodeSaml(config: SamlConfig, cache: RequestCache, certificates: readonly string[] = config.certificates, forceAuthn = false, decryptionKey: string | null = config.spPrivateKey): SAML {
    const { SAML, ValidateInResponseTo } = samlLibrary();
    const options: NodeSamlConfig = {
      issuer: entityId(config),
      callbackUrl: acsUrl,
      entryPoint: config.loginUrl,
      idpCert: [...certificates],
      audience: entityId(config),
      // "The response or assertion must be signed": node-saml then demands a valid signature
      // on the assertion whenever the response itself carries none.
      wantAssertionsSigned: false,
      wantAuthnResponseSigned: false,
      acceptedClockSkewMs: CLOCK_SKEW_MS,
      validateInResponseTo: config.allowIdpInitiated ? ValidateInResponseTo.ifPresent : ValidateInResponseTo.always,
      requestIdExpirationPeriodMs: REQUEST_LIFETIME_MS,
      cacheProvider: cache,
      identifierFormat: UNSPECIFIED_NAME_ID,
      // Entra ID refuses a requested PasswordProtectedTransport context when the user signs in
      // with MFA or passwordless (AADSTS75011); the IdP's own policy decides instead.
      disableRequestedAuthnContext: true,
      generateUniqueId: () => `_${randomBytes(20).toString('hex')}`,
      signatureAlgorithm: 'sha256',
      digestAlgorithm: 'sha256',
    };
    // ForceAuthn="true" (SAML Core §3.4.1): the IdP MUST authenticate the user directly.
    if (forceAuthn) options.forceAuthn = true;
    if (config.signRequests && config.spPrivateKey !== null) options.privateKey = config.spPrivateKey;
    if (decryptionKey !== null) options.decryptionPvk = decryptionKey;
    return new SAML(options);
  }

  return {
    acsUrl,
    entityId,

    purgeExpired() {
      return inBatches(store.db, PURGE_BATCH, (trx) => purgeExpired(trx, PURGE_BATCH));
    },

    async loginRedirect(returnTo, cookies, options = {}) {
      const config = await configs.get();
      if (config === undefined) return undefined;
      await purgeExpired(store.db, PURGE_AT_SIGN_IN);
      const browser = browsers.issue(cookies);
      const cache = createRequestCache(store.db, { lifetimeMs: REQUEST_LIFETIME_MS, returnTo, browserHash: browser.hash });
      const url = await nodeSaml(config, cache, config.certificates, options.forceAuthn === true).getAuthorizeUrlAsync('', undefined, {});
      return { url, setCookie: browser.setCookie };
    },

    async metadata() {
      const config = await configs.get();
      if (config === undefined) return undefined;
      const cache = createRequestCache(store.db, { lifetimeMs: REQUEST_LIFETIME_MS });
      // Every SP key pair, the current one first: during a rollover the IdP may encrypt to either
      // (and, with signed requests, trusts the next one before Roster switches to it).
      const pairs = spKeyPairsOf(config);
      const certificates = pairs.map((pair) => pair.certificate);
      const xml = nodeSaml(config, cache).generateServiceProviderMetadata(certificates[0] ?? null, certificates.length === 0 ? null : certificates);
      return withStableId(withEncryptionCertificates(xml, certificates.slice(1)));
    },

    async validate(samlResponse, cookies) {
      const config = await configs.get();
      if (config === undefined) return { ok: false, failure: { code: 'not_configured' }, returnTo: null };
      const cache = createRequestCache(store.db, { lifetimeMs: REQUEST_LIFETIME_MS });
      const fail = (failure: SamlFailure): SamlResult => ({ ok: false, failure, returnTo: cache.firstReturnTo() });
      // Checked before decoding: the size of the field bounds every later step's work.
      if (samlResponse.length > MAX_SAML_RESPONSE_LENGTH) return fail({ code: 'too_large', size: samlResponse.length });
      const bytes = decodeBase64(samlResponse);
      if (bytes === undefined) return fail({ code: 'malformed', detail: 'SAMLResponse is not base64' });
      // Before any parser sees it: a DTD has no place in a SAML message (xml-safety.ts).
      const screened = screenXml(bytes);
      if (screened !== undefined) return fail({ code: 'xml_declaration', detail: screened.detail });
      const xml = bytes.toString('utf8');
      const notWellFormed = wellFormednessError(xml);
      if (notWellFormed !== undefined) return fail({ code: 'malformed', detail: `the response is not well-formed XML (${notWellFormed})` });

      // node-saml decrypts without xml-encryption's disallowDecryptionWithInsecureAlgorithm:
      // 3DES content and RSA PKCS#1 v1.5 key transport would be accepted, so they are refused here.
      const weakCipher = insecureEncryption(xml);
      if (weakCipher !== undefined) return fail({ code: 'weak_encryption', algorithm: weakCipher });
      // During an SP key rollover the IdP encrypts to the current or to the next certificate:
      // the key that opens this assertion decrypts it everywhere below.
      const spKey = await decryptionKeyFor(xml, spKeyPairsOf(config));

      // xml-crypto checks a signature against a certificate's key, never its dates: an expired
      // certificate is left out here, and named if it is the one that signed (expiredSigner).
      const now = Date.now();
      const current = config.certificates.filter((pem) => Date.parse(describeCertificate(pem).validTo) > now);
      const expired = config.certificates.filter((pem) => !current.includes(pem));
      let profile: Profile | null;
      try {
        if (current.length === 0) throw new Error('Invalid signature: every configured IdP certificate has expired');
        profile = (await nodeSaml(config, cache, current, false, spKey).validatePostResponseAsync({ SAMLResponse: samlResponse })).profile;
      } catch (error) {
        const failure = classify(error, xml);
        if (failure.code === 'idp_error') return fail(await statusFailure(xml, current, cache, browsers.presented(cookies)));
        // An answer to our request posted a second time finds its request used up before the
        // replay cache is reached: said as a replay when its signed assertion was accepted once.
        if (failure.code === 'unknown_request') {
          const id = await signedAssertionId(xml, current, spKey);
          if (id !== undefined && (await isRememberedAssertion(store.db, id))) return fail({ code: 'replayed' });
        }
        if (failure.code !== 'signature' || expired.length === 0) return fail(failure);
        return fail((await expiredSigner(xml, expired, spKey)) ?? failure);
      }
      if (profile === null) return fail({ code: 'malformed', detail: 'the response carries no assertion' });
      // xml-crypto still verifies SHA-1 signatures; SHA-1 collisions are practical, and Entra ID
      // and Okta sign with SHA-256 unless set otherwise.
      const weak = await sha1Algorithm(xml, spKey);
      if (weak !== undefined) return fail({ code: 'weak_signature', algorithm: weak });
      return checkProfile(config, profile, xml, cache, browsers.presented(cookies), current);
    },
  };

  /**
   * A refusal by the IdP, in its own words only when they are known to be its words: the
   * response is signed by a trusted certificate, or it answers a request this very browser
   * started. Anyone can post an unsigned error response with a stolen InResponseTo from a
   * victim's browser, and Roster's page must not show the attacker's text as the IdP's.
   */
  async function statusFailure(xml: string, certificates: readonly string[], cache: RequestCache, browser: string | undefined): Promise<SamlFailure> {
    const response = responseElement(xml);
    if (response === null) return { code: 'malformed', detail: 'the response has no Status' };
    const requestId = response.getAttribute('InResponseTo');
    const sameBrowser = requestId !== null && requestId !== '' && isSameBrowser(browser, cache.browserHashOf(requestId));
    const trusted = sameBrowser || (await signedBy(xml, certificates));
    return { code: 'idp_error', detail: responseStatus(response, trusted) ?? 'the response has no Status' };
  }

  /** The checks node-saml leaves to us, on an assertion whose signature it verified. */
  async function checkProfile(config: SamlConfig, profile: Profile, xml: string, cache: RequestCache, browser: string | undefined, certificates: readonly string[]): Promise<SamlResult> {
    const fail = (failure: SamlFailure): SamlResult => ({ ok: false, failure, returnTo: cache.firstReturnTo() });
    // node-saml reads the Response's status only when it carries no assertion. SAML Core
    // §3.2.2.2 and the Web SSO profile (§4.1.4.2): an assertion counts only in a Success.
    const response = responseElement(xml);
    const status = response === null ? null : responseStatus(response, false);
    if (status === null) return fail({ code: 'malformed', detail: 'the response has no Status' });
    if (status !== SAML_SUCCESS) return fail(await statusFailure(xml, certificates, cache, browser));
    if (profile.issuer !== config.providerId) {
      return fail({ code: 'wrong_issuer', expected: config.providerId, received: profile.issuer ?? null });
    }
    const destination = response === null ? null : responseDestination(response);
    if (destination !== null && destination !== acsUrl) return fail({ code: 'wrong_destination', expected: acsUrl, received: destination });
    const assertion = assertionOf(profile);
    const confirmations = subjectConfirmations(assertion);
    // Web SSO profile §4.1.4.3: the bearer confirmation must name our ACS as Recipient.
    if (!confirmations.some((data) => data.Recipient === acsUrl)) {
      const received = confirmations.find((data) => data.Recipient !== undefined)?.Recipient ?? null;
      return fail({ code: 'wrong_destination', expected: acsUrl, received });
    }
    const inResponseTo = typeof profile.inResponseTo === 'string' ? profile.inResponseTo : null;
    // node-saml reads then deletes the request; two racing responses could both read it, but
    // only one deletes it.
    if (inResponseTo !== null && !cache.consumed(inResponseTo)) return fail({ code: 'unknown_request' });
    // Login CSRF: an answer to our request opens a session only in the browser that started
    // it. IdP-initiated responses answer no request and cannot be bound (docs/saml.md).
    if (inResponseTo !== null && !isSameBrowser(browser, cache.browserHashOf(inResponseTo))) return fail({ code: 'wrong_browser' });
    const assertionId = attributeOf(assertion, 'ID');
    if (assertionId === null) return fail({ code: 'malformed', detail: 'the assertion has no ID' });
    const sessionEnd = sessionNotOnOrAfter(assertion);
    const sessionEndsBy = sessionEnd === null ? null : new Date(Date.parse(sessionEnd) + CLOCK_SKEW_MS);
    // A session that would end before it starts would send the browser straight back to the IdP.
    if (sessionEnd !== null && sessionEndsBy !== null && sessionEndsBy.getTime() <= Date.now()) {
      return fail({ code: 'session_ended', bound: sessionEnd, now: new Date().toISOString() });
    }
    if (!(await rememberAssertion(store.db, assertionId, replayHorizon(assertion, confirmations)))) return fail({ code: 'replayed' });
    return {
      ok: true,
      config,
      assertion: {
        assertionId,
        issuer: profile.issuer,
        nameId: typeof profile.nameID === 'string' && profile.nameID !== '' ? profile.nameID : null,
        nameIdFormat: typeof profile.nameIDFormat === 'string' ? profile.nameIDFormat : null,
        sessionIndex: profile.sessionIndex ?? null,
        sessionEndsBy,
        attributes: attributesOf(assertion),
        inResponseTo,
        returnTo: inResponseTo === null ? null : cache.returnToOf(inResponseTo),
      },
    };
  }
}

/** One sentence per failure, for the refusal page and the audit trail. */
export function describeSamlFailure(failure: SamlFailure): string {
  switch (failure.code) {
    case 'not_configured':
      return 'SAML sign-in is not configured on this Roster instance.';
    case 'malformed':
      return `The SAML response could not be read: ${failure.detail}.`;
    case 'too_large':
      return `The SAMLResponse field holds ${Math.ceil(failure.size / 1024)} KiB; Roster reads at most ${MAX_SAML_RESPONSE_LENGTH / 1024} KiB, far more than any identity provider sends.`;
    case 'xml_declaration':
      return `The SAML response was refused unread: ${failure.detail}.`;
    case 'idp_error':
      return `The identity provider refused the sign-in: ${failure.detail}.`;
    case 'signature':
      return `The SAML response is not signed by a certificate Roster trusts (${failure.detail}).`;
    case 'weak_signature':
      return `The SAML response is signed with SHA-1 (${failure.algorithm}), which Roster refuses: set the identity provider to sign with SHA-256.`;
    case 'certificate_expired':
      return `The SAML response is signed with the identity provider certificate ${failure.subject}, which expired on ${readableTime(failure.validTo)}. Configure the identity provider's current certificate.`;
    case 'encrypted_without_key':
      return 'The assertion is encrypted but Roster has no SP private key to decrypt it.';
    case 'decryption_failed':
      // xml-encryption names the algorithm it lacks (XML Encryption 1.1's rsa-oaep, for one).
      if (/not supported/i.test(failure.detail)) {
        return `The assertion is encrypted with an algorithm Roster cannot decrypt (${failure.detail}). Set the identity provider to RSA-OAEP key transport (http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p) and AES-GCM or AES-CBC content encryption.`;
      }
      return `The assertion could not be decrypted (${failure.detail}): it is encrypted to a key none of Roster's SP key pairs holds, or with an algorithm Roster does not accept. Give the identity provider a certificate published at /saml/metadata (the first is the current one).`;
    case 'weak_encryption':
      return `The assertion is encrypted with ${failure.algorithm}, which Roster refuses as insecure: set the identity provider to encrypt with AES-GCM or AES-CBC and RSA-OAEP.`;
    case 'wrong_issuer':
      return `The assertion was issued by "${failure.received ?? '(none)'}", not by the configured identity provider "${failure.expected}".`;
    case 'wrong_audience':
      return `The assertion is meant for another application (${failure.detail}).`;
    case 'wrong_destination':
      return `The response was sent to "${failure.received ?? '(none)'}", not to this Roster's ACS URL "${failure.expected}".`;
    case 'expired':
      return failure.bound === undefined
        ? 'The assertion has expired. Sign in again; if it keeps happening, check the clocks of Roster and the identity provider.'
        : `The assertion expired at ${failure.bound}; Roster's clock read ${failure.now}, ${TOLERANCE_TEXT}. Sign in again; if it keeps happening, check the clocks of Roster and the identity provider (NTP).`;
    case 'not_yet_valid':
      return failure.bound === undefined
        ? 'The assertion is not valid yet. Check the clocks of Roster and the identity provider.'
        : `The assertion is valid only from ${failure.bound}; Roster's clock read ${failure.now}, ${TOLERANCE_TEXT}. Check the clocks of Roster and the identity provider (NTP).`;
    case 'unsolicited':
      return 'The response answers no sign-in started at Roster, and IdP-initiated sign-in is turned off. Start the sign-in from Roster.';
    case 'unknown_request':
      return 'The response answers a sign-in request that Roster did not issue, that expired, or that was already used. Start the sign-in again.';
    case 'wrong_browser':
      return 'This sign-in was started in another browser, or this browser did not keep the sign-in cookie (it lasts 15 minutes). Start the sign-in again from this browser.';
    case 'replayed':
      return 'This assertion was already used to sign in; it cannot be used twice.';
    case 'session_ended':
      return `The identity provider allows a session from this sign-in only until ${failure.bound} (SessionNotOnOrAfter); Roster's clock read ${failure.now}, ${TOLERANCE_TEXT}. Sign in again; if it keeps happening, check the identity provider's session lifetime and both clocks (NTP).`;
  }
}

/**
 * The expired certificate that signed the response or its assertion (decrypted with `spKey`
 * when encrypted), as a certificate_expired failure; undefined when none did. Runs only after
 * node-saml refused the signature, on XML already known to be well-formed.
 */
async function expiredSigner(xml: string, expired: readonly string[], spKey: string | null): Promise<SamlFailure | undefined> {
  try {
    const { decryptXml, getVerifiedXml, parseDomFromString, xpath: samlXpath } = samlXmlLibrary();
    const document = await parseDomFromString(xml);
    const candidates: Array<{ xml: string; node: Parameters<typeof getVerifiedXml>[1] }> = [];
    const root = document.documentElement;
    if (root !== null) candidates.push({ xml, node: root });
    for (const node of samlXpath.selectElements(document, "/*[local-name()='Response']/*[local-name()='Assertion']")) candidates.push({ xml, node });
    const encrypted = samlXpath.selectElements(document, "/*[local-name()='Response']/*[local-name()='EncryptedAssertion']");
    if (spKey !== null && encrypted.length === 1 && encrypted[0] !== undefined) {
      const decrypted = await decryptXml(encrypted[0].toString(), spKey);
      const inner = await parseDomFromString(decrypted);
      for (const node of samlXpath.selectElements(inner, "/*[local-name()='Assertion']")) candidates.push({ xml: decrypted, node });
    }
    for (const pem of expired) {
      if (candidates.some((candidate) => getVerifiedXml(candidate.xml, candidate.node, [pem]) !== null)) {
        const info = describeCertificate(pem);
        return { code: 'certificate_expired', subject: info.subject, validTo: info.validTo };
      }
    }
  } catch {
    // Whatever cannot be read here was refused for its signature already; that answer stands.
  }
  return undefined;
}

const SIGNATURE_ALGORITHMS = "//*[local-name()='Signature' and namespace-uri()='http://www.w3.org/2000/09/xmldsig#']//*[(local-name()='SignatureMethod' or local-name()='DigestMethod') and namespace-uri()='http://www.w3.org/2000/09/xmldsig#']";

/**
 * The first SHA-1 algorithm (rsa-sha1, hmac-sha1 or the sha1 digest) named by a signature of
 * the response, of its assertion or of its encrypted assertion once decrypted with `spKey`;
 * undefined when every signature uses a stronger one. Runs on a response node-saml accepted.
 */
async function sha1Algorithm(xml: string, spKey: string | null): Promise<string | undefined> {
  const { decryptXml, parseDomFromString, xpath: samlXpath } = samlXmlLibrary();
  const weakIn = (document: Awaited<ReturnType<typeof parseDomFromString>>): string | undefined =>
    samlXpath
      .selectElements(document, SIGNATURE_ALGORITHMS)
      .map((element) => element.getAttribute('Algorithm') ?? '')
      .find((algorithm) => /sha1$/i.test(algorithm));
  const document = await parseDomFromString(xml);
  const found = weakIn(document);
  if (found !== undefined || spKey === null) return found;
  const encrypted = samlXpath.selectElements(document, "/*[local-name()='Response']/*[local-name()='EncryptedAssertion']")[0];
  if (encrypted === undefined) return undefined;
  return weakIn(await parseDomFromString(await decryptXml(encrypted.toString(), spKey)));
}

/**
 * The private key that decrypts the response's EncryptedAssertion: among the SP key pairs
 * (current first), the one whose certificate its KeyInfo names is tried first (Entra ID, Okta
 * and xml-encryption name it), then the others in turn. The current key when the response is
 * not encrypted, or when none decrypts it (node-saml then says why); null without SP key pairs.
 */
async function decryptionKeyFor(xml: string, pairs: readonly SpKeyPair[]): Promise<string | null> {
  const [first] = pairs;
  if (first === undefined) return null;
  if (pairs.length === 1) return first.privateKey;
  const root = responseElement(xml);
  const encrypted = root === null ? undefined : Array.from(root.getElementsByTagNameNS('*', 'EncryptedAssertion'))[0];
  if (encrypted === undefined) return first.privateKey;
  const named = new Set(Array.from(encrypted.getElementsByTagNameNS(DSIG, 'X509Certificate')).map((element) => (element.textContent ?? '').replace(/\s+/g, '')));
  const derOf = (pem: string): string => pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
  const ordered = [...pairs.filter((pair) => named.has(derOf(pair.certificate))), ...pairs.filter((pair) => !named.has(derOf(pair.certificate)))];
  const { decryptXml } = samlXmlLibrary();
  const text = encrypted.toString();
  for (const pair of ordered) {
    try {
      await decryptXml(text, pair.privateKey);
      return pair.privateKey;
    } catch {
      // Encrypted to another key (or not decryptable at all): try the next one.
    }
  }
  return first.privateKey;
}

const DSIG = 'http://www.w3.org/2000/09/xmldsig#';
const METADATA = 'urn:oasis:names:tc:SAML:2.0:metadata';

/**
 * Our metadata with a `KeyDescriptor use="encryption"` for each of `certificates` after the
 * current one's (node-saml writes one only), with the same EncryptionMethods: SAML metadata
 * §2.4.1.1 allows several, and an IdP may encrypt to any of them.
 */
function withEncryptionCertificates(xml: string, certificates: readonly string[]): string {
  if (certificates.length === 0) return xml;
  const document = new (xmldom().DOMParser)().parseFromString(xml, 'text/xml');
  const descriptors = Array.from(document.getElementsByTagNameNS(METADATA, 'KeyDescriptor'));
  const template = descriptors.find((descriptor) => descriptor.getAttribute('use') === 'encryption');
  if (template === undefined || template.parentNode === null) return xml;
  // The indentation before the template, repeated before each copy: one KeyDescriptor a line.
  const indent = template.previousSibling?.nodeType === 3 ? template.previousSibling : null;
  let after: Element = template;
  for (const pem of certificates) {
    const copy = template.cloneNode(true) as Element;
    const certificate = copy.getElementsByTagNameNS(DSIG, 'X509Certificate')[0];
    if (certificate === undefined) return xml;
    certificate.textContent = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    if (indent !== null) template.parentNode.insertBefore(indent.cloneNode(false), after.nextSibling);
    template.parentNode.insertBefore(copy, indent !== null ? after.nextSibling?.nextSibling ?? null : after.nextSibling);
    after = copy;
  }
  return new (xmldom().XMLSerializer)().serializeToString(document);
}

/**
 * Our metadata with an EntityDescriptor ID derived from its content instead of node-saml's random
 * one: the same configuration answers the same bytes on every request and every instance, so an
 * IdP (or an administrator) that compares the metadata it fetches sees a change only when there
 * is one, as during an SP key rollover.
 */
function withStableId(xml: string): string {
  const entity = /(<(?:md:)?EntityDescriptor\b[^>]*?\sID=")[^"]*(")/;
  const unidentified = xml.replace(entity, '$1$2');
  return unidentified.replace(entity, `$1_${createHash('sha256').update(unidentified).digest('hex').slice(0, 40)}$2`);
}

/** What xml-encryption itself calls insecure (3DES, RSA PKCS#1 v1.5), which node-saml does not ask it to refuse. */
const INSECURE_ENCRYPTION = new Set(['http://www.w3.org/2001/04/xmlenc#tripledes-cbc', 'http://www.w3.org/2001/04/xmlenc#rsa-1_5']);

/** The first insecure algorithm an EncryptionMethod of the response names (content or key transport), else undefined. */
function insecureEncryption(xml: string): string | undefined {
  const root = responseElement(xml);
  if (root === null) return undefined;
  return Array.from(root.getElementsByTagNameNS('*', 'EncryptionMethod'))
    .map((method) => method.getAttribute('Algorithm') ?? '')
    .find((algorithm) => INSECURE_ENCRYPTION.has(algorithm));
}

/**
 * The ID of the response's assertion (decrypted with `spKey` when encrypted), when it or the
 * response is validly signed by one of `certificates`; undefined otherwise. For telling a
 * replay from an unknown request only: nothing is accepted on its word.
 */
async function signedAssertionId(xml: string, certificates: readonly string[], spKey: string | null): Promise<string | undefined> {
  if (certificates.length === 0) return undefined;
  try {
    const { decryptXml, getVerifiedXml, parseDomFromString, xpath: samlXpath } = samlXmlLibrary();
    const document = await parseDomFromString(xml);
    const root = document.documentElement;
    if (root === null) return undefined;
    const responseSigned = getVerifiedXml(xml, root, [...certificates]) !== null;
    let assertionXml = xml;
    let assertion = samlXpath.selectElements(document, "/*[local-name()='Response']/*[local-name()='Assertion']")[0];
    const encrypted = samlXpath.selectElements(document, "/*[local-name()='Response']/*[local-name()='EncryptedAssertion']")[0];
    if (assertion === undefined && encrypted !== undefined && spKey !== null) {
      assertionXml = await decryptXml(encrypted.toString(), spKey);
      assertion = samlXpath.selectElements(await parseDomFromString(assertionXml), "/*[local-name()='Assertion']")[0];
    }
    if (assertion === undefined) return undefined;
    if (!responseSigned && getVerifiedXml(assertionXml, assertion, [...certificates]) === null) return undefined;
    return assertion.getAttribute('ID') || undefined;
  } catch {
    return undefined;
  }
}

/** The most characters of a library's error message kept in a failure's detail. */
const MAX_DETAIL = 200;

/**
 * Maps node-saml's exceptions to our failures. Their messages are mostly fixed, but the XML
 * parser's quote the input (an entity or tag name of any length): only the first line is
 * kept, cut to MAX_DETAIL characters.
 */
function classify(error: unknown, xml: string): SamlFailure {
  if (error instanceof samlLibrary().SamlStatusError) return { code: 'idp_error', detail: shorten(error.message, MAX_DETAIL) };
  const message = error instanceof Error ? error.message : String(error);
  const detail = shorten(message.split('\n')[0] ?? '', MAX_DETAIL);
  if (message.startsWith('InResponseTo is missing')) return { code: 'unsolicited' };
  if (/InResponseTo/.test(message)) return { code: 'unknown_request' };
  if (/signature|signed data/i.test(message)) return { code: 'signature', detail };
  if (message.startsWith('No decryption key')) return { code: 'encrypted_without_key' };
  // xml-encryption passes on OpenSSL's errors ("error:02000079:rsa routines::oaep decoding
  // error" for a key wrapped to another certificate) and names refused algorithms.
  if (/EncryptedAssertion/.test(xml) && /^error:[0-9A-F]+:|decrypt|padding|encryption algorithm/i.test(message)) return { code: 'decryption_failed', detail };
  if (message.startsWith('SAML assertion not yet valid') || message.startsWith('SAML assertion expired')) return timingFailure(xml);
  // node-saml reads Conditions/AudienceRestriction without checking they are there: an
  // assertion without them fails with a TypeError naming the element, not fit to show.
  if (error instanceof TypeError && /AudienceRestriction|Conditions/.test(message)) return { code: 'wrong_audience', detail: 'it names no audience' };
  if (/audience|AudienceRestriction/i.test(message)) return { code: 'wrong_audience', detail };
  // node-saml says this when no SubjectConfirmationData is within its time window; the
  // signature was already verified, so the timestamps say which way it failed.
  if (message.startsWith('No valid subject confirmation')) return timingFailure(xml);
  return { code: 'malformed', detail };
}

/**
 * Which way the assertion's validity window missed Roster's clock, with the bound it missed
 * (the latest NotBefore still ahead, else the earliest NotOnOrAfter already past), so that the
 * page and the audit entry say by how much. The times are read from the response as sent: an
 * encrypted assertion's stay hidden, and the failure then names no bound.
 */
function timingFailure(xml: string): SamlFailure {
  const now = Date.now();
  // As ISO 8601 again, whatever Date.parse accepted: the text goes on a page and into the audit log.
  const times = (pattern: RegExp): string[] =>
    [...xml.matchAll(pattern)].map((m) => Date.parse(m[1] ?? '')).filter((ms) => !Number.isNaN(ms)).map((ms) => new Date(ms).toISOString());
  const at = new Date(now).toISOString();
  const ahead = times(/\bNotBefore="([^"]{1,64})"/g).filter((text) => Date.parse(text) - CLOCK_SKEW_MS > now);
  if (ahead.length > 0) return { code: 'not_yet_valid', bound: ahead.reduce((a, b) => (Date.parse(b) > Date.parse(a) ? b : a)), now: at };
  // \b: SessionNotOnOrAfter (the IdP's session, not the assertion's validity) is not one of them.
  const past = times(/\bNotOnOrAfter="([^"]{1,64})"/g).filter((text) => Date.parse(text) + CLOCK_SKEW_MS <= now);
  if (past.length > 0) return { code: 'expired', bound: past.reduce((a, b) => (Date.parse(b) < Date.parse(a) ? b : a)), now: at };
  return { code: 'expired' };
}

/** The bound of the validity window an assertion missed, and Roster's time then (ISO 8601); absent when unknown. */
interface TimeBound {
  readonly bound?: string;
  readonly now?: string;
}

/** How the messages state the clock difference tolerated. */
const TOLERANCE_TEXT = `and it tolerates ${CLOCK_SKEW_MS / 60_000} minutes of difference between the clocks`;

function decodeBase64(value: string): Buffer | undefined {
  const compact = value.replace(/\s+/g, '');
  if (compact === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

/** The Response element, parsed once for the checks node-saml leaves to us; null when unreadable. */
function responseElement(xml: string): Element | null {
  try {
    return new (xmldom().DOMParser)().parseFromString(xml, 'text/xml').documentElement ?? null;
  } catch {
    return null;
  }
}

/** The Response's Destination attribute, or null when absent. */
function responseDestination(response: Element): string | null {
  const value = response.getAttribute('Destination');
  return value === null || value === '' ? null : value;
}

const SAML_PROTOCOL = 'urn:oasis:names:tc:SAML:2.0:protocol';
const SAML_SUCCESS = 'urn:oasis:names:tc:SAML:2.0:status:Success';

/** The first child of `parent` that is the SAML protocol element `name`. */
function protocolChild(parent: Element, name: string): Element | undefined {
  for (let node = parent.firstChild; node !== null; node = node.nextSibling) {
    const element = node as Element;
    if (node.nodeType === 1 && element.localName === name && element.namespaceURI === SAML_PROTOCOL) return element;
  }
  return undefined;
}

/** Whether the Response itself carries a valid signature by one of `certificates`. */
async function signedBy(xml: string, certificates: readonly string[]): Promise<boolean> {
  try {
    const { getVerifiedXml, parseDomFromString } = samlXmlLibrary();
    const root = (await parseDomFromString(xml)).documentElement;
    return root !== null && certificates.length > 0 && getVerifiedXml(xml, root, [...certificates]) !== null;
  } catch {
    return false;
  }
}

/**
 * The Response's own status (its direct Status child, not one nested elsewhere): exactly
 * SAML_SUCCESS when it is one; else how the IdP worded the failure (the status code, the
 * second-level code and, with `withMessage`, its StatusMessage, shortened); null when there is
 * none to read.
 */
function responseStatus(response: Element, withMessage: boolean): string | null {
  const status = protocolChild(response, 'Status');
  const code = status ? protocolChild(status, 'StatusCode') : undefined;
  const value = code?.getAttribute('Value') ?? '';
  if (status === undefined || value === '') return null;
  if (value === SAML_SUCCESS) return SAML_SUCCESS;
  const second = code ? protocolChild(code, 'StatusCode')?.getAttribute('Value') : undefined;
  const message = withMessage ? protocolChild(status, 'StatusMessage')?.textContent?.trim() : undefined;
  const words = [value, second ? `(${second})` : '', message ? `: ${message}` : ''].join(' ').replace(/\s+/g, ' ').replace(' :', ':');
  return shorten(words.trim(), MAX_DETAIL);
}

type XmlNode = Record<string, unknown>;
interface ConfirmationData {
  readonly Recipient?: string;
  readonly NotOnOrAfter?: string;
}

function assertionOf(profile: Profile): XmlNode {
  const parsed = profile.getAssertion?.() as XmlNode | undefined;
  const assertion = parsed?.['Assertion'];
  return typeof assertion === 'object' && assertion !== null ? (assertion as XmlNode) : {};
}

function attributeOf(node: XmlNode, name: string): string | null {
  const attributes = node['$'] as Record<string, unknown> | undefined;
  const value = attributes?.[name];
  return typeof value === 'string' && value !== '' ? value : null;
}

function children(node: XmlNode, name: string): XmlNode[] {
  const value = node[name];
  return Array.isArray(value) ? value.filter((item): item is XmlNode => typeof item === 'object' && item !== null) : [];
}

function subjectConfirmations(assertion: XmlNode): ConfirmationData[] {
  return children(assertion, 'Subject')
    .flatMap((subject) => children(subject, 'SubjectConfirmation'))
    .flatMap((confirmation) => children(confirmation, 'SubjectConfirmationData'))
    .map((data) => {
      const recipient = attributeOf(data, 'Recipient');
      const notOnOrAfter = attributeOf(data, 'NotOnOrAfter');
      return { ...(recipient !== null ? { Recipient: recipient } : {}), ...(notOnOrAfter !== null ? { NotOnOrAfter: notOnOrAfter } : {}) };
    });
}

/** Until when a replay must be caught: past the latest NotOnOrAfter (plus skew) it is refused as expired anyway. */
function replayHorizon(assertion: XmlNode, confirmations: readonly ConfirmationData[]): Date {
  const limits = [
    ...children(assertion, 'Conditions').map((conditions) => attributeOf(conditions, 'NotOnOrAfter')),
    ...confirmations.map((data) => data.NotOnOrAfter ?? null),
  ]
    .map((value) => (value === null ? NaN : Date.parse(value)))
    .filter((value) => !Number.isNaN(value));
  const latest = limits.length > 0 ? Math.max(...limits) : Date.now() + DEFAULT_ASSERTION_LIFETIME_MS;
  return new Date(latest + CLOCK_SKEW_MS);
}

/**
 * The earliest SessionNotOnOrAfter of the assertion's AuthnStatements, as ISO 8601; null when none
 * carries a readable one.
 */
function sessionNotOnOrAfter(assertion: XmlNode): string | null {
  const bounds = children(assertion, 'AuthnStatement')
    .map((statement) => Date.parse(attributeOf(statement, 'SessionNotOnOrAfter') ?? ''))
    .filter((ms) => !Number.isNaN(ms));
  return bounds.length === 0 ? null : new Date(Math.min(...bounds)).toISOString();
}

/**
 * The assertion's attributes by name: the text of every AttributeValue of every Attribute of that
 * name, in order (values that are not text, such as XML content, are left out; an Attribute
 * without values is as absent). node-saml's profile keeps the last Attribute of a name only, so
 * an IdP that sends one Attribute per value (Keycloak's group and role list mappers, unless set
 * to a single attribute) lost every group but the last at each just-in-time sign-in.
 */
function attributesOf(assertion: XmlNode): Record<string, string[]> {
  const result: Record<string, string[]> = {};
  for (const attribute of children(assertion, 'AttributeStatement').flatMap((statement) => children(statement, 'Attribute'))) {
    const name = attributeOf(attribute, 'Name');
    const values = children(attribute, 'AttributeValue');
    if (name === null || values.length === 0) continue;
    const texts = values.map((value) => value['_']).filter((text): text is string => typeof text === 'string');
    result[name] = Object.hasOwn(result, name) ? [...(result[name] ?? []), ...texts] : texts;
  }
  return result;
}
