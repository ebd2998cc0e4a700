// The dispatcher: the in-memory table from function name to its live pool, swapped on deploy, plus the
// call counters (kept in memory on the hot path and flushed to the store in the background) and the
// invocation metrics served at /metrics.
import type { Pool } from '../instances/pool.js';
import { InvocationMetrics } from '../metrics/invocations.js';
import type { CounterDelta, FunctionVersion, Store } from '../store/store.js';

export interface FunctionEntry {
  readonly fn: FunctionVersion;
  readonly pool: Pool;
  /** Counts not yet flushed to the store. */
  readonly counts: CounterDelta;
}

export const COUNTER_FLUSH_MS = 1000;

export class Dispatcher {
  private readonly table = new Map<string, FunctionEntry>();
  private readonly retiring = new Map<Pool, Promise<void>>();
  private readonly store: Store;
  private readonly flushTimer: NodeJS.Timeout;
  readonly metrics = new InvocationMetrics();

  constructor(store: Store) {
    this.store = store;
    this.flushTimer = setInterval(() => this.flushCounts(), COUNTER_FLUSH_MS);
    this.flushTimer.unref();
  }

  get(name: string): FunctionEntry | undefined {
    return this.table.get(name);
  }

  entries(): IterableIterator<FunctionEntry> {
    return this.table.values();
  }

  /** Routes new requests to `pool`; the previous version's pool drains (in-flight requests finish). */
  install(fn: FunctionVersion, pool: Pool): void {
    const old = this.table.get(fn.name);
    this.table.set(fn.name, { fn, pool, counts: old?.counts ?? { invocations: 0, errors: 0 } });
    pool.start();
    if (old) this.retire(old.pool, 'the function version was replaced');
  }

  remove(name: string): boolean {
    const old = this.table.get(name);
    if (!old) return false;
    this.table.delete(name);
    this.retire(old.pool, 'the function was removed');
    return true;
  }

  private retire(pool: Pool, reason: string): void {
    this.retiring.set(
      pool,
      pool.drain(reason).finally(() => this.retiring.delete(pool)),
    );
  }

  /** One finished call: `status` is its HTTP status (499 when the client went away), `seconds` end to end. */
  count(entry: FunctionEntry, status: number, seconds: number, cold: boolean): void {
    entry.counts.invocations++;
    if (status >= 500) entry.counts.errors++;
    this.metrics.record(entry.fn.name, status, seconds, cold);
  }

  flushCounts(): void {
    const deltas = new Map<string, CounterDelta>();
    for (const entry of this.table.values()) {
      const { invocations, errors } = entry.counts;
      if (invocations === 0 && errors === 0) continue;
      deltas.set(entry.fn.name, { invocations, errors });
      entry.counts.invocations = 0;
      entry.counts.errors = 0;
    }
    this.store.addCounts(deltas);
  }

  /** Waits up to `graceMs` for in-flight work, then stops every instance. */
  async close(graceMs: number): Promise<void> {
    clearInterval(this.flushTimer);
    const pools = [...[...this.table.values()].map((e) => e.pool), ...this.retiring.keys()];
    const drains = [
      ...[...this.table.values()].map((e) => e.pool.drain('Nimbus is shutting down')),
      ...this.retiring.values(),
    ];
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(drains), new Promise((r) => (timer = setTimeout(r, graceMs)))]);
    clearTimeout(timer);
    await Promise.all(pools.map((p) => p.close('Nimbus is shutting down')));
    this.flushCounts();
    this.table.clear();
  }
}
