// The cost of the sandbox (issues 4 and 11): cold start from zero, stem cells off and on, and warm c1/c32
// throughput, each with the sandbox on (`sandbox: auto`, as `nimbus up` runs) and with `sandbox: off`,
// beside a bare node:http server in the same run; with the sandbox on, also `network: false` (its own
// namespace, no slirp4netns) beside the default `network: true` (egress through slirp4netns); and fair
// CPU: `hello`'s throughput beside three instances of another function spinning `for(;;){}`.
// A bench part (see parts-run.ts): `measureSandbox(ctx)`, then `renderSandbox` gives the `## Sandbox`
// section of docs/benchmarks.md. Run alone (after `npm run build`): `node --import tsx bench/sandbox.ts`.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PlatformConfigInput } from '../src/config/platform.js';
import { BenchChild } from './bench-child.js';
import { timedGet } from './cold-from-zero.js';
import { writeSection } from './doc-sections.js';
import { readBenchOptions } from './options.js';
import {
  buildSource,
  type ConfiguredPlatform,
  deployBuilt,
  HELLO_SOURCE,
  type PartContext,
  startConfiguredPlatform,
  waitForZero,
  waitQuiet,
} from './part-context.js';
import { readPartOptions } from './parts.js';
import { setUpPinning } from './pinning.js';
import { watchCore } from './proc.js';
import { percentile } from './stats.js';
import {
  disturbed,
  FOREIGN_CPU_RETRY_PCT,
  type LoadResult,
  type LoadTarget,
  MAX_REPEATS,
  measureThroughput,
} from './throughput.js';

/** `offline`: the sandbox on, the function with `network: false`. */
type Mode = 'on' | 'off' | 'offline';
type Start = 'spawn' | 'stem';

export interface SandboxColdSample {
  /** The first request after scale to zero, as the client saw it (ms). */
  clientMs: number;
  /** X-Nimbus-Init-Ms: start + load of the instance it waited for (ms). */
  initMs: number;
}

export interface SandboxResults {
  /** The line `nimbus up` printed for the sandboxed platforms. */
  isolation: string;
  starts: number;
  /** cold[mode][start]: `spawn` without stem cells, `stem` with them (the default). */
  cold: Record<Mode, Record<Start, SandboxColdSample[]>>;
  /** `node -e 0`, spawn to exit (ms). */
  spawnFloorMs: number[];
  /** Cold samples kept although another process took a share of a pinned core. */
  disturbed: number;
  /** results[key][connections], keys `bare`, `off`, `on`, `offline`: one LoadResult per round. */
  throughput: Record<string, Record<number, LoadResult[]>>;
  /**
   * Fair CPU, at the higher connection count: `alone` is `hello` (sandbox on) by itself, `neighbours` the
   * same beside three instances of another function spinning `for(;;){}` (cpu unset).
   */
  fairness: Record<string, Record<number, LoadResult[]>>;
}

/** A start deadline a busy machine does not trip over (the deploys check that instances start at all). */
const START_TIMEOUT_MS = 60_000;
const CONFIGS: Record<'on' | 'off', PlatformConfigInput> = {
  on: { sandbox: 'auto', startTimeoutMs: START_TIMEOUT_MS },
  off: { sandbox: 'off', startTimeoutMs: START_TIMEOUT_MS },
};
const STEM_CELLS: Record<Start, PlatformConfigInput['stemCells']> = {
  spawn: { min: 0, max: 0 },
  stem: { min: 1, max: 4 },
};
const COLD_FUNCTION = 'cold';
const COLD_SPEC = { scale: { min: 0, idleTimeoutMs: 100 } };
/** The same function with `network: false`, on the sandboxed platforms. */
const COLD_OFFLINE_FUNCTION = 'cold-offline';
/** Answers nothing, ever: each request holds one instance at 100 % of a core (until the platform stops). */
const SPIN_SOURCE = `export default {
  fetch(): Response {
    for (;;) {}
  },
};
`;
const SPIN_SPEC = { concurrency: 1, timeoutMs: 900_000, scale: { min: 0, max: 3 } };
const SPINNERS = 3;
/** One warm instance serving every request in flight, as the warm bench's `hello`. */
const WARM_SPEC = { concurrency: 64, scale: { min: 1, max: 1 } };
const WARMUP_STARTS = 3;
/** Less foreign CPU than this during one sample is not a disturbance (3 clock ticks). */
const MIN_FOREIGN_MS = 30;

