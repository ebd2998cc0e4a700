// Pure parts of the runtimes: command splitting, the watchdog's Http_* variables, Runtime API error and
// prelude parsing, the Lambda environment, and the spec keys each runtime takes.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseFunctionSpec } from '../../src/config/function-spec.js';
import { watchdogEnv, watchdogHeaderName } from '../../src/runtimes/adapter/exec-mode.js';
import { describeRuntimeError, lambdaEnv, preludeHead } from '../../src/runtimes/adapter/lambda-mode.js';
import { splitCommand } from '../../src/runtimes/command-line.js';
import { pythonEntry } from '../../src/runtimes/python/adapter.js';

test('splitCommand splits like a shell, without expanding', () => {
  assert.deepEqual(splitCommand('python3 server.py'), ['python3', 'server.py']);
  assert.deepEqual(splitCommand(`  sh -c 'echo "$HOME"; exit 1'  `), ['sh', '-c', 'echo "$HOME"; exit 1']);
  assert.deepEqual(splitCommand('a "b c" d\\ e "f\\"g" \'\''), ['a', 'b c', 'd e', 'f"g', '']);
  assert.throws(() => splitCommand('echo "open'), /unclosed "/);
});

test('watchdogEnv sets what the classic watchdog sets', () => {
  assert.equal(watchdogHeaderName('x-forwarded-FOR'), 'X_Forwarded_For');
  const env = watchdogEnv(
    ['POST', '/a/b?x=1&y=2', 'host', 'h', 'content-type', 'text/plain', 'x-multi', 'one', 'x-multi', 'two'],
    5,
  );
  assert.deepEqual(env, {
    Http_Content_Type: 'text/plain',
    Http_X_Multi: 'one',
    Http_Method: 'POST',
    Http_ContentLength: '5',
    Http_Path: '/a/b',
    Http_Query: 'x=1&y=2',
  });
  assert.equal(watchdogEnv(['GET', '/?'], 0).Http_Query, undefined);
});

test('runtime errors: the type header first, trace or stackTrace, odd bodies survive', () => {
  const body = Buffer.from(
    JSON.stringify({ errorType: 'TypeError', errorMessage: 'bad', trace: ['a', 'b'] }),
  );
  assert.deepEqual(describeRuntimeError(undefined, body), { message: 'TypeError: bad', stack: 'a\nb' });
  assert.deepEqual(
    describeRuntimeError('Runtime.X', Buffer.from('{"errorMessage":"m","stackTrace":["s"]}')),
    {
      message: 'Runtime.X: m',
      stack: 's',
    },
  );
  assert.deepEqual(describeRuntimeError(undefined, Buffer.from('not json')), {
    message: 'Unknown: not json',
    stack: undefined,
  });
  assert.deepEqual(describeRuntimeError(undefined, null), { message: 'Unknown', stack: undefined });
});

test('the streamed HTTP prelude gives status, headers and one set-cookie per cookie', () => {
  assert.deepEqual(preludeHead('{"statusCode":201,"headers":{"X-A":"1"},"cookies":["a=b","c=d"]}'), {
    status: 201,
    headers: ['x-a', '1', 'set-cookie', 'a=b', 'set-cookie', 'c=d'],
  });
  assert.deepEqual(preludeHead(''), { status: 200, headers: [] });
  assert.throws(() => preludeHead('{'));
});

test('lambdaEnv: what the runtime clients require; the function may set the region, not the rest', () => {
  const { defaults, reserved } = lambdaEnv({
    name: 'fn',
    version: 3,
    memoryMb: 128,
    timeoutMs: 2500,
    concurrency: 4,
    bundleDir: '/b',
    handler: 'index.handler',
    runtimeApi: '127.0.0.1:9001',
    functionEnv: { AWS_REGION: 'eu-west-1' },
    now: new Date('2026-01-02T03:04:05Z'),
  });
  assert.deepEqual(defaults, {
    AWS_REGION: 'eu-west-1',
    AWS_DEFAULT_REGION: 'eu-west-1',
    TZ: ':UTC',
    AWS_LAMBDA_MAX_CONCURRENCY: '4',
  });
  assert.equal(reserved.AWS_LAMBDA_RUNTIME_API, '127.0.0.1:9001');
  assert.equal(reserved._HANDLER, 'index.handler');
  assert.equal(reserved.LAMBDA_TASK_ROOT, '/b');
  assert.equal(reserved.AWS_LAMBDA_FUNCTION_NAME, 'fn');
  assert.equal(reserved.AWS_LAMBDA_FUNCTION_VERSION, '3');
  assert.equal(reserved.AWS_LAMBDA_FUNCTION_MEMORY_SIZE, '128');
  assert.equal(reserved.AWS_LAMBDA_FUNCTION_TIMEOUT, '3');
  assert.equal(reserved.AWS_LAMBDA_LOG_GROUP_NAME, '/aws/lambda/fn');
  assert.match(reserved.AWS_LAMBDA_LOG_STREAM_NAME!, /^2026\/01\/02\/\[3\][0-9a-f]{32}$/);
});

test('python handlers are module.function', () => {
  assert.equal(pythonEntry(undefined), 'handler#handle');
  assert.equal(pythonEntry('pkg.app.main'), 'pkg.app#main');
  assert.throws(() => pythonEntry('handle'), { code: 'ERR_FUNCTION_SPEC_INVALID' });
  assert.throws(() => pythonEntry('a-b.c'), { code: 'ERR_FUNCTION_SPEC_INVALID' });
});

test('the spec: runtimes and the keys that belong to them', () => {
  for (const runtime of ['node', 'python', 'exec', 'http', 'lambda']) {
    const command = runtime === 'exec' || runtime === 'http' ? { command: './x' } : {};
    assert.equal(parseFunctionSpec({ runtime, ...command }).runtime, runtime);
  }
  assert.throws(() => parseFunctionSpec({ runtime: 'exec' }), /command: is required by runtime exec/);
  assert.throws(() => parseFunctionSpec({ runtime: 'node', command: 'x' }), /command: is used by runtimes/);
  assert.throws(
    () => parseFunctionSpec({ runtime: 'exec', command: 'x', healthPath: '/h' }),
    /healthPath: is used by runtime http/,
  );
  assert.throws(() => parseFunctionSpec({ runtime: 'http', command: 'x', healthPath: 'h' }), /healthPath/);
  const http = parseFunctionSpec({
    runtime: 'http',
    command: 'node s.js',
    healthPath: '/up',
    unixSocket: true,
  });
  assert.equal(http.healthPath, '/up');
  assert.equal(http.unixSocket, true);
});
