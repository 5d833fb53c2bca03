/**
 * The client address Roster records and counts by (http/client.ts): the address alone, whatever
 * form a trusted proxy wrote it in, IPv4-mapped addresses as IPv4, IPv6 networks as RFC 5952 writes them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { FastifyRequest } from 'fastify';
import { auditSource, clientAddress } from '../../src/http/client.ts';

const from = (ip: string) => clientAddress({ ip } as FastifyRequest);

test('clientAddress: ports and brackets are dropped, mapped addresses are IPv4, anything else is cut-short text', () => {
  assert.equal(from('203.0.113.9'), '203.0.113.9');
  assert.equal(from('203.0.113.9:4711'), '203.0.113.9');
  assert.equal(from('[2001:db8::1]:4711'), '2001:db8::1');
  assert.equal(from('[2001:DB8:0:0::1]'), '2001:db8::1');
  assert.equal(from('::ffff:192.0.2.2'), '192.0.2.2');
  assert.equal(from('::ffff:c000:202'), '192.0.2.2');
  assert.equal(from('fe80::1%eth0'), 'fe80::1');
  assert.equal(from('unknown'), 'unknown');
  assert.equal(from('_hidden'), '_hidden');
  assert.equal(from('a'.repeat(5000)), 'a'.repeat(64));
  assert.equal(from('203.0.113.9\t198.51.100.7'), '203.0.113.9?198.51.100.7');
});

test('auditSource: an IPv6 client by its /64 in RFC 5952 form, IPv4 as it is', () => {
  assert.equal(auditSource('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(auditSource('fd00::2'), 'fd00::/64');
  assert.equal(auditSource('::1'), '::/64');
  assert.equal(auditSource('2001:0:0:5::1'), '2001:0:0:5::/64');
  assert.equal(auditSource('[2001:db8:7::9]:443'), '2001:db8:7::/64');
  assert.equal(auditSource('::ffff:c633:6401'), '198.51.100.1');
  assert.equal(auditSource('198.51.100.1:80'), '198.51.100.1');
});
