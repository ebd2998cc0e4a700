// Scale-up reaction (issue 3): a function that takes 50 ms per call (concurrency 1, up to 64 instances)
// carries 1 client, then 64 at once. The platform process records, after every autoscaler tick, the
// autoscaler's view of the function (`panic`, `desired`) and its pool (ready, starting, queued); the bench
// also polls the control API (`GET /api/v1/functions/{name}`) every 100 ms, as a user would, while a
// closed-loop load child records every request. Default autoscaler (tick 500 ms, stable window 60 s,
// panic window 6 s, panic at 2×).
import type { BenchChild } from './bench-child.js';
import {
  buildSource,
  type ConfiguredPlatform,
  deployBuilt,
  type PartContext,
  sleep,
  startConfiguredPlatform,
  waitQuiet,
} from './part-context.js';
import { median, percentile } from './stats.js';

export const SCALE_TARGETS = { panicWithinMs: 2000 } as const;

const CALL_MS = 50;
const FROM_CLIENTS = 1;
const TO_CLIENTS = 64;
/** One client this long before the step: the autoscaler's windows hold the quiet state. */
const BEFORE_SECONDS = 3;
const POLL_MS = 100;
/** Throughput counted as "enough instances serve": this share of clients ÷ call time. */
const THROUGHPUT_SHARE = 0.9;
const THROUGHPUT_WINDOW_MS = 1000;

const SLOW_SOURCE = `export default {
  async fetch(): Promise<Response> {
    await new Promise((resolve) => setTimeout(resolve, ${CALL_MS}));
    return new Response('slow');
  },
};
`;

/**
 * concurrency 1 (one call per instance, as Lambda), room for every client, a queue that never fills.
 * memoryMb 128: 64 instances of the default 256 MB would pass the default memory budget (half of RAM)
 * on a 24 GB machine, and the platform would refuse starts instead of scaling.
 */
const SPEC = { concurrency: 1, memoryMb: 128, maxQueue: 1000, scale: { min: 1, max: TO_CLIENTS } };

/** The autoscaler's view of the function and its pool right after one tick (from the platform process). */
interface TickRecord {
  /** ms after the step. */
  atMs: number;
  panic: boolean;
  desired: number;
  instances: number;
  starting: number;
  queued: number;
}

/** One answer of the control API. */
interface Poll {
  /** ms after the step when the answer arrived. */
  atMs: number;
  latencyMs: number;
  panic: boolean;
  desired: number;
}

export interface ScaleRound {
  requests: number;
  errors: number;
  /** At the last tick before the step. */
  before: { panic: boolean; desired: number; instances: number };
  /** The first tick after the step, and what it decided. */
  firstTick: { atMs: number; panic: boolean; desired: number } | undefined;
  /** First tick after the step in panic mode asking for more instances than before it: the reaction. */
  panicReactionMs: number | undefined;
  /** First tick after the step in panic mode asking for all 64. */
  panicFullMs: number | undefined;
  /** First control-API answer after the step showing panic and 64 wanted (when a user could see it). */
  panicSeenMs: number | undefined;
  /** First tick with one more ready instance than before the step, with 32 and with 64. */
  firstNewInstanceMs: number | undefined;
  halfInstancesMs: number | undefined;
  allInstancesMs: number | undefined;
  /** Start of the first 1-s window after the step whose completions reach 90 % of 64 ÷ 50 ms. */
  throughputMs: number | undefined;
  /** Most completions in any 1-s window after the step (req/s). */
  bestRps: number;
  /** Latency of the requests started during the step (ms). */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** p99 of the requests started once all 64 instances were ready. */
  p99SteadyMs: number;
  maxDesired: number;
  /** The slowest control-API poll after the step (ms). */
  maxPollMs: number;
  /** The longest time between two autoscaler ticks after the step (ms; 500 when on time). */
  maxTickGapMs: number;
  /** The platform's event-loop delay during the round, max (ms). */
  loopDelayMaxMs: number;
  /** Instance starts that failed, and instances stopped by the memory budget, during the round. */
  startFailures: number;
  evictions: number;
  timeline: {
    atS: number;
    instances: number;
    starting: number;
    queued: number;
    desired: number;
    rps: number;
    /** No tick has run since the step (the counts would be the last ones before it). */
    stale: boolean;
  }[];
}

export interface ScaleUpResults {
  rounds: ScaleRound[];
  stepSeconds: number;
}

