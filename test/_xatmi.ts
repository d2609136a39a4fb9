// The outcome of a bus call as one string, for tests that compare outcomes rather than handle them.
import assert from 'node:assert/strict';
import { XatmiError, type PurserNode } from 'purser';

/** 'replied', or the XATMI code the call failed with; anything but an XatmiError fails the test. */
export async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'replied';
  } catch (error) {
    assert.ok(error instanceof XatmiError, `expected an XatmiError, got ${String(error)}`);
    return error.code;
  }
}

/**
 * Waits until the node's bus refuses new calls (TPEPROTO): its close has begun. A probe for a service
 * nobody advertises gets TPENOENT until then, and adds no work the drain would wait for.
 */
export async function untilBusRefusesCalls(node: PurserNode): Promise<void> {
  for (;;) {
    const code = await codeOf(node.bus.call('NO_SUCH_SERVICE', null));
    if (code === 'TPEPROTO') return;
    assert.equal(code, 'TPENOENT');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
