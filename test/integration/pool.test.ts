// Instances and pool over real HTTP and real processes: scale from zero with one shared start, scale up
// while busy, the bounded queue, idle retirement to zero, crash isolation, drain on redeploy, shutdown.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAlive, runnerChildren, startTestPlatform, waitFor } from '../helpers/platform.js';

test('pool', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url, client } = nimbus;

  await t.test('concurrent cold requests share one start', async () => {
    await nimbus.deploy('slow', 'cold', {
      concurrency: 8,
      maxQueue: 10,
      scale: { max: 3, idleTimeoutMs: 150 },
    });
    // The deploy's own instance proved the code loads; wait until the function is back at zero.
    await waitFor(async () => (await client.get('cold')).instances === 0, 5000, 'cold to scale to zero');
    const responses = await Promise.all(Array.from({ length: 6 }, () => fetch(`${url}/function/cold?ms=50`)));
    const pids = new Set(await Promise.all(responses.map((r) => r.text())));
    assert.equal(pids.size, 1, `one instance served all six: ${[...pids]}`);
    assert.ok(
      responses.every((r) => r.headers.get('x-nimbus-wait-ms') !== null),
      'each call waited for the start',
    );
  });

  await t.test('more instances start while all slots are busy, up to scale.max', async () => {
    await nimbus.deploy('slow');
    const responses = await Promise.all(
      Array.from({ length: 6 }, () => fetch(`${url}/function/slow?ms=300`)),
    );
    assert.ok(responses.every((r) => r.status === 200));
    const pids = new Set(await Promise.all(responses.map((r) => r.text())));
    assert.ok(pids.size >= 2 && pids.size <= 3, `2..3 instances served (max 3): ${pids.size}`);
  });

  await t.test('past the queue bound: 429 with Retry-After', async () => {
    // slow: max 3 instances × concurrency 1, queue 5: the 9th+ concurrent call is refused.
    const responses = await Promise.all(
      Array.from({ length: 12 }, () => fetch(`${url}/function/slow?ms=400`)),
    );
    const refused = responses.filter((r) => r.status === 429);
    assert.ok(refused.length >= 1, `some calls refused: ${responses.map((r) => r.status)}`);
    assert.equal(refused[0]!.headers.get('retry-after'), '1');
    assert.equal(((await refused[0]!.json()) as any).error.code, 'ERR_QUEUE_FULL');
    assert.ok(responses.filter((r) => r.status === 200).length >= 8);
    await Promise.all(responses.filter((r) => !r.bodyUsed).map((r) => r.arrayBuffer()));
  });

  await t.test('idle instances stop and the function scales to zero', async () => {
    await waitFor(async () => (await client.get('slow')).instances === 0, 5000, 'slow to scale to zero');
    const res = await fetch(`${url}/function/slow?ms=1`);
    assert.equal(res.status, 200, 'and it starts again from zero');
  });

  await t.test('a crash on one instance leaves requests on others unaffected', async () => {
    await nimbus.deploy('exits', 'crashy', { concurrency: 1, scale: { max: 2 } });
    await nimbus.deploy('slow', 'steady');
    const steady = fetch(`${url}/function/steady?ms=300`);
    const crash = await fetch(`${url}/function/crashy/exit`);
    assert.equal(crash.status, 502);
    assert.equal((await steady).status, 200);
    assert.equal((await fetch(`${url}/function/crashy/ok`)).status, 200);
  });

  await t.test(
    'redeploy: in-flight requests on the old version finish, new ones go to the new version',
    async () => {
      await nimbus.deploy('slow', 'rolling');
      const inflight = fetch(`${url}/function/rolling?ms=500`);
      await new Promise((r) => setTimeout(r, 100));
      const v2 = await nimbus.deploy('echo', 'rolling');
      assert.equal(v2.version, 2);
      const fresh = await fetch(`${url}/function/rolling/x`);
      assert.equal(((await fresh.json()) as any).path, '/x', 'new requests reach v2');
      const old = await inflight;
      assert.equal(old.status, 200, 'the request on v1 finished');
      assert.match(await old.text(), /^\d+$/);
    },
  );

  await t.test('scale.min keeps instances warm', async () => {
    await nimbus.deploy('hello', 'warm', { scale: { min: 2, idleTimeoutMs: 100 } });
    await waitFor(async () => (await client.get('warm')).instances === 2, 5000, 'two warm instances');
    await new Promise((r) => setTimeout(r, 400));
    assert.equal((await client.get('warm')).instances, 2, 'min instances are not retired when idle');
  });

  await t.test('shutdown stops every instance and leaves no child process', async () => {
    const pids = runnerChildren();
    assert.ok(pids.length > 0);
    await nimbus.platform.close();
    assert.deepEqual(runnerChildren(), []);
    for (const pid of pids) assert.equal(isAlive(pid), false, `instance ${pid} is gone`);
  });
});
