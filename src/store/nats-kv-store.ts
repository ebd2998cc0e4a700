// The cluster store: the registry in JetStream KV, one mirrored bucket per record kind (reads are map
// lookups, never a wait on NATS). The Store API is synchronous: a write shows in this node's mirror at
// once and goes to JetStream in the background; `sync()` resolves when JetStream acknowledged every write
// so far (the deployer awaits it before it answers a client); `onChange` tells of every function changed
// by any node. A record kind is a zod schema and a bucket: adding one is a line in REGISTRY_KINDS and its
// methods over `MirroredBucket`.
import type { NatsConnection } from '@nats-io/transport-node';
import { z } from 'zod';
import { type BucketKind, MirroredBucket } from '../cluster/mirrored-bucket.js';
import { PendingWrites } from '../cluster/pending-writes.js';
import { type FunctionSpec, parseFunctionSpec } from '../config/function-spec.js';
import {
  DEFAULT_NAMESPACE,
  type NamespaceRecord,
  type NamespaceSettings,
  quotasSchema,
} from '../config/namespace.js';
import type { AliasRecord, CounterDelta, FunctionRecord, FunctionVersion, Store } from './store.js';

const versionSchema = z.object({
  name: z.string(),
  version: z.number().int().min(1),
  bundle: z.string(),
  entry: z.string(),
  /** As deployed; parsed again on read so older records get today's defaults. */
  spec: z.unknown(),
  createdAt: z.number(),
});
type StoredVersion = z.infer<typeof versionSchema>;

/** A function's current version, whole: one read serves it (no join across buckets that may lag). */
const functionSchema = z.object({ current: versionSchema, firstCreatedAt: z.number() });
type StoredFunction = z.infer<typeof functionSchema>;

const countsSchema = z.object({ invocations: z.number().int().min(0), errors: z.number().int().min(0) });

const namespaceSchema = z.object({
  name: z.string(),
  quotas: quotasSchema,
  labels: z.record(z.string(), z.string()),
  annotations: z.record(z.string(), z.string()),
  createdAt: z.number(),
});

const aliasSchema = z.object({
  fn: z.string(),
  name: z.string(),
  version: z.number().int(),
  weights: z.record(z.string(), z.number()),
  description: z.string().exactOptional(),
  createdAt: z.number(),
  updatedAt: z.number(),
});

/**
 * The record kinds of the registry. Keys: a function id (`name` or `name.namespace`) is written with `_`
 * for its dot (neither part may hold `_`), so `<fn>.<rest>` keys of one function never prefix another's.
 */
export const REGISTRY_KINDS = {
  functions: { bucket: 'nimbus-functions', schema: functionSchema },
  versions: { bucket: 'nimbus-versions', schema: versionSchema },
  /** Per function and node: that node's call totals (each node writes only its own key, so no conflicts). */
  counters: { bucket: 'nimbus-counters', schema: countsSchema },
  namespaces: { bucket: 'nimbus-namespaces', schema: namespaceSchema },
  aliases: { bucket: 'nimbus-aliases', schema: aliasSchema },
} as const satisfies Record<string, BucketKind<unknown>>;

const fnKey = (id: string): string => id.replace('.', '_');
const fnId = (key: string): string => key.replace('_', '.');

export interface NatsKvStoreOptions {
  nc: NatsConnection;
  /** This node's id (its counter keys). */
  nodeId: string;
  replicas?: number;
  onInvalid?: (bucket: string, key: string, error: string) => void;
}

type Buckets = {
  [K in keyof typeof REGISTRY_KINDS]: MirroredBucket<z.infer<(typeof REGISTRY_KINDS)[K]['schema']>>;
};

export class NatsKvStore implements Store {
  readonly #b: Buckets;
  readonly #nodeId: string;
  readonly #specs = new Map<string, { version: number; spec: FunctionSpec }>();
  /** Writes started and not yet acknowledged; `sync` waits for them. */
  readonly #pending = new PendingWrites();

  private constructor(buckets: Buckets, nodeId: string) {
    this.#b = buckets;
    this.#nodeId = nodeId;
  }

