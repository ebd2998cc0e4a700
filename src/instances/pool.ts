// The pool of one function version: leases requests slots on instances that have one free, queues the
// rest (bounded), starts instances from zero (concurrent cold requests share one start) and when short of
// slots, up to scale.max. How many instances it should keep is the autoscaler's call (scaleTo).
import { NimbusError } from '../errors.js';
import type { Victim } from '../scaler/budget.js';
import { type Channel, Deadlines, Lease, type LeaseHost, type Slot } from './lease.js';

/** What a pool needs of an instance: the Instance class implements it, and a test's stand-in can. */
export interface PoolInstance extends Channel {
  readonly pid: number | undefined;
  /** Start + load time (ms). */
  readonly initMs: number;
  /** The handler style the runner reported when it loaded the function. */
  readonly style: string | undefined;
  /** Ready and not being stopped: may take requests. */
  readonly usable: boolean;
  /** Why it ended, once it has. */
  readonly exitReason: string | undefined;
  /** Resolves once the instance is gone (its open streams have failed by then). */
  readonly whenClosed: Promise<void>;
  /** Stops the instance; resolves once its process has exited. */
  stop(reason: string): Promise<void>;
}

export interface PoolOptions {
  name: string;
  version: number;
  /** Requests one instance serves at once: a number, or one per handler style (known once an instance loads). */
  concurrency: number | ((style: string | undefined) => number);
  minInstances: number;
  maxInstances: number;
  /** Requests that may wait; past it acquire() throws ERR_QUEUE_FULL. */
  maxQueue: number;
  /** A call running longer fails with ERR_HANDLER_TIMEOUT (504) and its instance is stopped. */
  timeoutMs: number;
  /**
   * Makes an instance and starts it (from a stem cell or a new process). May throw a NimbusError
   * (e.g. ERR_CAPACITY_EXHAUSTED) when no instance may start now.
   */
  startInstance: () => { instance: PoolInstance; started: Promise<void> };
  /**
   * Every finished call, refused ones included: its status (499: the caller went away), seconds end to end,
   * the instance that served it and the call's x-call-id (both undefined when it reached no instance).
   */
  onCall?: (
    status: number,
    seconds: number,
    cold: boolean,
    instance: string | undefined,
    callId: string | undefined,
  ) => void;
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

export interface PoolStats {
  instances: number;
  starting: number;
  inflight: number;
  queued: number;
  /** The last start error while no instance could start; cleared by a successful start. */
  lastStartError: string | undefined;
}

/** One instance in the pool and its slots: the pool alone counts them. */
class Member implements Slot {
  readonly instance: PoolInstance;
  readonly capacity: number;
  inflight = 0;
  lastUsedAt: number;

  constructor(instance: PoolInstance, capacity: number, now: number) {
    this.instance = instance;
    this.capacity = capacity;
    this.lastUsedAt = now;
  }
}

const MAX_START_BACKOFF_MS = 30_000;

export class Pool {
  readonly name: string;
  readonly version: number;
  readonly #options: PoolOptions;
  readonly #members: Member[] = [];
  readonly #starting = new Set<PoolInstance>();
  /** Waiting leases in order; some may have been cancelled meanwhile (skipped). */
  #waiters: Lease[] = [];
  #waitersHead = 0;
  #queued = 0;
  #draining = false;
  #drainReason = 'the function version was replaced';
  #drained: (() => void) | undefined;
  #lastStartError: string | undefined;
  #startFailures = 0;
  #nextStartAt = 0;
  #retryTimer: NodeJS.Timeout | undefined;
  readonly #now: () => number;
  readonly #host: LeaseHost;
  /** Slots per instance, as the last loaded instance has it (1 until one has loaded). */
  #capacity = 1;

  /** Requests leased or waiting and not yet done: the concurrency the autoscaler observes. */
  #active = 0;
  #activeArea = 0;
  #activeSince: number;
  #sampledAt: number;
  /** When the pool last became idle (no request); undefined while busy. */
  #idleSince: number | undefined;
  /** Idle periods that ended since the autoscaler last looked (ms each). */
  #endedIdle: number[] = [];
  /** A count set by hand, held until `until`. */
  #pin: { replicas: number; until: number } | undefined;
  /**
   * The memory budget took an instance: no instance is started again to keep the function warm until a
   * request asks for one (else two functions would evict each other in turn).
   */
  #evicted = false;

