// The cost of the sandbox (issue 4): cold start from zero, stem cells off and on, and warm c1/c32
// throughput, each with the sandbox on (`sandbox: auto`, as `nimbus up` runs) and with `sandbox: off`,
// beside a bare node:http server in the same run. A bench part (see parts-run.ts): `measureSandbox(ctx)`,
// then `renderSandbox` gives the `## Sandbox` section of docs/benchmarks.md. Run alone (after
// `npm run build`): `node --import tsx bench/sandbox.ts`.
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

type Mode = 'on' | 'off';
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
  /** results[key][connections], keys `bare`, `off`, `on`: one LoadResult per round. */
  throughput: Record<string, Record<number, LoadResult[]>>;
}

const CONFIGS: Record<Mode, PlatformConfigInput> = { on: { sandbox: 'auto' }, off: { sandbox: 'off' } };
const STEM_CELLS: Record<Start, PlatformConfigInput['stemCells']> = {
  spawn: { min: 0, max: 0 },
  stem: { min: 1, max: 4 },
};
const COLD_FUNCTION = 'cold';
const COLD_SPEC = { scale: { min: 0, idleTimeoutMs: 100 } };
/** One warm instance serving every request in flight, as the warm bench's `hello`. */
const WARM_SPEC = { concurrency: 64, scale: { min: 1, max: 1 } };
const WARMUP_STARTS = 3;
/** Less foreign CPU than this during one sample is not a disturbance (3 clock ticks). */
const MIN_FOREIGN_MS = 30;

interface Platform {
  mode: Mode;
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
    for (const { platform, start } of platforms) {
      await deployBuilt(platform.client, built, COLD_FUNCTION, COLD_SPEC);
      if (start === 'stem') await deployBuilt(platform.client, built, 'hello', WARM_SPEC);
    }

