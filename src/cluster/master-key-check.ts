// Every node of a cluster must hold the same master key: it seals the shared access keys and secrets, so a
// node with another one could not verify SigV4 signatures or hand functions their secrets. The first node
// files a fingerprint of its key (HKDF-derived, so it tells nothing of the key) in KV; a node whose key does
// not match refuses to start, saying so.
import { createHash } from 'node:crypto';
import type { NatsConnection } from '@nats-io/transport-node';
import { deriveKey } from '../auth/master-key.js';
import { NimbusError } from '../errors.js';
import { openBucket } from './mirrored-bucket.js';

export const CLUSTER_BUCKET = 'nimbus-cluster';
const FINGERPRINT_KEY = 'master-key-fingerprint';

export function masterKeyFingerprint(masterKey: Buffer): string {
  return createHash('sha256').update(deriveKey(masterKey, 'cluster-fingerprint')).digest('hex').slice(0, 32);
}

/** Files this node's fingerprint when none is, else compares: ERR_CLUSTER_MASTER_KEY_MISMATCH when it differs. */
export async function checkMasterKey(nc: NatsConnection, masterKey: Buffer, replicas: number): Promise<void> {
  const kv = await openBucket(nc, CLUSTER_BUCKET, replicas);
  const mine = masterKeyFingerprint(masterKey);
  try {
    await kv.create(FINGERPRINT_KEY, mine);
    return;
  } catch {
    // Another node filed one first (or at the same moment): compare with it.
  }
  const entry = await kv.get(FINGERPRINT_KEY);
  const theirs = entry?.operation === 'PUT' ? entry.string() : undefined;
  if (theirs === undefined) {
    await kv.put(FINGERPRINT_KEY, mine);
    return;
  }
  if (theirs !== mine) throw new NimbusError('ERR_CLUSTER_MASTER_KEY_MISMATCH', [mine, theirs]);
}
