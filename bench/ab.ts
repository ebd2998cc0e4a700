// `node --import tsx bench/ab.ts <other checkout> [rounds] [seconds]`: this build against another (a
// worktree of an earlier commit, built with `npm run build`) on the warm path, side by side. Both serve the
// bench's hello (`concurrency: 64`) at the same time, each pinned to the servers' core; the load generator
// drives one then the other in an order that flips every round, at 1 and 32 connections. Each round's
// figure for this build is divided by the other's in the same round, and the median of those ratios is
// printed with their range: on a shared machine that cancels most of what moves both alike.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NimbusClient } from '../src/cli/client.js';
import { BenchChild } from './bench-child.js';
import { deployBenchFunction } from './functions.js';
import { setUpPinning } from './pinning.js';
import { treeCpuMs } from './proc.js';

const other = process.argv[2];
if (!other) {
  process.stderr.write('usage: bench/ab.ts <other checkout> [rounds] [seconds]\n');
  process.exit(2);
}
const rounds = Number(process.argv[3] ?? 9);
const seconds = Number(process.argv[4] ?? 3);
const childrenDir = fileURLToPath(new URL('./children/', import.meta.url));
const pinning = setUpPinning();
const work = mkdtempSync(join(tmpdir(), 'nimbus-ab-'));

interface Side {
  label: string;
  child: BenchChild;
  url: string;
}

async function startSide(label: string, script: string): Promise<Side> {
  const { child, ready } = await BenchChild.start({
    name: label,
    script,
    args: [join(work, label)],
    core: pinning.serverCore,
  });
  const client = new NimbusClient(String(ready.url), String(ready.token));
  await deployBenchFunction(client, join(work, `${label}-fn`), 'hello');
  return { label, child, url: `${client.baseUrl}/function/hello` };
}

interface Sample {
  rps: number;
  p50Us: number;
  cpuUsPerRequest: number;
}

const load = await BenchChild.start({ name: 'load', script: 'load-generator.mjs', core: pinning.loadCore });
const sides: Side[] = [];
try {
  sides.push(await startSide('this', 'nimbus-server.mjs'));
  sides.push(
    await startSide('other', relative(childrenDir, resolve(other, 'bench/children/nimbus-server.mjs'))),
  );
  const measure = async (side: Side, connections: number): Promise<Sample> => {
    const before = treeCpuMs(side.child.pid);
    const r = (await load.child.call(
      'run',
      { url: side.url, connections, seconds },
      seconds * 1000 + 30_000,
    )) as {
      requests: number;
      rps: number;
      p50Us: number;
    };
    const after = treeCpuMs(side.child.pid);
    const cpuMs = after.rootMs + after.childrenMs - before.rootMs - before.childrenMs;
    return { rps: r.rps, p50Us: r.p50Us, cpuUsPerRequest: (cpuMs * 1000) / r.requests };
  };
  for (const side of sides) await measure(side, 32);
  const ratios: Record<string, number[]> = {};
  const add = (key: string, value: number): void => {
    ratios[key] ??= [];
    ratios[key].push(value);
  };
  for (let round = 0; round < rounds; round++) {
    for (const connections of [1, 32]) {
      const order = round % 2 === 0 ? sides : [...sides].reverse();
      const got = new Map<string, Sample>();
      for (const side of order) got.set(side.label, await measure(side, connections));
      const a = got.get('this')!;
      const b = got.get('other')!;
      add(`c${connections} req/s`, a.rps / b.rps);
      add(`c${connections} server CPU per request`, a.cpuUsPerRequest / b.cpuUsPerRequest);
      add(`c${connections} p50 (µs, this − other)`, a.p50Us - b.p50Us);
      process.stdout.write(
        `round ${round + 1} c${connections}: this ${Math.round(a.rps)} req/s ${a.cpuUsPerRequest.toFixed(1)} µs/req p50 ${a.p50Us} µs; other ${Math.round(b.rps)} req/s ${b.cpuUsPerRequest.toFixed(1)} µs/req p50 ${b.p50Us} µs\n`,
      );
    }
  }
  for (const [key, values] of Object.entries(ratios)) {
    const sorted = values.toSorted((x, y) => x - y);
    const median = sorted[Math.floor(sorted.length / 2)]!;
    const fmt = (v: number): string => (key.includes('p50') ? v.toFixed(0) : `×${v.toFixed(2)}`);
    process.stdout.write(`${key}: ${fmt(median)} (${fmt(sorted[0]!)} to ${fmt(sorted.at(-1)!)})\n`);
  }
} finally {
  await Promise.allSettled([...sides.map((s) => s.child.stop()), load.child.stop()]);
  rmSync(work, { recursive: true, force: true });
}
