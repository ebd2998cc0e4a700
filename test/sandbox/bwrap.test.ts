// bwrapArgs and wrapLaunch as pure command-line builders: what is unshared, bound, hidden and set.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import {
  type BwrapOptions,
  bwrapArgs,
  SANDBOX_BUNDLE_DIR,
  SANDBOX_RUNNER_DIR,
  SANDBOX_RUNTIME_DIR,
  SANDBOX_SOCKET_PATH,
} from '../../src/sandbox/bwrap.js';
import type { CgroupHandle } from '../../src/sandbox/cgroups.js';
import type { SandboxFeatures } from '../../src/sandbox/detect.js';
import {
  ARGS_FD,
  inSandbox,
  resolveCommand,
  SECCOMP_FD,
  sandboxBinds,
  shellQuote,
  wrapLaunch,
} from '../../src/sandbox/launch.js';

const base: BwrapOptions = {
  argv: ['/usr/bin/node', '--max-old-space-size=192', '/run/nimbus/runner/runner.bundle.mjs'],
  env: { PATH: '/usr/bin:/bin', HOME: '/tmp', NIMBUS_SOCKET: SANDBOX_SOCKET_PATH },
  bundleDir: '/var/lib/nimbus/bundles/abc',
  socketPath: '/tmp/nimbus-x/i1.sock',
  gatewaySocketPath: null,
  binds: [
    {
      host: '/srv/nimbus/dist/runtimes/node/runner.bundle.mjs',
      sandbox: '/run/nimbus/runner/runner.bundle.mjs',
    },
  ],
  resolvConf: null,
  infoFd: null,
  tmpSizeMb: 64,
  hostRoot: [
    { path: '/bin', symlink: 'usr/bin' },
    { path: '/lib', symlink: null },
  ],
  procMasks: ['/proc/timer_list'],
  tmpfsSize: true,
  clearEnv: true,
  disableUserns: true,
  seccompFd: null,
};

/** The values following each occurrence of `flag`, `arity` at a time. */
function valuesOf(args: string[], flag: string, arity = 1): string[][] {
  const out: string[][] = [];
  const end = args.indexOf('--');
  args.slice(0, end).forEach((arg, i) => {
    if (arg === flag) out.push(args.slice(i + 1, i + 1 + arity));
  });
  return out;
}

