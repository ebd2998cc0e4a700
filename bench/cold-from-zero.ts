// Cold start from zero with and without stem cells (issue 3): two Nimbus platforms, identical but for
// `stemCells` ({min: 1, max: 4} and {min: 0, max: 0}), each with a hello function that scales to zero
// 100 ms after a call. Each sample waits until the function has no instance and the servers' core is
// quiet, then times one request end to end and reads the platform's X-Nimbus-Init-Ms / X-Nimbus-Wait-Ms.
// The two platforms alternate, with a `node -e 0` spawn (the floor) between, so all three see the same noise.
import { Agent, request } from 'node:http';
import type { BenchChild } from './bench-child.js';
import {
  buildSource,
  type ConfiguredPlatform,
  deployBuilt,
  HELLO_SOURCE,
  type PartContext,
  startConfiguredPlatform,
  waitForZero,
  waitQuiet,
} from './part-context.js';
import { watchCore } from './proc.js';
import { percentile } from './stats.js';
import { FOREIGN_CPU_RETRY_PCT, MAX_REPEATS } from './throughput.js';

export const COLD_TARGETS = { stemP50MsMax: 10, stemP99MsMax: 25 } as const;

export interface ColdSample {
  /** The first request after scale to zero, as the client saw it (ms). */
  clientMs: number;
  /** X-Nimbus-Init-Ms: start + load time of the instance it waited for. */
  initMs: number;
  /** X-Nimbus-Wait-Ms: how long the request waited for a slot. */
  waitMs: number;
  /** The answer carried X-Nimbus-Cold-Start: 1. */
  cold: boolean;
}

export interface ColdFromZeroResults {
  starts: number;
  withStemCells: ColdSample[];
  withoutStemCells: ColdSample[];
  /** `node -e 0`, spawn to exit (ms). */
  spawnFloorMs: number[];
  /** Samples kept although other processes took a share of a pinned core while they ran. */
  disturbed: number;
  /** Samples before which the servers' core did not go quiet within 3 s. */
  notQuiet: number;
}

const FUNCTION_NAME = 'cold';
const SPEC = { scale: { min: 0, idleTimeoutMs: 100 } };
/** Cold starts per platform before the measured ones (JIT of the gateway's paths, first stem-cell shape). */
const WARMUP_STARTS = 3;
/** Less foreign CPU than this during one sample is not a disturbance (3 clock ticks, as cold-start.ts). */
const MIN_FOREIGN_MS = 30;
const REQUEST_TIMEOUT_MS = 15_000;

const agent = new Agent({ keepAlive: true, maxSockets: 1 });

