// runtime: python over real HTTP through the gateway: both handler styles, binary bodies, errors, timeouts,
// crashes, concurrency on threads, requirements.txt through pip, and a missing interpreter at deploy.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildFunction } from '../../src/build/build.js';
import { startTestPlatform } from '../helpers/platform.js';
import { copyFixture, makeWheel, timed, waitForNoInstance } from '../helpers/runtimes.js';

test('python runtime', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url } = nimbus;
  await Promise.all([nimbus.deploy('python-openfaas', 'py'), nimbus.deploy('python-lambda', 'pyl')]);

  await t.test('OpenFaaS style: hello', async () => {
    const res = await fetch(`${url}/function/py/hello`, { method: 'POST', body: 'world' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello world');
  });

  await t.test('OpenFaaS style: a binary body comes back byte for byte', async () => {
    const bytes = new Uint8Array(300_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) % 256;
    const res = await fetch(`${url}/function/py/echo`, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
  });

  await t.test('OpenFaaS style: status, headers, query, request headers, env, cwd', async () => {
    const res = await fetch(`${url}/function/py/status?a=1&a=2`, { headers: { 'x-test': 'v' } });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-custom'), 'yes');
    assert.equal(res.headers.get('content-type'), 'application/json');
    const body = (await res.json()) as Record<string, unknown>;
    assert.equal(body.method, 'GET');
    assert.equal(body.a, '1');
    assert.deepEqual(body.all, ['1', '2']);
    assert.equal(body.header, 'v');
    assert.equal(body.env, 'hi');
    assert.match(String(body.cwd), /^\/fn$|bundles\/[0-9a-f]{64}$/, 'runs in its bundle directory');
  });

  await t.test('OpenFaaS style: an exception is a coded 500 naming it', async () => {
    const res = await fetch(`${url}/function/py/error`);
    assert.equal(res.status, 500);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'ERR_HANDLER_FAILED');
    assert.match(body.error.message, /ValueError: bad input from the handler/);
  });

  await t.test('concurrency > 1: requests run at once on one process', async () => {
    await fetch(`${url}/function/py/id`);
    const { ms, value } = await timed(() =>
      Promise.all(
        Array.from({ length: 4 }, async () => {
          const res = await fetch(`${url}/function/py/sleep?s=0.4`);
          assert.equal(res.status, 200);
          return res.text();
        }),
      ),
    );
    assert.equal(new Set(value).size, 1, `one instance served all four: ${value}`);
    assert.ok(ms < 1200, `four 400 ms sleeps overlapped (${Math.round(ms)} ms)`);
  });

  await t.test('a handler past timeoutMs gives 504 and a new process serves next', async () => {
    const before = await (await fetch(`${url}/function/py/id`)).text();
    const res = await fetch(`${url}/function/py/hang`);
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ERR_HANDLER_TIMEOUT');
    await waitForNoInstance(nimbus, 'py');
    const after = await fetch(`${url}/function/py/id`);
    assert.equal(after.status, 200);
    assert.notEqual(await after.text(), before);
  });

  await t.test('a process that exits mid-request is a 502, and the next request is served', async () => {
    const res = await fetch(`${url}/function/py/crash`);
    assert.equal(res.status, 502);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ERR_INSTANCE_CRASHED');
    assert.equal((await fetch(`${url}/function/py/id`)).status, 200);
  });

  await t.test('Lambda style: payload 2.0 event and context', async () => {
    const res = await fetch(`${url}/function/pyl/event?a=1&a=2`, {
      method: 'POST',
      body: '{"k":"v"}',
      headers: { 'content-type': 'application/json', cookie: 's=1; t=2' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    const { event, remaining, fn } = (await res.json()) as {
      event: {
        version: string;
        rawPath: string;
        rawQueryString: string;
        queryStringParameters: Record<string, string>;
        cookies: string[];
        requestContext: { http: { method: string } };
        body: string;
        isBase64Encoded: boolean;
      };
      remaining: boolean;
      fn: string;
    };
    assert.equal(event.version, '2.0');
    assert.equal(event.rawPath, '/event');
    assert.equal(event.rawQueryString, 'a=1&a=2');
    assert.deepEqual(event.queryStringParameters, { a: '1,2' });
    assert.deepEqual(event.cookies, ['s=1', 't=2']);
    assert.equal(event.requestContext.http.method, 'POST');
    assert.equal(event.body, '{"k":"v"}');
    assert.equal(event.isBase64Encoded, false);
    assert.equal(remaining, true);
    assert.equal(fn, 'pyl');
  });

  await t.test('Lambda style: status, headers, cookies; inferred results', async () => {
    let res = await fetch(`${url}/function/pyl/status`, { method: 'POST', body: 'it' });
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('x-lambda'), 'py');
    assert.deepEqual(res.headers.getSetCookie(), ['a=1', 'b=2']);
    assert.equal(await res.text(), 'made it');
    res = await fetch(`${url}/function/pyl/other`);
    assert.deepEqual(await res.json(), { message: 'inferred' });
  });

  await t.test('Lambda style: binary in as base64, binary out via isBase64Encoded', async () => {
    const bytes = new Uint8Array([0, 1, 2, 255, 254, 10, 13]);
    const res = await fetch(`${url}/function/pyl/echo`, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
  });

  await t.test('Lambda style: errors and concurrent async handlers', async () => {
    const res = await fetch(`${url}/function/pyl/error`);
    assert.equal(res.status, 500);
    assert.match(((await res.json()) as { error: { message: string } }).error.message, /KeyError: 'missing'/);
    const { ms } = await timed(() =>
      Promise.all(Array.from({ length: 4 }, () => fetch(`${url}/function/pyl/sleep`).then((r) => r.text()))),
    );
    assert.ok(ms < 1000, `four async 300 ms sleeps overlapped (${Math.round(ms)} ms)`);
  });

  await t.test('requirements.txt is installed into the bundle with pip', async (t) => {
    const dir = copyFixture(t, 'python-openfaas');
    const wheel = makeWheel(join(dir, 'wheels'), 'greet', 'def greet(who):\n    return "hello " + who\n');
    writeFileSync(join(dir, 'requirements.txt'), `./wheels/${wheel}\n`);
    await nimbus.deploy(dir, 'pydeps');
    const res = await fetch(`${url}/function/pydeps/dep`);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello pip');
  });

  await t.test(
    'a failing pip install, or no python for pip, is ERR_BUILD_PIP_FAILED with the reason',
    async (t) => {
      const dir = copyFixture(t, 'python-openfaas');
      writeFileSync(join(dir, 'requirements.txt'), './wheels/absent-1.0-py3-none-any.whl\n');
      await assert.rejects(buildFunction(dir), (err: { code?: string; message: string }) => {
        assert.equal(err.code, 'ERR_BUILD_PIP_FAILED');
        assert.match(err.message, /absent-1\.0-py3-none-any\.whl/);
        return true;
      });
      await assert.rejects(
        buildFunction(dir, { python: 'python3-nimbus-absent' }),
        (err: { code?: string; message: string }) => {
          assert.equal(err.code, 'ERR_BUILD_PIP_FAILED');
          assert.match(err.message, /python3-nimbus-absent was not found/);
          return true;
        },
      );
    },
  );

  await t.test('a handler that is not there fails the build, or the deploy with a coded error', async (t) => {
    const dir = copyFixture(t, 'python-openfaas');
    writeFileSync(join(dir, 'nimbus.yml'), 'runtime: python\nhandler: nosuch.handle\n');
    await assert.rejects(buildFunction(dir), { code: 'ERR_BUILD_FAILED', message: /no nosuch\.py/ });
    await assert.rejects(nimbus.deploy('python-openfaas', 'pybad', { handler: 'handler.nosuch' }), {
      code: 'ERR_FUNCTION_LOAD_FAILED',
      message: /has no function nosuch/,
    });
  });
});

test('python: a missing interpreter is a coded error at deploy that names it', async (t) => {
  const nimbus = await startTestPlatform(t, { python: 'python3-nimbus-absent' });
  await assert.rejects(nimbus.deploy('python-openfaas', 'py'), (err: { code?: string; message: string }) => {
    assert.equal(err.code, 'ERR_RUNTIME_MISSING');
    assert.match(err.message, /python3-nimbus-absent/);
    return true;
  });
});
