// Access keys on one node: the api_keys table of the node's SQLite file (hash and sealed secret per key),
// all of them held in memory (key-index.ts) so a check never queries the database.
import Database from 'better-sqlite3';
import { z } from 'zod';
import { NimbusError } from '../errors.js';
import { KeyIndex } from './key-index.js';
import {
  type KeyRecord,
  type KeyStore,
  type KeyView,
  makeKeyRecord,
  type NewKey,
  type Principal,
  SCOPES,
} from './keys.js';
import type { Sealer } from './master-key.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY,
  secret_hash BLOB NOT NULL UNIQUE,
  secret_sealed BLOB NOT NULL,
  scope TEXT NOT NULL,
  namespace TEXT NOT NULL,
  functions TEXT NOT NULL,
  description TEXT,
  owner TEXT,
  created_at INTEGER NOT NULL
) STRICT;
`;

interface Row {
  id: string;
  secret_hash: Buffer;
  secret_sealed: Buffer;
  scope: string;
  namespace: string;
  functions: string;
  description: string | null;
  owner: string | null;
  created_at: number;
}

const functionsSchema = z.union([z.literal('*'), z.array(z.string())]);

export class SqliteKeyStore implements KeyStore {
  readonly #db: Database.Database;
  readonly #sealer: Sealer;
  readonly #index: KeyIndex;
  readonly #stmts;

  constructor(file: string, sealer: Sealer) {
    this.#sealer = sealer;
    this.#index = new KeyIndex(sealer);
    this.#db = new Database(file);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec(SCHEMA);
    this.#stmts = {
      insert: this.#db.prepare(
        `INSERT INTO api_keys (id, secret_hash, secret_sealed, scope, namespace, functions, description, owner, created_at)
         VALUES (@id, @secret_hash, @secret_sealed, @scope, @namespace, @functions, @description, @owner, @created_at)`,
      ),
      all: this.#db.prepare<[], Row>('SELECT * FROM api_keys'),
      delete: this.#db.prepare('DELETE FROM api_keys WHERE id = ?'),
    };
    this.#migrateLegacy();
    for (const row of this.#stmts.all.all()) this.#index.hold(fromRow(row));
  }

  /** Keys of the first releases (Lambda API only, secret kept plain) become admin keys, sealed and hashed. */
  #migrateLegacy(): void {
    const legacy = this.#db
      .prepare<[], { n: number }>(
        "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'access_keys'",
      )
      .get();
    if (!legacy?.n) return;
    this.#db.transaction(() => {
      const rows = this.#db
        .prepare<[], { id: string; secret: string; created_at: number }>('SELECT * FROM access_keys')
        .all();
      for (const r of rows)
        this.#insert(makeKeyRecord({ scope: 'admin', namespace: '*' }, this.#sealer, r.created_at, r).record);
      this.#db.exec('DROP TABLE access_keys');
    })();
  }

  create(key: NewKey, now = Date.now()): KeyView & { secret: string } {
    const { record, secret } = makeKeyRecord(key, this.#sealer, now);
    this.#insert(record);
    this.#index.hold(record);
    return { ...record.view, secret };
  }

  #insert(record: KeyRecord): void {
    const v = record.view;
    this.#stmts.insert.run({
      id: v.id,
      secret_hash: record.secretHash,
      secret_sealed: record.secretSealed,
      scope: v.scope,
      namespace: v.namespace,
      functions: JSON.stringify(v.functions),
      description: v.description ?? null,
      owner: v.owner ?? null,
      created_at: v.createdAt,
    });
  }

  /** Every key as stored (hash and sealed secret), for moving them into a cluster's store. */
  records(): KeyRecord[] {
    return this.#stmts.all.all().map(fromRow);
  }

  bySecret(secret: string): Principal | undefined {
    return this.#index.bySecret(secret);
  }

  verify(id: string, secret: string): Principal | undefined {
    return this.#index.verify(id, secret);
  }

  get(id: string): KeyView | undefined {
    return this.#index.get(id);
  }

  secret(id: string): string | undefined {
    return this.#index.secret(id);
  }

  list(): KeyView[] {
    return this.#index.list();
  }

  ownedBy(owner: string): KeyView[] {
    return this.#index.ownedBy(owner);
  }

  remove(id: string): boolean {
    if (!this.#index.drop(id)) return false;
    this.#stmts.delete.run(id);
    return true;
  }

  /** SQLite writes are durable when they return. */
  sync(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

function fromRow(row: Row): KeyRecord {
  const functions = functionsSchema.safeParse(JSON.parse(row.functions));
  const scope = SCOPES.find((s) => s === row.scope);
  if (!functions.success || !scope)
    throw new NimbusError('ERR_INTERNAL', [`access key ${row.id} has an unreadable scope`]);
  return {
    view: Object.freeze({
      id: row.id,
      scope,
      namespace: row.namespace,
      functions: functions.data === '*' ? '*' : Object.freeze(functions.data),
      createdAt: row.created_at,
      ...(row.description === null ? {} : { description: row.description }),
      ...(row.owner === null ? {} : { owner: row.owner }),
    }),
    secretHash: row.secret_hash,
    secretSealed: row.secret_sealed,
  };
}
