// An Azure Functions Node.js v4 app (the real @azure/functions 4.16, loaded from the app's own dependencies)
// deployed as one Nimbus function: HTTP routes, function keys, a timer on cron, a queue on the async queue,
// hooks, and the invocation's logs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestPlatform, waitFor } from '../helpers/platform.js';

interface LogLine {
  name: string;
  text: string;
}

test('an Azure Functions app on Nimbus', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url, client } = nimbus;
  const fn = await nimbus.deploy('azure-app');
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

    const wrong = await api('/secret', { headers: { 'x-functions-key': 'nmbk_not-a-key' } });
    assert.equal(wrong.status, 401);
    assert.equal(((await wrong.json()) as { error: { code: string } }).error.code, 'ERR_AUTH_INVALID');
    const forbidden = await api('/secret', { headers: { 'x-functions-key': other.secret } });
    assert.equal(forbidden.status, 403);

    // Anonymous routes take no key, and a key sent to them is consumed all the same.
    const open = await api(`/items/7?code=${key.secret}`, { headers: { 'x-functions-key': key.secret } });
    assert.deepEqual(await open.json(), { id: '7', query: {}, method: 'GET' });

    // Queued calls are checked when they are queued.
    const queued = await fetch(`${url}/async-function/azure-app/api/secret`, { method: 'POST', body: 'q' });
    assert.equal(queued.status, 401);
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
  });
});
