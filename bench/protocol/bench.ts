// The instance-protocol part of `npm run bench` (issue 2, part 5): one gateway → child hop, hello, in three
// designs (HTTP/1.1 keep-alive over a Unix socket; the instance protocol's frames with write batching;
// the same frames without it) beside a bare node:http server in the same run. Each server's process tree
// is pinned to the servers' core and the load to the other, as the warm bench does, and measured by its
// code (bench/throughput.ts): interleaved rounds at 1 and 32 connections, medians, CPU per request from
// /proc, disturbed rounds repeated.
import type { BenchChild } from '../bench-child.js';
import type { PartContext } from '../part-context.js';
import { median } from '../stats.js';
import {
  disturbed,
  type LoadResult,
  type LoadTarget,
  measureThroughput,
  type ThroughputResults,
} from '../throughput.js';

export const DESIGNS = ['http', 'frames', 'frames-unbatched'] as const;
export type Design = (typeof DESIGNS)[number];

const LABELS: Record<'bare' | Design, string> = {
  bare: 'bare node:http (the limit)',
  http: 'HTTP/1.1 keep-alive over a Unix socket (node:http Agent)',
  frames:
    '**instance protocol: frames, many requests in flight by id, writes batched per event-loop turn (Nimbus)**',
  'frames-unbatched': 'the same frames, one `write()` per frame',
};

export interface ProtocolResults {
  throughput: ThroughputResults;
  seconds: number;
  rounds: number;
  warmupSeconds: number;
  connections: readonly [number, number];
}

export async function measureProtocol(ctx: PartContext): Promise<ProtocolResults> {
  const started: BenchChild[] = [];
  try {
    const core = ctx.pinning.serverCore;
    const [bare, load, ...gateways] = await Promise.all([
      ctx.startChild({ name: 'protocol-bare', script: 'bare-server.mjs', core }),
      ctx.startChild({ name: 'protocol-load', script: 'load-generator.mjs', core: ctx.pinning.loadCore }),
      ...DESIGNS.map((design) =>
        ctx.startChild({
          name: `protocol-${design}`,
          script: '../protocol/gateway.mjs',
          args: [design],
          core,
        }),
      ),
    ]);
    started.push(bare.child, load.child, ...gateways.map((g) => g.child));
    const targets: LoadTarget[] = [
      { key: 'bare', url: `${String(bare.ready.url)}/function/hello`, serverPid: bare.child.pid },
      ...DESIGNS.map((design, i) => ({
        key: design,
        url: `${String(gateways[i]!.ready.url)}/function/hello`,
        serverPid: gateways[i]!.child.pid,
      })),
    ];
    const throughput = await measureThroughput(load.child, targets, ctx.bench, ctx.pinning, (line) =>
      ctx.progress(`protocol: ${line}`),
    );
    return {
      throughput,
      seconds: ctx.bench.seconds,
      rounds: ctx.bench.rounds,
      warmupSeconds: ctx.bench.warmupSeconds,
      connections: ctx.bench.connections,
    };
  } finally {
    await Promise.allSettled(started.map((c) => c.stop()));
  }
}

