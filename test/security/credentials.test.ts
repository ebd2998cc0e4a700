// A credential the gateway consumed never reaches a function, on any path; a public function still gets an
// app's own Authorization; private functions take an invoke key (scoped to them), keys are stored hashed and
// sealed, and a revoked key fails on the next request. Real gateway, real sandboxed functions.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { BIN } from '../helpers/nimbus-process.js';
import { startTestPlatform, waitFor } from '../helpers/platform.js';

interface Echoed {
  headers: Record<string, string>;
}

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

test('credentials stay with the gateway', async (t) => {
  const nimbus = await startTestPlatform(t, { sandbox: 'auto' });
  const { url, platform, client } = nimbus;
  await Promise.all([nimbus.deploy('echo'), nimbus.deploy('echo', 'vault', { private: true })]);
  const admin = { authorization: `Bearer ${platform.token}` };
  const createKey = (body: Record<string, unknown>) =>
    client.call<{ id: string; secret: string; scope: string }>('POST', '/api/v1/keys', body);
  const vaultKey = await createKey({ scope: 'invoke', functions: ['vault'] });
  const echoKey = await createKey({ scope: 'invoke', functions: ['echo'] });
  const readKey = await createKey({ scope: 'read' });

  const seen = async (path: string, headers: Record<string, string>): Promise<Echoed> => {
    const res = await fetch(`${url}${path}`, { method: 'POST', headers, body: 'x' });
    const text = await res.text();
    assert.equal(res.status, 200, `${path}: ${text}`);
    return JSON.parse(text) as Echoed;
  };

  await t.test('a Nimbus credential sent to a public function is consumed, valid or not', async () => {
    for (const authorization of [
      `Bearer ${platform.token}`,
      basic('admin', platform.token),
      `Bearer ${vaultKey.secret}`,
      basic(vaultKey.id, vaultKey.secret),
      'Bearer nmbk_revoked-or-wrong',
      'Bearer nmb_wrong-admin-token',
      basic(vaultKey.id, 'wrong'),
    ]) {
      for (const path of ['/function/echo', '/function/echo.openfaas-fn/sub?q=1']) {
        const echoed = await seen(path, { authorization });
        assert.equal(
          echoed.headers.authorization,
          undefined,
          `${authorization.slice(0, 12)}… reached ${path}`,
        );
      }
    }
  });

  await t.test("an app's own Authorization reaches a public function", async () => {
    for (const authorization of ['Bearer eyJhbGciOi.app.jwt', basic('alice', 'her-password'), 'Token abc']) {
      const echoed = await seen('/function/echo', { authorization });
      assert.equal(echoed.headers.authorization, authorization);
    }
  });

  await t.test('a private function takes a key that may invoke it, and never sees it', async () => {
    let res = await fetch(`${url}/function/vault`, { method: 'POST', body: 'x' });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ERR_FUNCTION_PRIVATE');
    for (const authorization of [`Bearer ${echoKey.secret}`, `Bearer ${readKey.secret}`]) {
      res = await fetch(`${url}/function/vault`, { method: 'POST', headers: { authorization }, body: 'x' });
      assert.equal(res.status, 403, 'a key for another function, or a read key, may not invoke it');
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ERR_FUNCTION_FORBIDDEN');
    }
    for (const authorization of [
      `Bearer ${vaultKey.secret}`,
      basic(vaultKey.id, vaultKey.secret),
      admin.authorization,
    ]) {
      const echoed = await seen('/function/vault', { authorization });
      assert.equal(echoed.headers.authorization, undefined);
    }
  });

  await t.test('async calls keep no consumed credential, and run without one', async () => {
    for (const [path, authorization] of [
      ['/async-function/echo', admin.authorization],
      ['/async-function/vault', `Bearer ${vaultKey.secret}`],
    ] as const) {
      const res = await fetch(`${url}${path}`, { method: 'POST', headers: { authorization }, body: 'x' });
      assert.equal(res.status, 202, path);
      const { callId } = (await res.json()) as { callId: string };
      const call = await waitFor(
        async () => {
          const c = await client.call<{ status: string; response?: { body: string } }>(
            'GET',
            `/system/calls/${callId}`,
          );
          return c.status === 'succeeded' ? c : undefined;
        },
        30_000,
        `call ${callId} to succeed`,
      );
      const echoed = JSON.parse(call.response!.body) as Echoed;
      assert.equal(
        echoed.headers.authorization,
        undefined,
        `${path}: the queued call carried the credential`,
      );
    }
    const anonymous = await fetch(`${url}/async-function/vault`, { method: 'POST', body: 'x' });
    assert.equal(anonymous.status, 401, 'a private function is not queued for a stranger');
  });

  await t.test('nimbus invoke never sends the admin token; --key calls a private function', async () => {
    const run = (args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
        execFile(
          process.execPath,
          [BIN, 'invoke', ...args, '--url', url, '--token', platform.token],
          { env: { PATH: process.env.PATH }, timeout: 30_000 },
          (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
        );
      });
    let out = await run(['echo', '--data', 'hi']);
    assert.equal(out.code, 0, out.stderr);
    assert.equal((JSON.parse(out.stdout) as Echoed).headers.authorization, undefined);
    out = await run(['vault', '--data', 'hi']);
    assert.notEqual(out.code, 0);
    assert.match(out.stderr, /ERR_FUNCTION_PRIVATE/);
    out = await run(['vault', '--data', 'hi', '--key', vaultKey.secret]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal((JSON.parse(out.stdout) as Echoed).headers.authorization, undefined);
  });

  await t.test('keys are stored hashed and sealed: the database holds no secret', () => {
    const db = new Database(join(nimbus.dataDir, 'nimbus.db'), { readonly: true });
    t.after(() => db.close());
    const rows = db.prepare('SELECT * FROM api_keys').all() as Record<string, unknown>[];
    assert.ok(rows.length >= 3);
    const dump = JSON.stringify(
      rows.map((r) => Object.values(r).map((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : v))),
    );
    for (const key of [vaultKey, echoKey, readKey]) {
      assert.ok(!dump.includes(key.secret), 'a secret is in the database');
      assert.ok(!dump.includes(key.secret.slice(5, 25)), 'part of a secret is in the database');
    }
  });

  await t.test('a revoked key fails on the next request', async () => {
    const key = await createKey({ scope: 'read' });
    const list = () =>
      fetch(`${url}/api/v1/functions`, { headers: { authorization: `Bearer ${key.secret}` } });
    assert.equal((await list()).status, 200);
    await client.call('DELETE', `/api/v1/keys/${key.id}`);
    const res = await list();
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { error: { code: string } }).error.code, 'ERR_AUTH_INVALID');
  });

  await t.test('a key does what its scope allows, no more', async () => {
    const deploy = await createKey({ scope: 'deploy' });
    const asKey = (secret: string, method: string, path: string) =>
      fetch(`${url}${path}`, { method, headers: { authorization: `Bearer ${secret}` } });
    assert.equal((await asKey(readKey.secret, 'GET', '/api/v1/functions')).status, 200);
    assert.equal((await asKey(readKey.secret, 'GET', '/metrics')).status, 200);
    const denied = await asKey(readKey.secret, 'DELETE', '/api/v1/functions/echo');
    assert.equal(denied.status, 403);
    assert.equal(((await denied.json()) as { error: { code: string } }).error.code, 'ERR_AUTH_FORBIDDEN');
    assert.equal((await asKey(deploy.secret, 'GET', '/api/v1/keys')).status, 403, 'keys are admin business');
    assert.equal(
      (await asKey(vaultKey.secret, 'GET', '/api/v1/functions')).status,
      403,
      'an invoke key reads nothing',
    );
    assert.equal((await asKey(platform.token, 'GET', '/api/v1/keys')).status, 200);
  });
});
