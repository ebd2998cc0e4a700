// The real node runner in the real sandbox through Instance: it starts, loads from /fn, serves, and dies of OOM.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { NimbusError } from '../../src/errors.js';
import { Instance } from '../../src/instances/instance.js';
import type { StreamEnd } from '../../src/instances/lease.js';
import { FLAG_END, type LoadMessage } from '../../src/instances/protocol.js';
import { NODE_RUNNER_PATH } from '../../src/runtimes/node/adapter.js';
import { type CgroupHandle, CgroupManager } from '../../src/sandbox/cgroups.js';
import { wrapLaunch } from '../../src/sandbox/launch.js';
import { writeSeccompFilter } from '../../src/sandbox/seccomp.js';
import { stageBundle } from '../../src/sandbox/stage.js';
import { features, LAUNCH_ENV, noBwrap } from './helpers.js';

const HANDLER = `
import { readdirSync, readFileSync } from 'node:fs';
const tryRead = (p) => { try { readFileSync(p); return 'readable'; } catch (e) { return e.code; } };
export default {
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === '/hog') {
      const hog = [];
      for (;;) hog.push(Buffer.alloc(8 << 20, 1));
    }
    return Response.json({
      pid: process.pid,
      cwd: process.cwd(),
      env: process.env,
      secret: tryRead(process.env.SECRET_PATH),
      pids: readdirSync('/proc').filter((n) => /^\\d+$/.test(n)).length,
    });
  },
};
`;

interface Reply {
  status: number;
  body: string;
}

/** Sends one GET through the instance protocol and collects the answer. */
function request(instance: Instance, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    let status = 0;
    const chunks: Buffer[] = [];
    const end: StreamEnd = {
      head: (s, _headers, last) => {
        status = s;
        if (last) resolve({ status, body: '' });
      },
      body: (chunk, last) => {
        chunks.push(Buffer.from(chunk));
        if (last) resolve({ status, body: Buffer.concat(chunks).toString('utf8') });
      },
      window: () => {},
      error: (error: NimbusError) => reject(error),
    };
    instance.open(end, `GET\0${path}\0host\0localhost`, FLAG_END);
  });
}

interface Started {
  instance: Instance;
  /** The function's bundle on the host. */
  bundleDir: string;
  /** What the sandbox sees at /fn (the bundle itself, or a stem cell's staging directory). */
  boundDir: string;
  load: LoadMessage;
}

/**
 * Spawns the real runner sandboxed, as the platform would. `stem`: spawn a generic stem cell whose /fn is an
 * empty per-instance directory, and leave loading to the test.
 */
async function spawnInstance(
  t: TestContext,
  options: { cgroup?: CgroupHandle | null; memoryMb?: number; stem?: boolean },
): Promise<Started> {
  const root = mkdtempSync('/var/tmp/nimbus-instance-test-');
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const bundleDir = join(root, 'data', 'bundles', 'c'.repeat(64));
  const runDir = join(root, 'run');
  mkdirSync(bundleDir, { recursive: true });
  mkdirSync(runDir);
  writeFileSync(join(bundleDir, 'index.mjs'), HANDLER);
  const secretPath = join(root, 'data', 'nimbus.db');
  writeFileSync(secretPath, 'admin-token');
  const id = `i${process.pid}`;
  // Instance keeps its socket at <runDir>/<id>/sock; a stem cell's staging dir sits beside it.
  const boundDir = options.stem ? join(runDir, id, 'fn') : bundleDir;
  if (options.stem) mkdirSync(boundDir, { recursive: true });
  const memoryMb = options.memoryMb ?? 256;
  const launch = wrapLaunch(
    {
      command: process.execPath,
      args: [`--max-old-space-size=${Math.floor(memoryMb * 0.75)}`, NODE_RUNNER_PATH],
      env: LAUNCH_ENV,
    },
    features,
    {
      bundleDir: boundDir,
      socketPath: join(runDir, id, 'sock'),
      readOnlyPaths: [NODE_RUNNER_PATH],
      limits: { memoryMb, cpu: 1, maxProcesses: 64 },
      cgroup: options.cgroup ?? null,
      seccompFilterPath: features.seccomp ? writeSeccompFilter(runDir, features.seccomp) : null,
    },
  );
  const instance = new Instance({
    id,
    name: 'probe',
    runDir,
    command: launch.command,
    args: launch.args,
    env: launch.env,
    startTimeoutMs: 60_000,
    onOutput: () => {},
  });
  t.after(() => instance.stop('test over'));
  await instance.spawn();
  const load: LoadMessage = {
    bundleDir: launch.bundleDir,
    entry: 'index.mjs',
    name: 'probe',
    version: 1,
    env: { SECRET_PATH: secretPath, GREETING: 'hi' },
    timeoutMs: 10_000,
    memoryMb,
    debug: false,
  };
  return { instance, bundleDir, boundDir, load };
}