interface Answer {
  ms: number;
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** One GET over a kept-alive connection, timed from the call to the last body byte. */
export function timedGet(url: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const startedAt = performance.now();
    const req = request(url, { agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({
          ms: performance.now() - startedAt,
          status: res.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          headers: res.headers,
        }),
      );
      res.on('error', reject);
    });
    req.setTimeout(REQUEST_TIMEOUT_MS, () =>
      req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS} ms`)),
    );
    req.on('error', reject);
    req.end();
  });
}

function headerMs(headers: Answer['headers'], name: string): number {
  const value = headers[name];
  return typeof value === 'string' ? Number(value) : Number.NaN;
}

export async function measureColdFromZero(ctx: PartContext): Promise<ColdFromZeroResults> {
  const { pinning, progress } = ctx;
  const runs = ctx.parts.coldStarts;
  const platforms: ConfiguredPlatform[] = [];
  let floor: BenchChild | undefined;
  try {
    const [withCells, withoutCells, floorChild] = await Promise.all([
      startConfiguredPlatform(ctx, 'nimbus-stem-cells', { stemCells: { min: 1, max: 4 } }),
      startConfiguredPlatform(ctx, 'nimbus-no-stem-cells', { stemCells: { min: 0, max: 0 } }),
      ctx.startChild({ name: 'spawn-floor-cold', script: 'spawn-floor.mjs', core: pinning.serverCore }),
    ]);
    platforms.push(withCells, withoutCells);
    floor = floorChild.child;
    const built = await buildSource(ctx.workDir, 'cold-hello', HELLO_SOURCE);
    for (const p of platforms) await deployBuilt(p.client, built, FUNCTION_NAME, SPEC);

    const serverRoots = [withCells.child.pid, withoutCells.child.pid, floor.pid];
    const results: ColdFromZeroResults = {
      starts: runs,
      withStemCells: [],
      withoutStemCells: [],
      spawnFloorMs: [],
      disturbed: 0,
      notQuiet: 0,
    };

    /** Takes a sample after `prepare`; again (at most MAX_REPEATS times) while a pinned core was busy elsewhere. */
    const undisturbed = async <T>(prepare: () => Promise<void>, sample: () => Promise<T>): Promise<T> => {
      let best: { value: T; foreignPct: number } | undefined;
      for (let attempt = 0; attempt <= MAX_REPEATS; attempt++) {
        await prepare();
        const watches = [
          watchCore(pinning.serverCore, serverRoots),
          watchCore(pinning.loadCore, [process.pid]),
        ];
        const value = await sample();
        const shares = watches.map((watch) => watch());
        const foreignPct = Math.max(...shares.map((share) => share.pct));
        if (foreignPct <= FOREIGN_CPU_RETRY_PCT || shares.every((share) => share.ms < MIN_FOREIGN_MS))
          return value;
        if (!best || foreignPct < best.foreignPct) best = { value, foreignPct };
      }
      results.disturbed++;
      return best!.value;
    };

    const coldSample = (p: ConfiguredPlatform): Promise<ColdSample> =>
      undisturbed(
        async () => {
          await waitForZero(p.client, FUNCTION_NAME);
          // A stem-cell refill or an instance exiting on the other platform would land inside the sample.
          if (!(await waitQuiet(serverRoots))) results.notQuiet++;
        },
        async () => {
          const answer = await timedGet(`${p.client.baseUrl}/function/${FUNCTION_NAME}`);
          if (answer.status !== 200 || answer.body !== 'hello')
            throw new Error(`cold request answered ${answer.status}: ${answer.body.slice(0, 200)}`);
          return {
            clientMs: answer.ms,
            initMs: headerMs(answer.headers, 'x-nimbus-init-ms'),
            waitMs: headerMs(answer.headers, 'x-nimbus-wait-ms'),
            cold: answer.headers['x-nimbus-cold-start'] === '1',
          };
        },
      );

    for (let i = 0; i < WARMUP_STARTS; i++) for (const p of platforms) await coldSample(p);
    results.disturbed = 0;
    results.notQuiet = 0;

    for (let i = 0; i < runs; i++) {
      const floorMs = await undisturbed(
        async () => {},
        async () => (await floor!.call<number[]>('spawnNode', { runs: 1 }, 30_000))[0]!,
      );
      results.spawnFloorMs.push(floorMs);
      // Alternate which platform goes first, so neither always follows the floor's spawn.
      const order = i % 2 === 0 ? [withCells, withoutCells] : [withoutCells, withCells];
      for (const p of order) {
        const sample = await coldSample(p);
        (p === withCells ? results.withStemCells : results.withoutStemCells).push(sample);
      }
      if ((i + 1) % 10 === 0 || i + 1 === runs) {
        const last = (list: ColdSample[]) => list[list.length - 1]!.clientMs.toFixed(1);
        progress(
          `cold from zero ${i + 1}/${runs}: stem cells ${last(results.withStemCells)} ms, ` +
            `none ${last(results.withoutStemCells)} ms, node -e 0 ${floorMs.toFixed(1)} ms`,
        );
      }
    }
    return results;
  } finally {
    await Promise.allSettled([...platforms.map((p) => p.stop()), floor?.stop()]);
  }
}

const ms = (n: number): string => (Number.isFinite(n) ? `${n.toFixed(1)} ms` : 'n/a');
const check = (ok: boolean): string => (ok ? '✅' : '❌');

export function coldVerdict(r: ColdFromZeroResults): { p50: number; p99: number; met: boolean } {
  const client = r.withStemCells.map((s) => s.clientMs);
  const p50 = percentile(client, 50);
  const p99 = percentile(client, 99);
  return { p50, p99, met: p50 <= COLD_TARGETS.stemP50MsMax && p99 <= COLD_TARGETS.stemP99MsMax };
}

export function renderColdFromZero(ctx: PartContext, r: ColdFromZeroResults): string {
  const v = coldVerdict(r);
  const row = (label: string, values: number[], target = ''): string =>
    `| ${label} | ${ms(percentile(values, 50))} | ${ms(percentile(values, 99))} | ${ms(Math.max(...values))} | ${target} |`;
  const pick = (list: ColdSample[], key: 'clientMs' | 'initMs' | 'waitMs'): number[] =>
    list.map((s) => s[key]).filter(Number.isFinite);
  const notCold = [...r.withStemCells, ...r.withoutStemCells].filter((s) => !s.cold).length;
  const floorP50 = percentile(r.spawnFloorMs, 50);
  const noneP50 = percentile(pick(r.withoutStemCells, 'clientMs'), 50);
  const lines = [
    '## Cold start from zero',
    '',
    `Measured ${ctx.run.date}: Nimbus ${ctx.run.revision}; ${ctx.run.machine}; ${ctx.pinning.description}. ` +
      `${r.starts} cold starts on each of two platforms identical but for \`stemCells\` (\`{min: 1, max: 4}\`, ` +
      'the default, and `{min: 0, max: 0}`), alternating, with `node -e 0` spawned between them. A hello ' +
      'function with `scale: {min: 0, idleTimeoutMs: 100}`; before each sample the bench polls the control API ' +
      "until it has no instance and waits until the servers' core is idle (a stem-cell refill or an exiting " +
      'instance would otherwise land in the next sample), then times one GET over a kept-alive connection to ' +
      `the last body byte. ${WARMUP_STARTS} starts per platform are not counted. Headers: \`X-Nimbus-Init-Ms\` (start + load of the ` +
      "instance) and `X-Nimbus-Wait-Ms` (the request's wait for a slot).",
    '',
    '| cold start from zero | p50 | p99 | max | target |',
    '|---|---:|---:|---:|---|',
    row(
      '**with stem cells**: first request, client side',
      pick(r.withStemCells, 'clientMs'),
      `p50 ≤ ${COLD_TARGETS.stemP50MsMax} ms ${check(v.p50 <= COLD_TARGETS.stemP50MsMax)}, p99 ≤ ${COLD_TARGETS.stemP99MsMax} ms ${check(v.p99 <= COLD_TARGETS.stemP99MsMax)}`,
    ),
    row('with stem cells: `X-Nimbus-Init-Ms`', pick(r.withStemCells, 'initMs')),
    row('with stem cells: `X-Nimbus-Wait-Ms`', pick(r.withStemCells, 'waitMs')),
    row('**without stem cells**: first request, client side', pick(r.withoutStemCells, 'clientMs')),
    row('without stem cells: `X-Nimbus-Init-Ms`', pick(r.withoutStemCells, 'initMs')),
    row('without stem cells: `X-Nimbus-Wait-Ms`', pick(r.withoutStemCells, 'waitMs')),
    row('`node -e 0`, spawn to exit (the floor of a start that spawns a process)', r.spawnFloorMs),
    '',
    `Stem cells take the p50 from ${ms(noneP50)} to ${ms(v.p50)} (${(noneP50 / v.p50).toFixed(1)}× faster); ` +
      `without them a cold start is ${ms(noneP50 - floorP50)} above the \`node -e 0\` floor at p50, with them ` +
      `${ms(floorP50 - v.p50)} below it.`,
  ];
  const warnings: string[] = [];
  if (notCold > 0) warnings.push(`- ⚠️ ${notCold} answers did not carry \`X-Nimbus-Cold-Start: 1\`.`);
  if (r.disturbed > 0)
    warnings.push(
      `- ⚠️ ${r.disturbed === 1 ? '1 sample was' : `${r.disturbed} samples were`} taken while other processes used more than ${FOREIGN_CPU_RETRY_PCT}% of a pinned core, even after ${MAX_REPEATS} repeats.`,
    );
  if (r.notQuiet > 0)
    warnings.push(`- ⚠️ before ${r.notQuiet} samples the servers' core did not go idle within 3 s.`);
  if (warnings.length > 0) lines.push('', ...warnings);
  return `${lines.join('\n')}\n`;
}
