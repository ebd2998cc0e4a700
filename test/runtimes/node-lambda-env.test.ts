// Lambda's environment in a Node function: the variables Lambda's runtimes set, the whole context with the
// real deadline, the code as working directory; and the AWS SDK available without shipping it: function
// A invokes function B with @aws-sdk/client-lambda and returns B's result, with no configuration at all.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildFunction } from '../../src/build/build.js';
import { PROVIDED_NODE_MODULES } from '../../src/runtimes/node/provided-packages.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { copyFixture } from '../helpers/runtimes.js';
import { noSandbox } from '../security/helpers.js';

test('Lambda variables and context', async (t) => {
  const nimbus = await startTestPlatform(t, { awsRegion: 'eu-central-1' });
  await nimbus.deploy('lambda-env', 'env-fn', { memoryMb: 192, timeoutMs: 7000 });
  const res = await fetch(`${nimbus.url}/function/env-fn`);
  assert.equal(res.status, 200);
  const body = (await res.json()) as any;
  const callId = res.headers.get('x-call-id');
  assert.deepEqual(
    { ...body.env, AWS_LAMBDA_LOG_STREAM_NAME: undefined, LAMBDA_TASK_ROOT: undefined },
    {
      AWS_REGION: 'eu-central-1',
      AWS_DEFAULT_REGION: 'eu-central-1',
      AWS_LAMBDA_FUNCTION_NAME: 'env-fn',
      AWS_LAMBDA_FUNCTION_VERSION: '1',
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '192',
      AWS_LAMBDA_LOG_GROUP_NAME: '/aws/lambda/env-fn',
      AWS_LAMBDA_LOG_STREAM_NAME: undefined,
      LAMBDA_TASK_ROOT: undefined,
      _HANDLER: 'index.handler',
      AWS_EXECUTION_ENV: `AWS_Lambda_nodejs${process.versions.node.split('.')[0]}.x`,
      TZ: ':UTC',
      AWS_ENDPOINT_URL_LAMBDA: nimbus.url,
    },
  );
  assert.match(body.env.AWS_LAMBDA_LOG_STREAM_NAME, /^\d{4}\/\d{2}\/\d{2}\/\[1\][0-9a-f]{32}$/);
  assert.equal(body.env.LAMBDA_TASK_ROOT, body.cwd);
  assert.equal(body.ownCode, true);
  assert.equal(body.hours, 0, 'UTC');
  assert.deepEqual(body.context, {
    functionName: 'env-fn',
    functionVersion: '1',
    invokedFunctionArn: 'arn:aws:lambda:eu-central-1:000000000000:function:env-fn',
    memoryLimitInMB: '192',
    logGroupName: '/aws/lambda/env-fn',
    logStreamName: body.env.AWS_LAMBDA_LOG_STREAM_NAME,
    callbackWaitsForEmptyEventLoop: true,
    awsRequestId: callId,
    xRayTraceId: body.context.xRayTraceId,
  });
  // The call's traceparent in X-Ray's form (a new trace, not sampled: tracing is not configured here).
  assert.match(body.context.xRayTraceId, /^Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0$/);
  assert.deepEqual(body.methods, ['function', 'function', 'function']);
  assert.ok(body.remaining > 5000 && body.remaining <= 7000, `remaining ${body.remaining} of timeoutMs 7000`);
  // The function's own environment wins over the platform's.
  await nimbus.deploy('lambda-env', 'env-own', {
    environment: { AWS_REGION: 'ap-south-1', TZ: 'Asia/Kolkata' },
  });
  const own = (await (await fetch(`${nimbus.url}/function/env-own`)).json()) as any;
  assert.equal(own.env.AWS_REGION, 'ap-south-1');
  assert.equal(own.context.invokedFunctionArn, 'arn:aws:lambda:ap-south-1:000000000000:function:env-own');
  assert.equal(own.hours, 5);
});

async function deployPair(t: Parameters<typeof startTestPlatform>[0], nimbus: TestPlatform): Promise<void> {
  // Outside the repository: no node_modules above the folder holds the SDK, so the build leaves it out.
  const caller = copyFixture(t, 'sdk-caller');
  const built = await buildFunction(caller);
  t.after(() => rmSync(built.bundleDir, { recursive: true, force: true }));
  const code = readFileSync(join(built.bundleDir, 'index.mjs'), 'utf8');
  assert.match(code, /from "@aws-sdk\/client-lambda"/, 'the SDK stays an import');
  assert.ok(code.length < 10_000, `the bundle holds no SDK (${code.length} bytes)`);
  await nimbus.deploy(caller, 'caller');
  await nimbus.deploy('sdk-callee', 'callee');
}

test('function A invokes function B with @aws-sdk/client-lambda (no sandbox)', async (t) => {
  assert.ok(
    existsSync(join(PROVIDED_NODE_MODULES, '@aws-sdk/client-lambda/index.mjs')),
    'npm run build made it',
  );
  const nimbus = await startTestPlatform(t);
  await deployPair(t, nimbus);
  const res = await fetch(`${nimbus.url}/function/caller/hello`);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.deepEqual(JSON.parse(text), { got: { from: 'caller', path: '/hello' }, by: 'callee' });
  // B's failures come back as Lambda's FunctionError.
  const missing = await fetch(`${nimbus.url}/function/caller/?target=nobody`);
  assert.equal(missing.status, 500);
  assert.match(await missing.text(), /ResourceNotFoundException|Function not found/);
});

test('function A invokes function B with @aws-sdk/client-lambda (sandbox)', {
  skip: noSandbox ?? false,
}, async (t) => {
  const nimbus = await startTestPlatform(t, { sandbox: 'auto' });
  await deployPair(t, nimbus);
  const res = await fetch(`${nimbus.url}/function/caller/boxed`);
  const text = await res.text();
  assert.equal(res.status, 200, text);
  assert.deepEqual(JSON.parse(text), { got: { from: 'caller', path: '/boxed' }, by: 'callee' });
});
