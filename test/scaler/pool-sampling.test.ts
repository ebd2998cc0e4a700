// The pool's observed concurrency is a time-weighted average between samples (what the autoscaler reads).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Pool, type PoolInstance } from '../../src/instances/pool.js';

/** An instance that never becomes ready (a stand-in: the pool needs no process for this). */
const neverReady: PoolInstance = {
  id: 'i0',
  pid: undefined,
  initMs: 0,
  style: undefined,
  usable: false,
  exitReason: undefined,
  whenClosed: new Promise<void>(() => {}),
  open: () => undefined,
  sendBody: () => {},
  sendWindow: () => {},
  cancel: () => {},
  kill: () => {},
  stop: async () => {},
};

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
    timeoutMs: 1000,
    // An instance that never finishes starting: requests stay queued.
    startInstance: () => ({ instance: neverReady, started: never }),
  });
  const wait = (): Promise<string> =>
    new Promise((resolve) =>
      pool.acquire().wait({ granted: () => resolve('granted'), refused: () => resolve('rejected') }),
    );
  const waiting = [wait(), wait()];
  now = 1000;
  assert.equal(pool.sampleConcurrency(), 2, 'two queued for the whole second');
  now = 1500;
  const third = wait();
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