  constructor(options: PoolOptions) {
    this.#options = options;
    this.name = options.name;
    this.version = options.version;
    this.#now = options.now ?? Date.now;
    this.#activeSince = this.#now();
    this.#sampledAt = this.#activeSince;
    this.#idleSince = this.#activeSince;
    if (typeof options.concurrency === 'number') this.#capacity = options.concurrency;
    const onCall = options.onCall;
    this.#host = {
      name: options.name,
      timeoutMs: options.timeoutMs,
      deadlines: new Deadlines(),
      record: onCall ?? (() => {}),
      release: (lease, slot) => this.#release(lease, slot as Member | undefined),
    };
  }

  /** Starts the instances `scale.min` asks for. */
  start(): void {
    this.#ensureMin();
  }

  /**
   * A lease on a slot: granted now when an instance has one free, else waiting (`lease.wait()`). Throws
   * a NimbusError (counted as a call) when the request cannot even wait: queue full, shutting down, or
   * the function failed to start moments ago.
   */
  acquire(): Lease {
    if (this.#draining) return this.#refuse(new NimbusError('ERR_PLATFORM_SHUTTING_DOWN'));
    this.#evicted = false;
    const lease = new Lease(this.#host);
    if (this.#queued === 0) {
      // First fit: keeps load on few instances so the others go idle and can be retired.
      for (const member of this.#members) {
        if (member.inflight < member.capacity && member.instance.usable) {
          member.inflight++;
          this.#changeActive(1);
          lease.grant(member, false, 0);
          return lease;
        }
      }
    }
    if (this.#queued >= this.#options.maxQueue)
      return this.#refuse(
        new NimbusError('ERR_QUEUE_FULL', [this.name], { headers: { 'retry-after': '1' } }),
      );
    if (this.#members.length === 0 && this.#starting.size === 0 && this.#now() < this.#nextStartAt) {
      // The function failed to start moments ago: answer with that instead of hammering it.
      return this.#refuse(
        new NimbusError('ERR_FUNCTION_UNAVAILABLE', [this.name, this.#lastStartError ?? 'start failed']),
      );
    }
    lease.queued();
    this.#waiters.push(lease);
    this.#queued++;
    this.#changeActive(1);
    this.#scaleUp();
    return lease;
  }

  #refuse(error: NimbusError): never {
    this.#options.onCall?.(error.status, 0, false, undefined, undefined);
    throw error;
  }

  /** A lease is done (or stopped waiting): its slot goes to the next waiter. */
  #release(lease: Lease, member: Member | undefined): void {
    this.#changeActive(-1);
    if (member === undefined) {
      // It was still waiting: it stays in the list and is skipped when its turn comes.
      if (lease.waiting || this.#queued > 0) this.#queued--;
      this.#checkDrained();
      return;
    }
    member.inflight--;
    member.lastUsedAt = this.#now();
    if (member.instance.usable) this.#serveWaiters(member, false);
    this.#checkDrained();
  }

  stats(): PoolStats {
    let inflight = 0;
    for (const m of this.#members) inflight += m.inflight;
    return {
      instances: this.#members.length,
      starting: this.#starting.size,
      inflight,
      queued: this.#queued,
      lastStartError: this.#lastStartError,
    };
  }

  /** The ready instances, for `describe`. */
  processes(): { id: string; pid: number | undefined; inflight: number; initMs: number; idleMs: number }[] {
    const now = this.#now();
    return this.#members.map((m) => ({
      id: m.instance.id,
      pid: m.instance.pid,
      inflight: m.inflight,
      initMs: Math.round(m.instance.initMs * 10) / 10,
      idleMs: m.inflight > 0 ? 0 : now - m.lastUsedAt,
    }));
  }

  /** Requests one instance takes at once (1 until an instance has loaded, when it depends on the handler style). */
  get instanceConcurrency(): number {
    return this.#capacity;
  }

  /** Average concurrency (in flight + queued) since the last sample; resets the average. */
  sampleConcurrency(): number {
    const now = this.#now();
    const area = this.#activeArea + this.#active * (now - this.#activeSince);
    const elapsed = now - this.#sampledAt;
    this.#activeArea = 0;
    this.#activeSince = now;
    this.#sampledAt = now;
    return elapsed > 0 ? area / elapsed : this.#active;
  }

  /** Requests in flight or queued right now. */
  get concurrency(): number {
    return this.#active;
  }

  /** When the pool last became idle (no request); undefined while busy. */
  get idleSince(): number | undefined {
    return this.#idleSince;
  }

  /** The idle periods (ms) that ended since the last call. */
  takeEndedIdlePeriods(): number[] {
    const ended = this.#endedIdle;
    this.#endedIdle = [];
    return ended;
  }

