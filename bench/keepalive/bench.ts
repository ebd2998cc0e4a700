// The keep-alive part of `npm run bench`: a synthetic trace in the Azure Functions 2019 format (written
// as the day files' CSV and read back through the reader), or the real day files when given
// (BENCH_KEEPALIVE_TRACE), replayed against fixed 10 minutes and hybrid. No processes.
import { readFileSync } from 'node:fs';
import { DEFAULT_KEEP_ALIVE } from '../../src/scaler/keep-alive.js';
import type { PartContext } from '../part-context.js';
import type { PartOptions } from '../parts.js';
import { generateTrace, rateSpread } from './generate.js';
import { type PolicySummary, policies, type ReplayResult, replayTrace, summarise } from './replay.js';
import {
  dayRows,
  formatTraceDay,
  joinDays,
  MINUTES_PER_DAY,
  parseTraceDay,
  type TraceFunction,
} from './trace.js';

export const KEEPALIVE_TARGETS = {
  /** Fixed-10-min cold starts ÷ hybrid cold starts, at least. */
  coldStartReductionMin: 2,
  /** Hybrid memory-time ÷ fixed memory-time, at most. */
  memoryRatioMax: 1,
} as const;

const POLICY_LABELS: Record<string, string> = {
  fixed: 'fixed 10 min (Lambda-like)',
  hybrid: "hybrid, idle times between minutes with calls (the paper's view of the trace)",
  'hybrid-calls': "hybrid, every gap between calls (what the platform's pool records)",
  'hybrid-untrimmed':
    "hybrid without the cost trim (the paper's percentile windows, with the one-bin margin), idle times between minutes",
};

export interface TriggerBreakdown {
  functions: number;
  invocations: number;
  /** Per policy: cold starts and instance-minutes. */
  coldStarts: Record<string, number>;
  memoryMinutes: Record<string, number>;
}

export interface KeepAliveResults {
  source: string;
  functions: number;
  days: number;
  spread: ReturnType<typeof rateSpread>;
  summaries: Record<string, PolicySummary>;
  byTrigger: Record<string, TriggerBreakdown>;
  /** Hybrid (idle times between minutes) with other values of `coldStartWorth`. */
  worthSensitivity: { worth: number; summary: PolicySummary }[];
  /** Time to build, read and replay everything (ms). */
  elapsedMs: number;
}

function loadTrace(options: PartOptions): { source: string; functions: TraceFunction[]; days: number } {
  if (options.keepAliveTraceFiles.length > 0) {
    const days = options.keepAliveTraceFiles.map((path) => parseTraceDay(readFileSync(path, 'utf8'), path));
    return {
      source: `the Azure Functions 2019 trace (${options.keepAliveTraceFiles.length} day files)`,
      functions: joinDays(days),
      days: days.length,
    };
  }
  const generated = generateTrace({
    functions: options.keepAliveFunctions,
    days: options.keepAliveDays,
    seed: options.keepAliveSeed,
  });
  // Through the day files' text and back: the replay reads what the reader makes of the format.
  const days = Array.from({ length: options.keepAliveDays }, (_, day) =>
    parseTraceDay(formatTraceDay(dayRows(generated, day)), `synthetic day ${day + 1}`),
  );
  return {
    source: `a synthetic trace (${options.keepAliveFunctions.toLocaleString('en-US')} functions × ${options.keepAliveDays} days, seed ${options.keepAliveSeed})`,
    functions: joinDays(days),
    days: options.keepAliveDays,
  };
}

