// The dashboard's server side against a real gateway: /ui files (types, CSP, ETag, cache, gzip, nothing
// outside the bundle), /api/v1/whoami, and the call activity the charts read (/api/v1/activity).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { Authenticator } from '../../src/auth/authenticate.js';
import { deriveKey, loadMasterKey, Sealer } from '../../src/auth/master-key.js';
import { SqliteKeyStore } from '../../src/auth/sqlite-key-store.js';
import { createControlApi } from '../../src/gateway/control-api.js';
import { UI_CSP, uiRoutes } from '../../src/ui/routes.js';
import { UI_BUNDLE_DIR } from '../../src/ui/static-files.js';
import { startTestPlatform, waitFor } from '../helpers/platform.js';
import { rawRequest } from '../helpers/raw-http.js';

/** What the repository's package.json holds: never to be seen through /ui. */
const OUTSIDE_MARKER = '"name": "nimbus"';

function get(url: string, target: string, headers: Record<string, string> = {}) {
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  return rawRequest(url, `GET ${target} HTTP/1.1\r\nHost: x\r\n${lines.join('')}Connection: close\r\n\r\n`);
}

test('/ui serves the built dashboard with a strict policy and cache validators', async (t) => {
  assert.ok(
    existsSync(join(UI_BUNDLE_DIR, 'index.html')),
    'npm test builds the dashboard first (npm run build)',
  );
  const { url } = await startTestPlatform(t);

  const page = await get(url, '/ui/');
  assert.equal(page.status, 200);
  assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
  assert.equal(page.headers['content-security-policy'], UI_CSP);
  assert.match(UI_CSP, /default-src 'none'/);
  assert.match(UI_CSP, /script-src 'self'(;|$)/, 'no inline script, no eval');
  assert.match(UI_CSP, /frame-ancestors 'none'/);
  assert.equal(page.headers['x-content-type-options'], 'nosniff');
  assert.equal(page.headers['referrer-policy'], 'no-referrer');
  assert.equal(page.headers['cache-control'], 'no-cache');
  assert.match(page.headers.etag!, /^"[A-Za-z0-9_-]{22}"$/);
  const html = page.body.toString();
  const script = /src="\/ui\/(app-[A-Z0-9]{8}\.js)"/.exec(html)?.[1];
  const style = /href="\/ui\/(app-[A-Z0-9]{8}\.css)"/.exec(html)?.[1];
  assert.ok(script && style, `the page loads the hashed bundle: ${html}`);
  assert.doesNotMatch(
    html,
    /<script>|<style>|\sstyle=|\son[a-z]+=/i,
    'nothing inline that the CSP would refuse',
  );

  const bare = await get(url, '/ui');
  assert.equal(bare.status, 200);
  assert.equal(bare.headers.etag, page.headers.etag);

  const again = await get(url, '/ui/', { 'if-none-match': page.headers.etag! });
  assert.equal(again.status, 304);
  assert.equal(again.body.length, 0);
  assert.equal(again.headers.etag, page.headers.etag);
  const otherTag = await get(url, '/ui/', { 'if-none-match': '"something-else"' });
  assert.equal(otherTag.status, 200);

  const js = await get(url, `/ui/${script}`);
  assert.equal(js.status, 200);
  assert.equal(js.headers['content-type'], 'text/javascript; charset=utf-8');
  assert.equal(js.headers['cache-control'], 'public, max-age=31536000, immutable');
  assert.equal(js.headers['content-encoding'], undefined, 'not compressed unless asked');
  const zipped = await get(url, `/ui/${script}`, { 'accept-encoding': 'br, gzip;q=0.8' });
  assert.equal(zipped.headers['content-encoding'], 'gzip');
  assert.equal(zipped.headers.vary, 'accept-encoding');
  assert.deepEqual(gunzipSync(zipped.body), js.body);
  assert.ok(zipped.body.length < js.body.length / 2);
  const refused = await get(url, `/ui/${script}`, { 'accept-encoding': 'gzip;q=0' });
  assert.equal(refused.headers['content-encoding'], undefined);

  const css = await get(url, `/ui/${style}`);
  assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
  const icon = await get(url, '/ui/icon.svg');
  assert.equal(icon.headers['content-type'], 'image/svg+xml');
  assert.equal(icon.headers['cache-control'], 'no-cache');

  // A few hundred KB at most, all of it.
  const total = page.body.length + js.body.length + css.body.length + icon.body.length;
  assert.ok(total < 300 * 1024, `the dashboard is ${total} bytes`);
  assert.ok(zipped.body.length < 100 * 1024, `its script is ${zipped.body.length} bytes gzipped`);

  const head = await rawRequest(url, `HEAD /ui/${script} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  assert.equal(head.status, 200);
  assert.equal(Number(head.headers['content-length']), js.body.length);
  assert.equal(head.body.length, 0);

  const post = await fetch(`${url}/ui/`, { method: 'POST', body: 'x' });
  assert.equal(post.status, 405);
  assert.equal(((await post.json()) as any).error.code, 'ERR_METHOD_NOT_ALLOWED');
});

test('/ui names nothing outside the bundle directory', async (t) => {
  const { url } = await startTestPlatform(t);
  const targets = [
    '/ui/../package.json',
    '/ui/../../package.json',
    '/ui/..%2f..%2fpackage.json',
    '/ui/%2e%2e/%2e%2e/package.json',
    '/ui/%2E%2E%2F%2E%2E%2Fpackage.json',
    '/ui/..%5c..%5cpackage.json',
    '/ui/..\\..\\package.json',
    '/ui//etc/passwd',
    '/ui/%2fetc%2fpasswd',
    '/ui/./index.html',
    '/ui/index.html/',
    '/ui/index.html%00.js',
    '/ui/%00',
    '/ui/public/index.html',
    '/ui/../ui/routes.js',
    '/ui/%252e%252e/package.json',
    `/ui/${'../'.repeat(50)}etc/passwd`,
    `/ui/${'a'.repeat(3000)}`,
    '/ui/%',
  ];
  for (const target of targets) {
    const res = await get(url, target);
    assert.ok(res.status === 404 || res.status === 400, `${target}: ${res.status}`);
    const text = res.body.toString();
    assert.doesNotMatch(text, /root:x:0|export function/, target);
    assert.ok(!text.includes(OUTSIDE_MARKER), target);
    assert.match(JSON.parse(text).error.code, /^ERR_(ROUTE_NOT_FOUND|REQUEST_INVALID)$/, target);
  }
  // The platform still answers.
  assert.equal((await get(url, '/ui/')).status, 200);
});

test('a bundle directory: regular files only, and a coded answer until it is built', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-ui-'));
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir);
  const bundle = join(dir, 'bundle');
  const keys = new SqliteKeyStore(
    join(dataDir, 'keys.db'),
    new Sealer(deriveKey(loadMasterKey(dataDir, undefined), 'api-keys')),
  );
  const auth = new Authenticator('nmb_test-token', keys);
  const internal: unknown[] = [];
  const control = createControlApi({
    debug: false,
    auth,
    onInternalError: (error) => internal.push(error),
    routes: [uiRoutes({ dir: bundle })],
  });
  const server = createServer(control.handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(async () => {
    await new Promise((resolve) => server.close(resolve));
    keys.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  const missing = await fetch(`${url}/ui/`);
  assert.equal(missing.status, 503);
  const body = (await missing.json()) as any;
  assert.equal(body.error.code, 'ERR_UI_NOT_BUILT');
  assert.match(body.error.message, /npm run build/);

  mkdirSync(join(bundle, 'sub'), { recursive: true });
  writeFileSync(join(bundle, 'index.html'), '<!doctype html><title>t</title>');
  writeFileSync(join(bundle, 'sub', 'x.txt'), 'nested');
  writeFileSync(join(dir, 'secret.txt'), 'outside the bundle');
  symlinkSync(join(dir, 'secret.txt'), join(bundle, 'link.txt'));
  symlinkSync(dir, join(bundle, 'linkdir'));

  const built = await fetch(`${url}/ui/`);
  assert.equal(built.status, 200, 'looked for again once it exists');
  assert.equal(await built.text(), '<!doctype html><title>t</title>');
  writeFileSync(join(bundle, 'notes.txt'), 'flat');
  const plain = await fetch(`${url}/ui/notes.txt`);
  assert.equal(plain.status, 404, 'read when the bundle was first found, not on every request');
  const nested = await fetch(`${url}/ui/sub/x.txt`);
  assert.equal(nested.status, 404, 'the bundle is one flat directory: a subdirectory is not served');
  assert.equal(((await nested.json()) as any).error.code, 'ERR_ROUTE_NOT_FOUND');
  for (const target of ['/ui/link.txt', '/ui/linkdir/secret.txt']) {
    const res = await fetch(`${url}${target}`);
    assert.equal(res.status, 404, `${target} is a symbolic link: not served`);
    assert.doesNotMatch(await res.text(), /outside the bundle/);
  }
  assert.deepEqual(internal, []);
});

test('/api/v1/whoami says what the credential is', async (t) => {
  const { url, platform } = await startTestPlatform(t);
  const admin = await fetch(`${url}/api/v1/whoami`, {
    headers: { authorization: `Bearer ${platform.token}` },
  });
  assert.deepEqual(await admin.json(), { id: 'admin-token', scope: 'admin', namespace: '*', functions: '*' });
  const key = platform.keys.create({ scope: 'invoke', functions: ['hello'] });
  const invoker = await fetch(`${url}/api/v1/whoami`, { headers: { authorization: `Bearer ${key.secret}` } });
  assert.equal(invoker.status, 200, 'an invoke-only key may ask');
  assert.deepEqual(await invoker.json(), {
    id: key.id,
    scope: 'invoke',
    namespace: 'default',
    functions: ['hello'],
  });
  const none = await fetch(`${url}/api/v1/whoami`);
  assert.equal(none.status, 401);
  assert.equal(((await none.json()) as any).error.code, 'ERR_AUTH_REQUIRED');
  const wrong = await fetch(`${url}/api/v1/whoami`, { headers: { authorization: 'Bearer nmbk_wrong' } });
  assert.equal(wrong.status, 401);
  assert.equal(((await wrong.json()) as any).error.code, 'ERR_AUTH_INVALID');
  platform.keys.remove(key.id);
  const revoked = await fetch(`${url}/api/v1/whoami`, { headers: { authorization: `Bearer ${key.secret}` } });
  assert.equal(revoked.status, 401);
});

test('/api/v1/activity: per-function buckets and recent calls, sync and async, within the key scope', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url, platform } = nimbus;
  await nimbus.deploy('hello', 'hello');
  await nimbus.deploy('throws', 'boom', { async: { retries: 0 } });
  const auth = { authorization: `Bearer ${platform.token}` };

  const syncIds: string[] = [];
  for (let i = 0; i < 3; i++) {
    const res = await fetch(`${url}/function/hello`, { method: 'POST', body: 'x' });
    assert.equal(res.status, 200);
    syncIds.push(res.headers.get('x-call-id')!);
  }
  assert.equal((await fetch(`${url}/function/boom`)).status, 500);
  const queued = await fetch(`${url}/async-function/hello`, { method: 'POST', body: 'async' });
  assert.equal(queued.status, 202);
  const callId = queued.headers.get('x-call-id')!;
  await waitFor(
    async () => {
      const res = await fetch(`${url}/system/calls/${callId}`, { headers: auth });
      return ((await res.json()) as any).status === 'succeeded';
    },
    20_000,
    'the async call to finish',
  );

  const one = (await (
    await fetch(`${url}/api/v1/functions/hello/activity?minutes=5&recent=10`, { headers: auth })
  ).json()) as any;
  assert.equal(one.name, 'hello');
  assert.equal(one.namespace, 'default');
  assert.equal(one.series.bucketMs, 10_000);
  assert.equal(one.series.calls.length, 30);
  assert.equal(
    one.series.calls.reduce((a: number, b: number) => a + b, 0),
    4,
    'three sync calls and the async one',
  );
  assert.equal(one.recent.length, 4);
  for (const call of one.recent) {
    assert.equal(call.status, 200);
    assert.equal(typeof call.durationMs, 'number');
    assert.match(call.instance, /./, 'the instance that served it');
  }
  assert.deepEqual(
    one.recent.map((c: any) => c.callId).sort(),
    [...syncIds, callId].sort(),
    'each call with its X-Call-Id, the async one with its call id',
  );
  assert.ok(one.recent[0].at >= one.recent.at(-1).at, 'newest first');

  const list = (await (await fetch(`${url}/api/v1/activity`, { headers: auth })).json()) as any;
  assert.equal(list.windowSeconds, 300);
  const byName = Object.fromEntries(list.functions.map((f: any) => [f.name, f]));
  assert.equal(byName.hello.calls, 4);
  assert.equal(byName.hello.errors, 0);
  assert.equal(byName.boom.calls, 1);
  assert.equal(byName.boom.errors, 1);
  assert.ok(byName.hello.rate > 0);
  assert.ok(byName.hello.p50Ms > 0);
  assert.equal(byName.hello.spark.length, 30);

  // Scope: a read key of another namespace, or one limited to another function, sees none of it.
  await nimbus.client.call('POST', '/api/v1/namespaces', { name: 'other' });
  const elsewhere = platform.keys.create({ scope: 'read', namespace: 'other' });
  const narrow = platform.keys.create({ scope: 'read', functions: ['boom'] });
  const as = (key: { secret: string }) => ({ authorization: `Bearer ${key.secret}` });
  const forbidden = await fetch(`${url}/api/v1/functions/hello/activity`, { headers: as(elsewhere) });
  assert.equal(forbidden.status, 403);
  assert.equal((await fetch(`${url}/api/v1/activity`, { headers: as(elsewhere) })).status, 403);
  const otherList = (await (
    await fetch(`${url}/api/v1/activity?namespace=other`, { headers: as(elsewhere) })
  ).json()) as any;
  assert.deepEqual(otherList.functions, []);
  assert.equal((await fetch(`${url}/api/v1/functions/hello/activity`, { headers: as(narrow) })).status, 403);
  const narrowList = (await (await fetch(`${url}/api/v1/activity`, { headers: as(narrow) })).json()) as any;
  assert.deepEqual(
    narrowList.functions.map((f: any) => f.name),
    ['boom'],
  );
  assert.equal((await fetch(`${url}/api/v1/activity`)).status, 401);

  // Hostile parameters get a coded 400; an unknown function a 404.
  for (const target of [
    '/api/v1/activity?window=0',
    '/api/v1/activity?window=abc',
    '/api/v1/activity?window=1e9',
    '/api/v1/functions/hello/activity?minutes=0',
    '/api/v1/functions/hello/activity?minutes=61',
    '/api/v1/functions/hello/activity?recent=101',
    '/api/v1/functions/hello/activity?recent=-1',
    '/api/v1/functions/hello/activity?recent=1.5',
  ]) {
    const res = await fetch(`${url}${target}`, { headers: auth });
    assert.equal(res.status, 400, target);
    assert.equal(((await res.json()) as any).error.code, 'ERR_REQUEST_INVALID', target);
  }
  const unknown = await fetch(`${url}/api/v1/functions/nope/activity`, { headers: auth });
  assert.equal(unknown.status, 404);
  assert.equal(((await unknown.json()) as any).error.code, 'ERR_FUNCTION_NOT_FOUND');
  const badName = await fetch(`${url}/api/v1/functions/No_Such/activity`, { headers: auth });
  assert.equal(badName.status, 400);
});
