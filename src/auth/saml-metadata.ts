/**
 * Reads an identity provider's SAML 2.0 metadata into configuration input (saml-config.ts checks
 * it): its entity ID, its sign-in URL and the certificates that sign its responses, leaving out
 * what cannot serve (expired, a chain's authorities, keys SAML in Roster cannot use) and saying
 * so. Hostile XML is screened before it is parsed (xml-safety.ts, xml-syntax.ts).
 */
import type { Element } from '@xmldom/xmldom';
import { chainIssuers, describeCertificate, toPem, unusableKey, type CertificateInfo } from './saml-certificates.ts';
import type { SamlConfigInput } from './saml-config.ts';
import { xmldom } from './xml-libraries.ts';
import { screenXmlText } from './xml-safety.ts';
import { xmlSyntaxProblem } from './xml-syntax.ts';
import { readableTime } from '../text.ts';

export type MetadataResult =
  /** `leftOut`: what to tell the administrator about expired certificates the metadata still lists. */
  | { readonly ok: true; readonly input: SamlConfigInput; readonly leftOut: readonly string[] }
  | { readonly ok: false; readonly message: string };

const MD = 'urn:oasis:names:tc:SAML:2.0:metadata';
const DS = 'http://www.w3.org/2000/09/xmldsig#';
const BINDING_REDIRECT = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect';
const BINDING_POST = 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST';

/** The start of an HTML document: an optional XML declaration and comments, then `<!DOCTYPE html` or `<html`. */
const HTML_PAGE = /^(?:<\?xml[^>]*\?>\s*)?(?:<!--[\s\S]*?-->\s*)*<(?:!doctype\s+html|html)[\s>]/i;

/**
 * Reads an IdP's SAML 2.0 metadata (an EntityDescriptor) into unchecked configuration input.
 * Expired signing certificates are left out (an IdP lists the old one beside the new one for a
 * while after a rollover), and `leftOut` says which; refused only when every one has expired.
 */
