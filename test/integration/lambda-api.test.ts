// The Lambda-compatible API driven by the real @aws-sdk/client-lambda: keys from the real `nimbus keys create`,
// functions created from zips made here (Node, Python, a custom runtime), every Invoke type, Tail logs,
// updates, function errors, missing functions, refused signatures, zip-slip, delete.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import {
  CreateFunctionCommand,
  DeleteFunctionCommand,
  GetFunctionCommand,
  GetFunctionConfigurationCommand,
  InvokeCommand,
  InvokeWithResponseStreamCommand,
  LambdaClient,
  ListFunctionsCommand,
  UpdateFunctionCodeCommand,
  UpdateFunctionConfigurationCommand,
} from '@aws-sdk/client-lambda';
import { strToU8, zipSync } from 'fflate';
import { startTestPlatform, waitFor } from '../helpers/platform.js';

const BIN = new URL('../../bin/nimbus.js', import.meta.url).pathname;

function zip(files: Record<string, string | [string, number]>): Uint8Array {
  const entries: Record<string, [Uint8Array, { os: number; attrs: number }]> = {};
  for (const [name, value] of Object.entries(files)) {
    const [text, mode] = typeof value === 'string' ? [value, 0o644] : value;
    // Unix "made by" with the mode in the high bits of the external attributes, as `zip` writes it.
    entries[name] = [strToU8(text), { os: 3, attrs: (0o100000 | mode) * 0x10000 }];
  }
  return zipSync(entries);
}

const nodeHandler = (version: number) => `
exports.handler = async (event, context) => {
  console.log('event ' + JSON.stringify(event));
  if (event.fail) throw new TypeError('bad thing happened');
  return { got: event, env: process.env.FOO, requestId: context.awsRequestId, version: ${version} };
};
`;

const decode = (payload: Uint8Array | undefined) => JSON.parse(Buffer.from(payload ?? []).toString('utf8'));

function keysCreate(url: string, token: string): Promise<{ accessKeyId: string; secretAccessKey: string }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, 'keys', 'create', '--scope', 'admin', '--json', '--url', url, '--token', token],
      { env: { PATH: process.env.PATH }, timeout: 30_000 },
      (err, stdout) => {
        if (err) return reject(err);
        const key = JSON.parse(stdout) as { id: string; secret: string };
        resolve({ accessKeyId: key.id, secretAccessKey: key.secret });
      },
    );
  });
}

