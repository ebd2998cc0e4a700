// The secrets store (OpenFaaS's secrets): named values per namespace, sealed at rest with AES-256-GCM under a
// key derived from the master key, each bound to its namespace and name (a sealed value copied to another row
// does not open). A function gets secrets of its own namespace. Values leave the store only for the files an
// instance reads (/var/openfaas/secrets/<name>); listings show names.
import Database from 'better-sqlite3';
import type { Sealer } from '../auth/master-key.js';
import { SECRET_NAME_RE } from '../config/function-spec.js';
import { NimbusError } from '../errors.js';
/** Largest secret value: 512 KiB (its base64 must fit a control-API body of 1 MiB). */
export const SECRET_VALUE_LIMIT_BYTES = 512 * 1024;

export interface SecretInfo {
  namespace: string;
  name: string;
  createdAt: number;
  updatedAt: number;
}

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

/** Throws ERR_SECRET_INVALID unless `name` can name a secret. */
export function assertSecretName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !SECRET_NAME_RE.test(name))
    throw new NimbusError('ERR_SECRET_INVALID', [
      `the name ${JSON.stringify(String(name).slice(0, 80))} must be 1-253 letters, digits, ".", "_" or "-", starting with a letter or digit`,
    ]);
}

export class SecretStore {
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
      delete: this.#db.prepare('DELETE FROM secrets WHERE namespace = ? AND name = ?'),
      deleteNamespace: this.#db.prepare('DELETE FROM secrets WHERE namespace = ?'),
    };
  }

  /** Stores a new secret; ERR_SECRET_EXISTS when the name is taken in the namespace. */
  create(namespace: string, name: string, value: Buffer, now = Date.now()): SecretInfo {
    assertSecretName(name);
    checkValue(value);
    if (this.#stmts.get.get(namespace, name)) throw new NimbusError('ERR_SECRET_EXISTS', [name]);
    this.#stmts.insert.run({
      namespace,
      name,
      value_sealed: this.#seal(namespace, name, value),
      created_at: now,
      updated_at: now,
    });
    return { namespace, name, createdAt: now, updatedAt: now };
  }

  /** Replaces a secret's value; ERR_SECRET_NOT_FOUND when there is none. Instances started after it see it. */
  update(namespace: string, name: string, value: Buffer, now = Date.now()): SecretInfo {
    assertSecretName(name);
    checkValue(value);
    if (this.#stmts.update.run(this.#seal(namespace, name, value), now, namespace, name).changes === 0)
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

  remove(namespace: string, name: string): boolean {
    return this.#stmts.delete.run(namespace, name).changes > 0;
  }

  /** Drops every secret of a namespace (when the namespace is removed). */
  removeNamespace(namespace: string): void {
    this.#stmts.deleteNamespace.run(namespace);
  }

  /** Throws ERR_SECRET_NOT_FOUND naming the first of `names` the namespace lacks. */
  assertExist(namespace: string, names: readonly string[]): void {
    for (const name of names)
      if (!this.has(namespace, name)) throw new NimbusError('ERR_SECRET_NOT_FOUND', [name]);
  }

  /** The values of `names`, for an instance's files; ERR_SECRET_NOT_FOUND when one is gone. */
  values(namespace: string, names: readonly string[]): Map<string, Buffer> {
    const out = new Map<string, Buffer>();
    for (const name of names) {
      const row = this.#stmts.get.get(namespace, name);
      if (!row) throw new NimbusError('ERR_SECRET_NOT_FOUND', [name]);
      const value = this.#sealer.open(row.value_sealed, sealContext(namespace, name));
      // A value sealed under another master key, or tampered with: never served.
      if (!value)
        throw new NimbusError('ERR_INTERNAL', [`secret "${name}" does not open with this master key`]);
      out.set(name, value);
    }
    return out;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  #seal(namespace: string, name: string, value: Buffer): Buffer {
    return this.#sealer.seal(value, sealContext(namespace, name));
  }
}

function sealContext(namespace: string, name: string): string {
  return `secret:${namespace}/${name}`;
}

function checkValue(value: Buffer): void {
  if (value.length > SECRET_VALUE_LIMIT_BYTES)
    throw new NimbusError('ERR_SECRET_INVALID', [`the value is over ${SECRET_VALUE_LIMIT_BYTES} bytes`]);
}
