// A hostile function's attacks that the other security tests do not make: it takes over its runner's
// connection to the gateway (the instance protocol's socket is reachable from user code in the same
// process) and writes frames of its own; it writes control characters to the log that an operator's
// terminal would obey. The gateway must answer the call it attacks with a coded error, keep serving the
// other calls and functions, and pass on to a client or a terminal nothing the function forged.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { MAX_RESPONSE_HEADERS } from '../../src/instances/lease.js';
import {
  FrameDecoder,
  FrameType,
  HEADER_BYTES,
  MAX_FRAME_PAYLOAD_BYTES,
} from '../../src/instances/protocol.js';
import { findExecutable, INSTANCE_PATH } from '../../src/runtimes/runtime.js';
import { BIN, deployTo, startNimbusProcess } from '../helpers/nimbus-process.js';
import { runnerChildren, startTestPlatform, type TestPlatform, waitFor } from '../helpers/platform.js';
import { errorCode, rawRequest } from '../helpers/raw-http.js';
import { killMarked, markerProcesses, newMarker, noSandbox } from './helpers.js';

/** With bubblewrap where the host has it (as `nimbus up` runs), else unsandboxed: the gateway is what is tested. */
async function startPlatform(t: Parameters<typeof startTestPlatform>[0]): Promise<TestPlatform> {
  const nimbus = await startTestPlatform(t, {
    sandbox: noSandbox ? 'off' : 'required',
    startTimeoutMs: 60_000,
  });
  await Promise.all([
    nimbus.deploy('hello'),
    nimbus.deploy('channel', 'channel', { concurrency: 4, timeoutMs: 4000 }),
  ]);
  return nimbus;
}

async function assertServing(nimbus: TestPlatform): Promise<void> {
  const res = await fetch(`${nimbus.url}/function/hello`, { method: 'POST', body: 'still here' });
  assert.equal(await res.text(), 'hello still here', 'another function is served');
  const ok = await fetch(`${nimbus.url}/function/channel/`);
  assert.equal(await ok.text(), 'ok', 'the attacking function itself is served');
}

