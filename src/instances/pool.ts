// The pool of one function version: hands requests to instances with a free slot, queues the rest
// (bounded), starts instances from zero (concurrent cold requests share one start) and when short of
// slots, up to scale.max. How many instances it should keep is the autoscaler's call (scaleTo).
import { NimbusError } from '../errors.js';
import type { Instance } from './instance.js';

export interface PoolOptions {
  name: string;
  version: number;
  /** Requests one instance serves at once. */
  concurrency: number;
  minInstances: number;
  maxInstances: number;
  /** Requests that may wait; past it acquire() throws ERR_QUEUE_FULL. */
  maxQueue: number;
  /**
   * Makes an instance and starts it (from a stem cell or a new process). May throw a NimbusError
   * (e.g. ERR_CAPACITY_EXHAUSTED) when no instance may start now.
   */
  startInstance: () => { instance: Instance; started: Promise<void> };
  /** Start retries back off from this delay, doubling up to 30 s. Default 200 ms. */
  startBackoffMs?: number;
  /** Attempts to start an instance for waiting requests before they get the error. Default 3. */
  startAttempts?: number;
  now?: () => number;
  onEvent?: (event: PoolEvent) => void;
}

export type PoolEvent =
  | { type: 'instance-ready'; name: string; instanceId: string; initMs: number }
  | { type: 'instance-start-failed'; name: string; error: string }
  | { type: 'instance-exit'; name: string; instanceId: string; reason: string };

/** What a caller learns about how its slot was found. */
export interface AcquireTicket {
  /** The request waited for an instance started for it (a cold start). */
  cold: boolean;
  /** Start + load time of that instance (ms), when cold. */
  initMs: number;
}

interface Waiter {
  ticket: AcquireTicket | undefined;
  resolve: (instance: Instance) => void;
  reject: (err: Error) => void;
}

export interface PoolStats {
  instances: number;
  starting: number;
  inflight: number;
  queued: number;
  /** The last start error while no instance could start; cleared by a successful start. */
  lastStartError: string | undefined;
}

const MAX_START_BACKOFF_MS = 30_000;

export class Pool {
  readonly name: string;
  readonly version: number;
  private readonly options: PoolOptions;
  private readonly instances: Instance[] = [];
  private readonly startingInstances = new Set<Instance>();
  private waiters: Waiter[] = [];
  private waitersHead = 0;
  private draining = false;
  private drainReason = 'the function version was replaced';
  private drained: (() => void) | undefined;
  private lastStartError: string | undefined;
  private startFailures = 0;
  private nextStartAt = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private readonly now: () => number;

  /** Requests acquired or waiting and not yet done: the concurrency the autoscaler observes. */
  private active = 0;
  private activeArea = 0;
  private activeSince: number;
  private sampledAt: number;
  /** When the pool last became idle (no request); undefined while busy. */
  idleSince: number | undefined;
  /** Idle periods that ended since the autoscaler last looked (ms each). */
  readonly endedIdlePeriods: number[] = [];
  /** A count set by hand, held until `until`. */
  private pin: { replicas: number; until: number } | undefined;

  constructor(options: PoolOptions) {
    this.options = options;
    this.name = options.name;
    this.version = options.version;
    this.now = options.now ?? Date.now;
    this.activeSince = this.now();
    this.sampledAt = this.activeSince;
    this.idleSince = this.activeSince;
  }

  /** Starts the instances `scale.min` asks for. */
  start(): void {
    this.ensureMin();
  }

  private ensureMin(): void {
    const have = this.instances.length + this.startingInstances.size;
    if (have < this.options.minInstances) this.scaleTo(this.options.minInstances);
  }

  /**
   * Reserves a slot on an instance: one free now, or a promise of one. The caller opens a stream on it,
   * or hands the slot back with `instance.release()`.
   */
  acquire(ticket?: AcquireTicket): Instance | Promise<Instance> {
    if (this.draining) throw new NimbusError('ERR_PLATFORM_SHUTTING_DOWN');
    const free = this.freeInstance();
    if (free && this.queued() === 0) {
      free.inflight++;
      this.changeActive(1);
      return free;
    }
    if (this.queued() >= this.options.maxQueue) {
      throw new NimbusError('ERR_QUEUE_FULL', [this.name], { headers: { 'retry-after': '1' } });
    }
    if (this.instances.length === 0 && this.startingInstances.size === 0 && this.now() < this.nextStartAt) {
      // The function failed to start moments ago: answer with that instead of hammering it.
      throw new NimbusError('ERR_FUNCTION_UNAVAILABLE', [this.name, this.lastStartError ?? 'start failed']);
    }
    return new Promise<Instance>((resolve, reject) => {
      this.waiters.push({ ticket, resolve, reject });
      this.changeActive(1);
      this.scaleUp();
    });
  }

  /** A slot on `instance` came free: it goes to the next waiter. */
  private released(instance: Instance): void {
    this.changeActive(-1);
    if (instance.usable) this.serveWaiters(instance, false);
    this.checkDrained();
  }