interface Platform {
  mode: 'on' | 'off';
  start: Start;
  platform: ConfiguredPlatform;
}

export async function measureSandbox(ctx: PartContext): Promise<SandboxResults> {
  const { pinning, progress } = ctx;
  // Instance sockets go under the work dir: let the unprivileged user sandboxes run as pass through it
  // (never list it), as it passes through /tmp for `nimbus up`, so the sandbox runs as in production.
  chmodSync(ctx.workDir, 0o711);
  const platforms: Platform[] = [];
  const helpers: BenchChild[] = [];
  let isolation = '';
  try {
    for (const mode of ['on', 'off'] as const) {
      for (const start of ['stem', 'spawn'] as const) {
        const name = `nimbus-sandbox-${mode}-${start}`;
        const platform = await startConfiguredPlatform(
          ctx,
          name,
          { ...CONFIGS[mode], stemCells: STEM_CELLS[start] },
          (event) => {
            if (event.type === 'sandbox' && mode === 'on') isolation = String(event.summary);
          },
        );
        platforms.push({ mode, start, platform });
      }
    }
    const [bare, load, floor] = await Promise.all([
      ctx.startChild({ name: 'bare-sandbox', script: 'bare-server.mjs', core: pinning.serverCore }),
      ctx.startChild({ name: 'load-sandbox', script: 'load-generator.mjs', core: pinning.loadCore }),
      ctx.startChild({ name: 'spawn-floor-sandbox', script: 'spawn-floor.mjs', core: pinning.serverCore }),
    ]);
    helpers.push(bare.child, load.child, floor.child);
    progress(`sandbox: ${isolation || 'the platform did not say which isolation is in force'}`);

    const built = await buildSource(ctx.workDir, 'sandbox-hello', HELLO_SOURCE);
    for (const { platform, start, mode } of platforms) {
      await deployBuilt(platform.client, built, COLD_FUNCTION, COLD_SPEC);
      if (mode === 'on')
        await deployBuilt(platform.client, built, COLD_OFFLINE_FUNCTION, { ...COLD_SPEC, network: false });
      if (start === 'stem') await deployBuilt(platform.client, built, 'hello', WARM_SPEC);
      if (start === 'stem' && mode === 'on')
        await deployBuilt(platform.client, built, 'hello-offline', { ...WARM_SPEC, network: false });
    }

    const serverRoots = [...platforms.map((p) => p.platform.child.pid), floor.child.pid];
    const results: SandboxResults = {
      isolation,
      starts: ctx.parts.coldStarts,
      cold: { on: { spawn: [], stem: [] }, off: { spawn: [], stem: [] }, offline: { spawn: [], stem: [] } },
      spawnFloorMs: [],
      disturbed: 0,
      throughput: {},
      fairness: {},
    };
    /** A sample after `prepare`; again (at most MAX_REPEATS times) while a pinned core was busy elsewhere. */
    const undisturbed = async <T>(prepare: () => Promise<void>, sample: () => Promise<T>): Promise<T> => {
      let best: { value: T; foreignPct: number } | undefined;
      for (let attempt = 0; attempt <= MAX_REPEATS; attempt++) {
        await prepare();
        const watches = [
          watchCore(pinning.serverCore, serverRoots),
          watchCore(pinning.loadCore, [process.pid]),
        ];
        const value = await sample();
        const shares = watches.map((watch) => watch());
        const foreignPct = Math.max(...shares.map((share) => share.pct));
        if (foreignPct <= FOREIGN_CPU_RETRY_PCT || shares.every((share) => share.ms < MIN_FOREIGN_MS))
          return value;
        if (!best || foreignPct < best.foreignPct) best = { value, foreignPct };
      }
      results.disturbed++;
      return best!.value;
    };
    const coldSample = ({ platform }: Platform, fn = COLD_FUNCTION): Promise<SandboxColdSample> =>
      undisturbed(
        async () => {
          await waitForZero(platform.client, fn);
          await waitQuiet(serverRoots);
        },
        async () => {
          const answer = await timedGet(`${platform.client.baseUrl}/function/${fn}`);
          if (answer.status !== 200 || answer.body !== 'hello')
            throw new Error(`cold request answered ${answer.status}: ${answer.body.slice(0, 200)}`);
          const init = answer.headers['x-nimbus-init-ms'];
          return { clientMs: answer.ms, initMs: typeof init === 'string' ? Number(init) : Number.NaN };
        },
      );

    for (let i = 0; i < WARMUP_STARTS; i++) for (const p of platforms) await coldSample(p);
    results.disturbed = 0;
    for (let i = 0; i < results.starts; i++) {
      results.spawnFloorMs.push(
        await undisturbed(
          async () => {},
          async () => (await floor.child.call<number[]>('spawnNode', { runs: 1 }, 30_000))[0]!,
        ),
      );
      // The four platforms in turn, starting one further each round so none always follows the floor.
      for (let k = 0; k < platforms.length; k++) {
        const p = platforms[(i + k) % platforms.length]!;
        results.cold[p.mode][p.start].push(await coldSample(p));
        if (p.mode === 'on') results.cold.offline[p.start].push(await coldSample(p, COLD_OFFLINE_FUNCTION));
      }
      if ((i + 1) % 10 === 0 || i + 1 === results.starts) {
        const p50 = (mode: Mode, start: Start): string =>
          percentile(
            results.cold[mode][start].map((s) => s.clientMs),
            50,
          ).toFixed(1);
        progress(
          `sandbox: cold start ${i + 1}/${results.starts}: p50 ms off/offline/on ` +
            `${p50('off', 'spawn')}/${p50('offline', 'spawn')}/${p50('on', 'spawn')} without stem cells, ` +
            `${p50('off', 'stem')}/${p50('offline', 'stem')}/${p50('on', 'stem')} with`,
        );
      }
    }

    const warm = (mode: Mode): ConfiguredPlatform =>
      platforms.find((p) => p.mode === mode && p.start === 'stem')!.platform;
    const targets: LoadTarget[] = [
      { key: 'bare', url: `${String(bare.ready.url)}/function/hello`, serverPid: bare.child.pid },
      { key: 'off', url: `${warm('off').client.baseUrl}/function/hello`, serverPid: warm('off').child.pid },
      { key: 'on', url: `${warm('on').client.baseUrl}/function/hello`, serverPid: warm('on').child.pid },
      {
        key: 'offline',
        url: `${warm('on').client.baseUrl}/function/hello-offline`,
        serverPid: warm('on').child.pid,
      },
    ];
    results.throughput = await measureThroughput(load.child, targets, ctx.bench, pinning, (line) =>
      progress(`sandbox: ${line}`),
    );
    results.fairness = await measureFairness(ctx, warm('on'), load.child);
    return results;
  } finally {
    await Promise.allSettled([...platforms.map((p) => p.platform.stop()), ...helpers.map((h) => h.stop())]);
  }
}

