// `nimbus deploy` of Azure Functions apps: the real CLI end to end (deploy, invoke, `nimbus logs`), and the
// apps it must refuse with a coded error at deploy, each tried for real (the app is loaded in a child).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { buildAzureApp } from '../../src/build/azure.js';
import { buildFunction } from '../../src/build/build.js';
import { NimbusError } from '../../src/errors.js';
import { FIXTURES, startTestPlatform } from '../helpers/platform.js';

const BIN = new URL('../../bin/nimbus.js', import.meta.url).pathname;
/** The repo's node_modules holds @azure/functions 4.16 (a devDependency): apps in temp dirs link to it. */
const NODE_MODULES = new URL('../../node_modules', import.meta.url).pathname;

const HOST = JSON.stringify({ version: '2.0' });
const PKG = JSON.stringify({
  name: 'hostile',
  main: 'index.js',
  dependencies: { '@azure/functions': '4.16.5' },
});
const HELLO = `const { app } = require('@azure/functions');
app.http('hello', { handler: async () => ({ body: 'hi' }) });
`;

/** An app folder in a temp dir: host.json, package.json and index.js unless `files` says otherwise. */
function app(t: TestContext, files: Record<string, string | null>): string {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-azure-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  symlinkSync(NODE_MODULES, join(dir, 'node_modules'));
  const all: Record<string, string | null> = {
    'host.json': HOST,
    'package.json': PKG,
    'index.js': HELLO,
    ...files,
  };
  for (const [name, text] of Object.entries(all)) {
    if (text === null) continue;
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

async function build(dir: string) {
  const built = await buildAzureApp(dir, { spec: {}, discoveryTimeoutMs: 5000 });
  rmSync(built.bundleDir, { recursive: true, force: true });
  return built;
}

/** The build fails with `code`, its message matching `message`. */
async function refused(dir: string, code: string, message: RegExp): Promise<NimbusError> {
  let caught: unknown;
  try {
    await build(dir);
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof NimbusError, `expected ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, message);
  return caught;
}

function nimbus(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { env: { PATH: process.env.PATH, ...env }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test('nimbus deploy DIR of an Azure Functions app, then nimbus logs', async (t) => {
  const nimbusTest = await startTestPlatform(t);
  const env = { NIMBUS_URL: nimbusTest.url, NIMBUS_ADMIN_TOKEN: nimbusTest.platform.token };
  const deployed = await nimbus(['deploy', join(FIXTURES, 'azure-app'), '--name', 'azure-cli'], env);
  assert.equal(deployed.code, 0, deployed.stderr);
  assert.match(deployed.stdout, /^deployed azure-cli v1: http:\/\/\S+\/function\/azure-cli\n$/);

  const res = await fetch(`${nimbusTest.url}/function/azure-cli/api/hi/Grace`);
  assert.equal(await res.text(), 'Hello, Grace! q=null');
  const callId = res.headers.get('x-call-id')!;
  const logs = await nimbus(['logs', 'azure-cli'], env);
  assert.equal(logs.code, 0, logs.stderr);
  assert.match(logs.stdout, new RegExp(`${callId} \\[Information\\] greeting Grace`));
  assert.match(
    logs.stdout,
    new RegExp(`${callId} \\[Information\\] Executed 'Functions\\.hello' \\(Succeeded, Id=${callId}`),
  );
  assert.ok(!logs.stdout.includes('AccountKey'), 'settings are not logged');

  const bad = app(t, {
    'index.js': `require('@azure/functions').app.get('x', { route: 'a/{b', handler: () => ({}) });`,
  });
  const refusedRun = await nimbus(['deploy', bad, '--name', 'bad'], env);
  assert.equal(refusedRun.code, 1);
  assert.match(
    refusedRun.stderr,
    /^ERR_AZURE_ROUTE_INVALID: route "a\/\{b" of Azure function "x" does not parse: /m,
  );
});

test('an app whose registrations change at run time does not serve', async (t) => {
  const nimbusTest = await startTestPlatform(t);
  // NIMBUS_URL is in every instance's environment, not in the deploy's: the app registers a route more.
  const sneaky = app(t, {
    'index.js': `${HELLO}if (process.env.NIMBUS_URL) require('@azure/functions').app.get('open', { route: 'open', handler: () => ({}) });\n`,
  });
  await assert.rejects(nimbusTest.deploy(sneaky, 'sneaky'), (err: NimbusError) => {
    assert.equal(err.code, 'ERR_FUNCTION_LOAD_FAILED');
    assert.match(err.message, /registered other functions than when it was deployed/);
    return true;
  });
});

test('the bundle: the app files, its run-time packages, no local settings', async (t) => {
  const dir = app(t, {
    'host.json': JSON.stringify({ version: '2.0', functionTimeout: '00:00:45' }),
    'local.settings.json': JSON.stringify({ Values: { SECRET: 'x' } }),
    'src/extra.txt': 'kept',
  });
  const built = await buildFunction(dir);
  t.after(() => rmSync(built.bundleDir, { recursive: true, force: true }));
  assert.equal(built.name, 'hostile');
  for (const file of [
    'index.js',
    'host.json',
    'src/extra.txt',
    'node_modules/@azure/functions/package.json',
    'node_modules/cookie/package.json',
  ])
    assert.ok(existsSync(join(built.bundleDir, file)), file);
  assert.equal(existsSync(join(built.bundleDir, 'local.settings.json')), false);
  assert.equal(existsSync(join(built.bundleDir, 'node_modules/typescript')), false, 'dev packages stay out');
  const pkg = JSON.parse(
    readFileSync(join(built.bundleDir, 'node_modules/@azure/functions/package.json'), 'utf8'),
  );
  assert.match(pkg.version, /^4\.16\./);
  assert.deepEqual(built.spec.environment, { SECRET: 'x' });
  assert.equal(built.spec.handlerStyle, 'azure');
  assert.equal(built.spec.timeoutMs, 45_000, "host.json's functionTimeout");
});

test('apps refused at deploy, each with a coded error', async (t) => {
  await t.test('host.json that is not JSON, or of the v1 format', async () => {
    await refused(
      app(t, { 'host.json': '{ "version": ' }),
      'ERR_AZURE_APP_INVALID',
      /host\.json is not valid JSON/,
    );
    await refused(
      app(t, { 'host.json': '{"version": "1.0"}' }),
      'ERR_AZURE_APP_INVALID',
      /host\.json version: must be "2\.0"/,
    );
    await refused(app(t, { 'host.json': '[]' }), 'ERR_AZURE_APP_INVALID', /host\.json/);
    await refused(
      app(t, { 'host.json': JSON.stringify({ version: '2.0', functionTimeout: 'soon' }) }),
      'ERR_AZURE_APP_INVALID',
      /host\.json functionTimeout: must be a TimeSpan/,
    );
    await refused(
      app(t, {
        'host.json': JSON.stringify({ version: '2.0', extensions: { http: { routePrefix: 'a/{b}' } } }),
      }),
      'ERR_AZURE_APP_INVALID',
      /routePrefix/,
    );
    await refused(
      app(t, { 'host.json': JSON.stringify({ version: '2.0', logging: { logLevel: { default: 'Loud' } } }) }),
      'ERR_AZURE_APP_INVALID',
      /logging\.logLevel\.default/,
    );
  });

  await t.test('an app that throws, exits or hangs while registering', async () => {
    await refused(
      app(t, { 'index.js': `${HELLO}throw new Error('missing DATABASE_URL');\n` }),
      'ERR_AZURE_APP_LOAD_FAILED',
      /missing DATABASE_URL/,
    );
    await refused(
      app(t, { 'index.js': 'process.exit(3);\n' }),
      'ERR_AZURE_APP_LOAD_FAILED',
      /exited with code 3/,
    );
    await refused(
      app(t, {
        'package.json': JSON.stringify({ ...JSON.parse(PKG), main: 'index.mjs' }),
        'index.mjs': "console.log('starting');\nsetInterval(() => {}, 1000);\nawait new Promise(() => {});\n",
      }),
      'ERR_AZURE_APP_LOAD_FAILED',
      /did not finish loading within 5 s; its output:\nstarting/,
    );
    await refused(
      app(t, {
        'index.js': `${HELLO}require('@azure/functions').app.http('Hello', { handler: () => ({}) });\n`,
      }),
      'ERR_AZURE_APP_LOAD_FAILED',
      /already registered/,
    );
    await refused(
      app(t, { 'index.js': "require('no-such-package');\n" }),
      'ERR_AZURE_APP_LOAD_FAILED',
      /no-such-package/,
    );
  });

  await t.test('a refused build leaves no copy of the app behind', async () => {
    const dir = app(t, { 'index.js': `${HELLO}throw new Error('no');\n` });
    const tmp = mkdtempSync(join(tmpdir(), 'nimbus-azure-tmp-'));
    t.after(() => rmSync(tmp, { recursive: true, force: true }));
    const saved = process.env.TMPDIR;
    process.env.TMPDIR = tmp;
    try {
      await refused(dir, 'ERR_AZURE_APP_LOAD_FAILED', /no/);
    } finally {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
    }
    assert.deepEqual(readdirSync(tmp), []);
  });

  await t.test(
    'route templates that do not parse (test/unit/azure-route-template.test.ts has them all)',
    async () => {
      for (const [route, why] of [
        ['a/{b}/{b}', /more than once/],
        ['a/{id:nosuch}', /unknown constraint/],
        ['{a?}/b', /must be in the last segment/],
      ] as const) {
        const err = await refused(
          app(t, {
            'index.js': `require('@azure/functions').app.get('r', { route: ${JSON.stringify(route)}, handler: () => ({}) });`,
          }),
          'ERR_AZURE_ROUTE_INVALID',
          why,
        );
        assert.ok(err.message.startsWith(`route "${route}" of Azure function "r"`), err.message);
      }
    },
  );

  await t.test('triggers and bindings Nimbus does not run', async () => {
    await refused(
      app(t, {
        'index.js': `${HELLO}require('@azure/functions').app.storageBlob('b', { path: 'c/{name}', connection: 'X', handler: () => {} });\n`,
      }),
      'ERR_AZURE_UNSUPPORTED',
      /"b" is triggered by blobTrigger/,
    );
    await refused(
      app(t, {
        'index.js': `const { app, output } = require('@azure/functions');
app.http('h', { extraOutputs: [output.storageBlob({ path: 'c/x', connection: 'X' })], handler: () => ({}) });\n`,
      }),
      'ERR_AZURE_UNSUPPORTED',
      /"h" uses a out binding .* of type blob/,
    );
    await refused(
      app(t, {
        'index.js': `const { app, output } = require('@azure/functions');
app.http('h', { extraOutputs: [output.storageQueue({ queueName: 'q', connection: 'X' })], handler: () => ({}) });\n`,
      }),
      'ERR_AZURE_UNSUPPORTED',
      /"h" writes to queue "q", which no function of the app is triggered by/,
    );
    await refused(
      app(t, {
        'index.js': `${HELLO}require('@azure/functions').app.serviceBusTopic('t', { topicName: 't', subscriptionName: 's', connection: 'X', handler: () => {} });\n`,
      }),
      'ERR_AZURE_UNSUPPORTED',
      /Service Bus topic/,
    );
    await refused(
      app(t, { 'index.js': `${HELLO}require('@azure/functions').app.setup({ enableHttpStream: true });\n` }),
      'ERR_AZURE_UNSUPPORTED',
      /enableHttpStream/,
    );
    await refused(
      app(t, {
        'index.js': `require('@azure/functions').app.timer('t', { schedule: '01:30:00', handler: () => {} });\n`,
      }),
      'ERR_AZURE_UNSUPPORTED',
      /TimeSpan/,
    );
  });

  await t.test('what the app registers is checked', async () => {
    await refused(
      app(t, { 'index.js': "require('@azure/functions');\n" }),
      'ERR_AZURE_APP_INVALID',
      /register no function/,
    );
    await refused(
      app(t, {
        'index.js': `require('@azure/functions').app.timer('t', { schedule: '%Missing%', handler: () => {} });\n`,
      }),
      'ERR_AZURE_APP_INVALID',
      /app setting %Missing%, which is not set/,
    );
    await refused(
      app(t, {
        'index.js': `require('@azure/functions').app.timer('t', { schedule: 'every day', handler: () => {} });\n`,
      }),
      'ERR_AZURE_APP_INVALID',
      /invalid schedule "every day"/,
    );
    await refused(
      app(t, {
        'index.js': `const { app } = require('@azure/functions');
app.storageQueue('a', { queueName: 'q', connection: 'X', handler: () => {} });
app.storageQueue('b', { queueName: 'Q', connection: 'X', handler: () => {} });\n`,
      }),
      'ERR_AZURE_APP_INVALID',
      /queue "Q" already triggers "a"/,
    );
  });

  await t.test('package.json main, the library, local.settings.json', async () => {
    await refused(
      app(t, { 'package.json': JSON.stringify({ ...JSON.parse(PKG), main: 'dist/*.js' }) }),
      'ERR_AZURE_APP_INVALID',
      /matches no file; build the app first/,
    );
    await refused(
      app(t, { 'package.json': JSON.stringify({ ...JSON.parse(PKG), main: '../*.js' }) }),
      'ERR_AZURE_APP_INVALID',
      /must stay inside the app folder/,
    );
    await refused(
      app(t, { 'package.json': '{ nope' }),
      'ERR_AZURE_APP_INVALID',
      /package\.json is not valid JSON/,
    );
    await refused(
      app(t, {
        'package.json': JSON.stringify({ ...JSON.parse(PKG), main: 'src/*.ts' }),
        'src/a.ts': 'export {};',
      }),
      'ERR_AZURE_APP_INVALID',
      /names TypeScript sources \(src\/a\.ts\); build the app/,
    );
    await refused(
      app(t, {
        'package.json': JSON.stringify({
          name: 'x',
          main: 'index.js',
          devDependencies: { '@azure/functions': '4.16.5' },
        }),
      }),
      'ERR_AZURE_APP_INVALID',
      /move it to "dependencies"/,
    );
    const encrypted = await refused(
      app(t, {
        'local.settings.json': JSON.stringify({
          IsEncrypted: true,
          Values: { AzureWebJobsStorage: 'c2VjcmV0' },
        }),
      }),
      'ERR_AZURE_SETTINGS_INVALID',
      /func settings decrypt/,
    );
    assert.ok(!encrypted.message.includes('c2VjcmV0'), 'no setting value in the error');
    const broken = await refused(
      app(t, { 'local.settings.json': '{"Values": {"Conn": "AccountKey=hunter2"' }),
      'ERR_AZURE_SETTINGS_INVALID',
      /not valid JSON/,
    );
    assert.ok(!broken.message.includes('hunter2'));
    await refused(
      app(t, { 'local.settings.json': '{"Values": {"a b": "1"}}' }),
      'ERR_AZURE_SETTINGS_INVALID',
      /"a b"/,
    );
  });

  await t.test('nimbus.yml keys the app decides', async () => {
    await assert.rejects(
      buildAzureApp(app(t, {}), { spec: { handler: 'index.js' } }),
      (err: NimbusError) =>
        err.code === 'ERR_FUNCTION_SPEC_INVALID' &&
        /handler: an Azure Functions app sets it/.test(err.message),
    );
  });

  await t.test('other Azure programming models say so', async () => {
    await assert.rejects(
      buildFunction(
        app(t, {
          'package.json': null,
          'index.js': null,
          'function_app.py': 'import azure.functions as func\napp = func.FunctionApp()\n',
        }),
      ),
      (err: NimbusError) => err.code === 'ERR_AZURE_MODEL_UNSUPPORTED' && /Python/.test(err.message),
    );
    await assert.rejects(
      buildFunction(
        app(t, {
          'package.json': null,
          'index.js': null,
          'HttpTrigger/function.json': '{"bindings": []}',
          'HttpTrigger/index.js': '',
        }),
      ),
      (err: NimbusError) => err.code === 'ERR_AZURE_MODEL_UNSUPPORTED' && /function\.json/.test(err.message),
    );
  });
});
