// Tracing against a real gateway and a small OTLP/HTTP receiver: W3C traceparent continued or started,
// passed to functions (header, Lambda's X-Ray forms), spans for the gateway, queue wait, cold start and the
// function; malformed contexts start a new trace and never fail a call; unconfigured, nothing is exported.
import assert from 'node:assert/strict';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { NimbusClient } from '../../src/cli/client.js';
import { deployTo, startNimbusProcess } from '../helpers/nimbus-process.js';
import {
  type OtlpReceiver,
  type ReceivedSpan,
  SPAN_KIND,
  startOtlpReceiver,
} from '../helpers/otlp-receiver.js';
import { startTestPlatform, type TestPlatform, waitFor } from '../helpers/platform.js';
import { rawRequest } from '../helpers/raw-http.js';

const TRACEPARENT_RE = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A random trace or span id of `bytes` bytes, as a caller would make it. */
function hexId(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString('hex');
}

interface Seen {
  headers: Record<string, string>;
}

/** The trace context a function saw: its traceparent's parts, and its tracestate. */
function seenContext(seen: Seen): { traceId: string; parentId: string; flags: string; tracestate?: string } {
  const m = TRACEPARENT_RE.exec(seen.headers.traceparent ?? '');
  assert.ok(m, `the function got a version-00 traceparent: ${seen.headers.traceparent}`);
  const context = { traceId: m[1]!, parentId: m[2]!, flags: m[3]! };
  const tracestate = seen.headers.tracestate;
  return tracestate === undefined ? context : { ...context, tracestate };
}

async function call(
  url: string,
  headers: Record<string, string> = {},
): Promise<{ res: Response; seen: Seen }> {
  const res = await fetch(url, { headers });
  assert.equal(res.status, 200, `the call succeeds whatever its trace headers: ${JSON.stringify(headers)}`);
  return { res, seen: (await res.json()) as Seen };
}

function only(spans: ReceivedSpan[], match: (s: ReceivedSpan) => boolean, what: string): ReceivedSpan {
  const found = spans.filter(match);
  assert.equal(found.length, 1, `one ${what} span: ${JSON.stringify(spans.map((s) => s.name))}`);
  return found[0]!;
}

async function tracedPlatform(t: Parameters<typeof startTestPlatform>[0]): Promise<{
  nimbus: TestPlatform;
  receiver: OtlpReceiver;
}> {
  const receiver = await startOtlpReceiver(t);
  const nimbus = await startTestPlatform(t, {
    tracing: { otlpEndpoint: receiver.url, exportDelayMs: 50 },
    autoscaler: { tickMs: 100 },
  });
  return { nimbus, receiver };
}

async function waitForZero(client: NimbusClient, name: string): Promise<void> {
  await waitFor(async () => (await client.get(name)).instances === 0, 10_000, `${name} at zero instances`);
}

