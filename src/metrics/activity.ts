// What the dashboard draws for each function: a ring of 10-second buckets over the last hour (calls, errors,
// cold starts, a latency histogram per bucket) and a ring of its last calls (sync and async alike). Fed by
// the dispatcher's call counter; recording a call reads the clock once and writes a few typed-array slots and
// the call's id (the one string a call costs: the lease cuts it from the request head it already holds).

/** Width of one time-series bucket. */
export const BUCKET_MS = 10_000;
/** Buckets kept per function: one hour. */
export const BUCKETS = 360;
/** Finished calls kept per function for the "recent calls" list. */
export const RECENT_CALLS = 100;
/** Upper bounds of the latency histogram's bins (ms); the last bin counts what is past every bound. */
export const LATENCY_BOUNDS_MS = [
  1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 30_000,
] as const;
const BINS = LATENCY_BOUNDS_MS.length + 1;

/** The buckets of one function over a span of time, oldest first (one array entry per bucket). */
export interface SeriesView {
  bucketMs: number;
  /** Epoch ms where the first bucket starts. */
  start: number;
  calls: number[];
  /** Calls answered with a status of 500 or more. */
  errors: number[];
  coldStarts: number[];
  /** Latency quantiles (ms) estimated from the bucket's histogram; null for a bucket with no calls. */
  p50Ms: (number | null)[];
  p99Ms: (number | null)[];
}

/** One window summed up (the function list's columns). */
export interface SummaryView {
  calls: number;
  errors: number;
  coldStarts: number;
  /** Calls per second over the window. */
  rate: number;
  p50Ms: number | null;
  p99Ms: number | null;
  /** Calls per bucket over the window, oldest first (a sparkline). */
  spark: number[];
}

export interface RecentCall {
  /** Epoch ms when the call finished. */
  at: number;
  status: number;
  durationMs: number;
  /** It waited for an instance started for it. */
  cold: boolean;
  /** The instance that served it (absent when it never reached one: refused, queue full, timed out waiting). */
  instance?: string;
  /** Its x-call-id (absent when it never reached an instance): the id its log lines carry (/system/logs). */
  callId?: string;
}

/** The activity of one function (every version of it). */
export class FunctionActivity {
  /** Which bucket (epoch ms / BUCKET_MS) each slot holds; NaN: none yet. */
  readonly #stamp = new Float64Array(BUCKETS).fill(Number.NaN);
  readonly #calls = new Uint32Array(BUCKETS);
  readonly #errors = new Uint32Array(BUCKETS);
  readonly #cold = new Uint32Array(BUCKETS);
  readonly #bins = new Uint32Array(BUCKETS * BINS);
  readonly #at = new Float64Array(RECENT_CALLS);
  readonly #status = new Uint16Array(RECENT_CALLS);
  readonly #durationMs = new Float32Array(RECENT_CALLS);
  readonly #wasCold = new Uint8Array(RECENT_CALLS);
  readonly #instance: (string | undefined)[] = new Array<string | undefined>(RECENT_CALLS).fill(undefined);
  readonly #callId: (string | undefined)[] = new Array<string | undefined>(RECENT_CALLS).fill(undefined);
  /** Calls recorded so far (the next recent-call slot is this modulo RECENT_CALLS). */
  #recorded = 0;
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** One finished call. */
  record(
    status: number,
    seconds: number,
    cold: boolean,
    instance: string | undefined,
    callId?: string | undefined,
  ): void {
    const now = this.#now();
    const ms = seconds * 1000;
    const bucket = Math.floor(now / BUCKET_MS);
    const slot = slotOf(bucket);
    if (this.#stamp[slot] !== bucket) this.#reset(slot, bucket);
    this.#calls[slot]!++;
    if (status >= 500) this.#errors[slot]!++;
    if (cold) this.#cold[slot]!++;
    let bin = 0;
    while (bin < LATENCY_BOUNDS_MS.length && ms > LATENCY_BOUNDS_MS[bin]!) bin++;
    this.#bins[slot * BINS + bin]!++;
    const i = this.#recorded++ % RECENT_CALLS;
    this.#at[i] = now;
    this.#status[i] = status;
    this.#durationMs[i] = ms;
    this.#wasCold[i] = cold ? 1 : 0;
    this.#instance[i] = instance;
    this.#callId[i] = callId;
  }

  #reset(slot: number, bucket: number): void {
    this.#stamp[slot] = bucket;
    this.#calls[slot] = 0;
    this.#errors[slot] = 0;
    this.#cold[slot] = 0;
    this.#bins.fill(0, slot * BINS, (slot + 1) * BINS);
  }

