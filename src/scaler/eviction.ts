// Eviction across pools, above them: when the memory budget is full, the least recently used idle
// instance of another function is the one to stop. The launcher asks this, never the pools themselves.
import type { Evictable, Victim } from './budget.js';

/** A pool as eviction sees it: its function, and its idlest instance. */
export interface EvictionSource {
  readonly name: string;
  evictionCandidate(): Victim | undefined;
}

export class PoolEviction implements Evictable {
  readonly #pools: () => Iterable<EvictionSource>;

  /** `pools`: the live pools (the dispatcher's table), asked afresh each time. */
  constructor(pools: () => Iterable<EvictionSource>) {
    this.#pools = pools;
  }

  nextVictim(excludeFunction: string): Victim | undefined {
    let best: Victim | undefined;
    for (const pool of this.#pools()) {
      if (pool.name === excludeFunction) continue;
      const candidate = pool.evictionCandidate();
      if (candidate && (!best || candidate.lastUsedAt < best.lastUsedAt)) best = candidate;
    }
    return best;
  }
}