test('a traced call continues the caller trace: gateway, cold start and function spans, the function a child', async (t) => {
  const { nimbus, receiver } = await tracedPlatform(t);
  await nimbus.deploy('echo', 'echo', { scale: { min: 0, idleTimeoutMs: 100 } });
  await waitForZero(nimbus.client, 'echo');

  const traceId = hexId(16);
  const callerSpan = hexId(8);
  const { res, seen } = await call(`${nimbus.url}/function/echo/a/b?secret=1`, {
    traceparent: `00-${traceId}-${callerSpan}-01`,
    tracestate: 'vendor=abc, other=x:y',
  });
  assert.equal(res.headers.get('x-nimbus-cold-start'), '1', 'the call started an instance');
  const context = seenContext(seen);
  assert.equal(context.traceId, traceId, 'the caller trace is kept');
  assert.equal(context.flags, '01');
  assert.equal(context.tracestate, 'vendor=abc,other=x:y', 'tracestate passed on (members trimmed)');

  const spans = await receiver.waitForSpans((s) => s.traceId === traceId, 3, 'the first call spans');
  const server = only(spans, (s) => s.kind === SPAN_KIND.server, 'server');
  assert.equal(server.name, 'GET /function/echo');
  assert.equal(server.parentSpanId, callerSpan, 'a child of the caller span');
  assert.equal(context.parentId, server.spanId, "the function's parent is the gateway span, exported");
  assert.equal(server.traceState, 'vendor=abc,other=x:y');
  assert.equal(server.attributes['http.request.method'], 'GET');
  assert.equal(server.attributes['url.path'], '/function/echo/a/b', 'no query in the span');
  assert.equal(server.attributes['http.response.status_code'], 200);
  assert.equal(server.attributes['faas.invoked_name'], 'echo');
  assert.equal(server.attributes['faas.coldstart'], true);
  assert.equal(server.attributes['nimbus.call_id'], res.headers.get('x-call-id'));
  assert.equal(server.resource['service.name'], 'nimbus');
  assert.notEqual(server.statusCode, 2);

  const cold = only(spans, (s) => s.name === 'cold start', 'cold start');
  const fn = only(spans, (s) => s.name === 'function echo', 'function');
  assert.equal(cold.parentSpanId, server.spanId);
  assert.equal(fn.parentSpanId, server.spanId);
  assert.ok(Number(cold.attributes['nimbus.instance.init_ms']) > 0, 'the start time of the instance');
  assert.equal(typeof fn.attributes['nimbus.instance.id'], 'string');
  // Within the gateway span: first the wait for the instance, then the function.
  assert.ok(cold.startMs >= server.startMs && cold.endMs <= fn.startMs + 0.001, 'the cold start comes first');
  assert.ok(fn.endMs <= server.endMs + 0.001, 'the function ends within the gateway span');

  // A warm call: no cold start, and without a caller context a trace of its own (a root span).
  // (idleTimeoutMs is 100 ms: on a loaded machine the instance may be gone again; call until one is warm.)
  const warm = await waitFor(
    async () => {
      const c = await call(`${nimbus.url}/function/echo`);
      return c.res.headers.get('x-nimbus-cold-start') === null ? c : false;
    },
    20_000,
    'a warm call',
  );
  const warmContext = seenContext(warm.seen);
  assert.notEqual(warmContext.traceId, traceId);
  assert.equal(warmContext.flags, '01', 'a new trace is sampled when tracing is on');
  const warmSpans = await receiver.waitForSpans((s) => s.traceId === warmContext.traceId, 2, 'the warm call');
  const warmServer = only(warmSpans, (s) => s.kind === SPAN_KIND.server, 'server');
  assert.equal(warmServer.parentSpanId, '', 'a root span');
  assert.equal(warmServer.spanId, warmContext.parentId);
  assert.equal(warmServer.attributes['faas.coldstart'], false);
  assert.deepEqual(warmSpans.map((s) => s.name).sort(), ['GET /function/echo', 'function echo']);
});

test('a traced call that fails or is refused has an error span', async (t) => {
  const { nimbus, receiver } = await tracedPlatform(t);
  await nimbus.deploy('throws');
  const traceId = hexId(16);
  const res = await fetch(`${nimbus.url}/function/throws`, {
    headers: { traceparent: `00-${traceId}-${hexId(8)}-01` },
  });
  assert.equal(res.status, 500);
  const spans = await receiver.waitForSpans((s) => s.traceId === traceId, 2, 'the failed call');
  const server = only(spans, (s) => s.kind === SPAN_KIND.server, 'server');
  const fn = only(spans, (s) => s.name === 'function throws', 'function');
  assert.equal(server.statusCode, 2, 'error');
  assert.equal(server.attributes['http.response.status_code'], 500);
  assert.equal(typeof server.attributes['error.type'], 'string');
  assert.equal(fn.statusCode, 2);

  // Refused before it reached an instance (body over the limit): the gateway span says so.
  const big = `00-${hexId(16)}-${hexId(8)}-01`;
  const raw = await rawRequest(
    nimbus.url,
    `POST /function/throws HTTP/1.1\r\nHost: x\r\ntraceparent: ${big}\r\nContent-Length: ${100 * 1024 * 1024}\r\nConnection: close\r\n\r\n`,
  );
  assert.equal(raw.status, 413);
  const [tooLarge] = await receiver.waitForSpans(
    (s) => s.traceId === big.slice(3, 35) && s.kind === SPAN_KIND.server,
    1,
    'the refused call',
  );
  assert.equal(tooLarge!.attributes['error.type'], 'ERR_REQUEST_BODY_TOO_LARGE');
  assert.equal(tooLarge!.attributes['http.response.status_code'], 413);
});

