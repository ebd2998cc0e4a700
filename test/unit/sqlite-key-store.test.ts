// Access keys on one node: the KeyStore contract (test/unit/key-store-contract.ts) over SQLite, and what is
// its own: keys of the first releases (a plain secret in `access_keys`) become sealed admin keys.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { KeyStore } from '../../src/auth/keys.js';
import { SqliteKeyStore } from '../../src/auth/sqlite-key-store.js';
import { CONTRACT_SEALER, keyStoreContract } from './key-store-contract.js';

function setUp(t: { after: (fn: () => void) => void }) {
  const dir = mkdtempSync(join(tmpdir(), 'nimbus-keys-'));
  const file = join(dir, 'nimbus.db');
  const opened: KeyStore[] = [];
  t.after(() => {
    for (const keys of opened) keys.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { file, opened };
}

keyStoreContract('sqlite key store', async (t) => {
  const { file, opened } = setUp(t);
  return {
    async open(sealer = CONTRACT_SEALER) {
      const keys = new SqliteKeyStore(file, sealer);
      opened.push(keys);
      return keys;
    },
    async raw() {
      return Buffer.concat([file, `${file}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f)));
    },
  };
});

test('sqlite key store: keys of the first releases become sealed admin keys of every namespace', (t) => {
  const { file, opened } = setUp(t);
  const db = new Database(file);
  db.exec(
    'CREATE TABLE access_keys (id TEXT PRIMARY KEY, secret TEXT NOT NULL, created_at INTEGER NOT NULL)',
  );
  db.prepare('INSERT INTO access_keys VALUES (?, ?, ?)').run('NMBSOLDOLDOLDOLDOLD2', 'old-secret', 42);
  db.close();
  const keys = new SqliteKeyStore(file, CONTRACT_SEALER);
  opened.push(keys);
  assert.deepEqual(keys.bySecret('old-secret'), {
    id: 'NMBSOLDOLDOLDOLDOLD2',
    scope: 'admin',
    namespace: '*',
    functions: '*',
    createdAt: 42,
  });
  assert.equal(keys.secret('NMBSOLDOLDOLDOLDOLD2'), 'old-secret');
  const check = new Database(file, { readonly: true });
  t.after(() => check.close());
  const tables = check.prepare("SELECT name FROM sqlite_master WHERE name = 'access_keys'").all();
  assert.deepEqual(tables, [], 'the plain table is gone');
});
