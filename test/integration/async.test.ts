// Async invocations end to end on a real gateway: 202 after the durable write, call records, retries with
// back-off, dead letters and redrive, callbacks (and targets that hang or refuse), cron, bad input.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildFunction } from '../../src/build/build.js';
import { NimbusClient } from '../../src/cli/client.js';
import { loadPlatformConfig } from '../../src/config/platform.js';
import { startPlatform } from '../../src/platform.js';
import { FIXTURES, startTestPlatform, waitFor } from '../helpers/platform.js';

interface CallView {
  id: string;
  function: string;
  source: string;
  status: string;
  attempts: number;
  errors: number;
  redrives: number;
  createdAt: string;
  finishedAt?: string;
  nextAttemptAt?: string;
  callback?: { url: string; state: string; attempts: number; error?: string };
  response?: {
    status: number;
    headers: Record<string, string>;
    body?: string;
    bodyBytes: number;
    truncated?: boolean;
  };
  error?: { code: string; message: string };
}

interface Received {
  headers: IncomingHttpHeaders;
  body: string;
}

/** A callback target on 127.0.0.1: records what it receives; `mode` decides how it answers. */
async function callbackReceiver(t: { after: (fn: () => unknown) => void }, mode: 'ok' | 'hang' = 'ok') {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString() });
      if (mode === 'ok') res.end('thanks');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => {
    server.closeAllConnections();
    server.close();
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/done`, received };
}

async function enqueue(
  url: string,
  path: string,
  init: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<Response> {
  return fetch(`${url}/async-function/${path}`, { method: init.method ?? 'POST', ...init });
}

async function errorCode(res: Response): Promise<string> {
  return ((await res.json()) as { error: { code: string } }).error.code;
}

function getCall(client: NimbusClient, id: string): Promise<CallView> {
  return client.call<CallView>('GET', `/system/calls/${id}`);
}

async function waitStatus(
  client: NimbusClient,
  id: string,
  status: string,
  timeoutMs = 8000,
): Promise<CallView> {
  let last: CallView | undefined;
  try {
    return (await waitFor(
      async () => {
        last = await getCall(client, id);
        return last.status === status ? last : undefined;
      },
      timeoutMs,
      `call ${id} to be ${status}`,
    ))!;
  } catch (err) {
    throw new Error(`${(err as Error).message}; last seen: ${JSON.stringify(last)}`);
  }
}

test('async invocations', async (t) => {
  const nimbus = await startTestPlatform(t, { asyncBodyLimitBytes: 4096, callbackTimeoutMs: 300 });
  const { url, client } = nimbus;
  const fastRetries = { retries: 2, backoff: { initialMs: 20, maxMs: 50 } };
  await Promise.all([
    nimbus.deploy('echo'),
    nimbus.deploy('flaky', 'flaky', { async: fastRetries }),
    nimbus.deploy('throws', 'throws', { async: fastRetries }),
    nimbus.deploy('echo', 'secret', { private: true }),
  ]);

  await t.test(
    '202 with X-Call-Id once queued; the function gets the request, call id and attempt',
    async () => {
      const res = await enqueue(url, 'echo/some/path?q=1', {
        method: 'PUT',
        headers: { 'content-type': 'text/plain', 'x-custom': 'yes' },
        body: 'payload',
      });
      assert.equal(res.status, 202);
      const id = res.headers.get('x-call-id')!;
      assert.match(id, /^[0-9a-f-]{36}$/);
      assert.deepEqual(await res.json(), { callId: id });
      const call = await waitStatus(client, id, 'succeeded');
      assert.equal(call.function, 'echo');
      assert.equal(call.source, 'http');
      assert.equal(call.attempts, 1);
      assert.ok(call.finishedAt);
      assert.equal(call.response?.status, 200);
      assert.equal(call.response?.headers['x-echo'], 'yes');
      const seen = JSON.parse(call.response!.body!) as {
        method: string;
        path: string;
        query: string;
        body: string;
        headers: Record<string, string>;
      };
      assert.equal(seen.method, 'PUT');
      assert.equal(seen.path, '/some/path');
      assert.equal(seen.query, '?q=1');
      assert.equal(seen.body, 'payload');
      assert.equal(seen.headers['x-custom'], 'yes');
      assert.equal(seen.headers['x-call-id'], id);
      assert.equal(seen.headers['x-nimbus-attempt'], '1');
    },
  );

  await t.test('bad input is refused before anything is queued', async () => {
    let res = await enqueue(url, 'nope');
    assert.equal(res.status, 404);
    assert.equal(await errorCode(res), 'ERR_FUNCTION_NOT_FOUND');
    res = await enqueue(url, 'Bad_Name');
    assert.equal(res.status, 400);
    assert.equal(await errorCode(res), 'ERR_FUNCTION_NAME_INVALID');
    for (const bad of ['not a url', 'ftp://example.com/x', '/relative']) {
      res = await enqueue(url, 'echo', { headers: { 'x-callback-url': bad } });
      assert.equal(res.status, 400, bad);
      assert.equal(await errorCode(res), 'ERR_ASYNC_CALLBACK_URL_INVALID');
    }
    res = await enqueue(url, 'echo', { body: 'x'.repeat(5000) });
    assert.equal(res.status, 413);
    assert.equal(await errorCode(res), 'ERR_REQUEST_BODY_TOO_LARGE');
    res = await enqueue(url, 'secret');
    assert.equal(res.status, 401);
    res = await enqueue(url, 'secret', { headers: { authorization: `Bearer ${nimbus.platform.token}` } });
    assert.equal(res.status, 202);
    const call = await waitStatus(client, res.headers.get('x-call-id')!, 'succeeded');
    const seen = JSON.parse(call.response!.body!) as { headers: Record<string, string> };
    assert.equal(seen.headers.authorization, undefined, 'the admin token is not handed to the function');
  });

  await t.test('a function that fails twice then succeeds ends succeeded with 3 attempts', async () => {
    const res = await enqueue(url, 'flaky');
    const call = await waitStatus(client, res.headers.get('x-call-id')!, 'succeeded');
    assert.equal(call.attempts, 3);
    assert.equal(call.errors, 2);
    assert.equal((JSON.parse(call.response!.body!) as { attempt: number }).attempt, 3);
  });

  await t.test(
    'one that always fails is dead after its attempts; the callback receives the failure',
    async () => {
      const receiver = await callbackReceiver(t);
      const res = await enqueue(url, 'throws', { headers: { 'x-callback-url': receiver.url } });
      const id = res.headers.get('x-call-id')!;
      const call = await waitStatus(client, id, 'dead');
      assert.equal(call.attempts, 3);
      assert.equal(call.errors, 3);
      assert.equal(call.error?.code, 'ERR_HANDLER_FAILED');
      await waitFor(() => receiver.received.length === 1, 5000, 'the callback');
      const got = receiver.received[0]!;
      assert.equal(got.headers['x-call-id'], id);
      assert.equal(got.headers['x-function-name'], 'throws');
      assert.equal(got.headers['x-function-status'], '500');
      assert.equal(got.headers['x-nimbus-call-status'], 'dead');
      assert.equal(got.headers['x-nimbus-attempts'], '3');
      assert.match(String(got.headers['x-duration-seconds']), /^\d+\.\d+$/);
      assert.match(got.body, /ERR_HANDLER_FAILED/);
      const after = await waitStatus(client, id, 'dead');
      await waitFor(
        async () => (await getCall(client, id)).callback?.state === 'delivered',
        3000,
        'delivered',
      );
      assert.equal(after.callback?.url, receiver.url);
    },
  );

  await t.test(
    'a status not in retryOn fails at once; success posts the response to the callback',
    async () => {
      const receiver = await callbackReceiver(t);
      const failed = await enqueue(url, 'echo?status=404', { headers: { 'x-callback-url': receiver.url } });
      const call = await waitStatus(client, failed.headers.get('x-call-id')!, 'failed');
      assert.equal(call.attempts, 1);
      assert.equal(call.response?.status, 404);
      const ok = await enqueue(url, 'echo', { headers: { 'x-callback-url': receiver.url }, body: 'hello' });
      await waitStatus(client, ok.headers.get('x-call-id')!, 'succeeded');
      await waitFor(() => receiver.received.length === 2, 5000, 'two callbacks');
      const byStatus = Object.fromEntries(receiver.received.map((r) => [r.headers['x-function-status'], r]));
      assert.equal(byStatus['404']!.headers['x-nimbus-call-status'], 'failed');
      assert.equal(JSON.parse(byStatus['200']!.body).body, 'hello');
      assert.equal(byStatus['200']!.headers['content-type'], 'application/json');
    },
  );

  await t.test('a callback target that hangs or refuses never holds up the workers', async () => {
    const hanging = await callbackReceiver(t, 'hang');
    const closed = createServer().listen(0, '127.0.0.1');
    await once(closed, 'listening');
    const refusedUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/refused`;
    await new Promise((r) => closed.close(r));
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      const target = i % 2 === 0 ? hanging.url : refusedUrl;
      const res = await enqueue(url, 'echo', { headers: { 'x-callback-url': target } });
      ids.push(res.headers.get('x-call-id')!);
    }
    for (const id of ids) await waitStatus(client, id, 'succeeded', 3000);
    const first = await waitFor<CallView | undefined>(
      async () => {
        const c = await getCall(client, ids[0]!);
        return c.callback?.error ? c : undefined;
      },
      5000,
      'a timed-out callback attempt',
    );
    assert.equal(first!.callback?.state, 'pending');
    assert.match(first!.callback!.error!, /no answer within 300 ms/);
    const refused = await waitFor(
      async () => {
        const c = await getCall(client, ids[1]!);
        return c.callback?.error ? c : undefined;
      },
      5000,
      'a refused callback attempt',
    );
    assert.match(refused!.callback!.error!, /ECONNREFUSED/);
  });

  await t.test('dead letters are listed and redriven, one or all', async () => {
    const a = (await enqueue(url, 'throws')).headers.get('x-call-id')!;
    const b = (await enqueue(url, 'throws')).headers.get('x-call-id')!;
    await waitStatus(client, a, 'dead');
    await waitStatus(client, b, 'dead');
    const dead = await client.call<{ calls: CallView[]; counts: Record<string, number> }>(
      'GET',
      '/system/calls?function=throws&status=dead',
    );
    assert.ok(dead.calls.some((c) => c.id === a) && dead.calls.some((c) => c.id === b));
    assert.equal(dead.counts.dead, dead.calls.length);
    assert.equal(dead.calls[0]!.response?.body, undefined, 'lists carry no bodies');

    const redriven = await client.call<CallView>('POST', `/system/calls/${a}/redrive`);
    assert.equal(redriven.id, a);
    assert.ok(['queued', 'running', 'dead'].includes(redriven.status));
    const again = await waitFor(
      async () => {
        const c = await getCall(client, a);
        return c.status === 'dead' && c.redrives === 1 ? c : undefined;
      },
      8000,
      'the redriven call to die again',
    );
    assert.equal(again!.attempts, 3);
    await assert.rejects(client.call('POST', `/system/calls/${a}x/redrive`), { code: 'ERR_CALL_NOT_FOUND' });
    const okId = (await enqueue(url, 'echo')).headers.get('x-call-id')!;
    await waitStatus(client, okId, 'succeeded');
    await assert.rejects(client.call('POST', `/system/calls/${okId}/redrive`), { code: 'ERR_CALL_NOT_DEAD' });

    const all = await client.call<{ redriven: number }>('POST', '/system/calls/redrive?function=throws');
    assert.ok(all.redriven >= 2);
    await waitFor(
      async () => {
        const { counts } = await client.call<{ counts: Record<string, number> }>(
          'GET',
          '/system/calls?function=throws&limit=0',
        );
        return counts.queued! + counts.running! === 0 && counts.dead! >= 2;
      },
      8000,
      'the redriven calls to die again',
    );
    assert.equal((await getCall(client, b)).redrives, 1);
  });

  await t.test('calls past maxEventAgeMs go to the dead letters without running', async () => {
    await nimbus.deploy('slow', 'slowpoke', { async: { concurrency: 1, maxEventAgeMs: 1000 } });
    const first = (await enqueue(url, 'slowpoke?ms=1500')).headers.get('x-call-id')!;
    const second = (await enqueue(url, 'slowpoke?ms=1')).headers.get('x-call-id')!;
    await waitStatus(client, first, 'succeeded', 5000);
    const expired = await waitStatus(client, second, 'dead', 5000);
    assert.equal(expired.error?.code, 'ERR_CALL_EXPIRED');
    assert.equal(expired.attempts, 0);
  });

  await t.test('call records need the admin token; list pages newest first', async () => {
    const res = await fetch(`${url}/system/calls`);
    assert.equal(res.status, 401);
    const page1 = await client.call<{ calls: CallView[] }>('GET', '/system/calls?function=echo&limit=2');
    assert.equal(page1.calls.length, 2);
    assert.ok(page1.calls[0]!.createdAt >= page1.calls[1]!.createdAt);
    const page2 = await client.call<{ calls: CallView[] }>(
      'GET',
      `/system/calls?function=echo&limit=2&before=${page1.calls[1]!.id}`,
    );
    assert.ok(page2.calls.every((c) => !page1.calls.some((p) => p.id === c.id)));
    await assert.rejects(client.call('GET', '/system/calls?status=bogus'), { code: 'ERR_REQUEST_INVALID' });
    await assert.rejects(client.call('GET', '/system/calls/nope'), { code: 'ERR_CALL_NOT_FOUND' });
    const doc = (await (await fetch(`${url}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
      components: { schemas: Record<string, { properties: Record<string, unknown> }> };
    };
    assert.ok(doc.paths['/async-function/{name}']?.post);
    assert.ok(doc.paths['/system/calls/{id}']?.get);
    assert.ok(doc.paths['/system/calls/{id}/redrive']?.post);
    assert.ok(doc.components.schemas.FunctionSpec!.properties.schedule);
  });

  await t.test('a schedule fires through the async path and shows its next run', async () => {
    const fn = await nimbus.deploy('echo', 'ticker', { schedule: '* * * * * *', payload: { hello: 'cron' } });
    assert.match(String((fn as unknown as { nextRun: string }).nextRun), /^\d{4}-\d\d-\d\dT/);
    const listed = (await client.list()).functions.find((f) => f.name === 'ticker') as unknown as {
      nextRun: string;
    };
    assert.ok(Date.parse(listed.nextRun) > Date.now() - 1000);
    const call = await waitFor(
      async () => {
        const { calls } = await client.call<{ calls: CallView[] }>(
          'GET',
          '/system/calls?function=ticker&status=succeeded',
        );
        return calls[0];
      },
      5000,
      'a scheduled run',
    );
    assert.equal(call!.source, 'cron');
    const full = await getCall(client, call!.id);
    const seen = JSON.parse(full.response!.body!) as {
      method: string;
      body: string;
      headers: Record<string, string>;
    };
    assert.equal(seen.method, 'POST');
    assert.deepEqual(JSON.parse(seen.body), { hello: 'cron' });
    assert.equal(seen.headers['x-nimbus-schedule'], '* * * * * *');
    assert.match(seen.headers['x-nimbus-scheduled-time']!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    await client.remove('ticker');
  });

  await t.test('bad async and cron settings are a 400 at deploy naming the field', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ schedule: 'every five minutes' }, /schedule: invalid cron expression/],
      [{ schedule: '61 * * * *' }, /schedule: invalid cron expression "61 \* \* \* \*"/],
      [{ schedule: '* * * * *', timezone: 'Mars/Olympus' }, /timezone: must be an IANA time zone/],
      [{ async: { retries: -1 } }, /async\.retries/],
      [
        { async: { backoff: { initialMs: 5000, maxMs: 100 } } },
        /async\.backoff\.initialMs: must not exceed maxMs/,
      ],
      [{ async: { retryOn: [200] } }, /async\.retryOn\.0/],
      [{ async: { maxEventAgeMs: 10 } }, /async\.maxEventAgeMs/],
      [{ async: { tries: 3 } }, /async: unknown key "tries"/],
    ];
    for (const [spec, message] of cases) {
      await assert.rejects(nimbus.deploy('echo', 'badspec', spec), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_FUNCTION_SPEC_INVALID');
        assert.match(err.message, message);
        return true;
      });
    }
  });
});

test('shutdown: calls in flight finish within the grace period; one cut short runs again after a restart', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'nimbus-async-shutdown-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const config = loadPlatformConfig({ port: 0, dataDir, shutdownGraceMs: 500, asyncLeaseMs: 60_000 });
  const first = await startPlatform(config);
  let closed = false;
  t.after(async () => {
    if (!closed) await first.close();
  });
  const client = new NimbusClient(first.url, first.token);
  const built = await buildFunction(join(FIXTURES, 'slow'));
  await client.uploadBundle(built);
  await client.deploy('slow', built.hash, { scale: { max: 2 }, maxQueue: 5 });
  rmSync(built.bundleDir, { recursive: true, force: true });
  const quick = (await enqueue(first.url, 'slow?ms=200')).headers.get('x-call-id')!;
  const long = (await enqueue(first.url, 'slow?ms=1500')).headers.get('x-call-id')!;
  await waitFor(
    async () =>
      (await getCall(client, quick)).status === 'running' &&
      (await getCall(client, long)).status === 'running',
    5000,
    'both calls to run',
  );
  await first.close();
  closed = true;

  const second = await startPlatform(config);
  t.after(() => second.close());
  const again = new NimbusClient(second.url, second.token);
  const done = await getCall(again, quick);
  assert.equal(done.status, 'succeeded', 'finished within the grace period');
  assert.equal(done.attempts, 1);
  // The long one was cut short by the shutdown: put back at once (not left to its 60 s lease), and the
  // interrupted attempt is not counted as the function's error.
  const rerun = await waitStatus(again, long, 'succeeded', 10_000);
  assert.equal(rerun.attempts, 2);
  assert.equal(rerun.errors, 0);
});
