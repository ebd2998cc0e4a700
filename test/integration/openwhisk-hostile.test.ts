// Hostile and broken input to the OpenWhisk API: missing or wrong credentials, keys whose scope falls short,
// malformed JSON, bad zips, injected names, oversized params and code, unknown kinds, namespaces and
// packages, actions that misbehave. Each gets a coded answer in OpenWhisk's shape; nothing ends the process.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { strToU8, zipSync } from 'fflate';
import { basic, keysCreate, owClient, owError } from '../helpers/openwhisk.js';
import { startTestPlatform } from '../helpers/platform.js';

test('the OpenWhisk API refuses hostile input with coded OpenWhisk-shaped errors', async (t) => {
  const nimbus = await startTestPlatform(t);
  const key = await keysCreate(nimbus.url, nimbus.platform.token, ['--scope', 'deploy']);
  const ow = owClient(nimbus.url, key);
  const api = (path: string, init: RequestInit & { auth?: string | null } = {}) => {
    const { auth, headers, ...rest } = init;
    return fetch(`${nimbus.url}/api/v1/namespaces/${path}`, {
      ...rest,
      headers: {
        ...(auth === null ? {} : { authorization: auth ?? basic(key) }),
        'content-type': 'application/json',
        ...(headers as Record<string, string> | undefined),
      },
    });
  };
  /** The coded error of a response: its status and code (and the OpenWhisk shape checked on the way). */
  const refused = async (res: Response): Promise<{ status: number; code: string; error: string }> => {
    const body = (await res.json()) as { error: unknown; code: unknown };
    assert.equal(typeof body.error, 'string', `an OpenWhisk error has a text: ${JSON.stringify(body)}`);
    assert.equal(typeof body.code, 'string');
    return { status: res.status, code: body.code as string, error: body.error as string };
  };
  await ow.actions.create({ name: 'ok', action: 'function main(p) { return { ok: true, p }; }' });

  await t.test('credentials: none, wrong, malformed; scopes that fall short', async () => {
    const none = await api('_/actions', { auth: null });
    assert.equal(none.headers.get('www-authenticate'), 'Basic realm="nimbus"');
    const missing = await refused(none);
    assert.equal(missing.status, 401);
    assert.equal(missing.code, 'ERR_OPENWHISK_AUTH_REQUIRED');
    assert.match(missing.error, /nimbus keys create --json/);
    const wrong = owClient(nimbus.url, { id: key.id, secret: 'nmbk_wrong' });
    const err = await owError(wrong.actions.list());
    assert.equal(err.statusCode, 401);
    assert.match(err.message, /credential is not valid/);
    for (const header of ['Basic !!!', 'Basic Zm9v', 'Bearer nmbk_x', 'Digest abc', 'Basic']) {
      const res = await api('_/actions', { auth: header });
      assert.equal(res.status, 401, header);
    }
    const reader = await keysCreate(nimbus.url, nimbus.platform.token, ['--scope', 'read']);
    const ro = owClient(nimbus.url, reader);
    assert.ok(Array.isArray(await ro.actions.list()));
    const put = await owError(ro.actions.create({ name: 'nope', action: 'function main() { return {}; }' }));
    assert.equal(put.statusCode, 403);
    assert.equal(put.error.code, 'ERR_AUTH_FORBIDDEN');
    assert.equal((await owError(ro.actions.invoke({ name: 'ok', blocking: true }))).statusCode, 403);
    const narrow = await keysCreate(nimbus.url, nimbus.platform.token, ['--invoke', 'other']);
    assert.equal(
      (await owError(owClient(nimbus.url, narrow).actions.invoke({ name: 'ok' }))).statusCode,
      403,
    );
    assert.equal((await owError(ro.triggers.invoke({ name: 'ok' }))).statusCode, 403);
  });

  await t.test('bodies: not JSON, not an object, missing or wrong fields, too large', async () => {
    const cases: [string, string][] = [
      ['{', 'ERR_OPENWHISK_REQUEST_INVALID'],
      ['[1,2]', 'ERR_OPENWHISK_REQUEST_INVALID'],
      ['"text"', 'ERR_OPENWHISK_REQUEST_INVALID'],
      ['{"exec":{"code":"x"}}', 'ERR_OPENWHISK_REQUEST_INVALID'],
      ['{"exec":{"kind":"nodejs:20"}}', 'ERR_OPENWHISK_REQUEST_INVALID'],
      ['{"exec":{"kind":"nodejs:20","code":""}}', 'ERR_OPENWHISK_REQUEST_INVALID'],
      ['{"exec":{"kind":"java:8","code":"x"}}', 'ERR_OPENWHISK_KIND_UNSUPPORTED'],
      ['{"exec":{"kind":"blackbox","image":"evil/image"}}', 'ERR_OPENWHISK_KIND_UNSUPPORTED'],
      [
        '{"exec":{"kind":"nodejs:20","code":"function main(){}","main":"main;process.exit()"}}',
        'ERR_OPENWHISK_REQUEST_INVALID',
      ],
      [
        '{"exec":{"kind":"python:3","code":"def main(a): return a","main":"main()"}}',
        'ERR_OPENWHISK_REQUEST_INVALID',
      ],
      [
        '{"exec":{"kind":"nodejs:20","code":"function main(){}"},"limits":{"timeout":1}}',
        'ERR_OPENWHISK_REQUEST_INVALID',
      ],
      [
        '{"exec":{"kind":"nodejs:20","code":"function main(){}"},"parameters":{"a":1}}',
        'ERR_OPENWHISK_REQUEST_INVALID',
      ],
      ['{"exec":{"kind":"nodejs:20","code":"function main( {"}}', 'ERR_FUNCTION_LOAD_FAILED'],
      ['{"exec":{"kind":"python:3","code":"def main(:"}}', 'ERR_FUNCTION_LOAD_FAILED'],
      ['{"exec":{"kind":"sequence"}}', 'ERR_OPENWHISK_REQUEST_INVALID'],
    ];
    for (const [body, code] of cases) {
      const res = await api('_/actions/bad', { method: 'PUT', body });
      const answer = await refused(res);
      assert.equal(answer.code, code, body);
      assert.equal(answer.status, 400, body);
    }
    assert.equal((await owError(ow.actions.get({ name: 'bad' }))).statusCode, 404, 'nothing was made');
    const params = { big: 'x'.repeat(1024 * 1024 + 10) };
    const huge = await api('_/actions/ok?blocking=true', { method: 'POST', body: JSON.stringify(params) });
    assert.deepEqual(await refused(huge), {
      status: 413,
      code: 'ERR_REQUEST_BODY_TOO_LARGE',
      error: 'request body is larger than the limit of 1048576 bytes; send less or raise the limit',
    });
    const hugeDefaults = await api('_/actions/big?overwrite=true', {
      method: 'PUT',
      body: JSON.stringify({
        exec: { kind: 'nodejs:20', code: 'function main(){return {}}' },
        parameters: [{ key: 'big', value: params.big }],
      }),
    });
    assert.equal((await refused(hugeDefaults)).status, 413);
    for (const body of ['{', '[1]', '"x"', '12']) {
      const res = await api('_/actions/ok?blocking=true', { method: 'POST', body });
      assert.equal((await refused(res)).code, 'ERR_OPENWHISK_REQUEST_INVALID', body);
    }
  });

  await t.test('zips: not a zip, truncated, escaping the bundle, without an entry point', async () => {
    const zipOf = (files: Record<string, string>) =>
      Buffer.from(
        zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [k, strToU8(v)]))),
      ).toString('base64');
    const put = (code: string, binary = true, kind = 'nodejs:20') =>
      api('_/actions/zipped?overwrite=true', {
        method: 'PUT',
        body: JSON.stringify({ exec: { kind, code, binary } }),
      });
    assert.equal((await refused(await put('not base64 at all!'))).code, 'ERR_OPENWHISK_REQUEST_INVALID');
    assert.equal(
      (await refused(await put(Buffer.from('hello world, not a zip').toString('base64')))).code,
      'ERR_OPENWHISK_REQUEST_INVALID',
    );
    const good = zipOf({ 'index.js': 'exports.main = () => ({});' });
    const truncated = Buffer.from(good, 'base64').subarray(0, 40).toString('base64');
    assert.equal((await refused(await put(truncated, false))).code, 'ERR_BUNDLE_INVALID');
    const escaping = Buffer.from(good, 'base64');
    // Rewrite the entry name `index.js` to `../ab.js` in both headers: yauzl refuses such a name.
    const evil = Buffer.from(
      escaping.toString('latin1').replaceAll('index.js', '../ab.js'),
      'latin1',
    ).toString('base64');
    assert.equal((await refused(await put(evil))).code, 'ERR_BUNDLE_INVALID');
    const noEntry = await refused(await put(zipOf({ 'lib/x.js': 'exports.main = () => ({});' })));
    assert.equal(noEntry.code, 'ERR_OPENWHISK_REQUEST_INVALID');
    assert.match(noEntry.error, /package\.json or index\.js/);
    assert.equal(
      (await refused(await put(zipOf({ 'x.py': 'def main(a): return a' }), true, 'python:3'))).code,
      'ERR_OPENWHISK_REQUEST_INVALID',
    );
    const badPackage = await put(zipOf({ 'package.json': '{"main": 42}', 'index.js': '' }));
    assert.equal((await refused(badPackage)).code, 'ERR_OPENWHISK_REQUEST_INVALID');
  });

  await t.test('names, namespaces, packages and routes', async () => {
    assert.equal(
      (await refused(await api('_/actions/Bad_Name', { method: 'PUT', body: '{}' }))).code,
      'ERR_FUNCTION_NAME_INVALID',
    );
    assert.equal(
      (await refused(await api('_/actions/pkg/act', { method: 'PUT', body: '{}' }))).code,
      'ERR_OPENWHISK_PACKAGES_UNSUPPORTED',
    );
    const admin = `Basic ${Buffer.from(`admin:${nimbus.platform.token}`).toString('base64')}`;
    assert.equal(
      (await refused(await api('guest/actions', { auth: admin }))).code,
      'ERR_OPENWHISK_NAMESPACE_UNKNOWN',
    );
    // A key of one namespace is refused another, whether it exists or not.
    assert.equal((await refused(await api('guest/actions'))).code, 'ERR_AUTH_FORBIDDEN');
    assert.equal((await refused(await api('_/unknown/thing'))).code, 'ERR_OPENWHISK_NOT_FOUND');
    assert.equal(
      (await refused(await api('_/activations/..%2F..%2Fetc'))).code,
      'ERR_OPENWHISK_ACTIVATION_NOT_FOUND',
    );
    assert.equal((await refused(await api('_/activations?limit=abc'))).code, 'ERR_OPENWHISK_REQUEST_INVALID');
    assert.equal(
      (await refused(await api('_/activations?since=yesterday'))).code,
      'ERR_OPENWHISK_REQUEST_INVALID',
    );
    // A path the router cannot decode is refused before any API sees it, in Nimbus's own shape.
    const undecodable = await api('_/actions/%E0%A4%A');
    assert.equal(undecodable.status, 400);
    assert.equal(
      ((await undecodable.json()) as { error: { code: string } }).error.code,
      'ERR_REQUEST_INVALID',
    );
    assert.deepEqual(await (await api('_/packages')).json(), []);
    await ow.triggers.create({ name: 't' });
    const foreign = await api('_/rules/r', {
      method: 'PUT',
      body: JSON.stringify({ trigger: '/_/t', action: '/other/ok' }),
    });
    assert.equal((await refused(foreign)).code, 'ERR_OPENWHISK_REQUEST_INVALID');
    const status = await api('_/rules/r', { method: 'POST', body: '{"status":"sleeping"}' });
    assert.equal((await refused(status)).status, 400);
    const feed = await api('whisk.system/actions/alarms/alarm?blocking=true', {
      method: 'POST',
      body: JSON.stringify({
        lifecycleEvent: 'CREATE',
        triggerName: '/_/t',
        cron: '* * * * *',
        maxTriggers: 3,
      }),
    });
    assert.equal((await refused(feed)).code, 'ERR_OPENWHISK_FEED_INVALID');
    const past = await api('whisk.system/actions/alarms/once?blocking=true', {
      method: 'POST',
      body: JSON.stringify({ lifecycleEvent: 'CREATE', triggerName: '/_/t', date: '2000-01-01T00:00:00Z' }),
    });
    assert.equal((await refused(past)).code, 'ERR_OPENWHISK_FEED_INVALID');
    const unknownFeed = await api('whisk.system/actions/alarms/everyday?blocking=true', {
      method: 'POST',
      body: '{}',
    });
    assert.equal((await refused(unknownFeed)).code, 'ERR_OPENWHISK_NOT_FOUND');
  });

  await t.test('actions that misbehave: no dictionary, past their time, too large a result', async () => {
    await ow.actions.create({ name: 'answer', action: 'function main() { return 42; }' });
    const notDict = await owError(ow.actions.invoke({ name: 'answer', blocking: true }));
    assert.equal(notDict.statusCode, 502);
    assert.deepEqual(notDict.error.response.result, { error: 'The action did not return a dictionary.' });
    assert.equal(notDict.error.response.status, 'action developer error');
    await ow.actions.create({
      name: 'spin',
      action: 'function main() { for (;;) {} }',
      limits: { timeout: 300 },
    });
    const spun = await owError(ow.actions.invoke({ name: 'spin', blocking: true }));
    assert.equal(spun.statusCode, 502);
    assert.deepEqual(spun.error.response.result, {
      error: 'The action exceeded its time limits of 300 milliseconds.',
    });
    assert.ok(
      spun.error.annotations.some(
        (a: { key: string; value: unknown }) => a.key === 'timeout' && a.value === true,
      ),
    );
    await ow.actions.create({
      name: 'huge',
      action: "function main() { return { big: 'x'.repeat(2 * 1024 * 1024) }; }",
    });
    const huge = await owError(ow.actions.invoke({ name: 'huge', blocking: true }));
    assert.equal(huge.statusCode, 502);
    assert.match(huge.error.response.result.error, /over 1048576 bytes/);
    await ow.actions.create({
      name: 'badweb',
      annotations: { 'web-export': true },
      action: "function main() { return { statusCode: 'abc', body: 'x' }; }",
    });
    const web = await fetch(`${nimbus.url}/api/v1/web/_/default/badweb`);
    assert.equal((await refused(web)).code, 'ERR_OPENWHISK_WEB_RESPONSE');
    await ow.actions.create({ name: 'crash', action: 'function main() { process.exit(3); }' });
    const crashed = await owError(ow.actions.invoke({ name: 'crash', blocking: true }));
    assert.equal(crashed.statusCode, 502);
    assert.match(crashed.error.response.result.error, /exited unexpectedly/);
  });

  await t.test('after all of it, the platform serves and logged no fault', async () => {
    assert.equal((await fetch(`${nimbus.url}/healthz`)).status, 200);
    assert.deepEqual(
      await ow.actions.invoke({ name: 'ok', blocking: true, result: true, params: { a: 1 } }),
      { ok: true, p: { a: 1 } },
    );
    assert.deepEqual(
      nimbus.events.filter((e) => e.type === 'internal-error'),
      [],
    );
  });
});