interface RoundExtras {
  startFailures: number;
  evictions: number;
  loopDelayMaxMs: number;
}

function firstAt<T extends { atMs: number }>(list: T[], test: (x: T) => boolean): number | undefined {
  return list.find((x) => x.atMs >= 0 && test(x))?.atMs;
}

function analyse(
  ticks: TickRecord[],
  polls: Poll[],
  records: number[],
  stepSeconds: number,
  extras: RoundExtras,
): ScaleRound {
  const stepMs = stepSeconds * 1000;
  const last = [...ticks].reverse().find((t) => t.atMs < 0);
  const before = {
    panic: last?.panic ?? false,
    desired: last?.desired ?? 0,
    instances: last?.instances ?? 0,
  };
  const allInstancesMs = firstAt(ticks, (t) => t.instances >= TO_CLIENTS);
  const ends: number[] = [];
  const latencies: number[] = [];
  const steady: number[] = [];
  let errors = 0;
  let requests = 0;
  for (let i = 0; i < records.length; i += 3) {
    const start = records[i]!;
    const end = records[i + 1]!;
    const status = records[i + 2]!;
    if (end >= 0) ends.push(end);
    if (start < 0 || start >= stepMs) continue;
    requests++;
    if (status !== 200) errors++;
    latencies.push(end - start);
    if (allInstancesMs !== undefined && start >= allInstancesMs) steady.push(end - start);
  }
  ends.sort((a, b) => a - b);
  const wantedPerWindow = Math.ceil(
    THROUGHPUT_SHARE * ((TO_CLIENTS * THROUGHPUT_WINDOW_MS) / CALL_MS) - 1e-9,
  );
  let throughputMs: number | undefined;
  let best = 0;
  // Slide a 1-s window over the step in 50 ms steps.
  let lo = 0;
  let hi = 0;
  for (let t = 0; t + THROUGHPUT_WINDOW_MS <= stepMs; t += 50) {
    while (lo < ends.length && ends[lo]! < t) lo++;
    while (hi < ends.length && ends[hi]! < t + THROUGHPUT_WINDOW_MS) hi++;
    best = Math.max(best, hi - lo);
    if (throughputMs === undefined && hi - lo >= wantedPerWindow) throughputMs = t;
  }
  const after = ticks.filter((t) => t.atMs >= 0);
  // From the last tick before the step: a tick the step delayed counts.
  const around = last ? [last, ...after] : after;
  let maxTickGapMs = 0;
  for (let i = 1; i < around.length; i++)
    maxTickGapMs = Math.max(maxTickGapMs, around[i]!.atMs - around[i - 1]!.atMs);
  const timeline = [0.5, 1, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30]
    .filter((s) => s <= stepSeconds)
    .map((atS) => {
      const at = atS * 1000;
      const tick = [...ticks].reverse().find((t) => t.atMs <= at);
      const done = ends.filter((e) => e >= at - 500 && e < at).length;
      return {
        atS,
        instances: tick?.instances ?? 0,
        starting: tick?.starting ?? 0,
        queued: tick?.queued ?? 0,
        desired: tick?.desired ?? 0,
        rps: done * 2,
        stale: tick === undefined || tick.atMs < 0,
      };
    });
  return {
    requests,
    errors,
    before,
    firstTick: after[0]
      ? { atMs: after[0].atMs, panic: after[0].panic, desired: after[0].desired }
      : undefined,
    panicReactionMs: firstAt(ticks, (t) => t.panic && t.desired > before.desired),
    panicFullMs: firstAt(ticks, (t) => t.panic && t.desired >= TO_CLIENTS),
    panicSeenMs: firstAt(polls, (p) => p.panic && p.desired >= TO_CLIENTS),
    firstNewInstanceMs: firstAt(ticks, (t) => t.instances > before.instances),
    halfInstancesMs: firstAt(ticks, (t) => t.instances >= TO_CLIENTS / 2),
    allInstancesMs,
    throughputMs,
    bestRps: (best * 1000) / THROUGHPUT_WINDOW_MS,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: latencies.length > 0 ? Math.max(...latencies) : Number.NaN,
    p99SteadyMs: percentile(steady, 99),
    maxDesired: Math.max(0, ...after.map((t) => t.desired)),
    maxPollMs: Math.max(0, ...polls.filter((p) => p.atMs >= 0).map((p) => p.latencyMs)),
    maxTickGapMs,
    ...extras,
    timeline,
  };
}

