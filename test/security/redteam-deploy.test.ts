// What a deploy-scoped key can do with a deployment, tried from the attacker's side through the real gateway:
// OpenFaaS deploys that name another namespace's function or image, or another namespace in the query than
// in the body; archives whose entries imply more directories than the entry cap; Azure route templates whose
// regular expressions would hold the gateway's thread. Each attempt is kept as a test.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type TestContext, test } from 'node:test';
import { createGzip, gzipSync } from 'node:zlib';
import { CreateFunctionCommand, GetAccountSettingsCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { strToU8, zipSync } from 'fflate';
import { buildAzureApp } from '../../src/build/azure.js';
import { hashBundleDir } from '../../src/build/bundle-hash.js';
import { MAX_BUNDLE_DEPTH, MAX_BUNDLE_ENTRIES } from '../../src/store/artifacts.js';
import { startTestPlatform, type TestPlatform } from '../helpers/platform.js';

/** A temp dir of the test's own, removed after it. */
function workDir(t: TestContext): string {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-redteam-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Makes namespaces and a key of `scope` in `namespace`; the key's Authorization headers. */
async function keyIn(
  nimbus: TestPlatform,
  namespace: string,
  scope: 'deploy' | 'read' | 'admin' = 'deploy',
  functions?: string[],
): Promise<Record<string, string>> {
  const key = await nimbus.client.call<{ secret: string }>('POST', '/api/v1/keys', {
    scope,
    namespace,
    ...(functions ? { functions } : {}),
  });
  return { authorization: `Bearer ${key.secret}`, 'content-type': 'application/json' };
}

/** The AWS SDK's Lambda client, signing with a new key of `scope` in `namespace`. */
async function lambdaClient(
  t: TestContext,
  nimbus: TestPlatform,
  namespace = 'default',
  scope = 'deploy',
): Promise<LambdaClient> {
  const key = await nimbus.client.call<{ id: string; secret: string }>('POST', '/api/v1/keys', {
    scope,
    namespace,
  });
  const lambda = new LambdaClient({
    endpoint: nimbus.url,
    region: 'eu-west-1',
    maxAttempts: 1,
    credentials: { accessKeyId: key.id, secretAccessKey: key.secret },
  });
  t.after(() => lambda.destroy());
  return lambda;
}

async function namespaces(nimbus: TestPlatform, ...names: string[]): Promise<void> {
  for (const name of names) await nimbus.client.call('POST', '/api/v1/namespaces', { name });
}

test('OpenFaaS deploys stay in the namespace the key may deploy to', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url, client } = nimbus;
  await namespaces(nimbus, 'team-a', 'team-b');
  const victim = await nimbus.deploy('hello', 'victim');
  const teamB = await keyIn(nimbus, 'team-b');

  await t.test('a namespace in the query, none in the body, is where the deploy goes', async () => {
    // team-b's key, team-b in the query: the deploy must land in team-b, never in the default namespace.
    const res = await fetch(`${url}/system/functions?namespace=team-b`, {
      method: 'PUT',
      headers: teamB,
      body: JSON.stringify({ service: 'victim', image: `sha256:${victim.bundle}`, envVars: { PWNED: '1' } }),
    });
    const text = await res.text();
    assert.equal(res.status, 404, `an update of team-b's victim, which does not exist: ${text}`);
    const after = await client.get('victim');
    assert.equal(after.version, victim.version, 'the default namespace’s function is untouched');
    assert.deepEqual(after.spec.environment, {});
    const created = await fetch(`${url}/system/functions?namespace=team-b`, {
      method: 'POST',
      headers: teamB,
      body: JSON.stringify({ service: 'mine', image: `sha256:${victim.bundle}` }),
    });
    assert.equal(created.status, 202, await created.text());
    const mine = await fetch(`${url}/system/function/mine?namespace=team-b`, { headers: teamB });
    assert.equal(mine.status, 200, 'created in team-b, where the query said');
    assert.equal(
      (await client.call<{ functions: unknown[] }>('GET', '/api/v1/functions')).functions.length,
      1,
    );
  });

  await t.test('an image that names another namespace’s function or image is unknown', async () => {
    const deployB = await fetch(`${url}/system/functions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${nimbus.platform.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ service: 'billing', namespace: 'team-b', image: `sha256:${victim.bundle}` }),
    });
    assert.equal(deployB.status, 202);
    // Its image annotation, as `nimbus deploy -f stack.yml` sets it: a guessable registry name.
    await client.call('PUT', '/api/v1/functions/billing?namespace=team-b', {
      bundle: victim.bundle,
      spec: { annotations: { 'nimbus.openfaas/image': 'ghcr.io/acme/billing:1.0' } },
    });
    const teamA = await keyIn(nimbus, 'team-a');
    for (const image of ['billing.team-b', 'ghcr.io/acme/billing:1.0', 'victim']) {
      const res = await fetch(`${url}/system/functions`, {
        method: 'POST',
        headers: teamA,
        body: JSON.stringify({ service: 'copy', namespace: 'team-a', image }),
      });
      const text = await res.text();
      assert.equal(res.status, 400, `${image}: ${text}`);
      assert.match(text, /^ERR_OPENFAAS_IMAGE_UNKNOWN/, image);
    }
    const list = await fetch(`${url}/system/functions?namespace=team-a`, { headers: teamA });
    assert.deepEqual(await list.json(), [], 'nothing was copied into team-a');
    // A key limited to one function of team-b does not copy another of team-b either.
    const onlyMine = await keyIn(nimbus, 'team-b', 'deploy', ['mine']);
    const res = await fetch(`${url}/system/functions`, {
      method: 'PUT',
      headers: onlyMine,
      body: JSON.stringify({ service: 'mine', namespace: 'team-b', image: 'billing' }),
    });
    assert.equal(res.status, 400, await res.text());
    // Its own namespace's image still deploys (the faas-cli workflow).
    const own = await fetch(`${url}/system/functions`, {
      method: 'PUT',
      headers: teamB,
      body: JSON.stringify({ service: 'mine', namespace: 'team-b', image: 'ghcr.io/acme/billing:1.0' }),
    });
    assert.equal(own.status, 200, await own.text());
  });

  await t.test('a key of one namespace learns nothing of another’s images before it is refused', async () => {
    const teamA = await keyIn(nimbus, 'team-a');
    const answers = new Set<string>();
    for (const image of ['ghcr.io/acme/billing:1.0', 'ghcr.io/acme/nothing:1.0']) {
      const res = await fetch(`${url}/system/functions`, {
        method: 'POST',
        headers: teamA,
        body: JSON.stringify({ service: 'copy', namespace: 'team-b', image }),
      });
      answers.add(`${res.status} ${(await res.text()).split(':')[0]}`);
    }
    assert.deepEqual([...answers], ['403 ERR_AUTH_FORBIDDEN']);
  });
});

/** A ustar header of a `type` entry of `size` bytes (a pax `x` header when the name is long). */
function tarHeader(name: string, size: number, type = '0'): Buffer {
  const h = Buffer.alloc(512);
  const octal = (offset: number, length: number, value: number): void => {
    h.write(`${value.toString(8).padStart(length - 1, '0')}\0`, offset, length, 'ascii');
  };
  h.write(name.slice(0, 100), 0, 100, 'ascii');
  octal(100, 8, 0o644);
  octal(108, 8, 0);
  octal(116, 8, 0);
  octal(124, 12, size);
  octal(136, 12, 0);
  h.write('        ', 148, 8, 'ascii');
  h.write(type, 156, 1, 'ascii');
  h.write('ustar\0', 257, 6, 'ascii');
  h.write('00', 263, 2, 'ascii');
  let sum = 0;
  for (const byte of h) sum += byte;
  octal(148, 7, sum);
  return h;
}

function padded(data: Buffer): Buffer {
  return Buffer.concat([data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}

/** A tar entry of a file at `path` (any length: a pax header carries a long one). */
function tarFile(path: string, content: Buffer): Buffer {
  const parts: Buffer[] = [];
  if (path.length > 99) {
    const record = ` path=${path}\n`;
    let length = record.length;
    while (`${length}${record}`.length !== length) length = `${length}${record}`.length;
    const pax = Buffer.from(`${length}${record}`);
    parts.push(tarHeader('PaxHeader', pax.length, 'x'), padded(pax));
  }
  parts.push(tarHeader(path.slice(0, 99), content.length), padded(content));
  return Buffer.concat(parts);
}

test('archives whose paths imply more directories than the entry cap are refused before they fill the disk', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url } = nimbus;
  const teamA = await (async () => {
    await namespaces(nimbus, 'team-a');
    return keyIn(nimbus, 'team-a');
  })();
  // 210 files, each 100 directories deep: 210 entries, 21,000 directories (each mkdir a write of its own).
  const files = Array.from({ length: 210 }, (_, i) => `d${i}/${'a/'.repeat(99)}f`);
  assert.ok(files.length * 100 > MAX_BUNDLE_ENTRIES);
  // One file 1,000 directories deep: every system call on it walks them all.
  const deepest = `${'a/'.repeat(1000)}f`;

  await t.test('a tar upload', async () => {
    for (const [paths, why] of [
      [files, new RegExp(`more than ${MAX_BUNDLE_ENTRIES} entries`)],
      [[deepest], new RegExp(`more than ${MAX_BUNDLE_DEPTH} directories deep`)],
    ] as const) {
      const tar = gzipSync(
        Buffer.concat([
          tarFile('index.mjs', Buffer.from('export default () => 1;\n')),
          ...paths.map((f) => tarFile(f, Buffer.from('x'))),
          Buffer.alloc(1024),
        ]),
      );
      assert.ok(tar.length < 64 * 1024, `the archive is small (${tar.length} bytes)`);
      const res = await fetch(`${url}/api/v1/bundles/${'c'.repeat(64)}`, {
        method: 'PUT',
        headers: teamA,
        body: tar,
      });
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(body.error.code, 'ERR_BUNDLE_INVALID');
      assert.match(body.error.message, why);
      assert.deepEqual(readdirSync(nimbus.platform.artifacts.dir), [], 'nothing stays in the store');
    }
  });

  await t.test('a Lambda zip', async () => {
    const lambda = await lambdaClient(t, nimbus);
    for (const [paths, why] of [
      [files, new RegExp(`more than ${MAX_BUNDLE_ENTRIES} entries`)],
      [[deepest], new RegExp(`more than ${MAX_BUNDLE_DEPTH} directories deep`)],
    ] as const) {
      const zip = zipSync(
        Object.fromEntries([
          ['index.js', strToU8('exports.handler = async () => 1;\n')],
          ...paths.map((f) => [f, strToU8('x')]),
        ]),
      );
      await assert.rejects(
        lambda.send(
          new CreateFunctionCommand({
            FunctionName: 'deep',
            Runtime: 'nodejs20.x',
            Role: 'arn:aws:iam::000000000000:role/nimbus',
            Handler: 'index.handler',
            Code: { ZipFile: zip },
          }),
        ),
        (err: Error) => {
          assert.equal(err.name, 'InvalidParameterValueException', err.message);
          assert.match(err.message, why);
          return true;
        },
      );
      assert.deepEqual(readdirSync(nimbus.platform.artifacts.dir), [], 'nothing stays in the store');
    }
  });
  // An ordinary deep tree (a node_modules) still arrives.
  await t.test('a bundle of a few deep files is stored', async () => {
    const zip = zipSync({
      'index.js': strToU8('exports.handler = async () => "deep ok";\n'),
      [`${'n/'.repeat(100)}x.js`]: strToU8('1'),
    });
    const lambda = await lambdaClient(t, nimbus);
    const created = await lambda.send(
      new CreateFunctionCommand({
        FunctionName: 'shallow',
        Runtime: 'nodejs20.x',
        Role: 'arn:aws:iam::000000000000:role/nimbus',
        Handler: 'index.handler',
        Code: { ZipFile: zip },
      }),
    );
    assert.equal(created.State, 'Active');
  });
});

test('an Azure app’s route templates never hold the gateway’s thread', async (t) => {
  const nimbus = await startTestPlatform(t);
  await nimbus.deploy('hello');
  // A real app (its instance checks it registers what the spec says), deployed as `nimbus deploy` does: a
  // keyed route whose regex constraint backtracks exponentially, and one of two parameters in a segment.
  const dir = workDir(t);
  symlinkSync(new URL('../../node_modules', import.meta.url).pathname, join(dir, 'node_modules'));
  writeFileSync(join(dir, 'host.json'), JSON.stringify({ version: '2.0' }));
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'evil', main: 'index.js', dependencies: { '@azure/functions': '4.16.5' } }),
  );
  writeFileSync(
    join(dir, 'index.js'),
    `const { app } = require('@azure/functions');
app.http('exp', { authLevel: 'function', route: 'r/{x:regex(^(a|a)*$)}', handler: async () => ({ body: 'exp' }) });
app.http('file', { authLevel: 'function', route: 'f/{name}.{ext}', handler: async (req) => ({ body: req.params.ext }) });
app.http('open', { authLevel: 'anonymous', route: 'open/{x:regex(^[a-z]+$)}', handler: async () => ({ body: 'open' }) });
`,
  );
  const built = await buildAzureApp(dir, { spec: {}, discoveryTimeoutMs: 30_000 });
  t.after(() => rmSync(built.bundleDir, { recursive: true, force: true }));
  const deployKey = await keyIn(nimbus, 'default');
  const { NimbusClient } = await import('../../src/cli/client.js');
  const deployer = new NimbusClient(nimbus.url, deployKey.authorization!.slice('Bearer '.length));
  await deployer.uploadBundle(built);
  await deployer.deploy('evil', built.hash, built.spec);

  // Ordinary paths still route: anonymous without a key, keyed ones ask for it.
  const open = await fetch(`${nimbus.url}/function/evil/api/open/abc`);
  assert.equal(open.status, 200);
  assert.equal(await open.text(), 'open');
  assert.equal((await fetch(`${nimbus.url}/function/evil/api/r/aaaa`)).status, 401);
  const file = await fetch(
    `${nimbus.url}/function/evil/api/f/a.b.txt?code=${deployKey.authorization!.slice(7)}`,
  );
  assert.equal(await file.text(), 'txt');

  // 40 characters take 2^40 steps of that regex: an anonymous caller must not stall the gateway with them.
  const hostile = [`/function/evil/api/r/${'a'.repeat(40)}!`];
  for (const path of hostile) {
    const started = performance.now();
    const calls = [fetch(`${nimbus.url}${path}`), fetch(`${nimbus.url}${path}`)];
    // Meanwhile another function answers: the gateway's thread is not held.
    const other = await fetch(`${nimbus.url}/function/hello`, { method: 'POST', body: 'still here' });
    assert.equal(await other.text(), 'hello still here');
    for (const res of await Promise.all(calls)) {
      const body = (await res.json()) as { error: { code: string } };
      assert.equal(res.status, 400, JSON.stringify(body));
      assert.equal(body.error.code, 'ERR_AZURE_ROUTE_TIMEOUT');
    }
    t.diagnostic(`${path.slice(0, 40)}…: refused in ${Math.round(performance.now() - started)} ms`);
  }
});

/** Gzips `parts` then `zeroBytes` of zeros, without holding the zeros in memory. */
async function gzipWithZeros(parts: Buffer[], zeroBytes: number): Promise<Buffer> {
  const gzip = createGzip({ level: 9 });
  const out: Buffer[] = [];
  gzip.on('data', (chunk: Buffer) => out.push(chunk));
  const done = new Promise((resolve) => gzip.on('end', resolve));
  for (const part of parts) gzip.write(part);
  const zeros = Buffer.alloc(1024 * 1024);
  for (let left = zeroBytes; left > 0; left -= zeros.length)
    gzip.write(zeros.subarray(0, Math.min(left, zeros.length)));
  gzip.end();
  await done;
  return Buffer.concat(out);
}

test('a tar upload that goes on past its end is read no further than the cap allows, and never stalls the gateway', async (t) => {
  const nimbus = await startTestPlatform(t, { bundleMaxUnpackedBytes: 8 * 1024 * 1024 });
  await nimbus.deploy('hello');
  const teamA = await (async () => {
    await namespaces(nimbus, 'team-a');
    return keyIn(nimbus, 'team-a');
  })();
  const dir = join(workDir(t), 'b');
  mkdirSync(dir);
  const code = 'export default { fetch: () => new Response("tail") };\n';
  writeFileSync(join(dir, 'index.mjs'), code);
  const hash = await hashBundleDir(dir);
  const tar = Buffer.concat([tarFile('index.mjs', Buffer.from(code)), Buffer.alloc(1024)]);

  // The end-of-archive blocks, then 256 MiB of zeros: a 0.25 MB upload. node-tar keeps what follows its
  // end in one buffer it grows by copying, chunk after chunk: minutes of the gateway's only thread.
  const bomb = await gzipWithZeros([tar], 256 * 1024 * 1024);
  assert.ok(bomb.length < 512 * 1024, `the upload is small (${bomb.length} bytes)`);
  const started = performance.now();
  const upload = fetch(`${nimbus.url}/api/v1/bundles/${hash}`, { method: 'PUT', headers: teamA, body: bomb });
  const other = await fetch(`${nimbus.url}/function/hello`, { method: 'POST', body: 'still here' });
  assert.equal(await other.text(), 'hello still here');
  const res = await upload;
  const body = (await res.json()) as { error: { code: string } };
  t.diagnostic(`refused in ${Math.round(performance.now() - started)} ms`);
  assert.equal(res.status, 413, JSON.stringify(body));
  assert.equal(body.error.code, 'ERR_BUNDLE_TOO_LARGE');
  const stored = () => readdirSync(nimbus.platform.artifacts.dir);
  assert.ok(!stored().includes(hash), 'not stored');
  assert.deepEqual(
    stored().filter((name) => name.startsWith('.')),
    [],
    'nothing left of the upload',
  );

  // A tar padded to its record size (GNU tar's 10 KiB) with zeros, or a little more, is stored.
  const padded = await gzipWithZeros([tar], 1024 * 1024);
  const ok = await fetch(`${nimbus.url}/api/v1/bundles/${hash}`, {
    method: 'PUT',
    headers: teamA,
    body: padded,
  });
  assert.equal(ok.status, 201, await ok.text());
});

test('an entry or a Lambda handler names a file inside the bundle, never a host path', async (t) => {
  const nimbus = await startTestPlatform(t);
  const hello = await nimbus.deploy('hello');
  const auth = { authorization: `Bearer ${nimbus.platform.token}`, 'content-type': 'application/json' };
  for (const entry of [
    '../../../../../../etc/passwd',
    '/etc/passwd#x',
    'a/../../index.mjs',
    'index.mjs\u0000',
  ]) {
    const res = await fetch(`${nimbus.url}/api/v1/functions/trav`, {
      method: 'PUT',
      headers: auth,
      body: JSON.stringify({ bundle: hello.bundle, spec: {}, entry }),
    });
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(res.status, 400, `${entry}: ${JSON.stringify(body)}`);
    assert.equal(body.error.code, 'ERR_FUNCTION_SPEC_INVALID', entry);
    assert.match(body.error.message, /entry/);
  }
  // The Lambda API checks a handler's file before the deploy: it must not probe the host's files.
  const lambda = await lambdaClient(t, nimbus);
  const zip = zipSync({ 'index.js': strToU8('exports.handler = async () => 1;\n') });
  const answers = new Set<string>();
  for (const Handler of [
    '../../../../../../usr/lib/node_modules/npm/index.handler',
    '../../../../../../nope/x.handler',
  ]) {
    const err = await lambda
      .send(
        new CreateFunctionCommand({
          FunctionName: 'probe',
          Runtime: 'nodejs20.x',
          Role: 'arn:aws:iam::000000000000:role/nimbus',
          Handler,
          Code: { ZipFile: zip },
        }),
      )
      .then(
        () => undefined,
        (e: Error) => e,
      );
    assert.ok(err, `${Handler} was deployed`);
    answers.add(`${err.name}: ${err.message.replace(Handler, 'H')}`);
  }
  assert.equal(
    answers.size,
    1,
    `one answer whether the host file exists or not: ${[...answers].join(' | ')}`,
  );
});

test('Lambda GetAccountSettings counts the functions of the key’s own namespace only', async (t) => {
  const nimbus = await startTestPlatform(t);
  await namespaces(nimbus, 'team-a');
  await nimbus.deploy('hello', 'other-tenants-function');
  const lambda = await lambdaClient(t, nimbus, 'team-a', 'read');
  const settings = await lambda.send(new GetAccountSettingsCommand({}));
  assert.equal(settings.AccountUsage?.FunctionCount, 0);
  assert.equal(settings.AccountUsage?.TotalCodeSize, 0);
});