test('an async call runs in the trace it was queued in, with a queue-wait span', async (t) => {
  const { nimbus, receiver } = await tracedPlatform(t);
  await nimbus.deploy('echo');
  const traceId = hexId(16);
  const callerSpan = hexId(8);
  const res = await fetch(`${nimbus.url}/async-function/echo`, {
    method: 'POST',
    headers: { traceparent: `00-${traceId}-${callerSpan}-01`, tracestate: 'k=v' },
    body: 'hello',
  });
  assert.equal(res.status, 202);
  const callId = res.headers.get('x-call-id')!;
  const spans = await receiver.waitForSpans((s) => s.traceId === traceId, 4, 'the async call spans');
  const enqueue = only(spans, (s) => s.kind === SPAN_KIND.server, 'server');
  const wait = only(spans, (s) => s.name === 'queue wait', 'queue wait');
  const attempt = only(spans, (s) => s.kind === SPAN_KIND.consumer, 'consumer');
  const fn = only(spans, (s) => s.name === 'function echo', 'function');
  assert.equal(enqueue.name, 'POST /async-function/echo');
  assert.equal(enqueue.parentSpanId, callerSpan);
  assert.equal(enqueue.attributes['http.response.status_code'], 202);
  assert.equal(enqueue.attributes['nimbus.call_id'], callId);
  assert.equal(wait.parentSpanId, enqueue.spanId, 'the wait hangs off the request that queued the call');
  assert.equal(attempt.name, 'async echo');
  assert.equal(attempt.parentSpanId, enqueue.spanId);
  assert.equal(attempt.attributes['nimbus.call_id'], callId);
  assert.equal(attempt.attributes['nimbus.attempt'], 1);
  assert.equal(fn.parentSpanId, attempt.spanId);
  assert.ok(wait.endMs <= attempt.startMs + 0.001, 'the wait ends when the attempt starts');

  const record = await waitFor(
    async () => {
      const r = await nimbus.client.call<{ status: string; response?: { body?: string } }>(
        'GET',
        `/system/calls/${callId}`,
      );
      return r.status === 'succeeded' ? r : undefined;
    },
    10_000,
    'the call to succeed',
  );
  const seen = seenContext(JSON.parse(record.response!.body!) as Seen);
  assert.equal(seen.traceId, traceId);
  assert.equal(seen.parentId, attempt.spanId, "the function's parent is the attempt span");
  assert.equal(seen.tracestate, 'k=v');
});

test('a scheduled call starts a trace of its own that its runs continue', async (t) => {
  const { nimbus, receiver } = await tracedPlatform(t);
  await nimbus.deploy('echo', 'ticker', { schedule: '* * * * * *' });
  const [cron] = await receiver.waitForSpans((s) => s.name === 'cron ticker', 1, 'a cron span');
  assert.equal(cron!.kind, SPAN_KIND.producer);
  assert.equal(cron!.parentSpanId, '');
  assert.equal(cron!.attributes['faas.trigger'], 'timer');
  const spans = await receiver.waitForSpans(
    (s) => s.traceId === cron!.traceId && s.name !== 'cron ticker',
    3,
    'the scheduled run',
  );
  assert.equal(only(spans, (s) => s.name === 'queue wait', 'queue wait').parentSpanId, cron!.spanId);
  assert.equal(only(spans, (s) => s.name === 'async ticker', 'consumer').parentSpanId, cron!.spanId);
  await nimbus.client.remove('ticker');
});

