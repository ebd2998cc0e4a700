// The secrets store is the cluster's: a secret made through node 2 is named by a deploy through node 1 at
// once, and the instances node 3 starts read it; an update through OpenFaaS's /system/secrets on node 3 reaches
// instances started afterwards on every node; a node started with an empty data dir serves it; removal is
// refused from any node while a function uses it and is seen everywhere once done.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CLUSTER_TOKEN, startClusterNode, startClusterNodes } from '../helpers/nats-cluster.js';
import { natsSkip, startJetStream } from '../helpers/nats-server.js';
import { type TestPlatform, waitFor } from '../helpers/platform.js';

const skip = natsSkip();
const auth = { authorization: `Bearer ${CLUSTER_TOKEN}`, 'content-type': 'application/json' };

const api = (node: TestPlatform, method: string, path: string, body?: unknown) =>
  fetch(`${node.url}${path}`, {
    method,
    headers: auth,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

/** What `reader` on `node` read from its secrets directory. */
async function read(node: TestPlatform): Promise<Record<string, string> | undefined> {
  const res = await fetch(`${node.url}/function/reader`);
  if (res.status !== 200) return undefined;
  return ((await res.json()) as { values: Record<string, string> }).values;
}

test('cluster: a secret made on one node is read by instances on every node, updated and removed from any', {
  skip,
  timeout: 240_000,
}, async (t) => {
  const nats = await startJetStream(t);
  const nodes = await startClusterNodes(t, [nats.url], 3);
  const [one, two, three] = nodes as [TestPlatform, TestPlatform, TestPlatform];

  assert.equal((await api(two, 'POST', '/api/v1/secrets', { name: 'api-key', value: 'v1' })).status, 201);
  // Named at once through another node: node 1 catches up before it would call the secret missing.
  await one.deploy('secret-reader', 'reader', { secrets: ['api-key'] });
  for (const node of nodes)
    assert.deepEqual(
      await waitFor(() => read(node), 10_000, `reader on ${node.url}`),
      { 'api-key': 'v1' },
      node.url,
    );
  for (const node of nodes) {
    const { secrets } = (await (await api(node, 'GET', '/api/v1/secrets')).json()) as {
      secrets: { name: string; usedBy: string[] }[];
    };
    assert.deepEqual(
      secrets.map((s) => [s.name, s.usedBy]),
      [['api-key', ['reader']]],
      node.url,
    );
  }

  // Updated through faas-cli's API on node 3; a new version (new instances) on every node reads v2.
  const updated = await fetch(`${three.url}/system/secrets`, {
    method: 'PUT',
    headers: auth,
    body: JSON.stringify({ name: 'api-key', value: 'v2' }),
  });
  assert.equal(updated.status, 200);
  await two.deploy('secret-reader', 'reader', { secrets: ['api-key'], environment: { V: '2' } });
  for (const node of nodes)
    await waitFor(async () => (await read(node))?.['api-key'] === 'v2', 10_000, `v2 on ${node.url}`);

  // A node with an empty data dir: the secret comes from JetStream with the function.
  const fresh = await startClusterNode(t, [nats.url], { nodeId: 'fresh' });
  assert.deepEqual(await waitFor(() => read(fresh), 10_000, 'reader on the fresh node'), { 'api-key': 'v2' });

  // In use: refused from any node. Once the function is gone (removed through node 1), node 3 removes it.
  const inUse = await api(two, 'DELETE', '/api/v1/secrets/api-key');
  assert.equal(inUse.status, 409);
  assert.equal(((await inUse.json()) as { error: { code: string } }).error.code, 'ERR_SECRET_IN_USE');
  await one.client.remove('reader');
  assert.equal((await api(three, 'DELETE', '/api/v1/secrets/api-key')).status, 200);
  for (const node of [...nodes, fresh])
    await waitFor(
      async () =>
        ((await (await api(node, 'GET', '/api/v1/secrets')).json()) as { secrets: unknown[] }).secrets
          .length === 0,
      10_000,
      `the secret gone on ${node.url}`,
    );
  // A deploy naming it is refused on every node.
  await assert.rejects(two.deploy('secret-reader', 'reader', { secrets: ['api-key'] }), {
    code: 'ERR_SECRET_NOT_FOUND',
  });
});
