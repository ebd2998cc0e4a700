// An Azure Functions Node.js v4 app (the real @azure/functions 4.16, loaded from the app's own dependencies)
// deployed as one Nimbus function: HTTP routes, function keys, a timer on cron, a queue on the async queue,
// hooks, and the invocation's logs.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildFunction } from '../../src/build/build.js';
import { NimbusClient } from '../../src/cli/client.js';
import { FIXTURES, startTestPlatform, waitFor } from '../helpers/platform.js';

interface LogLine {
  name: string;
  text: string;
}

test('an Azure Functions app on Nimbus', async (t) => {
  const nimbus = await startTestPlatform(t, { sandbox: 'auto' });
  const { url, client } = nimbus;
  // Failed queue messages are retried soon (Nimbus's back-off; Azure's is its queue's visibility timeout).
  const fn = await nimbus.deploy('azure-app', undefined, {
    async: { retries: 1, backoff: { initialMs: 50, maxMs: 100 } },
  });
  assert.equal(fn.name, 'azure-app', 'named after package.json');
  const api = (path: string, init?: RequestInit) => fetch(`${url}/function/azure-app/api${path}`, init);
  const logs = async (): Promise<LogLine[]> => {
    const res = await client.logs('azure-app', { tail: -1 });
    return (await res.text())
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LogLine);
  };

  await t.test(
    'GET with a route parameter and a query; local.settings.json Values are the environment',
    async () => {
      const res = await api('/hi/Ada?q=1');
      assert.equal(res.status, 200);
      assert.equal(await res.text(), 'Hello, Ada! q=1');
      const callId = res.headers.get('x-call-id')!;
      const line = await waitFor(
        async () => (await logs()).find((l) => l.text.includes('greeting Ada')),
        10_000,
        'the context.log line',
      );
      assert.equal(line.text, `${callId} [Information] greeting Ada`, 'context.log carries the call id');
    },
  );

  await t.test('an optional int parameter, constraints choosing between routes, JSON out', async () => {
    assert.deepEqual(await (await api('/items/42?x=1&x=2&y=z')).json(), {
      id: '42',
      query: { x: '2', y: 'z' },
      method: 'GET',
    });
    assert.deepEqual(await (await api('/items')).json(), { id: null, query: {}, method: 'GET' });
    assert.deepEqual(await (await api('/items/widget')).json(), { name: 'widget' });
    assert.equal((await api('/items/4x2')).status, 404, 'neither int nor alpha');
  });

  await t.test('POST JSON in, status, headers, cookies and JSON out', async () => {
    const res = await api('/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ a: [1, 2] }),
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-echo'), 'yes');
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(res.headers.getSetCookie(), ['session=abc%201; Path=/; HttpOnly; SameSite=Strict']);
    const body = (await res.json()) as { got: unknown; contentType: string; url: string };
    assert.deepEqual(body.got, { a: [1, 2] });
    assert.equal(body.contentType, 'application/json');
    assert.match(body.url, /\/function\/azure-app\/api\/echo$/);
  });

  await t.test('unknown routes and methods are 404', async () => {
    for (const [path, method] of [
      ['/nowhere', 'GET'],
      ['/echo', 'GET'],
      ['/hi', 'GET'],
    ] as const) {
      const res = await api(path, { method });
      assert.equal(res.status, 404, `${method} ${path}`);
      assert.equal(
        ((await res.json()) as { error: { code: string } }).error.code,
        'ERR_AZURE_ROUTE_NOT_FOUND',
      );
    }
    assert.equal(
      (await fetch(`${url}/function/azure-app/elsewhere`)).status,
      404,
      'outside the route prefix',
    );
  });

  await t.test('no result is 204; a throw is a 500 and its logs', async () => {
    const none = await api('/nothing');
    assert.equal(none.status, 204);
    const boom = await api('/boom');
    assert.equal(boom.status, 500);
    assert.equal(((await boom.json()) as { error: { code: string } }).error.code, 'ERR_HANDLER_FAILED');
    const id = boom.headers.get('x-call-id')!;
    await waitFor(
      async () => {
        const lines = (await logs()).filter((l) => l.text.startsWith(id));
        return (
          lines.some((l) => l.text === `${id} [Error] about to fail`) &&
          lines.some((l) => /\[Error\] Executed 'Functions\.boom' \(Failed/.test(l.text))
        );
      },
      10_000,
      'the error lines',
    );
  });

  await t.test('hooks: appStart data reaches a preInvocation hook that wraps the handler', async () => {
    const res = await api('/hooked');
    assert.equal(await res.text(), 'hooked');
    assert.equal(res.headers.get('x-hooked'), 'yes');
  });

  await t.test('authLevel function: a Nimbus invoke key, consumed by the gateway', async () => {
    const anonymous = await api('/secret/a/b');
    assert.equal(anonymous.status, 401);
    assert.equal(
      ((await anonymous.json()) as { error: { code: string } }).error.code,
      'ERR_AZURE_KEY_REQUIRED',
    );

    const key = await client.call<{ id: string; secret: string }>('POST', '/api/v1/keys', {
      scope: 'invoke',
      functions: ['azure-app'],
    });
    const other = await client.call<{ id: string; secret: string }>('POST', '/api/v1/keys', {
      scope: 'invoke',
      functions: ['someone-else'],
    });

    const byHeader = await api('/secret/a/b?x=1', { headers: { 'x-functions-key': key.secret } });
    assert.equal(byHeader.status, 200);
    const seen = (await byHeader.json()) as {
      headers: Record<string, string>;
      url: string;
      rest: string;
      query: object;
    };
    assert.equal(seen.rest, 'a/b');
    assert.deepEqual(seen.query, { x: '1' });
    assert.equal(seen.headers['x-functions-key'], undefined, 'the header is consumed');
    assert.ok(!JSON.stringify(seen).includes(key.secret), 'the key reaches the function nowhere');

    const byCode = await api(`/secret?code=${encodeURIComponent(key.secret)}&y=2`, {
      method: 'POST',
      body: 'payload',
    });
    assert.equal(byCode.status, 200);
    const seenCode = (await byCode.json()) as { url: string; query: object; body: string };
    assert.deepEqual(seenCode.query, { y: '2' });
    assert.equal(seenCode.body, 'payload');
    assert.ok(!seenCode.url.includes('code='), seenCode.url);
    assert.ok(!JSON.stringify(seenCode).includes(key.secret));

    // Query names ignore case, and may be percent-encoded, as ASP.NET reads them.
    for (const name of ['CODE', 'c%6Fde']) {
      const res = await api(`/secret?${name}=${encodeURIComponent(key.secret)}`);
      assert.equal(res.status, 200, name);
      assert.ok(!(await res.text()).includes(key.secret), name);
    }

    const wrong = await api('/secret', { headers: { 'x-functions-key': 'nmbk_not-a-key' } });
    assert.equal(wrong.status, 401);
    assert.equal(((await wrong.json()) as { error: { code: string } }).error.code, 'ERR_AUTH_INVALID');
    const forbidden = await api('/secret', { headers: { 'x-functions-key': other.secret } });
    assert.equal(forbidden.status, 403);

    // Anonymous routes take no key, and a key sent to them is consumed all the same.
    const open = await api(`/items/7?code=${key.secret}`, { headers: { 'x-functions-key': key.secret } });
    assert.deepEqual(await open.json(), { id: '7', query: {}, method: 'GET' });

    // Queued calls are checked when they are queued, and the key is not queued with them.
    const refused = await fetch(`${url}/async-function/azure-app/api/secret`, { method: 'POST', body: 'q' });
    assert.equal(refused.status, 401);
    const queued = await fetch(`${url}/async-function/azure-app/api/secret/q?code=${key.secret}`, {
      method: 'POST',
      headers: { 'x-functions-key': key.secret },
      body: 'queued',
    });
    assert.equal(queued.status, 202);
    const call = await waitFor(
      async () => {
        const c = await client.call<{ status: string; response?: { body?: string } }>(
          'GET',
          `/system/calls/${queued.headers.get('x-call-id')}`,
        );
        return c.status === 'succeeded' ? c : undefined;
      },
      10_000,
      'the queued call',
    );
    assert.equal((JSON.parse(call.response!.body!) as { body: string }).body, 'queued');
    assert.ok(!call.response!.body!.includes(key.secret), 'the key was not queued');

    // Hostile: the header twice, a code that does not decode, a key for another function in ?code=.
    const twice = await fetch(`${url}/function/azure-app/api/secret`, {
      headers: [
        ['x-functions-key', key.secret],
        ['x-functions-key', 'nmbk_other'],
      ],
    });
    assert.equal(twice.status, 401, 'a repeated header arrives joined, which is no key');
    assert.equal((await api('/secret?code=%E0%A4%A')).status, 401);
    assert.equal((await api(`/secret?code=${other.secret}`)).status, 403);
  });

  await t.test("Azure's admin route runs a non-HTTP function with a key", async () => {
    const key = await client.call<{ secret: string }>('POST', '/api/v1/keys', {
      scope: 'invoke',
      functions: '*',
    });
    const anonymous = await fetch(`${url}/function/azure-app/admin/functions/work`, {
      method: 'POST',
      body: '{"input": "x"}',
    });
    assert.equal(anonymous.status, 401);
    const wrongMethod = await fetch(`${url}/function/azure-app/admin/functions/work`, {
      headers: { 'x-functions-key': key.secret },
    });
    assert.equal(wrongMethod.status, 405);
    const unknown = await fetch(`${url}/function/azure-app/admin/functions/hello`, {
      method: 'POST',
      headers: { 'x-functions-key': key.secret },
      body: '{}',
    });
    assert.equal(unknown.status, 404, 'HTTP functions are called on their routes');
    const run = await fetch(`${url}/function/azure-app/admin/functions/work`, {
      method: 'POST',
      headers: { 'x-functions-key': key.secret, 'content-type': 'application/json' },
      body: JSON.stringify({ input: '{"manual":true}' }),
    });
    assert.equal(run.status, 202);
    const id = run.headers.get('x-call-id')!;
    await waitFor(
      async () =>
        (await logs()).some((l) => l.text === `${id} [Information] work got {"manual":true} dequeueCount=1`),
      10_000,
      'the manual run',
    );
  });

  await t.test('hostile requests are answered, not crashed on', async () => {
    const forged = await api('/hi/Mallory', { headers: { 'x-call-id': 'forged-id' } });
    const realId = forged.headers.get('x-call-id')!;
    await waitFor(
      async () => (await logs()).some((l) => l.text === `${realId} [Information] greeting Mallory`),
      10_000,
      "the line under the gateway's call id",
    );
    assert.ok(!(await logs()).some((l) => l.text.includes('forged-id')), 'a client cannot name the logs');
    assert.equal((await api('/hi/%E0%A4%A')).status, 404, 'a segment that does not decode');
    assert.equal((await api('/hi/%00')).status, 200);
    assert.equal((await api(`/hi/${'x'.repeat(5000)}`)).status, 200);
    assert.equal(
      (await fetch(`${url}/function/azure-app/admin/functions/%E0%A4%A`, { method: 'POST' })).status,
      401,
    );
    const bad = await api('/echo', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{nope',
    });
    assert.equal(bad.status, 500, 'request.json() throws in the handler: its error');
    assert.equal((await api('/hi/Ada')).status, 200, 'the instance still serves');
  });

  await t.test('in a namespace: its route, and keys that reach it', async () => {
    await client.call('POST', '/api/v1/namespaces', { name: 'team-a' });
    const teamA = new NimbusClient(url, nimbus.platform.token, 'team-a');
    const built = await buildFunction(join(FIXTURES, 'azure-app'));
    try {
      await teamA.uploadBundle(built);
      await teamA.deploy('azure-app', built.hash, built.spec);
    } finally {
      rmSync(built.bundleDir, { recursive: true, force: true });
    }
    const echo = await fetch(`${url}/function/azure-app.team-a/api/echo`, { method: 'POST', body: '{}' });
    assert.match(((await echo.json()) as { url: string }).url, /\/function\/azure-app\.team-a\/api\/echo$/);
    const here = await client.call<{ secret: string }>('POST', '/api/v1/keys', {
      scope: 'invoke',
      namespace: 'team-a',
      functions: ['azure-app'],
    });
    const elsewhere = await client.call<{ secret: string }>('POST', '/api/v1/keys', {
      scope: 'invoke',
      functions: ['azure-app'],
    });
    const secret = (key: string) =>
      fetch(`${url}/function/azure-app.team-a/api/secret`, { headers: { 'x-functions-key': key } });
    assert.equal((await secret(here.secret)).status, 200);
    assert.equal((await secret(elsewhere.secret)).status, 403, 'a key of the default namespace');
  });

  await t.test('a timer fires on Nimbus cron, its schedule an app setting', async () => {
    const line = await waitFor(
      async () => (await logs()).find((l) => /\[Information\] tick isPastDue=\w+ last=20/.test(l.text)),
      15_000,
      'a tick',
    );
    assert.match(line.text, /^\S+ \[Information\] tick isPastDue=(true|false) last=\d{4}-/);
  });

  await t.test('a queue trigger: async calls to /queues/{queueName}', async () => {
    const res = await fetch(`${url}/async-function/azure-app/queues/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ job: 7 }),
    });
    assert.equal(res.status, 202);
    const callId = res.headers.get('x-call-id')!;
    const line = await waitFor(
      async () => (await logs()).find((l) => l.text.startsWith(`${callId} [Information] work got`)),
      10_000,
      'the queue function to run',
    );
    assert.equal(line.text, `${callId} [Information] work got {"job":7} dequeueCount=1`);
    const call = await waitFor(
      async () => {
        const c = await client.call<{ status: string; response?: { status: number; body?: string } }>(
          'GET',
          `/system/calls/${callId}`,
        );
        return c.status === 'succeeded' ? c : undefined;
      },
      10_000,
      'the call to succeed',
    );
    assert.equal(call.response?.status, 200);
    assert.deepEqual(JSON.parse(call.response?.body ?? ''), { done: { job: 7 } }, 'the return value is kept');

    // A message whose function throws is retried (the dequeue count says which attempt) and then dead.
    const failing = await fetch(`${url}/async-function/azure-app/queues/jobs`, {
      method: 'POST',
      body: JSON.stringify({ fail: true }),
    });
    const failingId = failing.headers.get('x-call-id')!;
    await waitFor(
      async () =>
        (await logs()).some(
          (l) => l.text === `${failingId} [Information] work got {"fail":true} dequeueCount=2`,
        ),
      15_000,
      'the retry',
    );
    await waitFor(
      async () =>
        (await client.call<{ status: string }>('GET', `/system/calls/${failingId}`)).status === 'dead',
      15_000,
      'the dead letter',
    );
    // A queue output binding: what an HTTP function writes is queued for the queue's function.
    const enqueued = await api('/enqueue', { method: 'POST', body: JSON.stringify({ from: 'http' }) });
    assert.equal(enqueued.status, 202);
    assert.equal(await enqueued.text(), 'queued');
    await waitFor(
      async () => {
        const texts = (await logs()).map((l) => l.text);
        return (
          texts.some((l) => l.endsWith('[Information] work got {"from":"http"} dequeueCount=1')) &&
          texts.some((l) => l.endsWith('[Information] work got "plain text" dequeueCount=1'))
        );
      },
      15_000,
      'both messages to be worked on',
    );

    const wrongQueue = await fetch(`${url}/async-function/azure-app/queues/nope`, {
      method: 'POST',
      body: 'x',
    });
    assert.equal(wrongQueue.status, 202, 'queued: the instance answers 404 for it');
  });
});