/**
 * `hello` at the higher connection count by itself, then beside SPINNERS instances of a function that
 * spins forever (each request holds one instance at a full core; none has `cpu` set): per-function CPU
 * weights should leave `hello` at least half its throughput. The spinners end with the platform.
 */
async function measureFairness(
  ctx: PartContext,
  platform: ConfiguredPlatform,
  load: BenchChild,
): Promise<SandboxResults['fairness']> {
  const { pinning, progress } = ctx;
  const high = Math.max(...ctx.bench.connections);
  const options = { ...ctx.bench, warmupSeconds: 0 };
  const target = (key: string): LoadTarget => ({
    key,
    url: `${platform.client.baseUrl}/function/hello`,
    serverPid: platform.child.pid,
    connections: [high],
  });
  const log = (line: string): void => progress(`sandbox fairness: ${line}`);
  const alone = await measureThroughput(load, [target('alone')], options, pinning, log);
  const spin = await buildSource(ctx.workDir, 'sandbox-spin', SPIN_SOURCE);
  await deployBuilt(platform.client, spin, 'spinner', SPIN_SPEC);
  const aborts = Array.from({ length: SPINNERS }, () => new AbortController());
  for (const abort of aborts)
    void fetch(`${platform.client.baseUrl}/function/spinner`, { signal: abort.signal }).catch(() => {});
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const fn = await platform.client.get('spinner');
      if (fn.instances === SPINNERS && fn.inflight === SPINNERS) break;
      if (Date.now() > deadline) throw new Error(`only ${fn.inflight} of ${SPINNERS} spinners started`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const beside = await measureThroughput(load, [target('neighbours')], options, pinning, log);
    return { ...alone, ...beside };
  } finally {
    for (const abort of aborts) abort.abort();
  }
}

