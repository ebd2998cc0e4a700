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
  /** Safety margin applied to both windows (paper: 10 %). */
  margin: number;
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
  margin: 0.1,
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

/** The windows a policy gives for a function with this idle-time histogram. */
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
  const ranges = clusterRanges(histogram, head, tail, config);
  const prewarmMs = ranges[0]![0];
  const end = ranges[ranges.length - 1]![1];
  return { mode: 'hybrid', prewarmMs, keepAliveMs: end - prewarmMs, ranges };
}

/**
 * The idle times between the head and tail percentiles, split where a stretch of empty bins at least as
 * long as the fixed keep-alive separates them: a single [head, tail] window would keep a bursty
 * function warm through the hours between its bursts. Each cluster's range gets the margin on both sides.
 */
function clusterRanges(
  histogram: IdleHistogram,
  head: number,
  tail: number,
  config: KeepAliveConfig,
): [number, number][] {
  const { binMs } = config;
  const gapBins = Math.max(1, Math.ceil(config.idleTimeoutMs / binMs));
  const firstBin = Math.floor(head / binMs);
  const lastBin = Math.max(firstBin, Math.ceil(tail / binMs) - 1);
  const clusters: [number, number][] = [];
  let start = -1;
  let lastFull = -1;
  for (let bin = firstBin; bin <= lastBin; bin++) {
    if (histogram.counts[bin] === 0) continue;
    if (start === -1) start = bin;
    else if (bin - lastFull - 1 >= gapBins) {
      clusters.push([start, lastFull]);
      start = bin;
    }
    lastFull = bin;
  }
  if (start === -1) return [[Math.floor(head * (1 - config.margin)), Math.ceil(tail * (1 + config.margin))]];
  clusters.push([start, lastFull]);
  return clusters.map(([from, to]) => {
    const fromMs = Math.floor(from * binMs * (1 - config.margin));
    const toMs = Math.ceil((to + 1) * binMs * (1 + config.margin));
    return [fromMs, Math.max(toMs, fromMs + binMs)];
  });
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
