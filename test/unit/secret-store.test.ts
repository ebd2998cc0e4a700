// Secrets on one node: the SecretStore contract (test/unit/secret-store-contract.ts) over SQLite, and what is
// its own: a sealed value copied to another row (another name, or the same name in another namespace) does
// not open there.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { SecretStore } from '../../src/store/secret-store.js';
import { SqliteSecretStore } from '../../src/store/sqlite-secret-store.js';
import { CONTRACT_SECRET_SEALER, secretStoreContract } from './secret-store-contract.js';

function setUp(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-secrets-'));
  const file = join(dir, 'nimbus.db');
  const opened: SecretStore[] = [];
  t.after(() => {
    for (const s of opened) s.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { file, opened };
}

secretStoreContract('sqlite secret store', async (t) => {
  const { file, opened } = setUp(t);
  return {
    async open(sealer = CONTRACT_SECRET_SEALER) {
      const store = new SqliteSecretStore(file, sealer);
      opened.push(store);
      return store;
    },
    async raw() {
      return Buffer.concat([file, `${file}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
    },
  };
});

test('sqlite secret store: a sealed value copied to another row does not open there', (t) => {
  const { file, opened } = setUp(t);
  const store = new SqliteSecretStore(file, CONTRACT_SECRET_SEALER);
  store.create('default', 'one', Buffer.from('plain'));
  store.create('default', 'two', Buffer.from('other'));
  store.create('team-a', 'one', Buffer.from('team-a'));
  store.close();
  const db = new Database(file);
  const sealed = db
    .prepare("SELECT value_sealed FROM secrets WHERE namespace = 'default' AND name = 'one'")
    .pluck()
    .get();
  db.prepare("UPDATE secrets SET value_sealed = ? WHERE name = 'two' OR namespace = 'team-a'").run(sealed);
  db.close();
  const again = new SqliteSecretStore(file, CONTRACT_SECRET_SEALER);
  opened.push(again);
  assert.equal(again.values('default', ['one']).get('one')!.toString(), 'plain');
  assert.throws(() => again.values('default', ['two']), { code: 'ERR_INTERNAL' });
  assert.throws(() => again.values('team-a', ['one']), { code: 'ERR_INTERNAL' });
});