const ms = (n: number): string => (Number.isFinite(n) ? n.toFixed(1) : 'n/a');
const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const signed = (n: number, unit: string): string =>
  Number.isFinite(n) ? `${n < 0 ? '−' : '+'}${Math.abs(n).toFixed(1)} ${unit}` : 'n/a';
const p50 = (values: readonly number[]): number => percentile(values, 50);

/** What the sandbox adds: to a cold start (p50, ms) and to warm CPU per request at c32 (ratio). */
export function sandboxVerdict(r: SandboxResults): {
  spawnAddedMs: number;
  stemAddedMs: number;
  /** What egress (slirp4netns) adds to a cold start over `network: false`, p50 ms. */
  egressSpawnAddedMs: number;
  egressStemAddedMs: number;
  c32Ratio: number;
  /** `hello`'s c32 throughput beside three spinning instances of another function, over by itself. */
  fairnessRatio: number;
} {
  const client = (mode: Mode, start: Start): number => p50(r.cold[mode][start].map((s) => s.clientMs));
  const rps = (key: string): number => p50((r.throughput[key]?.[32] ?? []).map((x) => x.rps));
  const fair = (key: string): number => p50((r.fairness[key]?.[32] ?? []).map((x) => x.rps));
  return {
    spawnAddedMs: client('on', 'spawn') - client('off', 'spawn'),
    stemAddedMs: client('on', 'stem') - client('off', 'stem'),
    egressSpawnAddedMs: client('on', 'spawn') - client('offline', 'spawn'),
    egressStemAddedMs: client('on', 'stem') - client('offline', 'stem'),
    c32Ratio: rps('on') / rps('off'),
    fairnessRatio: fair('neighbours') / fair('alone'),
  };
}

/** The floor the fairness row must meet (issue 11): at least half of the throughput alone. */
export const FAIRNESS_FLOOR = 0.5;

