// The error model: every deliberate error is a PurserError with a stable code, a name, and its cause.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, InvalidArgumentError, NodeError, PurserError } from 'purser';

test('PurserError subclasses carry a stable code, their own name and the cause', () => {
  const cause = new Error('underlying');
  const error = new ConfigError('bad port', { cause });
  assert.ok(error instanceof PurserError);
  assert.ok(error instanceof Error);
  assert.equal(error.code, 'CONFIG_INVALID');
  assert.equal(error.name, 'ConfigError');
  assert.equal(error.cause, cause);
  assert.equal(new InvalidArgumentError('x').code, 'INVALID_ARGUMENT');
  assert.equal(new NodeError('NODE_LISTEN_FAILED', 'x').code, 'NODE_LISTEN_FAILED');
});

test('a malformed error code is refused', () => {
  assert.throws(() => new PurserError('not a code', 'x'), TypeError);
});
