/** The byte-level XML screen (src/auth/xml-safety.ts): what counts as a declaration or a foreign encoding. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { screenXml, wellFormednessError } from '../../src/auth/xml-safety.ts';

const ok = '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>';

test('screenXml refuses DOCTYPE and ENTITY declarations in any case and after whitespace', () => {
  for (const text of ['<!DOCTYPE r>', '<!doctype r>', '<!DocType r>', '<! DOCTYPE r>', '<!\r\n\tENTITY a "b">', `${ok}<!ENTITY a "b">`, '<!DOCTYPE']) {
    assert.equal(screenXml(Buffer.from(text))?.code, 'declaration', JSON.stringify(text));
  }
});

test('screenXml lets comments, CDATA, processing instructions and declaration-like text through', () => {
  for (const text of [ok, `<?xml version="1.0"?><!-- DOCTYPE --><r><![CDATA[<!DOCTYPE]]]]></r>`, '<r>DOCTYPE &amp; ENTITY</r>', '<r a="!DOCTYPE"/>', '<!', '<']) {
    // CDATA holding "<!DOCTYPE" is refused too: the screen does not parse, and no IdP sends that.
    const expected = text.includes('<![CDATA[<!DOCTYPE') ? 'declaration' : undefined;
    assert.equal(screenXml(Buffer.from(text))?.code, expected, JSON.stringify(text));
  }
});

test('screenXml refuses UTF-16 and UTF-32 (byte-order marks) and any NUL byte', () => {
  const cases = [
    Buffer.concat([Buffer.from([0xfe, 0xff]), Buffer.from('<r/>', 'utf16le').swap16()]),
    Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('<r/>', 'utf16le')]),
    Buffer.from([0x00, 0x00, 0xfe, 0xff, 0, 0, 0, 0x3c]),
    Buffer.from([0xff, 0xfe, 0x00, 0x00, 0x3c, 0, 0, 0]),
    Buffer.from('<r/>', 'utf16le'),
    Buffer.from('<r>\u0000</r>'),
  ];
  for (const bytes of cases) assert.equal(screenXml(bytes)?.code, 'encoding', bytes.toString('hex'));
  assert.equal(screenXml(Buffer.from(`\ufeff${ok}`)), undefined, 'a UTF-8 byte-order mark is fine');
});

test('wellFormednessError names the first error and accepts well-formed documents', () => {
  assert.equal(wellFormednessError(ok), undefined);
  assert.match(wellFormednessError('<r><a></r>') ?? '', /./);
  assert.match(wellFormednessError('<?x'.repeat(1000)) ?? '', /./);
  assert.match(wellFormednessError('') ?? '', /missing root element/);
});
