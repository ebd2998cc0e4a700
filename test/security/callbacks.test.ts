// X-Callback-Url cannot turn the gateway into a proxy for anonymous callers: link-local (cloud metadata) and
// the gateway's own address are refused when the call is queued, a name that resolves to a refused address is
// refused when the callback is delivered, and `callbackAllow` narrows targets to a list.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { startTestPlatform, type TestPlatform, waitFor } from '../helpers/platform.js';

/** A callback receiver on `host`; resolves with its URL and what it received. */
async function receiver(t: { after: (fn: () => unknown) => void }, host = '127.0.0.1') {
  const received: string[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received.push(req.headers['x-call-id'] as string);
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { url: `http://${host}:${(server.address() as AddressInfo).port}/hook`, received };
}

async function enqueue(
  nimbus: TestPlatform,
  callbackUrl: string,
): Promise<{ status: number; code?: string; callId?: string }> {
  const res = await fetch(`${nimbus.url}/async-function/echo`, {
    method: 'POST',
    headers: { 'x-callback-url': callbackUrl },
    body: 'x',
  });
  const body = (await res.json()) as { callId?: string; error?: { code: string } };
  return {
    status: res.status,
    ...(body.error ? { code: body.error.code } : {}),
    ...(body.callId ? { callId: body.callId } : {}),
  };
}

async function callbackOf(nimbus: TestPlatform, callId: string) {
  return waitFor(
    async () => {
      const call = await nimbus.client.call<{ callback?: { state: string; error?: string } }>(
        'GET',
        `/system/calls/${callId}`,
      );
      const state = call.callback?.state;
      return state === 'delivered' || state === 'failed' ? call.callback : undefined;
    },
    20_000,
    `the callback of ${callId} to settle`,
  );
}

test('callback targets are checked when queued and when delivered', async (t) => {
  const nimbus = await startTestPlatform(t, { sandbox: 'auto' });
  await nimbus.deploy('echo');
  const gatewayPort = new URL(nimbus.url).port;

  await t.test(
    'link-local, unspecified, multicast, credentials and the gateway itself are refused at once',
    async () => {
      for (const target of [
        'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
        'http://[fe80::1]/x',
        'http://[::ffff:169.254.169.254]/x',
        // IPv6 forms that carry the metadata address or the gateway's: each is the IPv4 host it reaches.
        'http://[::ffff:a9fe:a9fe]/x',
        'http://[::169.254.169.254]/x',
        'http://[64:ff9b::a9fe:a9fe]/x',
        `http://[::ffff:7f00:1]:${gatewayPort}/function/echo`,
        `http://[::ffff:127.0.0.1]:${gatewayPort}/function/echo`,
        'http://0.0.0.0:8080/x',
        'http://224.0.0.1/x',
        'http://user:pass@example.com/x',
        `http://127.0.0.1:${gatewayPort}/function/echo`,
        'file:///etc/passwd',
      ]) {
        const res = await enqueue(nimbus, target);
        assert.equal(res.status, 400, target);
        assert.equal(res.code, 'ERR_ASYNC_CALLBACK_URL_INVALID', target);
      }
    },
  );

  await t.test('a name that resolves to the gateway is refused when the callback is delivered', async () => {
    const res = await enqueue(nimbus, `http://localhost:${gatewayPort}/function/echo`);
    assert.equal(res.status, 202, 'a name is only resolved at delivery');
    const callback = await callbackOf(nimbus, res.callId!);
    assert.equal(callback.state, 'failed');
    assert.match(callback.error ?? '', /not allowed: it is the gateway itself/);
  });

  await t.test('an ordinary target receives the result', async () => {
    const hook = await receiver(t);
    const res = await enqueue(nimbus, hook.url);
    assert.equal(res.status, 202);
    assert.equal((await callbackOf(nimbus, res.callId!)).state, 'delivered');
    assert.deepEqual(hook.received, [res.callId]);
  });
});

test('callbackAllow narrows callback targets to what it lists', async (t) => {
  const nimbus = await startTestPlatform(t, { callbackAllow: ['127.0.0.2', '.hooks.example'] });
  await nimbus.deploy('echo');
  const allowed = await receiver(t, '127.0.0.2');
  const other = await receiver(t, '127.0.0.1');
  let res = await enqueue(nimbus, allowed.url);
  assert.equal(res.status, 202);
  assert.equal((await callbackOf(nimbus, res.callId!)).state, 'delivered');
  for (const target of [other.url, other.url.replace('127.0.0.1', 'localhost'), 'http://example.com/x']) {
    res = await enqueue(nimbus, target);
    assert.equal(res.status, 400, target);
    assert.equal(res.code, 'ERR_ASYNC_CALLBACK_URL_INVALID');
  }
  res = await enqueue(nimbus, 'http://a.hooks.example/x');
  assert.equal(res.status, 202, 'a listed domain is accepted (and resolved at delivery)');
  assert.deepEqual(other.received, []);
});

test('a callbackAllow entry that is no host, address or range is a configuration error', async (t) => {
  await assert.rejects(
    startTestPlatform(t, { callbackAllow: ['10.0.0.0/99'] }),
    /ERR_CONFIG_INVALID|callbackAllow/,
  );
});
