// Malformed requests from anyone, credentials or not: a bad path parameter, a target that is not a path, a
// hostile Host header, a doubled slash. Each answers one coded error and the gateway keeps serving; a fault
// inside a handler answers 500 ERR_INTERNAL with a reference, the details only in the platform log.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { startTestPlatform } from '../helpers/platform.js';
import { errorCode, rawRequest } from '../helpers/raw-http.js';

/** Every route family with a path parameter, the parameter as `%zz`. */
const BAD_PARAM_ROUTES: [string, string][] = [
  ['GET', '/api/v1/functions/%zz'],
  ['PUT', '/api/v1/functions/%zz'],
  ['DELETE', '/api/v1/functions/%zz'],
  ['HEAD', '/api/v1/bundles/%zz'],
  ['PUT', '/api/v1/bundles/%zz'],
  ['DELETE', '/api/v1/keys/%zz'],
  ['GET', '/system/calls/%zz'],
  ['POST', '/system/calls/%zz/redrive'],
  ['GET', '/system/function/%zz'],
  ['POST', '/system/scale-function/%zz'],
  ['GET', '/2015-03-31/functions/%zz'],
  ['DELETE', '/2015-03-31/functions/%zz'],
  ['GET', '/2015-03-31/functions/%zz/configuration'],
  ['PUT', '/2015-03-31/functions/%zz/configuration'],
  ['PUT', '/2015-03-31/functions/%zz/code'],
  ['POST', '/2015-03-31/functions/%zz/invocations'],
  ['POST', '/2021-11-15/functions/%zz/response-streaming-invocations'],
  ['GET', '/function/%zz'],
  ['POST', '/async-function/%zz'],
  ['GET', '/api/v1/functions/%E4%zz/x'],
  ['GET', '/api/v1/functions/a%'],
];

test('malformed requests answer coded errors and the gateway keeps serving', async (t) => {
  const nimbus = await startTestPlatform(t, { sandbox: 'auto' });
  const { url, platform } = nimbus;
  await nimbus.deploy('echo');
  const healthy = async () => {
    const res = await fetch(`${url}/healthz`);
    assert.equal(res.status, 200, 'the gateway still answers /healthz');
  };

  await t.test(
    'a malformed path parameter on every route family, with and without a credential',
    async () => {
      for (const auth of ['', `Authorization: Bearer ${platform.token}\r\n`]) {
        for (const [method, path] of BAD_PARAM_ROUTES) {
          const res = await rawRequest(
            url,
            `${method} ${path} HTTP/1.1\r\nHost: a\r\n${auth}Content-Length: 0\r\nConnection: close\r\n\r\n`,
          );
          const where = `${method} ${path} ${auth ? 'with' : 'without'} a token`;
          assert.ok(res.status >= 400 && res.status < 500, `${where}: ${res.status} ${res.body}`);
          if (method !== 'HEAD') assert.ok(errorCode(res), `${where}: a coded error, got ${res.body}`);
        }
      }
      await healthy();
    },
  );

  await t.test('a bad parameter is 400 ERR_REQUEST_INVALID, not 404', async () => {
    const res = await fetch(`${url}/api/v1/functions/%zz`, {
      headers: { authorization: `Bearer ${platform.token}` },
    });
    assert.equal(res.status, 400);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'ERR_REQUEST_INVALID');
    assert.match(error.message, /percent-encoding/);
  });

  await t.test(
    'targets that are not a path, and a doubled slash, are never routed as something else',
    async () => {
      for (const target of ['//[', '*', 'http://evil.example/api/v1/functions', '//x/api/v1/functions']) {
        const res = await rawRequest(
          url,
          `GET ${target} HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer ${platform.token}\r\nConnection: close\r\n\r\n`,
        );
        assert.ok(res.status === 400 || res.status === 404, `${target}: ${res.status}`);
        assert.match(JSON.parse(res.body.toString()).error.code, /^ERR_(REQUEST_INVALID|ROUTE_NOT_FOUND)$/);
      }
      await healthy();
    },
  );

  await t.test('a Host header that is not a host[:port] is refused before the function sees it', async () => {
    for (const host of ['[', 'evil.com/y?', 'a@b', 'a b', 'x%2Fy', '[::1::2]', 'a\\b', 'a#b']) {
      const res = await rawRequest(
        url,
        `GET /function/echo/path HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(res.status, 400, `Host: ${host} → ${res.status} ${res.body}`);
      assert.equal(JSON.parse(res.body.toString()).error.code, 'ERR_REQUEST_INVALID');
      const queued = await rawRequest(
        url,
        `POST /async-function/echo HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(queued.status, 400, `async, Host: ${host}`);
    }
    for (const host of ['[::1]:8080', 'example.com', 'a-b.example:1', '127.0.0.1']) {
      const res = await rawRequest(
        url,
        `GET /function/echo/path?q=1 HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(res.status, 200, `Host: ${host}`);
      const seen = JSON.parse(res.body.toString()) as { path: string; query: string };
      assert.equal(seen.path, '/path', 'the Host header never changes the path a function sees');
      assert.equal(seen.query, '?q=1');
    }
  });

  await t.test(
    'a fault inside a handler is 500 ERR_INTERNAL: a reference out, the stack in the log',
    async () => {
      // The bundle store's directory becomes a file: storing an upload fails below the handler.
      const bundles = join(nimbus.dataDir, 'bundles');
      rmSync(bundles, { recursive: true, force: true });
      writeFileSync(bundles, 'not a directory');
      const res = await fetch(`${url}/api/v1/bundles/${'a'.repeat(64)}`, {
        method: 'PUT',
        headers: { authorization: `Bearer ${platform.token}` },
        body: Buffer.from('whatever'),
      });
      assert.equal(res.status, 500);
      const text = await res.text();
      const { error } = JSON.parse(text) as { error: { code: string; message: string; stack?: string } };
      assert.equal(error.code, 'ERR_INTERNAL');
      assert.match(error.message, /ref [0-9a-f]{8}/);
      assert.equal(error.stack, undefined, 'no stack without --debug');
      assert.ok(!text.includes(nimbus.dataDir), `no host path in the answer: ${text}`);
      const ref = /ref ([0-9a-f]{8})/.exec(error.message)![1]!;
      const logged = nimbus.events.find(
        (e) => e.type === 'internal-error' && String(e.message).includes(ref),
      );
      assert.ok(logged, 'the platform log has the failure under the same reference');
      assert.match(String(logged.stack), /at /, 'with its stack');
      await healthy();
    },
  );
});
