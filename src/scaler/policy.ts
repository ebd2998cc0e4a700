// The scaling decision, Knative KPA style, as a pure function: observed concurrency over a stable and a
// panic window → desired instance count, with panic mode, bounded step rates and min/max.

export interface ScalePolicy {
  minInstances: number;
  maxInstances: number;
  /** Concurrent requests one instance is meant to carry (its `concurrency` unless `scale.target` says otherwise). */
  targetConcurrency: number;
  /** Fraction of the target to aim at, leaving headroom for bursts (Knative: 0.7). */
  utilisation: number;
  /** Window of the stable average. Knative: 60 s. */
  stableWindowMs: number;
  /** Window of the panic average. Knative: 6 s (10 % of the stable window). */
  panicWindowMs: number;
  /** Panic starts when the panic window wants this many times the ready instances. Knative: 2. */
  panicThreshold: number;
  /** One step may grow the count to at most this many times the ready instances. Knative: 1000. */
  maxScaleUpRate: number;
  /** One step may shrink the count to no less than ready ÷ this. Knative: 2. */
  maxScaleDownRate: number;
}

/** One observation: requests in flight plus queued, at a time (epoch ms). */
export interface Sample {
  at: number;
  concurrency: number;
}

export interface ScaleState {
  /** When panic mode started; undefined when not panicking. */
  panicSince: number | undefined;
  /** The highest count decided while panicking (the count never goes down in panic). */
  panicDesired: number;
}

export interface ScaleDecision {
  desired: number;
  panic: boolean;
  stableConcurrency: number;
  panicConcurrency: number;
  state: ScaleState;
}

export const INITIAL_SCALE_STATE: ScaleState = Object.freeze({ panicSince: undefined, panicDesired: 0 });

/** Average concurrency over the samples within `windowMs` before `now` (0 without samples). */
export function windowAverage(samples: readonly Sample[], now: number, windowMs: number): number {
  let sum = 0;
  let count = 0;
  for (let i = samples.length - 1; i >= 0; i--) {
    const s = samples[i]!;
    if (s.at <= now - windowMs) break;
    if (s.at > now) continue;
    sum += s.concurrency;
    count++;
  }
  return count === 0 ? 0 : sum / count;
}

/**
 * Decides how many instances a function should have. `ready` is the count serving now. Pure: the
 * caller keeps `state` between calls and passes the time in.
 */
export function decideScale(
  samples: readonly Sample[],
  ready: number,
  policy: ScalePolicy,
  state: ScaleState,
  now: number,
): ScaleDecision {
  const perInstance = Math.max(policy.targetConcurrency * policy.utilisation, 0.01);
  const stableConcurrency = windowAverage(samples, now, policy.stableWindowMs);
  const panicConcurrency = windowAverage(samples, now, policy.panicWindowMs);
  const stableWanted = Math.ceil(stableConcurrency / perInstance - 1e-9);
  const panicWanted = Math.ceil(panicConcurrency / perInstance - 1e-9);

  // Step rates are relative to what serves now; from zero, up to what the load asks for at once.
  const base = Math.max(ready, 1);
  const maxUp = Math.ceil(base * policy.maxScaleUpRate);
  const maxDown = Math.floor(ready / policy.maxScaleDownRate);
  const limit = (n: number) => Math.min(Math.max(n, maxDown), maxUp);

  let panicSince = state.panicSince;
  // From zero the first start is the pool's (on the first request); panic is about instances falling behind.
  const panicking = ready > 0 && panicWanted / ready >= policy.panicThreshold;
  if (panicking) panicSince = now;
  else if (panicSince !== undefined && now - panicSince >= policy.stableWindowMs) panicSince = undefined;

  let desired: number;
  let panicDesired = 0;
  if (panicSince !== undefined) {
    // In panic the count follows the short window up and never comes down.
    desired = Math.max(limit(panicWanted), state.panicDesired, ready);
    panicDesired = desired;
  } else {
    desired = limit(stableWanted);
  }
  desired = Math.min(Math.max(desired, policy.minInstances), policy.maxInstances);
  if (panicSince !== undefined) panicDesired = desired;
  return {
    desired,
    panic: panicSince !== undefined,
    stableConcurrency,
    panicConcurrency,
    state: { panicSince, panicDesired },
  };
}
