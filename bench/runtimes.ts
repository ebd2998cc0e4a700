// What each runtime costs: warm throughput and latency at 1 and 32 connections, and cold start from zero,
// for a "hello" function in node, python, exec, http and lambda, beside a bare node:http server in the
// same run. Written to the `## Runtimes` section of docs/benchmarks.md. `measureRuntimes` is called by a
// bench run that already has the load generator, the spawn-floor helper and the bare server; run alone
// (after `npm run build`: `node --import tsx bench/runtimes.ts`) it starts those itself.
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { buildFunction } from '../src/build/build.js';
import { NimbusClient } from '../src/cli/client.js';
import { TEMPLATES } from '../src/cli/templates.js';
import type { FunctionSpecInput, RuntimeName } from '../src/config/function-spec.js';
import { BenchChild, type BenchChildOptions } from './bench-child.js';
import { timedFetch } from './cold-start.js';
import { writeSection } from './doc-sections.js';
import { type BenchOptions, readBenchOptions } from './options.js';
import { type Pinning, setUpPinning } from './pinning.js';
import { descendants } from './proc.js';
import { median, percentile } from './stats.js';
import { disturbed, type LoadResult, type LoadTarget, measureThroughput } from './throughput.js';

export interface RuntimesBenchSetup {
  /** The bench's temp dir (removed by the caller). */
  workDir: string;
  options: BenchOptions;
  /** Cold starts per runtime (BENCH_RUNTIME_COLD_STARTS, default 10). */
  coldStarts: number;
  pinning: Pinning;
  /** The load generator (children/load-generator.mjs), started. */
  load: BenchChild;
  /** The spawn-floor helper (children/spawn-floor.mjs), started on the server core. */
  floor: BenchChild;
  /** The bare node:http server (children/bare-server.mjs), started on the server core. */
  bare: { url: string; pid: number };
  /** Starts a helper process and makes sure it is stopped when the bench ends. */
  startChild: (options: BenchChildOptions) => Promise<{ child: BenchChild; ready: Record<string, unknown> }>;
  /** Processes seen under the platform: for the caller to kill should the platform not stop them. */
  rememberProcesses?: (pids: readonly number[]) => void;
  progress: (line: string) => void;
}

export const BENCH_RUNTIMES = [
  'node',
  'python',
  'exec',
  'http',
  'lambda',
] as const satisfies readonly RuntimeName[];
export type BenchRuntime = (typeof BENCH_RUNTIMES)[number];

export interface RuntimesBenchResults {
  date: string;
  machine: string;
  pinning: string;
  options: BenchOptions;
  /** results[key][connections]: keys `bare` and each runtime. */
  throughput: Record<string, Record<number, LoadResult[]>>;
  /** Per runtime: the first request after scale to zero as the client saw it, and the platform's initMs. */
  cold: Record<BenchRuntime, { firstRequestMs: number[]; initMs: number[] }>;
  /** `node -e 0`, spawn to exit, interleaved with the cold starts (ms). */
  spawnFloorMs: number[];
}

/** One hello function per runtime: its files and the spec keys that make it that runtime. */
const HELLO: Record<
  BenchRuntime,
  { files: Record<string, string>; executables?: string[]; spec: FunctionSpecInput }
> = {
  node: {
    files: { 'index.ts': "export default { fetch: () => new Response('hello') };\n" },
    spec: { runtime: 'node' },
  },
  python: {
    files: { 'handler.py': 'def handle(event, context):\n    return {"statusCode": 200, "body": "hello"}\n' },
    spec: { runtime: 'python' },
  },
  exec: {
    files: { 'handler.sh': '#!/bin/sh\nprintf hello\n' },
    executables: ['handler.sh'],
    spec: { runtime: 'exec', command: './handler.sh' },
  },
  http: {
    files: {
      'server.mjs': `import { createServer } from 'node:http';
createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain;charset=UTF-8' });
  res.end('hello');
}).listen(process.env.PORT);
`,
    },
    spec: { runtime: 'http', command: 'node server.mjs' },
  },
  // The lambda-custom template's bootstrap (a Node runtime loop): the Runtime API, not a client library.
  lambda: {
    files: {
      bootstrap: TEMPLATES['lambda-custom']!.files.bootstrap!,
      'index.mjs': "export const handler = async () => ({ statusCode: 200, body: 'hello' });\n",
    },
    executables: ['bootstrap'],
    spec: { runtime: 'lambda', handler: 'index.handler' },
  },
};

