// Function output kept in memory: a bounded ring of timestamped lines per function, with tail/since
// queries and live subscribers (for /system/logs and Lambda's `X-Amz-Log-Type: Tail`). Nothing is written
// to disk: a restart starts with empty logs.

export interface LogEntry {
  /** Increases by one with every line the store takes, across functions. */
  seq: number;
  /** Epoch ms when the line was taken. */
  time: number;
  fn: string;
  instance: string;
  stream: 'stdout' | 'stderr';
  text: string;
  /** The call the instance was serving when it wrote the line, when that is known. */
  callId?: string;
}

export interface LogQuery {
  /** Only the last `tail` lines (after the other filters). */
  tail?: number;
  /** Only lines taken at or after this epoch ms. */
  sinceMs?: number;
  /** Only lines of this instance. */
  instance?: string;
  /** Only lines with a larger seq (lines that came after a moment noted with `seq`). */
  afterSeq?: number;
}

export interface LogStoreOptions {
  /** Lines kept per function; older ones are dropped first. Default 2000. */
  maxLinesPerFunction?: number;
  /** Bytes of text kept per function. Default 512 KiB. */
  maxBytesPerFunction?: number;
  /** Functions whose lines are kept; past it the one written to longest ago is forgotten. Default 256. */
  maxFunctions?: number;
  now?: () => number;
}

export type LogListener = (entry: LogEntry) => void;

/** Per-entry overhead counted against the byte budget (the object, its strings' headers). */
const ENTRY_OVERHEAD_BYTES = 64;

class Ring {
  entries: LogEntry[] = [];
  head = 0;
  bytes = 0;

  get size(): number {
    return this.entries.length - this.head;
  }

  push(entry: LogEntry, maxLines: number, maxBytes: number): void {
    this.entries.push(entry);
    this.bytes += entry.text.length + ENTRY_OVERHEAD_BYTES;
    while (this.size > maxLines || (this.bytes > maxBytes && this.size > 1)) {
      const dropped = this.entries[this.head]!;
      this.bytes -= dropped.text.length + ENTRY_OVERHEAD_BYTES;
      this.head++;
    }
    // Compact once the dropped prefix is as long as what is kept.
    if (this.head > 64 && this.head * 2 > this.entries.length) {
      this.entries = this.entries.slice(this.head);
      this.head = 0;
    }
  }

  live(): LogEntry[] {
    return this.entries.slice(this.head);
  }
}

export class LogStore {
  private readonly rings = new Map<string, Ring>();
  private readonly listeners = new Map<string, Set<LogListener>>();
  private readonly closers = new Set<() => void>();
  private lastSeq = 0;
  private readonly maxLines: number;
  private readonly maxBytes: number;
  private readonly maxFunctions: number;
  private readonly now: () => number;

  constructor(options: LogStoreOptions = {}) {
    this.maxLines = options.maxLinesPerFunction ?? 2000;
    this.maxBytes = options.maxBytesPerFunction ?? 512 * 1024;
    this.maxFunctions = options.maxFunctions ?? 256;
    this.now = options.now ?? Date.now;
  }

  /** The seq of the last line taken: lines after this moment have a larger one. */
  get seq(): number {
    return this.lastSeq;
  }

  append(fn: string, instance: string, text: string, stream: 'stdout' | 'stderr', callId?: string): void {
    const entry: LogEntry = { seq: ++this.lastSeq, time: this.now(), fn, instance, stream, text };
    if (callId !== undefined) entry.callId = callId;
    let ring = this.rings.get(fn);
    if (ring) {
      // Map order is the forgetting order: the function written to most recently goes last.
      this.rings.delete(fn);
    } else {
      ring = new Ring();
      if (this.rings.size >= this.maxFunctions) {
        const oldest = this.rings.keys().next().value as string;
        this.rings.delete(oldest);
      }
    }
    this.rings.set(fn, ring);
    ring.push(entry, this.maxLines, this.maxBytes);
    const listeners = this.listeners.get(fn);
    if (listeners) for (const listener of listeners) listener(entry);
  }

  /** The kept lines of `fn`, oldest first. */
  query(fn: string, query: LogQuery = {}): LogEntry[] {
    const ring = this.rings.get(fn);
    if (!ring) return [];
    let entries = ring.live();
    const { sinceMs, instance, afterSeq, tail } = query;
    if (sinceMs !== undefined || instance !== undefined || afterSeq !== undefined) {
      entries = entries.filter(
        (e) =>
          (sinceMs === undefined || e.time >= sinceMs) &&
          (instance === undefined || e.instance === instance) &&
          (afterSeq === undefined || e.seq > afterSeq),
      );
    }
    if (tail !== undefined && tail >= 0) entries = tail === 0 ? [] : entries.slice(-tail);
    return entries;
  }

  /**
   * Calls `listener` with every new line of `fn` until the returned function is called. `onClose` is called
   * if the store closes first (the platform is shutting down).
   */
  subscribe(fn: string, listener: LogListener, onClose?: () => void): () => void {
    let set = this.listeners.get(fn);
    if (!set) {
      set = new Set();
      this.listeners.set(fn, set);
    }
    set.add(listener);
    const closer = () => onClose?.();
    this.closers.add(closer);
    return () => {
      this.closers.delete(closer);
      const current = this.listeners.get(fn);
      if (!current) return;
      current.delete(listener);
      if (current.size === 0) this.listeners.delete(fn);
    };
  }

  /** Forgets the lines of a removed function. */
  forget(fn: string): void {
    this.rings.delete(fn);
  }

  /** Ends every subscription (followers of /system/logs get their response ended). */
  close(): void {
    const closers = [...this.closers];
    this.closers.clear();
    this.listeners.clear();
    for (const close of closers) close();
  }
}
