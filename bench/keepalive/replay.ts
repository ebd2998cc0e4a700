// Replays per-minute invocation counts against the platform's own keep-alive code (keepAliveWindows,
// wantsWarm, IdleHistogram from src/scaler/keep-alive.ts) with simulated time, no processes. Per function
// and minute, as in the paper's simulation: a minute with calls starts cold when no instance is warm at
// its start; an instance serves every minute with calls, and a minute without calls costs one
// instance-minute of memory when the policy keeps (or pre-warms) an instance then.
import {
  DEFAULT_KEEP_ALIVE,
  IdleHistogram,
  type KeepAliveConfig,
  type KeepAliveMode,
  keepAliveWindows,
  wantsWarm,
} from '../../src/scaler/keep-alive.js';
import { percentile } from '../stats.js';
import type { TraceFunction } from './trace.js';

export const MINUTE_MS = 60_000;

/**
 * How idle times reach the histogram. `minutes`: one per gap between minutes with calls, the calls of a
 * minute taken at its start (the paper's view at the trace's 1-minute resolution). `calls`: the calls of a
 * minute spread evenly over it and every gap between two calls recorded, as the platform's pool records
 * every idle period of a function whose calls are short.
 */
export type IdleSampling = 'minutes' | 'calls';

export interface ReplayPolicy {
  mode: KeepAliveMode;
  config: KeepAliveConfig;
  sampling: IdleSampling;
}

export interface ReplayResult {
  invocations: number;
  /** Minutes with calls that found no warm instance. */
  coldStarts: number;
  /** Minutes with calls: an instance serves in each. */
  busyMinutes: number;
  /** Minutes without calls in which the policy kept (or pre-warmed) an instance: memory spent waiting. */
  idleWarmMinutes: number;
  /** Of those, minutes more than the fixed idle timeout after the last call (kept where fixed would have stopped). */
  idleWarmPastFixedMinutes: number;
  /** Instances started with no call waiting (the hybrid policy's pre-warms). */
  prewarms: number;
  /** Minutes in which the hybrid windows were in force rather than the fixed fallback. */
  hybridMinutes: number;
}

export function replayFunction(counts: ArrayLike<number>, policy: ReplayPolicy): ReplayResult {
  const { mode, config, sampling } = policy;
  const histogram = new IdleHistogram(config);
  let windows = keepAliveWindows(mode, histogram, config);
  let lastCallEndedAt: number | undefined;
  /** An instance was up during the previous minute. */
  let upBefore = false;
  const r: ReplayResult = {
    invocations: 0,
    coldStarts: 0,
    busyMinutes: 0,
    idleWarmMinutes: 0,
    idleWarmPastFixedMinutes: 0,
    prewarms: 0,
    hybridMinutes: 0,
  };
  for (let m = 0; m < counts.length; m++) {
    const now = m * MINUTE_MS;
    const calls = counts[m]!;
    const warm = wantsWarm(windows, lastCallEndedAt, now);
    if (windows.mode === 'hybrid') r.hybridMinutes++;
    if (calls === 0) {
      if (warm) {
        r.idleWarmMinutes++;
        if (now - lastCallEndedAt! >= config.idleTimeoutMs) r.idleWarmPastFixedMinutes++;
        if (!upBefore) r.prewarms++;
      }
      upBefore = warm;
      continue;
    }
    if (!warm) r.coldStarts++;
    r.invocations += calls;
    r.busyMinutes++;
    // The idle period that this minute's first call ends, then (sampling `calls`) those between its calls.
    if (lastCallEndedAt !== undefined) histogram.add(now - lastCallEndedAt);
    if (sampling === 'calls' && calls > 1) {
      const gap = MINUTE_MS / calls;
      for (let i = 1; i < calls; i++) histogram.add(gap);
      lastCallEndedAt = now + (calls - 1) * gap;
    } else {
      lastCallEndedAt = now;
    }
    // The autoscaler recomputes the windows on every tick; they only change when the histogram does.
    windows = keepAliveWindows(mode, histogram, config);
    upBefore = true;
  }
  return r;
}

export interface PolicySummary {
  functions: number;
  invocations: number;
  coldStarts: number;
  /** Cold starts ÷ invocations. */
  coldStartRate: number;
  /** The 75th percentile over functions of each function's cold starts ÷ invocations (the paper's metric). */
  p75FunctionColdRate: number;
  /** Busy plus idle-warm instance-minutes. */
  memoryMinutes: number;
  idleWarmMinutes: number;
  idleWarmPastFixedMinutes: number;
  prewarms: number;
  /** Share of function-minutes under the hybrid windows (not the fixed fallback). */
  hybridShare: number;
}

/** `minutesPerFunction`: the span replayed (every function is replayed over the same minutes). */
export function summarise(results: readonly ReplayResult[], minutesPerFunction: number): PolicySummary {
  let invocations = 0;
  let coldStarts = 0;
  let busy = 0;
  let idleWarm = 0;
  let pastFixed = 0;
  let prewarms = 0;
  let hybrid = 0;
  const perFunction: number[] = [];
  for (const r of results) {
    invocations += r.invocations;
    coldStarts += r.coldStarts;
    busy += r.busyMinutes;
    idleWarm += r.idleWarmMinutes;
    pastFixed += r.idleWarmPastFixedMinutes;
    prewarms += r.prewarms;
    hybrid += r.hybridMinutes;
    if (r.invocations > 0) perFunction.push(r.coldStarts / r.invocations);
  }
  const span = results.length * minutesPerFunction;
  return {
    functions: results.length,
    invocations,
    coldStarts,
    coldStartRate: invocations > 0 ? coldStarts / invocations : 0,
    p75FunctionColdRate: percentile(perFunction, 75),
    memoryMinutes: busy + idleWarm,
    idleWarmMinutes: idleWarm,
    idleWarmPastFixedMinutes: pastFixed,
    prewarms,
    hybridShare: span > 0 ? hybrid / span : 0,
  };
}

/**
 * The policies compared: fixed 10 minutes (Lambda's), hybrid as the paper samples idle times, hybrid as the
 * platform does, and hybrid without the cost trim (the paper's windows) for reference.
 */
export function policies(idleTimeoutMs = DEFAULT_KEEP_ALIVE.idleTimeoutMs): Record<string, ReplayPolicy> {
  const config = { ...DEFAULT_KEEP_ALIVE, idleTimeoutMs };
  return {
    fixed: { mode: 'fixed', config, sampling: 'minutes' },
    hybrid: { mode: 'hybrid', config, sampling: 'minutes' },
    'hybrid-calls': { mode: 'hybrid', config, sampling: 'calls' },
    'hybrid-untrimmed': { mode: 'hybrid', config: { ...config, costTrim: false }, sampling: 'minutes' },
  };
}

export function replayTrace(functions: readonly TraceFunction[], policy: ReplayPolicy): ReplayResult[] {
  return functions.map((f) => replayFunction(f.counts, policy));
}
