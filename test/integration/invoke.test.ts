// The invoke path over real HTTP: handler styles, pass-through, streaming, binary bodies and every error.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { test } from 'node:test';
import { runnerChildren, startTestPlatform, waitFor } from '../helpers/platform.js';

test('invoke', async (t) => {
  const nimbus = await startTestPlatform(t, { bodyLimitBytes: 64 * 1024 });
  const { url } = nimbus;
  await Promise.all(
    ['hello', 'echo', 'lambda', 'stream', 'binary', 'throws', 'hangs', 'exits'].map((f) => nimbus.deploy(f)),
  );

  await t.test('a fetch handler answers', async () => {
    const res = await fetch(`${url}/function/hello`, { method: 'POST', body: 'world' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello world');
    assert.match(res.headers.get('x-call-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  await t.test('method, path suffix, query, headers and env pass through', async () => {
    const res = await fetch(`${url}/function/echo/a/b?x=1&y=2&status=202`, {
      method: 'PUT',
      headers: { 'x-custom': 'v1', 'content-type': 'text/plain' },
      body: 'payload',
    });
    assert.equal(res.status, 202);
    assert.equal(res.headers.get('x-echo'), 'yes');
    const body = (await res.json()) as Record<string, any>;
    assert.equal(body.method, 'PUT');
    assert.equal(body.path, '/a/b');
    assert.equal(body.query, '?x=1&y=2&status=202');
    assert.equal(body.headers['x-custom'], 'v1');
    assert.equal(body.body, 'payload');
    assert.equal(body.env, 'hi');
    assert.equal(body.headers.connection, undefined, 'hop-by-hop headers are not passed on');
  });

  await t.test('a whole answer goes out with its Content-Length; HEAD gets the head alone', async () => {
    const raw = (method: string, path: string) =>
      new Promise<{ headers: Record<string, unknown>; body: string }>((resolve, reject) => {
        const req = request(`${url}${path}`, { method }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            body += c;
          });
          res.on('end', () => resolve({ headers: res.headers, body }));
        });
        req.on('error', reject);
        req.end();
      });
    const whole = await raw('GET', '/function/echo?x=1');
    assert.equal(whole.headers['content-length'], String(Buffer.byteLength(whole.body)));
    assert.equal(whole.headers['transfer-encoding'], undefined);
    const head = await raw('HEAD', '/function/echo?x=1');
    assert.equal(head.body, '');
    assert.equal(head.headers['x-echo'], 'yes');
    assert.equal(head.headers['content-length'], undefined, 'no length that is not of this answer');
  });

  await t.test('query without a path suffix', async () => {
    const body = (await (await fetch(`${url}/function/echo?q=1`)).json()) as Record<string, any>;
    assert.equal(body.path, '/');
    assert.equal(body.query, '?q=1');
  });

  await t.test('lambda handler: payload 2.0 event, result mapped back with cookies', async () => {
    const res = await fetch(`${url}/function/lambda/items?a=1`, {
      method: 'POST',
      body: 'it',
      headers: { cookie: 's=1; t=2' },
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-lambda'), 'yes');
    assert.deepEqual(res.headers.getSetCookie(), ['c1=v1; Max-Age=60', 'c2=v2']);
    assert.equal(await res.text(), 'made it');

    const ev = (await (
      await fetch(`${url}/function/lambda/event?a=1&a=2&b=x`, { headers: { cookie: 's=1; t=2' } })
    ).json()) as any;
    assert.equal(ev.event.version, '2.0');
    assert.equal(ev.event.rawPath, '/event');
    assert.equal(ev.event.rawQueryString, 'a=1&a=2&b=x');
    assert.deepEqual(ev.event.queryStringParameters, { a: '1,2', b: 'x' });
    assert.deepEqual(ev.event.cookies, ['s=1', 't=2']);
    assert.equal(ev.event.requestContext.http.method, 'GET');
    assert.equal(ev.event.body, undefined);
    assert.equal(ev.remaining, true);
  });

  await t.test('lambda handler: inferred results and base64 bodies', async () => {
    let res = await fetch(`${url}/function/lambda/plain`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.deepEqual(await res.json(), { message: 'inferred', fn: 'lambda' });
    res = await fetch(`${url}/function/lambda/string`);
    assert.equal(await res.text(), '"Hello, world!"');
    res = await fetch(`${url}/function/lambda/b64`);
    assert.deepEqual([...new Uint8Array(await res.arrayBuffer())], [0, 1, 2, 255]);
  });

  await t.test('lambda handler: binary request body arrives base64-encoded', async () => {
    const ev = (await (
      await fetch(`${url}/function/lambda/event`, {
        method: 'POST',
        body: new Uint8Array([0, 1, 255]),
        headers: { 'content-type': 'application/octet-stream' },
      })
    ).json()) as any;
    assert.equal(ev.event.body, 'AAH/');
    assert.equal(ev.event.isBase64Encoded, true);
  });

  await t.test('binary bodies pass through byte for byte', async () => {
    const bytes = new Uint8Array(40_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) % 256;
    const res = await fetch(`${url}/function/binary`, { method: 'POST', body: bytes });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('x-length'), '40000');
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
  });

  await t.test('streamed responses arrive chunk by chunk', async () => {
    const started = Date.now();
    const res = await fetch(`${url}/function/stream`);
    const reader = res.body!.getReader();
    const arrivals: number[] = [];
    let text = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      arrivals.push(Date.now() - started);
      text += Buffer.from(value).toString();
    }
    assert.equal(text, 'chunk 0\nchunk 1\nchunk 2\n');
    assert.ok(arrivals.length >= 2, 'more than one read');
    assert.ok(arrivals[arrivals.length - 1]! - arrivals[0]! >= 200, `chunks spread over time: ${arrivals}`);
  });

  await t.test('a handler that throws gives 500 with its message and no stack', async () => {
    const res = await fetch(`${url}/function/throws`);
    assert.equal(res.status, 500);
    const body = (await res.json()) as any;
    assert.equal(body.error.code, 'ERR_HANDLER_FAILED');
    assert.match(body.error.message, /boom: the handler failed/);
    assert.equal(body.error.stack, undefined);
  });

  await t.test('a handler past its timeout gives 504, its instance is replaced', async () => {
    const before = await (await fetch(`${url}/function/hangs/ok`)).text();
    const res = await fetch(`${url}/function/hangs/hang`);
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as any).error.code, 'ERR_HANDLER_TIMEOUT');
    const after = await (await fetch(`${url}/function/hangs/ok`)).text();
    assert.match(after, /^alive \d+$/);
    assert.notEqual(after, before, 'a new instance (new pid) serves after the timeout');
    const oldPid = Number(before.split(' ')[1]);
    await waitFor(() => !runnerChildren().includes(oldPid), 2000, 'the timed-out instance to be gone');
  });

  await t.test('a crash fails only the requests on that instance with 502', async () => {
    const okBefore = await fetch(`${url}/function/exits/ok`);
    assert.equal(okBefore.status, 200);
    const res = await fetch(`${url}/function/exits/exit`);
    assert.equal(res.status, 502);
    assert.equal(((await res.json()) as any).error.code, 'ERR_INSTANCE_CRASHED');
    const again = await fetch(`${url}/function/exits/ok`);
    assert.equal(again.status, 200);
  });

  await t.test('unknown function 404, invalid names 400', async () => {
    let res = await fetch(`${url}/function/nope`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as any).error.code, 'ERR_FUNCTION_NOT_FOUND');
    for (const bad of ['..%2Fx', 'UPPER', 'a'.repeat(64), 'x_y', '-x']) {
      res = await fetch(`${url}/function/${bad}`);
      assert.equal(res.status, 400, bad);
      assert.equal(((await res.json()) as any).error.code, 'ERR_FUNCTION_NAME_INVALID');
    }
    res = await fetch(`${url}/function/`);
    assert.equal(res.status, 400);
  });

  await t.test('bodies over the limit get 413, declared or streamed', async () => {
    let res = await fetch(`${url}/function/binary`, { method: 'POST', body: new Uint8Array(64 * 1024 + 1) });
    assert.equal(res.status, 413);
    assert.equal(((await res.json()) as any).error.code, 'ERR_REQUEST_BODY_TOO_LARGE');
    // Chunked, no content-length: counted as it streams.
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${url}/function/binary`, { method: 'POST' }, (r) => {
        r.resume();
        resolve(r.statusCode!);
      });
      req.on('error', reject);
      const chunk = Buffer.alloc(16 * 1024, 1);
      let sent = 0;
      const pump = () => {
        while (sent < 10 && req.write(chunk)) sent++;
        if (sent < 10) req.once('drain', pump);
        else req.end();
      };
      pump();
    });
    assert.equal(status, 413);
    res = await fetch(`${url}/function/hello`, { method: 'POST', body: 'still fine' });
    assert.equal(res.status, 200);
  });
});