  static async open(options: NatsKvStoreOptions): Promise<NatsKvStore> {
    const open = <T>(kind: BucketKind<T>) =>
      MirroredBucket.open(options.nc, kind, {
        replicas: options.replicas ?? 1,
        onInvalid: (key: string, error: string) => options.onInvalid?.(kind.bucket, key, error),
      });
    const k = REGISTRY_KINDS;
    const [functions, versions, counters, namespaces, aliases] = await Promise.all([
      open(k.functions),
      open(k.versions),
      open(k.counters),
      open(k.namespaces),
      open(k.aliases),
    ]);
    const store = new NatsKvStore({ functions, versions, counters, namespaces, aliases }, options.nodeId);
    if (!namespaces.get(DEFAULT_NAMESPACE)) {
      const record = {
        name: DEFAULT_NAMESPACE,
        quotas: {},
        labels: {},
        annotations: {},
        createdAt: Date.now(),
      };
      // Every node tries at start; the first create wins and the others read it.
      await namespaces.create(DEFAULT_NAMESPACE, record).catch(() => namespaces.fetch(DEFAULT_NAMESPACE));
      if (!namespaces.get(DEFAULT_NAMESPACE)) await namespaces.put(DEFAULT_NAMESPACE, record);
    }
    return store;
  }

  // Namespaces

