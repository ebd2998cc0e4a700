// Aliases are the cluster's: set through one node, an alias routes calls on every node, and a change or
// removal through another node reaches a node that already routed calls through it (its routes are read
// again when any node changes the function's aliases).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { startClusterNodes } from '../helpers/nats-cluster.js';
import { natsSkip, startJetStream } from '../helpers/nats-server.js';
import { type TestPlatform, waitFor } from '../helpers/platform.js';

const skip = natsSkip();

/** What `greet@stable` on `node` answers: its GREETING, or the error code. */
async function viaAlias(node: TestPlatform): Promise<string> {
  const res = await fetch(`${node.url}/function/greet@stable`);
  const body = (await res.json()) as { env?: string; error?: { code: string } };
  return res.status === 200 ? String(body.env) : (body.error?.code ?? String(res.status));
}

test('cluster: an alias set, moved and removed through any node routes calls on every node', {
  skip,
  timeout: 180_000,
}, async (t) => {
  const nats = await startJetStream(t);
  const nodes = await startClusterNodes(t, [nats.url], 3);
  const [one, two, three] = nodes as [TestPlatform, TestPlatform, TestPlatform];
  await one.deploy('echo', 'greet', { environment: { GREETING: 'v1' } });
  await one.deploy('echo', 'greet', { environment: { GREETING: 'v2' } });
  await one.client.call('PUT', '/api/v1/functions/greet/aliases/stable', { version: 1 });
  for (const node of nodes)
    assert.equal(await waitFor(async () => (await viaAlias(node)) === 'v1' && 'v1', 10_000, node.url), 'v1');

  // Moved through node 3: node 2, which has routed through it already, follows.
  await three.client.call('PUT', '/api/v1/functions/greet/aliases/stable', { version: 2 });
  for (const node of nodes)
    await waitFor(async () => (await viaAlias(node)) === 'v2', 10_000, `stable → 2 on ${node.url}`);

  // Removed through node 1: gone on every node.
  await one.client.call('DELETE', '/api/v1/functions/greet/aliases/stable');
  for (const node of [two, three, one])
    await waitFor(
      async () => (await viaAlias(node)) === 'ERR_ALIAS_NOT_FOUND',
      10_000,
      `stable gone on ${node.url}`,
    );
});
