// A runner process that ignores the window (it shares its process with function code, so it is not
// trusted): the gateway stops the instance as a protocol error instead of buffering what it sends, and
// the call fails with a coded 502. Real Instance and Pool, a real child process.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { NimbusError } from '../../src/errors.js';
import { Instance } from '../../src/instances/instance.js';
import type { StreamSink } from '../../src/instances/lease.js';
import { Pool } from '../../src/instances/pool.js';
import { FIXTURES } from '../helpers/platform.js';

const FLOOD = join(FIXTURES, '..', 'runners', 'flood.mjs');

test('a runner that sends past its window is stopped; the call gets 502', async (t) => {
  const runDir = mkdtempSync(join(tmpdir(), 'nimbus-flood-'));
  t.after(() => rmSync(runDir, { recursive: true, force: true }));
  const instances: Instance[] = [];
  const calls: number[] = [];
  const pool = new Pool({
    name: 'flood',
    version: 1,
    concurrency: 1,
    minInstances: 0,
    maxInstances: 1,
    maxQueue: 1,
    timeoutMs: 30_000,
    onCall: (status) => calls.push(status),
    startInstance: () => {
      const instance = new Instance({
        id: `f${instances.length}`,
        name: 'flood',
        runDir,
        command: process.execPath,
        args: [FLOOD],
        env: { PATH: process.env.PATH ?? '' },
        startTimeoutMs: 10_000,
        onOutput: () => {},
      });
      instances.push(instance);
      const load = {
        bundleDir: runDir,
        entry: 'x',
        name: 'flood',
        version: 1,
        env: {},
        timeoutMs: 1,
        memoryMb: 1,
        debug: false,
      };
      return { instance, started: instance.start(load) };
    },
  });
  t.after(() => pool.close());
  await pool.warm();
  const lease = pool.acquire();
  assert.equal(lease.granted, true);
  const heard: string[] = [];
  const failed = new Promise<NimbusError>((resolve) => {
    const sink: StreamSink = {
      onHead: (status) => heard.push(`head ${status}`),
      onBody: (chunk) => {
        heard.push(`body ${chunk.length}`);
        // A client that does not read: the function's credit is not given back.
        return false;
      },
      onDrain: () => {},
      onError: (error) => resolve(error),
    };
    lease.open(sink, 'GET\0/', true);
  });
  const error = await failed;
  assert.equal(error.code, 'ERR_INSTANCE_CRASHED');
  assert.equal(error.status, 502);
  assert.match(instances[0]!.exitReason ?? '', /protocol error: stream 1 sent past its window/);
  const received = heard.filter((h) => h.startsWith('body')).length;
  assert.ok(received <= 4, `no more than a window reached the caller (${received} chunks of 64 KiB)`);
  await instances[0]!.whenClosed;
  assert.deepEqual(calls, [502]);
});
