// Access keys: an id and a secret, with a scope (admin, deploy, invoke, read) over a namespace and a set of
// functions. The secret alone is a bearer credential; the pair signs Lambda API calls (SigV4) and is
// OpenWhisk's Basic `id:secret`. Stored in SQLite as a SHA-256 of the secret (what bearer and Basic
// checks compare) and the secret sealed with a key derived from the master key (SigV4 needs the secret
// itself to verify a signature): the database alone yields neither. All keys are held in memory too, so
// a check is a hash and a map lookup, and a revocation counts from the next request.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import Database from 'better-sqlite3';
import { z } from 'zod';
import { NimbusError } from '../errors.js';
import type { Sealer } from './master-key.js';

export const SCOPES = ['admin', 'deploy', 'invoke', 'read'] as const;
export type Scope = (typeof SCOPES)[number];

/** Who a request acts as: the admin token or one key. */
export interface Principal {
  /** The key id, or `admin-token`. */
  readonly id: string;
  readonly scope: Scope;
  /** The namespace it acts in; `*`: every namespace. */
  readonly namespace: string;
  /** The functions it reaches; `*`: all of its namespace. */
  readonly functions: readonly string[] | '*';
  /** Set for a key Nimbus made for a function's own use (`fn:<name>`); such keys are not listed. */
  readonly owner?: string | undefined;
}

export const ADMIN_PRINCIPAL: Principal = Object.freeze({
  id: 'admin-token',
  scope: 'admin',
  namespace: '*',
  functions: '*',
});

export interface KeyView extends Principal {
  readonly createdAt: number;
  readonly description?: string | undefined;
}

export interface NewKey {
  scope: Scope;
  namespace?: string;
  functions?: readonly string[] | '*';
  description?: string;
  owner?: string;
}

/** Prefix of every key id (20 characters in all, like an AWS one; not AWS's own prefixes). */
export const KEY_ID_PREFIX = 'NMBS';
/** Prefix of every key secret: a bearer token starting with it is a Nimbus credential, never an app's. */
export const KEY_SECRET_PREFIX = 'nmbk_';
/** Upper-case letters and digits, as AWS key ids are made of. */
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

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

interface Held {
  view: KeyView;
  hash: Buffer;
  sealed: Buffer;
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

export class KeyStore {
  readonly #db: Database.Database;
  readonly #sealer: Sealer;
  readonly #byId = new Map<string, Held>();
  readonly #byHash = new Map<string, Held>();
  readonly #stmts;

  constructor(file: string, sealer: Sealer) {
    this.#sealer = sealer;
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
    for (const row of this.#stmts.all.all()) this.#hold(row);
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
      for (const r of rows) this.#insert(r.id, r.secret, { scope: 'admin', namespace: '*' }, r.created_at);
      this.#db.exec('DROP TABLE access_keys');
    })();
  }

  create(key: NewKey, now = Date.now()): KeyView & { secret: string } {
    const id = randomId();
    const secret = `${KEY_SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
    const row = this.#insert(id, secret, key, now);
    return { ...this.#hold(row).view, secret };
  }

  #insert(id: string, secret: string, key: NewKey, now: number): Row {
    const row: Row = {
      id,
      secret_hash: hashSecret(secret),
      secret_sealed: this.#sealer.seal(Buffer.from(secret), `api-key:${id}`),
      scope: key.scope,
      namespace: key.namespace ?? 'default',
      functions: JSON.stringify(key.functions ?? '*'),
      description: key.description ?? null,
      owner: key.owner ?? null,
      created_at: now,
    };
    this.#stmts.insert.run(row);
    return row;
  }

  #hold(row: Row): Held {
    const functions = functionsSchema.safeParse(JSON.parse(row.functions));
    const scope = (SCOPES as readonly string[]).includes(row.scope) ? (row.scope as Scope) : undefined;
    if (!functions.success || !scope)
      throw new NimbusError('ERR_INTERNAL', [`access key ${row.id} has an unreadable scope`]);
    const held: Held = {
      view: Object.freeze({
        id: row.id,
        scope,
        namespace: row.namespace,
        functions: functions.data === '*' ? '*' : Object.freeze(functions.data),
        createdAt: row.created_at,
        ...(row.description === null ? {} : { description: row.description }),
        ...(row.owner === null ? {} : { owner: row.owner }),
      }),
      hash: row.secret_hash,
      sealed: row.secret_sealed,
    };
    this.#byId.set(row.id, held);
    this.#byHash.set(row.secret_hash.toString('hex'), held);
    return held;
  }

  /** The key whose secret this is (a bearer token). */
  bySecret(secret: string): Principal | undefined {
    return this.#byHash.get(hashSecret(secret).toString('hex'))?.view;
  }

  /** The key when `secret` is the secret of key `id` (Basic `id:secret`). */
  verify(id: string, secret: string): Principal | undefined {
    const held = this.#byId.get(id);
    if (!held) return undefined;
    return timingSafeEqual(held.hash, hashSecret(secret)) ? held.view : undefined;
  }

  get(id: string): KeyView | undefined {
    return this.#byId.get(id)?.view;
  }

  /** The secret of a key, for verifying a SigV4 signature or handing a function its own key. */
  secret(id: string): string | undefined {
    const held = this.#byId.get(id);
    return held && this.#sealer.open(held.sealed, `api-key:${id}`)?.toString('utf8');
  }

  /** Keys made by people (not those Nimbus made for functions), oldest first. */
  list(): KeyView[] {
    return [...this.#byId.values()]
      .map((h) => h.view)
      .filter((v) => v.owner === undefined)
      .sort((a, b) => a.createdAt - b.createdAt || a.id.localeCompare(b.id));
  }

  /** Keys Nimbus made for `owner`. */
  ownedBy(owner: string): KeyView[] {
    return [...this.#byId.values()].map((h) => h.view).filter((v) => v.owner === owner);
  }

  remove(id: string): boolean {
    const held = this.#byId.get(id);
    if (!held) return false;
    this.#stmts.delete.run(id);
    this.#byId.delete(id);
    this.#byHash.delete(held.hash.toString('hex'));
    return true;
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }
}

function randomId(): string {
  let id = KEY_ID_PREFIX;
  for (const b of randomBytes(16)) id += ID_ALPHABET[b & 31];
  return id;
}
