// Turns the measurements into tables: ratios against bare node:http, with the targets beside them.
// The same markdown is printed and written to docs/benchmarks.md.
import type { ColdStartResults } from './cold-start.js';
import type { BenchOptions } from './options.js';
import type { Memory } from './proc.js';
import { median, percentile } from './stats.js';
import {
  disturbed,
  FOREIGN_CPU_RETRY_PCT,
  type LoadResult,
  MAX_REPEATS,
  type ThroughputResults,
} from './throughput.js';

/** The targets of issue 12 (invoke path v2). */
export const TARGETS = {
  /** `concurrency: 64` function: c32 requests/s ÷ bare node:http c32 requests/s, at least (stretch 0.8). */
  c32ThroughputRatioMin: 0.65,
  c32ThroughputRatioStretch: 0.8,
  /** The same at one connection, at least. */
  c1ThroughputRatioMin: 0.45,
  /** Nimbus c1 p50 minus bare c1 p50, in µs, at most. */
  c1AddedP50UsMax: 40,
  /** The spec defaults at c32 ÷ bare, at least. */
  defaultsC32RatioMin: 0.35,
  /** Resident memory of one warm instance, in MB, at most. */
  warmInstanceRssMbMax: 40,
} as const;

export interface BenchResults {
  /** YYYY-MM-DD (local). */
  date: string;
  machine: string;
  /** Commit measured. */
  revision: string;
  pinning: string;
  options: BenchOptions;
  throughput: ThroughputResults;
  cold: ColdStartResults;
  /** Spawn + load of each cold start, as the platform measured it (ms). */
  coldInitMs: number[];
  /**
   * `freshInstance`: the warm `hello` instance before the load (it served one request); the others after
   * it. `nimbusTree`: the platform and every process under it. `deployed`: the same right after the three
   * bench functions were deployed, before any load. `instancePss`: the instance's proportional share
   * (PSS: pages shared with other processes, the node binary's above all, divided among them).
   */
  memory: {
    platform: Memory;
    nimbusTree: Memory & { processes: number; pssMb: number };
    deployed: Memory & { processes: number; pssMb: number };
    freshInstance: Memory;
    instance: Memory;
    instancePss: { pssMb: number; privateMb: number };
    bare: Memory;
  };
}

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const fixed = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');
const check = (ok: boolean): string => (ok ? '✅' : '❌');
/** A difference with its sign: +12, −3. */
const signed = (n: number): string => (n < 0 ? `−${int(-n)}` : `+${int(n)}`);
const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;

function rounds(results: ThroughputResults, key: string, connections: number): LoadResult[] {
  return results[key]?.[connections] ?? [];
}

function medianOf(list: LoadResult[], pick: (r: LoadResult) => number): number {
  return median(list.map(pick));
}

/** Per-round ratio range, paired by round: shows how much the noise moved the ratio. */
function ratioSpread(nimbus: LoadResult[], bare: LoadResult[]): string {
  const ratios = nimbus.map((n, i) => n.rps / (bare[i]?.rps ?? Number.NaN)).filter(Number.isFinite);
  if (ratios.length < 2) return '';
  return ` (${fixed(Math.min(...ratios), 2)}–${fixed(Math.max(...ratios), 2)})`;
}

function addedSpread(nimbus: LoadResult[], bare: LoadResult[]): string {
  const added = nimbus.map((n, i) => n.p50Us - (bare[i]?.p50Us ?? Number.NaN)).filter(Number.isFinite);
  if (added.length < 2) return '';
  return ` (${signed(Math.min(...added))} to ${signed(Math.max(...added))})`;
}

export interface Verdicts {
  c32Ratio: number;
  c1Ratio: number;
  c1AddedP50Us: number;
  defaultsC32Ratio: number;
  instanceRssMb: number;
}