const get = (nimbus: TestPlatform, path: string) =>
  rawRequest(nimbus.url, `GET /function/channel${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);

describe('a function that writes its own frames on the instance socket', () => {
  it('cannot frame the response itself: Content-Length, Transfer-Encoding, X-Call-Id in any case are the gateway’s', async (t) => {
    const nimbus = await startPlatform(t);
    // A body that, were the function's Content-Length obeyed, would be read as the connection's next response.
    const smuggled = 'HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nforged';
    const res = await get(
      nimbus,
      `/head?head=200,Content-Length,5,X-Call-Id,mine&body=${encodeURIComponent(`hello${smuggled}`)}`,
    );
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), `hello${smuggled}`, 'the whole body is one response');
    assert.notEqual(res.headers['content-length'], '5');
    assert.match(res.headers['x-call-id'] ?? '', /^[0-9a-f-]{36}$/, 'one call id, the gateway’s');

    const te = await get(nimbus, '/head?head=200,TRANSFER-ENCODING,identity,Connection,close&body=abc');
    assert.equal(te.body.toString(), 'abc');
    assert.notEqual(te.headers['transfer-encoding'], 'identity');
    // Mixed case is lower-cased, as the protocol says names are: no second copy of a gateway header.
    const own = await get(nimbus, '/head?head=200,X-Duration-Seconds,99,X-Nimbus-Cold-Start,1,X-Custom,kept');
    assert.notEqual(own.headers['x-duration-seconds'], '99');
    assert.notEqual(own.headers['x-duration-seconds']?.split(',').length, 2);
    assert.equal(own.headers['x-nimbus-cold-start'], undefined);
    assert.equal(own.headers['x-custom'], 'kept');
    await assertServing(nimbus);
  });

  it('from a Python function alike (it finds the runner’s writer and its stream id in the calling frames)', async (t) => {
    if (!findExecutable('python3', INSTANCE_PATH)) return t.skip(`no python3 on ${INSTANCE_PATH}`);
    const nimbus = await startPlatform(t);
    await nimbus.deploy('channel-python', 'channel-py');
    const res = await rawRequest(
      nimbus.url,
      'GET /function/channel-py HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'helloHTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nforged');
    assert.match(res.headers['x-call-id'] ?? '', /^[0-9a-f-]{36}$/);
    await assertServing(nimbus);
  });

  it('a malformed head or a stream out of order is a coded 502 for that call only', async (t) => {
    const nimbus = await startPlatform(t);
    for (const path of [
      '/head?head=abc',
      '/head?head=',
      '/head?head=99',
      '/head?head=1000',
      '/head?head=200.5',
      '/head?head=%20200',
      '/head?head=200,x-a',
      '/head?head=200,,v',
      '/head?head=200,bad%20name,v',
      `/head?head=200,x-a,${encodeURIComponent('a\r\nset-cookie: forged=1')}`,
      '/head-twice',
      '/body-first',
    ]) {
      const res = await get(nimbus, path);
      assert.equal(res.status, 502, `${path}: ${res.body}`);
      assert.equal(errorCode(res), 'ERR_HANDLER_INVALID_RESPONSE', path);
      assert.equal(res.headers['set-cookie'], undefined);
    }
    await assertServing(nimbus);
  });

  it('a head of more headers than any answer needs is a coded 502, before the gateway spends its thread on it', async (t) => {
    const nimbus = await startPlatform(t);
    // 100,000 headers in one frame stalled the gateway's event loop ~125 ms per call (60–120 ms of CPU).
    for (const count of [MAX_RESPONSE_HEADERS + 1, 100_000]) {
      const res = await get(nimbus, `/big-head?count=${count}`);
      assert.equal(res.status, 502, `${count} headers`);
      assert.equal(errorCode(res), 'ERR_HANDLER_INVALID_RESPONSE');
      assert.match(res.body.toString(), new RegExp(`${count} headers`));
    }
    const most = await get(nimbus, `/big-head?count=${MAX_RESPONSE_HEADERS}`);
    assert.equal(most.status, 200);
    assert.equal(most.headers[`x-${MAX_RESPONSE_HEADERS - 1}`], 'v');
    await assertServing(nimbus);
  });

  it('unknown types, foreign stream ids and a flood of tiny frames are ignored; the instance serves on', async (t) => {
    const nimbus = await startPlatform(t);
    const noise = await get(nimbus, '/noise');
    assert.equal(noise.body.toString(), 'after the noise');
    const flood = await get(nimbus, '/tiny-flood?batches=50');
    assert.equal(flood.body.toString(), 'flooded', '500,000 frames later');
    await assertServing(nimbus);
  });

  it('a frame past the size limit, credit past the window, a half-closed socket: that instance ends, with coded errors', async (t) => {
    const nimbus = await startPlatform(t);
    for (const path of [
      '/length?length=4294967295',
      '/length?length=1048577',
      '/window?bytes=ffffffff',
      '/half-close',
    ]) {
      const res = await get(nimbus, path);
      assert.equal(res.status, 502, path);
      assert.equal(errorCode(res), 'ERR_INSTANCE_CRASHED', path);
      await assertServing(nimbus);
    }
  });

  it('a frame sent a byte at a time costs the gateway its size, not a buffer per read', async (t) => {
    // The decoder the gateway reads an instance with, fed the largest frame a byte per read: what it holds
    // meanwhile must be that frame's bytes, not a million read buffers (it was ~200 bytes of heap per read).
    const frames: number[] = [];
    const decoder = new FrameDecoder((type, _flags, _id, payload) => frames.push(type, payload.length));
    const header = Buffer.alloc(HEADER_BYTES);
    header.writeUInt32BE(MAX_FRAME_PAYLOAD_BYTES, 0);
    header[4] = FrameType.RESPONSE_BODY;
    header.writeUInt32BE(1, 6);
    global.gc?.();
    const heapBefore = process.memoryUsage().heapUsed;
    for (const byte of header) decoder.push(Buffer.from([byte]));
    for (let i = 0; i < MAX_FRAME_PAYLOAD_BYTES - 1; i++) decoder.push(Buffer.from([120]));
    const grownMb = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
    t.diagnostic(`the heap grew ${grownMb.toFixed(1)} MB while 1 MiB arrived a byte at a time`);
    assert.deepEqual(frames, [], 'the frame is not complete yet');
    assert.ok(grownMb < 32, `the heap grew ${grownMb.toFixed(0)} MB for a frame of 1 MiB`);
    decoder.push(Buffer.from([120]));
    assert.deepEqual(frames, [FrameType.RESPONSE_BODY, MAX_FRAME_PAYLOAD_BYTES]);

    // And through the real gateway: a body frame trickled a byte per write arrives whole.
    const nimbus = await startPlatform(t);
    const res = await fetch(`${nimbus.url}/function/channel/trickle?bytes=65536&per=1`);
    assert.equal(res.status, 200);
    assert.equal((await res.text()).length, 65536);
    await assertServing(nimbus);
  });

  it('a process that ends mid-answer cuts the body short; one that throws after answering is replaced', async (t) => {
    const nimbus = await startPlatform(t);
    const res = await fetch(`${nimbus.url}/function/channel/exit-mid`);
    assert.equal(res.status, 200);
    await assert.rejects(res.text(), 'a cut answer never looks complete');
    await assertServing(nimbus);
    const exits = () =>
      nimbus.events.filter((e) => e.type === 'instance-exit' && e.name === 'channel').length;
    const before = exits();
    const thrown = await fetch(`${nimbus.url}/function/channel/throw-after`);
    assert.equal(await thrown.text(), 'answered');
    await waitFor(() => exits() > before, 30_000, 'the instance that threw to end');
    await assertServing(nimbus);
  });

  it('a body that trickles forever is still cut at timeoutMs', async (t) => {
    const nimbus = await startPlatform(t);
    const started = performance.now();
    const res = await fetch(`${nimbus.url}/function/channel/stall`);
    assert.equal(res.status, 200);
    await assert.rejects(res.text(), 'the body is cut short, not ended');
    const seconds = (performance.now() - started) / 1000;
    assert.ok(seconds < 60, `cut after ${seconds.toFixed(1)} s`);
    await assertServing(nimbus);
  });
});

/** Control characters a terminal obeys: C0 but tab and newline, DEL, C1, and bidi overrides and isolates. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const TERMINAL_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/;

/** `nimbus ARGS` as a child process: its stdout. */
function nimbusCli(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH }, timeout: 60_000 },
      (err, stdout, stderr) => (err ? reject(new Error(`${err.message}: ${stderr}`)) : resolve(stdout)),
    );
  });
}

describe('a function’s log lines reach a terminal as text', () => {
  it('`nimbus up` and `nimbus logs` show escape sequences, carriage returns and bidi overrides, never send them', async (t) => {
    const nimbus = await startNimbusProcess(t, ['--sandbox', noSandbox ? 'off' : 'required']);
    await deployTo(nimbus.client, 'log-forger', 'forger');
    const marker = newMarker('log');
    const res = await fetch(`${nimbus.url}/function/forger?marker=${marker}`);
    assert.equal(await res.text(), 'logged');
    const upLines = await waitFor(
      () => {
        const lines = nimbus
          .output()
          .split('\n')
          .filter((l) => l.includes(marker));
        return lines.length >= 8 && lines;
      },
      30_000,
      'the function’s lines in the output of nimbus up',
    );
    const logs = (await nimbusCli(['logs', 'forger', '--url', nimbus.url, '--token', nimbus.token])).split(
      '\n',
    );
    const logLines = logs.filter((l) => l.includes(marker));
    assert.equal(logLines.length, 8, logs.join('\n'));
    for (const [who, lines] of [
      ['nimbus up', upLines],
      ['nimbus logs', logLines],
    ] as const) {
      for (const line of lines) {
        assert.doesNotMatch(
          line,
          TERMINAL_CONTROL,
          `${who} printed a control character: ${JSON.stringify(line)}`,
        );
      }
      // Shown, not dropped: the reader sees what the function tried.
      const overwrite = lines.find((l) => l.includes('overwrite'))!;
      assert.match(overwrite, /overwrite\\r2026/, who);
      assert.match(lines.find((l) => l.includes('colour'))!, /\\x1b\[31mred/, who);
    }
    // The JSON form keeps the text as the function wrote it (JSON escapes it).
    const json = await nimbusCli(['logs', 'forger', '--json', '--url', nimbus.url, '--token', nimbus.token]);
    assert.ok(json.includes('\\u001b[31mred'), json.slice(0, 500));
  });
});

describe('a function’s processes end with the platform', { skip: noSandbox ?? false }, () => {
  for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
    it(`a setsid daemon is gone once nimbus up ends by ${signal}`, async (t) => {
      const nimbus = await startNimbusProcess(t, ['--sandbox', 'required']);
      const marker = newMarker(`orphan-${signal}`);
      t.after(() => killMarked(marker));
      await deployTo(nimbus.client, 'hostile', 'orphans');
      const res = await fetch(`${nimbus.url}/function/orphans/daemon?marker=${marker}`);
      assert.equal(await res.text(), 'spawned');
      await waitFor(() => markerProcesses(marker).length > 0, 30_000, 'the daemon to run');
      nimbus.child.kill(signal);
      await waitFor(() => !nimbus.alive(), 30_000, 'nimbus up to end');
      await waitFor(() => markerProcesses(marker).length === 0, 30_000, 'the daemon to be gone');
    });
  }
});

describe('functions that never finish loading', () => {
  it('hold no start slot: another function still starts at once', async (t) => {
    // Two start slots, no stem cells: every cold start goes through the platform-wide start limiter.
    const nimbus = await startTestPlatform(t, {
      sandbox: 'off',
      maxConcurrentStarts: 2,
      stemCells: { min: 0, max: 0 },
      startTimeoutMs: 60_000,
    });
    await nimbus.deploy('hello', 'hello', { scale: { min: 0, max: 2, idleTimeoutMs: 100 } });
    // Each deploy loads it once; every instance started from HANG_AFTER on hangs in its module's init.
    const hangAfter = Date.now() + 5000;
    const bombs = ['bomb1', 'bomb2'];
    for (const name of bombs) {
      await nimbus.deploy('init-bomb', name, {
        environment: { HANG_AFTER: String(hangAfter) },
        concurrency: 1,
        timeoutMs: 120_000,
        scale: { min: 0, max: 4 },
      });
    }
    await waitFor(
      () => nimbus.events.some((e) => e.type === 'instance-exit' && e.name === 'hello'),
      30_000,
      'hello to scale to zero',
    );
    await waitFor(() => Date.now() > hangAfter, 30_000, 'the bombs to arm');
    const calls = bombs.flatMap((name) =>
      Array.from({ length: 3 }, () =>
        fetch(`${nimbus.url}/function/${name}`, { signal: AbortSignal.timeout(120_000) }).catch(
          () => undefined,
        ),
      ),
    );
    t.after(() => Promise.all(calls));
    // Beside the deploys' warm instances (each busy with a call that never ends), the bombs' starts hang in
    // their init: before the fix they held both start slots.
    await waitFor(() => runnerChildren().length >= 4, 60_000, 'the bombs’ starts to run');
    const started = performance.now();
    const res = await fetch(`${nimbus.url}/function/hello`, { method: 'POST', body: 'cold' });
    const seconds = (performance.now() - started) / 1000;
    assert.equal(await res.text(), 'hello cold');
    // While a function's init held a slot, hello waited for bombs' starts to time out (it took 121 s).
    assert.ok(seconds < 30, `hello took ${seconds.toFixed(1)} s to start`);
    await Promise.all(bombs.map((name) => nimbus.client.remove(name)));
  });
});