export function measureKeepAlive(options: PartOptions, progress: (line: string) => void): KeepAliveResults {
  const startedAt = performance.now();
  const trace = loadTrace(options);
  progress(`keep-alive: replaying ${trace.source}`);
  const summaries: Record<string, PolicySummary> = {};
  const byTrigger: Record<string, TriggerBreakdown> = {};
  for (const f of trace.functions) {
    const t = byTrigger[f.trigger] ?? { functions: 0, invocations: 0, coldStarts: {}, memoryMinutes: {} };
    byTrigger[f.trigger] = t;
    t.functions++;
    for (const c of f.counts) t.invocations += c;
  }
  for (const [name, policy] of Object.entries(policies())) {
    const results: ReplayResult[] = replayTrace(trace.functions, policy);
    summaries[name] = summarise(results, trace.days * MINUTES_PER_DAY);
    results.forEach((r, i) => {
      const t = byTrigger[trace.functions[i]!.trigger]!;
      t.coldStarts[name] = (t.coldStarts[name] ?? 0) + r.coldStarts;
      t.memoryMinutes[name] = (t.memoryMinutes[name] ?? 0) + r.busyMinutes + r.idleWarmMinutes;
    });
    progress(
      `keep-alive: ${name}: ${summaries[name]!.coldStarts} cold starts, ${summaries[name]!.memoryMinutes} instance-minutes`,
    );
  }
  const hybrid = policies().hybrid!;
  const worthSensitivity = [1, 3].map((worth) => {
    const policy = { ...hybrid, config: { ...hybrid.config, coldStartWorth: worth } };
    return { worth, summary: summarise(replayTrace(trace.functions, policy), trace.days * MINUTES_PER_DAY) };
  });
  return {
    source: trace.source,
    functions: trace.functions.length,
    days: trace.days,
    spread: rateSpread(trace.functions),
    summaries,
    byTrigger,
    worthSensitivity,
    elapsedMs: performance.now() - startedAt,
  };
}

const int = (n: number): string => Math.round(n).toLocaleString('en-US');
const pct = (n: number, digits = 2): string => `${(n * 100).toFixed(digits)} %`;
const hours = (minutes: number): string => int(minutes / 60);
const check = (ok: boolean): string => (ok ? '✅' : '❌');

export function keepAliveVerdict(r: KeepAliveResults): {
  coldReduction: number;
  memoryRatio: number;
  met: boolean;
} {
  const fixed = r.summaries.fixed!;
  const hybrid = r.summaries.hybrid!;
  const coldReduction = fixed.coldStarts / Math.max(1, hybrid.coldStarts);
  const memoryRatio = hybrid.memoryMinutes / fixed.memoryMinutes;
  return {
    coldReduction,
    memoryRatio,
    met:
      coldReduction >= KEEPALIVE_TARGETS.coldStartReductionMin &&
      memoryRatio <= KEEPALIVE_TARGETS.memoryRatioMax,
  };
}

