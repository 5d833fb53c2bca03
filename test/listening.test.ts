/**
 * The start-up banner says where Roster listens, and notes plainly when ROSTER_BASE_URL cannot
 * reach that address directly (a proxy or port mapping is then expected); it says nothing more
 * when the base URL does reach it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describeListening } from '../src/listening.ts';

test('the default setup: every address, base URL on localhost and the same port: no note', () => {
  assert.deepEqual(describeListening('0.0.0.0', 8080, 'http://localhost:8080'), { listensOn: 'http://0.0.0.0:8080 (every IPv4 address of this machine)', note: undefined });
  assert.equal(describeListening('::', 8080, 'http://roster.internal:8080').note, undefined);
  assert.equal(describeListening('127.0.0.1', 8080, 'http://localhost:8080').note, undefined);
  assert.equal(describeListening('10.0.0.5', 8080, 'http://10.0.0.5:8080').note, undefined);
  // A host name may resolve to the address: nothing can be said.
  assert.equal(describeListening('10.0.0.5', 8080, 'http://roster.internal:8080').note, undefined);
});

test('ROSTER_HOST=127.0.0.1 with a public https base URL: listens on this machine only, and a proxy is expected', () => {
  const listening = describeListening('127.0.0.1', 8080, 'https://roster.example.com');
  assert.equal(listening.listensOn, 'http://127.0.0.1:8080 (this machine only)');
  assert.equal(
    listening.note,
    'Note: https://roster.example.com (ROSTER_BASE_URL) does not reach Roster directly: it is https, and Roster itself serves plain HTTP; it is on port 443, Roster on port 8080; ' +
      'Roster listens on 127.0.0.1, which only this machine can reach. A reverse proxy is expected to forward it to http://127.0.0.1:8080. ' +
      'Without one, set ROSTER_BASE_URL to an address that reaches this one (docs/deploy.md).',
  );
});

test('each reason alone', () => {
  assert.match(describeListening('0.0.0.0', 8080, 'http://roster.example.com') .note ?? '', /: it is on port 80, Roster on port 8080\. A reverse proxy or a port mapping is expected to forward it to http:\/\/0\.0\.0\.0:8080\./);
  assert.match(describeListening('::1', 8080, 'http://roster.example.com:8080').note ?? '', /: Roster listens on ::1, which only this machine can reach\. A reverse proxy is expected to forward it to http:\/\/\[::1\]:8080\./);
  assert.match(describeListening('0.0.0.0', 443, 'https://roster.example.com').note ?? '', /: it is https, and Roster itself serves plain HTTP\. /);
  assert.match(describeListening('10.0.0.5', 8080, 'http://10.0.0.6:8080').note ?? '', /: it names 10\.0\.0\.6, and Roster listens on 10\.0\.0\.5 only\./);
  assert.equal(describeListening('::', 8080, 'http://[::1]:8080').listensOn, 'http://[::]:8080 (every address of this machine)');
});
