// Warm throughput and latency: every target at every connection count, interleaved over rounds (the order
// flips each round so drift on a noisy machine does not favour one side). A measurement during which
// other processes took a share of either pinned core is repeated, a bounded number of times.
import type { BenchChild } from './bench-child.js';
import type { BenchOptions } from './options.js';
import type { Pinning } from './pinning.js';
import { treeCpuMs, watchCore } from './proc.js';

export interface LoadTarget {
  /** Key in the results: `bare`, `nimbus`, ... */
  key: string;
  url: string;
  /** Root of the serving process tree, for CPU per request. */
  serverPid: number;
  /** Connection counts this target is measured at (default: all). */
  connections?: readonly number[];
}

export interface LoadResult {
  /** The load generator that drove it: `wrk` or `autocannon`. */
  generator: string;
  requests: number;
  rps: number;
  p50Us: number;
  p99Us: number;
  errors: number;
  non2xx: number;
  /** CPU the load generator used, in % of one core (near 100: the generator is the limit). */
  loadCpuPct: number;
  /** CPU of the serving process tree per request, in µs. */
  serverCpuUsPerReq: number;
  /** The part of it spent in the server process itself (the gateway, for Nimbus), in µs. */
  rootCpuUsPerReq: number;
  /** Share of the server core used by anything outside the serving tree, or stolen by the hypervisor (%). */
  foreignServerCorePct: number;
  /** Share of the load core used by anything but the load generator, or stolen (%). */
  foreignLoadCorePct: number;
}

/** results[target][connections] = one LoadResult per round. */
export type ThroughputResults = Record<string, Record<number, LoadResult[]>>;

/** Past this share of a pinned core going elsewhere, a measurement is repeated. */
export const FOREIGN_CPU_RETRY_PCT = 10;
/** Repeats of one measurement at most (the last result is kept, and flagged in the report). */
export const MAX_REPEATS = 2;

type GeneratorResult = Pick<
  LoadResult,
  'generator' | 'requests' | 'rps' | 'p50Us' | 'p99Us' | 'errors' | 'non2xx' | 'loadCpuPct'
>;

async function measure(
  load: BenchChild,
  target: LoadTarget,
  connections: number,
  seconds: number,
  pinning: Pinning,
): Promise<LoadResult> {
  const serverCore = watchCore(pinning.serverCore, [target.serverPid]);
  const loadCore = watchCore(pinning.loadCore, [load.pid, process.pid]);
  const cpuBefore = treeCpuMs(target.serverPid);
  const result = await load.call<GeneratorResult>(
    'run',
    { url: target.url, connections, seconds },
    seconds * 1000 + 30_000,
  );
  const cpuAfter = treeCpuMs(target.serverPid);
  const rootMs = cpuAfter.rootMs - cpuBefore.rootMs;
  const treeMs = rootMs + cpuAfter.childrenMs - cpuBefore.childrenMs;
  const perRequestUs = (ms: number): number =>
    result.requests > 0 ? (ms * 1000) / result.requests : Number.NaN;
  return {
    ...result,
    serverCpuUsPerReq: perRequestUs(treeMs),
    rootCpuUsPerReq: perRequestUs(rootMs),
    foreignServerCorePct: serverCore().pct,
    foreignLoadCorePct: loadCore().pct,
  };
}

function describe(key: string, connections: number, r: LoadResult): string {
  const parts = [
    `${key.padEnd(14)} c${String(connections).padEnd(3)} ${Math.round(r.rps).toString().padStart(6)} req/s`,
    `p50 ${r.p50Us} µs, p99 ${r.p99Us} µs`,
    `server ${r.serverCpuUsPerReq.toFixed(1)} µs/req (${r.rootCpuUsPerReq.toFixed(1)} in its main process)`,
    `load-gen CPU ${r.loadCpuPct.toFixed(0)}%`,
    `other CPU on server/load core ${r.foreignServerCorePct.toFixed(0)}%/${r.foreignLoadCorePct.toFixed(0)}%`,
  ];
  if (r.errors + r.non2xx > 0) parts.push(`ERRORS ${r.errors}, non-2xx ${r.non2xx}`);
  return parts.join(' | ');
}

const foreignPct = (r: LoadResult): number => Math.max(r.foreignServerCorePct, r.foreignLoadCorePct);

export function disturbed(r: LoadResult): boolean {
  return foreignPct(r) > FOREIGN_CPU_RETRY_PCT;
}

export async function measureThroughput(
  load: BenchChild,
  targets: readonly LoadTarget[],
  options: BenchOptions,
  pinning: Pinning,
  progress: (line: string) => void,
): Promise<ThroughputResults> {
  const highest = Math.max(...options.connections);
  if (options.warmupSeconds > 0) {
    for (const target of targets) {
      progress(`warm-up ${target.key} c${highest} ${options.warmupSeconds}s`);
      await measure(load, target, highest, options.warmupSeconds, pinning);
    }
  }
  const results: ThroughputResults = {};
  for (let round = 0; round < options.rounds; round++) {
    for (const connections of options.connections) {
      const ordered = targets.filter((t) => (t.connections ?? options.connections).includes(connections));
      if (round % 2 === 1) ordered.reverse();
      for (const target of ordered) {
        let attempt = await measure(load, target, connections, options.seconds, pinning);
        // Still disturbed after the last repeat: the least disturbed attempt is kept.
        let result = attempt;
        for (let repeat = 1; repeat <= MAX_REPEATS && disturbed(attempt); repeat++) {
          progress(
            `disturbed, repeating (${repeat}/${MAX_REPEATS}): ${describe(target.key, connections, attempt)}`,
          );
          attempt = await measure(load, target, connections, options.seconds, pinning);
          if (foreignPct(attempt) < foreignPct(result)) result = attempt;
        }
        const byConnections = results[target.key] ?? {};
        results[target.key] = byConnections;
        byConnections[connections] = [...(byConnections[connections] ?? []), result];
        progress(`round ${round + 1}/${options.rounds} ${describe(target.key, connections, result)}`);
      }
    }
  }
  return results;
}
