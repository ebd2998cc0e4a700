// A node that ran alone before it joined a cluster has secrets in its SQLite file: they move into the
// cluster's store as they are sealed (the cluster shares this node's master key), unless the cluster already
// has one of that namespace and name, and leave the file once JetStream acknowledged them.
import { existsSync } from 'node:fs';
import type { Sealer } from '../auth/master-key.js';
import type { NatsSecretStore } from '../store/nats-secret-store.js';
import { SqliteSecretStore } from '../store/sqlite-secret-store.js';

export async function adoptLocalSecrets(
  file: string,
  sealer: Sealer,
  shared: NatsSecretStore,
  log: { event(event: { type: string; [key: string]: unknown }): void },
): Promise<void> {
  if (!existsSync(file)) return;
  const local = new SqliteSecretStore(file, sealer);
  try {
    const records = local.records();
    if (records.length === 0) return;
    const adopted = shared.adopt(records);
    try {
      await shared.sync();
    } catch (err) {
      // Kept in the file: the next start tries again.
      log.event({ type: 'secrets-adopt-failed', error: (err as Error).message });
      return;
    }
    for (const r of records) local.remove(r.namespace, r.name);
    const skipped = records.length - adopted.length;
    log.event({
      type: 'secrets-adopted',
      adopted: adopted.length,
      summary: `${adopted.length} secret(s) of this node's file now shared by the cluster${
        skipped > 0 ? ` (${skipped} the cluster already had were left to it)` : ''
      }`,
    });
  } finally {
    local.close();
  }
}
