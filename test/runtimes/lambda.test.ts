// runtime: lambda over real HTTP: the official aws-lambda-ric (not written here) drives Nimbus's Runtime API —
// invoke, errors with trace, init errors, streaming with the HTTP prelude, timeouts and a runtime that exits
// mid-invoke — and a minimal custom runtime polls concurrently.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { testPackageDir } from '../../scripts/test-packages.js';
import { startTestPlatform } from '../helpers/platform.js';
import { copyFixture, instanceCount, timed, waitForNoInstance } from '../helpers/runtimes.js';

interface ErrorBody {
  error: { code: string; message: string; stack?: string };
}

/** What the RIC needs at run time: its bundled entry, its native addon, its package.json. */
const RIC_FILES = ['index.mjs', 'rapid-client.node', 'package.json'];

/**
 * The lambda-ric fixture with aws-lambda-ric copied into its node_modules. The RIC is a test package
 * (test/packages/: it compiles for minutes, so the root install leaves it out), installed once on first use.
 */
function ricFunction(t: TestContext): string {
  const ricDir = testPackageDir('aws-lambda-ric');
  assert.ok(
    existsSync(join(ricDir, 'rapid-client.node')),
    `aws-lambda-ric in ${ricDir} has no native addon: remove that folder and run the test again (its build needs cmake, g++, make, python3)`,
  );
  const dir = copyFixture(t, 'lambda-ric');
  const target = join(dir, 'node_modules', 'aws-lambda-ric');
  mkdirSync(target, { recursive: true });
  for (const file of RIC_FILES) copyFileSync(join(ricDir, file), join(target, file));
  return dir;
}

test('lambda runtime with aws-lambda-ric', async (t) => {
  const nimbus = await startTestPlatform(t, { debug: true });
  const { url } = nimbus;
  const dir = ricFunction(t);
  await Promise.all([
    nimbus.deploy(dir, 'ric'),
    nimbus.deploy(dir, 'ricstream', { handler: 'index.stream' }),
    nimbus.deploy(dir, 'ricconc', { concurrency: 4 }),
  ]);

  await t.test('sync invoke over HTTP: hello', async () => {
    const res = await fetch(`${url}/function/ric/hello`, { method: 'POST', body: 'world' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain');
    assert.equal(await res.text(), 'hello world');
  });

  await t.test('a binary body round-trips through base64 events and results', async () => {
    const bytes = new Uint8Array(100_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 251) % 256;
    const res = await fetch(`${url}/function/ric/echo`, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
  });

  await t.test(
    'status, headers and cookies map back; context and environment are what the RIC needs',
    async () => {
      const res = await fetch(`${url}/function/ric/status?a=1&a=2`, { method: 'PUT', body: 'x' });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('x-custom'), 'yes');
      assert.deepEqual(res.headers.getSetCookie(), ['c1=v1; Max-Age=60', 'c2=v2']);
      const body = (await res.json()) as {
        method: string;
        query: Record<string, string>;
        functionName: string;
        functionVersion: string;
        memoryLimitInMB: string;
        invokedFunctionArn: string;
        awsRequestId: string;
        remaining: number;
        env: Record<
          'region' | 'logGroup' | 'logStream' | 'taskRoot' | 'handler' | 'greeting' | 'traceId',
          string
        >;
      };
      assert.equal(body.method, 'PUT');
      assert.deepEqual(body.query, { a: '1,2' });
      assert.equal(body.functionName, 'ric');
      assert.equal(body.functionVersion, '1');
      assert.equal(body.memoryLimitInMB, '256');
      assert.equal(body.invokedFunctionArn, 'arn:aws:lambda:us-east-1:000000000000:function:ric');
      assert.equal(body.awsRequestId, res.headers.get('x-call-id'), 'the request id is the call id');
      assert.ok(body.remaining > 0 && body.remaining <= 2000, `remaining time ${body.remaining}`);
      assert.equal(body.env.region, 'us-east-1');
      assert.equal(body.env.logGroup, '/aws/lambda/ric');
      assert.match(body.env.logStream, /^\d{4}\/\d{2}\/\d{2}\/\[1\][0-9a-f]{32}$/);
      assert.match(body.env.taskRoot, /^\/fn$|bundles\/[0-9a-f]{64}$/);
      assert.equal(body.env.handler, 'index.handler');
      assert.equal(body.env.greeting, 'hi');
      assert.match(body.env.traceId, /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/);
      const inferred = await fetch(`${url}/function/ric/plain`);
      assert.equal(inferred.headers.get('content-type'), 'application/json');
      assert.deepEqual(await inferred.json(), { message: 'inferred' });
    },
  );

  await t.test(
    'a handler error posted on /error is a coded 500 with its type, message and trace',
    async () => {
      const res = await fetch(`${url}/function/ric/error`);
      assert.equal(res.status, 500);
      const body = (await res.json()) as ErrorBody;
      assert.equal(body.error.code, 'ERR_HANDLER_FAILED');
      assert.match(body.error.message, /TypeError: bad thing happened/);
      assert.match(
        body.error.stack ?? '',
        /at .*index\.mjs/,
        'the trace array arrives as the stack (debug on)',
      );
      assert.equal((await fetch(`${url}/function/ric/hello`)).status, 200, 'the runtime carries on');
    },
  );

  await t.test(
    'streaming: the prelude sets status, headers and cookies; chunks arrive as written',
    async () => {
      const started = Date.now();
      const res = await fetch(`${url}/function/ricstream/`);
      assert.equal(res.status, 207);
      assert.equal(res.headers.get('x-stream'), 'yes');
      assert.deepEqual(res.headers.getSetCookie(), ['s=1']);
      const reader = res.body!.getReader();
      const arrivals: number[] = [];
      let text = '';
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        arrivals.push(Date.now() - started);
        text += Buffer.from(value).toString();
      }
      assert.equal(text, 'hello world');
      assert.ok(arrivals.at(-1)! - arrivals[0]! >= 200, `chunks spread over time: ${arrivals}`);
    },
  );

  await t.test('streaming: a mid-stream throw cuts the response short', async () => {
    const res = await fetch(`${url}/function/ricstream/fail`);
    assert.equal(res.status, 207);
    await assert.rejects(res.text(), 'the body ends in an error, not a clean end');
  });

  await t.test('concurrency 4: the RIC polls four events at once (AWS_LAMBDA_MAX_CONCURRENCY)', async () => {
    const { ms, value } = await timed(() =>
      Promise.all(
        Array.from({ length: 4 }, () => fetch(`${url}/function/ricconc/sleep`).then((r) => r.text())),
      ),
    );
    assert.equal(value.length, 4);
    assert.equal(await instanceCount(nimbus, 'ricconc'), 1, 'one instance');
    assert.ok(ms < 1000, `four 300 ms handlers overlapped (${Math.round(ms)} ms)`);
  });

  await t.test('past timeoutMs: 504, and a new runtime serves next', async () => {
    const before = await (await fetch(`${url}/function/ric/id`)).text();
    const res = await fetch(`${url}/function/ric/hang`);
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as ErrorBody).error.code, 'ERR_HANDLER_TIMEOUT');
    await waitForNoInstance(nimbus, 'ric');
    const after = await fetch(`${url}/function/ric/id`);
    assert.equal(after.status, 200);
    assert.notEqual(await after.text(), before);
  });

  await t.test('a runtime that exits mid-invoke is a coded 502, not a hang', async () => {
    const { ms, value: res } = await timed(() => fetch(`${url}/function/ric/crash`));
    assert.equal(res.status, 502);
    assert.equal(((await res.json()) as ErrorBody).error.code, 'ERR_INSTANCE_CRASHED');
    assert.ok(ms < 1500, `answered at once (${Math.round(ms)} ms)`);
    assert.equal((await fetch(`${url}/function/ric/hello`)).status, 200);
  });

  await t.test('an init error (bad handler name) is a coded error at deploy', async () => {
    await assert.rejects(
      nimbus.deploy(dir, 'ricbad', { handler: 'index.nosuch' }),
      (err: ErrorBody['error']) => {
        assert.equal(err.code, 'ERR_FUNCTION_LOAD_FAILED');
        assert.match(err.message, /Runtime\.HandlerNotFound/);
        return true;
      },
    );
  });
});