const int = (n: number): string => (Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a');
const fixed = (n: number, digits: number): string => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a');

function medianOf(list: LoadResult[] | undefined, pick: (r: LoadResult) => number): number {
  return median((list ?? []).map(pick));
}

/** The design with the most c32 throughput, and the one with the least c32 CPU per request. */
export function protocolChoice(r: ProtocolResults): { fastest: Design; leanest: Design } {
  const high = r.connections[1];
  const by = (pick: (r: LoadResult) => number) =>
    DESIGNS.map((d) => ({ d, v: medianOf(r.throughput[d]?.[high], pick) }));
  const fastest = by((x) => x.rps).sort((a, b) => b.v - a.v)[0]!.d;
  const leanest = by((x) => x.serverCpuUsPerReq).sort((a, b) => a.v - b.v)[0]!.d;
  return { fastest, leanest };
}

export function renderProtocol(ctx: PartContext, r: ProtocolResults): string {
  const [low, high] = r.connections;
  const t = r.throughput;
  const bareRps = (c: number) => medianOf(t.bare?.[c], (x) => x.rps);
  const bareP50 = medianOf(t.bare?.[low], (x) => x.p50Us);
  const ratioRange = (key: string, c: number): string => {
    const ratios = (t[key]?.[c] ?? [])
      .map((x, i) => x.rps / (t.bare?.[c]?.[i]?.rps ?? Number.NaN))
      .filter(Number.isFinite);
    return ratios.length > 1 ? ` (${fixed(Math.min(...ratios), 2)}–${fixed(Math.max(...ratios), 2)})` : '';
  };
  const cpu = (key: string, c: number): string => {
    const list = t[key]?.[c];
    const total = medianOf(list, (x) => x.serverCpuUsPerReq);
    if (key === 'bare') return fixed(total, 1);
    const gateway = medianOf(list, (x) => x.rootCpuUsPerReq);
    const child = medianOf(list, (x) => x.serverCpuUsPerReq - x.rootCpuUsPerReq);
    return `${fixed(total, 1)} (${fixed(gateway, 1)} + ${fixed(child, 1)})`;
  };
  const rows = (['bare', ...DESIGNS] as const).map((key) => {
    const rps = (c: number) => medianOf(t[key]?.[c], (x) => x.rps);
    const p50 = medianOf(t[key]?.[low], (x) => x.p50Us);
    const ratio = (c: number) =>
      key === 'bare'
        ? `1.00 (${int(rps(c))})`
        : `${fixed(rps(c) / bareRps(c), 2)}${ratioRange(key, c)} (${int(rps(c))})`;
    const added = key === 'bare' ? '' : ` (+${int(p50 - bareP50)})`;
    return (
      `| ${LABELS[key]} | ${ratio(low)} | ${ratio(high)} | ${int(p50)}${added} | ` +
      `${int(medianOf(t[key]?.[high], (x) => x.p50Us))} / ${int(medianOf(t[key]?.[high], (x) => x.p99Us))} | ` +
      `${cpu(key, low)} | ${cpu(key, high)} |`
    );
  });
  const choice = protocolChoice(r);
  const frames = (c: number) => medianOf(t.frames?.[c], (x) => x.rps) / bareRps(c);
  const http = (c: number) => medianOf(t.http?.[c], (x) => x.rps) / bareRps(c);
  const unbatched = (c: number) => medianOf(t['frames-unbatched']?.[c], (x) => x.rps) / bareRps(c);
  const cpuOf = (key: string) => medianOf(t[key]?.[high], (x) => x.serverCpuUsPerReq);
  const lines = [
    '## Instance protocol',
    '',
    `Measured ${ctx.run.date}: Nimbus ${ctx.run.revision}; ${ctx.run.machine}; ${ctx.pinning.description}. ` +
      'The evidence for the gateway → instance design (issue 2, part 5; docs/instance-protocol.md). `bench/protocol/`: ' +
      'a gateway process (node:http server on 127.0.0.1) hands each request to a child process it started and relays ' +
      'the answer; the child answers "hello". The frames designs import `FrameWriter`/`FrameDecoder` from ' +
      '`dist/instances/protocol.js` and relay as the real gateway does; the unbatched one writes each frame with its ' +
      "own `write()`. Each server's process tree on the servers' core, autocannon on the other; " +
      `${r.rounds} interleaved rounds × ${r.seconds} s at 1 and 32 connections after ${r.warmupSeconds} s warm-up, medians ` +
      '(per-round range of the ratio in brackets). CPU is per request over the whole tree (gateway + child), from /proc.',
    '',
    `| design | c${low} req/s ÷ bare | c${high} req/s ÷ bare | c${low} p50 µs (added) | c${high} p50 / p99 µs | c${low} CPU µs/req | c${high} CPU µs/req (gateway + child) |`,
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows,
    '',
    `Chosen by this benchmark: the batched frames — ${choice.fastest === 'frames' ? 'the most' : `not the most (${choice.fastest} has more)`} ` +
      `c${high} throughput and ${choice.leanest === 'frames' ? 'the least' : `not the least (${choice.leanest} has less)`} CPU per request: ` +
      `${fixed(frames(high), 2)}× bare at c${high} against ${fixed(http(high), 2)}× for the HTTP hop, ` +
      `${fixed(cpuOf('frames'), 1)} µs of CPU per request against ${fixed(cpuOf('http'), 1)} (HTTP) and ` +
      `${fixed(cpuOf('frames-unbatched'), 1)} (unbatched). At c${low} every design pays two extra process switches on ` +
      `a shared core: ${fixed(frames(low), 2)}× bare for the frames, ${fixed(unbatched(low), 2)}× unbatched, ` +
      `${fixed(http(low), 2)}× for HTTP${
        unbatched(low) > frames(low)
          ? ' — with one request in flight there is nothing to batch, and waiting for `setImmediate` to write costs an event-loop turn on each side'
          : ''
      }.`,
  ];
  const warnings: string[] = [];
  for (const [key, byC] of Object.entries(t)) {
    for (const [c, list] of Object.entries(byC)) {
      const failed = list.reduce((n, x) => n + x.errors + x.non2xx, 0);
      if (failed > 0) warnings.push(`- ⚠️ ${key} c${c}: ${failed} errors or non-2xx answers.`);
      if (list.some(disturbed))
        warnings.push(`- ⚠️ ${key} c${c}: a round stayed disturbed by other processes after its repeats.`);
      const busiest = Math.max(...list.map((x) => x.loadCpuPct));
      if (busiest >= 90)
        warnings.push(
          `- ⚠️ ${key} c${c}: the load generator used up to ${fixed(busiest, 0)}% of its core, so it may be the limit ` +
            '(the figure is a floor, and ratios against it are flattered).',
        );
    }
  }
  if (warnings.length > 0) lines.push('', ...warnings);
  return `${lines.join('\n')}\n`;
}
