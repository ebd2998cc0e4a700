// Flow control in every runner besides Node's (the Node runner: test/integration/flow-control.test.ts):
// the Python runner and the adapter runner (exec, http) send response bodies only as the gateway grants
// credit and grant credit for request bodies as they take them. A runner that ignored the window would be
// stopped by the gateway (a protocol error), one that never granted would stall until the timeout: each
// large transfer below completing whole shows both hold. A client that does not read keeps the gateway's
// memory bounded (its RSS is measured: the gateway is this process) and, for a streaming server, blocks
// the server's writes.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

const MB = 1024 * 1024;
const RSS_GROWTH_LIMIT_BYTES = 64 * MB;

function rss(): number {
  return process.memoryUsage().rss;
}

/** Polls `value` until it has not changed over two polls 300 ms apart (and `ready` holds). */
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

/**
 * A client that sends a request and does not read the answer until `drain()`: the gateway's RSS is
 * measured while it is stuck, then the whole body is read and counted.
 */
async function slowReader(
  nimbus: TestPlatform,
  path: string,
  body?: Buffer,
): Promise<{ socket: Socket; drain: () => Promise<number> }> {
  const { hostname, port } = new URL(nimbus.url);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  socket.pause();
  const head = body
    ? `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n`
    : `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;
  socket.write(head);
  if (body) socket.write(body);
  const drain = async (): Promise<number> => {
    let bytes = 0;
    socket.on('data', (chunk: Buffer) => (bytes += chunk.length));
    socket.resume();
    await once(socket, 'end');
    return bytes;
  };
  return { socket, drain };
}

/** A stuck download: the gateway's growth while the client does not read, then the bytes once it does. */
async function stuckDownload(
  nimbus: TestPlatform,
  path: string,
  settle: () => Promise<unknown>,
  body?: Buffer,
): Promise<{ grown: number; received: number }> {
  const before = rss();
  const { socket, drain } = await slowReader(nimbus, path, body);
  try {
    await settled(settle, () => true, path);
    const grown = rss() - before;
    const received = await drain();
    return { grown, received };
  } finally {
    socket.destroy();
  }
}

test('python runner', async (t) => {
  const nimbus = await startTestPlatform(t, { bodyLimitBytes: 200 * MB });
  await nimbus.deploy('python-flow', 'py');
  const pool = () => nimbus.platform.dispatcher.get('py')!.pool;

  await t.test(
    'a 100 MiB answer to a client that reads late: bounded gateway, every byte arrives',
    async () => {
      const { grown, received } = await stuckDownload(
        nimbus,
        '/function/py/big?mb=100',
        async () =>
          // Settled once the gateway holds the stream with its window spent (its process tree idles).
          pool().stats().inflight,
      );
      t.diagnostic(`gateway RSS grew ${(grown / MB).toFixed(1)} MiB`);
      assert.ok(grown <= RSS_GROWTH_LIMIT_BYTES, `gateway RSS grew ${(grown / MB).toFixed(1)} MiB`);
      assert.ok(received > 100 * MB, `${received} bytes arrived`);
    },
  );

  await t.test('a 100 MiB upload arrives whole (the runner grants credit as it takes it)', async () => {
    const body = Buffer.alloc(100 * MB, 1);
    const res = await fetch(`${nimbus.url}/function/py/count`, { method: 'POST', body });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), String(100 * MB));
  });
});

test('adapter runner: exec', async (t) => {
  const nimbus = await startTestPlatform(t, { bodyLimitBytes: 100 * MB });
  await nimbus.deploy('exec-bash', 'sh', { timeoutMs: 120_000, memoryMb: 512 });

  await t.test(
    'a 32 MiB echo to a client that reads late: bounded gateway, every byte comes back',
    async () => {
      const body = Buffer.alloc(32 * MB, 2);
      const pool = () => nimbus.platform.dispatcher.get('sh')!.pool;
      const { grown, received } = await stuckDownload(
        nimbus,
        '/function/sh/echo',
        async () => pool().stats().inflight,
        body,
      );
      t.diagnostic(`gateway RSS grew ${(grown / MB).toFixed(1)} MiB`);
      assert.ok(grown <= RSS_GROWTH_LIMIT_BYTES, `gateway RSS grew ${(grown / MB).toFixed(1)} MiB`);
      assert.ok(received > 32 * MB, `${received} bytes arrived`);
    },
  );
});

test('adapter runner: http', async (t) => {
  const nimbus = await startTestPlatform(t, { bodyLimitBytes: 200 * MB });
  await nimbus.deploy('http-flow', 'web');
  const written = async () =>
    ((await (await fetch(`${nimbus.url}/function/web/stats`)).json()) as { written: number }).written;

  await t.test(
    "a 200 MiB stream to a client that reads late: the server's writes block, the gateway stays bounded",
    async () => {
      const before = await written();
      const beforeRss = rss();
      const { socket, drain } = await slowReader(nimbus, '/function/web/big?mb=200');
      try {
        const stuckAt = (await settled(written, (w) => w > before, 'the server')) - before;
        const grown = rss() - beforeRss;
        t.diagnostic(
          `server stopped after ${(stuckAt / MB).toFixed(1)} MiB; gateway RSS grew ${(grown / MB).toFixed(1)} MiB`,
        );
        assert.ok(stuckAt < 64 * MB, `the server's writes block: ${(stuckAt / MB).toFixed(1)} MiB written`);
        assert.ok(grown <= RSS_GROWTH_LIMIT_BYTES, `gateway RSS grew ${(grown / MB).toFixed(1)} MiB`);
        assert.ok((await drain()) > 200 * MB);
      } finally {
        socket.destroy();
      }
    },
  );

  await t.test('a 150 MiB upload reaches the server whole', async () => {
    const body = Buffer.alloc(150 * MB, 3);
    const res = await fetch(`${nimbus.url}/function/web/upload`, { method: 'POST', body });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), String(150 * MB));
  });
});
