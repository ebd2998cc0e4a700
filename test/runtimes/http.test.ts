// runtime: http (the of-watchdog's http mode) over real HTTP: a user's server started with PORT (a port or a
// Unix socket), waited for on its health path, proxied to with bodies streamed both ways.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startTestPlatform } from '../helpers/platform.js';
import { timed, waitForNoInstance } from '../helpers/runtimes.js';

interface ErrorBody {
  error: { code: string; message: string };
}

test('http runtime', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url } = nimbus;
  await Promise.all([nimbus.deploy('http-python', 'web'), nimbus.deploy('http-node', 'websock')]);

  await t.test('hello through the proxied server', async () => {
    const res = await fetch(`${url}/function/web/hello`, { method: 'POST', body: 'world' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/plain');
    assert.equal(await res.text(), 'hello world');
  });

  await t.test('a binary body comes back byte for byte', async () => {
    const bytes = new Uint8Array(500_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 13) % 256;
    const res = await fetch(`${url}/function/web/echo`, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/octet-stream' },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
  });

  await t.test(
    'status, headers, repeated set-cookie, method, query and request headers pass through',
    async () => {
      const res = await fetch(`${url}/function/web/status?a=1&a=2`, {
        method: 'PUT',
        headers: { 'x-test': 'v' },
      });
      assert.equal(res.status, 201);
      assert.equal(res.headers.get('x-custom'), 'yes');
      assert.deepEqual(res.headers.getSetCookie(), ['a=1', 'b=2']);
      assert.deepEqual(await res.json(), {
        method: 'PUT',
        path: '/status',
        query: { a: ['1', '2'] },
        x: 'v',
      });
    },
  );

  await t.test("the server's own error status passes through as it is", async () => {
    const res = await fetch(`${url}/function/web/error`);
    assert.equal(res.status, 500);
    assert.equal(await res.text(), 'the server failed');
  });

  await t.test('concurrency > 1: requests overlap on one server', async () => {
    const { ms, value } = await timed(() =>
      Promise.all(Array.from({ length: 4 }, () => fetch(`${url}/function/web/sleep`).then((r) => r.text()))),
    );
    assert.equal(new Set(value).size, 1);
    assert.ok(ms < 1200, `four 400 ms sleeps overlapped (${Math.round(ms)} ms)`);
  });

  await t.test('past timeoutMs: 504 and a new server serves next', async () => {
    const before = await (await fetch(`${url}/function/web/id`)).text();
    const res = await fetch(`${url}/function/web/hang`);
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as ErrorBody).error.code, 'ERR_HANDLER_TIMEOUT');
    await waitForNoInstance(nimbus, 'web');
    const after = await fetch(`${url}/function/web/id`);
    assert.equal(after.status, 200);
    assert.notEqual(await after.text(), before);
  });

  await t.test('a server that dies mid-request is a 502; the next request gets a new one', async () => {
    const res = await fetch(`${url}/function/web/crash`);
    assert.equal(res.status, 502);
    assert.equal(((await res.json()) as ErrorBody).error.code, 'ERR_INSTANCE_CRASHED');
    assert.equal((await fetch(`${url}/function/web/hello`, { method: 'POST', body: 'again' })).status, 200);
  });

  await t.test('unixSocket: PORT is a socket path; streamed responses arrive as written', async () => {
    const res = await fetch(`${url}/function/websock/x?y=1`, { method: 'POST', body: 'over a socket' });
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const body = JSON.parse(text) as { port: string; url: string; body: string };
    assert.match(body.port, /^\/.*\.sock$/);
    assert.equal(body.url, '/x?y=1');
    assert.equal(body.body, 'over a socket');

    const started = Date.now();
    const stream = await fetch(`${url}/function/websock/stream`);
    const reader = stream.body!.getReader();
    const arrivals: number[] = [];
    let streamed = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arrivals.push(Date.now() - started);
      streamed += Buffer.from(value).toString();
    }
    assert.equal(streamed, 'chunk 0\nchunk 1\nchunk 2\n');
    assert.ok(arrivals.at(-1)! - arrivals[0]! >= 200, `chunks spread over time: ${arrivals}`);
  });

  await t.test('a server that exits before it is healthy fails the deploy, saying so', async () => {
    await assert.rejects(
      nimbus.deploy('http-python', 'webdead', { command: 'python3 -c "import sys; sys.exit(4)"' }),
      { code: 'ERR_FUNCTION_LOAD_FAILED', message: /exited \(exit code 4\) before it answered on port \d+/ },
    );
  });
});
