// The autoscaler loop: every tick, for each function, sample its concurrency, decide the instance count
// (policy.ts) with the keep-alive floor (keep-alive.ts), and apply it to the pool. Time is injected.
import type { PlatformConfig } from '../config/platform.js';
import type { Dispatcher, FunctionEntry } from '../dispatch/dispatcher.js';
import {
  DEFAULT_KEEP_ALIVE,
  IdleHistogram,
  type KeepAliveConfig,
  type KeepAliveWindows,
  keepAliveWindows,
  wantsWarm,
} from './keep-alive.js';
import {
  decideScale,
  INITIAL_SCALE_STATE,
  type Sample,
  type ScalePolicy,
  type ScaleState,
} from './policy.js';

/** The platform's `autoscaler` settings (src/config/platform.ts holds their defaults). */
export type AutoscalerConfig = PlatformConfig['autoscaler'];

/** What the autoscaler knows of one function; survives redeploys (keyed by name). */
interface FunctionScaling {
  samples: Sample[];
  state: ScaleState;
  histogram: IdleHistogram;
  lastDesired: number;
  panic: boolean;
  /** The keep-alive windows last computed, and what they were computed from (they change only with it). */
  windows?: { key: string; value: KeepAliveWindows };
}

export interface ScalingView {
  desired: number;
  panic: boolean;
  keepAlive: KeepAliveWindows;
}

export class Autoscaler {
  private readonly functions = new Map<string, FunctionScaling>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly config: AutoscalerConfig,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    this.timer = setInterval(() => this.tick(), this.config.tickMs);
    this.timer.unref();
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One decision round over every function. */
  tick(): void {
    const now = this.now();
    for (const entry of this.dispatcher.allEntries()) this.scaleOne(entry, now);
    for (const key of this.functions.keys()) if (!this.dispatcher.lookup(key)) this.functions.delete(key);
  }

  view(name: string): ScalingView | undefined {
    const entry = this.dispatcher.get(name);
    const f = this.functions.get(name);
    if (!entry || !f) return undefined;
    return { desired: f.lastDesired, panic: f.panic, keepAlive: this.windows(entry, f) };
  }

  private windows(entry: FunctionEntry, f: FunctionScaling): KeepAliveWindows {
    const { scale } = entry.fn.spec;
    const mode = scale.keepAlive ?? this.config.keepAlive;
    const key = `${mode} ${scale.idleTimeoutMs} ${f.histogram.total}`;
    if (f.windows?.key !== key) {
      const config = this.keepAliveConfig(scale.idleTimeoutMs);
      f.windows = { key, value: keepAliveWindows(mode, f.histogram, config) };
    }
    return f.windows.value;
  }

  private keepAliveConfig(idleTimeoutMs: number): KeepAliveConfig {
    return { ...DEFAULT_KEEP_ALIVE, idleTimeoutMs, binMs: this.config.keepAliveBinMs };
  }

  private scaleOne(entry: FunctionEntry, now: number): void {
    const { pool, fn, key } = entry;
    const stats = pool.stats();
    let f = this.functions.get(key);
    // A function at rest with no instances costs nothing per tick.
    if (!f && stats.instances === 0 && stats.starting === 0 && pool.concurrency === 0) return;
    if (!f) {
      f = {
        samples: [],
        state: { ...INITIAL_SCALE_STATE },
        histogram: new IdleHistogram(this.keepAliveConfig(DEFAULT_KEEP_ALIVE.idleTimeoutMs)),
        lastDesired: 0,
        panic: false,
      };
      this.functions.set(key, f);
    }
    for (const idleMs of pool.takeEndedIdlePeriods()) f.histogram.add(idleMs);
    f.samples.push({ at: now, concurrency: pool.sampleConcurrency() });
    const horizon = now - this.config.stableWindowMs;
    let drop = 0;
    while (drop < f.samples.length && f.samples[drop]!.at <= horizon) drop++;
    if (drop > 0) f.samples.splice(0, drop);

    const { scale } = fn.spec;
    const policy: ScalePolicy = {
      minInstances: scale.min,
      maxInstances: scale.max,
      targetConcurrency: scale.target ?? pool.instanceConcurrency,
      utilisation: scale.utilisation,
      stableWindowMs: this.config.stableWindowMs,
      panicWindowMs: this.config.panicWindowMs,
      panicThreshold: this.config.panicThreshold,
      maxScaleUpRate: this.config.maxScaleUpRate,
      maxScaleDownRate: this.config.maxScaleDownRate,
    };
    const decision = decideScale(f.samples, stats.instances, policy, f.state, now);
    f.state = decision.state;
    f.panic = decision.panic;

    let desired = decision.desired;
    if (pool.concurrency > 0) {
      desired = Math.max(desired, 1);
    } else {
      // At rest, the keep-alive policy decides whether the last instance stays (or is pre-warmed).
      const warm = wantsWarm(this.windows(entry, f), pool.idleSince, now);
      desired = warm ? Math.max(desired, 1) : scale.min;
    }
    f.lastDesired = desired;
    pool.scaleTo(desired);
    if (
      desired === 0 &&
      stats.instances === 0 &&
      stats.starting === 0 &&
      f.histogram.total === 0 &&
      !decision.panic
    ) {
      // Nothing to remember: drop the state so resting functions stay free.
      this.functions.delete(key);
    }
  }
}