test('malformed trace context starts a new trace and never fails the call', async (t) => {
  const { nimbus, receiver } = await tracedPlatform(t);
  await nimbus.deploy('echo');
  const traceId = hexId(16);
  const spanId = hexId(8);
  const malformed = [
    '',
    'garbage',
    `00-${traceId}-${spanId}`,
    `00-${traceId}-${spanId}-0`,
    `00-${traceId}-${spanId}-01-extra`,
    `00-${traceId.toUpperCase()}-${spanId}-01`,
    `00-${traceId}-${spanId.toUpperCase()}-01`,
    `ff-${traceId}-${spanId}-01`,
    `0g-${traceId}-${spanId}-01`,
    `00-${'0'.repeat(32)}-${spanId}-01`,
    `00-${traceId}-${'0'.repeat(16)}-01`,
    `00_${traceId}_${spanId}_01`,
    `00-${traceId.slice(1)}x-${spanId}-01`,
    `00-${traceId}-${spanId}-zz`,
    `01-${traceId}-${spanId}-01x`,
    ` 00-${traceId}-${spanId}-01 x`,
    `00-${traceId}-${spanId}-01`.repeat(100),
  ];
  for (const traceparent of malformed) {
    const { seen } = await call(`${nimbus.url}/function/echo`, { traceparent, tracestate: 'a=b' });
    const context = seenContext(seen);
    assert.notEqual(context.traceId, traceId, `a new trace for ${JSON.stringify(traceparent)}`);
    assert.equal(context.tracestate, undefined, 'no tracestate without a valid traceparent');
    const [server] = await receiver.waitForSpans(
      (s) => s.traceId === context.traceId && s.kind === SPAN_KIND.server,
      1,
      `the span of the call with ${JSON.stringify(traceparent)}`,
    );
    assert.equal(server!.parentSpanId, '', 'a root span');
  }

  // The header twice is invalid as a whole; so is a value that is not text.
  const twice = await rawRequest(
    nimbus.url,
    `GET /function/echo HTTP/1.1\r\nHost: x\r\ntraceparent: 00-${traceId}-${spanId}-01\r\ntraceparent: 00-${traceId}-${spanId}-01\r\nConnection: close\r\n\r\n`,
  );
  assert.equal(twice.status, 200);
  assert.notEqual(seenContext(JSON.parse(twice.body.toString()) as Seen).traceId, traceId);
  const binary = await rawRequest(
    nimbus.url,
    Buffer.concat([
      Buffer.from('GET /function/echo HTTP/1.1\r\nHost: x\r\ntraceparent: 00-'),
      Buffer.from([0xff, 0xfe, 0x80]),
      Buffer.from(`\r\ntracestate: ${'k=v,'.repeat(40)}\r\nConnection: close\r\n\r\n`),
    ]),
  );
  assert.equal(binary.status, 200);
  assert.match((JSON.parse(binary.body.toString()) as Seen).headers.traceparent!, TRACEPARENT_RE);

  // Bad tracestate with a good traceparent: the trace continues, the state is dropped whole.
  const tooMany = Array.from({ length: 33 }, (_, i) => `k${i}=v`).join(',');
  for (const tracestate of ['k=v,k=w', 'UPPER=1', 'k=v=w', tooMany, 'k=', '=v', 'k=v ,,, 9k=1']) {
    const { seen } = await call(`${nimbus.url}/function/echo`, {
      traceparent: `00-${traceId}-${spanId}-01`,
      tracestate,
    });
    const context = seenContext(seen);
    assert.equal(context.traceId, traceId, 'the trace continues');
    assert.equal(context.tracestate, undefined, `tracestate ${JSON.stringify(tracestate)} dropped`);
  }

  // A later version is read as version 00 reads it, and passed on as 00.
  const later = await call(`${nimbus.url}/function/echo`, {
    traceparent: `cc-${traceId}-${spanId}-01-what-the-future-holds`,
  });
  assert.equal(seenContext(later.seen).traceId, traceId);

  // The caller did not sample: the trace goes on, nothing of it is recorded.
  const unsampled = hexId(16);
  const quiet = await call(`${nimbus.url}/function/echo`, { traceparent: `00-${unsampled}-${spanId}-00` });
  const quietContext = seenContext(quiet.seen);
  assert.equal(quietContext.traceId, unsampled);
  assert.equal(quietContext.flags, '00');
  assert.notEqual(quietContext.parentId, spanId, 'still a span of the gateway as parent');
  await nimbus.platform.tracing!.flush();
  assert.deepEqual(receiver.trace(unsampled), [], 'an unsampled trace exports nothing');
});

