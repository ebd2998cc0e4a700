// Buffered invocation (used by async workers and compat APIs) through the same pools as HTTP.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { invokeBuffered } from '../../src/dispatch/invoke.js';
import { startTestPlatform } from '../helpers/platform.js';

test('invokeBuffered', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { dispatcher } = nimbus.platform;
  await Promise.all(['echo', 'throws', 'hangs'].map((f) => nimbus.deploy(f)));

  await t.test('a whole request in, a whole response out', async () => {
    const res = await invokeBuffered(dispatcher, 'echo', {
      method: 'POST',
      path: '/x?y=1',
      headers: [
        ['content-type', 'text/plain'],
        ['x-call-id', 'abc'],
      ],
      body: Buffer.from('hi'),
    });
    assert.equal(res.status, 200);
    assert.equal(res.error, undefined);
    const body = JSON.parse(res.body.toString()) as any;
    assert.equal(body.path, '/x');
    assert.equal(body.body, 'hi');
    assert.equal(body.headers['x-call-id'], 'abc');
    assert.ok(res.headers.includes('x-echo'));
  });

  await t.test('failures come back as coded errors, not exceptions', async () => {
    const thrown = await invokeBuffered(dispatcher, 'throws', {
      method: 'GET',
      path: '/',
      headers: [],
      body: Buffer.alloc(0),
    });
    assert.equal(thrown.status, 500);
    assert.equal(thrown.error?.code, 'ERR_HANDLER_FAILED');
    const hung = await invokeBuffered(dispatcher, 'hangs', {
      method: 'GET',
      path: '/hang',
      headers: [],
      body: Buffer.alloc(0),
    });
    assert.equal(hung.status, 504);
    assert.equal(hung.error?.code, 'ERR_HANDLER_TIMEOUT');
    const missing = await invokeBuffered(dispatcher, 'nope', {
      method: 'GET',
      path: '/',
      headers: [],
      body: Buffer.alloc(0),
    });
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.body.toString()).error.code, 'ERR_FUNCTION_NOT_FOUND');
  });
});