export function renderKeepAlive(ctx: Pick<PartContext, 'run'>, r: KeepAliveResults): string {
  const v = keepAliveVerdict(r);
  const c = DEFAULT_KEEP_ALIVE;
  const fixed = r.summaries.fixed!;
  const hybrid = r.summaries.hybrid!;
  const s = r.spread;
  const lines = [
    '## Keep-alive replay',
    '',
    `Measured ${ctx.run.date}: Nimbus ${ctx.run.revision}; the policy code of \`src/scaler/keep-alive.ts\` ` +
      `(\`keepAliveWindows\`, \`wantsWarm\`, \`IdleHistogram\` with the platform's defaults: ${c.binMs / 60_000}-minute bins ` +
      `over ${(c.bins * c.binMs) / 3_600_000} hours, pre-warm from the ${c.headPercentile}th percentile, warm to the ` +
      `${c.tailPercentile}th, clusters split at ${c.idleTimeoutMs / 60_000} empty minutes, trimmed by cost with a cold start ` +
      `worth ${c.idleTimeoutMs / 60_000} minutes of warm time, a margin of ${c.marginBins} bin, the fixed ${c.idleTimeoutMs / 60_000} minutes below ` +
      `${c.minSamples} idle times, a coefficient of variation under ${c.minCv} or over ${c.maxOutOfBounds * 100} % out of ` +
      'range) driven with simulated time over ' +
      `${r.source}, in the Azure Functions 2019 format (\`bench/keepalive/\`; the synthetic days are written as ` +
      "the day files' CSV and read back through the reader). Per function and minute, as in the paper's simulation: " +
      'a minute with calls starts cold when no instance is warm at its start; memory-time is instance-minutes, ' +
      'one for each minute with calls plus each minute without calls in which the policy keeps or pre-warms an ' +
      'instance (one instance per function; concurrency is not modelled). ' +
      `Replayed in ${(r.elapsedMs / 1000).toFixed(1)} s.`,
    '',
    `The trace: ${int(r.functions)} functions, ${int(Object.values(r.byTrigger).reduce((a, t) => a + t.invocations, 0))} ` +
      `invocations; average rates from ${s.minPerDay.toFixed(2)} a day to ${s.maxPerSecond.toFixed(1)} a second; ` +
      `${pct(s.atMostHourly, 0)} of functions at most once an hour and ${pct(s.atMostPerMinute, 0)} at most once a minute ` +
      `(the real trace: 45 % and 81 %), ${pct(s.atLeastPerSecond, 1)} at least once a second.`,
    '',
    '| policy | cold starts | ÷ invocations | p75 of per-function cold-start rate | instance-memory-time | of it idle | idle > 10 min after a call | pre-warms |',
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...Object.entries(r.summaries).map(
      ([name, p]) =>
        `| ${POLICY_LABELS[name] ?? name} | ${int(p.coldStarts)} | ${pct(p.coldStartRate, 3)} | ${pct(p.p75FunctionColdRate, 0)} | ` +
        `${hours(p.memoryMinutes)} instance-h | ${hours(p.idleWarmMinutes)} h | ${hours(p.idleWarmPastFixedMinutes)} h | ${int(p.prewarms)} |`,
    ),
    '',
    `**Hybrid against fixed 10 min: ${v.coldReduction.toFixed(2)}× fewer cold starts at ${v.memoryRatio.toFixed(2)}× the ` +
      `memory-time.** Target: ≥ ${KEEPALIVE_TARGETS.coldStartReductionMin}× fewer ${check(v.coldReduction >= KEEPALIVE_TARGETS.coldStartReductionMin)} ` +
      `at no more memory-time ${check(v.memoryRatio <= KEEPALIVE_TARGETS.memoryRatioMax)}. ` +
      `The hybrid windows were in force for ${pct(hybrid.hybridShare, 0)} of function-minutes (the rest fell back to fixed).`,
    '',
    '| trigger | functions | invocations | cold starts, fixed → hybrid | instance-hours, fixed → hybrid |',
    '|---|---:|---:|---:|---:|',
    ...Object.entries(r.byTrigger)
      .sort(([, a], [, b]) => b.functions - a.functions)
      .map(
        ([trigger, t]) =>
          `| ${trigger} | ${int(t.functions)} | ${int(t.invocations)} | ${int(t.coldStarts.fixed ?? 0)} → ${int(t.coldStarts.hybrid ?? 0)} | ` +
          `${hours(t.memoryMinutes.fixed ?? 0)} → ${hours(t.memoryMinutes.hybrid ?? 0)} |`,
      ),
  ];
  const ratios = (p: PolicySummary | undefined): string =>
    p
      ? `${(fixed.coldStarts / Math.max(1, p.coldStarts)).toFixed(2)}× fewer cold starts at ${(p.memoryMinutes / fixed.memoryMinutes).toFixed(2)}× the memory-time`
      : 'not replayed';
  const worthMin = (worth: number): number => (worth * c.idleTimeoutMs) / 60_000;
  lines.push(
    '',
    `Sampling every gap between calls, as the platform's pool does: ${ratios(r.summaries['hybrid-calls'])}. ` +
      `Without the cost trim (the paper's percentile windows, with the one-bin margin): ${ratios(r.summaries['hybrid-untrimmed'])} — once their ` +
      'histogram counts as representative, steady random (http) and bursty (queue, event) functions are kept warm ' +
      `to their ${c.tailPercentile}th-percentile idle time, hours, after most calls. The trim keeps, of each warm ` +
      'range, the stretch of minutes that saves the most (cold starts caught × what one is worth − warm time) and ' +
      'falls back to fixed where that is cheaper. What a cold start is worth decides where the policy sits between ' +
      `the two: the default counts one as ${worthMin(c.coldStartWorth)} minutes of warm instance time ` +
      `(\`coldStartWorth: ${c.coldStartWorth}\` fixed idle timeouts); with the others:`,
    '',
    '| a cold start is worth | hybrid against fixed 10 min |',
    '|---|---|',
    ...[...r.worthSensitivity, { worth: c.coldStartWorth, summary: hybrid }]
      .sort((a, b) => a.worth - b.worth)
      .map(
        ({ worth, summary }) =>
          `| ${worthMin(worth)} min${worth === c.coldStartWorth ? ' (default)' : ''} | ${ratios(summary)} |`,
      ),
  );
  return `${lines.join('\n')}\n`;
}
