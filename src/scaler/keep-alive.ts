// Keep-alive policies, pure: how long a function stays warm after its last call. `fixed` keeps it for a
// set idle time (Lambda-like); `hybrid` is the histogram policy of "Serverless in the Wild" (ATC'20).

export type KeepAliveMode = 'fixed' | 'hybrid';

export interface KeepAliveConfig {
  /** Fixed policy (and the hybrid fallback): stay warm this long after the last call. Default 10 min. */
  idleTimeoutMs: number;
  /** Histogram bin width. Paper: 1 minute. */
  binMs: number;
  /** Number of bins (range = binMs × bins). Paper: 4 hours of 1-minute bins. */
  bins: number;
  /** Idle times needed before the histogram is trusted. */
  minSamples: number;
  /** The bin counts' coefficient of variation must reach this for the histogram to count as representative. */
  minCv: number;
  /** At most this fraction of idle times may fall past the histogram's range. */
  maxOutOfBounds: number;
  /** Head and tail percentiles: pre-warm at the head, keep alive until the tail. Paper: 5 and 99. */
  headPercentile: number;
  tailPercentile: number;
  /**
   * Bins added on both sides of each warm range, since an idle time is known only to its bin (the paper adds
   * 10 % of the idle time; after the cost trim that re-adds most of what the trim saved).
   */
  marginBins: number;
  /**
   * Trim the hybrid ranges where they cost more than they save (`trimByCost`); off gives the paper's
   * percentile windows (with `marginBins`).
   */
  costTrim: boolean;
  /**
   * What a cold start is worth to the trim, in fixed idle timeouts of warm instance time: a warm minute is
   * kept where it catches at least 1 / (coldStartWorth × idle timeout in minutes) calls per idle period that
   * reaches it. Chosen with the keep-alive replay (docs/benchmarks.md shows 1, 2 and 3).
   */
  coldStartWorth: number;
}

export const DEFAULT_KEEP_ALIVE: KeepAliveConfig = Object.freeze({
  idleTimeoutMs: 600_000,
  binMs: 60_000,
  bins: 240,
  minSamples: 10,
  minCv: 2,
  maxOutOfBounds: 0.5,
  headPercentile: 5,
  tailPercentile: 99,
  marginBins: 1,
  costTrim: true,
  coldStartWorth: 2,
});

/** Idle times between calls, in fixed-width bins. */
export class IdleHistogram {
  readonly counts: Uint32Array;
  total = 0;
  outOfBounds = 0;

  constructor(private readonly config: Pick<KeepAliveConfig, 'binMs' | 'bins'>) {
    this.counts = new Uint32Array(config.bins);
  }

  add(idleMs: number): void {
    const bin = Math.floor(Math.max(0, idleMs) / this.config.binMs);
    this.total++;
    if (bin >= this.config.bins) this.outOfBounds++;
    else this.counts[bin]!++;
  }

  /** The idle time (ms, at the bin's lower edge for the head, upper edge for the tail) below which p % of samples fall. */
  percentile(p: number, edge: 'lower' | 'upper'): number {
    const inBounds = this.total - this.outOfBounds;
    const rank = Math.max(1, Math.ceil((p / 100) * inBounds));
    let seen = 0;
    for (let i = 0; i < this.counts.length; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return (edge === 'lower' ? i : i + 1) * this.config.binMs;
    }
    return this.counts.length * this.config.binMs;
  }

  /** Coefficient of variation of the bin counts: high when idle times cluster, ~0 when spread flat. */
  cv(): number {
    const n = this.counts.length;
    let sum = 0;
    for (const c of this.counts) sum += c;
    const mean = sum / n;
    if (mean === 0) return 0;
    let sq = 0;
    for (const c of this.counts) sq += (c - mean) ** 2;
    return Math.sqrt(sq / n) / mean;
  }
}

export interface KeepAliveWindows {
  /** Which rule is in force for this function now. */
  mode: 'fixed' | 'hybrid';
  /** After a call ends, stay cold this long, then pre-warm one instance (0 = stay warm from the end). */
  prewarmMs: number;
  /** Then stay warm this long (until the last range ends). */
  keepAliveMs: number;
  /**
   * Warm ranges after the end of the last call, [from, to) in ms. One range for most functions; a function
   * whose idle times form clusters far apart (bursts hours apart) gets one per cluster, cold in between.
   */
  ranges: readonly (readonly [number, number])[];
}

/** Warm bins after the end of the last call, [from, to) in bin numbers. */
type BinRange = [number, number];

/**
 * The windows a policy gives for a function with this idle-time histogram. Hybrid follows the paper (warm
 * from the head to the tail percentile of the idle times, a margin on both sides, fixed when the histogram
 * is not representative) with two refinements the keep-alive replay asked for: idle times in clusters far
 * apart get separate ranges, and the bins are trimmed where the histogram says they cost more memory than
 * the cold starts they save are worth (see `trimByCost`).
 */
export function keepAliveWindows(
  mode: KeepAliveMode,
  histogram: IdleHistogram | undefined,
  config: KeepAliveConfig,
): KeepAliveWindows {
  const fixed: KeepAliveWindows = {
    mode: 'fixed',
    prewarmMs: 0,
    keepAliveMs: config.idleTimeoutMs,
    ranges: [[0, config.idleTimeoutMs]],
  };
  if (mode === 'fixed' || !histogram) return fixed;
  if (histogram.total < config.minSamples) return fixed;
  if (histogram.outOfBounds / histogram.total > config.maxOutOfBounds) return fixed;
  if (histogram.cv() < config.minCv) return fixed;
  const head = histogram.percentile(config.headPercentile, 'lower');
  const tail = histogram.percentile(config.tailPercentile, 'upper');
  const found = clusters(histogram, head, tail, config);
  const kept = config.costTrim ? trimByCost(histogram, found, config) : found;
  if (!kept) return fixed;
  const { binMs, marginBins } = config;
  const ranges = merge(kept.map(([from, to]) => [Math.max(0, from - marginBins), to + marginBins])).map(
    ([from, to]): [number, number] => [from * binMs, to * binMs],
  );
  const prewarmMs = ranges[0]![0];
  const end = ranges[ranges.length - 1]![1];
  return { mode: 'hybrid', prewarmMs, keepAliveMs: end - prewarmMs, ranges };
}

