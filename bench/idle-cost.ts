// Idle cost (issue 3): what 1,000 deployed functions at zero instances cost a platform. One warm hello
// function is measured (c1 latency, the platform's RSS after a full GC, its idle CPU, the autoscaler's
// tick time); then the same bundle is deployed under 1,000 more names (uploaded once, PUT 1,000 times;
// each deploy starts one instance to prove the code loads, and `idleTimeoutMs: 100` takes it back to
// zero), and everything is measured again once every one of them is at zero.
import type { BenchChild } from './bench-child.js';
import {
  buildSource,
  type ConfiguredPlatform,
  deployBuilt,
  HELLO_SOURCE,
  type PartContext,
  sleep,
  startConfiguredPlatform,
  waitQuiet,
} from './part-context.js';
import { memoryMb, treeCpuMs } from './proc.js';
import { median, percentile } from './stats.js';
import { disturbed, type LoadResult, measureThroughput } from './throughput.js';

export const IDLE_TARGETS = {
  /** Platform RSS increase with the functions at zero, in MB, at most. */
  rssIncreaseMbMax: 10,
  /** "Unchanged" c1 p50 latency of the warm function: within this fraction of before. */
  latencyChangeMax: 0.1,
} as const;

const WARM_NAME = 'warm';
const WARM_SPEC = { scale: { min: 1, max: 1 } };
const IDLE_SPEC = { scale: { min: 0, idleTimeoutMs: 100 } };
/** The platform is watched at rest this long for its idle CPU and tick times. */
const REST_SECONDS = 10;
const ZERO_TIMEOUT_MS = 180_000;

interface PlatformMemory {
  rssMb: number;
  heapUsedMb: number;
  externalMb: number;
}

