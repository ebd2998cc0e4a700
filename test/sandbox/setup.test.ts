// Sandbox setup at start (sandbox: auto/required/off, sandboxRunAs), who may reach what, staging a bundle
// for an unprivileged sandbox user, and the platform config keys.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { parseFunctionSpec } from '../../src/config/function-spec.js';
import { configFromEnv, loadPlatformConfig } from '../../src/config/platform.js';
import type { NimbusError } from '../../src/errors.js';
import {
  checkListenAddress,
  gatewayUrlForInstances,
  setUpSandbox,
} from '../../src/instances/sandbox-setup.js';
import { SANDBOX_GATEWAY_PORT } from '../../src/sandbox/bwrap.js';
import type { SandboxFeatures } from '../../src/sandbox/detect.js';
import { NOBODY, resolveRunAs, unreachableBy } from '../../src/sandbox/run-as.js';
import { stageBundle } from '../../src/sandbox/stage.js';

const BWRAP_HOST: SandboxFeatures = Object.freeze({
  bwrap: { path: '/usr/bin/bwrap', version: '0.8.0', tmpfsSize: true, clearEnv: true, disableUserns: true },
  bwrapProblem: null,
  userNamespaces: true,
  unprivilegedUserNamespaces: true,
  egress: null,
  egressProblem: 'slirp4netns not found: apt install slirp4netns',
  seccomp: null,
  cgroup: { version: null, reason: 'none in this test' },
  prlimitPath: '/usr/bin/prlimit',
  setprivPath: '/usr/bin/setpriv',
  shPath: '/bin/sh',
  hostRoot: [],
  procMasks: [],
  uid: 0,
});
const BARE_HOST: SandboxFeatures = {
  ...BWRAP_HOST,
  bwrap: null,
  bwrapProblem: 'bwrap not found: apt install bubblewrap',
  userNamespaces: false,
  unprivilegedUserNamespaces: false,
};

