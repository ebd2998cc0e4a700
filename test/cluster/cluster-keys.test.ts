// Access keys, functions' own keys and namespaces are the cluster's: a key made on one node authenticates on
// every node (Bearer, Basic id:secret, SigV4 through the AWS SDK) and a revocation on another is refused
// everywhere within a deadline; a function served by any node calls another with its own key, through its
// node's gateway or another's; a node started with an empty data dir authenticates existing keys; a
// namespace and its quotas made on one node hold on the others; a node with another master key is refused.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LambdaClient, ListFunctionsCommand } from '@aws-sdk/client-lambda';
import { NimbusClient } from '../../src/cli/client.js';
import {
  CLUSTER_MASTER_KEY,
  CLUSTER_TOKEN,
  startClusterNode,
  startClusterNodes,
} from '../helpers/nats-cluster.js';
import { natsSkip, startJetStream } from '../helpers/nats-server.js';
import { deployTo } from '../helpers/nimbus-process.js';
import type { TestPlatform } from '../helpers/platform.js';
import { waitFor } from '../helpers/platform.js';

const skip = natsSkip();

interface Key {
  id: string;
  secret: string;
}

const bearer = (key: Key) => ({ authorization: `Bearer ${key.secret}` });
const basic = (key: Key) => ({
  authorization: `Basic ${Buffer.from(`${key.id}:${key.secret}`).toString('base64')}`,
});

function lambda(url: string, key: Key): LambdaClient {
  return new LambdaClient({
    endpoint: url,
    region: 'us-east-1',
    maxAttempts: 1,
    credentials: { accessKeyId: key.id, secretAccessKey: key.secret },
  });
}

/** What each way of presenting `key` gets from `node`: [bearer on the API, bearer and Basic on a private function, SigV4]. */
async function tryKey(node: TestPlatform, key: Key): Promise<(number | string)[]> {
  const api = await fetch(`${node.url}/api/v1/functions`, { headers: bearer(key) });
  const viaBearer = await fetch(`${node.url}/function/guarded`, { headers: bearer(key) });
  const viaBasic = await fetch(`${node.url}/function/guarded`, { headers: basic(key) });
  const client = lambda(node.url, key);
  let sigv4: number | string;
  try {
    const listed = await client.send(new ListFunctionsCommand({}));
    sigv4 = listed.Functions?.some((f) => f.FunctionName === 'guarded') ? 200 : 'listed without guarded';
  } catch (err) {
    sigv4 = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? String(err);
  } finally {
    client.destroy();
  }
  return [api.status, viaBearer.status, viaBasic.status, sigv4];
}

const ACCEPTED = [200, 200, 200, 200];
const REFUSED = [401, 401, 401, 403];

test('cluster: a key made on node 1 works on nodes 2 and 3 (Bearer, Basic, SigV4); revoked on node 2, it is refused everywhere', {
  skip,
  timeout: 180_000,
}, async (t) => {
  const nats = await startJetStream(t);
  const nodes = await startClusterNodes(t, [nats.url], 3);
  const [one, two, three] = nodes as [TestPlatform, TestPlatform, TestPlatform];
  await one.deploy('echo', 'guarded', { private: true });
  // Known everywhere (a private function answers 401 without a credential; an unknown one 404).
  for (const node of nodes)
    await waitFor(
      async () => (await fetch(`${node.url}/function/guarded`)).status === 401,
      10_000,
      `guarded on ${node.url}`,
    );

  const key = await one.client.call<Key>('POST', '/api/v1/keys', { scope: 'deploy' });
  const madeAt = performance.now();
  await Promise.all(
    [two, three].map((node) =>
      waitFor(
        async () => (await fetch(`${node.url}/api/v1/functions`, { headers: bearer(key) })).status === 200,
        10_000,
        `the key on ${node.url}`,
      ),
    ),
  );
  t.diagnostic(
    `a key made on node 1 worked on nodes 2 and 3 ${(performance.now() - madeAt).toFixed(0)} ms after node 1 answered`,
  );
  for (const node of nodes) assert.deepEqual(await tryKey(node, key), ACCEPTED, node.url);
  // Every node lists it.
  for (const node of nodes) {
    const { keys } = await node.client.call<{ keys: { id: string }[] }>('GET', '/api/v1/keys');
    assert.deepEqual(
      keys.map((k) => k.id),
      [key.id],
    );
  }

  await two.client.call('DELETE', `/api/v1/keys/${key.id}`);
  const revokedAt = performance.now();
  for (const node of [one, three]) {
    const got = await waitFor(
      async () => {
        const statuses = await tryKey(node, key);
        return statuses.every((s, i) => s === REFUSED[i]) && statuses;
      },
      10_000,
      `the revocation on ${node.url}`,
    );
    assert.deepEqual(got, REFUSED);
  }
  const ms = performance.now() - revokedAt;
  t.diagnostic(`revoked on node 2: refused by nodes 1 and 3 ${ms.toFixed(0)} ms after node 2 answered`);
  // The goal is well within a second (a KV watch); the bound is generous for a loaded two-core CI machine.
  assert.ok(ms < 10_000, `revocation took ${ms.toFixed(0)} ms`);
  assert.deepEqual(await tryKey(two, key), REFUSED);
  // Revoked once is gone everywhere: another node cannot revoke it again.
  await assert.rejects(three.client.call('DELETE', `/api/v1/keys/${key.id}`), { code: 'ERR_KEY_NOT_FOUND' });
});

