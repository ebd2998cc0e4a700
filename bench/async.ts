// The async bench: durable enqueues per second at 32 connections (the 202 is sent after the fsync; group
// commit lets many share one), beside a bare node:http server that fsyncs each request on its own; and
// end-to-end async throughput with a no-op function (enqueue → worker → instance → recorded succeeded),
// beside the same function called synchronously. `measureAsync()` returns the figures,
// `renderAsyncSection()` formats them, `writeAsyncSection()` puts them under `## Async` in
// docs/benchmarks.md. Run alone: `npm run build && node --import tsx bench/async.ts`.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon from 'autocannon';
import { buildFunction } from '../src/build/build.js';
import { NimbusClient } from '../src/cli/client.js';
import { writeSection } from './doc-sections.js';

export interface AsyncBenchOptions {
  /** Length of each load measurement in seconds. Default 5. */
  seconds?: number;
  /** Connections of the load. Default 32. */
  connections?: number;
  /** Calls of the end-to-end measurement. Default 20,000. */
  e2eCalls?: number;
  /** Progress lines. */
  progress?: (line: string) => void;
}

export interface RateResult {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
}

export interface AsyncBenchResults {
  date: string;
  machine: string;
  connections: number;
  /** Durable enqueues (202 after fsync) into Nimbus. */
  enqueue: RateResult;
  /** The baseline: bare node:http + SQLite, one fsync per request. */
  fsyncPerRequest: RateResult;
  /** Enqueued and run to `succeeded`, no-op function. */
  endToEnd: { calls: number; seconds: number; perSecond: number; enqueueSeconds: number };
  /** The same no-op function invoked synchronously (/function/). */
  sync: RateResult;
}

/** Targets of the issue (on the reference machine). */
export const ASYNC_TARGETS = { enqueuePerSecondMin: 5000, endToEndPerSecondMin: 2000 };

const BIN = fileURLToPath(new URL('../bin/nimbus.js', import.meta.url));
const FSYNC_SERVER = fileURLToPath(new URL('./children/fsync-server.mjs', import.meta.url));
const DOC_PATH = fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url));

const NOOP_SOURCE = `export default { fetch() { return new Response('ok'); } };\n`;
/** Holds its call for a minute: the enqueue measurement's queue only fills, workers stay out of the way. */
const PARKED_SOURCE = `export default { async fetch() { await new Promise((r) => setTimeout(r, 60_000)); return new Response('late'); } };\n`;

interface Server {
  url: string;
  token: string;
  stop(): Promise<void>;
}