async function waitForNoInstances(platform: ConfiguredPlatform, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await platform.child.call<{ instances: number; starting: number }>('instances', {}, 10_000);
    if (s.instances === 0 && s.starting === 0) return;
    if (Date.now() > deadline)
      throw new Error(`${s.instances} instances still run ${timeoutMs} ms after removal`);
    await sleep(200);
  }
}

export async function measureScaleUp(ctx: PartContext): Promise<ScaleUpResults> {
  const { progress } = ctx;
  const stepSeconds = ctx.parts.scaleSeconds;
  let platform: ConfiguredPlatform | undefined;
  let load: BenchChild | undefined;
  try {
    const counts = { startFailures: 0, evictions: 0 };
    const [started, loadChild] = await Promise.all([
      startConfiguredPlatform(ctx, 'nimbus-scale', {}, (event) => {
        if (event.type === 'instance-start-failed') counts.startFailures++;
        if (event.type === 'instance-exit' && String(event.reason).startsWith('evicted')) counts.evictions++;
      }),
      ctx.startChild({ name: 'step-load', script: 'step-load.mjs', core: ctx.pinning.loadCore }),
    ]);
    platform = started;
    load = loadChild.child;
    const { client, child } = platform;
    const built = await buildSource(ctx.workDir, 'slow', SLOW_SOURCE);
    const rounds: ScaleRound[] = [];
    for (let round = 0; round < ctx.parts.scaleRounds; round++) {
      // A fresh function each round: one warm instance, an autoscaler with no memory of the last step.
      const name = `slow-${round + 1}`;
      await deployBuilt(client, built, name, SPEC);
      await waitQuiet([child.pid]);
      await child.call('ticks', {}, 10_000);
      await child.call('watch', { name }, 10_000);
      counts.startFailures = 0;
      counts.evictions = 0;
      const polls: { atEpochMs: number; latencyMs: number; panic: boolean; desired: number }[] = [];
      let polling = true;
      const poller = (async () => {
        while (polling) {
          const sentAt = performance.now();
          const fn = (await client.get(name)) as unknown as {
            scaling: { panic: boolean; desired: number } | null;
          };
          const receivedAt = performance.now();
          polls.push({
            atEpochMs: performance.timeOrigin + receivedAt,
            latencyMs: receivedAt - sentAt,
            panic: fn.scaling?.panic ?? false,
            desired: fn.scaling?.desired ?? 0,
          });
          await sleep(POLL_MS);
        }
      })();
      try {
        const result = await load.call<{ stepAtEpochMs: number; records: number[] }>(
          'step',
          {
            url: `${client.baseUrl}/function/${name}`,
            from: FROM_CLIENTS,
            to: TO_CLIENTS,
            beforeSeconds: BEFORE_SECONDS,
            stepSeconds,
          },
          (BEFORE_SECONDS + stepSeconds) * 1000 + 60_000,
        );
        polling = false;
        await poller;
        const stepAt = result.stepAtEpochMs;
        const ticks = (
          await child.call<(Omit<TickRecord, 'atMs'> & { atEpochMs: number })[]>('watched', {}, 10_000)
        ).map(({ atEpochMs, ...rest }) => ({ ...rest, atMs: atEpochMs - stepAt }));
        const loop = await child.call<{ loopDelayMaxMs: number }>('ticks', {}, 10_000);
        const r = analyse(
          ticks,
          polls.map((p) => ({ ...p, atMs: p.atEpochMs - stepAt })),
          result.records,
          stepSeconds,
          { ...counts, loopDelayMaxMs: loop.loopDelayMaxMs },
        );
        rounds.push(r);
        const at = (ms: number | undefined): string =>
          ms === undefined ? 'never' : `${(ms / 1000).toFixed(2)} s`;
        progress(
          `scale-up round ${round + 1}/${ctx.parts.scaleRounds}: panic reaction ${at(r.panicReactionMs)}, ` +
            `64 instances ${at(r.allInstancesMs)}, 90% throughput ${at(r.throughputMs)}, best ${Math.round(r.bestRps)} req/s, ` +
            `p99 ${r.p99Ms.toFixed(0)} ms, ${r.errors} errors, slowest poll ${r.maxPollMs.toFixed(0)} ms`,
        );
      } finally {
        polling = false;
        await poller.catch(() => {});
      }
      await client.remove(name);
      await waitForNoInstances(platform);
      await waitQuiet([child.pid], 200, 10_000);
    }
    return { rounds, stepSeconds };
  } finally {
    await Promise.allSettled([platform?.stop(), load?.stop()]);
  }
}

