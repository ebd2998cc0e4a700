// Real bubblewrap runs: what a sandboxed process can see, reach, write, keep alive and call.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { SANDBOX_SOCKET_PATH } from '../../src/sandbox/bwrap.js';
import { writeSeccompFilter } from '../../src/sandbox/seccomp.js';
import {
  features,
  killGroup,
  LAUNCH_ENV,
  NOBODY,
  noBwrap,
  runSandboxed,
  sandboxedJson,
  scratch,
  startSandboxed,
  waitForEgress,
} from './helpers.js';

/** Host pids whose command line contains `marker`. */
function hostProcessesWith(marker: string): number[] {
  const found: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(marker)) found.push(Number(name));
    } catch {}
  }
  return found;
}

async function waitFor(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return condition();
}

describe('bubblewrap sandbox', { skip: noBwrap ?? false }, () => {
  it('shows the function its own bundle and nothing of the platform or other functions', async (t) => {
    const s = await scratch(t);
    const otherSocket = join(s.runDir, 'i2.sock');
    const other = createServer().listen(otherSocket);
    await once(other, 'listening');
    t.after(() => other.close());
    const paths = {
      ownBundle: '/fn/index.mjs',
      secret: s.secretFile,
      dataDir: s.dataDir,
      otherBundle: join(s.otherBundleDir, 'index.mjs'),
      otherSocket,
      runDir: s.runDir,
      shadow: '/etc/shadow',
      passwd: '/etc/passwd',
      sslPrivate: '/etc/ssl/private',
      rootHome: '/root',
      repo: join(process.cwd(), 'package.json'),
      hostEnviron: `/proc/${process.pid}/environ`,
      sys: '/sys/fs/cgroup',
      home: '/home',
    };
    const seen = await sandboxedJson<Record<string, string>>(
      t,
      s,
      `const fs = require('fs'); const out = {};
       for (const [k, p] of Object.entries(${JSON.stringify(paths)})) {
         try { fs.readFileSync(p); out[k] = 'readable'; } catch (e) { out[k] = e.code; }
       }
       console.log(JSON.stringify(out));`,
    );
    assert.equal(seen.ownBundle, 'readable');
    for (const [key, result] of Object.entries(seen)) {
      if (key !== 'ownBundle') assert.equal(result, 'ENOENT', `${key} (${paths[key as keyof typeof paths]})`);
    }
  });

  it('hides host processes: no host pid is visible or signalable', async (t) => {
    const s = await scratch(t);
    const seen = await sandboxedJson<{ pids: number[]; ppid: number; kill: string; ptraceTarget: boolean }>(
      t,
      s,
      `const fs = require('fs');
       let kill = 'sent'; try { process.kill(${process.pid}, 'SIGTERM'); } catch (e) { kill = e.code; }
       console.log(JSON.stringify({
         pids: fs.readdirSync('/proc').filter((n) => /^\\d+$/.test(n)).map(Number),
         ppid: process.ppid, kill, ptraceTarget: fs.existsSync('/proc/${process.pid}/mem'),
       }));`,
    );
    assert.ok(Math.max(...seen.pids) < 10, `sandbox pids: ${seen.pids}`);
    assert.equal(seen.ppid, 1);
    assert.equal(seen.kill, 'ESRCH');
    assert.equal(seen.ptraceTarget, false);
  });

  it('builds the environment from scratch: nothing the spawner adds leaks in', async (t) => {
    const s = await scratch(t);
    const env = await sandboxedJson<Record<string, string>>(
      t,
      s,
      'console.log(JSON.stringify(process.env))',
      {
        spawnEnv: { NIMBUS_ADMIN_TOKEN: 'leaked', NIMBUS_SOCKET: s.socketPath },
      },
    );
    // bwrap sets PWD for --chdir.
    assert.deepEqual(env, { ...LAUNCH_ENV, NIMBUS_SOCKET: SANDBOX_SOCKET_PATH, PWD: '/fn' });
  });

  it('connects to its own socket and to no other instance’s', async (t) => {
    const s = await scratch(t);
    const accepted = once(s.server, 'connection');
    const r = await runSandboxed(t, s, {
      code: `const net = require('net');
       const c = net.connect(process.env.NIMBUS_SOCKET, () => { console.log('connected'); c.destroy(); });
       c.on('error', (e) => { console.log(e.code); process.exitCode = 1; });`,
      network: false,
    });
    assert.equal(r.stdout.trim(), 'connected', r.stderr);
    const [socket] = (await accepted) as [Socket];
    socket.destroy();
  });

  it('has its own network namespace either way: the host’s 127.0.0.1 is out of reach, egress is not', async (t) => {
    const s = await scratch(t);
    const host = createServer((c) => c.end('host')).listen(0, '0.0.0.0');
    await once(host, 'listening');
    t.after(() => host.close());
    const port = (host.address() as { port: number }).port;
    // The host's own address on its default route: reached from outside the namespace, as any peer would.
    const outside = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    const probe = (address: string) => `
       const net = require('net'), os = require('os');
       const c = net.connect(${port}, ${JSON.stringify(address)});
       const done = (reach) => console.log(JSON.stringify({ ifaces: Object.keys(os.networkInterfaces()).sort(), reach }));
       c.setTimeout(3000, () => { c.destroy(); done('timeout'); });
       c.on('data', (d) => { done(String(d)); c.destroy(); });
       c.on('error', (e) => done(e.code));`;
    const off = await sandboxedJson<{ ifaces: string[]; reach: string }>(t, s, probe('127.0.0.1'));
    assert.deepEqual(off.ifaces, ['lo']);
    assert.equal(off.reach, 'ECONNREFUSED');
    if (!features.egress) return t.skip(`no egress to test: ${features.egressProblem}`);
    const onLoopback = await sandboxedJson<{ ifaces: string[]; reach: string }>(
      t,
      s,
      waitForEgress(probe('127.0.0.1')),
      { network: true },
    );
    assert.deepEqual(onLoopback.ifaces, ['lo', 'tap0']);
    assert.equal(onLoopback.reach, 'ECONNREFUSED', 'its own loopback, not the host’s');
    // slirp4netns's alias of the host's loopback is refused too.
    const onAlias = await sandboxedJson<{ reach: string }>(t, s, waitForEgress(probe('10.0.2.2')), {
      network: true,
    });
    assert.notEqual(onAlias.reach, 'host');
    assert.ok(outside, 'the host has an address besides loopback');
    const onOutside = await sandboxedJson<{ reach: string }>(t, s, waitForEgress(probe(outside!)), {
      network: true,
    });
    assert.equal(onOutside.reach, 'host', 'egress reaches what listens beyond loopback');
  });

  it('writes only to its own size-limited /tmp', async (t) => {
    const s = await scratch(t);
    const seen = await sandboxedJson<Record<string, string>>(
      t,
      s,
      `const fs = require('fs'); const out = {};
       for (const p of ['/fn/x', '/x', '/usr/x', '/etc/x', '/run/nimbus/x', '/dev/x', '/proc/sys/kernel/hostname', '/tmp/x']) {
         try { fs.writeFileSync(p, 'x'); out[p] = 'written'; } catch (e) { out[p] = e.code; }
       }
       try { fs.writeFileSync('/tmp/big', Buffer.alloc(17 * 1024 * 1024)); out.big = 'written'; } catch (e) { out.big = e.code; }
       console.log(JSON.stringify(out));`,
      { tmpSizeMb: 16 },
    );
    assert.equal(seen['/tmp/x'], 'written');
    if (features.bwrap?.tmpfsSize) assert.equal(seen.big, 'ENOSPC');
    for (const [path, result] of Object.entries(seen)) {
      if (path !== '/tmp/x' && path !== 'big') assert.match(result, /^(EROFS|EACCES|ENOENT|EPERM)$/, path);
    }
    assert.equal(existsSync(join(s.bundleDir, 'x')), false);
  });

  it('cannot change the host kernel’s settings or read its process timers through /proc', async (t) => {
    const s = await scratch(t);
    const sysctls = [
      '/proc/sys/kernel/printk_ratelimit',
      '/proc/sys/vm/overcommit_memory',
      '/proc/sys/fs/file-max',
    ];
    const seen = await sandboxedJson<{
      open: Record<string, string>;
      masked: Record<string, number | string>;
    }>(
      t,
      s,
      `const fs = require('fs'); const open = {}, masked = {};
       // Opening for writing writes nothing: it only asks whether a write would be allowed.
       for (const p of ${JSON.stringify(sysctls)}) {
         try { fs.closeSync(fs.openSync(p, 'r+')); open[p] = 'writable'; } catch (e) { open[p] = e.code; }
       }
       // Masked by a nodev bind of /dev/null: reading fails or yields nothing.
       for (const p of ${JSON.stringify(features.procMasks)}) {
         try { masked[p] = fs.readFileSync(p).length; } catch (e) { masked[p] = e.code; }
       }
       console.log(JSON.stringify({ open, masked }));`,
    );
    for (const path of sysctls) assert.match(seen.open[path]!, /^(EROFS|EACCES)$/, path);
    assert.ok(features.procMasks.length > 0 || !existsSync('/proc/timer_list'));
    for (const [path, result] of Object.entries(seen.masked))
      assert.ok(result === 0 || result === 'EACCES', path);
  });

  it('has no capabilities and no new privileges', async (t) => {
    const s = await scratch(t);
    const status = (
      await sandboxedJson<{ status: string }>(
        t,
        s,
        `console.log(JSON.stringify({ status: require('fs').readFileSync('/proc/self/status', 'utf8') }))`,
      )
    ).status;
    assert.match(status, /^CapEff:\s+0+$/m);
    assert.match(status, /^CapBnd:\s+0+$/m);
    assert.match(status, /^NoNewPrivs:\s+1$/m);
  });

  it('takes daemonised grandchildren down with the instance', async (t) => {
    const s = await scratch(t);
    const marker = `${4000 + Math.floor(Math.random() * 1000)}.${process.pid}`;
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => {
      ready = resolve;
    });
    const { child, result } = startSandboxed(t, s, {
      argv: [
        '/bin/sh',
        '-c',
        `setsid sleep ${marker} </dev/null >/dev/null 2>&1 & sleep 0.2; echo ready; sleep 600`,
      ],
      onStdout: (text) => {
        if (text.includes('ready')) ready();
      },
    });
    await isReady;
    assert.equal(hostProcessesWith(`sleep\0${marker}`).length, 1, 'the grandchild runs');
    killGroup(child);
    await result;
    assert.ok(
      await waitFor(() => hostProcessesWith(`sleep\0${marker}`).length === 0, 30_000),
      'grandchild survived',
    );
  });

  it('refuses blocked syscalls under the seccomp filter (and only under it)', async (t) => {
    if (!features.seccomp) return t.skip(`no seccomp filter for ${process.arch}`);
    if (!existsSync('/usr/bin/perl')) return t.skip('perl (used to make raw syscalls) is not installed');
    const s = await scratch(t);
    const filter = writeSeccompFilter(s.runDir, features.seccomp);
    if (features.seccomp !== 'x86_64') return t.skip('the syscall numbers below are x86_64');
    // keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0); ptrace(PTRACE_ATTACH, <no such pid>)
    // (never a real pid: an attach would stop it); unshare(CLONE_NEWUSER); clone3(NULL, 0): the errno of each.
    const script =
      'for ([keyctl => 250, 0, -3, 0], [ptrace => 101, 16, 999999, 0, 0], [unshare => 272, 0x10000000], [clone3 => 435, 0, 0], [bpf => 321, 0, 0, 0], [getpid => 39]) ' +
      '{ my ($n, $nr, @a) = @$_; $! = 0; my $r = syscall($nr, @a); printf "%s=%s\\n", $n, $r == -1 ? ($!+0) : "ok"; }';
    const parse = (out: string): Record<string, string> =>
      Object.fromEntries(
        out
          .trim()
          .split('\n')
          .map((l) => l.split('=') as [string, string]),
      );
    const filtered = await runSandboxed(t, s, {
      argv: ['/usr/bin/perl', '-e', script],
      seccompFilterPath: filter,
    });
    const open = await runSandboxed(t, s, { argv: ['/usr/bin/perl', '-e', script] });
    const EPERM = '1';
    const ENOSYS = '38';
    assert.deepEqual(parse(filtered.stdout), {
      keyctl: EPERM,
      ptrace: EPERM,
      unshare: EPERM,
      clone3: ENOSYS,
      bpf: EPERM,
      getpid: 'ok',
    });
    const unfiltered = parse(open.stdout);
    assert.equal(unfiltered.keyctl, 'ok', 'keyctl works without the filter: the filter is what refuses it');
    assert.equal(
      unfiltered.ptrace,
      '3',
      'ptrace gets as far as looking for the pid (ESRCH) without the filter',
    );
    assert.equal(unfiltered.getpid, 'ok');
    // A child the function spawns inherits the filter.
    const child = await runSandboxed(t, s, {
      code: `console.log(require('child_process').execFileSync('/usr/bin/perl', ['-e', 'syscall(250, 0, -3, 0); print $!+0']).toString())`,
      seccompFilterPath: filter,
    });
    assert.equal(child.stdout.trim(), EPERM, child.stderr);
    // And node itself still works under it: spawn (clone3 → ENOSYS → clone) and fs.
    const node = await runSandboxed(t, s, {
      code: `require('fs').writeFileSync('/tmp/a', 'x'); console.log(require('child_process').execFileSync('/bin/echo', ['spawned']).toString().trim())`,
      seccompFilterPath: filter,
    });
    assert.equal(node.stdout.trim(), 'spawned', node.stderr);
  });

  it('runs as an unprivileged host user with runAs', async (t) => {
    if (features.uid !== 0)
      return t.skip('runAs is for a root platform; this test runs unprivileged already');
    if (!features.unprivilegedUserNamespaces || !features.setprivPath) {
      return t.skip('unprivileged user namespaces or setpriv unavailable');
    }
    const s = await scratch(t, { world: true });
    const marker = `${5000 + Math.floor(Math.random() * 1000)}.${process.pid}`;
    let ready!: () => void;
    const isReady = new Promise<void>((resolve) => {
      ready = resolve;
    });
    const accepted = once(s.server, 'connection');
    const { child, result } = startSandboxed(t, s, {
      argv: [
        process.execPath,
        '-e',
        `require('net').connect(process.env.NIMBUS_SOCKET, () => console.log('ready')); setTimeout(() => {}, 60000)`,
        marker,
      ],
      runAs: { uid: NOBODY, gid: NOBODY },
      onStdout: (text) => {
        if (text.includes('ready')) ready();
      },
    });
    await Promise.race([isReady, result.then((r) => assert.fail(`exited early: ${r.stderr}`))]);
    const [socket] = (await accepted) as [Socket];
    t.after(() => socket.destroy());
    const [pid] = hostProcessesWith(marker).filter((p) =>
      readFileSync(`/proc/${p}/cmdline`, 'utf8').startsWith(`${process.execPath}\0`),
    );
    assert.ok(pid, 'the sandboxed node is visible on the host');
    assert.match(
      readFileSync(`/proc/${pid}/status`, 'utf8'),
      new RegExp(`^Uid:\\s+${NOBODY}\\s+${NOBODY}`, 'm'),
    );
    killGroup(child);
    await result;
  });
});