/** Warm: one instance serving everything in flight (as the warm bench's `hello`). */
const WARM_SPEC: FunctionSpecInput = { concurrency: 64, scale: { min: 1, max: 1 } };
/** Cold: retired soon after each request, so every request is a cold start. */
const COLD_SPEC: FunctionSpecInput = { scale: { min: 0, idleTimeoutMs: 100 } };
const ZERO_POLL_MS = 10;
const ZERO_TIMEOUT_MS = 15_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function deployHello(client: NimbusClient, workDir: string, runtime: BenchRuntime): Promise<void> {
  const { files, executables, spec } = HELLO[runtime];
  const dir = join(workDir, 'runtime-functions', runtime);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  for (const file of executables ?? []) chmodSync(join(dir, file), 0o755);
  writeFileSync(join(dir, 'nimbus.yml'), stringify(spec));
  const built = await buildFunction(dir, { outDir: join(workDir, 'runtime-bundles', runtime) });
  await client.uploadBundle(built);
  await client.deploy(`${runtime}-warm`, built.hash, { ...spec, ...WARM_SPEC });
  await client.deploy(`${runtime}-cold`, built.hash, { ...spec, ...COLD_SPEC });
}

async function waitForZero(client: NimbusClient, name: string): Promise<void> {
  const deadline = Date.now() + ZERO_TIMEOUT_MS;
  for (;;) {
    const fn = await client.get(name);
    if (fn.instances === 0 && fn.starting === 0) return;
    if (Date.now() > deadline)
      throw new Error(`${name} still has ${fn.instances} instance(s) after ${ZERO_TIMEOUT_MS} ms`);
    await sleep(ZERO_POLL_MS);
  }
}