describe('bwrapArgs', () => {
  it('unshares every namespace, the network too, and drops capabilities', () => {
    const args = bwrapArgs(base);
    for (const flag of [
      '--unshare-user',
      '--unshare-pid',
      '--unshare-ipc',
      '--unshare-uts',
      '--unshare-net',
      '--unshare-cgroup-try',
      '--die-with-parent',
      '--new-session',
      '--disable-userns',
    ]) {
      assert.ok(args.includes(flag), flag);
    }
    assert.deepEqual(valuesOf(args, '--cap-drop'), [['ALL']]);
  });

  it('with egress: reports the sandbox on the info fd and binds the forwarder’s resolv.conf', () => {
    const args = bwrapArgs({ ...base, infoFd: 3, resolvConf: '/tmp/nimbus-x/resolv.conf' });
    assert.ok(args.includes('--unshare-net'), 'its own namespace all the same');
    assert.deepEqual(valuesOf(args, '--info-fd'), [['3']]);
    assert.deepEqual(
      valuesOf(args, '--ro-bind', 2).filter(([, dest]) => dest === '/etc/resolv.conf'),
      [['/tmp/nimbus-x/resolv.conf', '/etc/resolv.conf']],
    );
    assert.ok(!bwrapArgs(base).includes('--info-fd'));
    assert.ok(!bwrapArgs(base).includes('/etc/resolv.conf'), 'no network, no resolver');
  });

  it('ends with the command after --, working in /fn', () => {
    const args = bwrapArgs(base);
    assert.deepEqual(args.slice(args.indexOf('--') + 1), base.argv);
    assert.deepEqual(valuesOf(args, '--chdir'), [[SANDBOX_BUNDLE_DIR]]);
  });

  it('builds the environment from scratch', () => {
    const args = bwrapArgs(base);
    assert.ok(args.indexOf('--clearenv') < args.indexOf('--setenv'));
    assert.deepEqual(valuesOf(args, '--setenv', 2), Object.entries(base.env));
  });

  it('binds the bundle, the command files and only this instance’s socket, read-only', () => {
    const binds = valuesOf(bwrapArgs(base), '--ro-bind', 2);
    assert.deepEqual(
      binds.find(([, dest]) => dest === SANDBOX_BUNDLE_DIR),
      [base.bundleDir, SANDBOX_BUNDLE_DIR],
    );
    assert.deepEqual(
      binds.find(([, dest]) => dest === SANDBOX_SOCKET_PATH),
      [base.socketPath, SANDBOX_SOCKET_PATH],
    );
    for (const bind of base.binds)
      assert.ok(binds.some(([src, dest]) => src === bind.host && dest === bind.sandbox));
    // Nothing writable comes from the host, and the run dir (every instance's socket) is never bound.
    const args = bwrapArgs(base);
    assert.deepEqual(valuesOf(args, '--bind', 2), []);
    assert.deepEqual(valuesOf(args, '--dev-bind', 2), []);
    assert.ok(!args.includes('/tmp/nimbus-x'));
  });

  it('binds only listed files of /etc, never all of it', () => {
    const args = bwrapArgs(base);
    const etc = [...valuesOf(args, '--ro-bind', 2), ...valuesOf(args, '--ro-bind-try', 2)].filter(([src]) =>
      src!.startsWith('/etc'),
    );
    assert.ok(etc.length > 0);
    for (const [src] of etc) {
      assert.notEqual(src, '/etc');
      assert.ok(!/shadow|gshadow|passwd|sudoers|ssl\/private|^\/etc\/ssl$/.test(src!), src);
    }
    assert.ok(etc.some(([src]) => src === '/etc/hosts'));
  });

  it('recreates merged-/usr symlinks and binds real directories', () => {
    const args = bwrapArgs(base);
    assert.deepEqual(valuesOf(args, '--symlink', 2), [['usr/bin', '/bin']]);
    assert.ok(valuesOf(args, '--ro-bind-try', 2).some(([src, dest]) => src === '/lib' && dest === '/lib'));
    assert.ok(valuesOf(args, '--ro-bind', 2).some(([src]) => src === '/usr'));
  });

  it('gives a private, size-limited /tmp and seals the root read-only after the last mount', () => {
    const args = bwrapArgs(base);
    const tmp = args.indexOf('/tmp', args.indexOf('--tmpfs'));
    assert.deepEqual(args.slice(tmp - 3, tmp + 1), ['--size', String(64 * 1024 * 1024), '--tmpfs', '/tmp']);
    const sealed = args.lastIndexOf('--remount-ro');
    assert.equal(args[sealed + 1], '/');
    const lastMount = Math.max(
      ...['--ro-bind', '--ro-bind-try', '--tmpfs', '--proc', '--dev', '--symlink'].map((f) =>
        args.lastIndexOf(f, args.indexOf('--')),
      ),
    );
    assert.ok(sealed > lastMount);
    assert.ok(valuesOf(args, '--remount-ro').some(([d]) => d === '/dev'));
  });

  it('seals the parts of /proc that reach the host, and masks those that reveal it', () => {
    const args = bwrapArgs(base);
    const afterProc = args.slice(args.indexOf('--proc'));
    assert.ok(
      valuesOf(afterProc, '--ro-bind-try', 2).some(
        ([src, dest]) => src === '/proc/sys' && dest === '/proc/sys',
      ),
    );
    assert.ok(
      valuesOf(afterProc, '--ro-bind', 2).some(
        ([src, dest]) => src === '/dev/null' && dest === '/proc/timer_list',
      ),
    );
  });

  it('leaves out options an older bubblewrap lacks', () => {
    const args = bwrapArgs({ ...base, tmpfsSize: false, clearEnv: false, disableUserns: false });
    assert.ok(!args.includes('--size'));
    assert.ok(!args.includes('--clearenv'));
    assert.ok(!args.includes('--disable-userns'));
    assert.ok(args.includes('--tmpfs'));
  });

  it('loads a seccomp filter from the given fd', () => {
    assert.deepEqual(valuesOf(bwrapArgs({ ...base, seccompFd: 9 }), '--seccomp'), [['9']]);
    assert.ok(!bwrapArgs(base).includes('--seccomp'));
  });

  it('does not mistake an argument of the command for its own options', () => {
    const args = bwrapArgs({ ...base, argv: ['/bin/sh', '-c', 'echo --share-net'] });
    assert.ok(!args.slice(0, args.indexOf('--')).includes('--share-net'));
  });
});

