// CgroupManager on an in-memory tree (v2 and v1 files), then on this host's real cgroups: OOM, fork bomb, CPU.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { type CgroupHandle, CgroupManager, type SandboxLimits } from '../../src/sandbox/cgroups.js';
import { waitFor } from '../helpers/platform.js';
import { features, killGroup, NOBODY, runSandboxed, scratch, startSandboxed } from './helpers.js';
import { MemCgroupFs } from './mem-cgroup-fs.js';

const LIMITS: SandboxLimits = { memoryMb: 128, cpu: 0.5, maxProcesses: 64 };

describe('CgroupManager (in-memory cgroup tree)', () => {
  it('v2: enables controllers for the subtree and writes the instance’s limits', async () => {
    const fs = new MemCgroupFs(['/cg']);
    fs.populate = () => ({
      'memory.swap.max': 'max',
      'memory.oom.group': '0',
      'memory.events': 'oom_kill 0\n',
    });
    const manager = new CgroupManager(
      { version: 2, parent: '/cg', controllers: ['memory', 'pids', 'cpu'] },
      { fs, pid: 42 },
    );
    const handle = manager.create('fn-1', LIMITS)!;
    assert.deepEqual(handle.dirs, ['/cg/nimbus-42/fn-1']);
    assert.deepEqual(handle.procsFiles, ['/cg/nimbus-42/fn-1/cgroup.procs']);
    assert.deepEqual(Object.fromEntries(fs.writes), {
      '/cg/nimbus-42/cgroup.subtree_control': '+memory +pids +cpu',
      // All instances together weigh half the gateway: every request crosses it.
      '/cg/nimbus-42/cpu.weight': '50',
      '/cg/nimbus-42/fn-1/memory.max': String(128 * 1024 * 1024),
      '/cg/nimbus-42/fn-1/memory.swap.max': '0',
      '/cg/nimbus-42/fn-1/memory.oom.group': '1',
      '/cg/nimbus-42/fn-1/pids.max': '64',
      '/cg/nimbus-42/fn-1/cpu.max': '50000 100000',
    });
    assert.equal(handle.oomKilled(), false);
    fs.files.set('/cg/nimbus-42/fn-1/memory.events', 'low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n');
    assert.equal(handle.oomKilled(), true);
    await handle.close();
    await manager.close();
    assert.deepEqual([...fs.dirs], ['/cg']);
  });

  it('v2: skips files a kernel lacks (no swap accounting, no oom.group)', () => {
    const fs = new MemCgroupFs(['/cg']);
    const manager = new CgroupManager({ version: 2, parent: '/cg', controllers: ['memory'] }, { fs, pid: 1 });
    manager.create('a', LIMITS);
    assert.deepEqual(
      fs.writes.map(([path]) => path),
      ['/cg/nimbus-1/cgroup.subtree_control', '/cg/nimbus-1/a/memory.max'],
    );
  });

  it('v1: one cgroup per controller hierarchy, memsw only where swap is accounted', async () => {
    const fs = new MemCgroupFs(['/v1/memory/own', '/v1/pids', '/v1/cpu']);
    fs.populate = (dir) =>
      dir.startsWith('/v1/memory')
        ? { 'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n' }
        : {};
    const manager = new CgroupManager(
      {
        version: 1,
        parents: { memory: '/v1/memory/own', pids: '/v1/pids', cpu: '/v1/cpu' },
        controllers: ['memory', 'pids', 'cpu'],
      },
      { fs, pid: 7 },
    );
    const handle = manager.create('fn-2', { memoryMb: 64, cpu: 0.001, maxProcesses: 10 })!;
    assert.deepEqual(handle.dirs, [
      '/v1/memory/own/nimbus-7/fn-2',
      '/v1/pids/nimbus-7/fn-2',
      '/v1/cpu/nimbus-7/fn-2',
    ]);
    assert.deepEqual(Object.fromEntries(fs.writes), {
      '/v1/cpu/nimbus-7/cpu.shares': '512',
      '/v1/memory/own/nimbus-7/fn-2/memory.limit_in_bytes': String(64 * 1024 * 1024),
      '/v1/pids/nimbus-7/fn-2/pids.max': '10',
      '/v1/cpu/nimbus-7/fn-2/cpu.cfs_period_us': '100000',
      // The kernel refuses quotas under 1 ms.
      '/v1/cpu/nimbus-7/fn-2/cpu.cfs_quota_us': '1000',
    });
    assert.equal(handle.oomKilled(), false);
    fs.files.set(
      '/v1/memory/own/nimbus-7/fn-2/memory.oom_control',
      'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
    );
    assert.equal(handle.oomKilled(), true);
    await manager.close();
    assert.deepEqual([...fs.dirs].sort(), ['/v1/cpu', '/v1/memory/own', '/v1/pids']);
  });

  it('no cpu limit: a cpu cgroup all the same (v1 without a quota, v2 at max); a tag keeps platforms of one process apart', () => {
    const fs1 = new MemCgroupFs(['/v1/memory', '/v1/cpu']);
    const v1 = new CgroupManager(
      { version: 1, parents: { memory: '/v1/memory', cpu: '/v1/cpu' }, controllers: ['memory', 'cpu'] },
      { fs: fs1, pid: 5, tag: 'abc' },
    );
    const plain = v1.create('i1', { ...LIMITS, cpu: null })!;
    assert.deepEqual(plain.dirs, ['/v1/memory/nimbus-5-abc/i1', '/v1/cpu/nimbus-5-abc/i1']);
    assert.deepEqual(plain.controllers, ['memory', 'cpu']);
    assert.equal(fs1.read('/v1/cpu/nimbus-5-abc/i1/cpu.cfs_quota_us'), null, 'no quota written');
    const fs2 = new MemCgroupFs(['/cg']);
    const v2 = new CgroupManager(
      { version: 2, parent: '/cg', controllers: ['memory', 'cpu'] },
      { fs: fs2, pid: 5 },
    );
    v2.create('i1', { ...LIMITS, cpu: null });
    assert.equal(fs2.read('/cg/nimbus-5/i1/cpu.max'), 'max 100000');
    assert.throws(
      () => new CgroupManager({ version: 2, parent: '/cg', controllers: [] }, { tag: '../x' }),
      /tag/,
    );
  });

  it('splits one function’s CPU weight between its instances (v2 cpu.weight, v1 cpu.shares)', () => {
    const fs2 = new MemCgroupFs(['/cg']);
    const v2 = new CgroupManager({ version: 2, parent: '/cg', controllers: ['cpu'] }, { fs: fs2, pid: 5 });
    const a = v2.create('i1', { ...LIMITS, cpu: null })!;
    a.setCpuShare(1);
    assert.equal(fs2.read('/cg/nimbus-5/i1/cpu.weight'), '100');
    a.setCpuShare(1 / 3);
    assert.equal(fs2.read('/cg/nimbus-5/i1/cpu.weight'), '33');
    a.setCpuShare(1 / 1000);
    assert.equal(fs2.read('/cg/nimbus-5/i1/cpu.weight'), '1', 'never below the kernel’s floor');
    const fs1 = new MemCgroupFs(['/v1/memory', '/v1/cpu']);
    const v1 = new CgroupManager(
      { version: 1, parents: { memory: '/v1/memory', cpu: '/v1/cpu' }, controllers: ['memory', 'cpu'] },
      { fs: fs1, pid: 5 },
    );
    const b = v1.create('i1', { ...LIMITS, cpu: null })!;
    b.setCpuShare(1 / 3);
    assert.equal(fs1.read('/v1/cpu/nimbus-5/i1/cpu.shares'), '341');
    assert.equal(fs1.read('/v1/memory/nimbus-5/i1/cpu.shares'), null);
    // Without the cpu controller there is nothing to weigh.
    const memoryOnly = new CgroupManager(
      { version: 1, parents: { memory: '/v1/memory' }, controllers: ['memory'] },
      { fs: fs1, pid: 6 },
    );
    memoryOnly.create('i3', LIMITS)!.setCpuShare(0.5);
    assert.ok(![...fs1.files.keys()].some((f) => f.includes('nimbus-6') && f.endsWith('cpu.shares')));
  });

  it('v1: falls back to memory.failcnt on kernels without an oom_kill counter; sets memsw when present', () => {
    const fs = new MemCgroupFs(['/m']);
    fs.populate = () => ({
      'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\n',
      'memory.failcnt': '0',
      'memory.memsw.limit_in_bytes': '9223372036854771712',
    });
    const manager = new CgroupManager(
      { version: 1, parents: { memory: '/m' }, controllers: ['memory'] },
      { fs, pid: 3 },
    );
    const handle = manager.create('x', LIMITS)!;
    assert.equal(fs.read('/m/nimbus-3/x/memory.memsw.limit_in_bytes'), String(128 * 1024 * 1024));
    assert.equal(handle.oomKilled(), false);
    fs.files.set('/m/nimbus-3/x/memory.failcnt', '3');
    assert.equal(handle.oomKilled(), true);
  });

  it('without cgroups: says why and creates nothing', async () => {
    const manager = new CgroupManager({ version: null, reason: 'no writable cgroups (v2: not mounted)' });
    assert.equal(manager.available, false);
    assert.equal(manager.reason, 'no writable cgroups (v2: not mounted)');
    assert.equal(manager.create('a', LIMITS), null);
    await manager.close();
  });

  it('refuses an instance id that is not a plain name', () => {
    const manager = new CgroupManager(
      { version: 2, parent: '/cg', controllers: ['pids'] },
      { fs: new MemCgroupFs(['/cg']), pid: 1 },
    );
    for (const id of ['../escape', 'a/b', '', '.hidden'])
      assert.throws(() => manager.create(id, LIMITS), /instance id/);
  });

  it('reports a cgroup it cannot create, naming the instance', () => {
    const fs = new MemCgroupFs(['/cg']);
    fs.failWrites.set('/cg/nimbus-1/a/pids.max', 'EACCES');
    const manager = new CgroupManager({ version: 2, parent: '/cg', controllers: ['pids'] }, { fs, pid: 1 });
    assert.throws(() => manager.create('a', LIMITS), /cgroup of a: EACCES/);
  });

  it('sweeps empty subtrees of platforms that are gone, and leaves live or busy ones', () => {
    const fs = new MemCgroupFs([
      '/cg',
      '/cg/nimbus-100',
      '/cg/nimbus-100/old',
      '/cg/nimbus-200',
      '/cg/nimbus-300',
    ]);
    fs.files.set('/cg/nimbus-300/cgroup.procs', '4242\n');
    const manager = new CgroupManager(
      { version: 2, parent: '/cg', controllers: ['pids'] },
      { fs, pid: 1, isAlive: (pid) => pid === 200 },
    );
    manager.start();
    assert.deepEqual([...fs.dirs].sort(), ['/cg', '/cg/nimbus-1', '/cg/nimbus-200', '/cg/nimbus-300']);
  });

  it('close() waits for killed processes to leave, then gives up naming the directory', async () => {
    const fs = new MemCgroupFs(['/cg']);
    let now = 0;
    const sleeps: number[] = [];
    const manager = new CgroupManager(
      { version: 2, parent: '/cg', controllers: ['pids'] },
      {
        fs,
        pid: 1,
        closeTimeoutMs: 100,
        now: () => now,
        sleep: async (ms) => {
          sleeps.push(now);
          now += ms;
        },
      },
    );
    const handle = manager.create('a', LIMITS)!;
    fs.files.set('/cg/nimbus-1/a/cgroup.procs', '999999999\n');
    await assert.rejects(handle.close(), /could not remove \/cg\/nimbus-1\/a/);
    assert.deepEqual(sleeps, [0, 20, 40, 60, 80, 100]);
    assert.equal(fs.read('/cg/nimbus-1/a/cgroup.kill'), '1', 'killed what was left before waiting');
    // Once the processes are gone it goes.
    fs.files.set('/cg/nimbus-1/a/cgroup.procs', '');
    await handle.close();
    assert.equal(fs.dirs.has('/cg/nimbus-1/a'), false);
  });
});

