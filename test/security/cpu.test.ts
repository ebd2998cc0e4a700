// Fair CPU by default: however many instances of one function spin, together they weigh as much as one
// instance of another function (cgroup cpu weight per function, with `cpu` unset), and the other
// function keeps answering. Measured as throughput in bench/sandbox.ts.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { FUNCTION_CPU_WEIGHT, INSTANCES_CPU_FRACTION } from '../../src/sandbox/cgroups.js';
import { parseCgroupMounts, parseProcCgroup } from '../../src/sandbox/detect.js';
import { waitFor } from '../helpers/platform.js';
import { features, killMarked, newMarker, noController, noSandbox, startSecurePlatform } from './helpers.js';

/** The CPU weight of the cgroup a host process is in, or of one `up` from it (v2 cpu.weight, v1 cpu.shares). */
function cpuWeightOf(pid: number, up = '.'): number {
  const mounts = parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8'));
  const own = parseProcCgroup(readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  if (features.cgroup.version === 2) {
    const mount = mounts.find((m) => m.version === 2)!;
    const path = own.find((o) => o.controllers.length === 0)!.path;
    return Number(readFileSync(join(mount.mountPoint, path, up, 'cpu.weight'), 'utf8'));
  }
  const mount = mounts.find((m) => m.version === 1 && m.controllers.includes('cpu'))!;
  const path = own.find((o) => o.controllers.includes('cpu'))!.path;
  return Number(readFileSync(join(mount.mountPoint, path, up, 'cpu.shares'), 'utf8'));
}

describe('fair CPU between functions', { skip: noSandbox ?? false }, () => {
  it('three spinning instances of one function weigh as much as one instance of another', async (t) => {
    const skip = noController('cpu');
    if (skip) return t.skip(skip);
    const nimbus = await startSecurePlatform(t);
    const marker = newMarker('fair');
    t.after(() => killMarked(marker));
    await nimbus.deploy('hostile', 'spinner', { concurrency: 1, timeoutMs: 60_000, scale: { max: 3 } });
    const spinning = [1, 2, 3].map(() =>
      fetch(`${nimbus.url}/function/spinner/spin?marker=${marker}`).catch(() => undefined),
    );
    const pool = nimbus.platform.dispatcher.get('spinner')!.pool;
    await waitFor(
      () => pool.processes().filter((p) => p.inflight > 0).length === 3,
      60_000,
      'three spinning instances',
    );
    // The other function answers while they spin, and its instance weighs a whole function.
    await nimbus.assertServing();
    const full = features.cgroup.version === 2 ? FUNCTION_CPU_WEIGHT.v2 : FUNCTION_CPU_WEIGHT.v1;
    const [hello] = nimbus.platform.dispatcher.get('hello')!.pool.processes();
    assert.equal(cpuWeightOf(hello!.pid!), full);
    const spinners = pool.processes().map((p) => cpuWeightOf(p.pid!));
    assert.deepEqual(
      spinners,
      [1, 2, 3].map(() => Math.round(full / 3)),
    );
    // And all of the platform's instances together weigh half of the gateway, which every request crosses.
    assert.equal(cpuWeightOf(hello!.pid!, '..'), Math.round(full * INSTANCES_CPU_FRACTION));
    const started = performance.now();
    let answered = 0;
    while (performance.now() - started < 1000) {
      await nimbus.assertServing();
      answered++;
    }
    t.diagnostic(`hello answered ${answered} sequential requests in 1 s beside three spinning instances`);
    await nimbus.platform.close();
    await Promise.all(spinning);
  });
});
