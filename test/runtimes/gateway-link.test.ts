// The runners' side of the gateway link (src/runtimes/gateway-link.ts), against the real runner bundles:
// HELLO first, one LOAD per process (a second is refused, also after a failed one), exit without a socket.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { FrameDecoder, FrameType, FrameWriter } from '../../src/instances/protocol.js';

const DIST = new URL('../../dist/runtimes/', import.meta.url).pathname;
const RUNNERS = {
  node: join(DIST, 'node/runner.bundle.mjs'),
  adapter: join(DIST, 'adapter/runner.bundle.mjs'),
};

interface Link {
  child: ChildProcess;
  /** A bundle directory holding `index.mjs`, a fetch-style hello. */
  bundleDir: string;
  writer: FrameWriter;
  /** The next control frame from the runner: its type and JSON payload. */
  next(): Promise<{ type: number; body: Record<string, unknown> }>;
}

async function startRunner(t: TestContext, runner: keyof typeof RUNNERS): Promise<Link> {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-link-'));
  const socketPath = join(dir, 'runner.sock');
  writeFileSync(join(dir, 'index.mjs'), "export default () => new Response('hello');\n");
  const server = createServer();
  server.listen(socketPath);
  await once(server, 'listening');
  const child = spawn(process.execPath, [RUNNERS[runner]], {
    env: { PATH: process.env.PATH, NIMBUS_SOCKET: socketPath },
    stdio: 'ignore',
  });
  t.after(() => {
    child.kill('SIGKILL');
    server.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const [socket] = (await once(server, 'connection')) as [Socket];
  const frames: { type: number; body: Record<string, unknown> }[] = [];
  const waiting: ((f: { type: number; body: Record<string, unknown> }) => void)[] = [];
  const decoder = new FrameDecoder((type, _flags, _id, payload) => {
    const f = { type, body: JSON.parse(payload.toString('utf8')) as Record<string, unknown> };
    const w = waiting.shift();
    if (w) w(f);
    else frames.push(f);
  });
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  return {
    child,
    bundleDir: dir,
    writer: new FrameWriter(socket),
    next: () =>
      frames.length > 0 ? Promise.resolve(frames.shift()!) : new Promise((resolve) => waiting.push(resolve)),
  };
}

function sendLoad(link: Link, message: Record<string, unknown>): void {
  link.writer.json(FrameType.LOAD, 0, message);
  link.writer.flush();
}

const load = (link: Link) => ({
  bundleDir: link.bundleDir,
  entry: 'index.mjs',
  name: 'hello',
  version: 1,
  env: {},
  timeoutMs: 1000,
  memoryMb: 128,
  debug: false,
});

test('the node runner says HELLO, loads a function once and refuses a second', async (t) => {
  const link = await startRunner(t, 'node');
  const hello = await link.next();
  assert.equal(hello.type, FrameType.HELLO);
  assert.equal(hello.body.runtime, 'node');
  assert.equal(hello.body.pid, link.child.pid);
  sendLoad(link, load(link));
  assert.deepEqual(await link.next(), { type: FrameType.LOADED, body: { style: 'fetch' } });
  sendLoad(link, { ...load(link), name: 'other' });
  const again = await link.next();
  assert.equal(again.type, FrameType.LOAD_ERROR);
  assert.equal(again.body.message, 'this instance already has a function loaded');
});

test('a failed load still uses up the one load of the process (adapter runner)', async (t) => {
  const link = await startRunner(t, 'adapter');
  assert.equal((await link.next()).body.runtime, 'adapter');
  sendLoad(link, load(link));
  const failed = await link.next();
  assert.equal(failed.type, FrameType.LOAD_ERROR);
  assert.match(String(failed.body.message), /no "adapter" settings/);
  sendLoad(link, load(link));
  assert.equal((await link.next()).body.message, 'this instance already has a function loaded');
});

test('a runner started without NIMBUS_SOCKET says so and exits 2', async () => {
  for (const [name, path] of Object.entries(RUNNERS)) {
    const child = spawn(process.execPath, [path], { env: { PATH: process.env.PATH }, stdio: 'pipe' });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d));
    const [code] = (await once(child, 'exit')) as [number];
    assert.equal(code, 2, name);
    assert.match(stderr, /NIMBUS_SOCKET is not set; the runner is started by Nimbus/, name);
  }
});
