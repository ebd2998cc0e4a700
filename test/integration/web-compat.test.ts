// The Web-standard handler surface behaves as Request/Response do, fast path or not.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestPlatform } from '../helpers/platform.js';

test('web compat', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url } = nimbus;
  await nimbus.deploy('webcompat');
  const call = (path: string, init?: RequestInit) => fetch(`${url}/function/webcompat${path}`, init);

  await t.test('request.json, Response.json with a status, instanceof', async () => {
    const res = await call('/json', {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 201);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(await res.json(), { got: { a: 1 }, isRequest: true });
  });

  await t.test('new Request(request) and its body', async () => {
    const res = await call('/clone', { method: 'PUT', body: 'payload' });
    assert.equal(await res.text(), 'PUT payload');
  });

  await t.test('headers set after construction are sent', async () => {
    const res = await call('/mutate');
    assert.equal(res.headers.get('x-late'), 'yes');
    assert.equal(await res.text(), 'mutated');
  });

  await t.test('a Headers object with several cookies and a bytes body', async () => {
    const res = await call('/headers-object');
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('x-one'), '1');
    assert.deepEqual(res.headers.getSetCookie(), ['a=1', 'b=2']);
    assert.equal(await res.text(), 'hi');
  });

  await t.test('a string body gets text/plain; headers and method reach the handler', async () => {
    const res = await call('/', { headers: { 'x-test': 'seen' } });
    assert.equal(res.headers.get('content-type'), 'text/plain;charset=UTF-8');
    assert.equal(await res.text(), 'GET seen false');
  });

  await t.test('request.signal exists', async () => {
    assert.equal(await (await call('/signal')).text(), 'true');
  });

  await t.test('204 without a body', async () => {
    const res = await call('/no-body');
    assert.equal(res.status, 204);
    assert.equal(await res.text(), '');
  });

  await t.test('an invalid header value is the handler’s error, not a broken response', async () => {
    const res = await call('/bad-header');
    assert.equal(res.status, 500);
    assert.equal(((await res.json()) as any).error.code, 'ERR_HANDLER_FAILED');
  });

  await t.test('form bodies', async () => {
    const res = await call('/form', { method: 'POST', body: new URLSearchParams({ a: 'x y' }) });
    assert.equal(await res.text(), 'form x y');
  });
});
