// runtime: exec (the OpenFaaS classic watchdog's contract) over real HTTP: a shell script per request, the
// body on stdin, Http_* variables, stdout as the response, failures with stderr, timeouts, concurrency.
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildFunction } from '../../src/build/build.js';
import { startTestPlatform, waitFor } from '../helpers/platform.js';
import { copyFixture, instanceCount, timed } from '../helpers/runtimes.js';

interface ErrorBody {
  error: { code: string; message: string };
}

test('exec runtime', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url } = nimbus;
  await Promise.all([
    nimbus.deploy('exec-bash', 'sh'),
    nimbus.deploy('exec-bash', 'shjson', { environment: { content_type: 'application/json' } }),
  ]);

  await t.test('hello: the body on stdin, stdout as the response', async () => {
    const res = await fetch(`${url}/function/sh/hello`, { method: 'POST', body: 'world' });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'hello world');
  });

  await t.test('a binary body comes back byte for byte, with its content type', async () => {
    const bytes = new Uint8Array(200_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 31 + 7) % 256;
    const res = await fetch(`${url}/function/sh/echo`, {
      method: 'POST',
      body: bytes,
      headers: { 'content-type': 'application/x-test' },
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-test', 'the request content type is echoed');
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bytes);
  });

  await t.test('the request arrives as Http_* variables; content_type sets the response type', async () => {
    const res = await fetch(`${url}/function/sh/env?x=1&y=2`, {
      method: 'PUT',
      body: 'abc',
      headers: { 'content-type': 'text/plain', 'x-custom': 'v1' },
    });
    assert.equal(res.status, 200);
    assert.equal(
      await res.text(),
      'method=PUT path=/env query=x=1&y=2 ct=text/plain custom=v1 len=3 greeting=hi',
    );
    const json = await fetch(`${url}/function/shjson/hello`, { method: 'POST', body: 'x' });
    assert.equal(json.headers.get('content-type'), 'application/json');
  });

  await t.test('a non-zero exit is a coded 500 carrying stderr', async () => {
    const res = await fetch(`${url}/function/sh/fail`);
    assert.equal(res.status, 500);
    const body = (await res.json()) as ErrorBody;
    assert.equal(body.error.code, 'ERR_HANDLER_FAILED');
    assert.match(body.error.message, /exit code 3.*something went wrong/s);
  });

  await t.test('a process killed by a signal fails its request only', async () => {
    const res = await fetch(`${url}/function/sh/crash`);
    assert.equal(res.status, 500, 'a 500 for the request, not a 502 for a crashed instance');
    assert.match(((await res.json()) as ErrorBody).error.message, /killed by SIGKILL/);
    assert.equal((await fetch(`${url}/function/sh/hello`, { method: 'POST', body: 'x' })).status, 200);
  });

  await t.test('concurrency > 1: one process per request, at once, in one instance', async () => {
    const { ms, value } = await timed(() =>
      Promise.all(Array.from({ length: 4 }, () => fetch(`${url}/function/sh/sleep`).then((r) => r.status))),
    );
    assert.deepEqual(value, [200, 200, 200, 200]);
    assert.equal(await instanceCount(nimbus, 'sh'), 1);
    assert.ok(ms < 1200, `four 400 ms sleeps overlapped (${Math.round(ms)} ms)`);
  });

  await t.test('past timeoutMs: 504, and the instance with its processes is replaced', async () => {
    const res = await fetch(`${url}/function/sh/hang`);
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as ErrorBody).error.code, 'ERR_HANDLER_TIMEOUT');
    // The next call is served (by a new process: the stuck one was killed with its instance).
    await waitFor(
      async () => (await fetch(`${url}/function/sh/hello`, { method: 'POST', body: 'x' })).status === 200,
      30_000,
      'sh to serve again',
    );
  });

  await t.test('a command that is missing or not executable fails the build', async (t) => {
    const dir = copyFixture(t, 'exec-bash');
    chmodSync(join(dir, 'handler.sh'), 0o644);
    await assert.rejects(buildFunction(dir), {
      code: 'ERR_BUILD_FAILED',
      message: /chmod \+x \.\/handler\.sh/,
    });
    writeFileSync(join(dir, 'nimbus.yml'), 'runtime: exec\ncommand: ./nosuch.sh\n');
    await assert.rejects(buildFunction(dir), { code: 'ERR_BUILD_FAILED', message: /nosuch\.sh/ });
    writeFileSync(join(dir, 'nimbus.yml'), 'runtime: exec\n');
    await assert.rejects(buildFunction(dir), { code: 'ERR_FUNCTION_SPEC_INVALID', message: /command/ });
  });

  await t.test('a program not on PATH fails the deploy with a coded error naming it', async () => {
    await assert.rejects(nimbus.deploy('exec-bash', 'shmissing', { command: 'nimbus-no-such-program' }), {
      code: 'ERR_FUNCTION_LOAD_FAILED',
      message: /nimbus-no-such-program was not found/,
    });
  });
});