export function verdicts(results: BenchResults): Verdicts {
  const [low, high] = results.options.connections;
  const t = results.throughput;
  const rps = (key: string, c: number): number => medianOf(rounds(t, key, c), (r) => r.rps);
  return {
    c32Ratio: rps('nimbus', high) / rps('bare', high),
    c1Ratio: rps('nimbus', low) / rps('bare', low),
    c1AddedP50Us:
      medianOf(rounds(t, 'nimbus', low), (r) => r.p50Us) - medianOf(rounds(t, 'bare', low), (r) => r.p50Us),
    defaultsC32Ratio: rps('hello-defaults', high) / rps('bare', high),
    instanceRssMb: results.memory.instance.rssMb,
  };
}

/** "(gateway 50.1 + instances 24.3)": where Nimbus's CPU per request goes. */
function cpuSplit(list: LoadResult[]): string {
  const gateway = medianOf(list, (r) => r.rootCpuUsPerReq);
  const instances = medianOf(list, (r) => r.serverCpuUsPerReq - r.rootCpuUsPerReq);
  return `(gateway ${fixed(gateway, 1)} + instances ${fixed(instances, 1)})`;
}

function warmTable(results: BenchResults, v: Verdicts): string[] {
  const [low, high] = results.options.connections;
  const t = results.throughput;
  const lines = [
    '| warm path | bare node:http | Nimbus | Nimbus ÷ bare (per-round range) | target |',
    '|---|---:|---:|---:|---|',
  ];
  for (const c of [low, high]) {
    const bare = rounds(t, 'bare', c);
    const nimbus = rounds(t, 'nimbus', c);
    const bareRps = medianOf(bare, (r) => r.rps);
    const nimbusRps = medianOf(nimbus, (r) => r.rps);
    const target =
      c === high
        ? `≥ ${TARGETS.c32ThroughputRatioMin}× ${check(v.c32Ratio >= TARGETS.c32ThroughputRatioMin)} (stretch ${TARGETS.c32ThroughputRatioStretch}× ${check(v.c32Ratio >= TARGETS.c32ThroughputRatioStretch)})`
        : `≥ ${TARGETS.c1ThroughputRatioMin}× ${check(v.c1Ratio >= TARGETS.c1ThroughputRatioMin)}`;
    lines.push(
      `| c${c} requests/s | ${int(bareRps)} | ${int(nimbusRps)} | ${fixed(nimbusRps / bareRps, 2)}×${ratioSpread(nimbus, bare)} | ${target} |`,
    );
  }
  for (const c of [low, high]) {
    const bare = rounds(t, 'bare', c);
    const nimbus = rounds(t, 'nimbus', c);
    const bareP50 = medianOf(bare, (r) => r.p50Us);
    const nimbusP50 = medianOf(nimbus, (r) => r.p50Us);
    const target =
      c === low
        ? `added ≤ ${TARGETS.c1AddedP50UsMax} µs ${check(v.c1AddedP50Us <= TARGETS.c1AddedP50UsMax)}`
        : '';
    lines.push(
      `| c${c} p50 latency | ${int(bareP50)} µs | ${int(nimbusP50)} µs | ${signed(nimbusP50 - bareP50)} µs${addedSpread(nimbus, bare)} | ${target} |`,
    );
    const bareP99 = medianOf(bare, (r) => r.p99Us);
    const nimbusP99 = medianOf(nimbus, (r) => r.p99Us);
    lines.push(
      `| c${c} p99 latency | ${int(bareP99)} µs | ${int(nimbusP99)} µs | ${signed(nimbusP99 - bareP99)} µs | |`,
    );
  }
  for (const c of [low, high]) {
    const bareCpu = medianOf(rounds(t, 'bare', c), (r) => r.serverCpuUsPerReq);
    const nimbus = rounds(t, 'nimbus', c);
    const nimbusCpu = medianOf(nimbus, (r) => r.serverCpuUsPerReq);
    lines.push(
      `| c${c} server CPU per request | ${fixed(bareCpu, 1)} µs | ${fixed(nimbusCpu, 1)} µs ${cpuSplit(nimbus)} | ${fixed(nimbusCpu / bareCpu, 2)}× | |`,
    );
  }
  const defaults = rounds(t, 'hello-defaults', high);
  if (defaults.length > 0) {
    const bare = rounds(t, 'bare', high);
    const rps = medianOf(defaults, (r) => r.rps);
    const cpu = medianOf(defaults, (r) => r.serverCpuUsPerReq);
    const split = cpuSplit(defaults);
    lines.push(
      `| c${high} requests/s, spec defaults (concurrency by handler style: 80 for this fetch handler; ≤ 10 instances) | | ${int(rps)} | ${fixed(rps / medianOf(bare, (r) => r.rps), 2)}×${ratioSpread(defaults, bare)} | ≥ ${TARGETS.defaultsC32RatioMin}× ${check(v.defaultsC32Ratio >= TARGETS.defaultsC32RatioMin)} |`,
      `| c${high} p50 / p99 latency, spec defaults | | ${int(medianOf(defaults, (r) => r.p50Us))} / ${int(medianOf(defaults, (r) => r.p99Us))} µs | | |`,
      `| c${high} server CPU per request, spec defaults | | ${fixed(cpu, 1)} µs ${split} | | |`,
    );
  }
  return lines;
}

