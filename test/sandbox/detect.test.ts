// Feature detection against simulated hosts (and once against this one), and the summary line it prints.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  type DetectDeps,
  describeSandbox,
  detectSandbox,
  parseCgroupMounts,
  parseProcCgroup,
  type RunResult,
} from '../../src/sandbox/detect.js';
import { MemCgroupFs } from './mem-cgroup-fs.js';

const BWRAP_HELP_08 = '--unshare-user --clearenv --disable-userns --size BYTES --tmpfs DEST --seccomp FD';
const BWRAP_HELP_06 = '--unshare-user --clearenv --tmpfs DEST --seccomp FD';
const SLIRP_HELP_12 =
  '--configure --exit-fd=FD --ready-fd=FD --mtu=MTU --disable-host-loopback --netns-type=TYPE --userns-path=PATH --enable-sandbox --enable-seccomp';
const SLIRP_HELP_10 = '--configure --exit-fd=FD --ready-fd=FD --mtu=MTU --disable-host-loopback';

const HYBRID_MOUNTINFO = [
  '24 1 0:22 / /sys rw,nosuid - sysfs sysfs rw',
  '30 24 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755',
  '31 30 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw',
  '33 30 0:29 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory',
  '34 30 0:30 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids',
  '35 30 0:31 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct',
  '36 30 0:32 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd',
].join('\n');
const HYBRID_SELF = '9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n1:cpu,cpuacct:/\n0::/\n';

const V2_MOUNTINFO =
  '29 24 0:25 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate';

/** What each cgroup directory gets from the "kernel" when it is made. */
function kernelFiles(dir: string): Record<string, string> {
  if (dir.startsWith('/sys/fs/cgroup/memory')) return { 'memory.limit_in_bytes': 'max', 'cgroup.procs': '' };
  if (dir.startsWith('/sys/fs/cgroup/pids')) return { 'pids.max': 'max', 'cgroup.procs': '' };
  if (dir.startsWith('/sys/fs/cgroup/cpu,cpuacct')) return { 'cpu.cfs_quota_us': '-1', 'cgroup.procs': '' };
  if (dir.startsWith('/sys/fs/cgroup/unified')) return {};
  return { 'memory.max': 'max', 'pids.max': 'max', 'cpu.max': 'max 100000', 'cgroup.procs': '' };
}

interface Host {
  files?: Record<string, string>;
  executables?: string[];
  run?: (command: string, args: readonly string[]) => RunResult;
  cgroupFs?: MemCgroupFs;
  uid?: number;
  /** Whether /dev/net/tun opens for the platform. Default true. */
  tun?: boolean;
}

function host(h: Host): Partial<DetectDeps> & { calls: string[][] } {
  const calls: string[][] = [];
  const executables = new Set(
    h.executables ?? ['/bin/sh', '/usr/bin/bwrap', '/usr/bin/prlimit', '/usr/bin/setpriv'],
  );
  return {
    calls,
    searchPath: ['/usr/bin'],
    run: async (command, args) => {
      calls.push([command, ...args]);
      if (h.run) return h.run(command, args);
      if (command.endsWith('slirp4netns')) {
        if (args[0] === '--version') return { code: 0, stdout: 'slirp4netns version 1.2.0\n', stderr: '' };
        return { code: 0, stdout: args[0] === '--help' ? SLIRP_HELP_12 : '', stderr: '' };
      }
      if (args[0] === '--version') return { code: 0, stdout: 'bubblewrap 0.8.0\n', stderr: '' };
      if (args[0] === '--help') return { code: 0, stdout: BWRAP_HELP_08, stderr: '' };
      return { code: 0, stdout: '', stderr: '' };
    },
    readText: (path) => h.files?.[path] ?? null,
    executable: (path) => (executables.has(path) ? path : null),
    exists: (path) => path === '/proc/timer_list',
    readWrite: (path) => path === '/dev/net/tun' && (h.tun ?? true),
    rootEntry: (path) =>
      path === '/bin' ? { symlink: 'usr/bin' } : path === '/lib64' ? { symlink: null } : null,
    cgroupFs: h.cgroupFs ?? new MemCgroupFs(),
    uid: h.uid ?? 0,
    pid: 77,
    arch: 'x64',
  };
}

