// A red-team sweep of the gateway's HTTP surface, as an anonymous client or the holder of a weak key: JSON
// that hurts what walks it, what a credential may learn of namespaces it does not reach, and malformed framing
// after a request has started. Each attempt answers one coded error and the gateway keeps serving.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { deployTo, startNimbusProcess } from '../helpers/nimbus-process.js';
import { startTestPlatform, waitFor } from '../helpers/platform.js';
import { errorCode, rawRequest } from '../helpers/raw-http.js';

/** `depth` nested arrays around `inner`. */
const nested = (depth: number, inner = '1') => `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;

test('the gateway against hostile HTTP', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url, platform, client } = nimbus;
  await nimbus.deploy('echo');
  const admin = `Bearer ${platform.token}`;
  const adminBasic = `Basic ${Buffer.from(`admin:${platform.token}`).toString('base64')}`;
  const healthy = async () => {
    const res = await fetch(`${url}/function/echo`, { method: 'POST', body: 'still here' });
    assert.equal(res.status, 200, 'the gateway still serves a function');
  };
  const send = async (method: string, path: string, body: string, authorization?: string) => {
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
      body,
    });
    return { status: res.status, text: await res.text() };
  };

  await t.test('JSON nested thousands deep is a coded 400 wherever JSON is read, never a 500', async () => {
    const { bundle, spec } = await client.get('echo');
    const specJson = JSON.stringify({ ...spec, schedule: '@yearly' });
    // A web action anyone may call, and a trigger with a rule: the paths that serialise what the client sent.
    const action = await send(
      'PUT',
      '/api/v1/namespaces/_/actions/web?overwrite=true',
      JSON.stringify({
        exec: { kind: 'nodejs:20', code: 'function main(p) { return { body: "ok" }; }' },
        annotations: [{ key: 'web-export', value: true }],
      }),
      adminBasic,
    );
    assert.equal(action.status, 200, action.text);
    assert.equal(
      (await send('PUT', '/api/v1/namespaces/_/triggers/tr?overwrite=true', '{}', adminBasic)).status,
      200,
    );
    const rule = await send(
      'PUT',
      '/api/v1/namespaces/_/rules/ru?overwrite=true',
      JSON.stringify({ trigger: '/_/tr', action: '/_/web' }),
      adminBasic,
    );
    assert.equal(rule.status, 200, rule.text);

    const cases: {
      name: string;
      method: string;
      path: string;
      body: (deep: string) => string;
      auth?: string;
    }[] = [
      {
        name: 'a scheduled payload in a deploy (zod walks it)',
        method: 'PUT',
        path: '/api/v1/functions/deep',
        body: (deep) => `{"bundle":"${bundle}","spec":${specJson.slice(0, -1)},"payload":${deep}}}`,
        auth: admin,
      },
      {
        name: "an OpenWhisk action's parameter",
        method: 'PUT',
        path: '/api/v1/namespaces/_/actions/deep?overwrite=true',
        body: (deep) =>
          `{"exec":{"kind":"nodejs:20","code":"function main(){return {}}"},"parameters":[{"key":"a","value":${deep}}]}`,
        auth: adminBasic,
      },
      {
        name: 'OpenWhisk invoke params',
        method: 'POST',
        path: '/api/v1/namespaces/_/actions/web?blocking=true',
        body: (deep) => `{"a":${deep}}`,
        auth: adminBasic,
      },
      {
        name: 'a fired trigger',
        method: 'POST',
        path: '/api/v1/namespaces/_/triggers/tr',
        body: (deep) => `{"a":${deep}}`,
        auth: adminBasic,
      },
      {
        name: 'a web action, anonymously',
        method: 'POST',
        path: '/api/v1/web/_/default/web.json',
        body: (deep) => `{"a":${deep}}`,
      },
      {
        name: 'a control API body',
        method: 'POST',
        path: '/api/v1/keys',
        body: (deep) => `{"scope":"read","description":${deep}}`,
        auth: admin,
      },
    ];
    for (const c of cases) {
      const deep = await send(c.method, c.path, c.body(nested(20_000)), c.auth);
      assert.equal(deep.status, 400, `${c.name}: ${deep.status} ${deep.text.slice(0, 300)}`);
      assert.match(deep.text, /ERR_(OPENWHISK_)?REQUEST_INVALID/, c.name);
      assert.match(deep.text, /nested deeper than 128/, `${c.name}: the answer says what is wrong`);
    }
    // Nesting a real document has passes.
    const moderate = await send('POST', '/api/v1/web/_/default/web.json', `{"a":${nested(100)}}`);
    assert.equal(moderate.status, 200, moderate.text);
    const brackets = await send('POST', '/api/v1/web/_/default/web.json', `{"a":"${'['.repeat(5000)}"}`);
    assert.equal(brackets.status, 200, `brackets inside a string are text: ${brackets.text}`);
    assert.ok(
      !nimbus.events.some((e) => e.type === 'internal-error'),
      `no internal error: ${JSON.stringify(nimbus.events.filter((e) => e.type === 'internal-error')).slice(0, 600)}`,
    );
    await healthy();
  });

  await t.test(
    'a Nimbus credential in a second Authorization header, or under any scheme, never reaches a function',
    async () => {
      await nimbus.deploy('echo', 'vault', { private: true });
      const key = await client.call<{ id: string; secret: string }>('POST', '/api/v1/keys', {
        scope: 'invoke',
        functions: ['vault'],
      });
      const twice = (path: string, first: string, second: string) =>
        rawRequest(
          url,
          `GET ${path} HTTP/1.1\r\nHost: a\r\nAuthorization: ${first}\r\nAuthorization: ${second}\r\nConnection: close\r\n\r\n`,
        );
      for (const [first, second] of [
        ['Bearer an-app-jwt', admin],
        [admin, 'Bearer an-app-jwt'],
        ['Basic YWxpY2U6cHc=', `Bearer ${key.secret}`],
      ] as const) {
        const res = await twice('/function/echo', first, second);
        assert.equal(res.status, 200, res.body.toString());
        const seen = JSON.parse(res.body.toString()) as { headers: Record<string, string> };
        const passed = seen.headers.authorization ?? '';
        assert.ok(
          !passed.includes(platform.token) && !passed.includes(key.secret),
          `a credential reached the function: ${passed}`,
        );
      }
      // Two headers prove nothing: not a private function's key, not the admin token.
      const vault = await twice('/function/vault', `Bearer ${key.secret}`, 'Bearer other');
      assert.equal(vault.status, 401, vault.body.toString());
      assert.equal(errorCode(vault), 'ERR_FUNCTION_PRIVATE');
      const control = await twice('/api/v1/functions', admin, admin);
      assert.equal(control.status, 401, control.body.toString());
      assert.equal(errorCode(control), 'ERR_AUTH_INVALID');

      // A Nimbus secret under another scheme, spacing or encoding is consumed too.
      const b64 = (s: string) => Buffer.from(s).toString('base64');
      const b64url = (s: string) => Buffer.from(s).toString('base64url');
      for (const authorization of [
        `Bearer\t${platform.token}`,
        `Token ${platform.token}`,
        platform.token,
        `Basic ${b64url(`admin:${platform.token}`)}`,
        `Basic ${b64url(`${key.id}:${key.secret}`)}`,
        `Basic ${b64(key.secret)}`,
        `Basic ${b64('alice:nmbk_notakeynotakeynotakey')}`,
        `Digest username="x", response="${key.secret}"`,
      ]) {
        const res = await rawRequest(
          url,
          `GET /function/echo HTTP/1.1\r\nHost: a\r\nAuthorization: ${authorization}\r\nConnection: close\r\n\r\n`,
        );
        assert.equal(res.status, 200, res.body.toString());
        const seen = JSON.parse(res.body.toString()) as { headers: Record<string, string> };
        assert.equal(
          seen.headers.authorization,
          undefined,
          `${authorization.slice(0, 14)}… reached the function`,
        );
      }
      // An app's own token that merely holds the letters passes.
      const jwt = 'Bearer eyJhbGciOi.eyJzdWIiOnmb_abcdefghijklmnopqrstuv.c2ln';
      const own = await rawRequest(
        url,
        `GET /function/echo HTTP/1.1\r\nHost: a\r\nAuthorization: ${jwt}\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(
        (JSON.parse(own.body.toString()) as { headers: Record<string, string> }).headers.authorization,
        jwt,
      );
    },
  );

  await t.test('Expect: 100-continue invites the body only once a handler reads it', async () => {
    const expect = (method: string, path: string, length: number, extra = '') =>
      `${method} ${path} HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: ${length}\r\n${extra}\r\n`;
    // Refused before the body: the final answer comes first, no 100, and the connection closes.
    for (const [request, status] of [
      [expect('POST', '/api/v1/keys', 10), 401],
      [expect('POST', '/async-function/echo', 50 * 1024 * 1024), 413],
      [expect('POST', '/function/echo', 50 * 1024 * 1024), 413],
      [expect('PUT', `/api/v1/bundles/${'a'.repeat(64)}`, 10), 401],
      [expect('POST', '/2015-03-31/functions/echo/invocations', 10), 403],
      [expect('POST', '/api/v1/namespaces/_/actions/echo', 10), 401],
    ] as const) {
      const res = await rawRequest(url, request);
      assert.equal(res.status, status, `${request.split('\r\n')[0]}: ${res.status} ${res.body}`);
      assert.equal(res.headers.connection, 'close');
    }
    // Read: 100 Continue, then the body, then the answer.
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    t.after(() => socket.destroy());
    let received = '';
    const arrived = (what: RegExp) =>
      new Promise<void>((resolve, reject) => {
        const check = () => {
          if (what.test(received)) {
            socket.off('data', onData);
            resolve();
          }
        };
        const onData = (chunk: Buffer) => {
          received += chunk.toString('latin1');
          check();
        };
        socket.on('data', onData);
        socket.once('close', () => reject(new Error(`closed before ${what}: ${received}`)));
        check();
      });
    socket.write(expect('POST', '/function/echo', 5, `Authorization: ${admin}\r\n`));
    await arrived(/^HTTP\/1\.1 100 Continue\r\n\r\n/);
    socket.write('hello');
    await arrived(/"body":"hello"/);
    assert.match(received, /HTTP\/1\.1 200 OK/);
  });

  await t.test('a body refused part-way is not drained for as long as the client streams it', async () => {
    const port = Number(new URL(url).port);
    /** Streams chunks of 64 KiB until the server closes the connection; resolves with the bytes sent and what came back. */
    const streamUntilClosed = (head: string, maxBytes: number) =>
      new Promise<{ sent: number; answer: string }>((resolve) => {
        const socket = connect(port, '127.0.0.1');
        let answer = '';
        let sent = 0;
        let closed = false;
        socket.on('data', (chunk: Buffer) => {
          answer += chunk.toString('latin1');
        });
        socket.on('error', () => {});
        socket.on('close', () => {
          closed = true;
          resolve({ sent, answer });
        });
        const chunk = Buffer.alloc(64 * 1024, 'a');
        const frame = Buffer.concat([
          Buffer.from(`${chunk.length.toString(16)}\r\n`),
          chunk,
          Buffer.from('\r\n'),
        ]);
        socket.write(`${head}Transfer-Encoding: chunked\r\n\r\n`);
        const pump = () => {
          while (!closed && sent < maxBytes) {
            sent += chunk.length;
            if (!socket.write(frame)) {
              socket.once('drain', pump);
              return;
            }
          }
          if (sent >= maxBytes) socket.destroy();
        };
        pump();
      });
    const maxBytes = 96 * 1024 * 1024;
    for (const [head, status] of [
      ['POST /function/echo HTTP/1.1\r\nHost: a\r\n', 413],
      ['POST /async-function/echo HTTP/1.1\r\nHost: a\r\n', 413],
      ['POST /api/v1/web/_/default/web.json HTTP/1.1\r\nHost: a\r\n', 413],
      [`POST /api/v1/keys HTTP/1.1\r\nHost: a\r\nAuthorization: ${admin}\r\n`, 413],
      [`PUT /api/v1/bundles/${'a'.repeat(64)} HTTP/1.1\r\nHost: a\r\nAuthorization: ${admin}\r\n`, 400],
    ] as const) {
      const { sent, answer } = await streamUntilClosed(head, maxBytes);
      const what = head.split('\r\n')[0];
      assert.ok(sent < maxBytes, `${what}: the gateway read ${sent / 1024 / 1024} MiB and kept reading`);
      assert.match(answer, new RegExp(`^HTTP/1\\.1 ${status} `), `${what}: ${answer.slice(0, 200)}`);
    }
    await healthy();
  });

  await t.test(
    'framing refused after a handler took the request, and CONNECT, get a coded answer',
    async () => {
      const head = (method: string, path: string, extra = '') =>
        `${method} ${path} HTTP/1.1\r\nHost: a\r\nAuthorization: ${admin}\r\n${extra}`;
      const cases: [string, string, number][] = [
        [
          'a Transfer-Encoding that does not end in chunked',
          `${head('POST', '/function/echo')}Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
          400,
        ],
        [
          'a bad chunk size to a function',
          `${head('POST', '/function/echo')}Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n`,
          400,
        ],
        [
          'a chunk size past 2^64',
          `${head('POST', '/function/echo')}Transfer-Encoding: chunked\r\n\r\n${'f'.repeat(20)}\r\nhello\r\n`,
          400,
        ],
        [
          'a bare LF in the body framing',
          `${head('POST', '/function/echo')}Transfer-Encoding: chunked\r\n\r\n5\nhello\n0\n\n`,
          400,
        ],
        [
          'a bad chunk to an async call',
          `${head('POST', '/async-function/echo')}Transfer-Encoding: chunked\r\n\r\nzz\r\n`,
          400,
        ],
        [
          'a bad chunk to a control route',
          `${head('POST', '/api/v1/keys')}Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\nzz\r\n`,
          400,
        ],
        ['CONNECT to a host', 'CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1:22\r\n\r\n', 405],
        ['CONNECT to a path', 'CONNECT /function/echo HTTP/1.1\r\nHost: a\r\n\r\n', 405],
      ];
      for (const [what, request, status] of cases) {
        const res = await rawRequest(url, request);
        assert.equal(res.status, status, `${what}: ${res.status} ${res.body}`);
        assert.match(
          errorCode(res) ?? '',
          /^ERR_(REQUEST_INVALID|METHOD_NOT_ALLOWED)$/,
          `${what}: ${res.body}`,
        );
        assert.equal(res.headers.connection, 'close', what);
      }
      await healthy();
    },
  );
});

test('a key learns nothing of a namespace it does not reach, not even whether it exists', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url, platform } = nimbus;
  for (const name of ['team-a', 'team-b']) await nimbus.client.call('POST', '/api/v1/namespaces', { name });
  const key = await nimbus.client.call<{ id: string; secret: string }>('POST', '/api/v1/keys', {
    scope: 'deploy',
    namespace: 'team-a',
  });
  const bearer = `Bearer ${key.secret}`;
  const basic = `Basic ${Buffer.from(`${key.id}:${key.secret}`).toString('base64')}`;
  const probes: [string, (ns: string) => string, string][] = [
    ['GET', (ns) => `/api/v1/namespaces/${ns}`, bearer],
    ['GET', (ns) => `/api/v1/functions?namespace=${ns}`, bearer],
    ['GET', (ns) => `/api/v1/functions/fn?namespace=${ns}`, bearer],
    ['GET', (ns) => `/api/v1/secrets?namespace=${ns}`, bearer],
    ['GET', (ns) => `/system/functions?namespace=${ns}`, bearer],
    ['GET', (ns) => `/system/function/fn?namespace=${ns}`, bearer],
    ['GET', (ns) => `/system/namespace/${ns}`, bearer],
    ['GET', (ns) => `/system/logs?name=fn&namespace=${ns}`, bearer],
    ['GET', (ns) => `/api/v1/namespaces/${ns}/actions`, basic],
    ['GET', (ns) => `/api/v1/namespaces/${ns}/actions/fn`, basic],
    ['GET', (ns) => `/api/v1/namespaces/${ns}/triggers`, basic],
  ];
  const differences: string[] = [];
  for (const [method, path, authorization] of probes) {
    const answers = [];
    for (const ns of ['team-b', 'team-zz']) {
      const res = await fetch(`${url}${path(ns)}`, { method, headers: { authorization } });
      const text = (await res.text()).replaceAll(ns, 'NS');
      answers.push(`${res.status} ${text}`);
    }
    if (answers[0] !== answers[1] || !answers[0]!.startsWith('403 '))
      differences.push(`${method} ${path('NS')}: existing ${answers[0]} / missing ${answers[1]}`);
  }
  assert.deepEqual(differences, [], 'the same 403 for a namespace that exists and one that does not');
  // The admin token, which reaches every namespace, is told which do not exist.
  const res = await fetch(`${url}/api/v1/namespaces/team-zz`, {
    headers: { authorization: `Bearer ${platform.token}` },
  });
  assert.equal(res.status, 404);
  const ow = await fetch(`${url}/api/v1/namespaces/team-zz/actions`, {
    headers: { authorization: `Basic ${Buffer.from(`admin:${platform.token}`).toString('base64')}` },
  });
  assert.equal(ow.status, 404);
  assert.match(await ow.text(), /ERR_OPENWHISK_NAMESPACE_UNKNOWN/);
});

test('bodies held whole share one budget: clients that stall mid-body cannot grow the gateway without bound', async (t) => {
  const nimbus = await startTestPlatform(t, { bufferedBodiesMaxBytes: 1024 * 1024 });
  const { url, client } = nimbus;
  await nimbus.deploy('echo');
  const web = await fetch(`${url}/api/v1/namespaces/_/actions/web?overwrite=true`, {
    method: 'PUT',
    headers: {
      authorization: `Basic ${Buffer.from(`admin:${nimbus.platform.token}`).toString('base64')}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      exec: { kind: 'nodejs:20', code: 'function main(p) { return { body: "ok" }; }' },
      annotations: [{ key: 'web-export', value: true }],
    }),
  });
  assert.equal(web.status, 200, await web.text());
  const key = await client.call<{ id: string; secret: string }>('POST', '/api/v1/keys', {
    scope: 'invoke',
    functions: ['echo'],
  });
  const lambda = new LambdaClient({
    endpoint: url,
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: key.id, secretAccessKey: key.secret },
  });
  t.after(() => lambda.destroy());

  // Anonymous clients each send most of an async call's body, then stall: together they fill the budget.
  const stalled = Array.from({ length: 3 }, () => {
    const socket = connect(Number(new URL(url).port), '127.0.0.1');
    socket.on('error', () => {});
    socket.write(`POST /async-function/echo HTTP/1.1\r\nHost: a\r\nContent-Length: ${1000 * 1024}\r\n\r\n`);
    socket.write(Buffer.alloc(330 * 1024, 'a'));
    return socket;
  });
  t.after(() => {
    for (const socket of stalled) socket.destroy();
  });
  await waitFor(
    () => nimbus.platform.bufferedBodyBytes === 3 * 330 * 1024,
    30_000,
    'the gateway to hold what the stalled clients sent',
  );
  // Small enough to arrive whole before it is refused (no unread bytes for the close to reset), large
  // enough to pass what is left of the budget.
  const body = 'b'.repeat(40 * 1024);
  const refused = await rawRequest(
    url,
    `POST /async-function/echo HTTP/1.1\r\nHost: a\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
  );
  assert.equal(refused.status, 429, refused.body.toString());
  assert.equal(errorCode(refused), 'ERR_REQUEST_BODIES_FULL');
  assert.equal(refused.headers['retry-after'], '1');
  const webRefused = await fetch(`${url}/api/v1/web/_/default/web.json`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ a: body }),
  });
  assert.equal(webRefused.status, 429, 'a web action, anonymously');
  assert.equal(((await webRefused.json()) as { code: string }).code, 'ERR_REQUEST_BODIES_FULL');
  await assert.rejects(
    lambda.send(
      new InvokeCommand({ FunctionName: 'echo', Payload: Buffer.from(JSON.stringify({ a: body })) }),
    ),
    (err: Error) => err.name === 'TooManyRequestsException',
    'a Lambda Invoke with a weak key',
  );
  // Small requests and the invoke path (streamed, never held whole) still go through.
  assert.equal((await fetch(`${url}/function/echo`, { method: 'POST', body })).status, 200);
  // The stalled clients go away: their share comes back.
  for (const socket of stalled) socket.destroy();
  await waitFor(() => nimbus.platform.bufferedBodyBytes === 0, 30_000, 'the budget to come back');
  assert.equal((await fetch(`${url}/async-function/echo`, { method: 'POST', body })).status, 202);
});

test('`nimbus up` prints the details of a 500 whose answer says the platform log has them, and no secret', async (t) => {
  const nimbus = await startNimbusProcess(t, ['--sandbox', 'off', '--access-log']);
  await deployTo(nimbus.client, 'echo', 'echo');
  const key = await nimbus.client.call<{ secret: string }>('POST', '/api/v1/keys', { scope: 'invoke' });
  // A secret in a query (Azure's `code=` carries a function key so) never reaches the log.
  assert.equal((await fetch(`${nimbus.url}/function/echo?code=${key.secret}&x=${nimbus.token}`)).status, 200);
  // The bundle store's directory becomes a file: storing an upload fails below the handler.
  const bundles = join(nimbus.dataDir, 'bundles');
  rmSync(bundles, { recursive: true, force: true });
  writeFileSync(bundles, 'not a directory');
  const res = await fetch(`${nimbus.url}/api/v1/bundles/${'a'.repeat(64)}?k=${key.secret}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${nimbus.token}` },
    body: Buffer.from('whatever'),
  });
  assert.equal(res.status, 500);
  const { error } = (await res.json()) as { error: { code: string; message: string } };
  assert.match(error.message, /the platform log has the details/);
  const ref = /ref ([0-9a-f]{8})/.exec(error.message)![1]!;
  const logged = await waitFor(
    () => {
      const out = nimbus.output();
      const at = out.indexOf(`ref ${ref}`);
      return at === -1 ? undefined : out.slice(at);
    },
    20_000,
    `the reference ${ref} in the output of nimbus up`,
  );
  assert.match(logged, /PUT \/api\/v1\/bundles\//, 'with the request');
  assert.match(logged, /\n\s+at /, 'and the stack');
  await waitFor(
    () => nimbus.output().includes('"GET /function/echo?code=<secret>&x=<secret>" 200'),
    20_000,
    'the access log line',
  );
  assert.ok(!nimbus.output().includes(key.secret), 'a key secret is in the output');
  assert.ok(
    !nimbus.output().slice(nimbus.output().indexOf('nimbus: ready')).includes(nimbus.token),
    'the admin token is in the output',
  );
});