const sec = (ms: number | undefined): string => (ms === undefined ? 'never' : `${(ms / 1000).toFixed(2)} s`);
const whole = (n: number): string => (Number.isFinite(n) ? n.toFixed(0) : 'n/a');
const check = (ok: boolean): string => (ok ? '✅' : '❌');

/** The median of the rounds; a round that never got there counts as later than any that did. */
function medianTime(values: (number | undefined)[]): number | undefined {
  const m = median(values.map((v) => v ?? Number.POSITIVE_INFINITY));
  return Number.isFinite(m) ? m : undefined;
}

export function scaleVerdict(r: ScaleUpResults): { panicMs: number | undefined; met: boolean } {
  const panicMs = medianTime(r.rounds.map((x) => x.panicReactionMs));
  return { panicMs, met: panicMs !== undefined && panicMs <= SCALE_TARGETS.panicWithinMs };
}

export function renderScaleUp(ctx: PartContext, r: ScaleUpResults): string {
  const v = scaleVerdict(r);
  const perRound = (pick: (x: ScaleRound) => string): string => r.rounds.map(pick).join(' / ');
  const timeRow = (label: string, pick: (x: ScaleRound) => number | undefined, target = ''): string =>
    `| ${label} | ${sec(medianTime(r.rounds.map(pick)))} | ${perRound((x) => sec(pick(x)))} | ${target} |`;
  const msRow = (label: string, pick: (x: ScaleRound) => number): string =>
    `| ${label} | ${whole(median(r.rounds.map(pick).filter(Number.isFinite)))} ms | ${perRound((x) => whole(pick(x)))} | |`;
  const countRow = (label: string, pick: (x: ScaleRound) => number): string =>
    `| ${label} | ${median(r.rounds.map(pick))} | ${perRound((x) => String(pick(x)))} | |`;
  const ideal = TO_CLIENTS / (CALL_MS / 1000);
  const lines = [
    '## Scale-up reaction',
    '',
    `Measured ${ctx.run.date}: Nimbus ${ctx.run.revision}; ${ctx.run.machine}; ${ctx.pinning.description}. ` +
      `A function that sleeps ${CALL_MS} ms per call (\`concurrency: 1, memoryMb: 128, maxQueue: 1000, ` +
      `scale: {min: 1, max: ${TO_CLIENTS}}\`) on a fresh platform with the default autoscaler (tick 500 ms, ` +
      'stable window 60 s, panic window 6 s, panic at 2×), default stem cells and sandbox. ' +
      `${FROM_CLIENTS} closed-loop client for ${BEFORE_SECONDS} s, then ${TO_CLIENTS} at once for ${r.stepSeconds} s ` +
      `(node:http keep-alive, load on its own core); ${r.rounds.length} rounds, a fresh function each. The ` +
      "platform process records the autoscaler's view of the function and its pool after every tick (times " +
      'below are tick times); the bench also polls the control API (`GET /api/v1/functions/{name}`, ' +
      `\`scaling.panic\`) every ${POLL_MS} ms as a user would. The panic reaction is the first tick after the step ` +
      'in panic mode asking for more instances than before it; the panic-window average then climbs over the next ' +
      `ticks until it asks for all ${TO_CLIENTS}. "Enough instances serve" is read two ways: ${TO_CLIENTS} ` +
      `ready instances (one per client), and the first 1-s window whose completions reach ` +
      `${THROUGHPUT_SHARE * 100} % of ${TO_CLIENTS} ÷ ${CALL_MS} ms = ${ideal} req/s.`,
    '',
    '| 1 → 64 clients | median | per round | target |',
    '|---|---:|---:|---|',
    `| before the step (1 client) | | ${perRound((x) => `${x.before.panic ? 'in panic' : 'no panic'}, ${x.before.desired} wanted, ${x.before.instances} ready`)} | |`,
    `| first autoscaler tick after the step | ${sec(medianTime(r.rounds.map((x) => x.firstTick?.atMs)))} | ${perRound((x) => (x.firstTick ? `${sec(x.firstTick.atMs)} (${x.firstTick.panic ? 'panic' : 'no panic'}, ${x.firstTick.desired} wanted)` : 'none'))} | |`,
    timeRow(
      'panic reaction: in panic mode, asking for more instances',
      (x) => x.panicReactionMs,
      `≤ ${SCALE_TARGETS.panicWithinMs / 1000} s ${check(v.met)}`,
    ),
    timeRow(`panic mode asking for all ${TO_CLIENTS}`, (x) => x.panicFullMs),
    timeRow(
      `the same seen through the control API (\`scaling.panic\`, \`scaling.desired\` ≥ ${TO_CLIENTS})`,
      (x) => x.panicSeenMs,
    ),
    timeRow('first instance started for the step ready', (x) => x.firstNewInstanceMs),
    timeRow(`${TO_CLIENTS / 2} instances ready`, (x) => x.halfInstancesMs),
    timeRow(`${TO_CLIENTS} instances ready`, (x) => x.allInstancesMs),
    timeRow(`throughput ≥ ${THROUGHPUT_SHARE * 100} % of ${ideal} req/s (1-s window)`, (x) => x.throughputMs),
    `| best 1-s throughput during the step | ${Math.round(median(r.rounds.map((x) => x.bestRps)))} req/s | ${perRound((x) => `${Math.round(x.bestRps)}`)} | |`,
    msRow(`p50 latency, requests started during the ${r.stepSeconds} s step`, (x) => x.p50Ms),
    msRow(`p99 latency, requests started during the ${r.stepSeconds} s step`, (x) => x.p99Ms),
    msRow('max latency during the step', (x) => x.maxMs),
    msRow(`p99 latency once ${TO_CLIENTS} instances were ready`, (x) => x.p99SteadyMs),
    msRow('longest gap between two autoscaler ticks (500 when on time)', (x) => x.maxTickGapMs),
    msRow("platform's event-loop delay, max", (x) => x.loopDelayMaxMs),
    msRow('slowest control-API answer after the step', (x) => x.maxPollMs),
    countRow('most instances the autoscaler wanted', (x) => x.maxDesired),
    countRow('instance starts that failed', (x) => x.startFailures),
    countRow('instances evicted by the memory budget', (x) => x.evictions),
    `| requests during the step (non-200) | ${median(r.rounds.map((x) => x.requests))} (${median(r.rounds.map((x) => x.errors))}) | ${perRound((x) => `${x.requests} (${x.errors})`)} | |`,
  ];
  const gapMs = median(r.rounds.map((x) => x.maxTickGapMs));
  if (r.rounds.some((x) => x.before.panic))
    lines.push(
      '',
      'With one client the function is in panic mode already: at concurrency 1 and utilisation 0.7 one request ' +
        'in flight asks for ⌈1 ÷ 0.7⌉ = 2 instances, twice the one that serves, which is the panic threshold ' +
        '(Knative rounds the same way). So the reaction is read as the first tick in panic that asks for more.',
    );
  if (gapMs > 1500)
    lines.push(
      '',
      `After the step the autoscaler did not tick for up to ${(gapMs / 1000).toFixed(1)} s (median of the rounds' longest gaps) ` +
        `and the platform's event loop was delayed by up to ${(median(r.rounds.map((x) => x.loopDelayMaxMs)) / 1000).toFixed(1)} s. ` +
        'The pool does not wait for the autoscaler: the queued requests make it start every instance they need at ' +
        `once. Those ${TO_CLIENTS - (r.rounds[0]?.before.instances ?? 1)} starts share ${ctx.pinning.serverCore === undefined ? "the machine's cores" : "the servers' core"} ` +
        'with the gateway at the same priority, so until most of ' +
        'them are done the gateway gets a small share of it: no tick, no answer from the control API, and hardly ' +
        'a request served even by the instances that were ready. The panic reaction is late because the tick ' +
        'cannot run, not because the policy waits.',
    );
  const first = r.rounds[0];
  if (first) {
    lines.push(
      '',
      'Round 1 over time (at the last tick before t; completions in the 0.5 s before t):',
      '',
      '| t after the step | ready | starting | queued | wanted | req/s |',
      '|---:|---:|---:|---:|---:|---:|',
      ...first.timeline.map((p) =>
        p.stale
          ? `| ${p.atS} s | no tick since the step | | | | ${p.rps} |`
          : `| ${p.atS} s | ${p.instances} | ${p.starting} | ${p.queued} | ${p.desired} | ${p.rps} |`,
      ),
    );
  }
  return `${lines.join('\n')}\n`;
}