export function parseIdpMetadata(text: string, now: Date = new Date()): MetadataResult {
  // ADFS and Entra ID save federation metadata with a byte-order mark, and text pasted into the
  // console may start with a line break: neither is XML, and the parser refused both.
  const xml = text.replace(/^\uFEFF?\s*/, '');
  // A web page (a portal or sign-in page saved, or the answer of an address that wants a
  // session) starts with an HTML DOCTYPE; said as such rather than as a refused declaration.
  if (HTML_PAGE.test(xml)) {
    return { ok: false, message: 'the metadata is a web page (HTML), not the identity provider’s metadata XML: it is what a browser gets from a portal or sign-in page. Download the federation metadata document (Entra ID: “App Federation Metadata Url”; Okta: the SAML app’s “Metadata URL”) and give that file' };
  }
  // Metadata never needs a DTD; refusing one rules out entity-expansion tricks outright.
  const screened = screenXmlText(xml);
  if (screened?.code === 'declaration') return { ok: false, message: 'the metadata must not contain a DOCTYPE or ENTITY declaration' };
  if (screened !== undefined) return { ok: false, message: `the metadata must be UTF-8 text (${screened.detail})` };
  const syntax = xmlSyntaxProblem(xml);
  if (syntax !== undefined) {
    const where = syntax.line === undefined ? '' : `, at line ${syntax.line}, column ${syntax.column ?? 1}`;
    return { ok: false, message: `the metadata is not well-formed XML${where}: ${syntax.reason}. Expected: the identity provider’s federation metadata XML, whole (one EntityDescriptor document)` };
  }
  const root: Element | null = new (xmldom().DOMParser)().parseFromString(xml, 'text/xml').documentElement;
  if (root === null || root.namespaceURI !== MD) {
    return { ok: false, message: 'the metadata must be a SAML 2.0 EntityDescriptor' };
  }

  let entity: Element | undefined;
  if (root.localName === 'EntityDescriptor') entity = root;
  else if (root.localName === 'EntitiesDescriptor') {
    // An aggregate (federation) file: usable only if exactly one entity in it is an IdP.
    const idps = elements(root, MD, 'EntityDescriptor').filter((e) => elements(e, MD, 'IDPSSODescriptor').length > 0);
    if (idps.length !== 1) {
      return { ok: false, message: `the metadata describes ${idps.length} identity providers; give the file of exactly one` };
    }
    entity = idps[0];
  }
  if (entity === undefined) return { ok: false, message: 'the metadata must be a SAML 2.0 EntityDescriptor' };

  const providerId = entity.getAttribute('entityID') ?? '';
  if (providerId.trim() === '') return { ok: false, message: 'the EntityDescriptor has no entityID' };
  const idp = elements(entity, MD, 'IDPSSODescriptor')[0];
  if (idp === undefined) return { ok: false, message: 'the metadata has no IDPSSODescriptor: it does not describe an identity provider' };

  const services = elements(idp, MD, 'SingleSignOnService');
  // Redirect is what a browser-initiated AuthnRequest uses by default; POST is the fallback.
  const service =
    services.find((s) => s.getAttribute('Binding') === BINDING_REDIRECT) ??
    services.find((s) => s.getAttribute('Binding') === BINDING_POST);
  const loginUrl = service?.getAttribute('Location') ?? '';
  if (loginUrl === '') {
    return { ok: false, message: 'the IDPSSODescriptor has no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding' };
  }

  const certificates: string[] = [];
  const authorities: string[] = [];
  for (const descriptor of elements(idp, MD, 'KeyDescriptor')) {
    const use = descriptor.getAttribute('use');
    // No `use` means the key serves both signing and encryption (SAML metadata §2.4.1.1).
    if (use !== null && use !== '' && use !== 'signing') continue;
    // One KeyDescriptor holds one key; more certificates beside it are its chain (XML Signature
    // §4.5.4: they contain the key or certify it). Only the key's own certificate signs.
    const listed = elements(descriptor, DS, 'X509Certificate').flatMap((cert) => {
      const base64 = (cert.textContent ?? '').replace(/\s+/g, '');
      return base64 === '' ? [] : [toPem(base64)];
    });
    const issuers = chainIssuers(listed);
    listed.forEach((pem, index) => {
      if (!issuers.has(index)) certificates.push(pem);
      else authorities.push(describeCertificate(pem).subject);
    });
  }
  if (certificates.length === 0) return { ok: false, message: 'the IDPSSODescriptor has no signing certificate (KeyDescriptor/X509Certificate)' };

  // Left out, rather than refusing the whole file, when another certificate serves: an expired
  // one (an IdP lists the old one beside the new one for a while after a rollover), or one whose
  // key Roster cannot verify with (an EC or short RSA key listed beside an RSA one).
  const expired: CertificateInfo[] = [];
  const unusable: string[] = [];
  const current = certificates.filter((pem) => {
    let info: CertificateInfo;
    try {
      info = describeCertificate(pem);
    } catch {
      return true; // validation names what is wrong with it
    }
    if (Date.parse(info.validTo) <= now.getTime()) {
      if (!expired.some((e) => e.fingerprint256 === info.fingerprint256)) expired.push(info);
      return false;
    }
    const problem = unusableKey(pem, info.subject);
    if (problem === undefined) return true;
    if (!unusable.includes(problem)) unusable.push(problem);
    return false;
  });
  const described = expired.map((info) => `${info.subject}, which expired on ${readableTime(info.validTo)}`);
  if (current.length === 0) {
    return {
      ok: false,
      message: unusable.length === 0 ? `every signing certificate in the metadata has expired (${described.join('; ')})` : `no signing certificate in the metadata can be used (${[...described, ...unusable].join('; ')})`,
    };
  }
  const leftOut = [
    ...described.map((text) => `left out the expired certificate ${text}`),
    ...[...new Set(authorities)].map((subject) => `left out the certificate authority ${subject} (it issued the signing certificate listed with it, and signs nothing itself)`),
    ...unusable.map((problem) => `left out ${problem.replace(/^the certificate (.+?) has /, 'the certificate $1, which has ')}`)];
  return { ok: true, input: { providerId: providerId.trim(), loginUrl: loginUrl.trim(), certificates: current }, leftOut };
}

function elements(parent: Element, namespace: string, localName: string): Element[] {
  return Array.from(parent.getElementsByTagNameNS(namespace, localName));
}