test("cluster: a function's own key is the cluster's: served by node 3, it calls a private function through any node", {
  skip,
  timeout: 180_000,
}, async (t) => {
  const nats = await startJetStream(t);
  const nodes = await startClusterNodes(t, [nats.url], 3);
  const [one, two, three] = nodes as [TestPlatform, TestPlatform, TestPlatform];
  await one.deploy('echo', 'callee', { private: true });
  await one.deploy('key-caller', 'caller');
  type Answer = { node: string; key: string; status: number; body: string };
  const ask = async (node: TestPlatform, query: string): Promise<Answer> => {
    const res = await fetch(`${node.url}/function/caller?${query}`);
    assert.equal(res.status, 200, await res.clone().text());
    return (await res.json()) as Answer;
  };
  const served = await waitFor(
    async () => {
      const res = await fetch(`${three.url}/function/caller?target=callee`);
      return res.status === 200 && ((await res.json()) as Answer);
    },
    10_000,
    'caller on node 3',
  );
  // Node 3 runs it; through node 3's own gateway (NIMBUS_URL), with Bearer and with Basic id:secret.
  assert.equal(served.node, three.url);
  assert.equal(served.status, 200, served.body);
  assert.equal(JSON.parse(served.body).method, 'GET');
  assert.equal((await ask(three, 'target=callee&auth=basic')).status, 200);
  // Through node 2's gateway: the key node 3 handed its instance is valid on node 2 as well.
  for (const auth of ['bearer', 'basic']) {
    const via = await ask(three, `target=callee&auth=${auth}&via=${encodeURIComponent(two.url)}`);
    assert.equal(via.status, 200, `${auth} via node 2: ${via.body}`);
  }
  // One key for the function across the cluster, and every node hands its instances that one.
  const fromOne = await ask(one, 'target=callee');
  assert.equal(fromOne.status, 200);
  assert.equal(fromOne.key, served.key, 'node 1 and node 3 use the same key');
  const owned = (node: TestPlatform) =>
    node.platform.keys
      .ownedBy('fn:caller')
      .map((k) => k.id)
      .sort();
  await waitFor(
    () => nodes.every((n) => JSON.stringify(owned(n)) === JSON.stringify(owned(one))),
    10_000,
    'every node to hold the same keys of caller',
  );
  assert.deepEqual(owned(one), [served.key]);
  // It reaches its namespace only through its scope (invoke): not the control API.
  const control = await fetch(`${two.url}/api/v1/functions`, {
    headers: { authorization: `Bearer ${three.platform.keys.secret(served.key)}` },
  });
  assert.equal(control.status, 403);

  // rm on node 2: its key is revoked on every node.
  await two.client.remove('caller');
  await Promise.all(
    nodes.map((node) => waitFor(() => owned(node).length === 0, 10_000, `caller's key gone on ${node.url}`)),
  );
  for (const node of nodes) assert.equal(node.platform.keys.get(served.key), undefined);
});

