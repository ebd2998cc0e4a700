// The OpenFaaS gateway API over HTTP with the requests faas-cli makes (method, path, headers, JSON bodies),
// and an OpenFaaS project (stack.yml with a node20 and a python3-http function) deployed by the real
// `nimbus deploy -f stack.yml` and invoked as OpenFaaS users do.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { startTestPlatform, waitFor } from '../helpers/platform.js';

type Json = any;

const BIN = new URL('../../bin/nimbus.js', import.meta.url).pathname;

function nimbus(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd, env: { PATH: process.env.PATH }, timeout: 120_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

const STACK = `version: 1.0
provider:
  name: openfaas
  gateway: http://127.0.0.1:8080
functions:
  node-fn:
    lang: node20
    handler: ./node-fn
    image: registry.example/node-fn:latest
    environment:
      GREETING: \${GREETING_FROM_ENV:-hello}
      write_timeout: 10s
      exec_timeout: 10s
    environment_file:
      - env.yml
    labels:
      com.openfaas.scale.min: "1"
    annotations:
      topic: orders
    limits:
      memory: 128Mi
  py-fn:
    lang: python3-http
    handler: ./py-fn
    image: registry.example/py-fn:latest
`;

const NODE_HANDLER = `'use strict'

module.exports = async (event, context) => {
  console.log('node-fn called ' + event.method + ' ' + event.path)
  if (event.path === '/fail') throw new Error('node says no')
  if (event.path === '/status') {
    return context
      .status(201)
      .headers({ 'Content-Type': 'application/json', 'X-Custom': 'yes' })
      .succeed({ ok: true })
  }
  return {
    greeting: process.env.GREETING,
    fromFile: process.env.FROM_FILE,
    body: event.body,
    method: event.method,
    path: event.path,
    query: event.query,
    contentType: event.headers['content-type'],
    timeoutEnv: process.env.exec_timeout,
  }
}
`;

const PY_HANDLER = `def handle(event, context):
    return {
        "statusCode": 200,
        "body": {"py": event.body.decode(), "path": event.path, "method": event.method, "q": event.query.get("q")},
    }
`;

test('the OpenFaaS API, as faas-cli calls it', async (t) => {
  const nimbusPlatform = await startTestPlatform(t);
  const { url, platform } = nimbusPlatform;
  const basic = `Basic ${Buffer.from(`admin:${platform.token}`).toString('base64')}`;
  // faas-cli is a Go program: Go's client sends its User-Agent and, for JSON bodies, no Content-Type.
  const faas = (method: string, path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method,
      headers: { authorization: basic, 'user-agent': 'Go-http-client/1.1', ...headers },
      ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
    });

  const project = mkdtempSync(join(tmpdir(), 'nimbus-openfaas-'));
  t.after(() => rmSync(project, { recursive: true, force: true }));
  mkdirSync(join(project, 'node-fn'));
  mkdirSync(join(project, 'py-fn'));
  writeFileSync(join(project, 'stack.yml'), STACK);
  writeFileSync(join(project, 'env.yml'), 'environment:\n  FROM_FILE: yes-from-file\n');
  writeFileSync(join(project, 'node-fn', 'handler.js'), NODE_HANDLER);
  writeFileSync(
    join(project, 'node-fn', 'package.json'),
    '{"name":"openfaas-function","version":"1.0.0","main":"handler.js"}\n',
  );
  writeFileSync(join(project, 'py-fn', 'handler.py'), PY_HANDLER);

  await t.test(
    'faas-cli login: Basic auth (admin + the admin token) or the bearer token; 401 otherwise',
    async () => {
      let res = await faas('GET', '/system/functions');
      assert.equal(res.status, 200);
      assert.deepEqual(await res.json(), []);
      res = await fetch(`${url}/system/functions`, {
        headers: { authorization: `Bearer ${platform.token}` },
      });
      assert.equal(res.status, 200);
      res = await fetch(`${url}/system/functions`, {
        headers: { authorization: `Basic ${Buffer.from('admin:wrong').toString('base64')}` },
      });
      assert.equal(res.status, 401);
      assert.match(res.headers.get('www-authenticate') ?? '', /^Basic /);
      assert.match(await res.text(), /^ERR_AUTH_INVALID: /);
      res = await fetch(`${url}/system/info`);
      assert.equal(res.status, 401);
      res = await fetch(`${url}/system/functions`, {
        headers: { authorization: `Basic ${Buffer.from(`root:${platform.token}`).toString('base64')}` },
      });
      assert.equal(res.status, 401, 'only the user admin');
    },
  );

  await t.test('/system/info, /system/namespaces, /healthz', async () => {
    const info = (await (await faas('GET', '/system/info')).json()) as Json;
    assert.equal(info.provider.provider, 'nimbus');
    assert.equal(info.version.release, '0.1.0');
    assert.ok(info.arch);
    assert.deepEqual(await (await faas('GET', '/system/namespaces')).json(), ['openfaas-fn']);
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
  });

  await t.test(
    'nimbus deploy -f stack.yml builds node20 and python3-http natively and deploys them',
    async () => {
      const run = await nimbus(
        ['deploy', '-f', 'stack.yml', '--url', url, '--token', platform.token],
        project,
      );
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /deployed node-fn v1: .*\/function\/node-fn/);
      assert.match(run.stdout, /deployed py-fn v1: .*\/function\/py-fn/);
    },
  );

  await t.test('an unknown lang is a coded error that lists the supported ones', async () => {
    writeFileSync(
      join(project, 'go.yml'),
      'functions:\n  go-fn:\n    lang: golang-middleware\n    handler: ./node-fn\n',
    );
    const run = await nimbus(['deploy', '-f', 'go.yml', '--url', url, '--token', platform.token], project);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^ERR_STACK_LANG_UNSUPPORTED: .*golang-middleware.*node20.*python3-http/m);
  });

  await t.test('the node20 handler gets the template event and its context maps back', async () => {
    let res = await fetch(`${url}/function/node-fn`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"x":1}',
    });
    assert.equal(res.status, 200);
    assert.ok(res.headers.get('x-call-id'));
    assert.match(res.headers.get('x-start-time') ?? '', /^\d{19}$/);
    assert.match(res.headers.get('x-duration-seconds') ?? '', /^\d+\.\d+$/);
    const body = (await res.json()) as Json;
    assert.equal(body.greeting, 'hello');
    assert.equal(body.fromFile, 'yes-from-file');
    assert.deepEqual(body.body, { x: 1 });
    assert.equal(body.method, 'POST');
    assert.equal(body.path, '/');
    assert.equal(body.contentType, 'application/json');

    // faas-cli invoke: text/plain by default, the namespace as a suffix, extra path and query passed on.
    res = await fetch(`${url}/function/node-fn.openfaas-fn/sub?a=1&a=2`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'user-agent': 'Go-http-client/1.1' },
      body: 'hi',
    });
    const sub = (await res.json()) as Json;
    assert.equal(sub.body, 'hi');
    assert.equal(sub.path, '/sub');
    assert.deepEqual(sub.query, { a: ['1', '2'] });

    res = await fetch(`${url}/function/node-fn/status`);
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('x-custom'), 'yes');
    assert.deepEqual(await res.json(), { ok: true });

    res = await fetch(`${url}/function/node-fn/fail`, { method: 'POST', body: '' });
    assert.equal(res.status, 500);
    assert.equal(await res.text(), 'Error: node says no');

    res = await fetch(`${url}/function/node-fn.other-ns`);
    assert.equal(res.status, 404);
    assert.equal(((await res.json()) as Json).error.code, 'ERR_NAMESPACE_NOT_FOUND');
  });

  await t.test('stack.yml keys became spec keys: watchdog timeout, limits, labels', async () => {
    const fn = await nimbusPlatform.client.get('node-fn');
    const spec = fn.spec as Json;
    assert.equal(spec.timeoutMs, 10_000);
    assert.equal(spec.memoryMb, 128);
    assert.equal(spec.scale.min, 1);
    assert.equal(spec.handlerStyle, 'openfaas');
  });

  await t.test('the python3-http handler is served', async () => {
    const res = await fetch(`${url}/function/py-fn/x?q=1`, { method: 'PUT', body: 'data' });
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { py: 'data', path: '/x', method: 'PUT', q: '1' });
  });

  await t.test('/async-function answers 202 with X-Call-Id and X-Start-Time, and calls back', async () => {
    const received: { headers: IncomingHttpHeaders; body: string }[] = [];
    const target = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        received.push({ headers: req.headers, body });
        res.end();
      });
    });
    await new Promise<void>((resolve) => target.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => target.close(() => resolve())));
    const callbackUrl = `http://127.0.0.1:${(target.address() as AddressInfo).port}/done`;
    const res = await fetch(`${url}/async-function/node-fn.openfaas-fn`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain', 'x-callback-url': callbackUrl },
      body: 'later',
    });
    assert.equal(res.status, 202);
    const callId = res.headers.get('x-call-id');
    assert.ok(callId);
    assert.match(res.headers.get('x-start-time') ?? '', /^\d{19}$/);
    await waitFor(() => received.length > 0, 10_000, 'the callback');
    assert.equal(received[0]!.headers['x-call-id'], callId);
    assert.equal(received[0]!.headers['x-function-status'], '200');
    assert.equal(received[0]!.headers['x-function-name'], 'node-fn');
    assert.ok(received[0]!.headers['x-duration-seconds']);
    assert.equal(JSON.parse(received[0]!.body).body, 'later');
  });

  await t.test('GET /system/functions and /system/function/{name}: FunctionStatus', async () => {
    const list = (await (await faas('GET', '/system/functions')).json()) as Json[];
    assert.deepEqual(list.map((f: Json) => f.name).sort(), ['node-fn', 'py-fn']);
    const node = list.find((f) => f.name === 'node-fn');
    assert.equal(node.image, 'registry.example/node-fn:latest');
    assert.equal(node.namespace, 'openfaas-fn');
    assert.equal(node.envVars.GREETING, 'hello');
    assert.equal(node.labels['com.openfaas.scale.min'], '1');
    assert.deepEqual(node.annotations, { topic: 'orders' });
    assert.equal(node.limits.memory, '128Mi');
    assert.deepEqual(node.secrets, []);
    assert.ok(node.replicas >= 1);
    assert.ok(node.availableReplicas >= 1);
    assert.ok(node.invocationCount >= 4);
    assert.ok(!Number.isNaN(Date.parse(node.createdAt)));
    for (const key of ['envProcess', 'requests', 'constraints']) assert.ok(key in node, key);
    const one = (await (await faas('GET', '/system/function/py-fn?namespace=openfaas-fn')).json()) as Json;
    assert.equal(one.name, 'py-fn');
    const missing = await faas('GET', '/system/function/nope');
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /^ERR_FUNCTION_NOT_FOUND: /);
  });

  await t.test('faas-cli deploy: PUT an update (same image), 404 for a new function, then POST', async () => {
    const deployment = {
      service: 'node-fn',
      image: 'registry.example/node-fn:latest',
      envProcess: '',
      envVars: { GREETING: 'hi again', FROM_FILE: 'x' },
      labels: { 'com.openfaas.scale.min': '1' },
      annotations: { topic: 'orders' },
      limits: { memory: '256Mi' },
    };
    let res = await faas('PUT', '/system/functions', deployment);
    assert.equal(res.status, 200);
    let body = (await (await fetch(`${url}/function/node-fn`, { method: 'POST', body: '' })).json()) as Json;
    assert.equal(body.greeting, 'hi again');
    assert.equal(((await nimbusPlatform.client.get('node-fn')).spec as Json).memoryMb, 256);

    res = await faas('PUT', '/system/functions', { ...deployment, service: 'node-copy', image: 'node-fn' });
    assert.equal(res.status, 404);
    res = await faas('POST', '/system/functions', { ...deployment, service: 'node-copy', image: 'node-fn' });
    assert.equal(res.status, 202);
    body = (await (await fetch(`${url}/function/node-copy`, { method: 'POST', body: '' })).json()) as Json;
    assert.equal(body.greeting, 'hi again');

    const py = await nimbusPlatform.client.get('py-fn');
    res = await faas('POST', '/system/functions', { service: 'py-copy', image: `sha256:${py.bundle}` });
    assert.equal(res.status, 202);
    res = await fetch(`${url}/function/py-copy`, { method: 'POST', body: 'copy' });
    assert.equal(((await res.json()) as Json).py, 'copy');

    res = await faas('POST', '/system/functions', { service: 'ghost', image: 'docker.io/library/ghost:1' });
    assert.equal(res.status, 400);
    assert.match(await res.text(), /^ERR_OPENFAAS_IMAGE_UNKNOWN: /);
    res = await faas('POST', '/system/functions', { service: 'sec', image: 'node-fn', secrets: ['api-key'] });
    assert.equal(res.status, 404);
    assert.match(await res.text(), /^ERR_SECRET_NOT_FOUND: /);
    res = await faas('POST', '/system/functions', { service: 'other', image: 'node-fn', namespace: 'dev' });
    assert.equal(res.status, 404);
    assert.match(await res.text(), /^ERR_NAMESPACE_NOT_FOUND: /);
  });

  await t.test(
    '/system/secrets speaks the store in faas-provider’s shapes (test/integration/secrets.test.ts)',
    async () => {
      assert.equal((await faas('POST', '/system/secrets', { name: 'k', value: 'v' })).status, 201);
      const list = await faas('GET', '/system/secrets');
      assert.deepEqual(await list.json(), [{ name: 'k', namespace: 'openfaas-fn' }]);
      assert.equal((await faas('PUT', '/system/secrets', { name: 'k', value: 'w' })).status, 200);
      assert.equal((await faas('DELETE', '/system/secrets', { name: 'k' })).status, 200);
    },
  );

  await t.test('POST /system/scale-function/{name} moves the replicas now', async () => {
    const res = await faas('POST', '/system/scale-function/node-copy', {
      serviceName: 'node-copy',
      replicas: 2,
      namespace: '',
    });
    assert.equal(res.status, 202);
    await waitFor(
      async () =>
        ((await (await faas('GET', '/system/function/node-copy')).json()) as Json).availableReplicas === 2,
      10_000,
      'two replicas',
    );
    // The autoscaler's ticks (every 500 ms) hold the count for its stable window rather than undo it.
    await new Promise((r) => setTimeout(r, 1500));
    const held = (await (await faas('GET', '/system/function/node-copy')).json()) as Json;
    assert.equal(held.availableReplicas, 2);
    const missing = await faas('POST', '/system/scale-function/nope', { serviceName: 'nope', replicas: 1 });
    assert.equal(missing.status, 404);
  });

  await t.test('GET /system/logs: NDJSON with tail, since and follow', async () => {
    const lines = async (query: string) =>
      (await (await faas('GET', `/system/logs?${query}`)).text())
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l));
    const tail = await lines('name=node-fn&follow=false&tail=2');
    assert.equal(tail.length, 2);
    for (const entry of tail) {
      assert.equal(entry.name, 'node-fn');
      assert.equal(entry.namespace, 'openfaas-fn');
      assert.ok(entry.instance);
      assert.ok(!Number.isNaN(Date.parse(entry.timestamp)));
      assert.match(entry.text, /^node-fn called /);
    }
    const all = await lines('name=node-fn&follow=false');
    assert.ok(all.length > 2);
    const future = new Date(Date.now() + 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
    assert.deepEqual(await lines(`name=node-fn&follow=false&since=${future}`), []);

    const res = await faas('GET', '/system/logs?name=node-fn&follow=true&tail=0');
    assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
    const reader = res.body!.getReader();
    await fetch(`${url}/function/node-fn/followed`, { method: 'POST', body: '' });
    let text = '';
    while (!text.includes('\n')) {
      const { value, done } = await reader.read();
      if (done) break;
      text += Buffer.from(value).toString();
    }
    assert.equal(JSON.parse(text.split('\n')[0]!).text, 'node-fn called POST /followed');
    await reader.cancel();
    const missing = await faas('GET', '/system/logs?name=nope');
    assert.equal(missing.status, 404);
  });

  await t.test('DELETE /system/functions with {"functionName"}', async () => {
    let res = await faas('DELETE', '/system/functions', { functionName: 'node-copy' });
    assert.equal(res.status, 200);
    res = await faas('DELETE', '/system/functions?namespace=openfaas-fn', { functionName: 'node-copy' });
    assert.equal(res.status, 404);
    assert.equal((await fetch(`${url}/function/node-copy`)).status, 404);
  });
});