/** A real manager on this host, closed (and checked gone) after the test. */
function realManager(t: TestContext, needs: 'memory' | 'pids' | 'cpu'): CgroupManager | null {
  const cg = features.cgroup;
  if (cg.version === null) {
    t.skip(`no writable cgroups here: ${cg.reason}`);
    return null;
  }
  if (!cg.controllers.includes(needs)) {
    t.skip(
      `the ${needs} controller is not writable here (cgroup v${cg.version}: ${cg.controllers.join(', ')})`,
    );
    return null;
  }
  const manager = new CgroupManager(cg);
  t.after(async () => {
    await manager.close();
    for (const dir of manager.baseDirs) assert.equal(existsSync(dir), false, `${dir} left behind`);
  });
  return manager;
}

function readLimit(handle: CgroupHandle, file: string): string | undefined {
  const dir = handle.dirs.find((d) => existsSync(join(d, file)));
  return dir === undefined ? undefined : readFileSync(join(dir, file), 'utf8').trim();
}

describe(`real cgroups (${features.cgroup.version === null ? 'none' : `v${features.cgroup.version}`})`, () => {
  it('creates an instance cgroup with its limits and removes it again', async (t) => {
    const manager = realManager(t, 'memory');
    if (!manager) return;
    const handle = manager.create(`life-${process.pid}`, { memoryMb: 100, cpu: 0.25, maxProcesses: 50 })!;
    const memory = readLimit(handle, manager.version === 2 ? 'memory.max' : 'memory.limit_in_bytes');
    assert.equal(memory, String(100 * 1024 * 1024));
    if (handle.controllers.includes('pids')) assert.equal(readLimit(handle, 'pids.max'), '50');
    await handle.close();
    for (const dir of handle.dirs) assert.equal(existsSync(dir), false);
  });

  it('OOM-kills an instance that allocates past memoryMb, and says so', async (t) => {
    const manager = realManager(t, 'memory');
    if (!manager) return;
    const s = await scratch(t);
    const allocate = (mb: number): string =>
      `const a = []; for (let i = 0; i < ${mb / 8}; i++) a.push(Buffer.alloc(8 << 20, 1)); console.log('survived')`;

    const modest = manager.create(`oom-ok-${process.pid}`, { memoryMb: 96, cpu: 1, maxProcesses: 64 })!;
    t.after(() => modest.close());
    const fine = await runSandboxed(t, s, {
      code: allocate(16),
      cgroup: modest,
      limits: { ...LIMITS, memoryMb: 96 },
    });
    assert.equal(fine.stdout.trim(), 'survived', fine.stderr);
    assert.equal(modest.oomKilled(), false);

    const greedy = manager.create(`oom-${process.pid}`, { memoryMb: 96, cpu: 1, maxProcesses: 64 })!;
    t.after(() => greedy.close());
    const r = await runSandboxed(t, s, {
      code: allocate(400),
      cgroup: greedy,
      limits: { ...LIMITS, memoryMb: 96 },
    });
    assert.notEqual(r.stdout.trim(), 'survived');
    // Plain: the node process itself is killed. Under bwrap: bwrap reports its child's SIGKILL as 128 + 9.
    assert.ok(r.signal === 'SIGKILL' || r.code === 137, `ended with ${r.code ?? r.signal}: ${r.stderr}`);
    assert.equal(greedy.oomKilled(), true);
  });

  it('stops a fork bomb at maxProcesses while the host keeps forking', async (t) => {
    const manager = realManager(t, 'pids');
    if (!manager) return;
    const s = await scratch(t);
    const maxProcesses = 24;
    const handle = manager.create(`bomb-${process.pid}`, { memoryMb: 256, cpu: 0.5, maxProcesses })!;
    t.after(() => handle.close());
    const { child, result } = startSandboxed(t, s, {
      argv: ['/bin/sh', '-c', 'bomb() { bomb | bomb & }; bomb; sleep 600'],
      cgroup: handle,
      limits: { memoryMb: 256, cpu: 0.5, maxProcesses },
    });
    const pidsDir = handle.dirs.find((d) => existsSync(join(d, 'pids.max')))!;
    const events = (): number =>
      Number(/^max (\d+)$/m.exec(readFileSync(join(pidsDir, 'pids.events'), 'utf8'))?.[1]);
    const deadline = Date.now() + 30_000;
    while (events() === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.ok(events() > 0, 'the pids limit was hit');
    assert.ok(handle.pids().length <= maxProcesses, `${handle.pids().length} processes`);
    assert.equal(spawnSync('/bin/true').status, 0, 'the host can still fork');
    killGroup(child);
    handle.killAll();
    await result;
    await handle.close();
    for (const dir of handle.dirs) assert.equal(existsSync(dir), false);
  });

  it('holds CPU to its fraction of a core', async (t) => {
    const manager = realManager(t, 'cpu');
    if (!manager) return;
    const s = await scratch(t);
    const handle = manager.create(`cpu-${process.pid}`, { memoryMb: 256, cpu: 0.2, maxProcesses: 64 })!;
    t.after(() => handle.close());
    const r = await runSandboxed(t, s, {
      code: `const start = Date.now(); while (Date.now() - start < 1000) {}
             const u = process.cpuUsage(); console.log(Math.round((u.user + u.system) / 1000))`,
      cgroup: handle,
    });
    const cpuMs = Number(r.stdout.trim());
    assert.ok(cpuMs > 0 && cpuMs < 500, `used ${cpuMs} ms of CPU in 1 s at 0.2 cores`);
  });

  it('killAll reaches a grandchild that left the process group (no bubblewrap)', async (t) => {
    const manager = realManager(t, 'pids');
    if (!manager) return;
    const s = await scratch(t);
    const handle = manager.create(`sweep-${process.pid}`, LIMITS)!;
    t.after(() => handle.close());
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => {
      ready = resolve;
    });
    const { child, result } = startSandboxed(t, s, {
      argv: [
        '/bin/sh',
        '-c',
        'setsid sleep 600 </dev/null >/dev/null 2>&1 & sleep 0.2; echo ready; sleep 600',
      ],
      cgroup: handle,
      features: { ...features, bwrap: null, seccomp: null },
      onStdout: (text) => {
        if (text.includes('ready')) ready();
      },
    });
    await isReady;
    killGroup(child);
    await result;
    // The killed processes leave the cgroup once the kernel has reaped them, which on a busy machine
    // takes a while: wait for that, then only the setsid grandchild may be left.
    await waitFor(() => handle.pids().length <= 1, 30_000, 'the killed process group to leave the cgroup');
    assert.equal(handle.pids().length, 1, 'the setsid grandchild outlives its process group');
    handle.killAll();
    await handle.close();
  });
});