test('cluster: a node started with an empty data dir authenticates existing keys (Bearer, Basic, SigV4)', {
  skip,
  timeout: 180_000,
}, async (t) => {
  const nats = await startJetStream(t);
  const first = await startClusterNode(t, [nats.url], { nodeId: 'first' });
  await first.deploy('echo', 'guarded', { private: true });
  const key = await first.client.call<Key>('POST', '/api/v1/keys', { scope: 'deploy' });
  await first.platform.close();
  // No node is left that made the key: only JetStream holds it.
  const fresh = await startClusterNode(t, [nats.url], { nodeId: 'fresh' });
  const got = await waitFor(
    async () => {
      const statuses = await tryKey(fresh, key);
      return statuses.every((s, i) => s === ACCEPTED[i]) && statuses;
    },
    10_000,
    'the key on the fresh node',
  );
  assert.deepEqual(got, ACCEPTED);
  assert.deepEqual(
    (await fresh.client.call<{ keys: { id: string }[] }>('GET', '/api/v1/keys')).keys.map((k) => k.id),
    [key.id],
  );
});

test('cluster: a namespace made on node 1 is usable on node 2; a quota changed on node 1 holds on node 2', {
  skip,
  timeout: 180_000,
}, async (t) => {
  const nats = await startJetStream(t);
  const [one, two] = (await startClusterNodes(t, [nats.url], 2)) as [TestPlatform, TestPlatform];
  await one.client.call('POST', '/api/v1/namespaces', { name: 'team-a' });
  // Node 2 knows it at once: it makes a key of that namespace, and the key deploys there.
  const key = await two.client.call<Key>('POST', '/api/v1/keys', { scope: 'deploy', namespace: 'team-a' });
  const asTeam = new NimbusClient(two.url, key.secret, 'team-a');
  await deployTo(asTeam, 'hello', 'hi');
  for (const node of [one, two])
    await waitFor(
      async () => (await fetch(`${node.url}/function/hi.team-a`)).status === 200,
      10_000,
      `hi.team-a on ${node.url}`,
    );
  // maxRps 0 set through node 1: node 2 refuses calls in the namespace; cleared, it serves again.
  await one.client.call('PUT', '/api/v1/namespaces/team-a', { maxRps: 0 });
  const refused = await waitFor(
    async () => {
      const res = await fetch(`${two.url}/function/hi.team-a`);
      return res.status === 429 && ((await res.json()) as { error: { code: string } });
    },
    10_000,
    'the quota on node 2',
  );
  assert.equal(refused.error.code, 'ERR_QUOTA_RPS');
  const described = await two.client.call<{ quotas: Record<string, number> }>(
    'GET',
    '/api/v1/namespaces/team-a',
  );
  assert.deepEqual(described.quotas, { maxRps: 0 });
  await one.client.call('PUT', '/api/v1/namespaces/team-a', { maxRps: null });
  await waitFor(
    async () => (await fetch(`${two.url}/function/hi.team-a`)).status === 200,
    10_000,
    'calls again on node 2',
  );
  // Removed on node 2 (after its function and key): gone on node 1.
  await asTeam.remove('hi');
  await two.client.call('DELETE', `/api/v1/keys/${key.id}`);
  await two.client.call('DELETE', '/api/v1/namespaces/team-a');
  await waitFor(
    async () => {
      const { namespaces } = await one.client.call<{ namespaces: { name: string }[] }>(
        'GET',
        '/api/v1/namespaces',
      );
      return !namespaces.some((n) => n.name === 'team-a');
    },
    10_000,
    'team-a gone on node 1',
  );
  await assert.rejects(one.client.call('POST', '/api/v1/keys', { scope: 'read', namespace: 'team-a' }), {
    code: 'ERR_NAMESPACE_NOT_FOUND',
  });
});

test('cluster: a node whose master key is not the cluster’s refuses to start, saying so', {
  skip,
  timeout: 120_000,
}, async (t) => {
  const nats = await startJetStream(t);
  await startClusterNode(t, [nats.url], { nodeId: 'first' });
  await assert.rejects(
    startClusterNode(t, [nats.url], { nodeId: 'other', masterKey: Buffer.alloc(32, 8).toString('base64') }),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_CLUSTER_MASTER_KEY_MISMATCH');
      assert.match(err.message, /give every node the same masterKey/);
      return true;
    },
  );
  // The same key (however given) is welcome.
  const same = await startClusterNode(t, [nats.url], { nodeId: 'same', masterKey: CLUSTER_MASTER_KEY });
  assert.equal(
    (await fetch(`${same.url}/api/v1/keys`, { headers: { authorization: `Bearer ${CLUSTER_TOKEN}` } }))
      .status,
    200,
  );
});
