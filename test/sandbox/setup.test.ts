// Sandbox setup at start (sandbox: auto/required/off, sandboxRunAs), who may reach what, staging a bundle
// for an unprivileged sandbox user, and the platform config keys.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { parseFunctionSpec } from '../../src/config/function-spec.js';
import { configFromEnv, loadPlatformConfig } from '../../src/config/platform.js';
import type { NimbusError } from '../../src/errors.js';
import { setUpSandbox } from '../../src/instances/sandbox-setup.js';
import type { SandboxFeatures } from '../../src/sandbox/detect.js';
import { NOBODY, resolveRunAs, unreachableBy } from '../../src/sandbox/run-as.js';
import { stageBundle } from '../../src/sandbox/stage.js';

const BWRAP_HOST: SandboxFeatures = Object.freeze({
  bwrap: { path: '/usr/bin/bwrap', version: '0.8.0', tmpfsSize: true, clearEnv: true, disableUserns: true },
  bwrapProblem: null,
  userNamespaces: true,
  unprivilegedUserNamespaces: true,
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
    assert.match(resolveRunAs('auto', BARE_HOST).note!, /bubblewrap/);
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
    const auto = await setUpSandbox({
      mode: 'auto',
      runAs: 'auto',
      runDir: tempDir(t),
      requiredPaths: [],
      features: BARE_HOST,
    });
    assert.ok(auto.sandbox, 'auto runs without bubblewrap, scrubbed and limited as the host allows');
    assert.match(auto.summary, /^isolation: none \(bwrap not found/);
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
    assert.equal(statSync(runDir).mode & 0o777, 0o711, 'the sandbox user may pass through the run dir');
    assert.match(reachable.summary, /unprivileged host user/);
  });
});

describe('stageBundle for an unprivileged sandbox user', () => {
  it('links readable files, copies (and opens up) files only their owner could read, never changing the bundle', (t) => {
    const root = tempDir(t);
    const bundle = join(root, 'bundle');
    mkdirSync(join(bundle, 'lib'), { recursive: true, mode: 0o700 });
    writeFileSync(join(bundle, 'index.mjs'), 'export default 1;');
    chmodSync(join(bundle, 'index.mjs'), 0o644);
    writeFileSync(join(bundle, 'lib', 'secret.json'), '{}');
    chmodSync(join(bundle, 'lib', 'secret.json'), 0o600);
    writeFileSync(join(bundle, 'run.sh'), '#!/bin/sh\n');
    chmodSync(join(bundle, 'run.sh'), 0o700);
    const staged = join(root, 'fn');
    stageBundle(bundle, staged, { worldReadable: true });
    assert.equal(
      statSync(join(staged, 'index.mjs')).ino,
      statSync(join(bundle, 'index.mjs')).ino,
      'hard-linked',
    );
    assert.notEqual(
      statSync(join(staged, 'lib', 'secret.json')).ino,
      statSync(join(bundle, 'lib', 'secret.json')).ino,
    );
    assert.equal(statSync(join(staged, 'lib', 'secret.json')).mode & 0o777, 0o444);
    assert.equal(statSync(join(staged, 'run.sh')).mode & 0o777, 0o555, 'still executable');
    assert.equal(statSync(join(staged, 'lib')).mode & 0o777, 0o755);
    assert.equal(statSync(join(bundle, 'lib', 'secret.json')).mode & 0o777, 0o600, 'the bundle is unchanged');
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
