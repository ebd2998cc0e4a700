// `node --import tsx bench/measure-urls.ts ROUNDS SECONDS CONNECTIONS label=pid@url ...`: servers already
// running (pinned as you like; bench/serve-hello.ts in each checkout to compare builds) driven in turn by the
// bench's load generator (wrk when installed, pinned to the load core), rounds interleaved with the order
// flipped every round. Prints per round and the medians: requests/s, p50, and the CPU time per request of
// each server's process tree from /proc. For quick what-if comparisons beside `npm run bench`.
import { BenchChild } from './bench-child.js';
import { setUpPinning } from './pinning.js';
import { treeCpuMs } from './proc.js';

const [rounds, seconds, connections, ...specs] = process.argv.slice(2);
const targets = specs.map((spec) => {
  const m = /^([^=]+)=(\d+)@(.+)$/.exec(spec);
  if (!m) throw new Error(`bad target ${spec}: give label=pid@url`);
  return { label: m[1]!, pid: Number(m[2]), url: m[3]! };
});
const load = await BenchChild.start({
  name: 'load',
  script: 'load-generator.mjs',
  core: setUpPinning().loadCore,
});
const results = new Map<string, { rps: number[]; p50: number[]; cpu: number[] }>();
try {
  for (let round = 0; round < Number(rounds); round++) {
    const order = round % 2 === 0 ? targets : [...targets].reverse();
    for (const t of order) {
      const before = treeCpuMs(t.pid);
      const r = await load.child.call<{ generator: string; requests: number; rps: number; p50Us: number }>(
        'run',
        { url: t.url, connections: Number(connections), seconds: Number(seconds) },
        Number(seconds) * 1000 + 30_000,
      );
      const after = treeCpuMs(t.pid);
      const cpu = ((after.rootMs + after.childrenMs - before.rootMs - before.childrenMs) * 1000) / r.requests;
      const got = results.get(t.label) ?? { rps: [], p50: [], cpu: [] };
      got.rps.push(r.rps);
      got.p50.push(r.p50Us);
      got.cpu.push(cpu);
      results.set(t.label, got);
      process.stdout.write(
        `round ${round + 1} ${t.label} (${r.generator}): ${r.rps.toFixed(0)} req/s p50 ${r.p50Us} µs CPU ${cpu.toFixed(1)} µs/req\n`,
      );
    }
  }
} finally {
  await load.child.stop();
}
const median = (v: number[]): number => v.toSorted((a, b) => a - b)[Math.floor(v.length / 2)]!;
for (const [label, r] of results) {
  process.stdout.write(
    `${label}: median ${median(r.rps).toFixed(0)} req/s, p50 ${median(r.p50)} µs, CPU ${median(r.cpu).toFixed(1)} µs/req\n`,
  );
}