  #changeActive(delta: number): void {
    const now = this.#now();
    this.#activeArea += this.#active * (now - this.#activeSince);
    this.#activeSince = now;
    if (this.#active === 0 && delta > 0 && this.#idleSince !== undefined) {
      this.#endedIdle.push(now - this.#idleSince);
      if (this.#endedIdle.length > 1000) this.#endedIdle.shift();
      this.#idleSince = undefined;
    }
    const wasActive = this.#active > 0;
    this.#active = Math.max(0, this.#active + delta);
    // Idle from the end of the last call: an idle instance retired meanwhile does not restart the clock.
    if (this.#active === 0 && wasActive) this.#idleSince = now;
  }

  /** Starts one instance and resolves when it serves (used at deploy to prove the code loads). */
  warm(): Promise<void> {
    return this.#launch();
  }

  /**
   * Moves toward `desired` instances: starts the missing ones, and stops idle ones beyond it (least
   * recently used first). Busy instances are never stopped here.
   */
  scaleTo(desired: number): void {
    if (this.#draining) return;
    if (this.#pin && this.#now() >= this.#pin.until) this.#pin = undefined;
    if (this.#pin) desired = this.#pin.replicas;
    const target = Math.min(Math.max(desired, this.#options.minInstances), this.#options.maxInstances);
    const have = this.#members.length + this.#starting.size;
    if (target > have) {
      if (this.#now() < this.#nextStartAt) return;
      if (this.#evicted && this.#active === 0 && have >= this.#options.minInstances) return;
      for (let n = have; n < target; n++) void this.#launch().catch(() => {});
      return;
    }
    let excess = this.#members.length - target;
    if (excess <= 0) return;
    const idle = this.#members.filter((m) => m.inflight === 0).sort((a, b) => a.lastUsedAt - b.lastUsedAt);
    for (const member of idle) {
      if (excess-- <= 0) break;
      this.#retire(member, 'scaled down');
    }
  }

  /**
   * Moves to `replicas` now and holds that count for `forMs` against the autoscaler's ticks (OpenFaaS
   * scale-function); requests that queue still start instances.
   */
  pinReplicas(replicas: number, forMs: number): void {
    this.#pin = { replicas, until: this.#now() + forMs };
    this.scaleTo(replicas);
  }

  /** The idle instance used longest ago, for the platform's memory budget to stop. */
  evictionCandidate(): Victim | undefined {
    let best: Member | undefined;
    for (const m of this.#members) {
      if (m.inflight === 0 && (!best || m.lastUsedAt < best.lastUsedAt)) best = m;
    }
    if (!best) return undefined;
    const member = best;
    return {
      holder: member.instance,
      lastUsedAt: member.lastUsedAt,
      evict: (reason) => {
        this.#evicted = true;
        this.#retire(member, reason);
      },
    };
  }

  /** Stops an idle instance now: it leaves the pool at once. */
  #retire(member: Member, reason: string): void {
    const index = this.#members.indexOf(member);
    if (index === -1 || member.inflight > 0) return;
    this.#members.splice(index, 1);
    this.#options.onEvent?.({
      type: 'instance-exit',
      name: this.name,
      instanceId: member.instance.id,
      reason,
    });
    void member.instance.stop(reason);
  }

  /** Stops taking requests; resolves when every queued and in-flight request is done, then stops the instances. */
  drain(reason = 'the function version was replaced'): Promise<void> {
    this.#drainReason = reason;
    this.#draining = true;
    return new Promise<void>((resolve) => {
      this.#drained = resolve;
      this.#checkDrained();
    });
  }

  /** Stops every instance now; requests in flight fail. */
  async close(reason = 'the pool was closed'): Promise<void> {
    this.#draining = true;
    clearTimeout(this.#retryTimer);
    this.#host.deadlines.close();
    this.#rejectWaiters(new NimbusError('ERR_PLATFORM_SHUTTING_DOWN'));
    const all = [...this.#members.map((m) => m.instance), ...this.#starting];
    await Promise.all(all.map((i) => i.stop(reason)));
  }

  #nextWaiter(): Lease | undefined {
    while (this.#waitersHead < this.#waiters.length) {
      const lease = this.#waiters[this.#waitersHead++]!;
      if (this.#waitersHead > 1024 && this.#waitersHead * 2 > this.#waiters.length) {
        this.#waiters = this.#waiters.slice(this.#waitersHead);
        this.#waitersHead = 0;
      }
      if (lease.waiting) {
        this.#queued--;
        return lease;
      }
    }
    return undefined;
  }

  #serveWaiters(member: Member, fresh: boolean): void {
    while (member.inflight < member.capacity && this.#queued > 0) {
      const lease = this.#nextWaiter();
      if (!lease) break;
      member.inflight++;
      lease.grant(member, fresh, fresh ? member.instance.initMs : 0);
    }
  }

  #scaleUp(): void {
    if (this.#draining && this.#queued === 0) return;
    const { maxInstances } = this.#options;
    const starting = this.#starting.size;
    const room = maxInstances - this.#members.length - starting;
    if (room <= 0) return;
    // From zero, one start serves every cold request; more start once it is up and still short.
    if (this.#members.length === 0) {
      if (starting === 0) void this.#launch().catch(() => {});
      return;
    }
    let free = 0;
    for (const m of this.#members) if (m.instance.usable) free += m.capacity - m.inflight;
    const capacity = this.#capacity;
    const short = this.#queued - free - starting * capacity;
    const wanted = Math.min(room, Math.ceil(short / capacity));
    for (let n = 0; n < wanted; n++) void this.#launch().catch(() => {});
  }

  #capacityOf(instance: PoolInstance): number {
    const { concurrency } = this.#options;
    return typeof concurrency === 'number' ? concurrency : concurrency(instance.style);
  }

  #launch(): Promise<void> {
    let made: { instance: PoolInstance; started: Promise<void> };
    try {
      made = this.#options.startInstance();
    } catch (err) {
      // No instance may start now (the platform's memory budget is full): waiting requests are told why.
      if (this.#members.length === 0 && this.#starting.size === 0) this.#rejectWaiters(err as NimbusError);
      return Promise.reject(err);
    }
    const { instance, started } = made;
    this.#starting.add(instance);
    void instance.whenClosed.then(() => this.#onInstanceClosed(instance));
    return started.then(
      () => {
        this.#starting.delete(instance);
        if (this.#draining && this.#queued === 0) {
          void instance.stop(this.#drainReason);
          this.#checkDrained();
          return;
        }
        this.#lastStartError = undefined;
        this.#startFailures = 0;
        this.#nextStartAt = 0;
        const member = new Member(instance, this.#capacityOf(instance), this.#now());
        this.#capacity = member.capacity;
        this.#members.push(member);
        this.#options.onEvent?.({
          type: 'instance-ready',
          name: this.name,
          instanceId: instance.id,
          initMs: instance.initMs,
        });
        this.#serveWaiters(member, true);
        if (this.#queued > 0) this.#scaleUp();
      },
      (err: Error) => {
        this.#starting.delete(instance);
        this.#lastStartError = err.message;
        this.#startFailures++;
        const backoff = Math.min(
          (this.#options.startBackoffMs ?? 200) * 2 ** (this.#startFailures - 1),
          MAX_START_BACKOFF_MS,
        );
        this.#nextStartAt = this.#now() + backoff;
        this.#options.onEvent?.({ type: 'instance-start-failed', name: this.name, error: err.message });
        if (this.#members.length === 0 && this.#starting.size === 0 && this.#queued > 0) {
          if (this.#startFailures < (this.#options.startAttempts ?? 3) && !this.#draining) {
            // Retry with back-off while requests wait.
            clearTimeout(this.#retryTimer);
            this.#retryTimer = setTimeout(() => this.#scaleUp(), backoff);
          } else {
            // Nothing can serve the waiters: tell them why instead of letting them hang.
            this.#rejectWaiters(new NimbusError('ERR_FUNCTION_UNAVAILABLE', [this.name, err.message]));
          }
        }
        this.#checkDrained();
        throw err;
      },
    );
  }

  #onInstanceClosed(instance: PoolInstance): void {
    this.#starting.delete(instance);
    const index = this.#members.findIndex((m) => m.instance === instance);
    if (index === -1) {
      this.#checkDrained();
      return;
    }
    this.#members.splice(index, 1);
    this.#options.onEvent?.({
      type: 'instance-exit',
      name: this.name,
      instanceId: instance.id,
      reason: instance.exitReason ?? 'unknown',
    });
    if (this.#draining) {
      this.#checkDrained();
      return;
    }
    this.#ensureMin();
    if (this.#queued > 0) this.#scaleUp();
  }

  #ensureMin(): void {
    const have = this.#members.length + this.#starting.size;
    if (have < this.#options.minInstances) this.scaleTo(this.#options.minInstances);
  }

  #rejectWaiters(err: NimbusError): void {
    for (let lease = this.#nextWaiter(); lease; lease = this.#nextWaiter()) {
      this.#changeActive(-1);
      lease.refuse(err);
    }
  }

  #checkDrained(): void {
    if (!this.#draining || !this.#drained) return;
    if (this.#queued > 0 || this.#starting.size > 0) return;
    for (const m of this.#members) if (m.inflight > 0) return;
    const done = this.#drained;
    this.#drained = undefined;
    void this.close(this.#drainReason).then(done);
  }
}