describe('rlimit fallback (no cgroups)', () => {
  it('bounds memory with RLIMIT_DATA: the allocation fails inside, the process lives on', async (t) => {
    if (!features.prlimitPath) return t.skip('prlimit not found');
    const s = await scratch(t);
    for (const f of [features, { ...features, bwrap: null, seccomp: null }]) {
      const r = await runSandboxed(t, s, {
        code: `try { const a = []; for (let i = 0; i < 32; i++) a.push(Buffer.alloc(8 << 20, 1)); console.log('unbounded') }
               catch (e) { console.log('contained') }`,
        limits: { memoryMb: 64, cpu: 1, maxProcesses: 64 },
        features: f,
      });
      assert.equal(r.stdout.trim(), 'contained', `${f.bwrap ? 'bwrap' : 'plain'}: ${r.stderr}`);
    }
  });

  it('bounds processes with RLIMIT_NPROC inside the user namespace (runAs)', async (t) => {
    if (!features.prlimitPath || !features.bwrap) return t.skip('needs prlimit and bubblewrap');
    if (features.uid === 0 && !features.unprivilegedUserNamespaces)
      return t.skip('root without unprivileged userns');
    const s = await scratch(t, { world: true });
    const r = await runSandboxed(t, s, {
      argv: ['/bin/sh', '-c', 'i=0; while [ $i -lt 40 ]; do sleep 5 & i=$((i+1)); done; echo all-forked'],
      limits: { memoryMb: 256, cpu: 1, maxProcesses: 16 },
      runAs: features.uid === 0 ? { uid: NOBODY, gid: NOBODY } : null,
    });
    assert.notEqual(r.stdout.trim(), 'all-forked');
    assert.match(r.stderr, /fork/i);
  });
});