interface TickStats {
  count: number;
  p50Us: number | null;
  p99Us: number | null;
  maxUs: number | null;
  loopDelayP50Ms: number;
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

interface RestState {
  memory: PlatformMemory;
  /** VmHWM of the platform process (MB). */
  peakMb: number;
  /** CPU of the platform process at rest, in % of a core. */
  idleCpuPct: number;
  ticks: TickStats;
  /** The warm function at 1 connection, one result per round (bench/throughput.ts). */
  latency: LoadResult[];
  /** GET /api/v1/functions and GET /api/v1/functions/warm (ms, median of 5). */
  listMs: number;
  getMs: number;
}

export interface IdleCostResults {
  functions: number;
  before: RestState;
  after: RestState;
  /** PUT /api/v1/functions/{name} times, in deploy order (ms). */
  deployMs: number[];
  /** From the first PUT until every function was at zero (s). */
  toZeroSeconds: number;
  /** Most instances alive at once during the deploys (sampled). */
  peakInstances: number;
  latencySeconds: number;
}

async function timed(work: () => Promise<unknown>, times: number): Promise<number> {
  const ms: number[] = [];
  for (let i = 0; i < times; i++) {
    const startedAt = performance.now();
    await work();
    ms.push(performance.now() - startedAt);
  }
  return median(ms);
}

async function measureRest(
  ctx: PartContext,
  platform: ConfiguredPlatform,
  load: BenchChild,
  label: string,
): Promise<RestState> {
  const { child, client } = platform;
  await waitQuiet([child.pid], 200, 10_000);
  await child.call('ticks', {}, 10_000);
  const cpuBefore = treeCpuMs(child.pid).rootMs;
  const startedAt = performance.now();
  await sleep(REST_SECONDS * 1000);
  const idleCpuPct = ((treeCpuMs(child.pid).rootMs - cpuBefore) / (performance.now() - startedAt)) * 100;
  const ticks = await child.call<TickStats>('ticks', {}, 10_000);
  const memory = await child.call<PlatformMemory>('memory', {}, 30_000);
  const peakMb = memoryMb(child.pid)?.peakMb ?? Number.NaN;
  // Warm-up at the high connection count, then rounds at 1 connection; disturbed rounds are repeated.
  const measured = await measureThroughput(
    load,
    [
      {
        key: WARM_NAME,
        url: `${client.baseUrl}/function/${WARM_NAME}`,
        serverPid: child.pid,
        connections: [1],
      },
    ],
    ctx.bench,
    ctx.pinning,
    (line) => ctx.progress(`idle cost, ${label}: ${line}`),
  );
  const latency = measured[WARM_NAME]?.[1] ?? [];
  const listMs = await timed(() => client.list(), 5);
  const getMs = await timed(() => client.get(WARM_NAME), 5);
  return { memory, peakMb, idleCpuPct, ticks, latency, listMs, getMs };
}

export async function measureIdleCost(ctx: PartContext): Promise<IdleCostResults> {
  const { progress } = ctx;
  const count = ctx.parts.idleFunctions;
  let platform: ConfiguredPlatform | undefined;
  let load: BenchChild | undefined;
  try {
    const [started, loadChild] = await Promise.all([
      startConfiguredPlatform(ctx, 'nimbus-idle', {}),
      ctx.startChild({ name: 'load-idle', script: 'load-generator.mjs', core: ctx.pinning.loadCore }),
    ]);
    platform = started;
    load = loadChild.child;
    const { client, child } = platform;
    const built = await buildSource(ctx.workDir, 'idle-hello', HELLO_SOURCE);
    await deployBuilt(client, built, WARM_NAME, WARM_SPEC);
    const before = await measureRest(ctx, platform, load, 'before');

    progress(`idle cost: deploying ${count} functions`);
    const deployMs: number[] = [];
    let peakInstances = 0;
    const firstPutAt = performance.now();
    for (let i = 0; i < count; i++) {
      const name = `idle-${String(i + 1).padStart(4, '0')}`;
      const startedAt = performance.now();
      await client.deploy(name, built.hash, IDLE_SPEC);
      deployMs.push(performance.now() - startedAt);
      if (i % 25 === 0) {
        const s = await child.call<{ instances: number }>('instances', {}, 10_000);
        peakInstances = Math.max(peakInstances, s.instances);
      }
      if ((i + 1) % 100 === 0 || i + 1 === count)
        progress(`idle cost: ${i + 1}/${count} deployed, last PUT ${deployMs[i]!.toFixed(0)} ms`);
    }
    const deadline = Date.now() + ZERO_TIMEOUT_MS;
    for (;;) {
      const s = await child.call<{ instances: number; starting: number }>('instances', {}, 10_000);
      // The warm function keeps its one instance.
      if (s.instances <= 1 && s.starting === 0) break;
      if (Date.now() > deadline)
        throw new Error(`${s.instances} instances still run ${ZERO_TIMEOUT_MS} ms after the deploys`);
      await sleep(200);
    }
    const toZeroSeconds = (performance.now() - firstPutAt) / 1000;
    const after = await measureRest(ctx, platform, load, 'after');
    return {
      functions: count,
      before,
      after,
      deployMs,
      toZeroSeconds,
      peakInstances,
      latencySeconds: ctx.bench.seconds,
    };
  } finally {
    await Promise.allSettled([platform?.stop(), load?.stop()]);
  }
}

const fixed = (n: number | null | undefined, digits: number): string =>
  n !== null && n !== undefined && Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const check = (ok: boolean): string => (ok ? '✅' : '❌');

export function idleVerdict(r: IdleCostResults): { rssIncreaseMb: number; p50Change: number; met: boolean } {
  const rssIncreaseMb = r.after.memory.rssMb - r.before.memory.rssMb;
  const p50 = (s: RestState): number => median(s.latency.map((l) => l.p50Us));
  const p50Change = p50(r.after) / p50(r.before) - 1;
  return {
    rssIncreaseMb,
    p50Change,
    met: rssIncreaseMb <= IDLE_TARGETS.rssIncreaseMbMax && p50Change <= IDLE_TARGETS.latencyChangeMax,
  };
}

export function renderIdleCost(ctx: PartContext, r: IdleCostResults): string {
  const v = idleVerdict(r);
  const lat = (s: RestState, pick: (l: LoadResult) => number): number => median(s.latency.map(pick));
  const range = (s: RestState, pick: (l: LoadResult) => number): string => {
    const values = s.latency.map(pick);
    return values.length > 1 ? ` (${int(Math.min(...values))}–${int(Math.max(...values))})` : '';
  };
  const row = (label: string, before: string, after: string, change: string, target = ''): string =>
    `| ${label} | ${before} | ${after} | ${change} | ${target} |`;
  const n = r.functions;
  const tenth = Math.max(1, Math.floor(n / 10));
  const firstDeploys = r.deployMs.slice(0, tenth);
  const lastDeploys = r.deployMs.slice(-tenth);
  const p50Change = `${v.p50Change >= 0 ? '+' : '−'}${fixed(Math.abs(v.p50Change) * 100, 1)} %`;
  const lines = [
    '## Idle cost',
    '',
    `Measured ${ctx.run.date}: Nimbus ${ctx.run.revision}; ${ctx.run.machine}; ${ctx.pinning.description}. ` +
      `A fresh platform (default config) with one warm hello function (\`scale: {min: 1, max: 1}\`), measured at ` +
      `rest, then ${int(n)} more functions deployed one after the other from the same bundle (uploaded once; ` +
      '`PUT /api/v1/functions/{name}` with `scale: {min: 0, idleTimeoutMs: 100}`, each start proving the code ' +
      'loads), and measured again once every one of them was back at zero. Memory is the platform process ' +
      `after a full GC (\`gc()\` twice, then VmRSS); idle CPU is the platform process over ${REST_SECONDS} s at rest; ` +
      "tick time is the autoscaler's `tick()` (timed in the bench's platform process); latency is the warm " +
      `function at 1 connection (autocannon, ${r.before.latency.length} rounds × ${r.latencySeconds} s after a warm-up at 32 ` +
      'connections, medians and per-round range; a round disturbed by other processes is repeated, as on the warm path).',
    '',
    `| platform | 1 function | ${int(n + 1)} functions (${int(n)} at zero) | change | target |`,
    '|---|---:|---:|---:|---|',
    row(
      'platform RSS after GC',
      `${fixed(r.before.memory.rssMb, 1)} MB`,
      `${fixed(r.after.memory.rssMb, 1)} MB`,
      `+${fixed(v.rssIncreaseMb, 1)} MB (${int((v.rssIncreaseMb * 1e6) / n)} B per function)`,
      `≤ +${IDLE_TARGETS.rssIncreaseMbMax} MB ${check(v.rssIncreaseMb <= IDLE_TARGETS.rssIncreaseMbMax)}`,
    ),
    row(
      'JS heap used after GC',
      `${fixed(r.before.memory.heapUsedMb, 1)} MB`,
      `${fixed(r.after.memory.heapUsedMb, 1)} MB`,
      `+${fixed(r.after.memory.heapUsedMb - r.before.memory.heapUsedMb, 1)} MB`,
    ),
    row(
      'platform peak RSS (VmHWM) so far',
      `${fixed(r.before.peakMb, 1)} MB`,
      `${fixed(r.after.peakMb, 1)} MB`,
      '',
    ),
    row(
      'warm function c1 p50 latency',
      `${int(lat(r.before, (l) => l.p50Us))} µs${range(r.before, (l) => l.p50Us)}`,
      `${int(lat(r.after, (l) => l.p50Us))} µs${range(r.after, (l) => l.p50Us)}`,
      p50Change,
      `unchanged (within ${IDLE_TARGETS.latencyChangeMax * 100} %) ${check(v.p50Change <= IDLE_TARGETS.latencyChangeMax)}`,
    ),
    row(
      'warm function c1 p99 latency',
      `${int(lat(r.before, (l) => l.p99Us))} µs${range(r.before, (l) => l.p99Us)}`,
      `${int(lat(r.after, (l) => l.p99Us))} µs${range(r.after, (l) => l.p99Us)}`,
      '',
    ),
    row('warm function c1 requests/s', int(lat(r.before, (l) => l.rps)), int(lat(r.after, (l) => l.rps)), ''),
    row(
      'warm function c1 server CPU per request (platform + instance)',
      `${fixed(
        lat(r.before, (l) => l.serverCpuUsPerReq),
        1,
      )} µs`,
      `${fixed(
        lat(r.after, (l) => l.serverCpuUsPerReq),
        1,
      )} µs`,
      '',
    ),
    row(
      'platform CPU at rest',
      `${fixed(r.before.idleCpuPct, 2)} %`,
      `${fixed(r.after.idleCpuPct, 2)} %`,
      '',
    ),
    row(
      'autoscaler tick, p50 / max',
      `${fixed(r.before.ticks.p50Us, 0)} / ${fixed(r.before.ticks.maxUs, 0)} µs`,
      `${fixed(r.after.ticks.p50Us, 0)} / ${fixed(r.after.ticks.maxUs, 0)} µs`,
      '',
    ),
    row(
      'event-loop delay at rest, p99 / max',
      `${fixed(r.before.ticks.loopDelayP99Ms, 1)} / ${fixed(r.before.ticks.loopDelayMaxMs, 1)} ms`,
      `${fixed(r.after.ticks.loopDelayP99Ms, 1)} / ${fixed(r.after.ticks.loopDelayMaxMs, 1)} ms`,
      '',
    ),
    row(
      '`GET /api/v1/functions` (list)',
      `${fixed(r.before.listMs, 1)} ms`,
      `${fixed(r.after.listMs, 1)} ms`,
      '',
    ),
    row(
      '`GET /api/v1/functions/warm`',
      `${fixed(r.before.getMs, 1)} ms`,
      `${fixed(r.after.getMs, 1)} ms`,
      '',
    ),
    '',
    `Deploying them: ${int(n)} PUTs took ${fixed(r.deployMs.reduce((a, b) => a + b, 0) / 1000, 1)} s ` +
      `(p50 ${fixed(percentile(r.deployMs, 50), 1)} ms, p99 ${fixed(percentile(r.deployMs, 99), 1)} ms, ` +
      `max ${fixed(Math.max(...r.deployMs), 1)} ms; p50 of the first ${tenth} ${fixed(percentile(firstDeploys, 50), 1)} ms, ` +
      `of the last ${tenth} ${fixed(percentile(lastDeploys, 50), 1)} ms); all ${int(n)} were at zero ` +
      `${fixed(r.toZeroSeconds, 1)} s after the first PUT; at most ${r.peakInstances} of their instances were alive at once (sampled every 25 deploys).`,
  ];
  const all = [...r.before.latency, ...r.after.latency];
  if (all.some((l) => l.errors + l.non2xx > 0))
    lines.push('', '- ⚠️ some latency rounds had errors or non-2xx answers.');
  if (all.some(disturbed))
    lines.push('', '- ⚠️ some latency rounds stayed disturbed by other processes after their repeats.');
  return `${lines.join('\n')}\n`;
}
