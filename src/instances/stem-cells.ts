// Prewarmed "stem cells": generic runner processes already started (HELLO received) with no function
// loaded. A cold start takes one and only loads code into it. Kept per launch shape (runtime command,
// arguments, environment), refilled in the background and sized by the recent cold-start rate
// (OpenWhisk's reactive rule). A specialized instance never returns here.
import type { SandboxBind } from '../sandbox/bwrap.js';
import type { Instance } from './instance.js';

export interface LaunchShape {
  /** Memory of the instances of this shape (budgeted per process). */
  memoryMb: number;
  command: string;
  args: readonly string[];
  env: Readonly<Record<string, string>>;
  /** The sandbox's shape: a cell is only given to a function whose sandbox it matches. */
  network: boolean;
  /** Fraction of a core, or null for no CPU limit. */
  cpu: number | null;
  maxProcesses: number;
  /** Host files the sandbox binds (the runner). */
  readOnlyPaths: readonly string[];
  /** Host directories the sandbox binds at other paths. */
  binds?: readonly SandboxBind[];
}

export interface StemCellOptions {
  /** Makes an unstarted instance of this shape (the caller wires budget and logging). May throw when no room. */
  makeInstance: (shape: LaunchShape) => Instance;
  /** Starts a made cell's process (the launcher queues it behind instances that requests wait for). */
  spawnCell?: (cell: Instance) => Promise<void>;
  /** Stem cells kept per shape that was used recently. Default 1. */
  minPerShape: number;
  /** Most stem cells per shape. Default 4. */
  maxPerShape: number;
  /** A shape with no cold start for this long is no longer kept warm (its cells stop). Default 10 min. */
  idleShapeMs: number;
  /** Window of the cold-start rate. Default 60 s. */
  rateWindowMs: number;
  /**
   * A take refills this long after: a refill starts a process (tens of ms of CPU), which started at once
   * would compete for the CPU with the cold start that took the cell. Default 50 ms.
   */
  refillDelayMs?: number;
  now?: () => number;
  onError?: (message: string) => void;
}

interface ShapeState {
  shape: LaunchShape;
  ready: Instance[];
  spawning: number;
  coldStarts: number[];
  lastUsedAt: number;
}

export function shapeKey(shape: LaunchShape): string {
  return JSON.stringify([
    shape.memoryMb,
    shape.command,
    shape.args,
    Object.entries(shape.env).sort(),
    shape.network,
    shape.cpu,
    shape.maxProcesses,
    shape.readOnlyPaths,
    shape.binds ?? [],
  ]);
}

export class StemCells {
  private readonly shapes = new Map<string, ShapeState>();
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly options: StemCellOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Keeps cells of this shape warm from now on (e.g. the default Node runtime at start). */
  prewarm(shape: LaunchShape): void {
    this.state(shape).lastUsedAt = this.now();
    this.refill();
  }

  /** A ready stem cell of this shape, or undefined; counts a cold start and refills in the background, a moment later. */
  take(shape: LaunchShape): Instance | undefined {
    const s = this.state(shape);
    const now = this.now();
    s.lastUsedAt = now;
    s.coldStarts.push(now);
    let cell: Instance | undefined;
    while (s.ready.length > 0) {
      const candidate = s.ready.shift()!;
      if (candidate.state !== 'closed') {
        cell = candidate;
        break;
      }
    }
    setTimeout(() => this.refill(), this.options.refillDelayMs ?? 50).unref();
    return cell;
  }

  /** Stem cells alive now (for eviction by the memory budget: these go first). */
  idleCells(): Instance[] {
    return [...this.shapes.values()].flatMap((s) => s.ready);
  }

  /** Stops a cell (evicted) and forgets it. */
  discard(cell: Instance): void {
    for (const s of this.shapes.values()) {
      const i = s.ready.indexOf(cell);
      if (i !== -1) s.ready.splice(i, 1);
    }
    void cell.stop('stem cell evicted');
  }

  /** How many cells a shape should have: the floor, plus one per two cold starts in the rate window. */
  target(s: ShapeState, now: number): number {
    if (now - s.lastUsedAt > this.options.idleShapeMs) return 0;
    const recent = s.coldStarts.filter((t) => now - t < this.options.rateWindowMs).length;
    s.coldStarts = s.coldStarts.filter((t) => now - t < this.options.rateWindowMs);
    return Math.min(this.options.maxPerShape, this.options.minPerShape + Math.ceil(recent / 2));
  }

  refill(): void {
    if (this.closed) return;
    const now = this.now();
    for (const [key, s] of this.shapes) {
      const target = this.target(s, now);
      while (s.ready.length > target) void s.ready.pop()!.stop('stem cell no longer needed');
      for (let n = s.ready.length + s.spawning; n < target; n++) this.spawnOne(s);
      if (target === 0 && s.spawning === 0 && s.ready.length === 0) this.shapes.delete(key);
    }
  }

  private spawnOne(s: ShapeState): void {
    let cell: Instance;
    try {
      cell = this.options.makeInstance(s.shape);
    } catch {
      return; // no room in the memory budget: requests come first
    }
    s.spawning++;
    void cell.whenClosed.then(() => {
      const i = s.ready.indexOf(cell);
      if (i !== -1) s.ready.splice(i, 1);
    });
    (this.options.spawnCell ?? ((c: Instance) => c.spawn()))(cell).then(
      () => {
        s.spawning--;
        if (this.closed) void cell.stop('Nimbus is shutting down');
        else s.ready.push(cell);
      },
      (err: Error) => {
        s.spawning--;
        if (!this.closed) this.options.onError?.(`stem cell failed to start: ${err.message}`);
      },
    );
  }

  private state(shape: LaunchShape): ShapeState {
    const key = shapeKey(shape);
    let s = this.shapes.get(key);
    if (!s) {
      s = { shape, ready: [], spawning: 0, coldStarts: [], lastUsedAt: this.now() };
      this.shapes.set(key, s);
    }
    return s;
  }

  async close(): Promise<void> {
    this.closed = true;
    const cells = this.idleCells();
    this.shapes.clear();
    await Promise.all(cells.map((c) => c.stop('Nimbus is shutting down')));
  }
}