async function startInstance(
  t: TestContext,
  options: { cgroup?: CgroupHandle | null; memoryMb?: number },
): Promise<Instance> {
  const { instance, load } = await spawnInstance(t, options);
  await instance.load(load);
  return instance;
}

describe('the node runner inside the sandbox', { skip: noBwrap ?? false }, () => {
  it('starts, loads the bundle from /fn and serves, seeing nothing of the platform', async (t) => {
    if (!existsSync(NODE_RUNNER_PATH))
      return t.skip(`the runner is not built (${NODE_RUNNER_PATH}): npm run build`);
    const instance = await startInstance(t, {});
    const reply = await request(instance, '/');
    assert.equal(reply.status, 200, reply.body);
    const seen = JSON.parse(reply.body) as {
      pid: number;
      cwd: string;
      env: Record<string, string>;
      secret: string;
      pids: number;
    };
    assert.equal(seen.cwd, '/fn');
    assert.equal(seen.secret, 'ENOENT');
    assert.ok(seen.pid < 10 && seen.pids < 10, `pid ${seen.pid}, ${seen.pids} processes visible`);
    assert.equal(seen.env.GREETING, 'hi', 'the function’s own variables arrive through LOAD');
    assert.equal(seen.env.NIMBUS_ADMIN_TOKEN, undefined);
    assert.notEqual(
      instance.pid,
      seen.pid,
      'the platform sees bwrap; the runner lives in its own pid namespace',
    );
  });

  it('a stem cell started with an empty /fn runs the bundle staged into it afterwards', async (t) => {
    if (!existsSync(NODE_RUNNER_PATH))
      return t.skip(`the runner is not built (${NODE_RUNNER_PATH}): npm run build`);
    const { instance, bundleDir, boundDir, load } = await spawnInstance(t, { stem: true });
    assert.deepEqual(readdirSync(boundDir), [], 'nothing of any function at spawn');
    stageBundle(bundleDir, boundDir);
    await instance.load(load);
    const reply = await request(instance, '/');
    assert.equal(reply.status, 200, reply.body);
    assert.equal((JSON.parse(reply.body) as { cwd: string }).cwd, '/fn');
  });

  it('an instance that allocates past its memory is OOM-killed: the request fails, the cgroup says OOM', async (t) => {
    if (!existsSync(NODE_RUNNER_PATH))
      return t.skip(`the runner is not built (${NODE_RUNNER_PATH}): npm run build`);
    const cg = features.cgroup;
    if (cg.version === null || !cg.controllers.includes('memory')) {
      return t.skip(`no memory cgroup here: ${cg.version === null ? cg.reason : cg.controllers.join(', ')}`);
    }
    const manager = new CgroupManager(cg);
    t.after(() => manager.close());
    const cgroup = manager.create(`oom-instance-${process.pid}`, {
      memoryMb: 128,
      cpu: 1,
      maxProcesses: 64,
    })!;
    const instance = await startInstance(t, { cgroup, memoryMb: 128 });
    const closed = instance.whenClosed;
    await assert.rejects(
      request(instance, '/hog'),
      (err: NimbusError) => err.code === 'ERR_INSTANCE_CRASHED',
    );
    await closed;
    assert.equal(cgroup.oomKilled(), true);
  });
});
