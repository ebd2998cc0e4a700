// nodeVersion (Lambda's Runtime nodejs22.x): the function runs on that Node major where the host has one
// (config nodeBinaries, node22 on PATH, version managers' directories, each checked with --version),
// else its deploy is refused with ERR_RUNTIME_NODE_VERSION, or it runs on the platform's node under
// nodeVersionFallback: host. The "node 22" here is a script that says it is 22 and runs this node.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { CreateFunctionCommand, LambdaClient, type Runtime } from '@aws-sdk/client-lambda';
import { zipSync } from 'fflate';
import { parseFunctionSpec } from '../../src/config/function-spec.js';
import { findNode, HOST_MAJOR, nodeCandidates } from '../../src/runtimes/node/node-binary.js';
import { startTestPlatform } from '../helpers/platform.js';

const REPORT = `export const handler = async () => ({ fake: process.env.NIMBUS_FAKE_NODE ?? 'none', major: process.versions.node.split('.')[0] });\n`;

function tempDir(t: TestContext, prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), `nimbus-${prefix}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A `node` that reports `version` to --version and otherwise runs this node, marking what it is. */
function fakeNode(dir: string, file: string, version: string): string {
  const path = join(dir, file);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(
    path,
    `#!/bin/sh\nif [ "$1" = "--version" ]; then echo v${version}; exit 0; fi\nNIMBUS_FAKE_NODE=${version} exec ${process.execPath} "$@"\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

test('findNode: the host major is this node; others come from the config, PATH or managers, checked by --version', (t) => {
  const dir = tempDir(t, 'nodes');
  assert.equal(findNode(undefined), process.execPath);
  assert.equal(findNode(HOST_MAJOR), process.execPath);
  const configured = fakeNode(dir, 'configured/node', '91.0.0');
  assert.equal(findNode(91, { binaries: { 91: configured }, path: '', home: dir }), configured);
  const onPath = fakeNode(join(dir, 'bin'), 'node92', '92.1.0');
  assert.equal(findNode(92, { path: join(dir, 'bin'), home: dir }), onPath);
  const nvm = fakeNode(dir, '.nvm/versions/node/v93.4.1/bin/node', '93.4.1');
  fakeNode(dir, '.nvm/versions/node/v93.10.0/bin/node', '93.10.0');
  assert.equal(
    findNode(93, { path: '', home: dir }),
    join(dir, '.nvm/versions/node/v93.10.0/bin/node'),
    'the newest of a major first',
  );
  assert.ok(nodeCandidates(93, { path: '', home: dir }).includes(nvm));
  // A binary that says it is another major is not taken for this one.
  const liar = fakeNode(join(dir, 'liar'), 'node94', '95.0.0');
  assert.equal(findNode(94, { binaries: { 94: liar }, path: join(dir, 'liar'), home: dir }), undefined);
  assert.equal(findNode(96, { path: '', home: dir }), undefined);
});

test('nodeVersion is a node key', () => {
  assert.equal(parseFunctionSpec({ nodeVersion: 22 }).nodeVersion, 22);
  assert.throws(() => parseFunctionSpec({ runtime: 'python', nodeVersion: 22 }), {
    code: 'ERR_FUNCTION_SPEC_INVALID',
    message: /nodeVersion: is used by runtime node only/,
  });
  assert.throws(() => parseFunctionSpec({ nodeVersion: '22' }), { code: 'ERR_FUNCTION_SPEC_INVALID' });
});

test('a function runs on the Node major it asks for, or its deploy is refused', async (t) => {
  const dir = tempDir(t, 'node-version');
  const node97 = fakeNode(dir, 'node97/bin/node', '97.0.0');
  const fn = join(dir, 'fn');
  mkdirSync(fn);
  writeFileSync(join(fn, 'index.mjs'), REPORT);
  const nimbus = await startTestPlatform(t, { nodeBinaries: { 97: node97 } });

  await nimbus.deploy(fn, 'on97', { nodeVersion: 97 });
  let res = await fetch(`${nimbus.url}/function/on97`);
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { fake: '97.0.0', major: String(HOST_MAJOR) });
  const described = await nimbus.client.get('on97');
  assert.equal(described.spec.nodeVersion, 97);

  await nimbus.deploy(fn, 'onhost', { nodeVersion: HOST_MAJOR });
  res = await fetch(`${nimbus.url}/function/onhost`);
  assert.deepEqual(await res.json(), { fake: 'none', major: String(HOST_MAJOR) });

  await assert.rejects(
    nimbus.deploy(fn, 'on98', { nodeVersion: 98 }),
    (err: { code?: string; message: string }) => {
      assert.equal(err.code, 'ERR_RUNTIME_NODE_VERSION');
      assert.match(err.message, /function "on98" asks for Node.js 98, which is not installed on this host/);
      assert.match(err.message, /nodeVersionFallback: host/);
      return true;
    },
  );

  // The Lambda API says the same of Runtime nodejs98.x, as an InvalidParameterValueException.
  const key = (await (
    await fetch(`${nimbus.url}/api/v1/keys`, {
      method: 'POST',
      headers: { authorization: `Bearer ${nimbus.platform.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ scope: 'admin' }),
    })
  ).json()) as { id: string; secret: string };
  const lambda = new LambdaClient({
    endpoint: nimbus.url,
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: key.id, secretAccessKey: key.secret },
  });
  t.after(() => lambda.destroy());
  const create = (name: string, runtime: `nodejs${number}.x`) =>
    lambda.send(
      new CreateFunctionCommand({
        FunctionName: name,
        Runtime: runtime as Runtime,
        Role: 'arn:aws:iam::123456789012:role/x',
        Handler: 'index.handler',
        Code: { ZipFile: zipSync({ 'index.mjs': new TextEncoder().encode(REPORT) }) },
      }),
    );
  await assert.rejects(create('lambda98', 'nodejs98.x'), (err: Error) => {
    assert.equal(err.name, 'InvalidParameterValueException');
    assert.match(err.message, /asks for Node.js 98/);
    return true;
  });
  const created = await create('lambda97', 'nodejs97.x');
  assert.equal(created.Runtime, 'nodejs97.x');
  res = await fetch(`${nimbus.url}/function/lambda97`);
  assert.deepEqual(await res.json(), { fake: '97.0.0', major: String(HOST_MAJOR) });
});

test('nodeVersionFallback: host runs a missing major on the platform node', async (t) => {
  const fn = tempDir(t, 'fallback');
  writeFileSync(join(fn, 'index.mjs'), REPORT);
  const nimbus = await startTestPlatform(t, { nodeVersionFallback: 'host' });
  await nimbus.deploy(fn, 'fallback', { nodeVersion: 98 });
  const res = await fetch(`${nimbus.url}/function/fallback`);
  assert.deepEqual(await res.json(), { fake: 'none', major: String(HOST_MAJOR) });
});
