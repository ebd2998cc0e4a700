// The handler shapes Lambda and OpenFaaS code is written in run as they are: callback handlers as default
// or named exports, context.succeed/fail/done, a named export chosen by `handler: file.export`, the
// OpenFaaS template's `(event, context)` deployed as a plain folder; over HTTP and the Lambda Invoke API.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { startTestPlatform } from '../helpers/platform.js';

test('node handler shapes', async (t) => {
  const nimbus = await startTestPlatform(t);
  const call = (name: string, path = '/', init?: RequestInit) =>
    fetch(`${nimbus.url}/function/${name}${path}`, init);
  const key = nimbus.platform.keys.create({ scope: 'admin', namespace: '*' });
  const lambda = new LambdaClient({
    endpoint: nimbus.url,
    region: 'us-east-1',
    credentials: { accessKeyId: key.id, secretAccessKey: key.secret },
  });
  t.after(() => lambda.destroy());
  const invoke = async (name: string, payload: unknown) => {
    const out = await lambda.send(
      new InvokeCommand({ FunctionName: name, Payload: Buffer.from(JSON.stringify(payload)) }),
    );
    return { error: out.FunctionError, payload: JSON.parse(Buffer.from(out.Payload!).toString()) as any };
  };

  await t.test('export default (event, context, callback) is a Lambda callback handler', async () => {
    await nimbus.deploy('shape-callback-default', 'cb-default');
    const ok = await call('cb-default', '/here');
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), 'callback cb-default /here');
    const failed = await call('cb-default', '/fail');
    assert.equal(failed.status, 500);
    assert.match(((await failed.json()) as any).error.message, /callback failed/);
    const raw = await invoke('cb-default', { rawPath: '/raw' });
    assert.deepEqual(raw.payload, { statusCode: 200, body: 'callback cb-default /raw' });
  });

  await t.test('CommonJS exports.handler with a callback, and context.done', async () => {
    await nimbus.deploy('shape-callback-cjs', 'cb-cjs');
    const res = await call('cb-cjs', '/', { headers: { 'x-call-id': 'ignored-by-gateway' } });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { via: string; requestId: string; remaining: number };
    assert.equal(body.via, 'callback');
    assert.equal(body.requestId, res.headers.get('x-call-id'));
    // timeoutMs defaults to 30 s: the remaining time counts down from the real deadline.
    assert.ok(body.remaining > 25_000 && body.remaining <= 30_000, String(body.remaining));
    assert.deepEqual(await (await call('cb-cjs', '/done')).json(), { via: 'done' });
    const raw = await invoke('cb-cjs', { rawPath: '/string-error' });
    assert.equal(raw.error, 'Unhandled');
    assert.deepEqual(raw.payload, { errorType: 'string', errorMessage: 'plain string error', trace: [] });
  });

  await t.test('context.succeed and context.fail answer a two-parameter handler later', async () => {
    await nimbus.deploy('shape-context-succeed', 'ctx-succeed');
    const ok = await call('ctx-succeed');
    assert.equal(ok.status, 202);
    assert.equal(await ok.text(), 'succeeded');
    const failed = await invoke('ctx-succeed', { rawPath: '/fail' });
    assert.equal(failed.error, 'Unhandled');
    assert.equal(failed.payload.errorMessage, 'context.fail called');
  });

  await t.test('handler: app.lambdaHandler picks a named export', async () => {
    await nimbus.deploy('shape-named-export', 'named');
    assert.deepEqual(await (await call('named')).json(), { message: 'hello world', fn: 'named' });
  });

  await t.test('named exports without handler or default: the load error says to set handler', async () => {
    await assert.rejects(nimbus.deploy('shape-named-missing', 'named-missing'), (err: any) => {
      assert.equal(err.code, 'ERR_FUNCTION_LOAD_FAILED');
      assert.match(err.message, /exports "lambdaHandler", "helper" but no "handler" and no default/);
      assert.match(err.message, /set "handler: FILE\.lambdaHandler" in nimbus\.yml/);
      return true;
    });
    // Naming the export makes the same code load.
    await nimbus.deploy('shape-named-missing', 'named-missing', { handler: 'index.lambdaHandler' });
    assert.deepEqual(await (await call('named-missing')).json(), 'unreachable');
  });

  await t.test('the OpenFaaS template handler is detected without handlerStyle', async () => {
    await nimbus.deploy('shape-openfaas-detected', 'of-detected');
    const res = await call('of-detected', '/', {
      method: 'POST',
      body: '{"a":1}',
      headers: { 'content-type': 'application/json' },
    });
    assert.equal(res.status, 201);
    assert.deepEqual(await res.json(), { got: { a: 1 }, method: 'POST' });
  });
});