export async function measureRuntimes(setup: RuntimesBenchSetup): Promise<RuntimesBenchResults> {
  const { workDir, options, pinning, load, floor, progress } = setup;
  const initMs = new Map<string, number[]>();
  let recording = false;
  const { child: nimbus, ready } = await setup.startChild({
    name: 'nimbus-runtimes',
    script: 'nimbus-server.mjs',
    args: [join(workDir, 'runtimes-data')],
    core: pinning.serverCore,
    env: { TMPDIR: mkdtempSync(join(workDir, 'runtimes-tmp-')) },
    onEvent: (event) => {
      if (event.type === 'instance-start-failed') progress(`instance start failed: ${String(event.error)}`);
      if (recording && event.type === 'instance-ready') {
        const list = initMs.get(String(event.name)) ?? [];
        list.push(Number(event.initMs));
        initMs.set(String(event.name), list);
      }
    },
  });
  try {
    const client = new NimbusClient(String(ready.url), String(ready.token));
    progress(`deploying hello in ${BENCH_RUNTIMES.join(', ')}`);
    for (const runtime of BENCH_RUNTIMES) await deployHello(client, workDir, runtime);
    for (const runtime of BENCH_RUNTIMES) await timedFetch(`${client.baseUrl}/function/${runtime}-warm`);

    const targets: LoadTarget[] = [
      { key: 'bare', url: `${setup.bare.url}/function/hello`, serverPid: setup.bare.pid },
      ...BENCH_RUNTIMES.map((runtime) => ({
        key: runtime,
        url: `${client.baseUrl}/function/${runtime}-warm`,
        serverPid: nimbus.pid,
      })),
    ];
    const throughput = await measureThroughput(load, targets, options, pinning, progress);

    recording = true;
    const cold = {} as RuntimesBenchResults['cold'];
    const spawnFloorMs: number[] = [];
    for (const runtime of BENCH_RUNTIMES) {
      const name = `${runtime}-cold`;
      const firstRequestMs: number[] = [];
      for (let i = 0; i < setup.coldStarts; i++) {
        const [floorMs] = await floor.call<number[]>('spawnNode', { runs: 1 }, 30_000);
        spawnFloorMs.push(floorMs!);
        await waitForZero(client, name);
        firstRequestMs.push(await timedFetch(`${client.baseUrl}/function/${name}`));
      }
      cold[runtime] = { firstRequestMs, initMs: initMs.get(name) ?? [] };
      progress(
        `${runtime} cold start: p50 ${median(firstRequestMs).toFixed(1)} ms over ${firstRequestMs.length}`,
      );
    }
    recording = false;
    return {
      date: localDate(new Date()),
      machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, Linux ${release()}, Node ${process.versions.node}`,
      pinning: pinning.description,
      options,
      throughput,
      cold,
      spawnFloorMs,
    };
  } finally {
    setup.rememberProcesses?.(descendants(nimbus.pid));
    await nimbus.stop();
  }
}

function localDate(now: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : '–');
const ms1 = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : '–');

/** The `## Runtimes` section of docs/benchmarks.md. */
export function renderRuntimesSection(r: RuntimesBenchResults): string {
  const med = (key: string, c: number, pick: (x: LoadResult) => number): number =>
    median((r.throughput[key]?.[c] ?? []).map(pick));
  const [low, high] = r.options.connections;
  const bareHigh = med('bare', high, (x) => x.rps);
  const warm = BENCH_RUNTIMES.map((runtime) => {
    const ratio = med(runtime, high, (x) => x.rps) / bareHigh;
    return `| ${runtime} | ${int(med(runtime, low, (x) => x.rps))} | ${int(med(runtime, low, (x) => x.p50Us))} µs | ${int(med(runtime, high, (x) => x.rps))} | ${int(med(runtime, high, (x) => x.p50Us))} µs | ${int(med(runtime, high, (x) => x.p99Us))} µs | ${ratio.toFixed(2)}× | ${med(runtime, high, (x) => x.serverCpuUsPerReq).toFixed(1)} µs |`;
  });
  const cold = BENCH_RUNTIMES.map((runtime) => {
    const { firstRequestMs, initMs } = r.cold[runtime];
    return `| ${runtime} | ${ms1(median(firstRequestMs))} | ${ms1(percentile(firstRequestMs, 99))} | ${ms1(median(initMs))} | ${firstRequestMs.length} |`;
  });
  const errors = Object.entries(r.throughput).flatMap(([key, byC]) =>
    Object.entries(byC).flatMap(([c, rounds]) => {
      const notes: string[] = [];
      if (rounds.some((x) => x.errors + x.non2xx > 0))
        notes.push(`- ⚠️ ${key} c${c}: errors or non-2xx answers in a round.`);
      if (rounds.some(disturbed)) {
        const worst = Math.max(...rounds.map((x) => Math.max(x.foreignServerCorePct, x.foreignLoadCorePct)));
        notes.push(
          `- ⚠️ ${key} c${c}: up to ${Math.round(worst)}% of a pinned core went to other processes during a round, even after repeats.`,
        );
      }
      return notes;
    }),
  );
  return `## Runtimes

\`bench/runtimes.ts\`, run ${r.date} on ${r.machine}; ${r.pinning}; ${r.options.rounds} rounds × ${r.options.seconds} s per measurement after ${r.options.warmupSeconds} s warm-up, medians over the rounds.
The same "hello" in each runtime (docs/runtimes.md), on one Nimbus with its default config (stem cells and
sandbox as the host allows): warm, one instance with \`concurrency: 64\`; cold, \`scale: {min: 0, idleTimeoutMs: 100}\`,
waited down to zero instances through the control API, then one request timed end to end. exec starts
\`/bin/sh\` per request; http proxies to a Node \`node:http\` server; lambda runs the \`lambda-custom\`
template's Node bootstrap against the Runtime API. CPU per request is the whole platform process tree's.

| runtime | c${low} req/s | c${low} p50 | c${high} req/s | c${high} p50 | c${high} p99 | c${high} ÷ bare | c${high} server CPU per request |
|---|---:|---:|---:|---:|---:|---:|---:|
| bare node:http | ${int(med('bare', low, (x) => x.rps))} | ${int(med('bare', low, (x) => x.p50Us))} µs | ${int(bareHigh)} | ${int(med('bare', high, (x) => x.p50Us))} µs | ${int(med('bare', high, (x) => x.p99Us))} µs | 1.00× | ${med('bare', high, (x) => x.serverCpuUsPerReq).toFixed(1)} µs |
${warm.join('\n')}

| cold start (scale from zero) | first request p50 | p99 | \`initMs\` p50 (spawn + load) | runs |
|---|---:|---:|---:|---:|
${cold.join('\n')}
| \`node -e 0\` spawn to exit (the floor) | ${ms1(median(r.spawnFloorMs))} | ${ms1(percentile(r.spawnFloorMs, 99))} | | ${r.spawnFloorMs.length} |
${errors.length > 0 ? `\n${errors.join('\n')}\n` : ''}`;
}

/** Replaces (or appends) the `## Runtimes` section of `path`, leaving every other section as it is. */
export function writeRuntimesSection(path: string, section: string): void {
  writeSection(path, section);
}

function readColdStarts(env: Readonly<Record<string, string | undefined>>): number {
  const raw = env.BENCH_RUNTIME_COLD_STARTS;
  if (raw === undefined || raw === '') return 10;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1)
    throw new Error(`BENCH_RUNTIME_COLD_STARTS=${raw} is invalid: use a whole number ≥ 1`);
  return value;
}

async function main(): Promise<number> {
  const children: BenchChild[] = [];
  const leftovers = new Set<number>();
  const progress = (line: string): void => {
    process.stderr.write(`[bench] ${line}\n`);
  };
  const startChild: RuntimesBenchSetup['startChild'] = async (options) => {
    const started = await BenchChild.start(options);
    children.push(started.child);
    return started;
  };
  const workDir = mkdtempSync(join(tmpdir(), 'nimbus-bench-runtimes-'));
  let stop: () => void = () => {};
  const stopped = new Promise<undefined>((resolve) => {
    stop = () => resolve(undefined);
  });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const options = readBenchOptions(process.env);
    const pinning = setUpPinning();
    progress(pinning.description);
    const [bare, load, floor] = await Promise.all([
      startChild({ name: 'bare', script: 'bare-server.mjs', core: pinning.serverCore }),
      startChild({ name: 'load', script: 'load-generator.mjs', core: pinning.loadCore }),
      startChild({ name: 'spawn-floor', script: 'spawn-floor.mjs', core: pinning.serverCore }),
    ]);
    const running = measureRuntimes({
      workDir,
      options,
      coldStarts: readColdStarts(process.env),
      pinning,
      load: load.child,
      floor: floor.child,
      bare: { url: String(bare.ready.url), pid: bare.child.pid },
      startChild,
      rememberProcesses: (pids) => {
        for (const pid of pids) leftovers.add(pid);
      },
      progress,
    });
    // Once stopped, the run fails as its processes go away: that is expected, not news.
    running.catch(() => {});
    const results = await Promise.race([running, stopped]);
    if (!results) {
      progress('stopped');
      return 130;
    }
    const section = renderRuntimesSection(results);
    process.stdout.write(`\n${section}\n`);
    if (options.writeDoc) {
      writeRuntimesSection(fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url)), section);
      progress('wrote the Runtimes section of docs/benchmarks.md');
    }
    return 0;
  } catch (err) {
    progress(`failed: ${(err as Error).stack ?? String(err)}`);
    return 1;
  } finally {
    await Promise.allSettled(children.map((c) => c.stop()));
    for (const pid of leftovers) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {}
    }
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exit(await main());