  stats(): PoolStats {
    let inflight = 0;
    for (const i of this.instances) inflight += i.inflight;
    return {
      instances: this.instances.length,
      starting: this.startingInstances.size,
      inflight,
      queued: this.queued(),
      lastStartError: this.lastStartError,
    };
  }

  /** The ready instances, for `describe`. */
  processes(): { id: string; pid: number | undefined; inflight: number; initMs: number; idleMs: number }[] {
    const now = Date.now();
    return this.instances.map((i) => ({
      id: i.id,
      pid: i.pid,
      inflight: i.inflight,
      initMs: Math.round(i.initMs * 10) / 10,
      idleMs: i.inflight > 0 ? 0 : now - i.lastUsedAt,
    }));
  }

  /** Average concurrency (in flight + queued) since the last sample; resets the average. */
  sampleConcurrency(): number {
    const now = this.now();
    const area = this.activeArea + this.active * (now - this.activeSince);
    const elapsed = now - this.sampledAt;
    this.activeArea = 0;
    this.activeSince = now;
    this.sampledAt = now;
    return elapsed > 0 ? area / elapsed : this.active;
  }

  /** Requests in flight or queued right now. */
  get concurrency(): number {
    return this.active;
  }

  private changeActive(delta: number): void {
    const now = this.now();
    this.activeArea += this.active * (now - this.activeSince);
    this.activeSince = now;
    if (this.active === 0 && delta > 0 && this.idleSince !== undefined) {
      this.endedIdlePeriods.push(now - this.idleSince);
      if (this.endedIdlePeriods.length > 1000) this.endedIdlePeriods.shift();
      this.idleSince = undefined;
    }
    const wasActive = this.active > 0;
    this.active = Math.max(0, this.active + delta);
    // Idle from the end of the last call: an idle instance retired meanwhile does not restart the clock.
    if (this.active === 0 && wasActive) this.idleSince = now;
  }

  /** Starts one instance and resolves when it serves (used at deploy to prove the code loads). */
  warm(): Promise<void> {
    return this.launch();
  }

  /**
   * Moves toward `desired` instances: starts the missing ones, and stops idle ones beyond it (least
   * recently used first). Busy instances are never stopped here.
   */
  scaleTo(desired: number): void {
    if (this.draining) return;
    if (this.pin && this.now() >= this.pin.until) this.pin = undefined;
    if (this.pin) desired = this.pin.replicas;
    const target = Math.min(Math.max(desired, this.options.minInstances), this.options.maxInstances);
    const have = this.instances.length + this.startingInstances.size;
    if (target > have) {
      if (this.now() < this.nextStartAt) return;
      for (let n = have; n < target; n++) void this.launch().catch(() => {});
      return;
    }
    let excess = this.instances.length - target;
    if (excess <= 0) return;
    const idle = this.instances.filter((i) => i.inflight === 0).sort((a, b) => a.lastUsedAt - b.lastUsedAt);
    for (const instance of idle) {
      if (excess-- <= 0) break;
      this.retire(instance, 'scaled down');
    }
  }

  /**
   * Moves to `replicas` now and holds that count for `forMs` against the autoscaler's ticks (OpenFaaS
   * scale-function); requests that queue still start instances.
   */
  pinReplicas(replicas: number, forMs: number): void {
    this.pin = { replicas, until: this.now() + forMs };
    this.scaleTo(replicas);
  }

  /** The idle instance used longest ago, for eviction by the platform's memory budget. */
  idlestInstance(): Instance | undefined {
    let best: Instance | undefined;
    for (const i of this.instances) {
      if (i.inflight === 0 && (!best || i.lastUsedAt < best.lastUsedAt)) best = i;
    }
    return best;
  }

  /** Stops an instance now (it must be idle): it leaves the pool at once. */
  retire(instance: Instance, reason: string): void {
    const index = this.instances.indexOf(instance);
    if (index === -1 || instance.inflight > 0) return;
    this.instances.splice(index, 1);
    this.options.onEvent?.({ type: 'instance-exit', name: this.name, instanceId: instance.id, reason });
    void instance.stop(reason);
  }

  /** Stops taking requests; resolves when every queued and in-flight request is done, then stops the instances. */
  drain(reason = 'the function version was replaced'): Promise<void> {
    this.drainReason = reason;
    this.draining = true;
    return new Promise<void>((resolve) => {
      this.drained = resolve;
      this.checkDrained();
    });
  }

  /** Stops every instance now; requests in flight fail. */
  async close(reason = 'the pool was closed'): Promise<void> {
    this.draining = true;
    clearTimeout(this.retryTimer);
    this.rejectWaiters(new NimbusError('ERR_PLATFORM_SHUTTING_DOWN'));
    const all = [...this.instances, ...this.startingInstances];
    await Promise.all(all.map((i) => i.stop(reason)));
  }

  private queued(): number {
    return this.waiters.length - this.waitersHead;
  }

  private freeInstance(): Instance | undefined {
    // First fit: keeps load on few instances so the others go idle and can be retired.
    for (const instance of this.instances) {
      if (instance.inflight < this.options.concurrency && instance.usable) return instance;
    }
    return undefined;
  }

