// Synthetic traces in the Azure Functions 2019 format, since the real one cannot be downloaded here. The
// mix follows what the paper reports of the real trace: rates spread over ~7 orders of magnitude, most
// functions invoked less than once a minute; timers fire periodically, HTTP functions at a steady
// (diurnal) random rate, queue and event functions in bursts separated by long gaps. Seeded: the same
// options give the same trace.
import { Random } from './random.js';
import { MINUTES_PER_DAY, type TraceFunction } from './trace.js';

export type FunctionKind = 'periodic' | 'steady' | 'bursty';

export interface GeneratorOptions {
  functions: number;
  days: number;
  seed: number;
}

export interface GeneratedFunction extends TraceFunction {
  kind: FunctionKind;
}

/** Shares of the kinds (timers are ~16 % of the real trace's functions, HTTP ~55 %, queue/event/others the rest). */
const KINDS: readonly (readonly [FunctionKind, number])[] = [
  ['periodic', 0.2],
  ['steady', 0.5],
  ['bursty', 0.3],
];

/** Timer periods in minutes and how common each is (cron-like: 5, 15, 30, 60 minutes, daily...). */
const PERIODS_MIN: readonly (readonly [number, number])[] = [
  [1, 5],
  [2, 2],
  [5, 10],
  [10, 8],
  [15, 10],
  [20, 4],
  [30, 12],
  [60, 18],
  [120, 8],
  [180, 4],
  [360, 6],
  [720, 5],
  [1440, 8],
];

/** Rates of steady functions: log10(invocations per minute) ~ normal(−2.2, 1.7), within these bounds. */
const STEADY_LOG10_RATE = {
  mean: -2.2,
  sd: 1.7,
  min: Math.log10(1 / MINUTES_PER_DAY),
  max: Math.log10(3000),
};

function periodic(rng: Random, counts: Uint32Array): void {
  const period = rng.weighted(PERIODS_MIN);
  const phase = rng.int(0, period - 1);
  // Some timers drift by a minute either way (a slow previous run, clock skew).
  const drift = rng.next() < 0.3;
  const perFiring = rng.next() < 0.85 ? 1 : rng.int(2, 10);
  for (let t = phase; t < counts.length; t += period) {
    const m = Math.min(counts.length - 1, Math.max(0, t + (drift ? rng.int(-1, 1) : 0)));
    counts[m]! += perFiring;
  }
}

function steady(rng: Random, counts: Uint32Array): void {
  const { mean, sd, min, max } = STEADY_LOG10_RATE;
  const rate = 10 ** Math.min(max, Math.max(min, mean + sd * rng.normal()));
  // A daily cycle: busier at some hour of the day, quieter twelve hours later.
  const amplitude = rng.uniform(0, 0.9);
  const peak = rng.uniform(0, MINUTES_PER_DAY);
  for (let m = 0; m < counts.length; m++) {
    const phase = (2 * Math.PI * ((m % MINUTES_PER_DAY) - peak)) / MINUTES_PER_DAY;
    counts[m] = rng.poisson(rate * (1 + amplitude * Math.cos(phase)));
  }
}

function bursty(rng: Random, counts: Uint32Array): void {
  // Bursts of 1-5 minutes (on average) at 1-300 calls a minute, 10 minutes to ~33 hours apart.
  const gapMedianMin = 10 ** rng.uniform(1, 3.3);
  const burstMeanMin = rng.uniform(1, 5);
  const burstRate = 10 ** rng.uniform(0, 2.5);
  let t = Math.floor(rng.exponential(gapMedianMin));
  while (t < counts.length) {
    const length = Math.max(1, Math.round(rng.exponential(burstMeanMin)));
    for (let k = 0; k < length && t + k < counts.length; k++)
      counts[t + k]! += Math.max(1, rng.poisson(burstRate));
    t += length + Math.max(1, Math.round(gapMedianMin * Math.exp(rng.normal())));
  }
}

const TRIGGERS: Record<FunctionKind, readonly (readonly [string, number])[]> = {
  periodic: [['timer', 1]],
  steady: [['http', 1]],
  bursty: [
    ['queue', 5],
    ['event', 2],
    ['orchestration', 2],
    ['storage', 1],
  ],
};

export function generateTrace(options: GeneratorOptions): GeneratedFunction[] {
  const rng = new Random(options.seed);
  const length = options.days * MINUTES_PER_DAY;
  const out: GeneratedFunction[] = [];
  let owner = rng.hex(32);
  let app = rng.hex(32);
  let appLeft = 0;
  for (let i = 0; i < options.functions; i++) {
    // Apps of 1-4 functions, owners of 1-3 apps.
    if (appLeft === 0) {
      if (rng.next() < 0.5) owner = rng.hex(32);
      app = rng.hex(32);
      appLeft = rng.int(1, 4);
    }
    appLeft--;
    const kind = rng.weighted(KINDS);
    const counts = new Uint32Array(length);
    if (kind === 'periodic') periodic(rng, counts);
    else if (kind === 'steady') steady(rng, counts);
    else bursty(rng, counts);
    out.push({ owner, app, fn: rng.hex(32), trigger: rng.weighted(TRIGGERS[kind]), counts, kind });
  }
  return out;
}

/** How the functions' average rates spread: the shares at most once an hour, once a minute, and at least once a second. */
export function rateSpread(functions: readonly TraceFunction[]): {
  atMostHourly: number;
  atMostPerMinute: number;
  atLeastPerSecond: number;
  minPerDay: number;
  maxPerSecond: number;
} {
  let hourly = 0;
  let perMinute = 0;
  let perSecond = 0;
  let minPerDay = Number.POSITIVE_INFINITY;
  let maxPerSecond = 0;
  for (const f of functions) {
    let total = 0;
    for (const c of f.counts) total += c;
    const perMin = total / f.counts.length;
    if (perMin <= 1 / 60) hourly++;
    if (perMin <= 1) perMinute++;
    if (perMin >= 60) perSecond++;
    minPerDay = Math.min(minPerDay, perMin * MINUTES_PER_DAY);
    maxPerSecond = Math.max(maxPerSecond, perMin / 60);
  }
  const n = Math.max(1, functions.length);
  return {
    atMostHourly: hourly / n,
    atMostPerMinute: perMinute / n,
    atLeastPerSecond: perSecond / n,
    minPerDay,
    maxPerSecond,
  };
}
