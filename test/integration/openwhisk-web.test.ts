// Web actions over plain HTTP (fetch, no client): extensions, params from query and body, raw-http, binary
// bodies, status and headers, require-whisk-auth, final parameters, CORS; and OpenWhisk-style functions
// deployed with `nimbus deploy` (Node exports.main, Python main(args)) called over /function/NAME, one of
// them calling another action back with the openwhisk client and its own __OW_API_KEY.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { basic, keysCreate, owClient, owError } from '../helpers/openwhisk.js';
import { startTestPlatform } from '../helpers/platform.js';

const ECHO = 'function main(params) { return { response: params }; }';
const PNG = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex');

test('web actions over plain HTTP', async (t) => {
  const nimbus = await startTestPlatform(t);
  const key = await keysCreate(nimbus.url, nimbus.platform.token, ['--scope', 'deploy']);
  const ow = owClient(nimbus.url, key);
  const web = (path: string, init?: RequestInit) =>
    fetch(`${nimbus.url}/api/v1/web/${path}`, { redirect: 'manual', ...init });
  const exported = { 'web-export': true };
  await ow.actions.create({ name: 'echo', action: ECHO, annotations: exported });

  await t.test('.json: query and JSON body merged into params with the HTTP context', async () => {
    const res = await web('_/default/echo.json/some/path?a=1&name=query', {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-custom': 'yes' },
      body: JSON.stringify({ name: 'Jane', n: 2 }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(res.headers.get('access-control-allow-origin'), '*');
    const activationId = res.headers.get('x-openwhisk-activation-id');
    const { response } = (await res.json()) as { response: Record<string, any> };
    assert.equal(response.name, 'Jane', 'the body wins over the query');
    assert.equal(response.a, '1');
    assert.equal(response.n, 2);
    assert.equal(response.__ow_method, 'post');
    assert.equal(response.__ow_path, '/some/path');
    assert.equal(response.__ow_headers['x-custom'], 'yes');
    assert.equal(response.__ow_headers['content-type'], 'application/json');
    // A web call is an activation of its own.
    const record = await ow.activations.get({ activationId });
    assert.equal(record.name, 'echo');
    // The namespace may be named, and form bodies are params too.
    const form = await web('default/default/echo.json', {
      method: 'PUT',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'who=form&x=1',
    });
    const formParams = ((await form.json()) as { response: Record<string, unknown> }).response;
    assert.equal(formParams.who, 'form');
    assert.equal(formParams.__ow_method, 'put');
    const text = await web('_/default/echo.json', {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'Jane',
    });
    assert.equal(((await text.json()) as { response: Record<string, unknown> }).response.__ow_body, 'Jane');
  });

  await t.test(
    '.http (the default): statusCode, headers, body; base64 for binary types; redirects',
    async () => {
      await ow.actions.create({
        name: 'page',
        annotations: exported,
        action: `function main(p) {
        if (p.png) return { headers: { 'content-type': 'image/png' }, body: ${JSON.stringify(PNG.toString('base64'))} };
        if (p.go) return { statusCode: 302, headers: { location: 'https://example.org/' } };
        if (p.json) return { statusCode: 201, headers: { 'set-cookie': ['a=1', 'b=2'] }, body: { made: true } };
        if (p.teapot) return { error: { statusCode: 418, body: 'short and stout' } };
        return { body: '<html><body>hello ' + (p.name || 'you') + '</body></html>' };
      }`,
      });
      const html = await web('_/default/page?name=Jane');
      assert.equal(html.status, 200);
      assert.match(html.headers.get('content-type') ?? '', /^text\/html/);
      assert.equal(await html.text(), '<html><body>hello Jane</body></html>');
      const png = await web('_/default/page.http?png=1');
      assert.equal(png.headers.get('content-type'), 'image/png');
      assert.deepEqual(Buffer.from(await png.arrayBuffer()), PNG);
      const redirect = await web('_/default/page?go=1');
      assert.equal(redirect.status, 302);
      assert.equal(redirect.headers.get('location'), 'https://example.org/');
      const made = await web('_/default/page?json=1');
      assert.equal(made.status, 201);
      assert.deepEqual(made.headers.getSetCookie(), ['a=1', 'b=2']);
      assert.deepEqual(await made.json(), { made: true });
      // An application error answers with its `error`, by the same rules.
      const teapot = await web('_/default/page?teapot=1');
      assert.equal(teapot.status, 418);
      assert.equal(await teapot.text(), 'short and stout');
      // .html and .text project their field.
      const asText = await web('_/default/page.text?name=T');
      assert.match(asText.headers.get('content-type') ?? '', /^text\/plain/);
      assert.equal(await asText.text(), '<html><body>hello T</body></html>');
    },
  );

  await t.test('raw-http: __ow_query and __ow_body as they came', async () => {
    await ow.actions.create({
      name: 'raw',
      action: ECHO,
      annotations: { 'web-export': true, 'raw-http': true },
    });
    const res = await web('_/default/raw.json?name=Jane', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"name":"Jane"}',
    });
    const { response } = (await res.json()) as { response: Record<string, unknown> };
    assert.equal(response.__ow_query, 'name=Jane');
    assert.equal(response.__ow_body, Buffer.from('{"name":"Jane"}').toString('base64'));
    assert.equal(response.name, undefined);
  });

  await t.test('require-whisk-auth: a secret header, or OpenWhisk credentials (consumed)', async () => {
    await ow.actions.create({
      name: 'secret',
      action: ECHO,
      annotations: { 'web-export': true, 'require-whisk-auth': 's3cr3t' },
    });
    const without = await web('_/default/secret.json');
    assert.equal(without.status, 401);
    const refused = (await without.json()) as { error: string; code: string };
    assert.equal(refused.code, 'ERR_OPENWHISK_WEB_UNAUTHORIZED');
    const wrong = await web('_/default/secret.json', { headers: { 'x-require-whisk-auth': 'nope' } });
    assert.equal(wrong.status, 401);
    const right = await web('_/default/secret.json', { headers: { 'x-require-whisk-auth': 's3cr3t' } });
    assert.equal(right.status, 200);
    await ow.actions.create({
      name: 'users',
      action: ECHO,
      annotations: { 'web-export': true, 'require-whisk-auth': true },
    });
    assert.equal((await web('_/default/users.json')).status, 401);
    const withKey = await web('_/default/users.json', { headers: { authorization: basic(key) } });
    assert.equal(withKey.status, 200);
    const { response } = (await withKey.json()) as { response: Record<string, any> };
    assert.equal(response.__ow_user, 'default');
    assert.equal(response.__ow_headers.authorization, undefined, 'the credential never reaches the action');
  });

  await t.test('refusals: not exported, unknown, packages, reserved and final params', async () => {
    await ow.actions.create({ name: 'private', action: ECHO });
    const hidden = await web('_/default/private.json');
    assert.equal(hidden.status, 404);
    assert.equal(((await hidden.json()) as { code: string }).code, 'ERR_OPENWHISK_NOT_FOUND');
    assert.equal((await web('_/default/nothing.json')).status, 404);
    assert.equal((await web('_/mypkg/echo.json')).status, 501);
    assert.equal((await web('other/default/echo.json')).status, 404);
    const reserved = await web('_/default/echo.json?__ow_method=get');
    assert.equal(reserved.status, 400);
    assert.equal(((await reserved.json()) as { code: string }).code, 'ERR_OPENWHISK_WEB_PARAMS');
    await ow.actions.create({
      name: 'locked',
      action: ECHO,
      params: { role: 'user' },
      annotations: { 'web-export': true, final: true },
    });
    assert.equal((await web('_/default/locked.json?role=admin')).status, 400);
    const ok = await web('_/default/locked.json?other=1');
    assert.equal(((await ok.json()) as { response: Record<string, unknown> }).response.role, 'user');
    const options = await web('_/default/echo.json', { method: 'OPTIONS' });
    assert.equal(options.status, 200);
    assert.match(options.headers.get('access-control-allow-methods') ?? '', /POST/);
    const badJson = await web('_/default/echo.json', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{',
    });
    assert.equal(badJson.status, 400);
    assert.equal(((await badJson.json()) as { code: string }).code, 'ERR_OPENWHISK_REQUEST_INVALID');
  });

  await t.test(
    'nimbus deploy of an exports.main folder and a Python main(args): plain HTTP and the OpenWhisk API',
    async () => {
      await nimbus.deploy('ow-wordcount');
      const counted = await fetch(`${nimbus.url}/function/ow-wordcount?unused=1`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ payload: 'to be or not to be' }),
      });
      assert.equal(counted.status, 200);
      assert.deepEqual(await counted.json(), { count: 6, method: 'post' });
      const viaApi = await ow.actions.invoke({
        name: 'ow-wordcount',
        blocking: true,
        result: true,
        params: { payload: 'a b' },
      });
      assert.deepEqual(viaApi, { count: 2 });
      const described = await ow.actions.get({ name: 'ow-wordcount' });
      assert.deepEqual(
        described.exec,
        { kind: 'nodejs:20', binary: false },
        'no code shown for a built bundle',
      );
      await nimbus.deploy('ow-python');
      const greeted = await fetch(`${nimbus.url}/function/ow-python?name=Guido`);
      assert.deepEqual(await greeted.json(), { greeting: 'Hello Guido', method: 'get' });
      assert.deepEqual(
        await ow.actions.invoke({ name: 'ow-python', blocking: true, result: true, params: { name: 'Tim' } }),
        {
          greeting: 'Hello Tim',
          method: null,
        },
      );
      // An action made through the OpenWhisk API answers plain HTTP the same way.
      const viaHttp = await fetch(`${nimbus.url}/function/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"x":1}',
      });
      assert.equal(((await viaHttp.json()) as { response: Record<string, unknown> }).response.x, 1);
    },
  );

  await t.test(
    'an action calls another back with the openwhisk client and its own __OW_API_KEY',
    async () => {
      await nimbus.deploy('ow-caller');
      const result = await ow.actions.invoke({
        name: 'ow-caller',
        blocking: true,
        result: true,
        params: { target: 'ow-wordcount', with: { payload: 'one two three' } },
      });
      assert.deepEqual(result, { via: '/default/ow-caller', result: { count: 3 } });
      // Its key may invoke, not deploy.
      await ow.actions.create({
        name: 'deployer',
        action: `const http = require('node:http');
      function main() {
        const [id, secret] = process.env.__OW_API_KEY.split(':');
        const url = new URL('/api/v1/namespaces/_/actions/sneaky', process.env.__OW_API_HOST);
        return new Promise((resolve) => {
          const req = http.request(url, { method: 'PUT', headers: { authorization: 'Basic ' + Buffer.from(id + ':' + secret).toString('base64'), 'content-type': 'application/json' } }, (res) => {
            let body = ''; res.on('data', (c) => (body += c)); res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(body) }));
          });
          req.end(JSON.stringify({ exec: { kind: 'nodejs:20', code: 'function main() { return {}; }' } }));
        });
      }`,
      });
      const denied = await ow.actions.invoke({ name: 'deployer', blocking: true, result: true });
      assert.equal(denied.status, 403);
      assert.equal(denied.body.code, 'ERR_AUTH_FORBIDDEN');
      const sneaky = await owError(ow.actions.get({ name: 'sneaky' }));
      assert.equal(sneaky.statusCode, 404);
    },
  );
});