function hybridFs(): MemCgroupFs {
  const fs = new MemCgroupFs(
    [
      '/sys/fs/cgroup/unified',
      '/sys/fs/cgroup/memory',
      '/sys/fs/cgroup/memory/process_api',
      '/sys/fs/cgroup/memory/process_api/abc',
      '/sys/fs/cgroup/pids',
      '/sys/fs/cgroup/cpu,cpuacct',
    ],
    { '/sys/fs/cgroup/unified/cgroup.controllers': 'hugetlb\n' },
  );
  fs.populate = kernelFiles;
  return fs;
}

describe('detectSandbox', () => {
  it('a hybrid host like the reference machine: bwrap 0.8, cgroup v1 memory/pids/cpu nested under its own cgroup', async () => {
    const fs = hybridFs();
    const deps = host({
      files: { '/proc/self/mountinfo': HYBRID_MOUNTINFO, '/proc/self/cgroup': HYBRID_SELF },
      cgroupFs: fs,
      executables: [
        '/bin/sh',
        '/usr/bin/bwrap',
        '/usr/bin/prlimit',
        '/usr/bin/setpriv',
        '/usr/bin/slirp4netns',
      ],
    });
    const f = await detectSandbox({}, deps);
    assert.deepEqual(f.bwrap, {
      path: '/usr/bin/bwrap',
      version: '0.8.0',
      tmpfsSize: true,
      clearEnv: true,
      disableUserns: true,
    });
    assert.equal(f.seccomp, 'x86_64');
    assert.equal(f.unprivilegedUserNamespaces, true);
    assert.deepEqual(f.egress, { path: '/usr/bin/slirp4netns', version: '1.2.0', seccomp: true });
    assert.equal(f.egressProblem, null);
    assert.deepEqual(f.cgroup, {
      version: 1,
      parents: {
        memory: '/sys/fs/cgroup/memory/process_api/abc',
        pids: '/sys/fs/cgroup/pids',
        cpu: '/sys/fs/cgroup/cpu,cpuacct',
      },
      controllers: ['memory', 'pids', 'cpu'],
    });
    assert.deepEqual(f.hostRoot, [
      { path: '/bin', symlink: 'usr/bin' },
      { path: '/lib64', symlink: null },
    ]);
    assert.deepEqual(f.procMasks, ['/proc/timer_list']);
    assert.ok(Object.isFrozen(f) && Object.isFrozen(f.cgroup));
    // The probes were cleaned up, and the platform's own cgroup was left as it was.
    assert.ok(![...fs.dirs].some((d) => d.includes('nimbus-probe')));
    assert.deepEqual(fs.writes, []);
    // The bwrap probe runs the sandbox's namespaces; the unprivileged one drops to nobody first.
    assert.ok(
      deps.calls.some(
        (c) => c[0] === '/usr/bin/bwrap' && c.includes('--unshare-user') && c.includes('--proc'),
      ),
    );
    assert.ok(deps.calls.some((c) => c[0] === '/usr/bin/setpriv' && c.includes('--reuid=65534')));
    assert.equal(
      describeSandbox(f),
      'isolation: bubblewrap 0.8.0 (user, pid, ipc, uts, net, cgroup, mount namespaces; seccomp), ' +
        "network: a namespace per instance, egress through slirp4netns 1.2.0 (never the host's loopback), " +
        'limits: cgroup v1 (memory, pids, cpu)',
    );
  });

  it('no bubblewrap and no cgroups: says what to install and what stands in', async () => {
    const f = await detectSandbox({}, host({ executables: ['/bin/sh', '/usr/bin/prlimit'], files: {} }));
    assert.equal(f.bwrap, null);
    assert.equal(f.bwrapProblem, 'bwrap not found: apt install bubblewrap');
    assert.equal(f.seccomp, null);
    assert.equal(f.cgroup.version, null);
    assert.equal(
      describeSandbox(f),
      "isolation: none (bwrap not found: apt install bubblewrap), network: the host's, limits: rlimits (data) + V8 heap; " +
        'no process limit, no CPU limit (no writable cgroups (v2: not mounted; v1: not mounted))',
    );
  });

  it('bubblewrap that cannot create namespaces: reports bwrap’s own words', async () => {
    const f = await detectSandbox(
      {},
      host({
        files: { '/proc/sys/user/max_user_namespaces': '0\n' },
        uid: 1000,
        run: (_command, args) =>
          args[0] === '--version' || args[0] === '--help'
            ? { code: 0, stdout: 'bubblewrap 0.8.0', stderr: '' }
            : { code: 1, stdout: '', stderr: 'bwrap: No permissions to create new namespace\n' },
      }),
    );
    assert.equal(f.bwrap, null);
    assert.equal(f.userNamespaces, false);
    assert.match(f.bwrapProblem!, /^bwrap does not work here: bwrap: No permissions to create new namespace/);
    assert.match(f.bwrapProblem!, /user\.max_user_namespaces=0/);
  });

  it('an older bubblewrap: no tmpfs size, no --disable-userns, and the summary says so', async () => {
    const fs = new MemCgroupFs(['/sys/fs/cgroup'], {
      '/sys/fs/cgroup/cgroup.controllers': 'cpuset cpu io memory pids\n',
    });
    fs.populate = kernelFiles;
    const f = await detectSandbox(
      {},
      host({
        files: { '/proc/self/mountinfo': V2_MOUNTINFO, '/proc/self/cgroup': '0::/\n' },
        cgroupFs: fs,
        uid: 1000,
        run: (_command, args) =>
          args[0] === '--version'
            ? { code: 0, stdout: 'bubblewrap 0.6.1\n', stderr: '' }
            : { code: 0, stdout: args[0] === '--help' ? BWRAP_HELP_06 : '', stderr: '' },
      }),
    );
    assert.deepEqual(f.bwrap, {
      path: '/usr/bin/bwrap',
      version: '0.6.1',
      tmpfsSize: false,
      clearEnv: true,
      disableUserns: false,
    });
    assert.deepEqual(f.cgroup, {
      version: 2,
      parent: '/sys/fs/cgroup',
      controllers: ['memory', 'pids', 'cpu'],
    });
    assert.deepEqual(fs.writes, [['/sys/fs/cgroup/cgroup.subtree_control', '+memory +pids +cpu']]);
    assert.equal(
      describeSandbox(f),
      'isolation: bubblewrap 0.6.1 (user, pid, ipc, uts, net, cgroup, mount namespaces; seccomp; /tmp not size-limited (bwrap < 0.8)), ' +
        'network: a namespace per instance, loopback only: network: true gets no egress (slirp4netns not found: apt install slirp4netns), ' +
        'limits: cgroup v2 (memory, pids, cpu)',
    );
  });

  it('cgroup v2 in a service’s own cgroup: explains the fix, and uses a delegated cgroupParent', async () => {
    const service = '/sys/fs/cgroup/system.slice/nimbus.service';
    const files = {
      '/proc/self/mountinfo': V2_MOUNTINFO,
      '/proc/self/cgroup': '0::/system.slice/nimbus.service/main\n',
    };
    const busy = new MemCgroupFs([`${service}/main`], {
      [`${service}/main/cgroup.controllers`]: 'memory pids cpu\n',
    });
    busy.failWrites.set(`${service}/main/cgroup.subtree_control`, 'EBUSY');
    const refused = await detectSandbox({}, host({ files, cgroupFs: busy }));
    assert.equal(refused.cgroup.version, null);
    assert.match(
      refused.cgroup.version === null ? refused.cgroup.reason : '',
      /holds processes.*cgroupParent/,
    );

    const delegated = new MemCgroupFs([service, `${service}/main`], {
      [`${service}/cgroup.controllers`]: 'memory pids cpu\n',
    });
    delegated.populate = kernelFiles;
    const f = await detectSandbox(
      { cgroupParent: '/system.slice/nimbus.service' },
      host({ files, cgroupFs: delegated }),
    );
    assert.deepEqual(f.cgroup, { version: 2, parent: service, controllers: ['memory', 'pids', 'cpu'] });
  });

  it('root platform without runAs: no process rlimit (root is exempt), and the summary says so', async () => {
    const f = await detectSandbox({}, host({ files: {} }));
    assert.match(describeSandbox(f), /limits: rlimits \(data\) \+ V8 heap; no process limit, no CPU limit/);
    assert.match(
      describeSandbox(f, { runAs: true }),
      /unprivileged host user\), network: .*, limits: rlimits \(data, nproc\) \+ V8 heap; no CPU limit/,
    );
  });

  it('egress: needs a slirp4netns with the options that keep the host out, and a TUN device it may open', async () => {
    const executables = [
      '/bin/sh',
      '/usr/bin/bwrap',
      '/usr/bin/prlimit',
      '/usr/bin/setpriv',
      '/usr/bin/slirp4netns',
    ];
    const old = await detectSandbox(
      {},
      host({
        files: {},
        executables,
        run: (command, args) =>
          command.endsWith('slirp4netns')
            ? {
                code: 0,
                stdout: args[0] === '--help' ? SLIRP_HELP_10 : 'slirp4netns version 1.0.1',
                stderr: '',
              }
            : { code: 0, stdout: args[0] === '--help' ? BWRAP_HELP_08 : 'bubblewrap 0.8.0', stderr: '' },
      }),
    );
    assert.equal(old.egress, null);
    assert.match(old.egressProblem!, /too old \(no --netns-type, --userns-path, --enable-sandbox\)/);
    const noTun = await detectSandbox({}, host({ files: {}, executables, tun: false, uid: 1000 }));
    assert.equal(noTun.egress, null);
    assert.match(noTun.egressProblem!, /\/dev\/net\/tun cannot be opened by uid 1000/);
    assert.match(
      describeSandbox(noTun),
      /network: a namespace per instance, loopback only: network: true gets no egress/,
    );
    const broken = await detectSandbox(
      {},
      host({
        files: {},
        executables,
        run: (command, args) =>
          command.endsWith('slirp4netns')
            ? {
                code: 127,
                stdout: '',
                stderr: 'slirp4netns: error while loading shared libraries: libglib-2.0.so.0\n',
              }
            : { code: 0, stdout: args[0] === '--help' ? BWRAP_HELP_08 : 'bubblewrap 0.8.0', stderr: '' },
      }),
    );
    assert.equal(broken.egress, null);
    assert.match(
      broken.egressProblem!,
      /does not run here: slirp4netns: error while loading shared libraries/,
    );
    const bare = await detectSandbox(
      {},
      host({ files: {}, executables: ['/bin/sh', '/usr/bin/slirp4netns'] }),
    );
    assert.equal(bare.egress, null, 'no egress without bubblewrap: there is no namespace to attach to');
  });
});

