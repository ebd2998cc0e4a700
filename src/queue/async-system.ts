// Async invocation on one node, wired: the SQLite queue and call records (one connection, group commit),
// the workers, cron schedules, redrive of dead letters and retention of call records.
import type { FunctionSpec } from '../config/function-spec.js';
import type { PlatformConfig } from '../config/platform.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import { NimbusError } from '../errors.js';
import { FAAS_TRIGGERS, passOn } from '../observability/tracing.js';
import {
  type CronClock,
  type CronEvent,
  CronScheduler,
  type CronStateStore,
  nextRunOf,
} from '../triggers/cron.js';
import { SqliteCronState } from '../triggers/cron-state.js';
import { newCallId } from './call-id.js';
import type { CallbackPolicy } from './callback-policy.js';
import { type CallRecord, type CallStore, FINAL_STATUSES } from './calls.js';
import { type CallSource, encodeEnvelope } from './envelope.js';
import { GroupCommit } from './group-commit.js';
import type { Queue } from './queue.js';
import { SqliteCallStore } from './sqlite-calls.js';
import { SqliteQueue } from './sqlite-queue.js';
import { CALLBACK_TOPIC, type SettledCall, type WorkerEvent, Workers } from './workers.js';

export interface SubmitRequest {
  fn: string;
  method: string;
  /** Path suffix with query, as the function sees it. */
  path: string;
  /** Header pairs, names lower-case. */
  headers: [string, string][];
  body: Buffer;
  callbackUrl?: string | undefined;
  source: CallSource;
  /** The body is a Lambda event passed as it is (Lambda Invoke, type Event). */
  rawEvent?: boolean;
  /**
   * The trace the call continues: the span of the request that queued it (the async route's). Absent, a
   * `traceparent` (and `tracestate`) among `headers` is taken out and continued, and with tracing on the
   * call gets a producer span of its own (`cron hello`, `topic hello`, `enqueue hello`).
   */
  trace?: { traceparent: string; tracestate: string | undefined };
}

export type AsyncEvent = WorkerEvent | CronEvent;

/** Cluster mode: the shared queue, call records and cron state that replace the SQLite ones. */
export interface AsyncBackend {
  queue: Queue;
  calls: CallStore;
  cronState: CronStateStore;
  /** One node fires each scheduled time (see CronSchedulerOptions.claim). */
  cronClaim: (fn: string, slot: number) => Promise<boolean>;
  /** Tells of topics holding messages queued by any node (this node then runs workers for them). */
  onTopic: (listener: (topic: string) => void) => void;
}

export interface AsyncSystemOptions {
  /** The SQLite file (the platform's nimbus.db). */
  file: string;
  dispatcher: Dispatcher;
  config: Pick<
    PlatformConfig,
    | 'asyncLeaseMs'
    | 'callRetentionMs'
    | 'deadLetterRetentionMs'
    | 'callResponseLimitBytes'
    | 'callbackTimeoutMs'
    | 'asyncMaxQueued'
    | 'asyncMaxQueuedBytes'
  >;
  /** Where X-Callback-Url may point. */
  callbackPolicy: CallbackPolicy;
  now?: () => number;
  random?: () => number;
  cronClock?: CronClock;
  onEvent?: (event: AsyncEvent) => void;
  /** Cluster mode (absent: SQLite in `file`). */
  backend?: AsyncBackend;
}

/** Free space in the database file worth giving back. */
const RECLAIM_MIN_BYTES = 4 * 1024 * 1024;

/** What a caller refused by a full queue is told to wait, in seconds. */
const QUEUE_FULL_RETRY_AFTER_S = 5;

/** Dead letters redriven per transaction by redriveAll. */
const REDRIVE_PAGE = 500;

export class AsyncSystem {
  readonly commit: GroupCommit;
  readonly queue: Queue;
  readonly calls: CallStore;
  readonly workers: Workers;
  readonly cron: CronScheduler;
  private readonly o: AsyncSystemOptions;
  private readonly now: () => number;
  private purgeTimer: NodeJS.Timeout | undefined;
  private purging: Promise<unknown> | undefined;
  private readonly settledListeners = new Set<(call: SettledCall) => void>();