function tempDir(t: TestContext): string {
  // Under /var/tmp: the mode bits of /tmp itself are not what is tested.
  const dir = mkdtempSync('/var/tmp/nimbus-setup-test-');
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('sandboxRunAs', () => {
  it('auto: nobody for a root platform with bubblewrap, setpriv and unprivileged user namespaces', () => {
    assert.deepEqual(resolveRunAs('auto', BWRAP_HOST), { runAs: NOBODY, note: null });
    assert.deepEqual(resolveRunAs('1000:1001', BWRAP_HOST).runAs, { uid: 1000, gid: 1001 });
    assert.deepEqual(resolveRunAs('1000', BWRAP_HOST).runAs, { uid: 1000, gid: 1000 });
    assert.deepEqual(resolveRunAs('off', BWRAP_HOST), { runAs: null, note: null });
  });

  it('auto falls back with a note where the host cannot; an explicit user it cannot honour is an error', () => {
    const noUserns = { ...BWRAP_HOST, unprivilegedUserNamespaces: false };
    assert.match(resolveRunAs('auto', noUserns).note!, /unprivileged user namespaces/);
    assert.equal(resolveRunAs('auto', noUserns).runAs, null);
    assert.throws(() => resolveRunAs('1000', noUserns), /unprivileged user namespaces/);
    // Without bubblewrap a root platform still drops to nobody (setpriv alone), and says so only if it cannot.
    assert.deepEqual(resolveRunAs('auto', BARE_HOST), { runAs: NOBODY, note: null });
    assert.match(resolveRunAs('auto', { ...BARE_HOST, setprivPath: null }).note!, /setpriv/);
    assert.throws(() => resolveRunAs('0', BWRAP_HOST), /root/);
    // Not root: already unprivileged, nothing to change and nothing to say.
    assert.deepEqual(resolveRunAs('auto', { ...BWRAP_HOST, uid: 1000 }), { runAs: null, note: null });
    assert.throws(
      () => resolveRunAs('1001', { ...BWRAP_HOST, uid: 1000 }),
      /only a platform running as root/,
    );
  });

  it('unreachableBy names the first directory or file the user cannot pass', (t) => {
    const root = tempDir(t);
    chmodSync(root, 0o755);
    const closed = join(root, 'closed');
    const open = join(root, 'open');
    mkdirSync(closed, { mode: 0o700 });
    mkdirSync(open);
    chmodSync(open, 0o711);
    writeFileSync(join(closed, 'file'), 'x');
    writeFileSync(join(open, 'readable'), 'x');
    writeFileSync(join(open, 'private'), 'x');
    chmodSync(join(open, 'readable'), 0o644);
    chmodSync(join(open, 'private'), 0o600);
    assert.equal(unreachableBy(join(closed, 'file'), NOBODY), closed);
    assert.equal(unreachableBy(join(open, 'readable'), NOBODY), null);
    assert.equal(unreachableBy(join(open, 'private'), NOBODY), join(open, 'private'));
    assert.equal(unreachableBy(open, NOBODY), open, 'listing needs read');
    assert.equal(unreachableBy(open, NOBODY, 'search'), null, 'passing through needs search only');
    assert.equal(unreachableBy(join(root, 'missing'), NOBODY), join(root, 'missing'));
  });
});

describe('setUpSandbox', () => {
  it('sandbox: off runs plain processes and says so', async (t) => {
    const setup = await setUpSandbox({ mode: 'off', runAs: 'auto', runDir: tempDir(t), requiredPaths: [] });
    assert.equal(setup.sandbox, null);
    assert.match(setup.summary, /^isolation: off/);
  });

  it('sandbox: required refuses to start without bubblewrap, with a coded error naming why', async (t) => {
    await assert.rejects(
      setUpSandbox({
        mode: 'required',
        runAs: 'auto',
        runDir: tempDir(t),
        requiredPaths: [],
        features: BARE_HOST,
      }),
      (err: NimbusError) => {
        assert.equal(err.code, 'ERR_SANDBOX_UNAVAILABLE');
        assert.match(err.message, /bwrap not found: apt install bubblewrap/);
        return true;
      },
    );
    const runDir = tempDir(t);
    const auto = await setUpSandbox({
      mode: 'auto',
      runAs: 'auto',
      runDir,
      requiredPaths: [],
      features: BARE_HOST,
    });
    assert.ok(
      auto.sandbox,
      'auto runs without bubblewrap: as an unprivileged user, limited as the host allows',
    );
    assert.equal(auto.isolation, 'user');
    assert.deepEqual(auto.runAs, NOBODY);
    assert.match(auto.summary, /^isolation: an unprivileged host user only, no namespaces \(bwrap not found/);
    assert.equal(statSync(runDir).mode & 0o777, 0o710);
    assert.equal(statSync(runDir).gid, NOBODY.gid, 'passable by the sandbox user’s group alone');
  });

  it('no bubblewrap and no way to drop privileges: instances refuse to start, and only loopback is served', async (t) => {
    const laptop = { ...BARE_HOST, uid: 1000 };
    const setup = await setUpSandbox({
      mode: 'auto',
      runAs: 'auto',
      runDir: tempDir(t),
      requiredPaths: [],
      features: laptop,
    });
    assert.equal(setup.isolation, 'none');
    assert.match(setup.summary, /instances will not start: .*Nimbus does not run as root.*--sandbox off/);
    const shape = {
      memoryMb: 64,
      command: process.execPath,
      args: [],
      env: {},
      network: true,
      cpu: null,
      maxProcesses: 16,
      readOnlyPaths: [],
    };
    assert.throws(
      () => setup.sandbox!.prepare('i1', 'k', shape),
      (err: NimbusError) => {
        assert.equal(err.code, 'ERR_SANDBOX_NONE');
        assert.match(err.message, /admin token/);
        return true;
      },
    );
    assert.throws(() => checkListenAddress(setup, '0.0.0.0'), { code: 'ERR_SANDBOX_PUBLIC_UNISOLATED' });
    assert.throws(() => checkListenAddress(setup, '192.0.2.7'), { code: 'ERR_SANDBOX_PUBLIC_UNISOLATED' });
    for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost'])
      assert.doesNotThrow(() => checkListenAddress(setup, host), host);
    // Isolated instances may serve any address.
    const isolated = await setUpSandbox({
      mode: 'auto',
      runAs: 'auto',
      runDir: tempDir(t),
      requiredPaths: [],
      features: BARE_HOST,
    });
    assert.doesNotThrow(() => checkListenAddress(isolated, '0.0.0.0'));
  });

  it('runAs auto drops to none (and says why) when a file every instance needs is out of its reach', async (t) => {
    const runDir = tempDir(t);
    const hidden = join(tempDir(t), 'runner.mjs');
    writeFileSync(hidden, '');
    chmodSync(join(hidden, '..'), 0o700);
    const setup = await setUpSandbox({
      mode: 'auto',
      runAs: 'auto',
      runDir,
      requiredPaths: [hidden],
      features: BWRAP_HOST,
    });
    assert.equal(setup.runAs, null);
    assert.match(setup.summary, /keep the platform's root user .* not reachable by uid 65534/);
    assert.equal(statSync(runDir).mode & 0o777, 0o700, 'the run dir is closed again');
    await assert.rejects(
      setUpSandbox({ mode: 'auto', runAs: '65534', runDir, requiredPaths: [hidden], features: BWRAP_HOST }),
      { code: 'ERR_CONFIG_INVALID' },
    );
    const reachable = await setUpSandbox({
      mode: 'auto',
      runAs: 'auto',
      runDir,
      requiredPaths: [],
      features: BWRAP_HOST,
    });
    assert.deepEqual(reachable.runAs, NOBODY);
    assert.equal(statSync(runDir).mode & 0o777, 0o710, 'the sandbox user may pass through the run dir');
    assert.equal(statSync(runDir).gid, NOBODY.gid);
    assert.match(reachable.summary, /unprivileged host user/);
  });
});

describe('gatewayUrlForInstances', () => {
  it('a sandbox reaches the gateway through its runner’s forwarder on its own loopback, others on the host’s', () => {
    const inside = `http://127.0.0.1:${SANDBOX_GATEWAY_PORT}`;
    for (const url of [
      'http://0.0.0.0:8080',
      'http://[::]:8080',
      'http://127.0.0.1:8080',
      'http://10.1.2.3:8080',
    ])
      assert.equal(gatewayUrlForInstances(url, 'bubblewrap'), inside);
    assert.equal(gatewayUrlForInstances('http://0.0.0.0:8080', 'user'), 'http://127.0.0.1:8080');
    assert.equal(gatewayUrlForInstances('http://[::]:8080', 'off'), 'http://[::1]:8080');
    assert.equal(gatewayUrlForInstances('http://10.1.2.3:8080', 'none'), 'http://10.1.2.3:8080');
  });
  it('the Python runner forwards the same port as the Node runners', () => {
    const runner = readFileSync(new URL('../../src/runtimes/python/runner.py', import.meta.url), 'utf8');
    assert.match(runner, new RegExp(`^GATEWAY_PORT = ${SANDBOX_GATEWAY_PORT}$`, 'm'));
  });
});

describe('stageBundle', () => {
  it('links files where only the platform reaches them, copies them read-only for a runAs user, never a setuid bit', (t) => {
    const root = tempDir(t);
    const bundle = join(root, 'bundle');
    mkdirSync(join(bundle, 'lib'), { recursive: true, mode: 0o700 });
    writeFileSync(join(bundle, 'index.mjs'), 'export default 1;');
    chmodSync(join(bundle, 'index.mjs'), 0o644);
    writeFileSync(join(bundle, 'lib', 'secret.json'), '{}');
    chmodSync(join(bundle, 'lib', 'secret.json'), 0o600);
    writeFileSync(join(bundle, 'run.sh'), '#!/bin/sh\n');
    chmodSync(join(bundle, 'run.sh'), 0o700);
    // As an older store may hold one: never staged with the bit, never shared as the same inode.
    writeFileSync(join(bundle, 'helper'), 'ELF');
    chmodSync(join(bundle, 'helper'), 0o4755);

    const linked = join(root, 'fn-linked');
    stageBundle(bundle, linked);
    const ino = (dir: string, rel: string): number => statSync(join(dir, rel)).ino;
    assert.equal(ino(linked, 'index.mjs'), ino(bundle, 'index.mjs'), 'hard-linked');
    assert.equal(ino(linked, 'lib/secret.json'), ino(bundle, 'lib/secret.json'));
    assert.notEqual(ino(linked, 'helper'), ino(bundle, 'helper'));
    assert.equal(statSync(join(linked, 'helper')).mode & 0o7777, 0o555, 'no setuid bit, still executable');

    const copied = join(root, 'fn-copied');
    stageBundle(bundle, copied, { copy: true });
    for (const rel of ['index.mjs', 'lib/secret.json', 'run.sh', 'helper'])
      assert.notEqual(ino(copied, rel), ino(bundle, rel), `${rel} is a copy`);
    assert.equal(statSync(join(copied, 'lib', 'secret.json')).mode & 0o7777, 0o444);
    assert.equal(statSync(join(copied, 'run.sh')).mode & 0o7777, 0o555, 'still executable');
    assert.equal(statSync(join(copied, 'lib')).mode & 0o777, 0o755);
    assert.equal(statSync(join(bundle, 'lib', 'secret.json')).mode & 0o777, 0o600, 'the bundle is unchanged');
    assert.equal(statSync(join(bundle, 'helper')).mode & 0o7777, 0o4755, 'the bundle is unchanged');
  });
});

describe('config', () => {
  it('sandbox, sandboxRunAs and the function spec’s network, cpu and maxProcesses', () => {
    const config = loadPlatformConfig({});
    assert.equal(config.sandbox, 'auto');
    assert.equal(config.sandboxRunAs, 'auto');
    assert.equal(loadPlatformConfig(configFromEnv({ NIMBUS_SANDBOX: 'required' })).sandbox, 'required');
    assert.throws(() => loadPlatformConfig({ sandbox: 'sometimes' as 'auto' }), /sandbox/);
    assert.throws(() => loadPlatformConfig({ sandboxRunAs: 'root' }), /sandboxRunAs/);
    const spec = parseFunctionSpec({});
    assert.equal(spec.network, true);
    assert.equal(spec.cpu, undefined);
    assert.equal(spec.maxProcesses, 64);
    assert.throws(() => parseFunctionSpec({ maxProcesses: 8 }), /maxProcesses/);
    assert.equal(parseFunctionSpec({ cpu: 0.5, network: false }).cpu, 0.5);
  });
});
