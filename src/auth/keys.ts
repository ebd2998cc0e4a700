// Access keys: an id and a secret, with a scope (admin, deploy, invoke, read) over a namespace and a set of
// functions. The secret alone is a bearer credential; the pair signs Lambda API calls (SigV4) and is
// OpenWhisk's Basic `id:secret`. A key is stored as a SHA-256 of the secret (what bearer and Basic checks
// compare) and the secret sealed with a key derived from the master key (SigV4 needs the secret itself to
// verify a signature): the storage alone yields neither. The KeyStore interface has two implementations:
// SQLite on one node (sqlite-key-store.ts), JetStream KV in a cluster (nats-key-store.ts); both hold every
// key in memory, so a check is a hash and a map lookup, and a revocation counts from the next request.
import { createHash, randomBytes } from 'node:crypto';
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

/** A key as it is stored: its view, the SHA-256 of its secret and the secret sealed for its id. */
export interface KeyRecord {
  readonly view: KeyView;
  readonly secretHash: Buffer;
  readonly secretSealed: Buffer;
}

/** Prefix of every key id (20 characters in all, like an AWS one; not AWS's own prefixes). */
export const KEY_ID_PREFIX = 'NMBS';
/** Upper-case letters and digits, as AWS key ids are made of. */
const ID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
/** What a key id is: the prefix and 16 characters of the alphabet. */
export const KEY_ID_RE = /^NMBS[A-Z2-7]{16}$/;
/** Prefix of every key secret: a bearer token starting with it is a Nimbus credential, never an app's. */
export const KEY_SECRET_PREFIX = 'nmbk_';

/**
 * Where access keys live. Reads are synchronous lookups in memory (the hot path never waits on storage);
 * `create` and `remove` take effect on this node at once, and `sync()` resolves once every write so far is
 * durable (at once on SQLite; once JetStream acknowledged it in a cluster). An API answers only after it.
 */
export interface KeyStore {
  /** Makes a key; the answer holds its secret, which is never shown again. */
  create(key: NewKey, now?: number): KeyView & { secret: string };
  /** The key whose secret this is (a bearer token). */
  bySecret(secret: string): Principal | undefined;
  /** The key when `secret` is the secret of key `id` (Basic `id:secret`). */
  verify(id: string, secret: string): Principal | undefined;
  get(id: string): KeyView | undefined;
  /** The secret of a key, for verifying a SigV4 signature or handing a function its own key. */
  secret(id: string): string | undefined;
  /** Keys made by people (not those Nimbus made for functions), oldest first. */
  list(): KeyView[];
  /** Keys Nimbus made for `owner`. */
  ownedBy(owner: string): KeyView[];
  /** Revokes a key; false when there is none. */
  remove(id: string): boolean;
  /** Resolves once every write made so far is durable; rejects when one was refused. */
  sync(): Promise<void>;
  /**
   * Cluster: resolves once this node holds every key change any node had made when called (a lookup by id
   * that missed awaits it before it answers "not found"). Not for authentication, which never waits.
   */
  caughtUp?(): Promise<void>;
  close(): void;
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret).digest();
}

/** What seals a key's secret binds it to: a sealed secret moved to another key's record does not open. */
export const sealContext = (id: string): string => `api-key:${id}`;

/** A new key's record and its secret (or the record of an existing `secret`, when migrating keys in). */
export function makeKeyRecord(
  key: NewKey,
  sealer: Sealer,
  now: number,
  existing?: { id: string; secret: string },
): { record: KeyRecord; secret: string } {
  const id = existing?.id ?? randomKeyId();
  const secret = existing?.secret ?? `${KEY_SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
  const view: KeyView = Object.freeze({
    id,
    scope: key.scope,
    namespace: key.namespace ?? 'default',
    functions: key.functions === undefined || key.functions === '*' ? '*' : Object.freeze([...key.functions]),
    createdAt: now,
    ...(key.description === undefined ? {} : { description: key.description }),
    ...(key.owner === undefined ? {} : { owner: key.owner }),
  });
  return {
    record: {
      view,
      secretHash: hashSecret(secret),
      secretSealed: sealer.seal(Buffer.from(secret), sealContext(id)),
    },
    secret,
  };
}

function randomKeyId(): string {
  let id = KEY_ID_PREFIX;
  for (const b of randomBytes(16)) id += ID_ALPHABET[b & 31];
  return id;
}
