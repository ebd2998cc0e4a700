// Secrets on one node: the secrets table of the node's SQLite file, one sealed value per namespace and name.
import Database from 'better-sqlite3';
import type { Sealer } from '../auth/master-key.js';
import { NimbusError } from '../errors.js';
import {
  assertSecretName,
  checkSecretValue,
  openSecrets,
  type SecretInfo,
  type SecretRecord,
  type SecretStore,
  sealSecret,
} from './secret-store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS secrets (
  namespace TEXT NOT NULL,
  name TEXT NOT NULL,
  value_sealed BLOB NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  PRIMARY KEY (namespace, name)
) STRICT;
`;

interface Row {
  namespace: string;
  name: string;
  value_sealed: Buffer;
  created_at: number;
  updated_at: number;
}

export class SqliteSecretStore implements SecretStore {
  readonly #db: Database.Database;
  readonly #sealer: Sealer;
  readonly #stmts;

  constructor(file: string, sealer: Sealer) {
    this.#sealer = sealer;
    this.#db = new Database(file);
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('busy_timeout = 5000');
    this.#db.exec(SCHEMA);
    this.#stmts = {
      insert: this.#db.prepare(
        `INSERT INTO secrets (namespace, name, value_sealed, created_at, updated_at)
         VALUES (@namespace, @name, @value_sealed, @created_at, @updated_at)`,
      ),
      update: this.#db.prepare(
        'UPDATE secrets SET value_sealed = ?, updated_at = ? WHERE namespace = ? AND name = ?',
      ),
      get: this.#db.prepare<[string, string], Row>('SELECT * FROM secrets WHERE namespace = ? AND name = ?'),
      list: this.#db.prepare<[string], Omit<Row, 'value_sealed'>>(
        'SELECT namespace, name, created_at, updated_at FROM secrets WHERE namespace = ? ORDER BY name',
      ),
      all: this.#db.prepare<[], Row>('SELECT * FROM secrets'),
      delete: this.#db.prepare('DELETE FROM secrets WHERE namespace = ? AND name = ?'),
      deleteNamespace: this.#db.prepare('DELETE FROM secrets WHERE namespace = ?'),
    };
  }

  create(namespace: string, name: string, value: Buffer, now = Date.now()): SecretInfo {
    assertSecretName(name);
    checkSecretValue(value);
    if (this.#stmts.get.get(namespace, name)) throw new NimbusError('ERR_SECRET_EXISTS', [name]);
    this.#stmts.insert.run({
      namespace,
      name,
      value_sealed: sealSecret(this.#sealer, namespace, name, value),
      created_at: now,
      updated_at: now,
    });
    return { namespace, name, createdAt: now, updatedAt: now };
  }

  update(namespace: string, name: string, value: Buffer, now = Date.now()): SecretInfo {
    assertSecretName(name);
    checkSecretValue(value);
    const sealed = sealSecret(this.#sealer, namespace, name, value);
    if (this.#stmts.update.run(sealed, now, namespace, name).changes === 0)
      throw new NimbusError('ERR_SECRET_NOT_FOUND', [name]);
    const row = this.#stmts.get.get(namespace, name)!;
    return { namespace, name, createdAt: row.created_at, updatedAt: row.updated_at };
  }

  has(namespace: string, name: string): boolean {
    return this.#stmts.get.get(namespace, name) !== undefined;
  }

  list(namespace: string): SecretInfo[] {
    return this.#stmts.list.all(namespace).map((r) => ({
      namespace: r.namespace,
      name: r.name,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
    }));
  }

  /** Every secret as stored (sealed), for moving them into a cluster's store. */
  records(): SecretRecord[] {
    return this.#stmts.all.all().map((r) => ({
      namespace: r.namespace,
      name: r.name,
      createdAt: r.created_at,
      updatedAt: r.updated_at,
      sealed: r.value_sealed,
    }));
  }

  remove(namespace: string, name: string): boolean {
    return this.#stmts.delete.run(namespace, name).changes > 0;
  }

  removeNamespace(namespace: string): void {
    this.#stmts.deleteNamespace.run(namespace);
  }

  assertExist(namespace: string, names: readonly string[]): void {
    for (const name of names)
      if (!this.has(namespace, name)) throw new NimbusError('ERR_SECRET_NOT_FOUND', [name]);
  }

  values(namespace: string, names: readonly string[]): Map<string, Buffer> {
    return openSecrets(
      this.#sealer,
      namespace,
      names,
      (name) => this.#stmts.get.get(namespace, name)?.value_sealed,
    );
  }

  /** SQLite writes are durable when they return. */
  sync(): Promise<void> {
    return Promise.resolve();
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}
