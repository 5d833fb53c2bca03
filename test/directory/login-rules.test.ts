/** The released login (login-rules.ts): a valid login by the admin API's rules, whatever the name it comes from. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LOGIN_LENGTH, loginProblem, releasedLogin } from '../../src/directory/login-rules.ts';

test('a released login is the name, the mark and the tag, and a valid login', () => {
  const released = releasedLogin('jane.doe@example.com', '0c2ba7a79507');
  assert.equal(released, 'jane.doe@example.com~released-0c2ba7a79507');
  assert.equal(loginProblem(released), undefined);
});

test('a released login of a name at the longest login fits the length, cut at whole characters', () => {
  const tag = '01a23570-e2b1-7c77-9cc7-0c2ba7a79507';
  for (const name of ['a'.repeat(LOGIN_LENGTH.max), '😀'.repeat(LOGIN_LENGTH.max / 2)]) {
    const released = releasedLogin(name, tag);
    assert.ok(released.length <= LOGIN_LENGTH.max, `${released.length}`);
    assert.ok(released.endsWith(`~released-${tag}`));
    assert.equal(loginProblem(released), undefined);
    assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(released), 'no half of a surrogate pair');
  }
});