describe('wrapLaunch', () => {
  const features = (over: Partial<SandboxFeatures>): SandboxFeatures => ({
    bwrap: { path: '/usr/bin/bwrap', version: '0.8.0', tmpfsSize: true, clearEnv: true, disableUserns: true },
    bwrapProblem: null,
    userNamespaces: true,
    unprivilegedUserNamespaces: true,
    egress: null,
    egressProblem: 'slirp4netns not found',
    seccomp: 'x86_64',
    cgroup: { version: 1, parents: { memory: '/sys/fs/cgroup/memory' }, controllers: ['memory'] },
    prlimitPath: '/usr/bin/prlimit',
    setprivPath: '/usr/bin/setpriv',
    shPath: '/bin/sh',
    hostRoot: [],
    procMasks: [],
    uid: 0,
    ...over,
  });
  const launch = { command: process.execPath, args: ['runner.mjs'], env: { PATH: '/usr/bin', HOME: '/tmp' } };
  const options = {
    bundleDir: '/data/bundles/abc',
    socketPath: '/run/nimbus-1/i1.sock',
    readOnlyPaths: ['/srv/runner.mjs'],
    limits: { memoryMb: 128, cpu: 0.5, maxProcesses: 32 },
    cgroup: null,
    seccompFilterPath: null,
  };
  const cgroup = {
    controllers: ['memory', 'pids'],
    procsFiles: ["/sys/fs/cgroup/memory/it's/cgroup.procs", '/sys/fs/cgroup/pids/x/cgroup.procs'],
  } as unknown as CgroupHandle;

  it('without bubblewrap: the same command with the same environment, and rlimits in front', () => {
    const w = wrapLaunch(launch, features({ bwrap: null, seccomp: null }), options);
    assert.equal(w.command, '/usr/bin/prlimit');
    assert.deepEqual(w.args.slice(w.args.indexOf('--') + 1), [process.execPath, 'runner.mjs']);
    assert.ok(w.args.includes(`--data=${128 * 1024 * 1024}`), 'memory falls back to RLIMIT_DATA');
    assert.ok(!w.args.some((a) => a.startsWith('--nproc')), 'NPROC would count every process of the user');
    assert.deepEqual(w.env, launch.env);
    assert.equal(w.bundleDir, options.bundleDir);
    assert.equal(w.isolation, 'none');
  });

  it('without anything: the launch unchanged', () => {
    const w = wrapLaunch(launch, features({ bwrap: null, seccomp: null, prlimitPath: null }), options);
    assert.deepEqual([w.command, ...w.args], [launch.command, ...launch.args]);
  });

  it('with bubblewrap: bwrap runs the command; the runner loads from /fn and sits at a fixed path', () => {
    const w = wrapLaunch({ ...launch, args: ['/srv/runner.mjs'] }, features({}), options);
    assert.equal(w.command, '/bin/sh', 'a shell first, to clear what bwrap itself would keep');
    assert.equal(w.args[3], '/usr/bin/bwrap');
    assert.equal(w.bundleDir, SANDBOX_BUNDLE_DIR);
    assert.equal(w.socketPath, SANDBOX_SOCKET_PATH);
    assert.ok(w.args.join('\0').includes(['--setenv', 'NIMBUS_SOCKET', SANDBOX_SOCKET_PATH].join('\0')));
    const runner = `${SANDBOX_RUNNER_DIR}/runner.mjs`;
    assert.ok(w.args.join('\0').includes(['--ro-bind', '/srv/runner.mjs', runner].join('\0')));
    assert.equal(w.args.at(-1), runner, 'the command line names the runner where the sandbox has it');
    assert.deepEqual(w.env, { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, 'no host path in bwrap’s own env');
  });

  it('binds what lies outside the system directories at fixed paths, whatever the install location', (t) => {
    const root = mkdtempSync('/var/tmp/nimbus-binds-test-');
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const prefix = join(root, 'python-3.12');
    mkdirSync(join(prefix, 'bin'), { recursive: true });
    writeFileSync(join(prefix, 'bin', 'python3'), '');
    writeFileSync(join(root, 'runner.py'), '');
    writeFileSync(join(root, 'other-runner.py'), '');
    mkdirSync(join(root, 'b'));
    writeFileSync(join(root, 'b', 'runner.py'), '');
    const binds = sandboxBinds(
      ['/usr/lib/x', join(root, 'runner.py'), join(root, 'b', 'runner.py'), prefix],
      join(prefix, 'bin', 'python3'),
    );
    assert.deepEqual(binds, [
      { host: prefix, sandbox: `${SANDBOX_RUNTIME_DIR}/python-3.12` },
      { host: join(root, 'runner.py'), sandbox: `${SANDBOX_RUNNER_DIR}/runner.py` },
      { host: join(root, 'b', 'runner.py'), sandbox: `${SANDBOX_RUNNER_DIR}/2-runner.py` },
    ]);
    assert.equal(
      inSandbox(join(prefix, 'bin', 'python3'), binds),
      `${SANDBOX_RUNTIME_DIR}/python-3.12/bin/python3`,
    );
    assert.equal(inSandbox('/usr/bin/python3', binds), '/usr/bin/python3');
    assert.equal(
      inSandbox(`${prefix}-other`, binds),
      `${prefix}-other`,
      'a prefix of a name is not a parent',
    );
  });

  it('hands bwrap its arguments through a file on fd 8, so the sandbox’s pid 1 names no host path', (t) => {
    const root = mkdtempSync('/var/tmp/nimbus-args-test-');
    t.after(() => rmSync(root, { recursive: true, force: true }));
    const argsFile = join(root, 'bwrap.args');
    const w = wrapLaunch(launch, features({}), { ...options, argsFile });
    assert.deepEqual(w.args.slice(3, 7), ['/usr/bin/bwrap', '--args', String(ARGS_FD), '--']);
    assert.deepEqual(w.args.slice(7).slice(-2), [process.execPath, 'runner.mjs'], 'the command stays');
    assert.match(w.args[1]!, new RegExp(`exec ${ARGS_FD}< '${argsFile}'`));
    const written = readFileSync(argsFile, 'utf8').split('\0');
    assert.equal(written.pop(), '', 'NUL-terminated');
    assert.ok(written.includes('--unshare-net'));
    assert.ok(written.includes(options.bundleDir));
  });

  it('joins the cgroups in a shell before exec, and opens the seccomp filter for bwrap', () => {
    const w = wrapLaunch(launch, features({}), {
      ...options,
      cgroup,
      seccompFilterPath: '/run/n/seccomp.bpf',
    });
    assert.equal(w.command, '/bin/sh');
    const [flag, script, name, next] = w.args;
    assert.equal(flag, '-c');
    assert.equal(name, 'nimbus-sandbox');
    assert.equal(next, '/usr/bin/bwrap');
    assert.equal(
      script,
      `echo $$ > ${shellQuote(cgroup.procsFiles[0]!)} && echo $$ > ${shellQuote(cgroup.procsFiles[1]!)} && ` +
        `cd / && unset PWD OLDPWD NIMBUS_SOCKET && exec ${SECCOMP_FD}< '/run/n/seccomp.bpf' && exec "$@"`,
    );
    assert.ok(w.args.join('\0').includes(['--seccomp', String(SECCOMP_FD)].join('\0')));
    // Memory and pids come from the cgroup, so no rlimit stands in for them.
    assert.ok(!w.args.some((a) => a.startsWith('--data') || a.startsWith('--nproc')));
  });

  it('drops to runAs with setpriv and then limits processes by RLIMIT_NPROC in the namespace', () => {
    const w = wrapLaunch(launch, features({ cgroup: { version: null, reason: 'none' } }), {
      ...options,
      runAs: { uid: 65534, gid: 65534 },
    });
    assert.deepEqual(w.args.slice(3, 7), [
      '/usr/bin/setpriv',
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
    ]);
    const inner = w.args.slice(w.args.indexOf('--') + 1);
    assert.equal(inner[0], '/usr/bin/prlimit');
    assert.ok(inner.includes('--nproc=32'));
  });

  it('without bubblewrap, runAs alone: setpriv runs the command as that user', () => {
    const w = wrapLaunch(launch, features({ bwrap: null, seccomp: null, prlimitPath: null }), {
      ...options,
      runAs: { uid: 65534, gid: 65534 },
    });
    assert.deepEqual(
      [w.command, ...w.args],
      [
        '/usr/bin/setpriv',
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        launch.command,
        ...launch.args,
      ],
    );
    assert.equal(w.isolation, 'user');
    assert.equal(w.bundleDir, options.bundleDir);
  });

  it('refuses runAs where it cannot be honoured', () => {
    assert.throws(
      () => wrapLaunch(launch, features({ setprivPath: null }), { ...options, runAs: { uid: 1, gid: 1 } }),
      /runAs/,
    );
  });

  it('finds a bare command on the instance PATH and binds it by its real path', () => {
    const w = wrapLaunch(
      { ...launch, command: 'sh', env: { PATH: '/nonexistent:/bin' } },
      features({}),
      options,
    );
    const inner = w.args.slice(w.args.indexOf('--') + 1);
    assert.equal(inner.at(-2), resolveCommand('sh', '/bin'));
    assert.ok(inner.at(-2)!.startsWith('/'));
    assert.throws(() => resolveCommand('no-such-command-here', '/bin'), /not on the instance PATH/);
  });

  it('quotes for the shell', () => {
    assert.equal(shellQuote("a'b c"), `'a'\\''b c'`);
  });
});