describe('parsing /proc', () => {
  it('reads cgroup mounts, their roots and escaped paths', () => {
    const mounts = parseCgroupMounts(
      `${HYBRID_MOUNTINFO}\n40 30 0:40 /docker/x /sys/fs/cgroup/my\\040dir rw - cgroup cgroup rw,pids`,
    );
    assert.deepEqual(
      mounts.map((m) => [m.version, m.mountPoint, m.root, m.controllers.join(',')]),
      [
        [2, '/sys/fs/cgroup/unified', '/', ''],
        [1, '/sys/fs/cgroup/memory', '/', 'rw,memory'],
        [1, '/sys/fs/cgroup/pids', '/', 'rw,pids'],
        [1, '/sys/fs/cgroup/cpu,cpuacct', '/', 'rw,cpu,cpuacct'],
        [1, '/sys/fs/cgroup/systemd', '/', 'rw,name=systemd'],
        [1, '/sys/fs/cgroup/my dir', '/docker/x', 'rw,pids'],
      ],
    );
  });

  it('reads /proc/self/cgroup, v2 line included', () => {
    assert.deepEqual(parseProcCgroup(HYBRID_SELF), [
      { controllers: ['name=systemd'], path: '/' },
      { controllers: ['pids'], path: '/' },
      { controllers: ['memory'], path: '/process_api/abc' },
      { controllers: ['cpu', 'cpuacct'], path: '/' },
      { controllers: [], path: '/' },
    ]);
  });
});

describe('this host', () => {
  it('detects without throwing and prints one line', async (t) => {
    const f = await detectSandbox();
    const line = describeSandbox(f);
    t.diagnostic(line);
    assert.match(line, /^isolation: (bubblewrap [\d.]+ \(.*\)|none \(.+\)), limits: .+$/);
    assert.equal(line.includes('\n'), false);
  });
});