/** Sorted, with overlapping or touching ranges joined. */
function merge(ranges: readonly BinRange[]): BinRange[] {
  const out: BinRange[] = [];
  for (const [from, to] of [...ranges].sort((a, b) => a[0] - b[0])) {
    const last = out[out.length - 1];
    if (last && from <= last[1]) last[1] = Math.max(last[1], to);
    else out.push([from, to]);
  }
  return out;
}

/**
 * The bins between the head and tail percentiles, split where a stretch of empty bins at least as long as
 * the fixed keep-alive separates them: a single [head, tail] window would keep a bursty function warm
 * through the hours between its bursts.
 */
function clusters(histogram: IdleHistogram, head: number, tail: number, config: KeepAliveConfig): BinRange[] {
  const { binMs } = config;
  const gapBins = Math.max(1, Math.ceil(config.idleTimeoutMs / binMs));
  const firstBin = Math.floor(head / binMs);
  const lastBin = Math.max(firstBin, Math.ceil(tail / binMs) - 1);
  const out: BinRange[] = [];
  let start = -1;
  let lastFull = -1;
  for (let bin = firstBin; bin <= lastBin; bin++) {
    if (histogram.counts[bin] === 0) continue;
    if (start === -1) start = bin;
    else if (bin - lastFull - 1 >= gapBins) {
      out.push([start, lastFull + 1]);
      start = bin;
    }
    lastFull = bin;
  }
  if (start !== -1) out.push([start, lastFull + 1]);
  return out;
}

/**
 * What the histogram predicts per idle period, bin by bin: an instance kept warm through bin b costs the
 * bin's width for every idle period that outlasts it (half of it for those ending in it), and catches the
 * calls that end in it.
 */
class BinCosts {
  /** Idle periods that outlast bin b; those past the histogram's range outlast every bin. */
  private readonly longer: Float64Array;

  constructor(
    private readonly histogram: IdleHistogram,
    private readonly binMs: number,
    span: number,
  ) {
    this.longer = new Float64Array(span + 1);
    this.longer[span] = histogram.outOfBounds;
    for (let b = span - 1; b >= 0; b--) this.longer[b] = this.longer[b + 1]! + this.calls(b + 1);
  }

  /** Idle periods that ended in bin b. */
  calls(b: number): number {
    return b < this.histogram.counts.length ? this.histogram.counts[b]! : 0;
  }

  /** Instance-ms warm in bin b, summed over the idle periods. */
  warmMs(b: number): number {
    return this.binMs * this.longer[b]! + (this.binMs / 2) * this.calls(b);
  }

  /** Total cost of keeping these bins warm, each cold start counted as `coldMs` of warm time. */
  cost(ranges: readonly BinRange[], coldMs: number): number {
    let warm = 0;
    let caught = 0;
    for (const [from, to] of ranges)
      for (let b = from; b < to; b++) {
        warm += this.warmMs(b);
        caught += this.calls(b);
      }
    return warm + coldMs * (this.histogram.total - caught);
  }
}

/**
 * Of each hybrid cluster, the stretch of bins that saves the most: the largest sum over contiguous bins of
 * (calls caught × a cold start's worth − warm time). A bin is worth its warm time where the calls ending in
 * it, per idle period that reaches it, come often enough; for a function whose calls come at random (the
 * same chance every minute) that holds for every bin or none, while a timer's or a burst's next call is due
 * at a known time. Without this, a function whose idle times spread over hours (steady random calls,
 * irregular bursts) waits warm to its 99th percentile after every call. Undefined when the fixed window costs
 * less than what is left.
 */
function trimByCost(
  histogram: IdleHistogram,
  hybrid: readonly BinRange[],
  config: KeepAliveConfig,
): BinRange[] | undefined {
  const worth = config.coldStartWorth * config.idleTimeoutMs;
  const fixed: BinRange = [0, Math.max(1, Math.ceil(config.idleTimeoutMs / config.binMs))];
  const costs = new BinCosts(histogram, config.binMs, Math.max(fixed[1], ...hybrid.map(([, to]) => to)));
  const kept: BinRange[] = [];
  for (const [from, to] of hybrid) {
    let best = 0;
    let bestRange: BinRange | undefined;
    let sum = 0;
    let start = from;
    for (let b = from; b < to; b++) {
      if (sum <= 0) {
        sum = 0;
        start = b;
      }
      sum += worth * costs.calls(b) - costs.warmMs(b);
      if (sum > best) {
        best = sum;
        bestRange = [start, b + 1];
      }
    }
    if (bestRange) kept.push(bestRange);
  }
  // On a tie the hybrid ranges win: they are never longer than they need to be.
  if (kept.length === 0 || costs.cost(kept, worth) > costs.cost([fixed], worth)) return undefined;
  return kept;
}

/** Whether the function should have a warm instance at `now`, given when its last call ended. */
export function wantsWarm(
  windows: KeepAliveWindows,
  lastCallEndedAt: number | undefined,
  now: number,
): boolean {
  if (lastCallEndedAt === undefined) return false;
  const idle = now - lastCallEndedAt;
  for (const [from, to] of windows.ranges) if (idle >= from && idle < to) return true;
  return false;
}
