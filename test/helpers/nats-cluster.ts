// Test helper: several in-process Nimbus nodes on one NATS (each its own data dir and port), sharing an
// admin token and master key as a real cluster's nodes do.
import type { TestContext } from 'node:test';
import type { PlatformConfigInput } from '../../src/config/platform.js';
import { startTestPlatform, type TestPlatform } from './platform.js';

export const CLUSTER_TOKEN = 'cluster-test-admin-token-0123456789';
export const CLUSTER_MASTER_KEY = Buffer.alloc(32, 7).toString('base64');

export async function startClusterNode(
  t: TestContext,
  natsUrls: string[],
  config: PlatformConfigInput = {},
): Promise<TestPlatform> {
  return startTestPlatform(t, {
    cluster: natsUrls.join(','),
    adminToken: CLUSTER_TOKEN,
    masterKey: CLUSTER_MASTER_KEY,
    stemCells: { min: 0, max: 0 },
    ...config,
  });
}

export async function startClusterNodes(
  t: TestContext,
  natsUrls: string[],
  count: number,
  config: PlatformConfigInput = {},
): Promise<TestPlatform[]> {
  const nodes: TestPlatform[] = [];
  // One at a time: the first creates the streams and buckets the others open.
  for (let i = 0; i < count; i++)
    nodes.push(await startClusterNode(t, natsUrls, { nodeId: `node-${i + 1}`, ...config }));
  return nodes;
}
