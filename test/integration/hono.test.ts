// A Hono app runs as it runs on Node: its onError sees what the WHATWG Response constructor throws (the
// runner's light Response throws where undici's does), middleware that clones responses works.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestPlatform } from '../helpers/platform.js';

test('a Hono app', async (t) => {
  const nimbus = await startTestPlatform(t);
  await nimbus.deploy('hono-app', 'hono');
  const call = (path: string, init?: RequestInit) =>
    fetch(`${nimbus.url}/function/hono${path}`, { redirect: 'manual', ...init });

  await t.test('routes, JSON with a status, bodies and headers', async () => {
    assert.equal(await (await call('/')).text(), 'hono root');
    const json = await call('/json?q=x');
    assert.equal(json.status, 201);
    assert.deepEqual(await json.json(), { ok: true, path: '/json', q: 'x' });
    const echo = await call('/echo', { method: 'POST', body: 'payload', headers: { 'x-test': 'seen' } });
    assert.equal(await echo.text(), 'POST payload seen');
  });

  await t.test('a Response constructor error reaches the app’s onError', async () => {
    for (const [path, error] of [
      ['/bad-init', 'TypeError'],
      ['/bad-status', 'RangeError'],
      ['/bad-header', 'TypeError'],
      ['/throws', 'Error: route threw'],
    ]) {
      const res = await call(path!);
      assert.equal(res.status, 500, path);
      assert.equal(res.headers.get('content-type'), 'text/plain; charset=UTF-8', path);
      assert.match(await res.text(), new RegExp(`^app error: ${error}`), path);
    }
  });

  await t.test('middleware that clones the response, redirects, cookies, the custom 404', async () => {
    const tagged = await call('/etag/page');
    assert.equal(await tagged.text(), 'tagged');
    const tag = tagged.headers.get('etag');
    assert.ok(tag, 'etag middleware set an ETag');
    assert.equal((await call('/etag/page', { headers: { 'if-none-match': tag } })).status, 304);
    const redirect = await call('/redirect');
    assert.equal(redirect.status, 302);
    assert.equal(redirect.headers.get('location'), '/json');
    const cookies = await call('/cookies');
    assert.equal(cookies.status, 204);
    assert.deepEqual(cookies.headers.getSetCookie(), ['a=1', 'b=2']);
    const missing = await call('/nowhere');
    assert.equal(missing.status, 404);
    assert.equal(await missing.text(), 'custom 404');
  });
});