/** Peers measured beside bare node:http in the same rounds (workerd, when it could be installed). */
function peerTable(results: BenchResults): string[] {
  const [low, high] = results.options.connections;
  const t = results.throughput;
  const peers = Object.keys(t).filter((k) => k !== 'bare' && k !== 'nimbus' && k !== 'hello-defaults');
  if (peers.length === 0) return [];
  const lines = [
    '| peer, same rounds | c1 requests/s (÷ bare) | c1 p50 | c32 requests/s (÷ bare) | c32 server CPU per request |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const key of ['nimbus', ...peers]) {
    const one = rounds(t, key, low);
    const many = rounds(t, key, high);
    const ratio = (list: LoadResult[], c: number): string =>
      fixed(medianOf(list, (r) => r.rps) / medianOf(rounds(t, 'bare', c), (r) => r.rps), 2);
    lines.push(
      `| ${key === 'nimbus' ? 'Nimbus, `concurrency: 64`' : key} | ${int(medianOf(one, (r) => r.rps))} (${ratio(one, low)}×) | ${int(medianOf(one, (r) => r.p50Us))} µs | ${int(medianOf(many, (r) => r.rps))} (${ratio(many, high)}×) | ${fixed(
        medianOf(many, (r) => r.serverCpuUsPerReq),
        1,
      )} µs |`,
    );
  }
  return lines;
}

function coldTable(results: BenchResults): string[] {
  const { cold, coldInitMs } = results;
  const row = (label: string, ms: number[]): string =>
    `| ${label} | ${fixed(percentile(ms, 50), 1)} ms | ${fixed(percentile(ms, 99), 1)} ms | ${ms.length} |`;
  const lines = [
    '| cold start (scale from zero) | p50 | p99 | runs |',
    '|---|---:|---:|---:|',
    row('first request, as the client sees it', cold.firstRequestMs),
  ];
  if (coldInitMs.length > 0)
    lines.push(row('`initMs` the platform logs for each start (repeated samples included)', coldInitMs));
  lines.push(row('`node -e 0` spawn to exit (the floor)', cold.spawnFloorMs));
  const overFloor = percentile(cold.firstRequestMs, 50) - percentile(cold.spawnFloorMs, 50);
  lines.push(`| first request − floor (p50) | ${fixed(overFloor, 1)} ms | | |`);
  return lines;
}

