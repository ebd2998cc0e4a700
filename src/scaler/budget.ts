// The platform-wide instance budget by memory: the memoryMb of every running instance (and stem cell)
// may not add up past the host budget. When full, the least recently used idle instances of other
// functions are retired first; when nothing can be retired, the start is refused.
import { NimbusError } from '../errors.js';

/** An idle instance (or stem cell) that could be stopped to make room. */
export interface Victim {
  /** What holds its memory in the budget. */
  readonly holder: object;
  /** Epoch ms of its last use. */
  readonly lastUsedAt: number;
  evict(reason: string): void;
}

export interface Evictable {
  /** The next idle instance to stop to make room (least recently used first), or undefined. */
  nextVictim(excludeFunction: string): Victim | undefined;
}

const EVICTED = 'evicted: the memory budget is full';

export class MemoryBudget {
  private usedMb = 0;
  private readonly holders = new Map<object, number>();

  constructor(
    readonly limitMb: number,
    private readonly evictable: Evictable,
  ) {}

  get used(): number {
    return this.usedMb;
  }

  /**
   * Reserves `mb` for `holder`, evicting idle instances of other functions if needed (unless `evict` is
   * false); throws ERR_CAPACITY_EXHAUSTED.
   */
  reserve(holder: object, mb: number, forFunction: string, evict = true): void {
    while (this.usedMb + mb > this.limitMb) {
      const victim = evict ? this.evictable.nextVictim(forFunction) : undefined;
      if (!victim) {
        throw new NimbusError('ERR_CAPACITY_EXHAUSTED', [forFunction, this.usedMb, this.limitMb], {
          headers: { 'retry-after': '1' },
        });
      }
      // Its memory counts as free now: the process is on its way out.
      this.release(victim.holder);
      victim.evict(EVICTED);
    }
    this.usedMb += mb;
    this.holders.set(holder, mb);
  }

  /** Gives back what `holder` reserved (idempotent). */
  release(holder: object): void {
    const mb = this.holders.get(holder);
    if (mb === undefined) return;
    this.holders.delete(holder);
    this.usedMb -= mb;
  }
}
