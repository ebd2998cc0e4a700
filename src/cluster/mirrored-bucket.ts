// One JetStream KV bucket of one record kind, mirrored in memory by a KV watch: reads are map lookups that
// never wait on NATS; writes resolve once JetStream acknowledged them (and the mirror holds them). Each
// record kind of the cluster registry (functions, versions, counters, cron state, ...) is one of these.
import { type JetStreamManager, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { type KV, type KvEntry, Kvm, KvWatchInclude } from '@nats-io/kv';
import type { NatsConnection } from '@nats-io/transport-node';
import type { z } from 'zod';

export interface BucketKind<T> {
  /** Bucket name (letters, digits, `-`, `_`). */
  bucket: string;
  /** Every value read back is parsed with it; an unreadable one is skipped (and reported), never cast. */
  schema: z.ZodType<T>;
  /** Values older than this are dropped by JetStream (the bucket's max age). Default: kept. */
  ttlMs?: number;
}

export interface MirroredBucketOptions {
  /** Copies across the NATS cluster. Default 1. */
  replicas?: number;
  /** A value that did not parse (another version's record, a hand-made key). */
  onInvalid?: (key: string, error: string) => void;
  /** The first watch pass may take this long before the mirror is declared loaded. Default 10 s. */
  loadTimeoutMs?: number;
}

/** A change of one key: `value` undefined when it was deleted. `local`: this node's own write. */
export type BucketChange<T> = { key: string; value: T | undefined; revision: number };

interface Slot<T> {
  value: T | undefined;
  revision: number;
}

const encoder = new TextEncoder();

export class MirroredBucket<T> {
  readonly #kv: KV;
  readonly #kind: BucketKind<T>;
  readonly #slots = new Map<string, Slot<T>>();
  readonly #listeners = new Set<(change: BucketChange<T>) => void>();
  readonly #waiters = new Map<string, { revision: number; resolve: () => void }[]>();
  readonly #onInvalid: ((key: string, error: string) => void) | undefined;
  #stopWatch: (() => void) | undefined;
  #jsm: JetStreamManager | undefined;
  /** The highest stream sequence the watch has delivered, and who waits for one. */
  #seen = 0;
  #seenWaiters: { sequence: number; resolve: () => void }[] = [];

  private constructor(kv: KV, kind: BucketKind<T>, options: MirroredBucketOptions) {
    this.#kv = kv;
    this.#kind = kind;
    this.#onInvalid = options.onInvalid;
  }

  /** Opens (creating when absent) the bucket and loads every current value before it resolves. */
  static async open<T>(
    nc: NatsConnection,
    kind: BucketKind<T>,
    options: MirroredBucketOptions = {},
  ): Promise<MirroredBucket<T>> {
    const kv = await openBucket(nc, kind.bucket, options.replicas ?? 1, kind.ttlMs);
    const bucket = new MirroredBucket(kv, kind, options);
    await bucket.#watch(nc, options.loadTimeoutMs ?? 10_000);
    return bucket;
  }

  async #watch(nc: NatsConnection, loadTimeoutMs: number): Promise<void> {
    // How many keys the first pass delivers: it ends with the entry marked isUpdate (none when empty).
    this.#jsm = await jetstreamManager(nc);
    const info = await this.#jsm.streams.info(`KV_${this.#kind.bucket}`);
    const keys = info.state.num_subjects ?? info.state.messages;
    const iter = await this.#kv.watch({ include: KvWatchInclude.LastValue });
    this.#stopWatch = () => iter.stop();
    let loaded: () => void = () => {};
    const load = new Promise<void>((resolve) => {
      loaded = resolve;
      if (keys === 0) resolve();
    });
    void (async () => {
      for await (const entry of iter) {
        this.#apply(entry);
        this.#saw(entry.revision);
        if (entry.isUpdate) loaded();
      }
    })();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([load, new Promise<void>((r) => (timer = setTimeout(r, loadTimeoutMs)))]);
    clearTimeout(timer);
  }

  #saw(sequence: number): void {
    if (sequence <= this.#seen) return;
    this.#seen = sequence;
    if (this.#seenWaiters.length === 0) return;
    this.#seenWaiters = this.#seenWaiters.filter((w) => {
      if (w.sequence > sequence) return true;
      w.resolve();
      return false;
    });
  }

  /**
   * Resolves once the mirror holds every change the bucket had when called (made on any node): what a
   * lookup that missed awaits before it says "does not exist", so a client that made something through one
   * node and at once uses it through another is not refused while the watch is a few milliseconds behind.
   * One JetStream request; gives up (resolves) after `timeoutMs`.
   */
  async caughtUp(timeoutMs = 5000): Promise<void> {
    if (!this.#jsm) return;
    const info = await this.#jsm.streams.info(`KV_${this.#kind.bucket}`);
    const sequence = info.state.last_seq;
    if (sequence <= this.#seen) return;
    await new Promise<void>((resolve) => {
      const waiter = {
        sequence,
        resolve: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        this.#seenWaiters = this.#seenWaiters.filter((w) => w !== waiter);
        resolve();
      }, timeoutMs);
      this.#seenWaiters.push(waiter);
    });
  }

  #apply(entry: KvEntry): void {
    let value: T | undefined;
    if (entry.operation === 'PUT') {
      let parsed: unknown;
      try {
        parsed = entry.json();
      } catch (err) {
        this.#onInvalid?.(entry.key, (err as Error).message);
        return;
      }
      const result = this.#kind.schema.safeParse(parsed);
      if (!result.success) {
        this.#onInvalid?.(entry.key, result.error.message);
        return;
      }
      value = result.data;
    }
    this.#set(entry.key, value, entry.revision);
  }

  #set(key: string, value: T | undefined, revision: number): void {
    const slot = this.#slots.get(key);
    if (slot && slot.revision >= revision) return;
    this.#slots.set(key, { value, revision });
    for (const listener of this.#listeners) listener({ key, value, revision });
    const waiting = this.#waiters.get(key);
    if (waiting) {
      const still = waiting.filter((w) => {
        if (w.revision > revision) return true;
        w.resolve();
        return false;
      });
      if (still.length > 0) this.#waiters.set(key, still);
      else this.#waiters.delete(key);
    }
  }

  /** The bucket's name. */
  get name(): string {
    return this.#kind.bucket;
  }

  get(key: string): T | undefined {
    return this.#slots.get(key)?.value;
  }

  /** The revision of the value the mirror holds (also of a deletion); undefined for a key never seen. */
  revision(key: string): number | undefined {
    return this.#slots.get(key)?.revision;
  }

  *entries(): IterableIterator<[string, T]> {
    for (const [key, slot] of this.#slots) if (slot.value !== undefined) yield [key, slot.value];
  }

  /** Called for every change the mirror applies, this node's writes and other nodes' alike. */
  onChange(listener: (change: BucketChange<T>) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Writes `value` and shows it to this node's readers at once (a synchronous store API reads its own
   * write); the promise resolves once JetStream acknowledged it. Another node's later write still wins.
   * `revertOnFailure`: when JetStream refuses the write and nothing newer came meanwhile, this node shows
   * what it showed before (a credential whose creation failed does not authenticate here, and a revocation
   * that failed can be retried); without it the node keeps its own write until a newer one comes.
   */
  write(key: string, value: T | undefined, options: { revertOnFailure?: boolean } = {}): Promise<unknown> {
    const slot = this.#slots.get(key);
    const optimistic: Slot<T> = { value, revision: slot?.revision ?? 0 };
    this.#slots.set(key, optimistic);
    for (const listener of this.#listeners) listener({ key, value, revision: optimistic.revision });
    const written = value === undefined ? this.delete(key) : this.put(key, value);
    if (!options.revertOnFailure) return written;
    return written.catch((err: unknown) => {
      if (this.#slots.get(key) === optimistic) {
        if (slot) this.#slots.set(key, slot);
        else this.#slots.delete(key);
        for (const listener of this.#listeners)
          listener({ key, value: slot?.value, revision: slot?.revision ?? 0 });
      }
      throw err;
    });
  }

  /** Writes `value`; resolves with its revision once JetStream acknowledged it and the mirror holds it. */
  async put(key: string, value: T): Promise<number> {
    const revision = await this.#kv.put(key, this.#encode(value));
    this.#set(key, value, revision);
    return revision;
  }

  /** Writes `value` only when the key holds nothing (else rejects: someone else was first). */
  async create(key: string, value: T): Promise<number> {
    const revision = await this.#kv.create(key, this.#encode(value));
    this.#set(key, value, revision);
    return revision;
  }

  /** Writes `value` only when the key is still at `revision` (else rejects: it changed meanwhile). */
  async update(key: string, value: T, revision: number): Promise<number> {
    const next = await this.#kv.update(key, this.#encode(value), revision);
    this.#set(key, value, next);
    return next;
  }

  /** Deletes the key (only when still at `revision`, when given). */
  async delete(key: string, revision?: number): Promise<void> {
    await this.#kv.delete(key, revision === undefined ? {} : { previousSeq: revision });
    // The delete marker's revision is not returned: the watch applies it; meanwhile the mirror forgets.
    const slot = this.#slots.get(key);
    if (slot?.value !== undefined) {
      this.#slots.set(key, { value: undefined, revision: slot.revision });
      for (const listener of this.#listeners) listener({ key, value: undefined, revision: slot.revision });
    }
  }

  /** Reads the key from JetStream itself (not the mirror), for a write that must see the latest. */
  async fetch(key: string): Promise<{ value: T | undefined; revision: number } | undefined> {
    const entry = await this.#kv.get(key);
    if (!entry) return undefined;
    if (entry.operation !== 'PUT') return { value: undefined, revision: entry.revision };
    const result = this.#kind.schema.safeParse(entry.json());
    if (!result.success) return undefined;
    return { value: result.data, revision: entry.revision };
  }

  /** Resolves once the mirror holds `revision` of `key` or later (a write seen by the watch). */
  until(key: string, revision: number): Promise<void> {
    if ((this.#slots.get(key)?.revision ?? 0) >= revision) return Promise.resolve();
    return new Promise((resolve) => {
      const list = this.#waiters.get(key) ?? [];
      list.push({ revision, resolve });
      this.#waiters.set(key, list);
    });
  }

  #encode(value: T): Uint8Array {
    return encoder.encode(JSON.stringify(value));
  }

  close(): void {
    this.#stopWatch?.();
    this.#listeners.clear();
  }
}

/** Opens a KV bucket, creating it (file storage, `replicas`) when absent. */
export async function openBucket(
  nc: NatsConnection,
  name: string,
  replicas: number,
  ttlMs?: number,
): Promise<KV> {
  const kvm = new Kvm(nc);
  return kvm.create(name, {
    replicas,
    storage: StorageType.File,
    history: 1,
    ...(ttlMs === undefined ? {} : { ttl: ttlMs }),
  });
}