  listNamespaces(): NamespaceRecord[] {
    return [...this.#b.namespaces.entries()].map(([, n]) => n).sort((a, b) => a.name.localeCompare(b.name));
  }

  getNamespace(name: string): NamespaceRecord | undefined {
    return this.#b.namespaces.get(name);
  }

  putNamespace(name: string, settings: NamespaceSettings, now: number): NamespaceRecord {
    const record = { name, ...settings, createdAt: this.#b.namespaces.get(name)?.createdAt ?? now };
    this.#track(this.#b.namespaces.write(name, record));
    return record;
  }

  deleteNamespace(name: string): boolean {
    const existed = this.#b.namespaces.get(name) !== undefined;
    if (existed) this.#track(this.#b.namespaces.write(name, undefined));
    return existed;
  }

  // Functions and versions

  listFunctions(): FunctionRecord[] {
    return [...this.#b.functions.entries()]
      .map(([, fn]) => this.#toRecord(fn))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  getFunction(id: string): FunctionRecord | undefined {
    const fn = this.#b.functions.get(fnKey(id));
    return fn ? this.#toRecord(fn) : undefined;
  }

  putVersion(v: Omit<FunctionVersion, 'version' | 'createdAt'>, now: number): FunctionVersion {
    const version = this.latestVersion(v.name) + 1;
    const stored: StoredVersion = { ...v, version, createdAt: now };
    const firstCreatedAt = this.#b.functions.get(fnKey(v.name))?.firstCreatedAt ?? now;
    // `create` on the version key: two nodes deploying the same function at once cannot both make version N.
    this.#track(
      this.#b.versions
        .create(`${fnKey(v.name)}.${version}`, stored)
        .then(() => this.#b.functions.put(fnKey(v.name), { current: stored, firstCreatedAt })),
    );
    return { ...v, version, createdAt: now };
  }

  latestVersion(id: string): number {
    let latest = this.#b.functions.get(fnKey(id))?.current.version ?? 0;
    for (const [, stored] of this.#versionsOf(id)) latest = Math.max(latest, stored.version);
    return latest;
  }

  listVersions(id: string): FunctionVersion[] {
    return [...this.#versionsOf(id)].map(([, v]) => this.#toVersion(v)).sort((a, b) => a.version - b.version);
  }

  getVersion(id: string, version: number): FunctionVersion | undefined {
    const v = this.#b.versions.get(`${fnKey(id)}.${version}`);
    return v ? this.#toVersion(v) : undefined;
  }

  setCurrent(id: string, version: number): FunctionRecord | undefined {
    const v = this.#b.versions.get(`${fnKey(id)}.${version}`);
    const fn = this.#b.functions.get(fnKey(id));
    if (!v || !fn) return undefined;
    const next = { current: v, firstCreatedAt: fn.firstCreatedAt };
    this.#track(this.#b.functions.write(fnKey(id), next));
    return this.#toRecord(next);
  }

  deleteFunction(id: string): boolean {
    const key = fnKey(id);
    const existed = this.#b.functions.get(key) !== undefined;
    this.#specs.delete(id);
    const writes: Promise<unknown>[] = [this.#b.functions.write(key, undefined)];
    for (const bucket of [this.#b.versions, this.#b.counters, this.#b.aliases] as MirroredBucket<unknown>[])
      for (const [k] of bucket.entries())
        if (k.startsWith(`${key}.`)) writes.push(bucket.write(k, undefined));
    this.#track(Promise.all(writes));
    return existed;
  }

  // Aliases

  listAliases(fn: string): AliasRecord[] {
    const prefix = `${fnKey(fn)}.`;
    return [...this.#b.aliases.entries()]
      .filter(([k]) => k.startsWith(prefix))
      .map(([, a]) => a)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  getAlias(fn: string, name: string): AliasRecord | undefined {
    return this.#b.aliases.get(`${fnKey(fn)}.${name}`);
  }

  putAlias(alias: AliasRecord): AliasRecord {
    const existing = this.getAlias(alias.fn, alias.name);
    const record = { ...alias, createdAt: existing?.createdAt ?? alias.createdAt };
    this.#track(this.#b.aliases.write(`${fnKey(alias.fn)}.${alias.name}`, record));
    return record;
  }

  deleteAlias(fn: string, name: string): boolean {
    const key = `${fnKey(fn)}.${name}`;
    const existed = this.#b.aliases.get(key) !== undefined;
    if (existed) this.#track(this.#b.aliases.write(key, undefined));
    return existed;
  }

  // Counters

  addCounts(deltas: ReadonlyMap<string, CounterDelta>): void {
    for (const [id, d] of deltas) {
      const key = `${fnKey(id)}.${this.#nodeId}`;
      const mine = this.#b.counters.get(key) ?? { invocations: 0, errors: 0 };
      const next = { invocations: mine.invocations + d.invocations, errors: mine.errors + d.errors };
      // Counters are best effort (as in SQLite, flushed every second): a lost write is not retried.
      this.#track(this.#b.counters.write(key, next), false);
    }
  }

  /** Resolves once every write started so far is acknowledged by JetStream; rejects if one was refused. */
  sync(): Promise<void> {
    return this.#pending.sync();
  }

  /** Tells `listener` of each function (by id) whose current version changed or that was removed (any node). */
  onChange(listener: (id: string) => void): void {
    this.#b.functions.onChange(({ key }) => listener(fnId(key)));
  }

  async caughtUp(): Promise<void> {
    await Promise.all([this.#b.functions.caughtUp(), this.#b.namespaces.caughtUp()]);
  }

  /** Tells `listener` of each function (by id) whose aliases changed (any node; this node's own writes too). */
  onAliasChange(listener: (id: string) => void): void {
    this.#b.aliases.onChange(({ key }) => listener(fnId(key.slice(0, key.indexOf('.')))));
  }

  /** Tells `listener` of each namespace created, changed or removed (any node; this node's own writes too). */
  onNamespaceChange(listener: (name: string) => void): void {
    this.#b.namespaces.onChange(({ key }) => listener(key));
  }

  *#versionsOf(id: string): IterableIterator<[string, StoredVersion]> {
    const prefix = `${fnKey(id)}.`;
    for (const entry of this.#b.versions.entries()) if (entry[0].startsWith(prefix)) yield entry;
  }

  #track(write: Promise<unknown>, remember = true): void {
    this.#pending.track(write, remember);
  }

  #toVersion(v: StoredVersion): FunctionVersion {
    const current = this.#specs.get(v.name);
    const spec = current?.version === v.version ? current.spec : deepFreeze(parseFunctionSpec(v.spec));
    return {
      name: v.name,
      version: v.version,
      bundle: v.bundle,
      entry: v.entry,
      spec,
      createdAt: v.createdAt,
    };
  }

  #toRecord(fn: StoredFunction): FunctionRecord {
    const v = fn.current;
    let cached = this.#specs.get(v.name);
    if (cached?.version !== v.version) {
      cached = { version: v.version, spec: deepFreeze(parseFunctionSpec(v.spec)) };
      this.#specs.set(v.name, cached);
    }
    let invocations = 0;
    let errors = 0;
    const prefix = `${fnKey(v.name)}.`;
    for (const [key, counts] of this.#b.counters.entries()) {
      if (!key.startsWith(prefix)) continue;
      invocations += counts.invocations;
      errors += counts.errors;
    }
    return {
      name: v.name,
      version: v.version,
      bundle: v.bundle,
      entry: v.entry,
      spec: cached.spec,
      createdAt: v.createdAt,
      firstCreatedAt: fn.firstCreatedAt,
      invocations,
      errors,
    };
  }

  close(): void {
    for (const bucket of Object.values(this.#b)) bucket.close();
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
