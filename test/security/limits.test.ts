// Exhaustion attempts from inside real sandboxed functions deployed through the real gateway: a fork
// bomb, memory past the limit, a loop past the timeout, 1 GB to stdout, a daemonised grandchild. Each is
// contained, and the platform keeps serving another function throughout.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { startTestPlatform, waitFor } from '../helpers/platform.js';
import {
  json,
  killMarked,
  markerProcesses,
  newMarker,
  noController,
  noSandbox,
  startSecurePlatform,
} from './helpers.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('a function cannot exhaust the platform', { skip: noSandbox ?? false }, () => {
  it('a fork bomb stops at maxProcesses, and the timeout kills all of it', async (t) => {
    const skip = noController('pids');
    if (skip) return t.skip(skip);
    const nimbus = await startSecurePlatform(t);
    const marker = newMarker('bomb');
    t.after(() => killMarked(marker));
    const maxProcesses = 48;
    await nimbus.deploy('hostile', 'bomb', { maxProcesses, cpu: 0.5, timeoutMs: 3000 });
    let answered = false;
    const bombed = fetch(`${nimbus.url}/function/bomb/bomb?marker=${marker}`).finally(() => {
      answered = true;
    });
    // Sampled for as long as it runs (until its timeout answers), however slowly a busy machine starts it.
    let peak = 0;
    while (!answered) {
      peak = Math.max(peak, markerProcesses(marker).length);
      await sleep(50);
    }
    await nimbus.assertServing();
    t.diagnostic(`the bomb peaked at ${peak} processes (maxProcesses ${maxProcesses})`);
    // Inside its cgroup the runner's own threads count too, so the bomb gets fewer than maxProcesses.
    assert.ok(peak >= 10, `the bomb ran (${peak} processes at most)`);
    assert.ok(peak < maxProcesses, `the bomb stopped below ${maxProcesses} processes (peak ${peak})`);
    const res = await bombed;
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ERR_HANDLER_TIMEOUT');
    await waitFor(() => markerProcesses(marker).length === 0, 30_000, 'every process of the bomb to be gone');
    await nimbus.assertServing();
  });

  it('past its memory limit: 502 ERR_INSTANCE_OOM, logged, and a fresh instance serves next', async (t) => {
    const skip = noController('memory');
    if (skip) return t.skip(skip);
    const nimbus = await startSecurePlatform(t);
    await nimbus.deploy('hostile', 'hog', { memoryMb: 128 });
    const before = await (await fetch(`${nimbus.url}/function/hog/ok`)).text();
    assert.equal(before, 'ok');
    const res = await fetch(`${nimbus.url}/function/hog/hog`);
    const body = await json<{ error: { code: string; message: string } }>(res, 502);
    assert.equal(body.error.code, 'ERR_INSTANCE_OOM');
    assert.match(body.error.message, /128 MiB/);
    const oom = await waitFor(
      () => nimbus.events.find((e) => e.type === 'instance-oom' && e.name === 'hog'),
      30_000,
      'the instance-oom event',
    );
    assert.match(String(oom?.reason), /out of memory/);
    const after = await fetch(`${nimbus.url}/function/hog/ok`);
    assert.equal(after.status, 200);
    assert.equal(await after.text(), 'ok');
    // On the V8 heap instead: V8 gives up at its cap (75 % of memoryMb) first; the same error.
    const heap = await fetch(`${nimbus.url}/function/hog/heap`);
    assert.equal((await json<{ error: { code: string } }>(heap, 502)).error.code, 'ERR_INSTANCE_OOM');
    await nimbus.assertServing();
  });

  it('past its timeout: 504, and its whole process tree is killed (a child in its own session too)', async (t) => {
    const nimbus = await startSecurePlatform(t);
    const marker = newMarker('spin');
    t.after(() => killMarked(marker));
    // Long enough for a busy machine to get the handler as far as its child before the timeout strikes.
    await nimbus.deploy('hostile', 'spin', { timeoutMs: 8000 });
    const spun = fetch(`${nimbus.url}/function/spin/spin?marker=${marker}`);
    await waitFor(() => markerProcesses(marker).length > 0, 7000, 'the handler’s child to run');
    await nimbus.assertServing();
    const res = await spun;
    assert.equal(res.status, 504);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ERR_HANDLER_TIMEOUT');
    await waitFor(() => markerProcesses(marker).length === 0, 30_000, 'the handler’s child to be killed');
    assert.equal((await fetch(`${nimbus.url}/function/spin/ok`)).status, 200, 'a fresh instance serves next');
    await nimbus.assertServing();
  });

  it('1 GB to stdout: dropped past the rate limit, the platform’s memory stays bounded and it keeps serving', async (t) => {
    const nimbus = await startSecurePlatform(t);
    await nimbus.deploy('hostile', 'flood', { timeoutMs: 60_000 });
    // Warm: the instance exists, and the platform's read buffers have grown to their working size.
    assert.equal(
      await (await fetch(`${nimbus.url}/function/flood/flood?bytes=${64 * 1024 ** 2}`)).text(),
      `wrote ${64 * 1024 ** 2}`,
    );
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const linesBefore = nimbus.lines.length;
    let peakRss = rssBefore;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 20);
    t.after(() => clearInterval(sampler));
    const started = performance.now();
    const flooding = fetch(`${nimbus.url}/function/flood/flood?bytes=${1024 ** 3}`).then((r) => r.text());
    await sleep(200);
    await nimbus.assertServing();
    assert.equal(await flooding, `wrote ${1024 ** 3}`);
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    await waitFor(
      () => nimbus.lines.some((l) => l.includes('of output dropped')),
      30_000,
      'the dropped-lines note',
    );
    const kept = nimbus.lines.length - linesBefore;
    // The budget: 2 s of burst plus 2000 lines/s (1 MiB/s of 1 KiB lines: 1024 lines/s) while it ran.
    assert.ok(kept <= 4096 + 2000 * (seconds + 1), `${kept} lines kept in ${seconds.toFixed(1)} s`);
    const grownMb = (peakRss - rssBefore) / 1024 / 1024;
    t.diagnostic(
      `1 GiB in ${seconds.toFixed(1)} s: ${kept} lines kept, the platform's RSS grew ${grownMb.toFixed(1)} MB`,
    );
    assert.ok(grownMb < 100, `the platform grew ${grownMb.toFixed(0)} MB while 1 GB went through`);
    await nimbus.assertServing();
  });

  it('a daemonised grandchild is gone once its instance ends', async (t) => {
    const nimbus = await startSecurePlatform(t);
    const marker = newMarker('daemon');
    t.after(() => killMarked(marker));
    await nimbus.deploy('hostile', 'daemon');
    const res = await fetch(`${nimbus.url}/function/daemon/daemon?marker=${marker}`);
    assert.equal(await res.text(), 'spawned');
    await waitFor(() => markerProcesses(marker).length > 0, 30_000, 'the daemon to run');
    // Its instance ends (the function is removed): the daemon, reparented away from it, ends too.
    await nimbus.client.remove('daemon');
    await waitFor(
      () => nimbus.events.some((e) => e.type === 'instance-exit' && e.name === 'daemon'),
      30_000,
      'the instance to end',
    );
    await waitFor(() => markerProcesses(marker).length === 0, 30_000, 'the daemon to be gone');
    await nimbus.assertServing();
  });
});

describe('limits without a sandbox', () => {
  it('V8 dying at its heap cap is ERR_INSTANCE_OOM too (sandbox: off)', async (t) => {
    const nimbus = await startTestPlatform(t, { sandbox: 'off' });
    await nimbus.deploy('hostile', 'heap', { memoryMb: 64 });
    const body = await json<{ error: { code: string } }>(
      await fetch(`${nimbus.url}/function/heap/heap`),
      502,
    );
    assert.equal(body.error.code, 'ERR_INSTANCE_OOM');
    assert.ok(nimbus.events.some((e) => e.type === 'instance-oom' && e.name === 'heap'));
    assert.equal(await (await fetch(`${nimbus.url}/function/heap/ok`)).text(), 'ok');
  });
});