    const serverRoots = [...platforms.map((p) => p.platform.child.pid), floor.child.pid];
    const results: SandboxResults = {
      isolation,
      starts: ctx.parts.coldStarts,
      cold: { on: { spawn: [], stem: [] }, off: { spawn: [], stem: [] } },
      spawnFloorMs: [],
      disturbed: 0,
      throughput: {},
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
    const coldSample = ({ platform }: Platform): Promise<SandboxColdSample> =>
      undisturbed(
        async () => {
          await waitForZero(platform.client, COLD_FUNCTION);
          await waitQuiet(serverRoots);
        },
        async () => {
          const answer = await timedGet(`${platform.client.baseUrl}/function/${COLD_FUNCTION}`);
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
      }
      if ((i + 1) % 10 === 0 || i + 1 === results.starts) {
        const p50 = (mode: Mode, start: Start): string =>
          percentile(
            results.cold[mode][start].map((s) => s.clientMs),
            50,
          ).toFixed(1);
        progress(
          `sandbox: cold start ${i + 1}/${results.starts}: p50 ms off/on ${p50('off', 'spawn')}/${p50('on', 'spawn')} ` +
            `without stem cells, ${p50('off', 'stem')}/${p50('on', 'stem')} with`,
        );
      }
    }

    const warm = (mode: Mode): ConfiguredPlatform =>
      platforms.find((p) => p.mode === mode && p.start === 'stem')!.platform;
    const targets: LoadTarget[] = [
      { key: 'bare', url: `${String(bare.ready.url)}/function/hello`, serverPid: bare.child.pid },
      { key: 'off', url: `${warm('off').client.baseUrl}/function/hello`, serverPid: warm('off').child.pid },
      { key: 'on', url: `${warm('on').client.baseUrl}/function/hello`, serverPid: warm('on').child.pid },
    ];
    results.throughput = await measureThroughput(load.child, targets, ctx.bench, pinning, (line) =>
      progress(`sandbox: ${line}`),
    );
    return results;
  } finally {
    await Promise.allSettled([...platforms.map((p) => p.platform.stop()), ...helpers.map((h) => h.stop())]);
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
  c32Ratio: number;
} {
  const client = (mode: Mode, start: Start): number => p50(r.cold[mode][start].map((s) => s.clientMs));
  const rps = (key: string): number => p50((r.throughput[key]?.[32] ?? []).map((x) => x.rps));
  return {
    spawnAddedMs: client('on', 'spawn') - client('off', 'spawn'),
    stemAddedMs: client('on', 'stem') - client('off', 'stem'),
    c32Ratio: rps('on') / rps('off'),
  };
}

export function renderSandbox(ctx: PartContext, r: SandboxResults): string {
  const [low, high] = ctx.bench.connections;
  const coldRow = (label: string, start: Start): string => {
    const cell = (mode: Mode): string => {
      const samples = r.cold[mode][start];
      const client = samples.map((s) => s.clientMs);
      return `${ms(p50(client))} / ${ms(percentile(client, 99))} (init ${ms(p50(samples.map((s) => s.initMs)))})`;
    };
    const added =
      p50(r.cold.on[start].map((s) => s.clientMs)) - p50(r.cold.off[start].map((s) => s.clientMs));
    return `| ${label} | ${cell('off')} | ${cell('on')} | ${signed(added, 'ms')} |`;
  };
  const med = (key: string, c: number, pick: (x: LoadResult) => number): number =>
    p50((r.throughput[key]?.[c] ?? []).map(pick));
  const lines = [
    '## Sandbox',
    '',
    `Measured ${ctx.run.date}: Nimbus ${ctx.run.revision}; ${ctx.run.machine}; ${ctx.pinning.description}. ` +
      'Four platforms identical but for `sandbox` (`auto`, as `nimbus up` runs, and `off`) and `stemCells` ' +
      "(default and none), all on the servers' core. The sandboxed ones printed:",
    '',
    `\`${r.isolation}\``,
    '',
    `**Cold start from zero**: ${r.starts} starts per platform, the four in turn with \`node -e 0\` between ` +
      "rounds; before each, the function is at zero and the servers' core idle; one GET timed to the last " +
      'byte. p50 / p99 in ms at the client, and the p50 of `X-Nimbus-Init-Ms` (start + load).',
    '',
    '| cold start | `sandbox: off` | sandbox on | added by the sandbox (p50) |',
    '|---|---|---|---|',
    coldRow('without stem cells: a new process', 'spawn'),
    coldRow('with stem cells (default): load into a prewarmed process', 'stem'),
    `| \`node -e 0\`, spawn to exit | ${ms(p50(r.spawnFloorMs))} / ${ms(percentile(r.spawnFloorMs, 99))} | | |`,
    '',
    `**Warm throughput**: \`hello\` on one warm instance (\`concurrency: 64\`), medians of ${ctx.bench.rounds} rounds ` +
      `of ${ctx.bench.seconds} s, the three servers alternating. CPU is the whole serving process tree's.`,
    '',
    '| | bare node:http | `sandbox: off` | sandbox on | on vs off |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const c of [low, high]) {
    const rps = (key: string): number => med(key, c, (x) => x.rps);
    const lat = (key: string): string =>
      `${int(med(key, c, (x) => x.p50Us))} / ${int(med(key, c, (x) => x.p99Us))}`;
    const cpu = (key: string): number => med(key, c, (x) => x.serverCpuUsPerReq);
    lines.push(
      `| c${c} requests/s | ${int(rps('bare'))} | ${int(rps('off'))} | ${int(rps('on'))} | ${(rps('on') / rps('off')).toFixed(2)}× |`,
      `| c${c} latency p50 / p99 µs | ${lat('bare')} | ${lat('off')} | ${lat('on')} | ${signed(med('on', c, (x) => x.p50Us) - med('off', c, (x) => x.p50Us), 'µs')} p50 |`,
      `| c${c} server CPU µs/request | ${cpu('bare').toFixed(1)} | ${cpu('off').toFixed(1)} | ${cpu('on').toFixed(1)} | ${(cpu('on') / cpu('off')).toFixed(2)}× |`,
    );
  }
  const warnings: string[] = [];
  if (r.disturbed > 0)
    warnings.push(
      `- ⚠️ ${r.disturbed} cold samples were taken while other processes used more than ${FOREIGN_CPU_RETRY_PCT}% of a pinned core, even after ${MAX_REPEATS} repeats.`,
    );
  const loads = Object.values(r.throughput).flatMap((byConnections) => Object.values(byConnections).flat());
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
        `${signed(v.stemAddedMs, 'ms')} with; c32 throughput ${v.c32Ratio.toFixed(2)}× of sandbox: off\n`,
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
