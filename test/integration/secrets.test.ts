// The secrets store end to end: the native API and OpenFaaS's /system/secrets in their own shapes, a
// function that names secrets reads them as files (read-only at /var/openfaas/secrets in the sandbox), a
// deploy naming a missing secret is refused, and no value shows in describe, logs, errors, call records
// or the instance's environment.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildFunction } from '../../src/build/build.js';
import { readStack } from '../../src/build/stack.js';
import { NimbusClient } from '../../src/cli/client.js';
import { FIXTURES, startTestPlatform, type TestPlatform } from '../helpers/platform.js';
import { noSandbox } from '../security/helpers.js';

const BIN = new URL('../../bin/nimbus.js', import.meta.url).pathname;
const VALUE = 'value-3f9c-never-shown';

/** Every way a value could leak out of the platform's answers: describe, lists, logs, call records. */
async function assertNowhere(nimbus: TestPlatform, value: string): Promise<void> {
  const auth = { authorization: `Bearer ${nimbus.platform.token}` };
  for (const path of [
    '/api/v1/functions',
    '/api/v1/secrets',
    '/system/functions',
    '/system/secrets',
    '/system/calls',
    '/metrics',
  ]) {
    const text = await (await fetch(`${nimbus.url}${path}`, { headers: auth })).text();
    assert.equal(text.includes(value), false, path);
  }
  assert.equal(nimbus.lines.join('\n').includes(value), false, 'instance output');
  assert.equal(JSON.stringify(nimbus.events).includes(value), false, 'platform events');
}

