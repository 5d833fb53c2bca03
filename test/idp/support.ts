/** Small helpers shared by the IdP replay tests. */
import assert from 'node:assert/strict';
import type { TestResponse } from '../support/app.ts';

/** Asserts a status, showing the SCIM error detail when it differs. */
export function expectStatus(response: TestResponse, status: number): void {
  assert.equal(response.status, status, `expected ${status}, got ${response.status}: ${JSON.stringify(response.body)}`);
}

/** The attributes a client compares after a write: everything but `meta` (its timestamps move). */
export function withoutMeta(resource: Record<string, unknown>): Record<string, unknown> {
  const { meta: _meta, ...rest } = resource;
  return rest;
}

/** Sorted member ids of a group as read back. */
export function memberValues(group: { members?: readonly { value: string }[] }): string[] {
  return (group.members ?? []).map((member) => member.value).sort();
}
