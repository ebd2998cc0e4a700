// Namespaces: the same function name in two namespaces, routed as OpenFaaS routes them (`name.namespace`),
// created and described through the CLI and OpenFaaS's API, and quotas on functions, instances, memory and
// the call rate, each a 429 naming the quota.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildFunction } from '../../src/build/build.js';
import { NimbusClient } from '../../src/cli/client.js';
import { BIN } from '../helpers/nimbus-process.js';
import { FIXTURES, startTestPlatform, waitFor } from '../helpers/platform.js';

type Json = Record<string, any>;

function cli(
  url: string,
  token: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args, '--url', url, '--token', token],
      { env: { PATH: process.env.PATH }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function deployIn(
  client: NimbusClient,
  fixture: string,
  name: string,
  spec: Record<string, unknown> = {},
) {
  const built = await buildFunction(join(FIXTURES, fixture));
  try {
    await client.uploadBundle(built);
    return await client.deploy(name, built.hash, { ...built.spec, ...spec });
  } finally {
    rmSync(built.bundleDir, { recursive: true, force: true });
  }
}

test('namespaces', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url, platform } = nimbus;
  const token = platform.token;
  const teamA = new NimbusClient(url, token, 'team-a');

  await t.test('nimbus ns create / ls / describe, and one name in two namespaces', async () => {
    let out = await cli(url, token, ['ns', 'create', 'team-a', '--max-functions', '3', '--json']);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual((JSON.parse(out.stdout) as Json).quotas, { maxFunctions: 3 });
    out = await cli(url, token, ['ns', 'create', 'team-a']);
    assert.notEqual(out.code, 0);
    assert.match(out.stderr, /ERR_NAMESPACE_EXISTS/);
    for (const bad of ['Team', 'openfaas-fn', 'a.b', 'x-']) {
      out = await cli(url, token, ['ns', 'create', bad]);
      assert.match(out.stderr, /ERR_NAMESPACE_NAME_INVALID/, bad);
    }
    await nimbus.deploy('echo', 'hello', { environment: { GREETING: 'default' } });
    await deployIn(teamA, 'echo', 'hello', { environment: { GREETING: 'team-a' } });
    const env = async (path: string) => ((await (await fetch(`${url}${path}`)).json()) as Json).env;
    assert.equal(await env('/function/hello'), 'default');
    assert.equal(await env('/function/hello.team-a'), 'team-a');
    assert.equal(await env('/function/hello.openfaas-fn'), 'default', "OpenFaaS's name for the default one");
    const missing = await fetch(`${url}/function/hello.team-z`);
    assert.equal(missing.status, 404);
    assert.equal(((await missing.json()) as Json).error.code, 'ERR_NAMESPACE_NOT_FOUND');

    out = await cli(url, token, ['invoke', 'hello', '--namespace', 'team-a']);
    assert.equal((JSON.parse(out.stdout) as Json).env, 'team-a');
    out = await cli(url, token, ['ls', '-A', '--json']);
    const all = (JSON.parse(out.stdout) as Json[]).map((f) => `${f.namespace}/${f.name}`).sort();
    assert.deepEqual(all, ['default/hello', 'team-a/hello']);
    out = await cli(url, token, ['ls', '--namespace', 'team-a', '--json']);
    assert.deepEqual(
      (JSON.parse(out.stdout) as Json[]).map((f) => f.name),
      ['hello'],
    );
    out = await cli(url, token, ['ns', 'describe', 'team-a', '--json']);
    assert.equal((JSON.parse(out.stdout) as Json).usage.functions, 1);
    out = await cli(url, token, ['ns', 'ls', '--json']);
    assert.deepEqual(
      (JSON.parse(out.stdout) as Json[]).map((n) => n.name),
      ['default', 'team-a'],
    );
  });

  await t.test('a namespace is removed only when empty; the default one never', async () => {
    let out = await cli(url, token, ['ns', 'rm', 'team-a']);
    assert.match(out.stderr, /ERR_NAMESPACE_NOT_EMPTY/);
    out = await cli(url, token, ['ns', 'rm', 'default']);
    assert.match(out.stderr, /ERR_NAMESPACE_DEFAULT/);
    out = await cli(url, token, ['ns', 'create', 'scratch']);
    assert.equal(out.code, 0, out.stderr);
    out = await cli(url, token, ['ns', 'rm', 'scratch']);
    assert.equal(out.code, 0, out.stderr);
  });

  await t.test("OpenFaaS's namespaces API and namespaced function routes", async () => {
    const faas = (method: string, path: string, body?: unknown) =>
      fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Basic ${Buffer.from(`admin:${token}`).toString('base64')}` },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      });
    let res = await faas('POST', '/system/namespace/', { name: 'team-b', labels: { team: 'b' } });
    assert.equal(res.status, 201);
    res = await faas('GET', '/system/namespace/team-b');
    assert.deepEqual(await res.json(), { name: 'team-b', labels: { team: 'b' }, annotations: {} });
    assert.deepEqual(await (await faas('GET', '/system/namespaces')).json(), [
      'openfaas-fn',
      'team-a',
      'team-b',
    ]);
    const hello = await nimbus.client.get('hello');
    res = await faas('POST', '/system/functions', {
      service: 'hello',
      image: `sha256:${hello.bundle}`,
      namespace: 'team-b',
      envVars: { GREETING: 'team-b' },
    });
    assert.equal(res.status, 202, await res.text());
    const listed = (await (await faas('GET', '/system/functions?namespace=team-b')).json()) as Json[];
    assert.deepEqual(
      listed.map((f) => [f.name, f.namespace]),
      [['hello', 'team-b']],
    );
    assert.equal(((await (await fetch(`${url}/function/hello.team-b`)).json()) as Json).env, 'team-b');
    res = await faas('DELETE', '/system/functions', { functionName: 'hello', namespace: 'team-b' });
    assert.equal(res.status, 200);
    res = await faas('DELETE', '/system/namespace/team-b');
    assert.equal(res.status, 202);
    res = await faas('GET', '/system/functions?namespace=team-b');
    assert.equal(res.status, 404);
    assert.match(await res.text(), /^ERR_NAMESPACE_NOT_FOUND/);
  });

  await t.test('quotas: functions, instances, memory and rate, each a 429 naming it', async () => {
    const client = nimbus.client;
    await client.call('POST', '/api/v1/namespaces', { name: 'few', maxFunctions: 1 });
    const few = new NimbusClient(url, token, 'few');
    await deployIn(few, 'echo', 'one');
    await assert.rejects(deployIn(few, 'echo', 'two'), (err: Error & { code?: string; status?: number }) => {
      assert.equal(err.code, 'ERR_QUOTA_FUNCTIONS');
      assert.equal(err.status, 429);
      return true;
    });

    // One instance at most in `tight`: while `busy` holds it, `idle` (at zero) cannot start one. Calls of
    // `busy` itself wait for its instance rather than fail: the quota is not passed by waiting.
    await client.call('POST', '/api/v1/namespaces', { name: 'tight', maxInstances: 1 });
    const tight = new NimbusClient(url, token, 'tight');
    // At zero once the namespace holds no instance (a process counts until it has exited).
    const atZero = async (name: string) =>
      waitFor(
        async () => (await client.call<Json>('GET', '/api/v1/namespaces/tight')).usage.instances === 0,
        15_000,
        `${name} at zero`,
      );
    await deployIn(tight, 'slow', 'busy', { scale: { max: 3, idleTimeoutMs: 200 } });
    await atZero('busy');
    await deployIn(tight, 'echo', 'idle', { scale: { idleTimeoutMs: 200 } });
    await atZero('idle');
    const holding = fetch(`${url}/function/busy.tight?ms=3000`).then((r) => r.text());
    await waitFor(async () => (await tight.get('busy')).instances === 1, 15_000, 'busy to hold the instance');
    const refused = await fetch(`${url}/function/idle.tight`);
    assert.equal(refused.status, 429);
    assert.equal(((await refused.json()) as Json).error.code, 'ERR_QUOTA_INSTANCES');
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
    const waited = await fetch(`${url}/function/busy.tight?ms=1`);
    assert.equal(waited.status, 200, 'a call of the function holding the instance waits for it');
    await holding;

    await client.call('POST', '/api/v1/namespaces', { name: 'small', maxMemoryMb: 128 });
    const small = new NimbusClient(url, token, 'small');
    await assert.rejects(
      deployIn(small, 'echo', 'big', { memoryMb: 256 }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'ERR_QUOTA_MEMORY');
        return true;
      },
    );

    await client.call('POST', '/api/v1/namespaces', { name: 'slowpoke', maxRps: 2 });
    await deployIn(new NimbusClient(url, token, 'slowpoke'), 'echo', 'e');
    const statuses: number[] = [];
    let rateRefusal: Response | undefined;
    for (let i = 0; i < 8; i++) {
      const r = await fetch(`${url}/function/e.slowpoke`);
      statuses.push(r.status);
      if (r.status === 429) rateRefusal = r;
      else await r.arrayBuffer();
    }
    assert.ok(rateRefusal, `a burst of 8 passes maxRps 2: ${statuses}`);
    assert.equal(((await rateRefusal.json()) as Json).error.code, 'ERR_QUOTA_RPS');
    assert.ok(Number(rateRefusal.headers.get('retry-after')) >= 1);
    const async = await fetch(`${url}/async-function/e.slowpoke`, { method: 'POST' });
    assert.ok(async.status === 429 || async.status === 202);
    const out = await cli(url, token, ['ns', 'set', 'slowpoke', '--max-rps', 'none', '--json']);
    assert.deepEqual((JSON.parse(out.stdout) as Json).quotas, {});
  });
});
