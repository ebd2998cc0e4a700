// Who may do what, as a matrix: every route family × every key scope × the key's own namespace and another.
// A key reaches its namespace only, and there only what its scope allows (read ⊂ deploy ⊂ admin; invoke: the
// functions it names); the admin token and admin keys of no namespace reach everything.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LambdaClient, ListFunctionsCommand } from '@aws-sdk/client-lambda';
import { NimbusClient } from '../../src/cli/client.js';
import { deployTo } from '../helpers/nimbus-process.js';
import { startTestPlatform } from '../helpers/platform.js';

type Scope = 'admin' | 'deploy' | 'invoke' | 'read';
type Need = 'read' | 'deploy' | 'admin' | 'invoke';

interface Operation {
  name: string;
  need: Need;
  /** The request, in namespace `ns`. */
  request: (ns: string) => { method: string; path: string; body?: unknown };
  /** The status when allowed. */
  ok: number;
}

const RANK: Record<Scope, number> = { invoke: 0, read: 1, deploy: 2, admin: 3 };
const NEEDED: Record<Exclude<Need, 'invoke'>, number> = { read: 1, deploy: 2, admin: 3 };

test('every route family × every scope × own and other namespace', async (t) => {
  const nimbus = await startTestPlatform(t);
  const { url, client } = nimbus;
  const admin = nimbus.platform.token;
  for (const ns of ['team-a', 'team-b']) {
    await client.call('POST', '/api/v1/namespaces', { name: ns });
    const inNs = new NimbusClient(url, admin, ns);
    await deployTo(inNs, 'echo', 'fn');
    await deployTo(inNs, 'echo', 'secret', { private: true });
  }
  const { bundle, spec } = await new NimbusClient(url, admin, 'team-a').get('fn');

  const operations: Operation[] = [
    {
      name: 'list functions',
      need: 'read',
      ok: 200,
      request: (ns) => ({ method: 'GET', path: `/api/v1/functions?namespace=${ns}` }),
    },
    {
      name: 'describe',
      need: 'read',
      ok: 200,
      request: (ns) => ({ method: 'GET', path: `/api/v1/functions/fn?namespace=${ns}` }),
    },
    {
      name: 'deploy',
      need: 'deploy',
      ok: 200,
      request: (ns) => ({
        method: 'PUT',
        path: `/api/v1/functions/fn?namespace=${ns}`,
        body: { bundle, spec },
      }),
    },
    {
      name: 'rm (of none)',
      need: 'deploy',
      ok: 404,
      request: (ns) => ({ method: 'DELETE', path: `/api/v1/functions/none?namespace=${ns}` }),
    },
    {
      name: 'activity (dashboard charts)',
      need: 'read',
      ok: 200,
      request: (ns) => ({ method: 'GET', path: `/api/v1/activity?namespace=${ns}` }),
    },
    {
      name: "a function's activity",
      need: 'read',
      ok: 200,
      request: (ns) => ({ method: 'GET', path: `/api/v1/functions/fn/activity?namespace=${ns}` }),
    },
    {
      name: 'logs',
      need: 'read',
      ok: 200,
      request: (ns) => ({ method: 'GET', path: `/system/logs?name=fn&namespace=${ns}` }),
    },
    {
      name: 'calls',
      need: 'read',
      ok: 200,
      request: (ns) => ({ method: 'GET', path: `/system/calls?function=fn.${ns}` }),
    },
    {
      name: 'redrive all',
      need: 'deploy',
      ok: 200,
      request: (ns) => ({ method: 'POST', path: `/system/calls/redrive?function=fn.${ns}` }),
    },
    {
      name: 'OpenFaaS list',
      need: 'read',
      ok: 200,
      request: (ns) => ({ method: 'GET', path: `/system/functions?namespace=${ns}` }),
    },
    {
      name: 'OpenFaaS scale',
      need: 'deploy',
      ok: 202,
      request: (ns) => ({
        method: 'POST',
        path: '/system/scale-function/fn',
        body: { serviceName: 'fn', namespace: ns, replicas: 1 },
      }),
    },
    {
      name: 'describe namespace',
      need: 'read',
      ok: 200,
      request: (ns) => ({ method: 'GET', path: `/api/v1/namespaces/${ns}` }),
    },
    {
      name: 'create a key',
      need: 'admin',
      ok: 201,
      request: (ns) => ({ method: 'POST', path: '/api/v1/keys', body: { scope: 'read', namespace: ns } }),
    },
    {
      name: 'invoke private',
      need: 'invoke',
      ok: 200,
      request: (ns) => ({ method: 'POST', path: `/function/secret.${ns}` }),
    },
    {
      name: 'async private',
      need: 'invoke',
      ok: 202,
      request: (ns) => ({ method: 'POST', path: `/async-function/secret.${ns}` }),
    },
  ];

  const scopes: Scope[] = ['admin', 'deploy', 'invoke', 'read'];
  const keys = new Map<Scope, { id: string; secret: string }>();
  for (const scope of scopes)
    keys.set(
      scope,
      await client.call('POST', '/api/v1/keys', {
        scope,
        namespace: 'team-a',
        ...(scope === 'invoke' ? { functions: ['secret'] } : {}),
      }),
    );

  const send = async (secret: string, op: Operation, ns: string) => {
    const { method, path, body } = op.request(ns);
    const res = await fetch(`${url}${path}`, {
      method,
      headers: { authorization: `Bearer ${secret}` },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, text };
  };

  const failures: string[] = [];
  for (const scope of scopes) {
    for (const ns of ['team-a', 'team-b']) {
      for (const op of operations) {
        const own = ns === 'team-a';
        const allowed = own && (op.need === 'invoke' ? scope !== 'read' : RANK[scope] >= NEEDED[op.need]);
        const { status, text } = await send(keys.get(scope)!.secret, op, ns);
        const expected = allowed ? op.ok : 403;
        if (status !== expected)
          failures.push(
            `${scope} key, ${own ? 'own' : 'other'} namespace, ${op.name}: ${status} (expected ${expected}) ${text.slice(0, 160)}`,
          );
        if (!allowed && !/ERR_(AUTH|FUNCTION)_FORBIDDEN/.test(text))
          failures.push(
            `${scope} key, ${ns}, ${op.name}: refused without a coded forbidden error: ${text.slice(0, 160)}`,
          );
      }
    }
  }
  // The admin token reaches every namespace.
  for (const ns of ['team-a', 'team-b'])
    for (const op of operations) {
      const { status, text } = await send(admin, op, ns);
      if (status !== op.ok) failures.push(`admin token, ${ns}, ${op.name}: ${status} ${text.slice(0, 160)}`);
    }
  assert.deepEqual(failures, []);

  await t.test('a namespace key sees only its namespace in lists and metrics', async () => {
    const read = keys.get('read')!.secret;
    const namespaces = (await (
      await fetch(`${url}/api/v1/namespaces`, { headers: { authorization: `Bearer ${read}` } })
    ).json()) as {
      namespaces: { name: string }[];
    };
    assert.deepEqual(
      namespaces.namespaces.map((n) => n.name),
      ['team-a'],
    );
    const all = (await (
      await fetch(`${url}/api/v1/functions?namespace=*`, { headers: { authorization: `Bearer ${read}` } })
    ).json()) as {
      functions: { namespace: string }[];
    };
    assert.deepEqual([...new Set(all.functions.map((f) => f.namespace))], ['team-a']);
    await fetch(`${url}/function/fn.team-b`);
    const metrics = await (
      await fetch(`${url}/metrics`, { headers: { authorization: `Bearer ${read}` } })
    ).text();
    assert.ok(!metrics.includes('team-b'), 'no series of another namespace');
    assert.ok(!metrics.includes('nimbus_memory_budget_bytes'), 'no platform-wide gauge');
    const keyList = (await (
      await fetch(`${url}/api/v1/keys`, { headers: { authorization: `Bearer ${keys.get('admin')!.secret}` } })
    ).json()) as {
      keys: { namespace: string }[];
    };
    assert.ok(
      keyList.keys.every((k) => k.namespace === 'team-a'),
      'a namespace admin lists its own keys',
    );
  });

  await t.test('namespaces themselves are managed by admin credentials of no namespace', async () => {
    const nsAdmin = keys.get('admin')!.secret;
    const res = await fetch(`${url}/api/v1/namespaces`, {
      method: 'POST',
      headers: { authorization: `Bearer ${nsAdmin}` },
      body: JSON.stringify({ name: 'team-c' }),
    });
    assert.equal(res.status, 403);
    const global = await client.call<{ id: string; secret: string }>('POST', '/api/v1/keys', {
      scope: 'admin',
      namespace: '*',
    });
    const ok = await fetch(`${url}/api/v1/namespaces`, {
      method: 'POST',
      headers: { authorization: `Bearer ${global.secret}` },
      body: JSON.stringify({ name: 'team-c' }),
    });
    assert.equal(ok.status, 201);
  });

  await t.test('the Lambda API: a key signs only what its scope allows', async () => {
    const lambda = (key: { id: string; secret: string }) =>
      new LambdaClient({
        endpoint: url,
        region: 'us-east-1',
        maxAttempts: 1,
        credentials: { accessKeyId: key.id, secretAccessKey: key.secret },
      });
    const global = await client.call<{ id: string; secret: string }>('POST', '/api/v1/keys', {
      scope: 'read',
      namespace: 'default',
    });
    const reader = lambda(global);
    const invoker = lambda(keys.get('invoke')!);
    t.after(() => {
      reader.destroy();
      invoker.destroy();
    });
    assert.ok((await reader.send(new ListFunctionsCommand({}))).Functions);
    await assert.rejects(
      invoker.send(new ListFunctionsCommand({})),
      (err: Error) => err.name === 'AccessDeniedException',
    );
  });
});
