// Escape attempts from inside real sandboxed functions deployed through the real gateway: the platform's
// data dir, SQLite file and admin token, another function's bundle, /etc/shadow, the platform's /proc,
// writes outside /tmp, signals and ptrace on the platform, and its control API over the network.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { findExecutable, INSTANCE_PATH } from '../../src/runtimes/runtime.js';
import { features, json, noSandbox, startSecurePlatform } from './helpers.js';

interface Probe {
  reads: Record<string, string>;
  writes: Record<string, string>;
  tmpFill: string;
  signals: { zero: string; term: string };
  socket: string;
  env: Record<string, string>;
  tokenInFiles: string[];
  tokenInInitEnviron: boolean;
  uid: number;
  capEff: string;
  cwd: string;
  root: string[];
}

/** Errors that mean "not there or not allowed". */
const REFUSED = new Set(['ENOENT', 'EACCES', 'EPERM', 'EROFS', 'ENOTDIR']);

describe('a function cannot get out of its sandbox', { skip: noSandbox ?? false }, () => {
  it('cannot read the platform’s files, another bundle, /etc/shadow or the platform’s /proc; cannot write outside /tmp', async (t) => {
    const nimbus = await startSecurePlatform(t);
    const { dataDir, platform } = nimbus;
    // Another function's bundle in the artifact store.
    const otherBundle = join(platform.artifacts.dir, readdirSync(platform.artifacts.dir)[0]!);
    const paths = {
      DATA_DIR: dataDir,
      DB_FILE: join(dataDir, 'nimbus.db'),
      TOKEN_FILE: join(dataDir, 'admin-token'),
      OTHER_BUNDLE: otherBundle,
      RUN_DIR: platform.launcher.runDir,
      PLATFORM_PID: String(process.pid),
    };
    assert.equal(
      readFileSync(paths.TOKEN_FILE, 'utf8').trim(),
      platform.token,
      'the token file is where we look',
    );
    await nimbus.deploy('hostile', 'hostile', { environment: paths });

    const probe = await json<Probe>(
      await fetch(`${nimbus.url}/function/hostile/probe`, {
        method: 'POST',
        body: JSON.stringify({ token: platform.token }),
      }),
    );
    for (const [path, outcome] of Object.entries(probe.reads)) {
      assert.ok(REFUSED.has(outcome), `reading ${path} must fail, got: ${outcome}`);
    }
    for (const [path, outcome] of Object.entries(probe.writes)) {
      if (path === '/tmp/new-file') assert.equal(outcome, 'written', 'its own /tmp is writable');
      else assert.ok(REFUSED.has(outcome), `writing ${path} must fail, got: ${outcome}`);
    }
    assert.equal(probe.tmpFill, 'ENOSPC', '/tmp is size-limited');
    assert.deepEqual(
      probe.signals,
      { zero: 'ESRCH', term: 'ESRCH' },
      'the platform’s pid does not exist inside',
    );
    assert.ok(REFUSED.has(probe.socket) || probe.socket === 'ECONNREFUSED', `socket: ${probe.socket}`);

    // The token is nowhere inside: not in its environment, files, or the sandbox's init.
    assert.deepEqual(probe.tokenInFiles, []);
    assert.equal(probe.tokenInInitEnviron, false);
    assert.ok(!JSON.stringify(probe.env).includes(platform.token));
    // Built from scratch: the runtime's base, the function's own variables, and bwrap's PWD.
    const allowed = new Set(['HOME', 'LANG', 'NODE_ENV', 'PATH', 'TMPDIR', 'PWD', 'NIMBUS_SOCKET']);
    // What the platform gives every function on purpose (platform-env.ts): the gateway and its own key.
    for (const given of [
      'NIMBUS_URL',
      'NIMBUS_KEY',
      'AWS_ACCESS_KEY_ID',
      'AWS_SECRET_ACCESS_KEY',
      'AWS_ENDPOINT_URL_LAMBDA',
      '__OW_API_HOST',
      '__OW_API_KEY',
      '__OW_NAMESPACE',
      '__OW_ACTION_NAME',
      '__OW_ACTION_VERSION',
      // Lambda's variables (docs/runtimes.md), set by the platform and the node runner.
      'AWS_REGION',
      'AWS_DEFAULT_REGION',
      'AWS_LAMBDA_FUNCTION_NAME',
      'AWS_LAMBDA_FUNCTION_VERSION',
      'AWS_LAMBDA_FUNCTION_MEMORY_SIZE',
      'AWS_LAMBDA_LOG_GROUP_NAME',
      'AWS_LAMBDA_LOG_STREAM_NAME',
      'AWS_EXECUTION_ENV',
      'LAMBDA_TASK_ROOT',
      '_HANDLER',
      'TZ',
    ])
      allowed.add(given);
    const foreign = Object.keys(probe.env).filter((k) => !allowed.has(k) && !Object.hasOwn(paths, k));
    assert.deepEqual(foreign, [], 'nothing of the platform’s environment');
    assert.equal(probe.capEff, '0000000000000000', 'no capabilities');
    assert.equal(probe.cwd, '/fn');
    // /var is there only for the secrets mount (/var/openfaas/secrets): the reads above show none of the host's.
    assert.ok(!probe.root.includes('home') && !probe.root.includes('root'), `${probe.root}`);
    await nimbus.assertServing();
  });

  it('cannot signal or ptrace the platform process (node and python alike)', async (t) => {
    // ptrace goes through ctypes: python3 from the host's /usr, as the python runtime runs it.
    if (!findExecutable('python3', INSTANCE_PATH)) return t.skip(`no python3 on ${INSTANCE_PATH}`);
    const nimbus = await startSecurePlatform(t);
    const environment = {
      PLATFORM_PID: String(process.pid),
      DATA_DIR: nimbus.dataDir,
      TOKEN_FILE: join(nimbus.dataDir, 'admin-token'),
    };
    await Promise.all([
      nimbus.deploy('hostile', 'hostile', { environment }),
      nimbus.deploy('hostile-python', 'hostile-py', { environment }),
    ]);
    // node: PTRACE_SEIZE through python3 in a child process; the seccomp filter refuses ptrace outright.
    const traced = await fetch(`${nimbus.url}/function/hostile/ptrace?pid=${process.pid}`);
    assert.equal(traced.status, 200);
    assert.equal(await traced.text(), features.seccomp ? 'EPERM' : 'ESRCH');

    const py = await json<{ reads: Record<string, string>; ptrace: string; signal: string; cwd: string }>(
      await fetch(`${nimbus.url}/function/hostile-py`),
    );
    assert.equal(py.ptrace, features.seccomp ? 'EPERM' : 'ESRCH');
    assert.equal(py.signal, 'ESRCH');
    for (const [path, outcome] of Object.entries(py.reads))
      assert.ok(REFUSED.has(outcome), `python reading ${path} must fail, got: ${outcome}`);
    assert.equal(py.cwd, '/fn');

    // Nothing attached to us, nothing stopped.
    const status = readFileSync('/proc/self/status', 'utf8');
    assert.match(status, /^TracerPid:\s+0$/m);
    await nimbus.assertServing();
  });

  it('network off or on, the host’s 127.0.0.1 (the gateway’s) is out of reach; on, the world is not', async (t) => {
    const nimbus = await startSecurePlatform(t);
    const environment = { GATEWAY_URL: nimbus.url };
    await Promise.all([
      nimbus.deploy('hostile', 'offline', { environment, network: false }),
      nimbus.deploy('hostile', 'online', { environment, network: true }),
    ]);
    type Net = { controlNoToken: string; controlWrongToken: string; hello: string; outside: string };
    const offline = await json<Net>(await fetch(`${nimbus.url}/function/offline/network`));
    assert.equal(offline.controlNoToken, 'ECONNREFUSED', 'its own loopback has no gateway');
    assert.equal(offline.controlWrongToken, 'ECONNREFUSED');
    assert.equal(offline.hello, 'ECONNREFUSED');
    assert.match(offline.outside, /^(ENETUNREACH|EHOSTUNREACH|TimeoutError)$/);

    const online = await json<Net>(await fetch(`${nimbus.url}/function/online/network`));
    assert.equal(online.controlNoToken, 'ECONNREFUSED', 'its own loopback, never the host’s');
    assert.equal(online.controlWrongToken, 'ECONNREFUSED');
    assert.equal(online.hello, 'ECONNREFUSED');
    await nimbus.assertServing();
  });
});