/** Starts `nimbus up` (the built bin) on a fresh data dir. */
async function startNimbus(workDir: string, name: string): Promise<Server> {
  const data = join(workDir, name);
  const child = spawn(process.execPath, [BIN, 'up', '--port', '0', '--data', data], {
    env: { PATH: process.env.PATH, TMPDIR: workDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await readLine(child, /Nimbus listening on (http:\/\/\S+)/);
  const token = readFileSync(join(data, 'admin-token'), 'utf8').trim();
  return { url, token, stop: () => stopChild(child) };
}

async function startFsyncServer(workDir: string): Promise<Server> {
  const child = spawn(process.execPath, [FSYNC_SERVER, join(workDir, 'baseline.db')], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = await readLine(child, /listening (http:\/\/\S+)/);
  return { url, token: '', stop: () => stopChild(child) };
}

function readLine(child: ChildProcess, pattern: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no "${pattern}" within 20 s: ${err}`)), 20_000);
    child.stdout!.on('data', (c: Buffer) => {
      out += c.toString();
      const m = pattern.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.stderr!.on('data', (c: Buffer) => {
      err = (err + c.toString()).slice(-2000);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited with ${code}: ${err}`));
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

async function deploy(client: NimbusClient, workDir: string, name: string, source: string, spec: object) {
  const dir = join(workDir, 'functions', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'index.ts'), source);
  const built = await buildFunction(dir, { outDir: join(workDir, 'bundles', name) });
  await client.uploadBundle(built);
  await client.deploy(name, built.hash, spec);
}

function load(
  url: string,
  options: { connections: number; seconds?: number; amount?: number; method?: string },
): Promise<RateResult> {
  return new Promise((resolve, reject) => {
    autocannon(
      {
        url,
        connections: options.connections,
        method: options.method ?? 'POST',
        body: '{"hello":"async"}',
        headers: { 'content-type': 'application/json' },
        ...(options.amount === undefined ? { duration: options.seconds ?? 5 } : { amount: options.amount }),
      },
      (err, result) => {
        if (err) {
          reject(err);
          return;
        }
        resolve({
          perSecond: result.requests.total / result.duration,
          p50Ms: result.latency.p50,
          p99Ms: result.latency.p99,
          requests: result.requests.total,
          errors: result.errors + result.timeouts + result.non2xx,
        });
      },
    );
  });
}

async function counts(client: NimbusClient, fn: string): Promise<Record<string, number>> {
  return (
    await client.call<{ counts: Record<string, number> }>('GET', `/system/calls?function=${fn}&limit=0`)
  ).counts;
}

/** Runs the async measurements on fresh platforms in child processes; cleans up after itself. */
export async function measureAsync(options: AsyncBenchOptions = {}): Promise<AsyncBenchResults> {
  const seconds = options.seconds ?? 5;
  const connections = options.connections ?? 32;
  const e2eCalls = options.e2eCalls ?? 20_000;
  const progress = options.progress ?? (() => {});
  const workDir = mkdtempSync(join(tmpdir(), 'nimbus-bench-async-'));
  const servers: Server[] = [];
  try {
    // 1. Durable enqueues: the function's one worker is parked, so the queue only fills.
    progress(`async: durable enqueues at c${connections} for ${seconds}s`);
    const first = await startNimbus(workDir, 'data-enqueue');
    servers.push(first);
    const firstClient = new NimbusClient(first.url, first.token);
    await deploy(firstClient, workDir, 'parked', PARKED_SOURCE, {
      timeoutMs: 120_000,
      // The queue only fills here: caps above what the load can queue, so no call is refused 429.
      async: { concurrency: 1, maxQueued: 10_000_000, maxQueuedBytes: 16 * 1024 ** 3 },
    });
    await load(`${first.url}/async-function/parked`, { connections, seconds: 1 });
    const enqueue = await load(`${first.url}/async-function/parked`, { connections, seconds });
    await first.stop();
    servers.pop();

    progress(`async: baseline, node:http with one fsync per request, c${connections} for ${seconds}s`);
    const baseline = await startFsyncServer(workDir);
    servers.push(baseline);
    const fsyncPerRequest = await load(`${baseline.url}/`, { connections, seconds });
    await baseline.stop();
    servers.pop();

    // 2. End to end: a no-op function, enqueued at c32 while the workers run them.
    progress(`async: end to end, ${e2eCalls} calls of a no-op function`);
    const second = await startNimbus(workDir, 'data-e2e');
    servers.push(second);
    const client = new NimbusClient(second.url, second.token);
    await deploy(client, workDir, 'noop', NOOP_SOURCE, {
      concurrency: 64,
      scale: { min: 1, max: 1 },
      async: { concurrency: 64 },
    });
    const warm = await load(`${second.url}/async-function/noop`, { connections, amount: 2000 });
    const warmDeadline = Date.now() + 60_000;
    while ((await counts(client, 'noop')).succeeded! < warm.requests && Date.now() < warmDeadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    const before = (await counts(client, 'noop')).succeeded!;
    const started = performance.now();
    const enqueued = await load(`${second.url}/async-function/noop`, { connections, amount: e2eCalls });
    const enqueueSeconds = (performance.now() - started) / 1000;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const c = await counts(client, 'noop');
      if (c.succeeded! - before >= enqueued.requests - enqueued.errors) break;
      if (Date.now() > deadline) throw new Error(`end to end: not done within 120 s: ${JSON.stringify(c)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const e2eSeconds = (performance.now() - started) / 1000;
    progress(`async: the same function synchronously, c${connections} for ${seconds}s`);
    const sync = await load(`${second.url}/function/noop`, { connections, seconds });
    await second.stop();
    servers.pop();

    const now = new Date();
    const pad = (n: number) => String(n).padStart(2, '0');
    return {
      date: `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`,
      machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, Linux ${release()}, Node ${process.versions.node}`,
      connections,
      enqueue,
      fsyncPerRequest,
      endToEnd: {
        calls: enqueued.requests - enqueued.errors,
        seconds: e2eSeconds,
        perSecond: (enqueued.requests - enqueued.errors) / e2eSeconds,
        enqueueSeconds,
      },
      sync,
    };
  } finally {
    await Promise.allSettled(servers.map((s) => s.stop()));
    rmSync(workDir, { recursive: true, force: true });
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** The `## Async` section of docs/benchmarks.md. */
export function renderAsyncSection(r: AsyncBenchResults): string {
  const rate = (x: RateResult) => `${fmt(x.perSecond)}/s | ${x.p50Ms} ms | ${x.p99Ms} ms | ${x.errors}`;
  return `## Async

\`bench/async.ts\` (run ${r.date} on ${r.machine}; not pinned). Each Nimbus is the real \`nimbus up\`
in a child process on a fresh data dir; autocannon runs in the bench process.

- **Durable enqueues**: \`POST /async-function/parked\` with a 17-byte JSON body at ${r.connections}
  connections; the 202 goes out only after the call is on disk (group commit: the enqueues of one
  event-loop turn share one transaction, and the WAL is flushed with \`fdatasync\` off the event loop, one
  flush covering every transaction before it). The function's single worker holds one call,
  so the workers stay out of the measurement. Beside it, a bare \`node:http\` server that inserts each
  request into SQLite in its own transaction (one fsync per request).
- **End to end**: ${fmt(r.endToEnd.calls)} calls to a no-op function (one warm instance, concurrency 64,
  \`async.concurrency: 64\`) enqueued at ${r.connections} connections while the workers run them, timed
  from the first enqueue until every call is recorded \`succeeded\`. Beside it, the same function
  invoked synchronously.

| measurement | rate | p50 | p99 | errors |
|---|---|---|---|---|
| Nimbus durable enqueue, c${r.connections} | ${rate(r.enqueue)} |
| bare node:http, one fsync per request, c${r.connections} | ${rate(r.fsyncPerRequest)} |
| Nimbus sync invoke of the no-op, c${r.connections} | ${rate(r.sync)} |

End to end: **${fmt(r.endToEnd.perSecond)} calls/s** (${fmt(r.endToEnd.calls)} calls enqueued in
${r.endToEnd.enqueueSeconds.toFixed(1)} s, all succeeded after ${r.endToEnd.seconds.toFixed(1)} s).
Targets: durable enqueues ≥ ${fmt(ASYNC_TARGETS.enqueuePerSecondMin)}/s
(${r.enqueue.perSecond >= ASYNC_TARGETS.enqueuePerSecondMin ? 'met' : 'missed'}), end to end ≥
${fmt(ASYNC_TARGETS.endToEndPerSecondMin)}/s (${r.endToEnd.perSecond >= ASYNC_TARGETS.endToEndPerSecondMin ? 'met' : 'missed'}).
`;
}

/** Replaces (or appends) the `## Async` section of `path`, leaving every other section as it is. */
export function writeAsyncSection(section: string, path = DOC_PATH): void {
  writeSection(path, section);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const results = await measureAsync({
    seconds: Number(process.env.BENCH_SECONDS ?? 5),
    progress: (line) => process.stderr.write(`[bench] ${line}\n`),
  });
  const section = renderAsyncSection(results);
  process.stdout.write(`\n${section}\n`);
  if (process.env.BENCH_WRITE_DOC !== '0') writeAsyncSection(section);
}