export function renderSandbox(ctx: PartContext, r: SandboxResults): string {
  const [low, high] = ctx.bench.connections;
  const coldCell = (mode: Mode, start: Start): string => {
    const samples = r.cold[mode][start];
    const client = samples.map((s) => s.clientMs);
    return `${ms(p50(client))} / ${ms(percentile(client, 99))} (init ${ms(p50(samples.map((s) => s.initMs)))})`;
  };
  const coldP50 = (mode: Mode, start: Start): number => p50(r.cold[mode][start].map((s) => s.clientMs));
  const coldRow = (label: string, start: Start): string =>
    `| ${label} | ${coldCell('off', start)} | ${coldCell('offline', start)} | ${coldCell('on', start)} | ` +
    `${signed(coldP50('on', start) - coldP50('off', start), 'ms')} | ${signed(coldP50('on', start) - coldP50('offline', start), 'ms')} |`;
  const med = (key: string, c: number, pick: (x: LoadResult) => number): number =>
    p50((r.throughput[key]?.[c] ?? []).map(pick));
  const v = sandboxVerdict(r);
  const fair = (key: string, pick: (x: LoadResult) => number): number =>
    p50((r.fairness[key]?.[high] ?? []).map(pick));
  const lines = [
    '## Sandbox',
    '',
    `Measured ${ctx.run.date}: Nimbus ${ctx.run.revision}; ${ctx.run.machine}; ${ctx.pinning.description}. ` +
      'Four platforms identical but for `sandbox` (`auto`, as `nimbus up` runs, and `off`) and `stemCells` ' +
      "(default and none), all on the servers' core. The sandboxed ones printed:",
    '',
    `\`${r.isolation}\``,
    '',
    'Every sandboxed instance has a network namespace of its own; with `network: true` (the default) ' +
      'slirp4netns is attached to it for egress, with `network: false` nothing is. ' +
      `**Cold start from zero**: ${r.starts} starts per platform and function, the platforms in turn with ` +
      "`node -e 0` between rounds; before each, the function is at zero and the servers' core idle; one GET " +
      'timed to the last byte. p50 / p99 in ms at the client, and the p50 of `X-Nimbus-Init-Ms` (start + load).',
    '',
    '| cold start | `sandbox: off` | sandbox on, `network: false` | sandbox on, `network: true` | added by the sandbox (p50) | added by egress (p50) |',
    '|---|---|---|---|---|---|',
    coldRow('without stem cells: a new process', 'spawn'),
    coldRow('with stem cells (default): load into a prewarmed process', 'stem'),
    `| \`node -e 0\`, spawn to exit | ${ms(p50(r.spawnFloorMs))} / ${ms(percentile(r.spawnFloorMs, 99))} | | | | |`,
    '',
    `**Warm throughput**: \`hello\` on one warm instance (\`concurrency: 64\`), medians of ${ctx.bench.rounds} rounds ` +
      `of ${ctx.bench.seconds} s, the servers alternating. CPU is the whole serving process tree's ` +
      '(slirp4netns included for `network: true`).',
    '',
    '| | bare node:http | `sandbox: off` | sandbox on, `network: false` | sandbox on, `network: true` | on vs off |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const c of [low, high]) {
    const rps = (key: string): number => med(key, c, (x) => x.rps);
    const lat = (key: string): string =>
      `${int(med(key, c, (x) => x.p50Us))} / ${int(med(key, c, (x) => x.p99Us))}`;
    const cpu = (key: string): number => med(key, c, (x) => x.serverCpuUsPerReq);
    lines.push(
      `| c${c} requests/s | ${int(rps('bare'))} | ${int(rps('off'))} | ${int(rps('offline'))} | ${int(rps('on'))} | ${(rps('on') / rps('off')).toFixed(2)}× |`,
      `| c${c} latency p50 / p99 µs | ${lat('bare')} | ${lat('off')} | ${lat('offline')} | ${lat('on')} | ${signed(med('on', c, (x) => x.p50Us) - med('off', c, (x) => x.p50Us), 'µs')} p50 |`,
      `| c${c} server CPU µs/request | ${cpu('bare').toFixed(1)} | ${cpu('off').toFixed(1)} | ${cpu('offline').toFixed(1)} | ${cpu('on').toFixed(1)} | ${(cpu('on') / cpu('off')).toFixed(2)}× |`,
    );
  }
  lines.push(
    '',
    `**Fair CPU**: \`hello\` (sandbox on) at c${high} by itself, then beside ${SPINNERS} instances of another ` +
      "function whose handler spins `for(;;){}` (`cpu` unset on both; every instance in the servers' core), " +
      `medians of ${ctx.bench.rounds} rounds of ${ctx.bench.seconds} s. Each function's instances share one ` +
      `function's cgroup CPU weight; the floor is ${FAIRNESS_FLOOR}× of the throughput alone.`,
    '',
    '| | requests/s | latency p50 / p99 µs | vs alone |',
    '|---|---:|---:|---:|',
    `| \`hello\` alone | ${int(fair('alone', (x) => x.rps))} | ${int(fair('alone', (x) => x.p50Us))} / ${int(fair('alone', (x) => x.p99Us))} | 1.00× |`,
    `| \`hello\` beside ${SPINNERS} spinning instances | ${int(fair('neighbours', (x) => x.rps))} | ${int(fair('neighbours', (x) => x.p50Us))} / ${int(fair('neighbours', (x) => x.p99Us))} | ${v.fairnessRatio.toFixed(2)}× ${v.fairnessRatio >= FAIRNESS_FLOOR ? '✅' : '❌'} |`,
  );
  const warnings: string[] = [];
  if (r.disturbed > 0)
    warnings.push(
      `- ⚠️ ${r.disturbed} cold samples were taken while other processes used more than ${FOREIGN_CPU_RETRY_PCT}% of a pinned core, even after ${MAX_REPEATS} repeats.`,
    );
  const loads = [...Object.values(r.throughput), ...Object.values(r.fairness)].flatMap((byConnections) =>
    Object.values(byConnections).flat(),
  );
  const disturbedLoads = loads.filter(disturbed).length;
  if (disturbedLoads > 0)
    warnings.push(
      `- ⚠️ ${disturbedLoads} of ${loads.length} load measurements ran while other processes used more than ${FOREIGN_CPU_RETRY_PCT}% of a pinned core, even after ${MAX_REPEATS} repeats.`,
    );
  const failed = loads.reduce((n, x) => n + x.errors + x.non2xx, 0);
  if (failed > 0) warnings.push(`- ⚠️ ${failed} requests failed during the load.`);
  if (warnings.length > 0) lines.push('', ...warnings);
  return `${lines.join('\n')}\n`;
}

