// A node that ran alone before it joined a cluster has access keys in its SQLite file: they move into the
// cluster's store (people's keys; a function's own key is made anew, shared), and leave the file once
// JetStream acknowledged them, so a key revoked in the cluster never comes back from a node's file.
import { existsSync } from 'node:fs';
import type { Sealer } from '../auth/master-key.js';
import type { NatsKeyStore } from '../auth/nats-key-store.js';
import { SqliteKeyStore } from '../auth/sqlite-key-store.js';

export async function adoptLocalKeys(
  file: string,
  sealer: Sealer,
  shared: NatsKeyStore,
  log: { event(event: { type: string; [key: string]: unknown }): void },
): Promise<void> {
  if (!existsSync(file)) return;
  const local = new SqliteKeyStore(file, sealer);
  try {
    const records = local.records();
    if (records.length === 0) return;
    const people = records.filter((r) => r.view.owner === undefined);
    const adopted = shared.adopt(people);
    try {
      await shared.sync();
    } catch (err) {
      // Kept in the file: the next start tries again.
      log.event({ type: 'keys-adopt-failed', error: (err as Error).message });
      return;
    }
    for (const record of records) local.remove(record.view.id);
    const skipped = people.length - adopted.length;
    log.event({
      type: 'keys-adopted',
      adopted: adopted.length,
      summary: `${adopted.length} access key(s) of this node's file now shared by the cluster${
        skipped > 0 ? ` (${skipped} were already there)` : ''
      }`,
    });
  } finally {
    local.close();
  }
}
