// The dispatcher: the in-memory table from function name to its live pool, swapped on deploy, plus the
// call counters (kept in memory on the hot path and flushed to the store in the background), the
// invocation metrics served at /metrics and the call activity the dashboard draws.
import type { Pool } from '../instances/pool.js';
import { CallActivity } from '../metrics/activity.js';
import { InvocationMetrics } from '../metrics/invocations.js';
import type { Tracing } from '../observability/tracing.js';
import type { CounterDelta, FunctionVersion, Store } from '../store/store.js';

export interface FunctionEntry {
  /** The function's id for its current version; `id@version` for another version an alias or call pins. */
  readonly key: string;
  readonly fn: FunctionVersion;
  readonly pool: Pool;
  /** Counts not yet flushed to the store. */
  readonly counts: CounterDelta;
}

export const COUNTER_FLUSH_MS = 1000;

export class Dispatcher {
  private readonly table = new Map<string, FunctionEntry>();
  /** Unflushed counts per function id: kept across versions, so a pool counts before it is installed. */
  private readonly counts = new Map<string, CounterDelta>();
  /** Pools of versions other than the current one (aliases, `@N` calls), by `id@version`. */
  private readonly pinned = new Map<string, FunctionEntry>();
  private readonly retiring = new Map<Pool, Promise<void>>();
  private readonly store: Store;
  private readonly flushTimer: NodeJS.Timeout;
  readonly metrics = new InvocationMetrics();
  /** Per-function 10-second buckets and recent calls (src/metrics/activity.ts). */
  readonly activity = new CallActivity();
  /** Spans of calls, when an OTLP endpoint is configured; every way in starts its call's trace here. */
  readonly tracing: Tracing | undefined;

  /** Called after a function is installed or removed (topic triggers follow at once, not at their next sync). */
  readonly #changed = new Set<() => void>();

  constructor(store: Store, tracing?: Tracing) {
    this.store = store;
    this.tracing = tracing;
    this.flushTimer = setInterval(() => this.flushCounts(), COUNTER_FLUSH_MS);
    this.flushTimer.unref();
  }

  get(name: string): FunctionEntry | undefined {
    return this.table.get(name);
  }

  /** The current version of every function. */
  entries(): IterableIterator<FunctionEntry> {
    return this.table.values();
  }

  /** Every live pool's entry: current versions and pinned ones (what the autoscaler steers). */
  *allEntries(): IterableIterator<FunctionEntry> {
    yield* this.table.values();
    yield* this.pinned.values();
  }

  /** The entry under `key` (an id, or `id@version`), current or pinned. */
  lookup(key: string): FunctionEntry | undefined {
    return this.table.get(key) ?? this.pinned.get(key);
  }

  /** Calls `listener` after every install and removal; returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.#changed.add(listener);
    return () => this.#changed.delete(listener);
  }

  /** Routes new requests to `pool`; the previous version's pool drains (in-flight requests finish). */
  install(fn: FunctionVersion, pool: Pool): void {
    const old = this.table.get(fn.name);
    this.table.set(fn.name, { key: fn.name, fn, pool, counts: this.countsOf(fn.name) });
    pool.start();
    if (old) this.retire(old.pool, 'the function version was replaced');
    for (const listener of this.#changed) listener();
  }

  /**
   * The entry of one version of function `id`: the current one, or a pinned pool of that version (made with
   * `makePool` on first use). Its calls count as the function's.
   */
  versionEntry(id: string, version: FunctionVersion, makePool: () => Pool): FunctionEntry | undefined {
    const current = this.table.get(id);
    if (!current) return undefined;
    if (current.fn.version === version.version) return current;
    const key = `${id}@${version.version}`;
    let entry = this.pinned.get(key);
    if (!entry) {
      entry = { key, fn: version, pool: makePool(), counts: current.counts };
      this.pinned.set(key, entry);
      entry.pool.start();
    }
    return entry;
  }

  /** Drains the pinned pools of function `id` whose version `keep` does not hold. */
  unpin(id: string, keep: (version: number) => boolean = () => false): void {
    for (const [key, entry] of this.pinned) {
      if (entry.fn.name !== id || keep(entry.fn.version)) continue;
      this.pinned.delete(key);
      this.retire(entry.pool, 'no alias routes to this version any more');
    }
  }

  remove(name: string): boolean {
    const old = this.table.get(name);
    if (!old) return false;
    this.table.delete(name);
    this.unpin(name);
    this.retire(old.pool, 'the function was removed');
    for (const listener of this.#changed) listener();
    return true;
  }

  /** Every live pool, current and pinned (for eviction by the memory budget). */
  *pools(): IterableIterator<Pool> {
    for (const entry of this.allEntries()) yield entry.pool;
  }

  /**
   * Counts the finished calls of function `id` (a pool's `onCall`), whichever version served them: `status`
   * is the HTTP status (499 when the client went away), `seconds` end to end, `instance` the one that served it,
   * `callId` its x-call-id.
   */
  callCounter(
    id: string,
  ): (
    status: number,
    seconds: number,
    cold: boolean,
    instance: string | undefined,
    callId: string | undefined,
  ) => void {
    const counts = this.countsOf(id);
    const metrics = this.metrics;
    const activity = this.activity.of(id);
    return (status, seconds, cold, instance, callId) => {
      counts.invocations++;
      if (status >= 500) counts.errors++;
      metrics.record(id, status, seconds, cold);
      activity.record(status, seconds, cold, instance, callId);
    };
  }

  private countsOf(id: string): CounterDelta {
    let counts = this.counts.get(id);
    if (!counts) {
      counts = { invocations: 0, errors: 0 };
      this.counts.set(id, counts);
    }
    return counts;
  }

  private retire(pool: Pool, reason: string): void {
    this.retiring.set(
      pool,
      pool.drain(reason).finally(() => this.retiring.delete(pool)),
    );
  }

  flushCounts(): void {
    const deltas = new Map<string, CounterDelta>();
    for (const [id, counts] of this.counts) {
      const { invocations, errors } = counts;
      if (invocations === 0 && errors === 0) continue;
      deltas.set(id, { invocations, errors });
      counts.invocations = 0;
      counts.errors = 0;
    }
    this.store.addCounts(deltas);
  }

  /** Waits up to `graceMs` for in-flight work, then stops every instance. */
  async close(graceMs: number): Promise<void> {
    clearInterval(this.flushTimer);
    const live = [...this.allEntries()].map((e) => e.pool);
    const pools = [...live, ...this.retiring.keys()];
    const drains = [...live.map((p) => p.drain('Nimbus is shutting down')), ...this.retiring.values()];
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(drains), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    await Promise.all(pools.map((p) => p.close('Nimbus is shutting down')));
    this.flushCounts();
    this.table.clear();
    this.pinned.clear();
  }
}
