// Flow control end to end (docs/instance-protocol.md, "Flow control"), through the real gateway and a real
// runner: clients that never read a 250 MB stream, and a 250 MB upload to a function that does not read
// yet. The gateway's memory stays bounded (its RSS is measured: the gateway is this process), the
// function's writes and the client's uploads block, and a client that goes away releases everything.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { startTestPlatform, type TestPlatform, waitFor } from '../helpers/platform.js';

const MB = 1024 * 1024;
/** What the gateway may grow by in all, with three stuck 250 MB streams (the bound). */
const RSS_GROWTH_LIMIT_BYTES = 64 * MB;

interface FlowStats {
  produced: number[];
  cancelled: number;
  finished: number;
  received: number;
}

function rss(): number {
  return process.memoryUsage().rss;
}

async function flowStats(nimbus: TestPlatform): Promise<FlowStats> {
  return (await (await fetch(`${nimbus.url}/function/flow/stats`)).json()) as FlowStats;
}

/** Polls `value` until it has not changed over two polls `everyMs` apart (and `ready` holds). */
async function settled<T>(value: () => Promise<T>, ready: (v: T) => boolean, what: string): Promise<T> {
  let last = JSON.stringify(await value());
  let still = 0;
  const deadline = Date.now() + 60_000;
  for (;;) {
    await new Promise((r) => setTimeout(r, 300));
    const v = await value();
    const now = JSON.stringify(v);
    still = now === last && ready(v) ? still + 1 : 0;
    last = now;
    if (still >= 2) return v;
    if (Date.now() > deadline) throw new Error(`${what} did not settle within 60 s: ${now}`);
  }
}

/** A client that sends a GET and then never reads its socket. */
async function stuckClient(url: string, path: string): Promise<Socket> {
  const { hostname, port } = new URL(url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  socket.pause();
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`);
  return socket;
}

test('flow control', async (t) => {
  const nimbus = await startTestPlatform(t, { bodyLimitBytes: 300 * MB });
  await nimbus.deploy('flow');
  assert.equal(await (await fetch(`${nimbus.url}/function/flow/`)).text(), 'hello');
  const pool = () => nimbus.platform.dispatcher.get('flow')!.pool;

  await t.test(
    'three clients that never read a 250 MB stream: bounded gateway memory, blocked writes, released on close',
    async () => {
      const before = rss();
      const clients = await Promise.all(
        [0, 1, 2].map(() => stuckClient(nimbus.url, '/function/flow/stream?mb=250')),
      );
      t.after(() => {
        for (const c of clients) c.destroy();
      });
      const stuck = await settled(
        () => flowStats(nimbus),
        (s) => s.produced.length >= 3 && s.produced.slice(-3).every((p) => p > 0),
        'the three streams',
      );
      const grown = rss() - before;
      const produced = stuck.produced.slice(-3);
      t.diagnostic(
        `gateway RSS grew ${(grown / MB).toFixed(1)} MiB; produced ${produced.map((p) => (p / MB).toFixed(1)).join(', ')} MiB`,
      );
      assert.ok(grown <= RSS_GROWTH_LIMIT_BYTES, `gateway RSS grew ${(grown / MB).toFixed(1)} MiB`);
      for (const p of produced)
        assert.ok(p < 64 * MB, `the function's writes block: ${(p / MB).toFixed(1)} MiB made`);
      assert.equal(stuck.finished, 0);

      // The instance's other streams are not held up by the stuck ones.
      const started = performance.now();
      const hello = await fetch(`${nimbus.url}/function/flow/`);
      assert.equal(await hello.text(), 'hello');
      t.diagnostic(`a request beside the stuck streams took ${(performance.now() - started).toFixed(1)} ms`);

      for (const c of clients) c.destroy();
      await waitFor(
        async () => (await flowStats(nimbus)).cancelled >= 3,
        10_000,
        'the streams to be cancelled',
      );
      await waitFor(() => pool().stats().inflight === 0, 10_000, 'every slot to come free');
    },
  );

  await t.test(
    'a 250 MB upload to a function that does not read: the upload blocks, memory stays bounded',
    async () => {
      const total = 250 * MB;
      const before = rss();
      const { hostname, port } = new URL(nimbus.url);
      const req = request({
        host: hostname,
        port,
        method: 'POST',
        path: '/function/flow/upload',
        headers: { 'content-type': 'application/octet-stream', 'content-length': total },
      });
      const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
        req.on('response', (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
      });
      let sent = 0;
      const chunk = Buffer.alloc(64 * 1024, 7);
      const pump = (async () => {
        while (sent < total) {
          sent += chunk.length;
          if (!req.write(chunk)) await once(req, 'drain');
        }
        req.end();
      })();
      const stalledAt = await settled(
        async () => sent,
        (s) => s > 0,
        'the upload',
      );
      const grown = rss() - before;
      t.diagnostic(
        `upload stalled at ${(stalledAt / MB).toFixed(1)} MiB; gateway RSS grew ${(grown / MB).toFixed(1)} MiB`,
      );
      assert.ok(stalledAt < 64 * MB, `the client's upload blocks: ${(stalledAt / MB).toFixed(1)} MiB sent`);
      assert.ok(grown <= RSS_GROWTH_LIMIT_BYTES, `gateway RSS grew ${(grown / MB).toFixed(1)} MiB`);
      assert.equal((await flowStats(nimbus)).received, 0, 'the function has read nothing yet');

      assert.equal(await (await fetch(`${nimbus.url}/function/flow/go`)).text(), 'released');
      await pump;
      const { status, body } = await answer;
      assert.equal(status, 200, body);
      assert.deepEqual(JSON.parse(body), { bytes: total });
    },
  );
});
