import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bulkResponse, parseBulkRequest, planBulk, resolveReferences, type BulkOperation, type Created, type RunnableOperation } from '../../src/scim/bulk.ts';
import { ScimError } from '../../src/scim/errors.ts';

const options = { maxOperations: 1000, checkText: () => {} };

function post(bulkId: string, data: unknown = { userName: bulkId }, path = '/Users') {
  return { method: 'POST', path, bulkId, data };
}

function runnable(operation: BulkOperation | undefined): RunnableOperation {
  assert.ok(operation && operation.kind === 'runnable', JSON.stringify(operation));
  return operation;
}

test('parseBulkRequest reads references in paths, data values and PATCH path filters, and nowhere else', () => {
  const { operations } = parseBulkRequest({
    Operations: [
      post('u1'),
      post('u2'),
      post('g', { displayName: 'G', members: [{ value: 'bulkId:u1' }], note: 'see bulkId:u2', 'bulkId:u2': 'a key is no reference' }, '/Groups'),
      { method: 'PATCH', path: '/Groups/bulkId:g', data: { Operations: [{ op: 'remove', path: 'members[value eq "bulkId:u2"]' }] } },
    ],
  }, options);
  assert.deepEqual(runnable(operations[2]).references, ['u1']);
  assert.deepEqual(runnable(operations[3]).references, ['g', 'u2']);
  assert.equal(runnable(operations[3]).id, 'bulkId:g');
});

test('planBulk runs operations in request order, each after the POSTs it references', () => {
  const { operations } = parseBulkRequest({
    Operations: [
      { method: 'DELETE', path: '/Users/bulkId:c' },
      post('a'),
      post('b', { userName: 'b', manager: { value: 'bulkId:c' } }),
      post('c', { userName: 'c', manager: { value: 'bulkId:d' } }),
      post('d'),
    ],
  }, options);
  assert.deepEqual(planBulk(operations).order, [4, 3, 0, 1, 2]);
});

test('planBulk finds every circle of references, however long, and leaves the rest alone', () => {
  const { operations } = parseBulkRequest({
    Operations: [
      post('a', { userName: 'a', manager: { value: 'bulkId:b' } }),
      post('b', { userName: 'b', manager: { value: 'bulkId:c' } }),
      post('c', { userName: 'c', manager: { value: 'bulkId:a' } }),
      post('d', { userName: 'd', manager: { value: 'bulkId:a' } }),
      post('e', { userName: 'e', manager: { value: 'bulkId:e' } }),
    ],
  }, options);
  const { circular } = planBulk(operations);
  assert.deepEqual([...circular.keys()].sort(), [0, 1, 2, 4]);
  assert.equal(circular.get(0)?.status, 409);
});

test('planBulk handles a chain of maxOperations references', () => {
  const chain = Array.from({ length: 1000 }, (_unused, index) =>
    post(`n${index}`, index === 999 ? { userName: 'last' } : { userName: `n${index}`, manager: { value: `bulkId:n${index + 1}` } }),
  );
  const plan = planBulk(parseBulkRequest({ Operations: chain }, options).operations);
  assert.equal(plan.circular.size, 0);
  assert.equal(plan.order[0], 999);
  assert.equal(plan.order[999], 0);
});

test('resolveReferences replaces exact references with ids, also quoted in PATCH paths, or answers 409 for a failed POST', () => {
  const { operations } = parseBulkRequest({
    Operations: [
      post('u"1'),
      { method: 'PATCH', path: '/Groups/bulkId:g', data: { Operations: [{ op: 'remove', path: 'members[value eq "bulkId:u\\"1"]' }, { op: 'add', path: 'members', value: [{ value: 'bulkId:u"1' }] }] } },
      post('g', { displayName: 'G' }, '/Groups'),
    ],
  }, options);
  const created = new Map<string, Created>([['u"1', { ok: true, id: 'id-1' }], ['g', { ok: true, id: 'id-g' }]]);
  const resolved = resolveReferences(runnable(operations[1]), created);
  assert.deepEqual(resolved, {
    ok: true,
    id: 'id-g',
    data: { Operations: [{ op: 'remove', path: 'members[value eq "id-1"]' }, { op: 'add', path: 'members', value: [{ value: 'id-1' }] }] },
  });
  const failed = resolveReferences(runnable(operations[1]), new Map<string, Created>([['u"1', { ok: false, index: 0, status: 409 }], ['g', { ok: true, id: 'id-g' }]]));
  assert.equal(failed.ok, false);
  assert.ok(!failed.ok && failed.problem.status === 409);
});

test('parseBulkRequest refuses the request as a whole only for what spoils all of it', () => {
  assert.throws(() => parseBulkRequest({ Operations: Array.from({ length: 3 }, (_unused, index) => post(`x${index}`)) }, { ...options, maxOperations: 2 }), (error: unknown) => {
    return error instanceof ScimError && error.status === 413 && error.scimType === undefined && /maxOperations \(2\)/.test(error.message);
  });
  const { operations } = parseBulkRequest({ Operations: [{ method: 'PUT', path: '/Users/1', data: {}, version: { tag: 1 } }, post('ok')] }, options);
  assert.equal(operations[0]?.kind, 'refused');
  assert.equal(operations[1]?.kind, 'runnable');
});

test('bulkResponse gives each entry RFC 7644 §3.7.3 members, status as a string', () => {
  assert.deepEqual(
    bulkResponse([
      { method: 'POST', bulkId: 'q', location: 'https://x/Users/1', version: 'W/"1"', status: 201 },
      { method: 'DELETE', status: 404, location: 'https://x/Users/2', response: new ScimError(404, undefined, 'User 2 not found.').toBody() },
    ]),
    {
      schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkResponse'],
      Operations: [
        { location: 'https://x/Users/1', method: 'POST', bulkId: 'q', version: 'W/"1"', status: '201' },
        { location: 'https://x/Users/2', method: 'DELETE', status: '404', response: { schemas: ['urn:ietf:params:scim:api:messages:2.0:Error'], status: '404', detail: 'User 2 not found.' } },
      ],
    },
  );
});
