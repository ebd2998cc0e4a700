// The pool's observed concurrency is a time-weighted average between samples (what the autoscaler reads).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Instance } from '../../src/instances/instance.js';
import { Pool } from '../../src/instances/pool.js';

test('sampleConcurrency averages requests in flight or queued over the time since the last sample', async () => {
  let now = 0;
  const never = new Promise<void>(() => {});
  const pool = new Pool({
    name: 'f',
    version: 1,
    concurrency: 1,
    minInstances: 0,
    maxInstances: 1,
    maxQueue: 10,
    now: () => now,
    // An instance that never finishes starting: requests stay queued.
    startInstance: () => ({
      instance: {
        onClose: () => {},
        onSlotFree: () => {},
        stop: async () => {},
        lostOnClose: 0,
      } as unknown as Instance,
      started: never,
    }),
  });
  const waiting = [pool.acquire(), pool.acquire()].map((p) => Promise.resolve(p).catch(() => 'rejected'));
  now = 1000;
  assert.equal(pool.sampleConcurrency(), 2, 'two queued for the whole second');
  now = 1500;
  const third = Promise.resolve(pool.acquire()).catch(() => 'rejected');
  now = 2000;
  assert.equal(pool.sampleConcurrency(), 2.5, 'two for the first half, three for the second');
  now = 3000;
  assert.equal(pool.sampleConcurrency(), 3);
  assert.equal(pool.idleSince, undefined, 'busy');
  await pool.close();
  assert.deepEqual(await Promise.all([...waiting, third]), ['rejected', 'rejected', 'rejected']);
  assert.equal(pool.concurrency, 0);
  assert.equal(pool.idleSince, 3000);
});