test('lambda runtime with a minimal custom runtime: concurrent pollers, stackTrace errors', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url } = nimbus;
  await Promise.all([
    nimbus.deploy('lambda-custom', 'custom'),
    nimbus.deploy('lambda-custom', 'single', {
      concurrency: 2,
      environment: { AWS_LAMBDA_MAX_CONCURRENCY: '1' },
    }),
  ]);

  await t.test('four pollers serve four events at once', async () => {
    const { ms, value } = await timed(() =>
      Promise.all(
        Array.from({ length: 4 }, () => fetch(`${url}/function/custom/sleep`).then((r) => r.json())),
      ),
    );
    assert.deepEqual(value, Array(4).fill({ ok: true }));
    assert.equal(await instanceCount(nimbus, 'custom'), 1, 'one runtime process');
    assert.ok(ms < 1000, `four 300 ms events overlapped (${Math.round(ms)} ms)`);
  });

  await t.test(
    'a runtime that polls once at a time: events queue in the instance, all answered',
    async () => {
      const { ms, value } = await timed(() =>
        Promise.all(
          Array.from({ length: 2 }, () => fetch(`${url}/function/single/sleep`).then((r) => r.status)),
        ),
      );
      assert.deepEqual(value, [200, 200]);
      assert.ok(ms >= 550, `served one after the other (${Math.round(ms)} ms)`);
    },
  );

  await t.test('an error with stackTrace and the error-type header', async () => {
    const res = await fetch(`${url}/function/custom/error`);
    assert.equal(res.status, 500);
    assert.match(((await res.json()) as ErrorBody).error.message, /Runtime\.HandlerError: custom failure/);
  });

  await t.test('a runtime that exits before it polls fails the deploy, saying so', async () => {
    await assert.rejects(nimbus.deploy('lambda-custom', 'custom2', { command: 'node ./nosuch.mjs' }), {
      code: 'ERR_FUNCTION_LOAD_FAILED',
      message: /node \.\/nosuch\.mjs exited \(exit code 1\) before it asked for an event/,
    });
  });
});
