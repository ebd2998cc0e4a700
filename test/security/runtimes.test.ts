// Every runtime runs under the sandbox (they share the launcher): node, python, exec, http and lambda
// functions serve from /fn, with the network on and off, from stem cells and fresh processes alike.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type LaunchShape, shapeKey } from '../../src/instances/stem-cells.js';
import { noSandbox, startSecurePlatform } from './helpers.js';

describe('every runtime serves from inside the sandbox', { skip: noSandbox ?? false }, () => {
  it('node, python, exec, http and lambda answer, with the network on and off', async (t) => {
    const nimbus = await startSecurePlatform(t);
    await Promise.all([
      nimbus.deploy('python-openfaas', 'py'),
      nimbus.deploy('exec-bash', 'sh'),
      nimbus.deploy('http-python', 'web', { network: false }),
      nimbus.deploy('http-node', 'websock'),
      nimbus.deploy('lambda-custom', 'custom'),
      nimbus.deploy('echo', 'offline', { network: false }),
    ]);
    const call = async (name: string, path: string, status = 200): Promise<string> => {
      const res = await fetch(`${nimbus.url}/function/${name}${path}`, { method: 'POST', body: 'world' });
      const text = await res.text();
      assert.equal(res.status, status, `${name}: ${text}`);
      return text;
    };
    assert.equal(await call('py', '/hello'), 'hello world');
    assert.equal(await call('sh', '/hello'), 'hello world');
    assert.equal(await call('web', '/hello'), 'hello world');
    assert.equal((JSON.parse(await call('websock', '/hello')) as { body: string }).body, 'world');
    assert.deepEqual(JSON.parse(await call('custom', '/')), { ok: true });
    assert.equal(
      (JSON.parse(await call('offline', '/')) as { pid: number }).pid,
      2,
      'pid 2 of its own namespace',
    );
    const status = JSON.parse(await call('py', '/status', 201)) as { cwd: string };
    assert.equal(status.cwd, '/fn');
    await nimbus.assertServing();
  });

  it('a stem cell is only given to a function whose sandbox shape it has', () => {
    const base: LaunchShape = {
      memoryMb: 256,
      command: '/usr/bin/node',
      args: ['runner.mjs'],
      env: { PATH: '/usr/bin' },
      network: true,
      cpu: null,
      maxProcesses: 64,
      readOnlyPaths: ['/opt/runner.mjs'],
    };
    const keys = [
      base,
      { ...base, network: false },
      { ...base, cpu: 0.5 },
      { ...base, maxProcesses: 128 },
      { ...base, readOnlyPaths: ['/opt/other-runner.mjs'] },
    ].map(shapeKey);
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(shapeKey({ ...base, env: { PATH: '/usr/bin' } }), keys[0]);
  });
});
