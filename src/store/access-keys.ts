// Access keys for the Lambda-compatible API: an id and a secret that clients sign requests with (SigV4).
// Kept in SQLite on a connection of its own; the secret is stored as it is (SigV4 needs it to verify a
// signature), is shown once at creation and never listed.
import { randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS access_keys (
  id TEXT PRIMARY KEY,
  secret TEXT NOT NULL,
  created_at INTEGER NOT NULL
) STRICT;
`;

export interface AccessKey {
  accessKeyId: string;
  createdAt: number;
}

export interface NewAccessKey extends AccessKey {
  secretAccessKey: string;
}

/** Upper-case letters and digits, as AWS key ids are made of. */
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** Prefix of every Nimbus key id (20 characters in all, like an AWS one; not AWS's own prefixes). */
export const ACCESS_KEY_PREFIX = 'NMBS';

function randomId(): string {
  const bytes = randomBytes(16);
  let id = ACCESS_KEY_PREFIX;
  for (const b of bytes) id += ID_ALPHABET[b & 31];
  return id;
}

export class AccessKeyStore {
  private readonly db: Database.Database;
  private readonly stmts;

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(SCHEMA);
    this.stmts = {
      insert: this.db.prepare('INSERT INTO access_keys (id, secret, created_at) VALUES (?, ?, ?)'),
      secret: this.db.prepare<[string], { secret: string }>('SELECT secret FROM access_keys WHERE id = ?'),
      list: this.db.prepare<[], { id: string; created_at: number }>(
        'SELECT id, created_at FROM access_keys ORDER BY created_at, id',
      ),
      delete: this.db.prepare('DELETE FROM access_keys WHERE id = ?'),
    };
  }

  create(now = Date.now()): NewAccessKey {
    const accessKeyId = randomId();
    // 40 characters of [A-Za-z0-9+/], the shape of an AWS secret key.
    const secretAccessKey = randomBytes(30).toString('base64');
    this.stmts.insert.run(accessKeyId, secretAccessKey, now);
    return { accessKeyId, secretAccessKey, createdAt: now };
  }

  /** The secret of a key, for verifying a signature; undefined for an unknown id. */
  secret(accessKeyId: string): string | undefined {
    return this.stmts.secret.get(accessKeyId)?.secret;
  }

  list(): AccessKey[] {
    return this.stmts.list.all().map((r) => ({ accessKeyId: r.id, createdAt: r.created_at }));
  }

  remove(accessKeyId: string): boolean {
    return this.stmts.delete.run(accessKeyId).changes > 0;
  }

  close(): void {
    if (this.db.open) this.db.close();
  }
}