/** Run alone: its own work dir and clean-up; prints the section and writes it (unless BENCH_WRITE_DOC=0). */
async function main(): Promise<number> {
  const children: BenchChild[] = [];
  const progress = (line: string): void => {
    process.stderr.write(`[bench] ${line}\n`);
  };
  const workDir = mkdtempSync(join(tmpdir(), 'nimbus-bench-sandbox-'));
  let stop: () => void = () => {};
  const stopped = new Promise<undefined>((resolve) => {
    stop = () => resolve(undefined);
  });
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const pinning = setUpPinning();
    progress(pinning.description);
    const now = new Date();
    const pad = (n: number): string => String(n).padStart(2, '0');
    const ctx: PartContext = {
      workDir,
      pinning,
      bench: readBenchOptions(process.env),
      parts: readPartOptions(process.env),
      run: {
        date: `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`,
        machine: `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'unknown CPU'}, Linux ${release()}, Node ${process.versions.node}`,
        revision: 'working tree',
      },
      progress,
      startChild: async (options) => {
        const started = await BenchChild.start(options);
        children.push(started.child);
        return started;
      },
      rememberProcesses: () => {},
    };
    const running = measureSandbox(ctx);
    // Once stopped, the run fails as its processes go away: that is expected, not news.
    running.catch(() => {});
    const results = await Promise.race([running, stopped]);
    if (!results) {
      progress('stopped');
      return 130;
    }
    const section = renderSandbox(ctx, results);
    const v = sandboxVerdict(results);
    process.stdout.write(
      `\n${section}\nsandbox: cold start ${signed(v.spawnAddedMs, 'ms')} without stem cells, ` +
        `${signed(v.stemAddedMs, 'ms')} with (egress ${signed(v.egressSpawnAddedMs, 'ms')} / ${signed(v.egressStemAddedMs, 'ms')}); ` +
        `c32 throughput ${v.c32Ratio.toFixed(2)}× of sandbox: off; beside spinning neighbours ${v.fairnessRatio.toFixed(2)}× of alone\n`,
    );
    if (ctx.bench.writeDoc) {
      writeSection(fileURLToPath(new URL('../docs/benchmarks.md', import.meta.url)), section);
      progress('wrote "## Sandbox" in docs/benchmarks.md');
    }
    return 0;
  } catch (err) {
    progress(`failed: ${(err as Error).stack ?? String(err)}`);
    return 1;
  } finally {
    await Promise.allSettled(children.map((c) => c.stop()));
    rmSync(workDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) process.exit(await main());
