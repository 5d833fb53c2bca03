/**
 * Why a text is not well-formed XML, in words an administrator can act on, and where. xmldom
 * (the parser Roster reads metadata with) decides; its own words ("Reporting fatalError "missing
 * root element" caused Error: …") were shown as they were, and the position it keeps is that of
 * the last node it read, not of the fault (an unknown entity on line 2 was placed on line 1). So
 * the position comes from sax, a streaming parser (already shipped with node-saml's xml2js) that
 * counts lines and columns as it reads; when sax finds nothing wrong, no position is given.
 */
import { createRequire } from 'node:module';
import { xmldom } from './xml-libraries.ts';
import { shorten } from '../text.ts';

/** Why and where a text is not well-formed XML. */
export interface XmlSyntaxProblem {
  /** What is wrong, in plain words, without a trailing full stop or parentheses (callers may add theirs). */
  readonly reason: string;
  /** 1-based line and column where a reader found it, when one did. */
  readonly line?: number;
  readonly column?: number;
}

/** The few members of sax's strict parser used here (the package has no types of its own). */
interface SaxParser {
  line: number;
  column: number;
  error: Error | null;
  onerror: (error: Error) => void;
  write(text: string): SaxParser;
  close(): SaxParser;
  resume(): SaxParser;
}
interface Sax {
  parser(strict: boolean, options: { readonly xmlns: boolean }): SaxParser;
}

const load = createRequire(import.meta.url);
let sax: Sax | undefined;

/** The problem of `text` as XML, undefined when it is well-formed. */
export function xmlSyntaxProblem(text: string): XmlSyntaxProblem | undefined {
  let message: string | undefined;
  try {
    const parser = new (xmldom().DOMParser)({
      onError(level, reported) {
        if (level === 'warning') return;
        message ??= reported;
        throw new Error(reported);
      },
    });
    if (parser.parseFromString(text, 'text/xml').documentElement === null) message ??= 'missing root element';
    else if (message === undefined) return undefined;
  } catch (error) {
    message ??= error instanceof Error ? error.message : String(error);
  }
  return { reason: plainReason(message, text), ...positionOf(text) };
}

/** xmldom's message for the first error, said for someone who pasted a document. */
function plainReason(message: string, text: string): string {
  const quoted = (value: string) => `“${shorten(value, 60)}”`;
  if (/missing root element/.test(message)) {
    if (/^\s*https?:\/\//i.test(text)) return 'it is an address, not the XML document: open the address and paste what it shows';
    return text.trim().startsWith('{') ? 'it holds no XML element; it looks like JSON' : 'it holds no XML element';
  }
  const unclosed = /unclosed xml tag\(s\): (.+)/.exec(message);
  if (unclosed !== null) return `it ends before <${shorten(unclosed[1] ?? '', 60)}> is closed, as if cut short when copied`;
  if (/unexpected end of input/i.test(message)) return 'it ends before every element is closed, as if cut short when copied';
  if (/EntityRef: expecting ;/.test(message)) return 'an “&” starts no entity; an “&” in text is written “&amp;”';
  if (/attribute value no end/.test(message)) return 'an attribute’s value has no closing quote';
  if (/comment is not well-formed/.test(message)) return 'a comment “<!--” is not closed by “-->”';
  if (/Invalid CDATA/.test(message)) return 'a CDATA section is not closed by “]]>”';
  if (/Extra content at the end/.test(message)) return 'there is text after the XML element';
  if (/NamespaceError/.test(message)) return 'an element or attribute uses a namespace prefix that no xmlns declares';
  const mismatch = /tag mismatch: "([^"]*)" != "([^"]*)"/.exec(message);
  if (mismatch !== null) return `the element <${mismatch[1] ?? ''}> is not closed before </${mismatch[2] ?? ''}>`;
  const outside = /outside root element: '([^']*)'/.exec(message);
  if (outside !== null) return `there is text before or after the XML element: ${quoted(outside[1] ?? '')}`;
  if (/Only one element can be added/.test(message)) return 'it holds more than one top-level element, where metadata is one EntityDescriptor';
  const redefined = /Attribute (\S+) redefined/.exec(message);
  if (redefined !== null) return `an element has the attribute ${redefined[1] ?? ''} twice`;
  const entity = /entity not found:\s*(\S+)/.exec(message);
  if (entity !== null) return `${quoted(entity[1] ?? '')} is not an XML entity; an “&” in text is written “&amp;”`;
  if (/invalid tagName/.test(message)) return 'a “<” starts no valid tag; a “<” in text is written “&lt;”';
  return 'its markup breaks the rules of XML';
}

/** Where sax stops at its first error; nothing when it finds none. */
function positionOf(text: string): { line?: number; column?: number } {
  sax ??= load('sax') as Sax;
  const parser = sax.parser(true, { xmlns: false });
  let found: { line: number; column: number } | undefined;
  parser.onerror = () => {
    found ??= { line: parser.line + 1, column: Math.max(parser.column, 1) };
    // Stop reading: only the first error is shown.
    throw new StopReading();
  };
  try {
    parser.write(text).close();
  } catch (error) {
    if (!(error instanceof StopReading)) throw error;
  }
  return found ?? {};
}

class StopReading extends Error {}
