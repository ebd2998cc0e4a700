// Secrets in a cluster: one JetStream KV bucket (`nimbus-secrets`; an entry per namespace and name holding the
// value sealed with the cluster's shared master key, bound to that namespace and name), mirrored in every
// node's memory by a KV watch. An instance started on any node gets the values current there; a secret made,
// updated or removed on one node counts on every node as soon as its watch delivers the change. Writes
// resolve `sync()` once JetStream acknowledged them, and a refused one is undone on this node.
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import type { Sealer } from '../auth/master-key.js';
import { type BucketKind, MirroredBucket } from '../cluster/mirrored-bucket.js';
import { PendingWrites } from '../cluster/pending-writes.js';
import { SECRET_NAME_RE } from '../config/function-spec.js';
import { NAMESPACE_RE } from '../config/namespace.js';
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

const storedSecretSchema = z.strictObject({
  namespace: z.string().regex(NAMESPACE_RE),
  name: z.string().regex(SECRET_NAME_RE),
  /** The value sealed for this namespace and name (AES-256-GCM: nonce ‖ ciphertext ‖ tag), base64. */
  valueSealed: z.base64(),
  createdAt: z.number(),
  updatedAt: z.number(),
});
type StoredSecret = z.infer<typeof storedSecretSchema>;

export const SECRETS_BUCKET: BucketKind<StoredSecret> = {
  bucket: 'nimbus-secrets',
  schema: storedSecretSchema,
};

/**
 * The KV key of a secret: `<namespace>.<name in base64url>`. A secret name may hold dots (even `..`), which
 * KV keys cannot carry as they are; a namespace holds none, so the key is unambiguous.
 */
export const secretKey = (namespace: string, name: string): string =>
  `${namespace}.${Buffer.from(name).toString('base64url')}`;

export interface NatsSecretStoreOptions {
  nc: NatsConnection;
  sealer: Sealer;
  replicas?: number;
  /** A stored secret that did not parse, or is filed under another name: skipped. */
  onInvalid?: (bucket: string, key: string, error: string) => void;
  /** Another name for the bucket (tests). */
  bucket?: string;
}

export class NatsSecretStore implements SecretStore {
  readonly #bucket: MirroredBucket<StoredSecret>;
  readonly #sealer: Sealer;
  readonly #pending = new PendingWrites();
  readonly #onInvalid: NatsSecretStoreOptions['onInvalid'];

  private constructor(bucket: MirroredBucket<StoredSecret>, options: NatsSecretStoreOptions) {
    this.#bucket = bucket;
    this.#sealer = options.sealer;
    this.#onInvalid = options.onInvalid;
  }

  /** Opens (creating when absent) the bucket and loads every secret before it resolves. */
  static async open(options: NatsSecretStoreOptions): Promise<NatsSecretStore> {
    const kind = options.bucket ? { ...SECRETS_BUCKET, bucket: options.bucket } : SECRETS_BUCKET;
    const bucket = await MirroredBucket.open(options.nc, kind, {
      replicas: options.replicas ?? 1,
      onInvalid: (key, error) => options.onInvalid?.(kind.bucket, key, error),
    });
    return new NatsSecretStore(bucket, options);
  }

  /** The secret's record, when the mirror holds one filed where its namespace and name say. */
  #get(namespace: string, name: string): StoredSecret | undefined {
    const key = secretKey(namespace, name);
    const stored = this.#bucket.get(key);
    if (stored && secretKey(stored.namespace, stored.name) !== key) {
      this.#onInvalid?.(this.#bucket.name, key, `holds secret ${stored.namespace}/${stored.name}`);
      return undefined;
    }
    return stored;
  }

  create(namespace: string, name: string, value: Buffer, now = Date.now()): SecretInfo {
    assertSecretName(name);
    checkSecretValue(value);
    if (this.#get(namespace, name)) throw new NimbusError('ERR_SECRET_EXISTS', [name]);
    const stored = this.#seal(namespace, name, value, now, now);
    this.#write(secretKey(namespace, name), stored);
    return info(stored);
  }

  update(namespace: string, name: string, value: Buffer, now = Date.now()): SecretInfo {
    assertSecretName(name);
    checkSecretValue(value);
    const existing = this.#get(namespace, name);
    if (!existing) throw new NimbusError('ERR_SECRET_NOT_FOUND', [name]);
    const stored = this.#seal(namespace, name, value, existing.createdAt, now);
    this.#write(secretKey(namespace, name), stored);
    return info(stored);
  }

  has(namespace: string, name: string): boolean {
    return this.#get(namespace, name) !== undefined;
  }

  list(namespace: string): SecretInfo[] {
    const out: SecretInfo[] = [];
    for (const [key, stored] of this.#bucket.entries())
      if (stored.namespace === namespace && key === secretKey(namespace, stored.name)) out.push(info(stored));
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  remove(namespace: string, name: string): boolean {
    if (!this.#get(namespace, name)) return false;
    this.#write(secretKey(namespace, name), undefined);
    return true;
  }

  removeNamespace(namespace: string): void {
    const prefix = `${namespace}.`;
    for (const [key] of [...this.#bucket.entries()]) if (key.startsWith(prefix)) this.#write(key, undefined);
  }

  assertExist(namespace: string, names: readonly string[]): void {
    for (const name of names)
      if (!this.has(namespace, name)) throw new NimbusError('ERR_SECRET_NOT_FOUND', [name]);
  }

  values(namespace: string, names: readonly string[]): Map<string, Buffer> {
    return openSecrets(this.#sealer, namespace, names, (name) => {
      const stored = this.#get(namespace, name);
      return stored && Buffer.from(stored.valueSealed, 'base64');
    });
  }

  /**
   * Adds secrets made elsewhere (a node's SQLite secrets when it joins a cluster) that the bucket lacks, as
   * they are sealed; the `namespace/name`s added.
   */
  adopt(records: readonly SecretRecord[]): string[] {
    const added: string[] = [];
    for (const r of records) {
      if (this.#get(r.namespace, r.name) || !SECRET_NAME_RE.test(r.name)) continue;
      this.#write(secretKey(r.namespace, r.name), {
        namespace: r.namespace,
        name: r.name,
        valueSealed: r.sealed.toString('base64'),
        createdAt: r.createdAt,
        updatedAt: r.updatedAt,
      });
      added.push(`${r.namespace}/${r.name}`);
    }
    return added;
  }

  sync(): Promise<void> {
    return this.#pending.sync();
  }

  caughtUp(): Promise<void> {
    return this.#bucket.caughtUp();
  }

  #seal(namespace: string, name: string, value: Buffer, createdAt: number, updatedAt: number): StoredSecret {
    const sealed = sealSecret(this.#sealer, namespace, name, value);
    return { namespace, name, valueSealed: sealed.toString('base64'), createdAt, updatedAt };
  }

  #write(key: string, value: StoredSecret | undefined): void {
    this.#pending.track(this.#bucket.write(key, value, { revertOnFailure: true }));
  }

  close(): void {
    this.#bucket.close();
  }
}

function info(s: StoredSecret): SecretInfo {
  return { namespace: s.namespace, name: s.name, createdAt: s.createdAt, updatedAt: s.updatedAt };
}