test('sampleRatio 0 records no new trace, yet follows a sampled caller and still passes a traceparent', async (t) => {
  const receiver = await startOtlpReceiver(t);
  const nimbus = await startTestPlatform(t, {
    tracing: { otlpEndpoint: receiver.url, exportDelayMs: 50, sampleRatio: 0 },
  });
  await nimbus.deploy('echo');
  const fresh = seenContext((await call(`${nimbus.url}/function/echo`)).seen);
  assert.equal(fresh.flags, '00', 'a new trace, not recorded');
  const traceId = hexId(16);
  const followed = seenContext(
    (await call(`${nimbus.url}/function/echo`, { traceparent: `00-${traceId}-${hexId(8)}-01` })).seen,
  );
  assert.equal(followed.flags, '01');
  const spans = await receiver.waitForSpans((s) => s.traceId === traceId, 2, "the sampled caller's call");
  assert.equal(only(spans, (s) => s.kind === SPAN_KIND.server, 'server').spanId, followed.parentId);
  await nimbus.platform.tracing!.flush();
  assert.deepEqual(receiver.trace(fresh.traceId), [], 'the unsampled new trace exported nothing');
});

test('without tracing configured nothing is exported and functions still get a traceparent', async (t) => {
  const receiver = await startOtlpReceiver(t);
  const nimbus = await startTestPlatform(t);
  assert.equal(nimbus.platform.tracing, undefined);
  await nimbus.deploy('echo');
  const traceId = hexId(16);
  const given = `00-${traceId}-${hexId(8)}-01`;
  const passed = await call(`${nimbus.url}/function/echo`, { traceparent: given, tracestate: 'k=v' });
  assert.equal(passed.seen.headers.traceparent, given, "the caller's own, unchanged");
  assert.equal(passed.seen.headers.tracestate, 'k=v');

  const a = seenContext((await call(`${nimbus.url}/function/echo`)).seen);
  const b = seenContext((await call(`${nimbus.url}/function/echo`, { traceparent: 'junk' })).seen);
  assert.notEqual(a.traceId, b.traceId, 'a new trace each');
  assert.equal(a.flags, '00', 'not sampled: nothing was recorded');
  assert.equal(b.flags, '00');

  // Async: the call keeps the context it was queued with.
  const res = await fetch(`${nimbus.url}/async-function/echo`, {
    method: 'POST',
    headers: { traceparent: given },
  });
  assert.equal(res.status, 202);
  const callId = res.headers.get('x-call-id')!;
  const record = await waitFor(
    async () => {
      const r = await nimbus.client.call<{ status: string; response?: { body?: string } }>(
        'GET',
        `/system/calls/${callId}`,
      );
      return r.status === 'succeeded' ? r : undefined;
    },
    10_000,
    'the call to succeed',
  );
  assert.equal((JSON.parse(record.response!.body!) as Seen).headers.traceparent, given);
  assert.equal(receiver.requests(), 0, 'no endpoint, nothing sent');
});

