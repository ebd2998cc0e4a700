// Cold start from zero: wait until the function has no instance, time one request end to end; between
// starts, time `node -e 0` (the spawn floor) on the servers' core, interleaved so both see the same noise.
import type { NimbusClient } from '../src/cli/client.js';
import type { BenchChild } from './bench-child.js';
import type { Pinning } from './pinning.js';
import { watchCore } from './proc.js';
import { FOREIGN_CPU_RETRY_PCT, MAX_REPEATS } from './throughput.js';

export interface ColdStartResults {
  /** First request after scale-to-zero, as the client saw it (ms). */
  firstRequestMs: number[];
  /** `node -e 0`, spawn to exit (ms). */
  spawnFloorMs: number[];
  /** Samples kept although other processes took a share of a pinned core while they ran. */
  disturbed: number;
}

const POLL_INTERVAL_MS = 10;
/** Less foreign CPU than this during one sample is not counted as a disturbance (3 clock ticks). */
const MIN_FOREIGN_MS = 30;
const SCALE_TO_ZERO_TIMEOUT_MS = 15_000;
const REQUEST_TIMEOUT_MS = 15_000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitForZero(client: NimbusClient, name: string): Promise<void> {
  const deadline = Date.now() + SCALE_TO_ZERO_TIMEOUT_MS;
  for (;;) {
    const fn = await client.get(name);
    if (fn.instances === 0 && fn.starting === 0) return;
    if (Date.now() > deadline)
      throw new Error(`${name} still has ${fn.instances} instance(s) after ${SCALE_TO_ZERO_TIMEOUT_MS} ms`);
    await sleep(POLL_INTERVAL_MS);
  }
}

/** Times one GET end to end (body read) and checks it answered the hello function's 200 "hello". */
export async function timedFetch(url: string): Promise<number> {
  const startedAt = performance.now();
  const res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const body = await res.text();
  const ms = performance.now() - startedAt;
  if (res.status !== 200 || body !== 'hello')
    throw new Error(`cold request answered ${res.status}: ${body.slice(0, 200)}`);
  return ms;
}

export interface ColdStartSetup {
  client: NimbusClient;
  /** The platform's process: its tree is expected to work on the server core. */
  platformPid: number;
  /** The spawn-floor helper. */
  floor: BenchChild;
  pinning: Pinning;
  progress: (line: string) => void;
}

export async function measureColdStarts(
  setup: ColdStartSetup,
  name: string,
  runs: number,
): Promise<ColdStartResults> {
  const { client, platformPid, floor, pinning, progress } = setup;
  const url = `${client.baseUrl}/function/${name}`;
  const results: ColdStartResults = { firstRequestMs: [], spawnFloorMs: [], disturbed: 0 };

  /** Takes a sample after `prepare`, again (at most MAX_REPEATS times) while a pinned core was busy elsewhere. */
  const undisturbed = async (
    prepare: () => Promise<void>,
    sample: () => Promise<number>,
  ): Promise<number> => {
    let best = { ms: Number.NaN, foreignPct: Number.POSITIVE_INFINITY };
    for (let attempt = 0; attempt <= MAX_REPEATS; attempt++) {
      await prepare();
      const watches = [
        watchCore(pinning.serverCore, [platformPid, floor.pid]),
        watchCore(pinning.loadCore, [process.pid]),
      ];
      const ms = await sample();
      const shares = watches.map((watch) => watch());
      const foreignPct = Math.max(...shares.map((share) => share.pct));
      // A sample lasts ~100 ms, a few clock ticks: a stray tick or two is not a disturbance.
      if (foreignPct <= FOREIGN_CPU_RETRY_PCT || shares.every((share) => share.ms < MIN_FOREIGN_MS))
        return ms;
      if (foreignPct < best.foreignPct) best = { ms, foreignPct };
    }
    results.disturbed++;
    return best.ms;
  };

  for (let i = 0; i < runs; i++) {
    const floorMs = await undisturbed(
      async () => {},
      async () => (await floor.call<number[]>('spawnNode', { runs: 1 }, 30_000))[0]!,
    );
    results.spawnFloorMs.push(floorMs);
    const coldMs = await undisturbed(
      () => waitForZero(client, name),
      () => timedFetch(url),
    );
    results.firstRequestMs.push(coldMs);
    if ((i + 1) % 5 === 0 || i + 1 === runs) {
      progress(
        `cold start ${i + 1}/${runs}: last ${coldMs.toFixed(1)} ms, node -e 0 ${floorMs.toFixed(1)} ms`,
      );
    }
  }
  return results;
}
