// Namespaces and their quotas, held in memory (the invoke path checks a rate without touching the store):
// functions per namespace at deploy (the deployer asks the store), instances and their memory when one
// starts, and invocations per second (a token bucket per namespace) when a call comes in. In a cluster the
// namespaces themselves are shared (the store's watch keeps this table in step); the live counts are this node's.
import { acknowledged } from '../cluster/pending-writes.js';
import {
  DEFAULT_NAMESPACE,
  type NamespaceRecord,
  type NamespaceSettings,
  splitFunctionId,
} from '../config/namespace.js';
import { NimbusError } from '../errors.js';
import type { Store } from '../store/store.js';

export interface NamespaceUsage {
  functions: number;
  instances: number;
  memoryMb: number;
  /** Calls admitted over the last second. */
  rps: number;
}

interface Held {
  record: NamespaceRecord;
  instances: number;
  memoryMb: number;
  /** Token bucket of maxRps: tokens left, and when it was last filled (ms). */
  tokens: number;
  filledAt: number;
  /** Calls admitted in the current and the previous whole second (for usage). */
  second: number;
  thisSecond: number;
  lastSecond: number;
}

export class Namespaces {
  readonly #store: Store;
  readonly #now: () => number;
  readonly #held = new Map<string, Held>();

  constructor(store: Store, now: () => number = Date.now) {
    this.#store = store;
    this.#now = now;
    for (const record of store.listNamespaces()) this.#hold(record);
    // A cluster's namespaces are shared: one made, changed or removed on another node counts here too.
    store.onNamespaceChange?.((name) => {
      const record = store.getNamespace(name);
      if (record) this.#hold(record);
      else this.#held.delete(name);
    });
  }

  /**
   * Resolves once the namespace changes made so far are durable (acknowledged by JetStream in a cluster):
   * an API answers only then. ERR_CLUSTER_WRITE_FAILED when one was refused.
   */
  sync(name: string): Promise<void> {
    return acknowledged(async () => this.#store.sync?.(), `namespace ${name}`);
  }

  #hold(record: NamespaceRecord): Held {
    const old = this.#held.get(record.name);
    const held: Held = old
      ? { ...old, record }
      : {
          record,
          instances: 0,
          memoryMb: 0,
          tokens: record.quotas.maxRps ?? 0,
          filledAt: this.#now(),
          second: 0,
          thisSecond: 0,
          lastSecond: 0,
        };
    this.#held.set(record.name, held);
    return held;
  }

  list(): NamespaceRecord[] {
    return [...this.#held.values()].map((h) => h.record).sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): NamespaceRecord | undefined {
    return this.#held.get(name)?.record;
  }

  /** The namespace; in a cluster, one made on another node a moment ago too (this node catches up first). */
  async find(name: string): Promise<NamespaceRecord | undefined> {
    const held = this.get(name);
    if (held || !this.#store.caughtUp) return held;
    await this.#store.caughtUp();
    return this.get(name);
  }

  /** Creates a namespace, or changes the settings of one (what is given replaces what it had). */
  put(name: string, settings: Partial<NamespaceSettings>): NamespaceRecord {
    const old = this.get(name);
    const merged: NamespaceSettings = {
      quotas: settings.quotas ?? old?.quotas ?? {},
      labels: settings.labels ?? old?.labels ?? {},
      annotations: settings.annotations ?? old?.annotations ?? {},
    };
    return this.#hold(this.#store.putNamespace(name, merged, this.#now())).record;
  }

  remove(name: string): boolean {
    if (name === DEFAULT_NAMESPACE) throw new NimbusError('ERR_NAMESPACE_DEFAULT');
    const removed = this.#store.deleteNamespace(name);
    this.#held.delete(name);
    return removed;
  }

  usage(name: string): NamespaceUsage {
    const held = this.#held.get(name);
    const functions = this.#store
      .listFunctions()
      .filter((f) => splitFunctionId(f.name).namespace === name).length;
    if (!held) return { functions, instances: 0, memoryMb: 0, rps: 0 };
    this.#roll(held, this.#now());
    return { functions, instances: held.instances, memoryMb: held.memoryMb, rps: held.lastSecond };
  }

  /**
   * An instance of function `id` may start: within its namespace's maxInstances and maxMemoryMb, or a 429
   * naming the quota. The returned function gives the room back (when the instance has ended).
   */
  admitInstance(id: string, memoryMb: number): () => void {
    const held = this.#held.get(splitFunctionId(id).namespace);
    if (!held) return () => {};
    const { maxInstances, maxMemoryMb } = held.record.quotas;
    const retry = { headers: { 'retry-after': '1' } };
    if (maxInstances !== undefined && held.instances + 1 > maxInstances)
      throw new NimbusError('ERR_QUOTA_INSTANCES', [held.record.name, maxInstances], retry);
    if (maxMemoryMb !== undefined && held.memoryMb + memoryMb > maxMemoryMb)
      throw new NimbusError('ERR_QUOTA_MEMORY', [held.record.name, maxMemoryMb], retry);
    held.instances++;
    held.memoryMb += memoryMb;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      held.instances--;
      held.memoryMb -= memoryMb;
    };
  }

  /** A call to a function of `namespace` may go ahead; the 429 to answer when the namespace is at maxRps. */
  admitCall(namespace: string): NimbusError | undefined {
    const held = this.#held.get(namespace);
    if (!held) return undefined;
    const now = this.#now();
    this.#roll(held, now);
    const rate = held.record.quotas.maxRps;
    if (rate !== undefined) {
      // Refilled at `rate` per second, holding at most one second's worth (a burst of `rate` calls).
      held.tokens = Math.min(rate, held.tokens + ((now - held.filledAt) / 1000) * rate);
      held.filledAt = now;
      if (held.tokens < 1) {
        const waitS = Math.max(1, Math.ceil((1 - held.tokens) / Math.max(rate, 1e-9)));
        return new NimbusError('ERR_QUOTA_RPS', [namespace, rate], {
          headers: { 'retry-after': String(waitS) },
        });
      }
      held.tokens -= 1;
    }
    held.thisSecond++;
    return undefined;
  }

  #roll(held: Held, now: number): void {
    const second = Math.floor(now / 1000);
    if (second === held.second) return;
    held.lastSecond = second === held.second + 1 ? held.thisSecond : 0;
    held.thisSecond = 0;
    held.second = second;
  }
}
