/**
 * The byte-level screen every XML document from outside goes through before a parser sees it.
 * SAML messages and metadata never need a DTD (SAML core §1.3, "SAML does not use DTDs"), so
 * any DOCTYPE or ENTITY declaration is refused unread: that rules out entity expansion
 * ("billion laughs") and external entities (SYSTEM/PUBLIC reads of local files or URLs) whatever
 * the parser would do with them. The screen is one linear pass over the bytes, so its cost does
 * not grow with what a declaration would expand to.
 */
import { xmldom } from './xml-libraries.ts';
import { shorten } from '../text.ts';

/** Why a document was refused before parsing; undefined when it may be parsed. */
export type XmlScreenRefusal =
  | { readonly code: 'declaration'; readonly detail: string }
  | { readonly code: 'encoding'; readonly detail: string };

const LT = 0x3c; // <
const BANG = 0x21; // !

/**
 * Refuses a document that is not UTF-8 text or that declares a DTD or an entity.
 *
 * Rules, at the byte level: a UTF-16 or UTF-32 byte-order mark, or any NUL byte, means the
 * text is not UTF-8 (node-saml and xmldom read UTF-8 only; refusing closes the door on a
 * declaration hidden by another encoding). Then `<!` followed by optional whitespace and
 * `DOCTYPE` or `ENTITY` in any letter case is a declaration. XML allows neither the
 * whitespace nor lower case, but some parsers are lenient, and a comment or CDATA section
 * (`<!--`, `<![CDATA[`) is all a SAML message may legitimately start with `<!`.
 */
export function screenXml(bytes: Uint8Array): XmlScreenRefusal | undefined {
  const bom = byteOrderMark(bytes);
  if (bom !== undefined) return { code: 'encoding', detail: `the document is ${bom}, not UTF-8` };
  if (bytes.includes(0)) return { code: 'encoding', detail: 'the document contains NUL bytes, so it is not UTF-8 text' };
  let at = bytes.indexOf(LT);
  while (at !== -1) {
    if (bytes[at + 1] === BANG) {
      const keyword = declarationAt(bytes, at + 2);
      if (keyword !== undefined) return { code: 'declaration', detail: `the document contains a ${keyword} declaration, which SAML never uses` };
    }
    at = bytes.indexOf(LT, at + 1);
  }
  return undefined;
}

/** Refuses like screenXml, for text already decoded (administrators' metadata files). */
export function screenXmlText(text: string): XmlScreenRefusal | undefined {
  return screenXml(Buffer.from(text, 'utf8'));
}

function byteOrderMark(bytes: Uint8Array): string | undefined {
  const [a, b, c, d] = [bytes[0], bytes[1], bytes[2], bytes[3]];
  if (a === 0x00 && b === 0x00 && c === 0xfe && d === 0xff) return 'UTF-32 (big-endian)';
  if (a === 0xff && b === 0xfe && c === 0x00 && d === 0x00) return 'UTF-32 (little-endian)';
  if (a === 0xfe && b === 0xff) return 'UTF-16 (big-endian)';
  if (a === 0xff && b === 0xfe) return 'UTF-16 (little-endian)';
  return undefined;
}

/** `DOCTYPE` or `ENTITY` when the bytes from `start` (after optional whitespace) spell one, in any case. */
function declarationAt(bytes: Uint8Array, start: number): 'DOCTYPE' | 'ENTITY' | undefined {
  let at = start;
  while (isSpace(bytes[at])) at++;
  for (const keyword of ['DOCTYPE', 'ENTITY'] as const) {
    let matched = true;
    for (let i = 0; i < keyword.length; i++) {
      const byte = bytes[at + i];
      // ASCII letters only: OR 0x20 folds upper to lower case.
      if (byte === undefined || (byte | 0x20) !== (keyword.charCodeAt(i) | 0x20)) {
        matched = false;
        break;
      }
    }
    if (matched) return keyword;
  }
  return undefined;
}

function isSpace(byte: number | undefined): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

/**
 * Parses `text` with a parser that stops at the first error, and says what it was; undefined
 * when the document is well-formed. node-saml parses with an older xmldom (0.8) that carries on
 * after errors and locates each one from the start of the text: 390 KiB of `<?x` kept a CPU busy
 * for minutes. A document that passes here gives that parser no error to report.
 */
export function wellFormednessError(text: string): string | undefined {
  try {
    const parser = new (xmldom().DOMParser)({
      onError(level, message) {
        if (level !== 'warning') throw new Error(message);
      },
    });
    const root = parser.parseFromString(text, 'text/xml').documentElement;
    return root === null ? 'the document has no root element' : undefined;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return shorten(message.split('\n')[0] ?? '', 200);
  }
}