test('the Lambda API with @aws-sdk/client-lambda', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url, platform } = nimbus;
  const key = await keysCreate(url, platform.token);
  assert.match(key.accessKeyId, /^NMBS[A-Z2-7]{16}$/);
  assert.match(key.secretAccessKey, /^nmbk_[A-Za-z0-9_-]{43}$/);
  const listed = (await (
    await fetch(`${url}/api/v1/keys`, { headers: { authorization: `Bearer ${platform.token}` } })
  ).json()) as { keys: Record<string, unknown>[] };
  assert.deepEqual(
    listed.keys.map((k) => k.id),
    [key.accessKeyId],
  );
  assert.equal(listed.keys[0]!.secret, undefined, 'a secret is never listed');

  const client = (credentials = key) =>
    new LambdaClient({
      endpoint: url,
      region: 'eu-west-1',
      maxAttempts: 1,
      credentials: { accessKeyId: credentials.accessKeyId, secretAccessKey: credentials.secretAccessKey },
    });
  const lambda = client();
  t.after(() => lambda.destroy());

  await t.test('CreateFunction from a zip answers an Active FunctionConfiguration', async () => {
    const created = await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'hello',
        Runtime: 'nodejs20.x',
        Role: 'arn:aws:iam::123456789012:role/x',
        Handler: 'index.handler',
        Code: { ZipFile: zip({ 'index.js': nodeHandler(1) }) },
        Environment: { Variables: { FOO: 'bar' } },
        MemorySize: 256,
        Timeout: 10,
        Description: 'says hello',
      }),
    );
    assert.equal(created.$metadata.httpStatusCode, 201);
    assert.equal(created.FunctionName, 'hello');
    assert.equal(created.FunctionArn, 'arn:aws:lambda:eu-west-1:000000000000:function:hello');
    assert.equal(created.Runtime, 'nodejs20.x');
    assert.equal(created.Handler, 'index.handler');
    assert.equal(created.MemorySize, 256);
    assert.equal(created.Timeout, 10);
    assert.equal(created.Description, 'says hello');
    assert.equal(created.Role, 'arn:aws:iam::123456789012:role/x');
    assert.equal(created.State, 'Active');
    assert.equal(created.LastUpdateStatus, 'Successful');
    assert.deepEqual(created.Environment?.Variables, { FOO: 'bar' });
    assert.ok((created.CodeSize ?? 0) > 0);
    await assert.rejects(
      lambda.send(
        new CreateFunctionCommand({
          FunctionName: 'hello',
          Runtime: 'nodejs20.x',
          Role: 'r',
          Handler: 'index.handler',
          Code: { ZipFile: zip({ 'index.js': nodeHandler(1) }) },
        }),
      ),
      (err: Error) => err.name === 'ResourceConflictException',
    );
  });

  await t.test('ListFunctions, GetFunction, GetFunctionConfiguration', async () => {
    const list = await lambda.send(new ListFunctionsCommand({}));
    assert.deepEqual(
      list.Functions?.map((f) => f.FunctionName),
      ['hello'],
    );
    const got = await lambda.send(new GetFunctionCommand({ FunctionName: 'hello' }));
    assert.equal(got.Configuration?.FunctionName, 'hello');
    assert.equal(got.Configuration?.State, 'Active');
    const config = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName: 'hello' }));
    assert.equal(config.Timeout, 10);
  });

  await t.test('Invoke RequestResponse passes the raw event and returns the result', async () => {
    const out = await lambda.send(
      new InvokeCommand({ FunctionName: 'hello', Payload: Buffer.from(JSON.stringify({ a: 1 })) }),
    );
    assert.equal(out.StatusCode, 200);
    assert.equal(out.ExecutedVersion, '$LATEST');
    assert.equal(out.FunctionError, undefined);
    const body = decode(out.Payload);
    assert.deepEqual(body.got, { a: 1 });
    assert.equal(body.env, 'bar');
    assert.equal(body.requestId, out.$metadata.requestId);
  });

  await t.test('an ARN names the function (its colons are signed double-encoded)', async () => {
    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: 'arn:aws:lambda:eu-west-1:000000000000:function:hello',
        Payload: Buffer.from('{"b":2}'),
      }),
    );
    assert.deepEqual(decode(out.Payload).got, { b: 2 });
    const qualified = await lambda.send(
      new InvokeCommand({ FunctionName: 'hello', Qualifier: '$LATEST', Payload: Buffer.from('{}') }),
    );
    assert.equal(qualified.StatusCode, 200);
  });

  await t.test('Tail returns the last 4 KB of the call log, framed as Lambda frames it', async () => {
    const out = await lambda.send(
      new InvokeCommand({ FunctionName: 'hello', LogType: 'Tail', Payload: Buffer.from('{"tail":true}') }),
    );
    const log = Buffer.from(out.LogResult ?? '', 'base64').toString('utf8');
    assert.match(log, /^START RequestId: \S+ Version: \$LATEST\n/);
    assert.match(log, /event \{"tail":true\}\n/);
    assert.match(log, /END RequestId: /);
    assert.match(log, /REPORT RequestId: \S+\tDuration: [\d.]+ ms/);
    assert.doesNotMatch(log, /"a":1/, 'lines of earlier calls are not in the tail');
  });

  await t.test('a handler error is a FunctionError with the error JSON, not an exception', async () => {
    const out = await lambda.send(
      new InvokeCommand({ FunctionName: 'hello', Payload: Buffer.from('{"fail":true}') }),
    );
    assert.equal(out.StatusCode, 200);
    assert.equal(out.FunctionError, 'Unhandled');
    const error = decode(out.Payload);
    assert.equal(error.errorType, 'TypeError');
    assert.equal(error.errorMessage, 'bad thing happened');
    assert.ok(Array.isArray(error.trace));
  });

  await t.test('InvokeWithResponseStream answers in event-stream framing', async () => {
    const read = async (payload: string) => {
      const out = await lambda.send(
        new InvokeWithResponseStreamCommand({ FunctionName: 'hello', Payload: Buffer.from(payload) }),
      );
      assert.equal(out.StatusCode, 200);
      let text = '';
      let complete: Record<string, unknown> | undefined;
      for await (const event of out.EventStream!) {
        if (event.PayloadChunk?.Payload) text += Buffer.from(event.PayloadChunk.Payload).toString('utf8');
        if (event.InvokeComplete) complete = event.InvokeComplete as Record<string, unknown>;
      }
      return { text, complete };
    };
    const ok = await read('{"streamed":1}');
    assert.deepEqual(JSON.parse(ok.text).got, { streamed: 1 });
    assert.deepEqual(ok.complete, {});
    const failed = await read('{"fail":true}');
    assert.equal(failed.text, '');
    assert.equal(failed.complete?.ErrorCode, 'TypeError');
    assert.equal(failed.complete?.ErrorDetails, 'bad thing happened');
  });

  await t.test('InvokeWithResponseStream of a streamifyResponse handler', async () => {
    const streamer = `
exports.handler = awslambda.streamifyResponse(async (event, responseStream) => {
  responseStream.setContentType('text/plain');
  responseStream.write('part one, ');
  await new Promise((resolve) => setTimeout(resolve, 200));
  if (event.fail) throw new RangeError('mid-stream failure');
  responseStream.write('part two');
  responseStream.end();
});
`;
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'streamer',
        Runtime: 'nodejs20.x',
        Role: 'r',
        Handler: 'index.handler',
        Code: { ZipFile: zip({ 'index.js': streamer }) },
      }),
    );
    const read = async (payload: string) => {
      const out = await lambda.send(
        new InvokeWithResponseStreamCommand({ FunctionName: 'streamer', Payload: Buffer.from(payload) }),
      );
      const parts: string[] = [];
      let complete: Record<string, unknown> | undefined;
      for await (const event of out.EventStream!) {
        if (event.PayloadChunk?.Payload) parts.push(Buffer.from(event.PayloadChunk.Payload).toString('utf8'));
        if (event.InvokeComplete) complete = event.InvokeComplete as Record<string, unknown>;
      }
      return { parts, complete };
    };
    // Each write is its own PayloadChunk, sent as it is written.
    assert.deepEqual(await read('{}'), { parts: ['part one, ', 'part two'], complete: {} });
    const failed = await read('{"fail":true}');
    assert.deepEqual(failed.parts, ['part one, ']);
    assert.equal(failed.complete?.ErrorCode, 'RangeError', JSON.stringify(failed));
    assert.equal(failed.complete?.ErrorDetails, 'mid-stream failure');
  });

  await t.test('a payload that is not JSON is InvalidRequestContentException', async () => {
    await assert.rejects(
      lambda.send(new InvokeCommand({ FunctionName: 'hello', Payload: Buffer.from('not json') })),
      (err: Error & { $metadata?: { httpStatusCode?: number } }) =>
        err.name === 'InvalidRequestContentException' && err.$metadata?.httpStatusCode === 400,
    );
  });

  await t.test('Event answers 202 and runs the raw event through the async queue', async () => {
    const out = await lambda.send(
      new InvokeCommand({
        FunctionName: 'hello',
        InvocationType: 'Event',
        Payload: Buffer.from('{"queued":42}'),
      }),
    );
    assert.equal(out.StatusCode, 202);
    await waitFor(
      () => platform.logs.query('hello').some((l) => l.text === 'event {"queued":42}'),
      10_000,
      'the queued event to run',
    );
  });

  await t.test('DryRun answers 204', async () => {
    const out = await lambda.send(new InvokeCommand({ FunctionName: 'hello', InvocationType: 'DryRun' }));
    assert.equal(out.StatusCode, 204);
  });

  await t.test('UpdateFunctionCode and UpdateFunctionConfiguration change what runs', async () => {
    const code = await lambda.send(
      new UpdateFunctionCodeCommand({ FunctionName: 'hello', ZipFile: zip({ 'index.js': nodeHandler(2) }) }),
    );
    assert.equal(code.LastUpdateStatus, 'Successful');
    let out = await lambda.send(new InvokeCommand({ FunctionName: 'hello', Payload: Buffer.from('{}') }));
    assert.equal(decode(out.Payload).version, 2);
    const config = await lambda.send(
      new UpdateFunctionConfigurationCommand({
        FunctionName: 'hello',
        Timeout: 5,
        Environment: { Variables: { FOO: 'baz' } },
      }),
    );
    assert.equal(config.Timeout, 5);
    assert.equal(config.MemorySize, 256, 'what the update does not name stays');
    out = await lambda.send(new InvokeCommand({ FunctionName: 'hello', Payload: Buffer.from('{}') }));
    assert.equal(decode(out.Payload).env, 'baz');
    assert.equal(decode(out.Payload).version, 2);
  });

  await t.test('a Python function (Runtime python3.x) gets the raw event too', async () => {
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'py',
        Runtime: 'python3.12',
        Role: 'r',
        Handler: 'app.main',
        Code: {
          ZipFile: zip({
            'app.py': [
              'def main(event, context):',
              '    if event.get("fail"):',
              '        raise ValueError("python says no")',
              '    return {"py": event, "request": context.aws_request_id}',
              '',
            ].join('\n'),
          }),
        },
      }),
    );
    const out = await lambda.send(
      new InvokeCommand({ FunctionName: 'py', Payload: Buffer.from('{"x":[1,2]}') }),
    );
    assert.deepEqual(decode(out.Payload).py, { x: [1, 2] });
    const failed = await lambda.send(
      new InvokeCommand({ FunctionName: 'py', Payload: Buffer.from('{"fail":true}') }),
    );
    assert.equal(failed.FunctionError, 'Unhandled');
    assert.equal(decode(failed.Payload).errorType, 'ValueError');
  });

  await t.test('a custom runtime (provided.al2023) answers through the Runtime API', async () => {
    const bootstrap = `#!/usr/bin/env node
const api = 'http://' + process.env.AWS_LAMBDA_RUNTIME_API + '/2018-06-01/runtime';
for (;;) {
  const next = await fetch(api + '/invocation/next');
  const id = next.headers.get('lambda-runtime-aws-request-id');
  const event = await next.json();
  if (event.fail) {
    await fetch(api + '/invocation/' + id + '/error', { method: 'POST', body: JSON.stringify({ errorType: 'Custom', errorMessage: 'custom failure', trace: [] }) });
  } else {
    await fetch(api + '/invocation/' + id + '/response', { method: 'POST', body: JSON.stringify({ custom: event }) });
  }
}
`;
    await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'custom',
        Runtime: 'provided.al2023',
        Role: 'r',
        Handler: 'unused',
        Code: {
          ZipFile: zip({
            bootstrap: [bootstrap, 0o755],
            'package.json': '{"type":"module"}',
          }),
        },
      }),
    );
    const out = await lambda.send(
      new InvokeCommand({ FunctionName: 'custom', Payload: Buffer.from('{"k":"v"}') }),
    );
    assert.deepEqual(decode(out.Payload), { custom: { k: 'v' } });
    const failed = await lambda.send(
      new InvokeCommand({ FunctionName: 'custom', Payload: Buffer.from('{"fail":true}') }),
    );
    assert.equal(failed.FunctionError, 'Unhandled');
    assert.equal(decode(failed.Payload).errorMessage, 'custom failure');
  });

  await t.test('a missing function is ResourceNotFoundException', async () => {
    for (const command of [
      new GetFunctionCommand({ FunctionName: 'nope' }),
      new InvokeCommand({ FunctionName: 'nope', Payload: Buffer.from('{}') }),
    ]) {
      await assert.rejects(
        lambda.send(command as InvokeCommand),
        (err: Error & { $metadata?: { httpStatusCode?: number } }) =>
          err.name === 'ResourceNotFoundException' && err.$metadata?.httpStatusCode === 404,
      );
    }
  });

  await t.test('a zip with a path outside the package is refused', async () => {
    await assert.rejects(
      lambda.send(
        new CreateFunctionCommand({
          FunctionName: 'slip',
          Runtime: 'nodejs20.x',
          Role: 'r',
          Handler: 'index.handler',
          Code: { ZipFile: zip({ '../evil.js': 'x', 'index.js': nodeHandler(1) }) },
        }),
      ),
      (err: Error) => err.name === 'InvalidParameterValueException' && /zip/.test(err.message),
    );
    await assert.rejects(
      lambda.send(
        new CreateFunctionCommand({
          FunctionName: 'java',
          Runtime: 'java21',
          Role: 'r',
          Handler: 'x',
          Code: { ZipFile: zip({ 'index.js': '' }) },
        }),
      ),
      (err: Error) => err.name === 'InvalidParameterValueException' && /java21/.test(err.message),
    );
  });

  await t.test('wrong, unknown and missing signatures are refused in the AWS shape', async () => {
    const wrong = client({ ...key, secretAccessKey: `${key.secretAccessKey.slice(0, -1)}x` });
    const unknown = client({ accessKeyId: 'NMBSAAAAAAAAAAAAAAAA', secretAccessKey: key.secretAccessKey });
    t.after(() => {
      wrong.destroy();
      unknown.destroy();
    });
    await assert.rejects(
      wrong.send(new ListFunctionsCommand({})),
      (err: Error & { $metadata?: { httpStatusCode?: number } }) =>
        err.name === 'InvalidSignatureException' && err.$metadata?.httpStatusCode === 403,
    );
    await assert.rejects(
      unknown.send(new InvokeCommand({ FunctionName: 'hello', Payload: Buffer.from('{}') })),
      (err: Error) => err.name === 'UnrecognizedClientException',
    );
    const res = await fetch(`${url}/2015-03-31/functions/hello/invocations`, { method: 'POST', body: '{}' });
    assert.equal(res.status, 403);
    assert.equal(res.headers.get('x-amzn-errortype'), 'MissingAuthenticationTokenException');
    assert.equal(((await res.json()) as { Type: string }).Type, 'User');
    // The admin token is no substitute for a signature.
    const bearer = await fetch(`${url}/2015-03-31/functions/`, {
      headers: { authorization: `Bearer ${platform.token}` },
    });
    assert.equal(bearer.status, 403);
  });

  await t.test('DeleteFunction removes it', async () => {
    const out = await lambda.send(new DeleteFunctionCommand({ FunctionName: 'hello' }));
    assert.equal(out.$metadata.httpStatusCode, 204);
    await assert.rejects(
      lambda.send(new GetFunctionCommand({ FunctionName: 'hello' })),
      (err: Error) => err.name === 'ResourceNotFoundException',
    );
  });
});
