// Idle cost (issue 3): what 1,000 deployed functions at zero instances cost a platform. Two identical
// platforms each serve one warm hello function; both are measured (c1 latency interleaved between them,
// the platform's RSS after a full GC, its idle CPU, the autoscaler's tick time); then one of them gets the
// same bundle deployed under 1,000 more names (uploaded once, PUT 1,000 times; each deploy starts one
// instance to prove the code loads, and `idleTimeoutMs: 100` takes it back to zero) and both are measured
// again once every one of those is at zero. The other platform, untouched, is the control: it shows what
// the machine's noise and the measurements themselves did in the meantime.
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
  /** "Unchanged" c1 p50 latency of the warm function: within this fraction of the control's. */
  latencyChangeMax: 0.1,
} as const;

const WARM_NAME = 'warm';
const WARM_SPEC = { scale: { min: 1, max: 1 } };
const IDLE_SPEC = { scale: { min: 0, idleTimeoutMs: 100 } };
/** The platforms are watched at rest this long for their idle CPU and tick times. */
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
  /** GET /api/v1/functions and GET /api/v1/functions/warm (ms, median of 5). */
  listMs: number;
  getMs: number;
}

/** One phase (before or after the deploys): both platforms at rest, then their warm functions' latency. */
interface Phase {
  loaded: RestState;
  control: RestState;
  /** The warm function at 1 connection, one result per round (bench/throughput.ts), interleaved. */
  loadedLatency: LoadResult[];
  controlLatency: LoadResult[];
}

