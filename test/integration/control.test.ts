// The control API over real HTTP: auth, bundle upload checks, deploy (new version, no-op, load failure), list, describe, remove.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as tar from 'tar';
import { hashBundleDir } from '../../src/build/bundle-hash.js';
import { startTestPlatform } from '../helpers/platform.js';

test('control API', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url, client, platform } = nimbus;
  const auth = { authorization: `Bearer ${platform.token}` };

  await t.test('health and the OpenAPI document are public', async () => {
    assert.deepEqual(await (await fetch(`${url}/healthz`)).json(), { status: 'ok' });
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as any;
    assert.equal(doc.openapi, '3.1.0');
    assert.ok(doc.paths['/api/v1/functions/{name}'].put);
  });

  await t.test('the admin token is stored with mode 0600', () => {
    assert.equal(statSync(join(nimbus.dataDir, 'admin-token')).mode & 0o777, 0o600);
    assert.match(platform.token, /^nmb_/);
  });

  await t.test('control routes need the token', async () => {
    let res = await fetch(`${url}/api/v1/functions`);
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as any).error.code, 'ERR_AUTH_REQUIRED');
    res = await fetch(`${url}/api/v1/functions`, { headers: { authorization: 'Bearer wrong-token' } });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as any).error.code, 'ERR_AUTH_INVALID');
    res = await fetch(`${url}/api/v1/functions`, { headers: auth });
    assert.equal(res.status, 200);
  });

  await t.test('unknown routes 404 and wrong methods 405, coded', async () => {
    let res = await fetch(`${url}/api/v1/nothing`, { headers: auth });
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as any).error.code, 'ERR_ROUTE_NOT_FOUND');
    res = await fetch(`${url}/api/v1/functions`, { method: 'POST', headers: auth });
    assert.equal(res.status, 405);
  });

  await t.test('deploy, redeploy of identical content is a no-op, a change is a new version', async () => {
    const v1 = await nimbus.deploy('hello');
    assert.equal(v1.version, 1);
    assert.equal(v1.changed, true);
    assert.equal(v1.url, `${url}/function/hello`);
    const again = await nimbus.deploy('hello');
    assert.equal(again.version, 1);
    assert.equal(again.changed, false);
    const v2 = await nimbus.deploy('hello', undefined, { timeoutMs: 5000 });
    assert.equal(v2.version, 2);
    assert.equal((v2.spec as any).timeoutMs, 5000);
  });

  await t.test(
    'a function that fails to load is refused with its error; the previous version keeps serving',
    async () => {
      await nimbus.deploy('hello', 'keeper');
      await assert.rejects(nimbus.deploy('load-fail', 'keeper'), (err: any) => {
        assert.equal(err.code, 'ERR_FUNCTION_LOAD_FAILED');
        assert.equal(err.status, 400);
        assert.match(err.message, /cannot load: missing configuration/);
        assert.match(err.message, /version 1 keeps serving/);
        return true;
      });
      assert.equal((await client.get('keeper')).version, 1);
      assert.equal(await (await fetch(`${url}/function/keeper`)).text(), 'hello world');
      // A first deploy has nothing to fall back on, and does not claim to.
      await assert.rejects(nimbus.deploy('load-fail', 'never'), (err: any) => {
        assert.equal(err.code, 'ERR_FUNCTION_LOAD_FAILED');
        assert.match(err.message, /failed to load, so nothing was deployed: cannot load/);
        assert.doesNotMatch(err.message, /keeps serving/);
        return true;
      });
      assert.equal((await fetch(`${url}/function/never`)).status, 404);
    },
  );

  await t.test('a module with no handler export is refused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nimbus-nohandler-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    // An ES module's exports are known at build: refused before anything is uploaded.
    writeFileSync(join(dir, 'index.ts'), 'export const notAHandler = 1;\n');
    await assert.rejects(nimbus.deploy(dir, 'nohandler'), (err: any) => {
      assert.equal(err.code, 'ERR_BUILD_HANDLER_EXPORT');
      assert.match(
        err.message,
        /index\.ts exports notAHandler but has no export "handler" and no default export/,
      );
      return true;
    });
    // A CommonJS module's only when it loads.
    writeFileSync(join(dir, 'index.ts'), 'module.exports.notAHandler = 1;\n');
    await assert.rejects(nimbus.deploy(dir, 'nohandler'), (err: any) => {
      assert.equal(err.code, 'ERR_FUNCTION_LOAD_FAILED');
      assert.match(err.message, /no handler found/);
      return true;
    });
  });

  await t.test('bad bundles are refused with coded errors', async () => {
    const zeros = '0'.repeat(64);
    let res = await fetch(`${url}/api/v1/bundles/${zeros}`, {
      method: 'PUT',
      headers: auth,
      body: 'not a tarball',
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as any).error.code, 'ERR_BUNDLE_INVALID');
    res = await fetch(`${url}/api/v1/bundles/not-a-hash`, { method: 'PUT', headers: auth, body: 'x' });
    assert.equal(res.status, 400);
    // A valid archive whose content does not match the hash in the URL.
    const dir = mkdtempSync(join(tmpdir(), 'nimbus-bundle-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'b'));
    writeFileSync(join(dir, 'b', 'index.mjs'), 'export default { fetch() { return new Response("ok") } }');
    const archive = join(dir, 'b.tgz');
    await tar.c({ gzip: true, cwd: join(dir, 'b'), file: archive, portable: true }, ['index.mjs']);
    const bytes = (await import('node:fs')).readFileSync(archive);
    res = await fetch(`${url}/api/v1/bundles/${zeros}`, { method: 'PUT', headers: auth, body: bytes });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as any).error.code, 'ERR_BUNDLE_HASH_MISMATCH');
    const hash = await hashBundleDir(join(dir, 'b'));
    res = await fetch(`${url}/api/v1/bundles/${hash}`, { method: 'PUT', headers: auth, body: bytes });
    assert.equal(res.status, 201);
    res = await fetch(`${url}/api/v1/bundles/${hash}`, { method: 'HEAD', headers: auth });
    assert.equal(res.status, 200);
    // A bundle whose code does not parse: the deploy reports the load error.
    writeFileSync(join(dir, 'b', 'index.mjs'), 'export default {{{ broken');
    await tar.c({ gzip: true, cwd: join(dir, 'b'), file: archive, portable: true }, ['index.mjs']);
    const brokenHash = await hashBundleDir(join(dir, 'b'));
    res = await fetch(`${url}/api/v1/bundles/${brokenHash}`, {
      method: 'PUT',
      headers: auth,
      body: (await import('node:fs')).readFileSync(archive),
    });
    assert.equal(res.status, 201);
    await assert.rejects(client.deploy('broken', brokenHash, {}), { code: 'ERR_FUNCTION_LOAD_FAILED' });
    await assert.rejects(client.deploy('ghost', 'f'.repeat(64), {}), { code: 'ERR_BUNDLE_NOT_FOUND' });
  });

  await t.test('invalid names and specs are refused naming the field', async () => {
    const fn = await client.get('hello');
    await assert.rejects(client.deploy('Bad_Name', fn.bundle, {}), { code: 'ERR_FUNCTION_NAME_INVALID' });
    await assert.rejects(client.deploy('x'.repeat(64), fn.bundle, {}), { code: 'ERR_FUNCTION_NAME_INVALID' });
    await assert.rejects(client.deploy('okname', fn.bundle, { colour: 'red' }), (err: any) => {
      assert.equal(err.code, 'ERR_FUNCTION_SPEC_INVALID');
      assert.match(err.message, /unknown key "colour"/);
      return true;
    });
    await assert.rejects(client.deploy('okname', fn.bundle, { scale: { min: 5, max: 2 } }), /scale\.min/);
    await assert.rejects(client.deploy('okname', fn.bundle, { timeoutMs: 'soon' }), /timeoutMs/);
    const res = await fetch(`${url}/api/v1/functions/okname`, {
      method: 'PUT',
      headers: auth,
      body: '{nope',
    });
    assert.equal(res.status, 400);
    assert.equal(((await res.json()) as any).error.code, 'ERR_REQUEST_INVALID');
  });

  await t.test('private functions need the token to invoke', async () => {
    await nimbus.deploy('hello', 'secret', { private: true });
    let res = await fetch(`${url}/function/secret`);
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as any).error.code, 'ERR_FUNCTION_PRIVATE');
    res = await fetch(`${url}/function/secret`, { headers: auth });
    assert.equal(res.status, 200);
  });

  await t.test('list and describe show version, instances and invocations', async () => {
    for (let i = 0; i < 3; i++) await (await fetch(`${url}/function/hello`)).text();
    const { functions } = await client.list();
    const hello = functions.find((f) => f.name === 'hello')!;
    assert.equal(hello.version, 2);
    assert.ok(hello.invocations >= 3, `invocations counted: ${hello.invocations}`);
    assert.ok(hello.instances >= 1);
    assert.equal(hello.status, 'ready');
    const described = await client.get('hello');
    assert.equal(described.runtime, 'node');
  });

  await t.test('remove: the function is gone', async () => {
    await client.remove('keeper');
    assert.equal((await fetch(`${url}/function/keeper`)).status, 404);
    await assert.rejects(client.get('keeper'), { code: 'ERR_FUNCTION_NOT_FOUND' });
    await assert.rejects(client.remove('keeper'), { code: 'ERR_FUNCTION_NOT_FOUND' });
  });
});

test('functions and counters survive a restart on the same data dir', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-restart-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const first = await startTestPlatform(t, { dataDir });
  await first.deploy('hello');
  await (await fetch(`${first.url}/function/hello`)).text();
  const token = first.platform.token;
  await first.platform.close();
  const second = await startTestPlatform(t, { dataDir });
  assert.equal(second.platform.token, token, 'the stored token is reused');
  const res = await fetch(`${second.url}/function/hello`, { method: 'POST', body: 'again' });
  assert.equal(await res.text(), 'hello again');
  const fn = await second.client.get('hello');
  assert.equal(fn.version, 1);
  assert.ok(fn.invocations >= 2);
});