  constructor(options: AsyncSystemOptions) {
    this.o = options;
    this.now = options.now ?? Date.now;
    // A connection of its own on the same file: synchronous = FULL here (an acknowledged call must
    // survive power loss) while the store keeps NORMAL; each commits in one synchronous call, so
    // neither ever waits on a transaction the other left open.
    this.commit = new GroupCommit(options.file);
    const backend = options.backend;
    this.queue = backend?.queue ?? new SqliteQueue({ commit: this.commit, now: this.now });
    this.calls = backend?.calls ?? new SqliteCallStore(this.commit);
    this.workers = new Workers({
      queue: this.queue,
      calls: this.calls,
      dispatcher: options.dispatcher,
      leaseMs: options.config.asyncLeaseMs,
      responseLimitBytes: options.config.callResponseLimitBytes,
      callbackTimeoutMs: options.config.callbackTimeoutMs,
      callbackPolicy: options.callbackPolicy,
      now: this.now,
      ...(options.random ? { random: options.random } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
      onSettled: (call) => {
        for (const listener of this.settledListeners) {
          try {
            listener(call);
          } catch (err) {
            options.onEvent?.({ type: 'async-worker-error', topic: call.fn, error: (err as Error).message });
          }
        }
      },
    });
    this.cron = new CronScheduler({
      functions: () => [...options.dispatcher.entries()].map((e) => ({ name: e.fn.name, spec: e.fn.spec })),
      submit: (fn, request) => this.submit({ fn, ...request, source: 'cron' }),
      isPending: async (callId) => {
        const status = (await this.calls.progress(callId))?.status;
        return status !== undefined && !FINAL_STATUSES.has(status);
      },
      state: backend?.cronState ?? new SqliteCronState(this.commit),
      ...(backend ? { claim: backend.cronClaim } : {}),
      ...(options.cronClock ? { clock: options.cronClock } : {}),
      ...(options.onEvent ? { onEvent: options.onEvent } : {}),
    });
  }

  /** Starts the workers (calls queued before a restart resume), cron, and the retention sweep. */
  start(): void {
    this.workers.start();
    // Only for functions this node has installed: a call taken before its deploy reached this node would
    // be declared gone. Topics are announced again every second, so the workers start once it has.
    this.o.backend?.onTopic((topic) => {
      if (topic === CALLBACK_TOPIC || this.o.dispatcher.get(topic)) this.workers.ensure(topic);
    });
    this.cron.start();
    const { callRetentionMs, deadLetterRetentionMs } = this.o.config;
    const everyMs = Math.max(
      1000,
      Math.min(60_000, Math.floor(Math.min(callRetentionMs, deadLetterRetentionMs) / 10)),
    );
    this.purgeTimer = setInterval(() => void this.purge(), everyMs);
    this.purgeTimer.unref();
  }

  /**
   * Queues a call; resolves with its id once it is durable. The function must exist. Past the function's
   * caps on waiting calls (count and bytes) it throws ERR_ASYNC_QUEUE_FULL before anything is written.
   */
  async submit(request: SubmitRequest): Promise<string> {
    this.admit(request.fn, request.body.length);
    const id = newCallId(this.now());
    const { headers, trace } = this.traceOf(request, id);
    const data = encodeEnvelope(
      {
        method: request.method,
        path: request.path,
        headers,
        ...(request.callbackUrl === undefined ? {} : { callbackUrl: request.callbackUrl }),
        source: request.source,
        ...(request.rawEvent ? { rawEvent: true } : {}),
        traceparent: trace.traceparent,
        ...(trace.tracestate === undefined ? {} : { tracestate: trace.tracestate }),
      },
      request.body,
    );
    try {
      await Promise.all([
        this.calls.create({
          id,
          fn: request.fn,
          source: request.source,
          callbackUrl: request.callbackUrl,
          createdAt: this.now(),
        }),
        this.queue.enqueue([{ id, topic: request.fn, data }]),
      ]);
    } catch (err) {
      throw new NimbusError('ERR_ASYNC_ENQUEUE_FAILED', [request.fn, (err as Error).message], { cause: err });
    }
    this.workers.ensure(request.fn);
    return id;
  }

  /** The headers to keep (the trace context taken out) and the trace the call carries. */
  private traceOf(
    request: SubmitRequest,
    id: string,
  ): { headers: [string, string][]; trace: { traceparent: string; tracestate: string | undefined } } {
    if (request.trace) return { headers: request.headers, trace: request.trace };
    let traceparent: string | undefined;
    let tracestate: string | undefined;
    const headers: [string, string][] = [];
    for (const pair of request.headers) {
      if (pair[0] === 'traceparent') traceparent = pair[1];
      else if (pair[0] === 'tracestate')
        tracestate = tracestate === undefined ? pair[1] : `${tracestate},${pair[1]}`;
      else headers.push(pair);
    }
    const tracing = this.o.dispatcher.tracing;
    if (!tracing) return { headers, trace: passOn(traceparent, tracestate) };
    const verb = request.source === 'http' ? 'enqueue' : request.source;
    const span = tracing.startCall({
      name: `${verb} ${request.fn}`,
      kind: 'producer',
      fn: request.fn,
      traceparent,
      tracestate,
      attributes: {
        'faas.invoked_name': request.fn,
        'faas.trigger': FAAS_TRIGGERS[request.source],
        'nimbus.call_id': id,
      },
    });
    span.end(0);
    return { headers, trace: span };
  }

  private admit(fn: string, bytes: number): void {
    const spec = this.o.dispatcher.get(fn)?.fn.spec.async;
    const maxCalls = spec?.maxQueued ?? this.o.config.asyncMaxQueued;
    const maxBytes = spec?.maxQueuedBytes ?? this.o.config.asyncMaxQueuedBytes;
    const usage = this.queue.usage(fn);
    if (usage.messages >= maxCalls || usage.bytes + bytes > maxBytes)
      throw new NimbusError('ERR_ASYNC_QUEUE_FULL', [fn, maxCalls, maxBytes], {
        headers: { 'retry-after': String(QUEUE_FULL_RETRY_AFTER_S) },
      });
  }

  /** Calls `listener` with every call that reaches a final status; returns the unsubscribe. */
  onSettled(listener: (call: SettledCall) => void): () => void {
    this.settledListeners.add(listener);
    return () => this.settledListeners.delete(listener);
  }

  /** Queues a dead call again (same id; attempts start over). */
  async redrive(id: string): Promise<CallRecord> {
    const record = await this.calls.get(id);
    if (!record) throw new NimbusError('ERR_CALL_NOT_FOUND', [id]);
    const letter = record.status === 'dead' ? await this.calls.deadLetter(id) : undefined;
    if (!letter) throw new NimbusError('ERR_CALL_NOT_DEAD', [id, record.status]);
    await this.requeue(id, letter.fn, letter.request);
    return (await this.calls.get(id))!;
  }

  /** Redrives every dead call (of `fn`); returns how many. */
  async redriveAll(fn?: string): Promise<number> {
    let count = 0;
    for (;;) {
      const page = await this.calls.list({ fn, status: 'dead', limit: REDRIVE_PAGE });
      if (page.length === 0) return count;
      const writes: Promise<void>[] = [];
      for (const record of page) {
        const letter = await this.calls.deadLetter(record.id);
        if (!letter) continue;
        writes.push(this.requeue(record.id, letter.fn, letter.request));
        count++;
      }
      await Promise.all(writes);
      if (writes.length === 0) return count;
    }
  }

  private async requeue(id: string, fn: string, request: Buffer): Promise<void> {
    // The record says queued before the message exists: a worker (on any node) that took the message while
    // the record still said dead would take it for a settled call delivered again and drop it.
    await this.calls.requeue(id, this.now());
    await this.queue.enqueue([{ id, topic: fn, data: request }]);
    this.workers.ensure(fn);
  }

  /** Removes call records past their retention, and gives the pages freed since back to the file system. */
  purge(): Promise<unknown> {
    const { callRetentionMs, deadLetterRetentionMs } = this.o.config;
    this.purging ??= this.calls
      .purge(this.now(), { finishedMs: callRetentionMs, deadMs: deadLetterRetentionMs })
      .then(() => this.reclaim())
      .catch(() => 0)
      .finally(() => {
        this.purging = undefined;
      });
    return this.purging;
  }

  /**
   * Truncates free pages off the database file (auto_vacuum = INCREMENTAL) and the WAL back to empty,
   * once enough is free to be worth it: the file shrinks after a burst of queued calls has run.
   */
  private async reclaim(): Promise<void> {
    if (this.o.backend) return;
    const db = this.commit.db;
    const free = db.pragma('freelist_count', { simple: true }) as number;
    const pageSize = db.pragma('page_size', { simple: true }) as number;
    if (free * pageSize < RECLAIM_MIN_BYTES) return;
    await this.commit.write(() => db.pragma('incremental_vacuum'));
    db.pragma('wal_checkpoint(TRUNCATE)');
  }

  /** Fields added to a function's view: the next cron run. */
  view(fn: { name: string; spec: FunctionSpec }): { nextRun?: string } {
    const next = this.cron.nextRun(fn.name) ?? nextRunOf(fn.spec, this.now());
    return next ? { nextRun: next.toISOString() } : {};
  }

  /** Stops cron and the workers taking calls; waits for calls in flight up to `maxWaitMs`. */
  async stop(maxWaitMs: number): Promise<void> {
    this.cron.close();
    clearInterval(this.purgeTimer);
    await this.workers.stop(maxWaitMs);
    await this.purging;
  }

  /** Commits what is pending and closes the connection. */
  close(): void {
    this.commit.close();
  }
}
