// The pool of one function version: hands requests to instances with a free slot, queues the rest
// (bounded), starts instances from zero (concurrent cold requests share one start) up to scale.max,
// and retires idle ones down to scale.min.
import { NimbusError } from '../errors.js';
import type { Instance } from './instance.js';

export interface PoolOptions {
  name: string;
  version: number;
  /** Requests one instance serves at once. */
  concurrency: number;
  minInstances: number;
  maxInstances: number;
  idleTimeoutMs: number;
  /** Requests that may wait; past it acquire() throws ERR_QUEUE_FULL. */
  maxQueue: number;
  /** Makes an instance and starts it (spawn + load). */
  startInstance: () => { instance: Instance; started: Promise<void> };
  now?: () => number;
  onEvent?: (event: PoolEvent) => void;
}

export type PoolEvent =
  | { type: 'instance-ready'; name: string; instanceId: string; initMs: number }
  | { type: 'instance-start-failed'; name: string; error: string }
  | { type: 'instance-exit'; name: string; instanceId: string; reason: string };

interface Waiter {
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
  private idleTimer: NodeJS.Timeout | undefined;
  private lastStartError: string | undefined;
  private readonly now: () => number;

  constructor(options: PoolOptions) {
    this.options = options;
    this.name = options.name;
    this.version = options.version;
    this.now = options.now ?? Date.now;
  }

  /** Starts the instances `scale.min` asks for. */
  start(): void {
    this.ensureMin();
  }

  /**
   * Reserves a slot on an instance: one free now, or a promise of one. The caller opens a stream on it,
   * or hands the slot back with `instance.release()`.
   */
  acquire(): Instance | Promise<Instance> {
    if (this.draining) throw new NimbusError('ERR_PLATFORM_SHUTTING_DOWN');
    const free = this.freeInstance();
    if (free && this.queued() === 0) {
      free.inflight++;
      return free;
    }
    if (this.queued() >= this.options.maxQueue) {
      throw new NimbusError('ERR_QUEUE_FULL', [this.name], { headers: { 'retry-after': '1' } });
    }
    return new Promise<Instance>((resolve, reject) => {
      this.waiters.push({ resolve, reject });
      this.scaleUp();
    });
  }

  /** A slot on `instance` came free: it goes to the next waiter. */
  private released(instance: Instance): void {
    if (instance.state === 'ready') this.serveWaiters(instance);
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

  /** Starts one instance and resolves when it serves (used at deploy to prove the code loads). */
  warm(): Promise<void> {
    return this.launch();
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
    clearInterval(this.idleTimer);
    this.idleTimer = undefined;
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
      if (instance.inflight < this.options.concurrency) return instance;
    }
    return undefined;
  }

  private nextWaiter(): Waiter | undefined {
    while (this.waitersHead < this.waiters.length) {
      const waiter = this.waiters[this.waitersHead++]!;
      if (this.waitersHead > 1024 && this.waitersHead * 2 > this.waiters.length) {
        this.waiters = this.waiters.slice(this.waitersHead);
        this.waitersHead = 0;
      }
      return waiter;
    }
    return undefined;
  }

  private serveWaiters(instance: Instance): void {
    while (instance.inflight < this.options.concurrency) {
      const waiter = this.nextWaiter();
      if (!waiter) break;
      instance.inflight++;
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
    for (const i of this.instances) free += concurrency - i.inflight;
    const short = this.queued() - free - starting * concurrency;
    const wanted = Math.min(room, Math.ceil(short / concurrency));
    for (let n = 0; n < wanted; n++) void this.launch().catch(() => {});
  }

  private ensureMin(): void {
    if (this.draining) return;
    const missing = this.options.minInstances - this.instances.length - this.startingInstances.size;
    for (let n = 0; n < missing; n++) void this.launch().catch(() => {});
  }

  private launch(): Promise<void> {
    const { instance, started } = this.options.startInstance();
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
        this.instances.push(instance);
        this.options.onEvent?.({
          type: 'instance-ready',
          name: this.name,
          instanceId: instance.id,
          initMs: instance.initMs,
        });
        this.armIdleTimer();
        this.serveWaiters(instance);
        if (this.queued() > 0) this.scaleUp();
      },
      (err: Error) => {
        this.startingInstances.delete(instance);
        this.lastStartError = err.message;
        this.options.onEvent?.({ type: 'instance-start-failed', name: this.name, error: err.message });
        // Nothing else can serve the waiters: tell them why instead of letting them hang.
        if (this.instances.length === 0 && this.startingInstances.size === 0) {
          this.rejectWaiters(new NimbusError('ERR_FUNCTION_UNAVAILABLE', [this.name, err.message]));
        }
        this.checkDrained();
        throw err;
      },
    );
  }

  private onInstanceClosed(instance: Instance): void {
    const index = this.instances.indexOf(instance);
    if (index === -1) return;
    this.instances.splice(index, 1);
    this.options.onEvent?.({
      type: 'instance-exit',
      name: this.name,
      instanceId: instance.id,
      reason: instance.exitReason ?? 'unknown',
    });
    if (this.instances.length === 0) {
      clearInterval(this.idleTimer);
      this.idleTimer = undefined;
    }
    if (this.draining) {
      this.checkDrained();
      return;
    }
    this.ensureMin();
    if (this.queued() > 0) this.scaleUp();
  }

  private rejectWaiters(err: Error): void {
    for (let w = this.nextWaiter(); w; w = this.nextWaiter()) w.reject(err);
  }

  private armIdleTimer(): void {
    if (this.idleTimer) return;
    const everyMs = Math.max(25, Math.min(1000, Math.floor(this.options.idleTimeoutMs / 4)));
    this.idleTimer = setInterval(() => this.retireIdle(), everyMs);
    this.idleTimer.unref();
  }

  /** Stops instances idle past the timeout, newest last-used kept, down to scale.min. */
  retireIdle(): void {
    const now = this.now();
    let count = this.instances.length;
    for (const instance of [...this.instances]) {
      if (count <= this.options.minInstances) break;
      if (instance.inflight === 0 && now - instance.lastUsedAt >= this.options.idleTimeoutMs) {
        count--;
        void instance.stop('idle timeout');
      }
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
