// `node --import tsx bench/profile/run.ts [seconds] [connections] [warm|async|bare]`: profiles the warm path
// (the bench's hello, `concurrency: 64`, one instance), durable async enqueues (POST /async-function/parked,
// a function whose calls wait) or the bare node:http server the bench compares with. Starts the built Nimbus with a CPU sampler in the gateway and in its node
// runners (sandbox off), drives it with autocannon pinned apart from the servers, then prints where each
// process spent its CPU (self time per function) and leaves the .cpuprofile files for DevTools.
import { mkdirSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NimbusClient } from '../../src/cli/client.js';
import { BenchChild } from '../bench-child.js';
import { deployBenchFunction } from '../functions.js';
import { setUpPinning } from '../pinning.js';
import { descendants } from '../proc.js';
import { summarize } from './summary.js';

const seconds = Number(process.argv[2] ?? 10);
const connections = Number(process.argv[3] ?? 32);
const target = process.argv[4] ?? 'warm';
const pinning = setUpPinning();
const work = mkdtempSync(join(tmpdir(), 'nimbus-profile-'));
const profiles = join(work, 'profiles');
mkdirSync(profiles);
const hook = new URL('./hook.mjs', import.meta.url).pathname;
const nimbus = await BenchChild.start({
  name: target === 'bare' ? 'bare' : 'nimbus',
  script: target === 'bare' ? 'bare-server.mjs' : '../profile/server.mjs',
  args: [join(work, 'data')],
  core: pinning.serverCore,
  env: { NIMBUS_PROFILE_DIR: profiles, NODE_OPTIONS: `--import=${hook}`, TMPDIR: work },
});
const load = await BenchChild.start({ name: 'load', script: 'load-generator.mjs', core: pinning.loadCore });
try {
  const client = new NimbusClient(String(nimbus.ready.url), String(nimbus.ready.token));
  let request: Record<string, unknown>;
  if (target === 'bare') {
    request = { url: String(nimbus.ready.url) };
  } else if (target === 'async') {
    await deployBenchFunction(client, work, 'parked');
    request = {
      url: `${client.baseUrl}/async-function/parked`,
      method: 'POST',
      body: '{"hello":"async"}',
      headers: { 'content-type': 'application/json' },
    };
  } else {
    await deployBenchFunction(client, work, 'hello');
    request = { url: `${client.baseUrl}/function/hello` };
  }
  await load.child.call('run', { ...request, connections, seconds: 2 }, 30_000);
  const result = (await load.child.call(
    'run',
    { ...request, connections, seconds },
    seconds * 1000 + 30_000,
  )) as {
    rps: number;
    p50Us: number;
  };
  process.stdout.write(`c${connections}: ${Math.round(result.rps)} req/s, p50 ${result.p50Us} µs\n`);
  for (const pid of [nimbus.child.pid, ...descendants(nimbus.child.pid)]) {
    try {
      process.kill(pid, 'SIGUSR2');
    } catch {}
  }
  await new Promise((r) => setTimeout(r, 1500));
  for (const file of readdirSync(profiles)) {
    process.stdout.write(`\n== ${file}\n${summarize(join(profiles, file))}\n`);
  }
  process.stdout.write(`\nprofiles in ${profiles}\n`);
} finally {
  await Promise.allSettled([nimbus.child.stop(), load.child.stop()]);
}