  /** The last `buckets` buckets (the current, still filling, one last). */
  series(buckets: number = BUCKETS): SeriesView {
    const count = Math.max(1, Math.min(BUCKETS, Math.floor(buckets)));
    const last = Math.floor(this.#now() / BUCKET_MS);
    const view: SeriesView = {
      bucketMs: BUCKET_MS,
      start: (last - count + 1) * BUCKET_MS,
      calls: [],
      errors: [],
      coldStarts: [],
      p50Ms: [],
      p99Ms: [],
    };
    const bins = new Uint32Array(BINS);
    for (let bucket = last - count + 1; bucket <= last; bucket++) {
      const slot = slotOf(bucket);
      const live = this.#stamp[slot] === bucket;
      view.calls.push(live ? this.#calls[slot]! : 0);
      view.errors.push(live ? this.#errors[slot]! : 0);
      view.coldStarts.push(live ? this.#cold[slot]! : 0);
      if (live) bins.set(this.#bins.subarray(slot * BINS, (slot + 1) * BINS));
      else bins.fill(0);
      view.p50Ms.push(quantile(bins, 0.5));
      view.p99Ms.push(quantile(bins, 0.99));
    }
    return view;
  }

  /** The last `buckets` buckets summed up. */
  summary(buckets: number): SummaryView {
    const count = Math.max(1, Math.min(BUCKETS, Math.floor(buckets)));
    const now = this.#now();
    const last = Math.floor(now / BUCKET_MS);
    const bins = new Uint32Array(BINS);
    const summary: SummaryView = {
      calls: 0,
      errors: 0,
      coldStarts: 0,
      rate: 0,
      p50Ms: null,
      p99Ms: null,
      spark: [],
    };
    for (let bucket = last - count + 1; bucket <= last; bucket++) {
      const slot = slotOf(bucket);
      if (this.#stamp[slot] !== bucket) {
        summary.spark.push(0);
        continue;
      }
      summary.calls += this.#calls[slot]!;
      summary.errors += this.#errors[slot]!;
      summary.coldStarts += this.#cold[slot]!;
      summary.spark.push(this.#calls[slot]!);
      for (let b = 0; b < BINS; b++) bins[b]! += this.#bins[slot * BINS + b]!;
    }
    // The window ends now, partway into the current bucket.
    const seconds = ((count - 1) * BUCKET_MS + (now - last * BUCKET_MS)) / 1000;
    summary.rate = seconds > 0 ? summary.calls / seconds : 0;
    summary.p50Ms = quantile(bins, 0.5);
    summary.p99Ms = quantile(bins, 0.99);
    return summary;
  }

  /** The last `limit` finished calls, newest first. */
  recent(limit: number = RECENT_CALLS): RecentCall[] {
    const count = Math.min(limit, this.#recorded, RECENT_CALLS);
    const calls: RecentCall[] = [];
    for (let k = 1; k <= count; k++) {
      const i = (this.#recorded - k) % RECENT_CALLS;
      const instance = this.#instance[i];
      const callId = this.#callId[i];
      calls.push({
        at: this.#at[i]!,
        status: this.#status[i]!,
        durationMs: Math.round(this.#durationMs[i]! * 10) / 10,
        cold: this.#wasCold[i] === 1,
        ...(instance === undefined ? {} : { instance }),
        ...(callId === undefined ? {} : { callId }),
      });
    }
    return calls;
  }
}

/** Every function's activity, by function id. Kept until the platform stops, as the /metrics series are. */
export class CallActivity {
  readonly #functions = new Map<string, FunctionActivity>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** The activity of function `id`, made on first use (when its pool is made, not on a call). */
  of(id: string): FunctionActivity {
    let activity = this.#functions.get(id);
    if (!activity) {
      activity = new FunctionActivity(this.#now);
      this.#functions.set(id, activity);
    }
    return activity;
  }

  /** The activity of function `id`, if it was ever recorded. */
  get(id: string): FunctionActivity | undefined {
    return this.#functions.get(id);
  }
}

function slotOf(bucket: number): number {
  return ((bucket % BUCKETS) + BUCKETS) % BUCKETS;
}

/**
 * The `q` quantile of a histogram, interpolated within its bin as Prometheus's histogram_quantile does;
 * a quantile in the last (unbounded) bin is reported as the highest bound.
 */
export function quantile(bins: ArrayLike<number>, q: number): number | null {
  let total = 0;
  for (let b = 0; b < bins.length; b++) total += bins[b]!;
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let b = 0; b < bins.length; b++) {
    const inBin = bins[b]!;
    if (seen + inBin >= rank && inBin > 0) {
      if (b >= LATENCY_BOUNDS_MS.length) return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]!;
      const lower = b === 0 ? 0 : LATENCY_BOUNDS_MS[b - 1]!;
      const upper = LATENCY_BOUNDS_MS[b]!;
      return Math.round((lower + ((upper - lower) * (rank - seen)) / inBin) * 100) / 100;
    }
    seen += inBin;
  }
  return LATENCY_BOUNDS_MS[LATENCY_BOUNDS_MS.length - 1]!;
}
