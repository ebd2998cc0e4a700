// Answers a function may give that the gateway must not pass on as they are (issue 11 §7), through the
// real gateway and a real runner: an informational status is a coded 502 at once (not a client left
// waiting for a final answer), a forbidden header is a coded 502 with its own status line (not "500 OK"),
// and the gateway's own headers win over the function's, once each.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect } from 'node:net';
import { test } from 'node:test';
import { startTestPlatform } from '../helpers/platform.js';

/** The raw answer to a GET: status line, headers and body as they came over the socket. */
async function rawGet(url: string, path: string): Promise<string> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  let text = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => (text += chunk));
  await once(socket, 'end');
  return text;
}

test('wrong answers from a function', async (t) => {
  const nimbus = await startTestPlatform(t);
  await nimbus.deploy('wrong-answers', 'wrong');
  const url = `${nimbus.url}/function/wrong`;

  await t.test('an informational status (1xx) is a coded 502 at once', async () => {
    for (const code of [100, 101, 103, 199, 0, 600, 999]) {
      const started = performance.now();
      const res = await fetch(`${url}/status?code=${code}`, { signal: AbortSignal.timeout(10_000) });
      assert.equal(res.status, 502, `status ${code}`);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'ERR_HANDLER_INVALID_RESPONSE');
      assert.match(body.error.message, new RegExp(`status ${code}`));
      assert.ok(res.headers.get('x-call-id'), 'the error names the call');
      assert.ok(performance.now() - started < 5000, `answered at once (${code})`);
    }
    assert.equal((await fetch(`${url}/status?code=204`)).status, 204, 'a final status passes');
  });

  await t.test('a header HTTP forbids is a coded 502 with a status line of its own', async () => {
    const raw = await rawGet(nimbus.url, '/function/wrong/bad-header');
    assert.match(raw, /^HTTP\/1\.1 502 Bad Gateway\r\n/);
    assert.match(raw, /"code":"ERR_HANDLER_INVALID_RESPONSE"/);
    const res = await fetch(`${url}/bad-header`);
    assert.equal(res.status, 502);
    assert.equal(res.statusText, 'Bad Gateway');
    assert.equal((await fetch(`${url}/`)).status, 200, 'the instance serves on');
  });

  await t.test("the gateway's own headers win, once each", async () => {
    const raw = await rawGet(nimbus.url, '/function/wrong/own-ids');
    const headers = raw
      .split('\r\n\r\n')[0]!
      .split('\r\n')
      .slice(1)
      .map((l) => l.toLowerCase());
    const named = (name: string) => headers.filter((h) => h.startsWith(`${name}:`));
    assert.equal(named('x-call-id').length, 1, raw);
    assert.notEqual(named('x-call-id')[0], 'x-call-id: mine');
    assert.equal(named('x-duration-seconds').length, 1, raw);
    assert.notEqual(named('x-duration-seconds')[0], 'x-duration-seconds: 99');
    assert.deepEqual(named('x-nimbus-cold-start'), [], 'not cold, and the function cannot say it is');
  });
});
