/**
 * The XML and SAML libraries, loaded on first use rather than at start-up: @node-saml/node-saml
 * with xml-crypto, xml-encryption, xml2js and @xmldom/xmldom was about a tenth of the CPU of
 * starting and 15 MB of memory, on instances that may never see a SAML request. All are
 * CommonJS, so a synchronous `require` loads them where they are needed (the callers stay
 * synchronous), once per process.
 */
import { createRequire } from 'node:module';

type XmlDom = typeof import('@xmldom/xmldom');
type NodeSaml = typeof import('@node-saml/node-saml');
type NodeSamlXml = typeof import('@node-saml/node-saml/lib/xml.js');

const load = createRequire(import.meta.url);
let xmlDom: XmlDom | undefined;
let nodeSaml: NodeSaml | undefined;
let nodeSamlXml: NodeSamlXml | undefined;

/** @xmldom/xmldom (its DOMParser). */
export function xmldom(): XmlDom {
  xmlDom ??= load('@xmldom/xmldom') as XmlDom;
  return xmlDom;
}

/** @node-saml/node-saml (SAML, SamlStatusError, ValidateInResponseTo). */
export function samlLibrary(): NodeSaml {
  nodeSaml ??= load('@node-saml/node-saml') as NodeSaml;
  return nodeSaml;
}

/** node-saml's XML helpers (signature checks, decryption, XPath) that Roster uses beside it. */
export function samlXmlLibrary(): NodeSamlXml {
  nodeSamlXml ??= load('@node-saml/node-saml/lib/xml.js') as NodeSamlXml;
  return nodeSamlXml;
}