export interface IdleCostResults {
  functions: number;
  before: Phase;
  after: Phase;
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

async function atRest(platforms: ConfiguredPlatform[]): Promise<RestState[]> {
  const pids = platforms.map((p) => p.child.pid);
  await waitQuiet(pids, 200, 10_000);
  for (const p of platforms) await p.child.call('ticks', {}, 10_000);
  const cpuBefore = pids.map((pid) => treeCpuMs(pid).rootMs);
  const startedAt = performance.now();
  await sleep(REST_SECONDS * 1000);
  const wallMs = performance.now() - startedAt;
  const states: RestState[] = [];
  for (const [i, p] of platforms.entries()) {
    const idleCpuPct = ((treeCpuMs(p.child.pid).rootMs - cpuBefore[i]!) / wallMs) * 100;
    const ticks = await p.child.call<TickStats>('ticks', {}, 10_000);
    const memory = await p.child.call<PlatformMemory>('memory', {}, 30_000);
    const peakMb = memoryMb(p.child.pid)?.peakMb ?? Number.NaN;
    const listMs = await timed(() => p.client.list(), 5);
    const getMs = await timed(() => p.client.get(WARM_NAME), 5);
    states.push({ memory, peakMb, idleCpuPct, ticks, listMs, getMs });
  }
  return states;
}

async function phase(
  ctx: PartContext,
  loaded: ConfiguredPlatform,
  control: ConfiguredPlatform,
  load: BenchChild,
  label: string,
): Promise<Phase> {
  const [loadedRest, controlRest] = await atRest([loaded, control]);
  // Warm-up at the high connection count, then rounds at 1 connection alternating between the two
  // platforms (the order flips every round); disturbed rounds are repeated.
  const target = (key: string, p: ConfiguredPlatform) => ({
    key,
    url: `${p.client.baseUrl}/function/${WARM_NAME}`,
    serverPid: p.child.pid,
    connections: [1],
  });
  const measured = await measureThroughput(
    load,
    [target('loaded', loaded), target('control', control)],
    ctx.bench,
    ctx.pinning,
    (line) => ctx.progress(`idle cost, ${label}: ${line}`),
  );
  return {
    loaded: loadedRest!,
    control: controlRest!,
    loadedLatency: measured.loaded?.[1] ?? [],
    controlLatency: measured.control?.[1] ?? [],
  };
}

export async function measureIdleCost(ctx: PartContext): Promise<IdleCostResults> {
  const { progress } = ctx;
  const count = ctx.parts.idleFunctions;
  const platforms: ConfiguredPlatform[] = [];
  let load: BenchChild | undefined;
  try {
    const [loaded, control, loadChild] = await Promise.all([
      startConfiguredPlatform(ctx, 'nimbus-idle', {}),
      startConfiguredPlatform(ctx, 'nimbus-idle-control', {}),
      ctx.startChild({ name: 'load-idle', script: 'load-generator.mjs', core: ctx.pinning.loadCore }),
    ]);
    platforms.push(loaded, control);
    load = loadChild.child;
    const built = await buildSource(ctx.workDir, 'idle-hello', HELLO_SOURCE);
    for (const p of platforms) await deployBuilt(p.client, built, WARM_NAME, WARM_SPEC);
    const before = await phase(ctx, loaded, control, load, 'before');

    progress(`idle cost: deploying ${count} functions`);
    const deployMs: number[] = [];
    let peakInstances = 0;
    const firstPutAt = performance.now();
    for (let i = 0; i < count; i++) {
      const name = `idle-${String(i + 1).padStart(4, '0')}`;
      const startedAt = performance.now();
      await loaded.client.deploy(name, built.hash, IDLE_SPEC);
      deployMs.push(performance.now() - startedAt);
      if (i % 25 === 0) {
        const s = await loaded.child.call<{ instances: number }>('instances', {}, 10_000);
        peakInstances = Math.max(peakInstances, s.instances);
      }
      if ((i + 1) % 100 === 0 || i + 1 === count)
        progress(`idle cost: ${i + 1}/${count} deployed, last PUT ${deployMs[i]!.toFixed(0)} ms`);
    }
    const deadline = Date.now() + ZERO_TIMEOUT_MS;
    for (;;) {
      const s = await loaded.child.call<{ instances: number; starting: number }>('instances', {}, 10_000);
      // The warm function keeps its one instance.
      if (s.instances <= 1 && s.starting === 0) break;
      if (Date.now() > deadline)
        throw new Error(`${s.instances} instances still run ${ZERO_TIMEOUT_MS} ms after the deploys`);
      await sleep(200);
    }
    const toZeroSeconds = (performance.now() - firstPutAt) / 1000;
    const after = await phase(ctx, loaded, control, load, 'after');
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
    await Promise.allSettled([...platforms.map((p) => p.stop()), load?.stop()]);
  }
}

const fixed = (n: number | null | undefined, digits: number): string =>
  n !== null && n !== undefined && Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const check = (ok: boolean): string => (ok ? '✅' : '❌');
const signedPct = (x: number): string => `${x >= 0 ? '+' : '−'}${fixed(Math.abs(x) * 100, 1)} %`;
const p50 = (list: LoadResult[]): number => median(list.map((l) => l.p50Us));

export interface IdleVerdict {
  /** The loaded platform's RSS increase, and the same less the control platform's drift (MB). */
  rssIncreaseMb: number;
  netRssIncreaseMb: number;
  /** After the deploys: loaded c1 p50 ÷ control c1 p50 − 1 (and the same before, for calibration). */
  p50VsControl: number;
  p50VsControlBefore: number;
  met: boolean;
}

export function idleVerdict(r: IdleCostResults): IdleVerdict {
  const rssIncreaseMb = r.after.loaded.memory.rssMb - r.before.loaded.memory.rssMb;
  const drift = r.after.control.memory.rssMb - r.before.control.memory.rssMb;
  const netRssIncreaseMb = rssIncreaseMb - drift;
  const p50VsControl = p50(r.after.loadedLatency) / p50(r.after.controlLatency) - 1;
  const p50VsControlBefore = p50(r.before.loadedLatency) / p50(r.before.controlLatency) - 1;
  return {
    rssIncreaseMb,
    netRssIncreaseMb,
    p50VsControl,
    p50VsControlBefore,
    met: netRssIncreaseMb <= IDLE_TARGETS.rssIncreaseMbMax && p50VsControl <= IDLE_TARGETS.latencyChangeMax,
  };
}

export function renderIdleCost(ctx: PartContext, r: IdleCostResults): string {
  const v = idleVerdict(r);
  const lat = (list: LoadResult[], pick: (l: LoadResult) => number): string => {
    const values = list.map(pick);
    const range = values.length > 1 ? ` (${int(Math.min(...values))}–${int(Math.max(...values))})` : '';
    return `${int(median(values))}${range}`;
  };
  const row = (label: string, cells: string[]): string => `| ${label} | ${cells.join(' | ')} |`;
  const both = (pick: (s: RestState) => string): string =>
    `${pick(r.before.control)} → ${pick(r.after.control)}`;
  const n = r.functions;
  const tenth = Math.max(1, Math.floor(n / 10));
  const firstDeploys = r.deployMs.slice(0, tenth);
  const lastDeploys = r.deployMs.slice(-tenth);
  const mb = (x: number): string => `${fixed(x, 1)} MB`;
  const lines = [
    '## Idle cost',
    '',
    `Measured ${ctx.run.date}: Nimbus ${ctx.run.revision}; ${ctx.run.machine}; ${ctx.pinning.description}. ` +
      "Two fresh platforms (default config, both on the servers' core), each with one warm hello function " +
      `(\`scale: {min: 1, max: 1}\`), measured at rest; then ${int(n)} more functions deployed on one of them, one ` +
      'after the other, from the same bundle (uploaded once; `PUT /api/v1/functions/{name}` with ' +
      '`scale: {min: 0, idleTimeoutMs: 100}`, each deploy starting an instance to prove the code loads), and both ' +
      'measured again once every one of those was back at zero. The other platform is the control: what noise and ' +
      'the measurements themselves changed meanwhile. Memory is the platform process after a full GC (`gc()` twice, ' +
      `then VmRSS); idle CPU is the platform process over ${REST_SECONDS} s at rest; tick time is the autoscaler's ` +
      "`tick()` (timed in the bench's platform process); latency is each warm function at 1 connection " +
      `(autocannon, ${r.before.loadedLatency.length} rounds × ${r.latencySeconds} s alternating between the two ` +
      'platforms after a warm-up at 32 connections; medians with the per-round range; a round disturbed by other ' +
      'processes is repeated, as on the warm path).',
    '',
    `| | platform with 1 function | the same with ${int(n + 1)} (${int(n)} at zero) | change | control platform (1 function), before → after | target |`,
    '|---|---:|---:|---:|---:|---|',
    row('platform RSS after GC', [
      mb(r.before.loaded.memory.rssMb),
      mb(r.after.loaded.memory.rssMb),
      `+${fixed(v.rssIncreaseMb, 1)} MB; less the control's drift +${fixed(v.netRssIncreaseMb, 1)} MB (${int((v.netRssIncreaseMb * 1e6) / n)} B per function)`,
      both((s) => mb(s.memory.rssMb)),
      `≤ +${IDLE_TARGETS.rssIncreaseMbMax} MB ${check(v.netRssIncreaseMb <= IDLE_TARGETS.rssIncreaseMbMax)}`,
    ]),
    row('JS heap used after GC', [
      mb(r.before.loaded.memory.heapUsedMb),
      mb(r.after.loaded.memory.heapUsedMb),
      `+${fixed(r.after.loaded.memory.heapUsedMb - r.before.loaded.memory.heapUsedMb, 1)} MB`,
      both((s) => mb(s.memory.heapUsedMb)),
      '',
    ]),
    row('platform peak RSS (VmHWM) so far', [
      mb(r.before.loaded.peakMb),
      mb(r.after.loaded.peakMb),
      '',
      both((s) => mb(s.peakMb)),
      '',
    ]),
    row('warm function c1 p50 latency', [
      `${lat(r.before.loadedLatency, (l) => l.p50Us)} µs`,
      `${lat(r.after.loadedLatency, (l) => l.p50Us)} µs`,
      `${signedPct(v.p50VsControl)} against the control (${signedPct(v.p50VsControlBefore)} before)`,
      `${lat(r.before.controlLatency, (l) => l.p50Us)} → ${lat(r.after.controlLatency, (l) => l.p50Us)} µs`,
      `unchanged (within ${IDLE_TARGETS.latencyChangeMax * 100} % of the control) ${check(v.p50VsControl <= IDLE_TARGETS.latencyChangeMax)}`,
    ]),
    row('warm function c1 p99 latency', [
      `${lat(r.before.loadedLatency, (l) => l.p99Us)} µs`,
      `${lat(r.after.loadedLatency, (l) => l.p99Us)} µs`,
      '',
      `${lat(r.before.controlLatency, (l) => l.p99Us)} → ${lat(r.after.controlLatency, (l) => l.p99Us)} µs`,
      '',
    ]),
    row('warm function c1 requests/s', [
      lat(r.before.loadedLatency, (l) => l.rps),
      lat(r.after.loadedLatency, (l) => l.rps),
      '',
      `${lat(r.before.controlLatency, (l) => l.rps)} → ${lat(r.after.controlLatency, (l) => l.rps)}`,
      '',
    ]),
    row('warm function c1 server CPU per request (platform + instance)', [
      `${fixed(median(r.before.loadedLatency.map((l) => l.serverCpuUsPerReq)), 1)} µs`,
      `${fixed(median(r.after.loadedLatency.map((l) => l.serverCpuUsPerReq)), 1)} µs`,
      '',
      `${fixed(median(r.before.controlLatency.map((l) => l.serverCpuUsPerReq)), 1)} → ${fixed(median(r.after.controlLatency.map((l) => l.serverCpuUsPerReq)), 1)} µs`,
      '',
    ]),
    row('platform CPU at rest', [
      `${fixed(r.before.loaded.idleCpuPct, 2)} %`,
      `${fixed(r.after.loaded.idleCpuPct, 2)} %`,
      '',
      both((s) => `${fixed(s.idleCpuPct, 2)} %`),
      '',
    ]),
    row('autoscaler tick, p50 / max', [
      `${fixed(r.before.loaded.ticks.p50Us, 0)} / ${fixed(r.before.loaded.ticks.maxUs, 0)} µs`,
      `${fixed(r.after.loaded.ticks.p50Us, 0)} / ${fixed(r.after.loaded.ticks.maxUs, 0)} µs`,
      '',
      both((s) => `${fixed(s.ticks.p50Us, 0)} / ${fixed(s.ticks.maxUs, 0)} µs`),
      '',
    ]),
    row('event-loop delay at rest, p99 / max', [
      `${fixed(r.before.loaded.ticks.loopDelayP99Ms, 1)} / ${fixed(r.before.loaded.ticks.loopDelayMaxMs, 1)} ms`,
      `${fixed(r.after.loaded.ticks.loopDelayP99Ms, 1)} / ${fixed(r.after.loaded.ticks.loopDelayMaxMs, 1)} ms`,
      '',
      both((s) => `${fixed(s.ticks.loopDelayP99Ms, 1)} / ${fixed(s.ticks.loopDelayMaxMs, 1)} ms`),
      '',
    ]),
    row('`GET /api/v1/functions` (list)', [
      `${fixed(r.before.loaded.listMs, 1)} ms`,
      `${fixed(r.after.loaded.listMs, 1)} ms`,
      '',
      both((s) => `${fixed(s.listMs, 1)} ms`),
      '',
    ]),
    row('`GET /api/v1/functions/warm`', [
      `${fixed(r.before.loaded.getMs, 1)} ms`,
      `${fixed(r.after.loaded.getMs, 1)} ms`,
      '',
      both((s) => `${fixed(s.getMs, 1)} ms`),
      '',
    ]),
    '',
    `Deploying them: ${int(n)} PUTs took ${fixed(r.deployMs.reduce((a, b) => a + b, 0) / 1000, 1)} s ` +
      `(p50 ${fixed(percentile(r.deployMs, 50), 1)} ms, p99 ${fixed(percentile(r.deployMs, 99), 1)} ms, ` +
      `max ${fixed(Math.max(...r.deployMs), 1)} ms; p50 of the first ${tenth} ${fixed(percentile(firstDeploys, 50), 1)} ms, ` +
      `of the last ${tenth} ${fixed(percentile(lastDeploys, 50), 1)} ms); all ${int(n)} were at zero ` +
      `${fixed(r.toZeroSeconds, 1)} s after the first PUT; at most ${r.peakInstances} of their instances were alive at once (sampled every 25 deploys).`,
  ];
  const all = [
    ...r.before.loadedLatency,
    ...r.before.controlLatency,
    ...r.after.loadedLatency,
    ...r.after.controlLatency,
  ];
  if (all.some((l) => l.errors + l.non2xx > 0))
    lines.push('', '- ⚠️ some latency rounds had errors or non-2xx answers.');
  if (all.some(disturbed))
    lines.push('', '- ⚠️ some latency rounds stayed disturbed by other processes after their repeats.');
  return `${lines.join('\n')}\n`;
}