test('secrets: the native API, deploy checks and files in instances (no sandbox)', async (t) => {
  const nimbus = await startTestPlatform(t);
  const api = (method: string, path: string, body?: unknown) =>
    fetch(`${nimbus.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${nimbus.platform.token}`, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  await t.test('create, list, update, refuse bad input', async () => {
    const created = await api('POST', '/api/v1/secrets', { name: 'api-key', value: VALUE });
    assert.equal(created.status, 201);
    const view = (await created.json()) as Record<string, unknown>;
    assert.equal(view.name, 'api-key');
    assert.deepEqual(view.usedBy, []);
    assert.equal('value' in view, false);
    const binary = Buffer.from([0, 255, 10, 13]);
    assert.equal(
      (await api('POST', '/api/v1/secrets', { name: 'blob.bin', valueBase64: binary.toString('base64') }))
        .status,
      201,
    );
    const again = await api('POST', '/api/v1/secrets', { name: 'api-key', value: 'x' });
    assert.equal(again.status, 409);
    assert.equal(((await again.json()) as any).error.code, 'ERR_SECRET_EXISTS');
    for (const [body, code] of [
      [{ name: '../etc', value: 'x' }, 'ERR_SECRET_INVALID'],
      [{ name: 'both', value: 'x', valueBase64: 'eA==' }, 'ERR_SECRET_INVALID'],
      [{ name: 'none' }, 'ERR_SECRET_INVALID'],
      [{ name: 'b64', valueBase64: 'not base64!' }, 'ERR_REQUEST_INVALID'],
      [{ name: 'extra', value: 'x', other: 1 }, 'ERR_REQUEST_INVALID'],
      [{ name: 5, value: 'x' }, 'ERR_REQUEST_INVALID'],
    ] as const) {
      const res = await api('POST', '/api/v1/secrets', body);
      assert.equal(((await res.json()) as any).error.code, code, JSON.stringify(body));
    }
    assert.equal((await api('PUT', '/api/v1/secrets/missing', { value: 'x' })).status, 404);
    const listed = (await (await api('GET', '/api/v1/secrets')).json()) as { secrets: { name: string }[] };
    assert.deepEqual(
      listed.secrets.map((s) => s.name),
      ['api-key', 'blob.bin'],
    );
  });

  await t.test('scopes: a read key may not touch secrets, a deploy key may', async () => {
    const read = nimbus.platform.keys.create({ scope: 'read' });
    const deploy = nimbus.platform.keys.create({ scope: 'deploy' });
    const as = (secret: string) =>
      fetch(`${nimbus.url}/api/v1/secrets`, { headers: { authorization: `Bearer ${secret}` } });
    assert.equal((await as(read.secret)).status, 403);
    assert.equal((await as(deploy.secret)).status, 200);
    assert.equal((await fetch(`${nimbus.url}/api/v1/secrets`)).status, 401);
  });

  await t.test('deploying with a secret that does not exist is refused', async () => {
    await assert.rejects(nimbus.deploy('secret-reader', 'reader', { secrets: ['api-key', 'nope'] }), {
      code: 'ERR_SECRET_NOT_FOUND',
      message: /secret "nope" does not exist/,
    });
    await assert.rejects(nimbus.deploy('secret-reader', 'reader', { secrets: ['a/b'] }), {
      code: 'ERR_FUNCTION_SPEC_INVALID',
    });
  });

  await t.test('the function reads its secrets, and only those, from NIMBUS_SECRETS_DIR', async () => {
    await nimbus.deploy('secret-reader', 'reader', { secrets: ['api-key', 'blob.bin'] });
    const res = await fetch(`${nimbus.url}/function/reader`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as any;
    assert.deepEqual(body.files, ['api-key', 'blob.bin']);
    assert.equal(body.values['api-key'], VALUE);
    // Bytes as written (the fixture reads them as UTF-8: 0xff is not valid UTF-8).
    assert.equal(body.values['blob.bin'], '\u0000\ufffd\n\r');
    assert.equal(body.leakedIntoEnv, false);
    assert.equal(body.envDir, body.dir);
    // Another function gets no secrets directory at all.
    await nimbus.deploy('secret-reader', 'plain');
    const plain = await fetch(`${nimbus.url}/function/plain`);
    assert.equal(plain.status, 500);
    assert.equal((await plain.text()).includes(VALUE), false);
  });

  await t.test('a secret in use cannot be removed; an updated value reaches new instances', async () => {
    const inUse = await api('DELETE', '/api/v1/secrets/api-key');
    assert.equal(inUse.status, 409);
    const error = ((await inUse.json()) as any).error;
    assert.equal(error.code, 'ERR_SECRET_IN_USE');
    assert.match(error.message, /used by reader/);
    const listed = (await (await api('GET', '/api/v1/secrets')).json()) as { secrets: any[] };
    assert.deepEqual(listed.secrets.find((s) => s.name === 'api-key').usedBy, ['reader']);
    assert.equal((await api('PUT', '/api/v1/secrets/api-key', { value: `${VALUE}-2` })).status, 200);
    // A new version starts new instances.
    await nimbus.deploy('secret-reader', 'reader', { secrets: ['api-key'], environment: { V: '2' } });
    const body = (await (await fetch(`${nimbus.url}/function/reader`)).json()) as any;
    assert.deepEqual(body.values, { 'api-key': `${VALUE}-2` });
  });

  await t.test('async calls record no secret; nothing shows one', async () => {
    const queued = await fetch(`${nimbus.url}/async-function/reader`, { method: 'POST' });
    assert.equal(queued.status, 202);
    const id = queued.headers.get('x-call-id')!;
    const auth = { authorization: `Bearer ${nimbus.platform.token}` };
    for (const deadline = Date.now() + 20_000; ; ) {
      const call = (await (await fetch(`${nimbus.url}/system/calls/${id}`, { headers: auth })).json()) as any;
      if (call.status === 'succeeded') break;
      assert.ok(Date.now() < deadline, `call ${id} is ${call.status}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    // The function's answer holds the value (it read it and returned it): the record keeps a response
    // body, so look only at what is not the function's own output.
    const call = (await (await fetch(`${nimbus.url}/system/calls/${id}`, { headers: auth })).json()) as any;
    const { response: _ownOutput, ...record } = call;
    assert.equal(JSON.stringify(record).includes(VALUE), false);
    await assertNowhere(nimbus, VALUE);
  });

  await t.test('removing: in use, then free', async () => {
    await nimbus.client.remove('reader');
    const gone = await api('DELETE', '/api/v1/secrets/api-key');
    assert.equal(gone.status, 200);
    assert.equal((await api('DELETE', '/api/v1/secrets/api-key')).status, 404);
  });
});

test('secrets: OpenFaaS /system/secrets, FunctionDeployment and stack.yml', async (t) => {
  const nimbus = await startTestPlatform(t);
  const basic = `Basic ${Buffer.from(`admin:${nimbus.platform.token}`).toString('base64')}`;
  const system = (method: string, body?: unknown, query = '') =>
    fetch(`${nimbus.url}/system/secrets${query}`, {
      method,
      headers: { authorization: basic, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });

  await t.test('faas-cli secret create/list/update/remove shapes', async () => {
    assert.equal((await system('POST', { name: 'db-password', value: VALUE })).status, 201);
    // rawValue is Go's []byte: base64, and it wins over value.
    const raw = Buffer.from('raw-bytes');
    assert.equal(
      (await system('POST', { name: 'raw', rawValue: raw.toString('base64'), value: 'ignored' })).status,
      201,
    );
    const conflict = await system('POST', { name: 'db-password', value: 'x' });
    assert.equal(conflict.status, 409);
    assert.match(await conflict.text(), /^ERR_SECRET_EXISTS: /);
    const list = await system('GET', undefined, '?namespace=openfaas-fn');
    assert.equal(list.status, 200);
    assert.deepEqual(await list.json(), [
      { name: 'db-password', namespace: 'openfaas-fn' },
      { name: 'raw', namespace: 'openfaas-fn' },
    ]);
    assert.equal((await system('GET', undefined, '?namespace=other')).status, 404);
    assert.equal((await system('PUT', { name: 'raw', value: 'updated' })).status, 200);
    assert.equal((await system('PUT', { name: 'missing', value: 'x' })).status, 404);
    assert.equal((await system('POST', { value: 'no name' })).status, 400);
    assert.equal((await system('POST', { name: 'novalue' })).status, 400);
    assert.equal((await system('POST', { name: 'bad', rawValue: '%%%' })).status, 400);
    assert.equal((await system('DELETE', { name: 'missing' })).status, 404);
    assert.equal((await system('DELETE', { name: 'raw' })).status, 200);
    assert.equal((await fetch(`${nimbus.url}/system/secrets`)).status, 401);
  });

  await t.test('a FunctionDeployment names its secrets; FunctionStatus lists them', async () => {
    const fn = await nimbus.deploy('secret-reader', 'of-reader');
    const deploy = (secrets: string[]) =>
      fetch(`${nimbus.url}/system/functions`, {
        method: 'PUT',
        headers: { authorization: basic, 'content-type': 'application/json' },
        body: JSON.stringify({ service: 'of-reader', image: `sha256:${fn.bundle}`, secrets }),
      });
    const missing = await deploy(['db-password', 'absent']);
    assert.equal(missing.status, 404);
    assert.match(await missing.text(), /^ERR_SECRET_NOT_FOUND: secret "absent"/);
    assert.equal((await deploy(['db-password'])).status, 200);
    const status = (await (
      await fetch(`${nimbus.url}/system/function/of-reader`, { headers: { authorization: basic } })
    ).json()) as { secrets: string[] };
    assert.deepEqual(status.secrets, ['db-password']);
    const body = (await (await fetch(`${nimbus.url}/function/of-reader`)).json()) as any;
    assert.deepEqual(body.values, { 'db-password': VALUE });
    assert.equal((await system('DELETE', { name: 'db-password' })).status, 409);
    await assertNowhere(nimbus, VALUE);
  });

  await t.test('stack.yml secrets become the spec’s', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nimbus-stack-secrets-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    cpSync(join(FIXTURES, 'secret-reader'), join(dir, 'reader'), { recursive: true });
    writeFileSync(
      join(dir, 'stack.yml'),
      'version: 1.0\nfunctions:\n  reader:\n    lang: nimbus\n    handler: ./reader\n    secrets:\n      - db-password\n',
    );
    assert.deepEqual(readStack(join(dir, 'stack.yml'))[0]!.spec.secrets, ['db-password']);
    writeFileSync(
      join(dir, 'stack.yml'),
      'functions:\n  reader:\n    lang: nimbus\n    handler: ./reader\n    secrets: db-password\n',
    );
    assert.throws(() => readStack(join(dir, 'stack.yml')), { code: 'ERR_STACK_INVALID' });
  });
});

test('secrets in the sandbox: read-only files at /var/openfaas/secrets', {
  skip: noSandbox ?? false,
}, async (t) => {
  const nimbus = await startTestPlatform(t, { sandbox: 'auto' });
  const res = await fetch(`${nimbus.url}/api/v1/secrets`, {
    method: 'POST',
    headers: { authorization: `Bearer ${nimbus.platform.token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'api-key', value: VALUE }),
  });
  assert.equal(res.status, 201);
  await nimbus.deploy('secret-reader', 'reader', { secrets: ['api-key'] });
  const body = (await (
    await fetch(`${nimbus.url}/function/reader?dir=/var/openfaas/secrets&write=1`)
  ).json()) as any;
  assert.equal(body.envDir, '/var/openfaas/secrets');
  assert.deepEqual(body.files, ['api-key']);
  assert.equal(body.values['api-key'], VALUE);
  assert.equal(body.writeError, 'EROFS');
  assert.equal(body.leakedIntoEnv, false);
  // A function without secrets sees an empty directory there (its sandbox was made before it was chosen).
  await nimbus.deploy('secret-reader', 'plain');
  const plain = (await (await fetch(`${nimbus.url}/function/plain?dir=/var/openfaas/secrets`)).json()) as any;
  assert.deepEqual(plain.files, []);
  await assertNowhere(nimbus, VALUE);
});

test('nimbus secret create/update/ls/rm through the CLI', async (t) => {
  const nimbus = await startTestPlatform(t);
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-secret-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const run = (args: string[], input?: string) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = execFile(
        process.execPath,
        [BIN, 'secret', ...args, '--url', nimbus.url, '--token', nimbus.platform.token],
        (err, stdout, stderr) =>
          resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
      child.stdin!.end(input ?? '');
    });
  writeFileSync(join(dir, 'cert.pem'), Buffer.from([1, 2, 3]));
  assert.deepEqual(await run(['create', 'literal', '--from-literal', VALUE]), {
    code: 0,
    stdout: 'created secret literal\n',
    stderr: '',
  });
  assert.equal((await run(['create', 'file', '--from-file', join(dir, 'cert.pem')])).code, 0);
  assert.equal((await run(['create', 'piped'], 'from stdin')).code, 0);
  const exists = await run(['create', 'literal', '--from-literal', 'x']);
  assert.equal(exists.code, 1);
  assert.match(exists.stderr, /^ERR_SECRET_EXISTS: /);
  assert.equal((await run(['update', 'literal', '--from-literal', 'rotated'])).code, 0);
  const ls = await run(['ls']);
  assert.match(ls.stdout, /^NAME +USED BY +UPDATED\n/);
  assert.match(ls.stdout, /\nfile +- +/);
  assert.equal(ls.stdout.includes(VALUE) || ls.stdout.includes('rotated'), false);
  const json = JSON.parse((await run(['ls', '--json'])).stdout) as { name: string }[];
  assert.deepEqual(
    json.map((s) => s.name),
    ['file', 'literal', 'piped'],
  );
  await nimbus.deploy('secret-reader', 'reader', { secrets: ['file', 'literal', 'piped'] });
  const body = (await (await fetch(`${nimbus.url}/function/reader`)).json()) as any;
  assert.deepEqual(body.values, { file: '\u0001\u0002\u0003', literal: 'rotated', piped: 'from stdin' });
  const inUse = await run(['rm', 'piped']);
  assert.equal(inUse.code, 1);
  assert.match(inUse.stderr, /^ERR_SECRET_IN_USE: secret "piped" is used by reader/);
  await nimbus.client.remove('reader');
  assert.deepEqual(await run(['rm', 'piped']), { code: 0, stdout: 'removed secret piped\n', stderr: '' });
  assert.match((await run(['rm', 'piped'])).stderr, /^ERR_SECRET_NOT_FOUND: /);
  for (const args of [['create'], ['create', 'x', '--from-file', join(dir, 'missing')], ['rm']]) {
    const usage = await run(args);
    assert.equal(usage.code, 1, args.join(' '));
    assert.match(usage.stderr, /^ERR_CLI_USAGE: /, args.join(' '));
  }
  assert.equal((await run(['ls', '--bogus'])).code, 2);
});

test('secrets belong to a namespace', async (t) => {
  const nimbus = await startTestPlatform(t);
  const admin = nimbus.client;
  await admin.call('POST', '/api/v1/namespaces', { name: 'team-a' });
  const teamA = new NimbusClient(nimbus.url, nimbus.platform.token, 'team-a');
  await admin.call('POST', '/api/v1/secrets', { name: 'api-key', value: 'default value' });
  await admin.call('POST', '/api/v1/secrets?namespace=team-a', { name: 'api-key', value: 'team-a value' });
  await admin.call('POST', '/api/v1/secrets?namespace=team-a', { name: 'only-a', value: 'x' });
  const names = async (ns: string) =>
    (
      await admin.call<{ secrets: { name: string; namespace: string }[] }>(
        'GET',
        `/api/v1/secrets?namespace=${ns}`,
      )
    ).secrets;
  assert.deepEqual(
    (await names('default')).map((s) => [s.name, s.namespace]),
    [['api-key', 'default']],
  );
  assert.deepEqual(
    (await names('team-a')).map((s) => s.name),
    ['api-key', 'only-a'],
  );
  await assert.rejects(admin.call('GET', '/api/v1/secrets?namespace=nowhere'), {
    code: 'ERR_NAMESPACE_NOT_FOUND',
  });

  // A function reads the secret of its own namespace.
  const built = await buildFunction(join(FIXTURES, 'secret-reader'));
  t.after(() => rmSync(built.bundleDir, { recursive: true, force: true }));
  await teamA.uploadBundle(built);
  await teamA.deploy('reader', built.hash, { secrets: ['api-key'] });
  const body = (await (await fetch(`${nimbus.url}/function/reader.team-a`)).json()) as any;
  assert.deepEqual(body.values, { 'api-key': 'team-a value' });
  // …and cannot name another namespace's.
  await assert.rejects(admin.deploy('reader', built.hash, { secrets: ['only-a'] }), {
    code: 'ERR_SECRET_NOT_FOUND',
  });

  // A deploy key of the default namespace manages its secrets, not team-a's.
  const key = nimbus.platform.keys.create({ scope: 'deploy', namespace: 'default' });
  const as = (path: string) =>
    fetch(`${nimbus.url}${path}`, { headers: { authorization: `Bearer ${key.secret}` } });
  assert.equal((await as('/api/v1/secrets')).status, 200);
  assert.equal((await as('/api/v1/secrets?namespace=team-a')).status, 403);
  const basic = `Basic ${Buffer.from(`${key.id}:${key.secret}`).toString('base64')}`;
  assert.equal(
    (await fetch(`${nimbus.url}/system/secrets?namespace=team-a`, { headers: { authorization: basic } }))
      .status,
    403,
  );
  const openfaas = await fetch(`${nimbus.url}/system/secrets?namespace=team-a`, {
    headers: { authorization: `Bearer ${nimbus.platform.token}` },
  });
  assert.deepEqual(await openfaas.json(), [
    { name: 'api-key', namespace: 'team-a' },
    { name: 'only-a', namespace: 'team-a' },
  ]);

  // Removing the namespace removes its secrets: made again, it starts empty.
  await teamA.remove('reader');
  await admin.call('DELETE', '/api/v1/namespaces/team-a');
  await admin.call('POST', '/api/v1/namespaces', { name: 'team-a' });
  assert.deepEqual(await names('team-a'), []);
  assert.equal((await names('default')).length, 1);
});