  private nextWaiter(): Waiter | undefined {
    if (this.waitersHead >= this.waiters.length) return undefined;
    const waiter = this.waiters[this.waitersHead++]!;
    if (this.waitersHead > 1024 && this.waitersHead * 2 > this.waiters.length) {
      this.waiters = this.waiters.slice(this.waitersHead);
      this.waitersHead = 0;
    }
    return waiter;
  }

  private serveWaiters(instance: Instance, fresh: boolean): void {
    while (instance.inflight < this.options.concurrency) {
      const waiter = this.nextWaiter();
      if (!waiter) break;
      instance.inflight++;
      if (fresh && waiter.ticket) {
        waiter.ticket.cold = true;
        waiter.ticket.initMs = instance.initMs;
      }
      waiter.resolve(instance);
    }
  }

  private scaleUp(): void {
    if (this.draining && this.queued() === 0) return;
    const { concurrency, maxInstances } = this.options;
    const starting = this.startingInstances.size;
    const room = maxInstances - this.instances.length - starting;
    if (room <= 0) return;
    // From zero, one start serves every cold request; more start once it is up and still short.
    if (this.instances.length === 0) {
      if (starting === 0) void this.launch().catch(() => {});
      return;
    }
    let free = 0;
    for (const i of this.instances) if (i.usable) free += concurrency - i.inflight;
    const short = this.queued() - free - starting * concurrency;
    const wanted = Math.min(room, Math.ceil(short / concurrency));
    for (let n = 0; n < wanted; n++) void this.launch().catch(() => {});
  }

  private launch(): Promise<void> {
    let made: { instance: Instance; started: Promise<void> };
    try {
      made = this.options.startInstance();
    } catch (err) {
      // No instance may start now (the platform's memory budget is full): waiting requests are told why.
      if (this.instances.length === 0 && this.startingInstances.size === 0) this.rejectWaiters(err as Error);
      return Promise.reject(err);
    }
    const { instance, started } = made;
    this.startingInstances.add(instance);
    instance.onClose = (closed) => this.onInstanceClosed(closed);
    instance.onSlotFree = (freed) => this.released(freed);
    return started.then(
      () => {
        this.startingInstances.delete(instance);
        if (this.draining && this.queued() === 0) {
          void instance.stop(this.drainReason);
          this.checkDrained();
          return;
        }
        this.lastStartError = undefined;
        this.startFailures = 0;
        this.nextStartAt = 0;
        this.instances.push(instance);
        this.options.onEvent?.({
          type: 'instance-ready',
          name: this.name,
          instanceId: instance.id,
          initMs: instance.initMs,
        });
        this.serveWaiters(instance, true);
        if (this.queued() > 0) this.scaleUp();
      },
      (err: Error) => {
        this.startingInstances.delete(instance);
        this.lastStartError = err.message;
        this.startFailures++;
        const backoff = Math.min(
          (this.options.startBackoffMs ?? 200) * 2 ** (this.startFailures - 1),
          MAX_START_BACKOFF_MS,
        );
        this.nextStartAt = this.now() + backoff;
        this.options.onEvent?.({ type: 'instance-start-failed', name: this.name, error: err.message });
        if (this.instances.length === 0 && this.startingInstances.size === 0 && this.queued() > 0) {
          if (this.startFailures < (this.options.startAttempts ?? 3) && !this.draining) {
            // Retry with back-off while requests wait.
            clearTimeout(this.retryTimer);
            this.retryTimer = setTimeout(() => this.scaleUp(), backoff);
          } else {
            // Nothing can serve the waiters: tell them why instead of letting them hang.
            this.rejectWaiters(new NimbusError('ERR_FUNCTION_UNAVAILABLE', [this.name, err.message]));
          }
        }
        this.checkDrained();
        throw err;
      },
    );
  }

  private onInstanceClosed(instance: Instance): void {
    this.startingInstances.delete(instance);
    this.changeActive(-instance.lostOnClose);
    const index = this.instances.indexOf(instance);
    if (index === -1) {
      this.checkDrained();
      return;
    }
    this.instances.splice(index, 1);
    this.options.onEvent?.({
      type: 'instance-exit',
      name: this.name,
      instanceId: instance.id,
      reason: instance.exitReason ?? 'unknown',
    });
    if (this.draining) {
      this.checkDrained();
      return;
    }
    this.ensureMin();
    if (this.queued() > 0) this.scaleUp();
  }

  private rejectWaiters(err: Error): void {
    for (let w = this.nextWaiter(); w; w = this.nextWaiter()) {
      this.changeActive(-1);
      w.reject(err);
    }
  }

  private checkDrained(): void {
    if (!this.draining || !this.drained) return;
    if (this.queued() > 0 || this.startingInstances.size > 0) return;
    for (const i of this.instances) if (i.inflight > 0) return;
    const done = this.drained;
    this.drained = undefined;
    void this.close(this.drainReason).then(done);
  }
}
