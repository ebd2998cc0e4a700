// A hostile function's attacks that the other security tests do not make: it takes over its runner's
// connection to the gateway (the instance protocol's socket is reachable from user code in the same
// process, Node's or Python's) and writes frames of its own. The gateway must answer the call it attacks
// with a coded error, keep serving the other calls and functions, pass on to a client nothing the function
// framed, and spend on it no more memory or time than an honest answer costs. (Log lines, daemons and
// inits that never end: redteam-lifecycle.test.ts.)
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { MAX_RESPONSE_HEADERS } from '../../src/instances/lease.js';
import {
  FrameDecoder,
  FrameType,
  HEADER_BYTES,
  MAX_FRAME_PAYLOAD_BYTES,
} from '../../src/instances/protocol.js';
import { findExecutable, INSTANCE_PATH } from '../../src/runtimes/runtime.js';
import { startTestPlatform, type TestPlatform, waitFor } from '../helpers/platform.js';
import { errorCode, rawRequest } from '../helpers/raw-http.js';
import { noSandbox } from './helpers.js';

/** Closers of the one platform the tests below share (one sandboxed start instead of one per test). */
const cleanups: (() => void | Promise<void>)[] = [];
let shared: Promise<TestPlatform> | undefined;

/**
 * The platform the tests share, started by the first to ask: with bubblewrap where the host has it (as
 * `nimbus up` runs), else unsandboxed — the gateway is what is tested. Each attack ends, at worst, the
 * attacking function's instance; every test asserts the platform serves on after it.
 */
function startPlatform(_t: unknown): Promise<TestPlatform> {
  shared ??= (async () => {
    const owner = { after: (fn: () => void | Promise<void>) => cleanups.push(fn) };
    const nimbus = await startTestPlatform(owner as unknown as Parameters<typeof startTestPlatform>[0], {
      sandbox: noSandbox ? 'off' : 'required',
      startTimeoutMs: 60_000,
    });
    await Promise.all([
      nimbus.deploy('hello'),
      nimbus.deploy('channel', 'channel', { concurrency: 4, timeoutMs: 4000 }),
    ]);
    return nimbus;
  })();
  return shared;
}

after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

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
    const res = await fetch(`${nimbus.url}/function/channel/trickle?bytes=8192&per=1`);
    assert.equal(res.status, 200);
    assert.equal((await res.text()).length, 8192);
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