test('Lambda-style handlers get the trace where Lambda puts it', async (t) => {
  const { nimbus, receiver } = await tracedPlatform(t);
  await nimbus.deploy('trace-lambda');
  await nimbus.deploy('python-lambda');
  await nimbus.deploy('lambda-custom');
  const traceId = hexId(16);
  const xray = (spanId: string) =>
    `Root=1-${traceId.slice(0, 8)}-${traceId.slice(8)};Parent=${spanId};Sampled=1`;
  const traceparent = `00-${traceId}-${hexId(8)}-01`;
  type Answer = {
    traceparent: string | null;
    xRayTraceId?: string | null;
    env?: string | null;
    traceId?: string;
  };

  const node = (await (
    await fetch(`${nimbus.url}/function/trace-lambda`, { headers: { traceparent } })
  ).json()) as Answer;
  const nodeParent = TRACEPARENT_RE.exec(node.traceparent!)![2]!;
  assert.equal(node.xRayTraceId, xray(nodeParent), 'context.xRayTraceId');
  assert.equal(node.env, xray(nodeParent), '_X_AMZN_TRACE_ID');

  const python = (await (
    await fetch(`${nimbus.url}/function/python-lambda/trace`, { headers: { traceparent } })
  ).json()) as Answer;
  assert.equal(python.env, xray(TRACEPARENT_RE.exec(python.traceparent!)![2]!), 'Python: _X_AMZN_TRACE_ID');

  const custom = (await (
    await fetch(`${nimbus.url}/function/lambda-custom/trace`, { headers: { traceparent } })
  ).json()) as Answer;
  assert.equal(
    custom.traceId,
    xray(TRACEPARENT_RE.exec(custom.traceparent!)![2]!),
    'a custom runtime: Lambda-Runtime-Trace-Id',
  );

  // The Lambda Invoke API (a raw event, no headers in it) through the AWS SDK, with the trace context an
  // OpenTelemetry-instrumented SDK adds: the context still carries the trace.
  const key = await nimbus.client.call<{ id: string; secret: string }>('POST', '/api/v1/keys', {
    scope: 'invoke',
  });
  const lambda = new LambdaClient({
    endpoint: nimbus.url,
    region: 'eu-west-1',
    maxAttempts: 1,
    credentials: { accessKeyId: key.id, secretAccessKey: key.secret },
  });
  t.after(() => lambda.destroy());
  lambda.middlewareStack.add(
    (next) => (args) => {
      (args.request as { headers: Record<string, string> }).headers.traceparent = traceparent;
      return next(args);
    },
    { step: 'build' },
  );
  const invoked = await lambda.send(
    new InvokeCommand({ FunctionName: 'trace-lambda', Payload: Buffer.from('{}') }),
  );
  assert.equal(invoked.StatusCode, 200);
  const raw = JSON.parse(Buffer.from(invoked.Payload!).toString('utf8')) as Answer;
  assert.equal(raw.traceparent, null, 'a raw event has no headers');
  const spans = await receiver.waitForSpans(
    (s) => s.traceId === traceId && s.name === 'Invoke trace-lambda',
    1,
    'the Invoke span',
  );
  assert.equal(raw.xRayTraceId, xray(spans[0]!.spanId), 'the Invoke span is the parent');
  assert.equal(raw.env, raw.xRayTraceId);

  // From inside a Lambda function the AWS SDK sends the trace in X-Ray's form itself (its recursion
  // detection copies _X_AMZN_TRACE_ID into X-Amzn-Trace-Id): a plain client, with the variables Lambda sets.
  const callerTrace = hexId(16);
  const callerSpan = hexId(8);
  const saved = { name: process.env.AWS_LAMBDA_FUNCTION_NAME, trace: process.env._X_AMZN_TRACE_ID };
  process.env.AWS_LAMBDA_FUNCTION_NAME = 'caller';
  process.env._X_AMZN_TRACE_ID = `Root=1-${callerTrace.slice(0, 8)}-${callerTrace.slice(8)};Parent=${callerSpan};Sampled=1`;
  const plain = new LambdaClient({
    endpoint: nimbus.url,
    region: 'eu-west-1',
    maxAttempts: 1,
    credentials: { accessKeyId: key.id, secretAccessKey: key.secret },
  });
  t.after(() => plain.destroy());
  let fromSdk: Answer;
  try {
    const answer = await plain.send(
      new InvokeCommand({ FunctionName: 'trace-lambda', Payload: Buffer.from('{}') }),
    );
    fromSdk = JSON.parse(Buffer.from(answer.Payload!).toString('utf8')) as Answer;
  } finally {
    for (const [name, value] of [
      ['AWS_LAMBDA_FUNCTION_NAME', saved.name],
      ['_X_AMZN_TRACE_ID', saved.trace],
    ] as const)
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
  }
  const [invokeSpan] = await receiver.waitForSpans(
    (s) => s.traceId === callerTrace && s.name === 'Invoke trace-lambda',
    1,
    "the Invoke span in the caller's X-Ray trace",
  );
  assert.equal(invokeSpan!.parentSpanId, callerSpan, "the caller's span is the parent");
  assert.equal(
    fromSdk.xRayTraceId,
    `Root=1-${callerTrace.slice(0, 8)}-${callerTrace.slice(8)};Parent=${invokeSpan!.spanId};Sampled=1`,
  );

  // OpenWhisk's API (an action is a function): a blocking and a non-blocking invoke continue the caller's trace.
  const owTrace = hexId(16);
  const basic = `Basic ${Buffer.from(`${key.id}:${key.secret}`).toString('base64')}`;
  const blocking = await fetch(
    `${nimbus.url}/api/v1/namespaces/_/actions/trace-lambda?blocking=true&result=true`,
    {
      method: 'POST',
      headers: {
        authorization: basic,
        'content-type': 'application/json',
        traceparent: `00-${owTrace}-${hexId(8)}-01`,
      },
      body: '{}',
    },
  );
  assert.equal(blocking.status, 200);
  const owAnswer = (await blocking.json()) as Answer;
  assert.match(owAnswer.xRayTraceId ?? '', new RegExp(`^Root=1-${owTrace.slice(0, 8)}-${owTrace.slice(8)};`));
  const owAsyncTrace = hexId(16);
  const queued = await fetch(`${nimbus.url}/api/v1/namespaces/_/actions/trace-lambda`, {
    method: 'POST',
    headers: {
      authorization: basic,
      'content-type': 'application/json',
      traceparent: `00-${owAsyncTrace}-${hexId(8)}-01`,
    },
    body: '{}',
  });
  assert.equal(queued.status, 202);
  await receiver.waitForSpans(
    (s) => s.traceId === owAsyncTrace,
    1,
    "a span of the queued activation in the caller's trace",
  );
});

