// `node --import tsx bench/measure-urls.ts ROUNDS SECONDS CONNECTIONS label=pid@url ...`: servers already
// running (pinned as you like) driven in turn by wrk (pinned to the load core), rounds interleaved with the
// order flipped every round. Prints per round and the medians: requests/s, p50, and the CPU time per request
// of each server's process tree from /proc. For quick what-if comparisons beside `npm run bench`.
import { execFileSync } from 'node:child_process';
import { LOAD_CORE } from './pinning.js';
import { treeCpuMs } from './proc.js';

const [rounds, seconds, connections, ...specs] = process.argv.slice(2);
const targets = specs.map((spec) => {
  const m = /^([^=]+)=(\d+)@(.+)$/.exec(spec);
  if (!m) throw new Error(`bad target ${spec}: give label=pid@url`);
  return { label: m[1]!, pid: Number(m[2]), url: m[3]! };
});
const results = new Map<string, { rps: number[]; p50: number[]; cpu: number[] }>();
for (let round = 0; round < Number(rounds); round++) {
  const order = round % 2 === 0 ? targets : [...targets].reverse();
  for (const t of order) {
    const before = treeCpuMs(t.pid);
    const out = execFileSync(
      'taskset',
      ['-c', String(LOAD_CORE), 'wrk', '-t1', `-c${connections}`, `-d${seconds}s`, '--latency', t.url],
      { encoding: 'utf8' },
    );
    const after = treeCpuMs(t.pid);
    const requests = Number(/(\d+) requests in/.exec(out)![1]);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)![1]);
    const p50m = /50%\s+([\d.]+)(us|ms|s)/.exec(out)!;
    const p50 = Number(p50m[1]) * (p50m[2] === 'ms' ? 1000 : p50m[2] === 's' ? 1e6 : 1);
    const cpu = ((after.rootMs + after.childrenMs - before.rootMs - before.childrenMs) * 1000) / requests;
    const r = results.get(t.label) ?? { rps: [], p50: [], cpu: [] };
    r.rps.push(rps);
    r.p50.push(p50);
    r.cpu.push(cpu);
    results.set(t.label, r);
    process.stdout.write(
      `round ${round + 1} ${t.label}: ${rps.toFixed(0)} req/s p50 ${p50} µs CPU ${cpu.toFixed(1)} µs/req\n`,
    );
  }
}
const median = (v: number[]): number => v.toSorted((a, b) => a - b)[Math.floor(v.length / 2)]!;
for (const [label, r] of results) {
  process.stdout.write(
    `${label}: median ${median(r.rps).toFixed(0)} req/s, p50 ${median(r.p50)} µs, CPU ${median(r.cpu).toFixed(1)} µs/req\n`,
  );
}
