// What a function and a caller learn about the host: nothing of where Nimbus is installed or keeps its data
// shows in the sandbox's pid 1 (its environment and command line), in a handler's stack trace (node,
// python, a Lambda custom runtime, the Lambda Invoke API), nor in a load error; a first deploy's load
// error does not claim a previous version; a failed build leaves no temp dir behind.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { buildFunction } from '../../src/build/build.js';
import { adminKey, noSandbox, startSecurePlatform } from './helpers.js';

const REPO = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');

/** Asserts `text` names none of the host's paths. */
function assertNoHostPath(text: string, hostPaths: readonly string[], what: string): void {
  for (const path of hostPaths)
    assert.ok(!text.includes(path), `${what} names ${path}: ${text.slice(0, 2000)}`);
}

describe('nothing of the host leaks', { skip: noSandbox ?? false }, () => {
  it('the sandbox’s pid 1 and every stack trace name sandbox paths only, wherever Nimbus runs from', async (t) => {
    const nimbus = await startSecurePlatform(t, { debug: true });
    const { platform } = nimbus;
    const hostPaths = [REPO, nimbus.dataDir, platform.launcher.runDir, process.cwd()];
    await Promise.all([
      nimbus.deploy('hostile', 'hostile'),
      nimbus.deploy('throws', 'throws'),
      nimbus.deploy('python-lambda', 'pyl'),
      nimbus.deploy('lambda-custom', 'custom'),
    ]);
    for (const file of ['/proc/1/environ', '/proc/1/cmdline', '/proc/self/environ']) {
      const res = await fetch(`${nimbus.url}/function/hostile/read-all?path=${file}`);
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assertNoHostPath(text, hostPaths, file);
    }
    const root = await (await fetch(`${nimbus.url}/function/hostile/read?path=/`)).text();
    assert.match(root, /^listed: /);
    assert.ok(!/\b(var|home|root|work|srv|opt)\b/.test(root), `the sandbox's root: ${root}`);

    const node = await fetch(`${nimbus.url}/function/throws`);
    const nodeError = (await node.json()) as { error: { message: string; stack: string } };
    assert.equal(node.status, 500);
    assert.match(nodeError.error.stack, /file:\/\/\/fn\/index\.mjs/);
    assert.match(nodeError.error.stack, /\/run\/nimbus\/runner\/runner\.bundle\.mjs/);
    assertNoHostPath(JSON.stringify(nodeError), hostPaths, 'a node stack');

    const py = await fetch(`${nimbus.url}/function/pyl/error`);
    const pyError = (await py.json()) as { error: { stack: string } };
    assert.equal(py.status, 500);
    assert.match(pyError.error.stack, /File "\/fn\/app\.py"/);
    assert.match(pyError.error.stack, /File "\/run\/nimbus\/runner\/runner\.py"/);
    assertNoHostPath(JSON.stringify(pyError), hostPaths, 'a python traceback');

    // Through the Lambda Invoke API: the error JSON as the runtime reported it.
    const key = await adminKey(nimbus.url, platform.token);
    const lambda = new LambdaClient({
      endpoint: nimbus.url,
      region: 'eu-west-1',
      maxAttempts: 1,
      credentials: { accessKeyId: key.accessKeyId, secretAccessKey: key.secretAccessKey },
    });
    t.after(() => lambda.destroy());
    const out = await lambda.send(
      new InvokeCommand({ FunctionName: 'pyl', Payload: Buffer.from(JSON.stringify({ rawPath: '/error' })) }),
    );
    assert.equal(out.FunctionError, 'Unhandled');
    const payload = Buffer.from(out.Payload ?? []).toString('utf8');
    assert.match(payload, /KeyError/);
    assertNoHostPath(payload, hostPaths, 'a Lambda error payload');
    await nimbus.assertServing();
  });

  it('a load error names sandbox paths, and a first deploy’s does not claim a previous version', async (t) => {
    const nimbus = await startSecurePlatform(t);
    const hostPaths = [REPO, nimbus.dataDir, nimbus.platform.launcher.runDir];
    const dir = mkdtempSync(join(tmpdir(), 'nimbus-leak-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(
      join(dir, 'index.ts'),
      "import './missing.mjs';\nexport default { fetch: () => new Response('x') };\n",
    );
    writeFileSync(join(dir, 'missing.mjs'), 'throw new Error("loaded from " + import.meta.url);\n');
    await assert.rejects(nimbus.deploy(dir, 'broken'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_FUNCTION_LOAD_FAILED');
      assert.match(err.message, /failed to load, so nothing was deployed: .*file:\/\/\/fn\/index\.mjs/);
      assertNoHostPath(err.message, hostPaths, 'the load error');
      return true;
    });
  });

  it('a failed build leaves no temp dir behind', async (t) => {
    // A temp dir of its own: other test files (and other work on the machine) build in the shared one.
    const privateTmp = mkdtempSync(join(tmpdir(), 'nimbus-leaks-tmp-'));
    const savedTmp = process.env.TMPDIR;
    process.env.TMPDIR = privateTmp;
    t.after(() => {
      if (savedTmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = savedTmp;
      rmSync(privateTmp, { recursive: true, force: true });
    });
    const before = new Set(readdirSync(tmpdir()).filter((n) => n.startsWith('nimbus-bundle-')));
    assert.equal(tmpdir(), privateTmp);
    const dir = mkdtempSync(join(tmpdir(), 'nimbus-badbuild-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'index.ts'), 'export default {{{ not code');
    await assert.rejects(buildFunction(dir), { code: 'ERR_BUILD_FAILED' });
    writeFileSync(join(dir, 'nimbus.yml'), 'runtime: python\nhandler: nothere.handle\n');
    await assert.rejects(buildFunction(dir), { code: 'ERR_BUILD_FAILED' });
    writeFileSync(join(dir, 'nimbus.yml'), 'runtime: exec\ncommand: ./run.sh\n');
    await assert.rejects(buildFunction(dir), { code: 'ERR_BUILD_FAILED' });
    const left = readdirSync(tmpdir()).filter((n) => n.startsWith('nimbus-bundle-') && !before.has(n));
    assert.deepEqual(left, []);
  });
});