test('OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_SERVICE_NAME configure a nimbus process', async (t) => {
  const receiver = await startOtlpReceiver(t);
  const nimbus = await startNimbusProcess(t, [], {
    OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.url}/`,
    OTEL_SERVICE_NAME: 'edge-gateway',
  });
  await deployTo(nimbus.client, 'echo', 'echo');
  const traceId = hexId(16);
  const res = await fetch(`${nimbus.url}/function/echo`, {
    headers: { traceparent: `00-${traceId}-${hexId(8)}-01` },
  });
  assert.equal(res.status, 200);
  // The default export delay (5 s) applies: the wait is generous.
  const [server] = await receiver.waitForSpans(
    (s) => s.traceId === traceId && s.kind === SPAN_KIND.server,
    1,
    'the span from the nimbus process',
  );
  assert.equal(server!.resource['service.name'], 'edge-gateway');
  assert.match(nimbus.output(), new RegExp(`tracing: spans to ${receiver.url}/v1/traces`), 'said at start');
});

test('a collector that refuses or hangs holds neither calls nor shutdown, and is reported', async (t) => {
  // A port nothing listens on: every export fails at once.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const refusedPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const down = await startTestPlatform(t, {
    tracing: { otlpEndpoint: `http://127.0.0.1:${refusedPort}`, exportDelayMs: 50 },
  });
  await down.deploy('echo');
  await call(`${down.url}/function/echo`);
  const [failed] = await waitFor(
    () => {
      const reported = down.events.filter((e) => e.type === 'tracing-export-failed');
      return reported.length > 0 ? reported : undefined;
    },
    20_000,
    'the failed export to be reported',
  );
  assert.equal(failed!.endpoint, `http://127.0.0.1:${refusedPort}/v1/traces`);
  for (let i = 0; i < 5; i++) await call(`${down.url}/function/echo`);
  assert.equal(
    down.events.filter((e) => e.type === 'tracing-export-failed').length,
    1,
    'reported once a minute at most',
  );

  // A collector that takes the request and never answers.
  const held: ServerResponse[] = [];
  const hanging = createServer((_req, res) => held.push(res));
  await new Promise<void>((resolve) => hanging.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    hanging.closeAllConnections();
    hanging.close();
  });
  const stuck = await startTestPlatform(t, {
    tracing: {
      otlpEndpoint: `http://127.0.0.1:${(hanging.address() as AddressInfo).port}`,
      exportDelayMs: 50,
    },
  });
  await stuck.deploy('echo');
  await call(`${stuck.url}/function/echo`);
  await waitFor(() => held.length > 0, 20_000, 'an export to reach the hanging collector');
  const started = performance.now();
  await call(`${stuck.url}/function/echo`);
  await stuck.platform.close();
  assert.ok(performance.now() - started < 15_000, 'shutdown waits for the collector a bounded time');
});
