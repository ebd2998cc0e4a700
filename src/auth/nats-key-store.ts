// Access keys in a cluster: one JetStream KV bucket (`nimbus-keys`, one entry per key id: the secret's hash
// and the secret sealed with the cluster's shared master key), mirrored in every node's memory by a KV
// watch. Authentication stays a local map lookup; a key made or revoked on any node counts on every node
// as soon as its watch delivers the change (well within a second); writes resolve `sync()` once JetStream
// acknowledged them, and a refused one is undone on this node.
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { type BucketKind, MirroredBucket } from '../cluster/mirrored-bucket.js';
import { PendingWrites } from '../cluster/pending-writes.js';
import { KeyIndex } from './key-index.js';
import {
  KEY_ID_RE,
  type KeyRecord,
  type KeyStore,
  type KeyView,
  makeKeyRecord,
  type NewKey,
  type Principal,
  SCOPES,
} from './keys.js';
import type { Sealer } from './master-key.js';

const storedKeySchema = z.strictObject({
  id: z.string().regex(KEY_ID_RE),
  /** SHA-256 of the secret, hex. */
  secretHash: z.string().regex(/^[0-9a-f]{64}$/),
  /** The secret sealed for this id (AES-256-GCM: nonce ‖ ciphertext ‖ tag), base64. */
  secretSealed: z.base64(),
  scope: z.enum(SCOPES),
  namespace: z.string().min(1).max(63),
  functions: z.union([z.literal('*'), z.array(z.string()).max(1000)]),
  description: z.string().max(200).exactOptional(),
  owner: z.string().max(300).exactOptional(),
  createdAt: z.number(),
});
type StoredKey = z.infer<typeof storedKeySchema>;

export const KEYS_BUCKET: BucketKind<StoredKey> = { bucket: 'nimbus-keys', schema: storedKeySchema };

export interface NatsKeyStoreOptions {
  nc: NatsConnection;
  sealer: Sealer;
  replicas?: number;
  /** A stored key that did not parse (another version's record, a hand-made entry): skipped. */
  onInvalid?: (bucket: string, key: string, error: string) => void;
  /** Another name for the bucket (tests). */
  bucket?: string;
}

export class NatsKeyStore implements KeyStore {
  readonly #bucket: MirroredBucket<StoredKey>;
  readonly #sealer: Sealer;
  readonly #index: KeyIndex;
  readonly #pending = new PendingWrites();
  readonly #stopListening: () => void;

  private constructor(bucket: MirroredBucket<StoredKey>, options: NatsKeyStoreOptions) {
    this.#bucket = bucket;
    this.#sealer = options.sealer;
    this.#index = new KeyIndex(options.sealer);
    const apply = (key: string, value: StoredKey | undefined): void => {
      if (value === undefined) {
        this.#index.drop(key);
        return;
      }
      // The entry's name is its id: a record filed under another key's id is not that key.
      if (value.id !== key) {
        options.onInvalid?.(bucket.name, key, `holds the record of key ${value.id}`);
        this.#index.drop(key);
        return;
      }
      this.#index.hold(fromStored(value));
    };
    // In one synchronous step: what the mirror holds now, then every change after it.
    for (const [key, value] of bucket.entries()) apply(key, value);
    this.#stopListening = bucket.onChange(({ key, value }) => apply(key, value));
  }

  /** Opens (creating when absent) the bucket and loads every key before it resolves. */
  static async open(options: NatsKeyStoreOptions): Promise<NatsKeyStore> {
    const kind = options.bucket ? { ...KEYS_BUCKET, bucket: options.bucket } : KEYS_BUCKET;
    const bucket = await MirroredBucket.open(options.nc, kind, {
      replicas: options.replicas ?? 1,
      onInvalid: (key, error) => options.onInvalid?.(kind.bucket, key, error),
    });
    return new NatsKeyStore(bucket, options);
  }

  create(key: NewKey, now = Date.now()): KeyView & { secret: string } {
    const { record, secret } = makeKeyRecord(key, this.#sealer, now);
    this.#write(record.view.id, toStored(record));
    return { ...record.view, secret };
  }

  /**
   * Adds keys made elsewhere (a node's SQLite keys when it joins a cluster) that the bucket lacks, as they
   * are (one sealed under an older master key still works as a bearer and Basic credential, as it did on
   * its node); the ids added.
   */
  adopt(records: readonly KeyRecord[]): string[] {
    const added: string[] = [];
    for (const record of records) {
      const id = record.view.id;
      if (this.#index.get(id)) continue;
      this.#write(id, toStored(record));
      added.push(id);
    }
    return added;
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
    if (!this.#index.get(id)) return false;
    this.#write(id, undefined);
    return true;
  }

  sync(): Promise<void> {
    return this.#pending.sync();
  }

  caughtUp(): Promise<void> {
    return this.#bucket.caughtUp();
  }

  #write(id: string, value: StoredKey | undefined): void {
    this.#pending.track(this.#bucket.write(id, value, { revertOnFailure: true }));
  }

  close(): void {
    this.#stopListening();
    this.#bucket.close();
  }
}

function toStored(record: KeyRecord): StoredKey {
  const v = record.view;
  return {
    id: v.id,
    secretHash: record.secretHash.toString('hex'),
    secretSealed: record.secretSealed.toString('base64'),
    scope: v.scope,
    namespace: v.namespace,
    functions: v.functions === '*' ? '*' : [...v.functions],
    ...(v.description === undefined ? {} : { description: v.description }),
    ...(v.owner === undefined ? {} : { owner: v.owner }),
    createdAt: v.createdAt,
  };
}

function fromStored(s: StoredKey): KeyRecord {
  return {
    view: Object.freeze({
      id: s.id,
      scope: s.scope,
      namespace: s.namespace,
      functions: s.functions === '*' ? '*' : Object.freeze([...s.functions]),
      createdAt: s.createdAt,
      ...(s.description === undefined ? {} : { description: s.description }),
      ...(s.owner === undefined ? {} : { owner: s.owner }),
    }),
    secretHash: Buffer.from(s.secretHash, 'hex'),
    secretSealed: Buffer.from(s.secretSealed, 'base64'),
  };
}