function memoryTable(results: BenchResults, v: Verdicts): string[] {
  const { platform, nimbusTree, deployed, freshInstance, instance, instancePss, bare } = results.memory;
  const mb = (m: Memory): string => `${fixed(m.rssMb, 1)} MB | ${fixed(m.peakMb, 1)} MB`;
  return [
    '| memory (VmRSS) | RSS | peak (VmHWM) | target |',
    '|---|---:|---:|---|',
    `| one warm instance (\`hello\`, its process tree), after the load | ${mb(instance)} | ≤ ${TARGETS.warmInstanceRssMbMax} MB ${check(v.instanceRssMb <= TARGETS.warmInstanceRssMbMax)} |`,
    `| the same, proportional share (PSS; private: ${fixed(instancePss.privateMb, 1)} MB) | ${fixed(instancePss.pssMb, 1)} MB | | |`,
    `| the same instance before the load (one request served) | ${mb(freshInstance)} | ≤ ${TARGETS.warmInstanceRssMbMax} MB ${check(freshInstance.rssMb <= TARGETS.warmInstanceRssMbMax)} |`,
    `| platform process (gateway), after the load | ${mb(platform)} | |`,
    `| all of Nimbus right after deploying the three bench functions: ${deployed.processes - 1} processes under the platform (PSS ${fixed(deployed.pssMb, 1)} MB) | ${mb(deployed)} | |`,
    `| all of Nimbus (platform and the ${nimbusTree.processes - 1} processes under it), after the load (PSS ${fixed(nimbusTree.pssMb, 1)} MB) | ${mb(nimbusTree)} | |`,
    `| bare node:http server, after the load | ${mb(bare)} | |`,
  ];
}

function notes(results: BenchResults): string[] {
  const out: string[] = [];
  for (const [key, byConnections] of Object.entries(results.throughput)) {
    for (const [c, list] of Object.entries(byConnections)) {
      const failed = list.reduce((n, r) => n + r.errors + r.non2xx, 0);
      if (failed > 0) out.push(`- ⚠️ ${key} c${c}: ${failed} errors or non-2xx answers across the rounds.`);
      const foreign = Math.max(...list.map((r) => Math.max(r.foreignServerCorePct, r.foreignLoadCorePct)));
      if (list.some(disturbed)) {
        out.push(
          `- ⚠️ ${key} c${c}: up to ${fixed(foreign, 0)}% of a pinned core went to other processes or the hypervisor ` +
            `during a round, even after ${MAX_REPEATS} repeats (the least disturbed attempt is kept).`,
        );
      }
      const busiest = Math.max(...list.map((r) => r.loadCpuPct));
      if (busiest >= 90) {
        out.push(
          `- ⚠️ ${key} c${c}: the load generator used up to ${fixed(busiest, 0)}% of its core, so it may be the limit ` +
            '(the figure is a floor, and a ratio against it flatters Nimbus).',
        );
      }
    }
  }
  return out;
}

function coldNotes(cold: ColdStartResults): string[] {
  if (cold.disturbed === 0) return [];
  return [
    `- ⚠️ cold start: ${cold.disturbed} samples were taken while other processes used more than ` +
      `${FOREIGN_CPU_RETRY_PCT}% of a pinned core, even after ${MAX_REPEATS} repeats.`,
  ];
}

/** The load generators the rounds ran with (wrk when installed; see children/load-generator.mjs). */
function generators(results: BenchResults): string {
  const names = new Set<string>();
  for (const byConnections of Object.values(results.throughput))
    for (const list of Object.values(byConnections)) for (const r of list) names.add(r.generator);
  return names.size === 0 ? 'none' : [...names].join(' and ');
}

/** The dated section: heading, setup line, tables, warnings. */
export function renderSection(results: BenchResults): string {
  const v = verdicts(results);
  const { options } = results;
  const lines = [
    `## ${results.date}`,
    '',
    `Nimbus ${results.revision}; ${results.machine}; ${results.pinning}; load generator ${generators(results)}; ` +
      `${plural(options.rounds, 'round')} × ${options.seconds} s per measurement after ${options.warmupSeconds} s warm-up; ` +
      `${plural(options.coldStarts, 'cold start')}.`,
    '',
    ...warmTable(results, v),
    '',
    ...(Object.keys(results.throughput).length > 3 ? [...peerTable(results), ''] : []),
    ...coldTable(results),
    '',
    ...memoryTable(results, v),
  ];
  const warnings = [...notes(results), ...coldNotes(results.cold)];
  if (warnings.length > 0) lines.push('', ...warnings);
  return `${lines.join('\n')}\n`;
}
