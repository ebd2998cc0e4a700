// Queue workers: per function, up to its async concurrency of calls taken with a lease (renewed while the
// call runs), invoked through the dispatcher like a sync call, then acknowledged, retried with back-off,
// or moved to the dead letters; results go to X-Callback-Url through a separate pool of callback workers.

import { asyncConcurrency } from '../config/async-spec.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import { type BufferedResponse, invokeBuffered } from '../dispatch/invoke.js';
import { ERRORS, NimbusError } from '../errors.js';
import { FAAS_TRIGGERS } from '../observability/tracing.js';
import {
  type BackoffPolicy,
  backoffDelayMs,
  classifyAttempt,
  decide,
  isExpired,
  type Verdict,
} from './backoff.js';
import type { CallbackPolicy } from './callback-policy.js';
import { postCallback } from './callbacks.js';
import {
  type AttemptOutcome,
  type CallError,
  type CallStore,
  FINAL_STATUSES,
  type StoredResponse,
} from './calls.js';
import { type CallbackEnvelope, type CallEnvelope, decodeEnvelope, encodeEnvelope } from './envelope.js';
import type { Job, Queue } from './queue.js';

/** The topic of callback deliveries (not a valid function name, so it cannot clash with one). */
export const CALLBACK_TOPIC = '@callback';
/** Callback deliveries in flight at once. */
export const CALLBACK_CONCURRENCY = 32;
/** A callback is tried this many times before it is given up. */
export const CALLBACK_MAX_ATTEMPTS = 10;
/** Back-off between callback attempts (full jitter), about 5 minutes in all. */
export const CALLBACK_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 60_000 };
/** A worker with nothing to do waits this long for work before it looks again. */
const IDLE_WAIT_MS = 5000;
/** After a queue error (disk trouble), a worker waits this long before it tries again. */
const ERROR_PAUSE_MS = 1000;
/** A call whose handling failed unexpectedly is tried again after this long. */
const HANDLER_ERROR_RETRY_MS = 5000;

export type WorkerEvent =
  | { type: 'call-dead'; name: string; callId: string; reason: string }
  | { type: 'callback-failed'; name: string; callId: string; error: string }
  | { type: 'async-worker-error'; topic: string; error: string };

/** A call that reached a final status, with its last attempt (for layers that keep their own records). */
export interface SettledCall {
  id: string;
  fn: string;
  status: 'succeeded' | 'failed' | 'dead';
  /** The last attempt, when the call ran: its start (epoch ms) and the function's whole answer. */
  attempt?: { startedAt: number; finishedAt: number; response: BufferedResponse };
  error?: CallError;
}

export interface WorkersOptions {
  queue: Queue;
  calls: CallStore;
  dispatcher: Dispatcher;
  /** A taken call is invisible to other workers this long; renewed every third of it while it runs. */
  leaseMs: number;
  /** Response bytes kept in a call record. */
  responseLimitBytes: number;
  callbackTimeoutMs: number;
  /** Where callbacks may go. */
  callbackPolicy: CallbackPolicy;
  now?: () => number;
  random?: () => number;
  onEvent?: (event: WorkerEvent) => void;
  /** Told of every call that reached a final status, after its record was written. */
  onSettled?: (call: SettledCall) => void;
}

export class Workers {
  private readonly options: WorkersOptions;
  private readonly runners = new Map<string, TopicRunner>();
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly stopCallbacks = new AbortController();
  private closing = false;

  constructor(options: WorkersOptions) {
    this.options = options;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /** Starts workers for every topic with messages waiting (calls queued before a restart). */
  start(): void {
    this.ensure(CALLBACK_TOPIC);
    for (const topic of this.options.queue.topics()) this.ensure(topic);
  }

  /** Makes sure `topic` has workers (called when a call is queued). */
  ensure(topic: string): void {
    if (this.closing) return;
    let runner = this.runners.get(topic);
    if (!runner) {
      const isCallback = topic === CALLBACK_TOPIC;
      runner = new TopicRunner({
        topic,
        queue: this.options.queue,
        leaseMs: this.options.leaseMs,
        concurrency: isCallback ? () => CALLBACK_CONCURRENCY : () => this.concurrencyOf(topic),
        handle: isCallback ? (job) => this.deliverCallback(job) : (job) => this.runCall(job),
        isClosing: () => this.closing,
        onError: (err) =>
          this.options.onEvent?.({ type: 'async-worker-error', topic, error: (err as Error).message }),
      });
      this.runners.set(topic, runner);
    }
    runner.kick();
  }

  /** Calls of each topic running now. */
  running(): Map<string, number> {
    return new Map([...this.runners].map(([topic, r]) => [topic, r.running]));
  }

  /**
   * Stops taking work and waits for the calls in flight (the dispatcher ends them within its grace
   * period); past `maxWaitMs` whatever is left keeps its lease and is redelivered after a restart.
   */
  async stop(maxWaitMs: number): Promise<void> {
    this.closing = true;
    this.options.queue.close();
    const idle = Promise.all([...this.runners.values()].map((r) => r.idle()));
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, maxWaitMs);
    });
    // Callbacks are cut short at once: the ones in flight are tried again after a restart.
    this.stopCallbacks.abort();
    await Promise.race([idle, deadline]);
    clearTimeout(timer);
  }

  private concurrencyOf(fn: string): number {
    const entry = this.options.dispatcher.get(fn);
    return entry ? asyncConcurrency(entry.fn.spec, entry.pool.instanceConcurrency) : 1;
  }

  private async runCall(job: Job): Promise<void> {
    const { queue, calls, dispatcher } = this.options;
    const progress = await calls.progress(job.id);
    if (progress && FINAL_STATUSES.has(progress.status)) {
      // Delivered again after it was settled (a crash between the two writes cannot happen, but be safe).
      await queue.ack(job);
      return;
    }
    const errors = progress?.errors ?? 0;
    const redrives = progress?.redrives ?? 0;
    let envelope: { head: CallEnvelope; body: Buffer };
    try {
      envelope = decodeEnvelope<CallEnvelope>(job.data);
    } catch (err) {
      // Unreadable (it cannot be retried into shape): straight to the dead letters.
      const error = new NimbusError('ERR_INTERNAL', [`unreadable queued call: ${(err as Error).message}`]);
      await Promise.all([
        calls.finish(job.id, {
          status: 'dead',
          errors,
          now: this.now(),
          error: asCallError(error),
          callbackPending: false,
        }),
        queue.term(job),
      ]);
      return;
    }
    const { head, body } = envelope;
    const entry = dispatcher.get(job.topic);
    if (!entry) {
      const error = new NimbusError('ERR_FUNCTION_NOT_FOUND', [job.topic]);
      await this.settle(
        job,
        head,
        errors,
        redrives,
        { kind: 'dead', reason: 'gone' },
        { error: asCallError(error) },
      );
      return;
    }
    const policy = entry.fn.spec.async;
    if (isExpired(job.enqueuedAt, this.now(), policy.maxEventAgeMs)) {
      const error = new NimbusError('ERR_CALL_EXPIRED', [policy.maxEventAgeMs, job.topic]);
      await this.settle(
        job,
        head,
        errors,
        redrives,
        { kind: 'dead', reason: 'expired' },
        { error: asCallError(error) },
      );
      return;
    }
    void calls.running(job.id, job.deliveries, this.now()).catch(() => {});
    const startedAt = this.now();
    const started = performance.now();
    const headers: [string, string][] = [
      ...head.headers,
      ['x-call-id', job.id],
      ['x-nimbus-attempt', String(job.deliveries)],
    ];
    // Every attempt runs in the trace the call was queued in (a call queued before tracing has none).
    if (head.traceparent !== undefined) headers.push(['traceparent', head.traceparent]);
    if (head.tracestate !== undefined) headers.push(['tracestate', head.tracestate]);
    const res = await invokeBuffered(
      dispatcher,
      job.topic,
      { method: head.method, path: head.path, headers, body, ...(head.rawEvent ? { rawEvent: true } : {}) },
      {
        span: {
          name: `async ${job.topic}`,
          kind: 'consumer',
          attributes: {
            'faas.trigger': FAAS_TRIGGERS[head.source] ?? 'other',
            'nimbus.call_id': job.id,
            'nimbus.attempt': job.deliveries,
          },
          // The first delivery waited in the queue since it was queued; a retry's wait is its back-off,
          // seen as the gap between attempts.
          ...(job.deliveries === 1 ? { queuedAtMs: job.enqueuedAt } : {}),
        },
      },
    );
    const durationMs = performance.now() - started;
    const outcome: AttemptOutcome & { fullBody: Buffer } = {
      durationMs,
      response: this.storedResponse(res.status, res.headers, res.body),
      fullBody: res.body,
    };
    if (res.error) outcome.error = asCallError(res.error);
    if (this.closing && res.error) {
      // Cut short by the shutdown: not the function's fault, so it does not count as an attempt's error.
      await Promise.all([
        calls.retrying(job.id, { ...outcome, errors, nextAttemptAt: this.now(), now: this.now() }),
        queue.nak(job, 0),
      ]);
      return;
    }
    const result = { status: res.status, errorCode: res.error?.code };
    const errorsAfter = errors + (classifyAttempt(result, policy.retryOn) === 'function-error' ? 1 : 0);
    const verdict = decide(
      {
        result,
        errors,
        deliveries: job.deliveries,
        enqueuedAt: job.enqueuedAt,
        now: this.now(),
      },
      policy,
      this.random,
    );
    if (verdict.kind === 'dead') {
      const error =
        verdict.reason === 'expired'
          ? new NimbusError('ERR_CALL_EXPIRED', [policy.maxEventAgeMs, job.topic])
          : new NimbusError('ERR_CALL_RETRIES_EXHAUSTED', [job.topic, job.deliveries]);
      // Keep the function's own error (thrown, timed out) when there is one; else say why it is dead.
      if (!outcome.error) outcome.error = asCallError(error);
    }
    await this.settle(job, head, errorsAfter, redrives, verdict, outcome, {
      startedAt,
      finishedAt: this.now(),
      response: res,
    });
  }

  /** Records the verdict and settles the message, in one transaction (the writes are asked for together). */
  private async settle(
    job: Job,
    head: CallEnvelope,
    errors: number,
    redrives: number,
    verdict: Verdict,
    outcome: AttemptOutcome & { fullBody?: Buffer },
    attempt?: SettledCall['attempt'],
  ): Promise<void> {
    const { queue, calls } = this.options;
    const now = this.now();
    const { fullBody, ...recorded } = outcome;
    if (verdict.kind === 'retry') {
      await Promise.all([
        calls.retrying(job.id, { ...recorded, errors, nextAttemptAt: now + verdict.delayMs, now }),
        queue.nak(job, verdict.delayMs),
      ]);
      return;
    }
    const status = verdict.kind;
    const writes: Promise<void>[] = [
      calls.finish(job.id, {
        ...recorded,
        status,
        errors,
        now,
        request: status === 'dead' ? job.data : undefined,
        callbackPending: head.callbackUrl !== undefined,
      }),
      status === 'dead' ? queue.term(job) : queue.ack(job),
    ];
    if (head.callbackUrl !== undefined) {
      writes.push(
        queue.enqueue([
          {
            id: `${job.id}/callback/${redrives}`,
            topic: CALLBACK_TOPIC,
            data: this.callbackEnvelope(job, head.callbackUrl, status, recorded, fullBody),
          },
        ]),
      );
    }
    await Promise.all(writes);
    if (head.callbackUrl !== undefined) this.ensure(CALLBACK_TOPIC);
    if (status === 'dead') {
      const reason = verdict.kind === 'dead' ? verdict.reason : 'dead';
      this.options.onEvent?.({ type: 'call-dead', name: job.topic, callId: job.id, reason });
    }
    this.options.onSettled?.({
      id: job.id,
      fn: job.topic,
      status,
      ...(attempt ? { attempt } : {}),
      ...(recorded.error ? { error: recorded.error } : {}),
    });
  }

  private callbackEnvelope(
    job: Job,
    url: string,
    status: 'succeeded' | 'failed' | 'dead',
    outcome: AttemptOutcome,
    fullBody: Buffer | undefined,
  ): Buffer {
    const response = outcome.response;
    const functionStatus = response?.status ?? (outcome.error ? errorStatus(outcome.error) : 500);
    const headers: [string, string][] = [];
    const contentType = response ? headerValue(response.headers, 'content-type') : undefined;
    let body = fullBody ?? response?.body;
    if (contentType) headers.push(['content-type', contentType]);
    if (!body) {
      body = Buffer.from(JSON.stringify({ error: outcome.error ?? { code: 'ERR_INTERNAL', message: '' } }));
      headers.push(['content-type', 'application/json']);
    }
    headers.push(
      ['x-call-id', job.id],
      ['x-function-name', job.topic],
      ['x-function-status', String(functionStatus)],
      ['x-duration-seconds', ((outcome.durationMs ?? 0) / 1000).toFixed(6)],
      ['x-nimbus-call-status', status],
      ['x-nimbus-attempts', String(job.deliveries)],
    );
    const head: CallbackEnvelope = { callId: job.id, url, headers };
    return encodeEnvelope(head, body);
  }

  private async deliverCallback(job: Job): Promise<void> {
    const { queue, calls } = this.options;
    const { head, body } = decodeEnvelope<CallbackEnvelope>(job.data);
    const result = await postCallback(
      head.url,
      head.headers,
      body,
      this.options.callbackTimeoutMs,
      this.options.callbackPolicy,
      this.stopCallbacks.signal,
    );
    const now = this.now();
    if (result.ok) {
      await Promise.all([
        calls.callback(head.callId, { state: 'delivered', attempts: job.deliveries, now }),
        queue.ack(job),
      ]);
      return;
    }
    const error = result.error ?? 'the callback failed';
    if (this.closing) {
      await queue.nak(job, 0);
      return;
    }
    if (!result.retryable || job.deliveries >= CALLBACK_MAX_ATTEMPTS) {
      await Promise.all([
        calls.callback(head.callId, { state: 'failed', attempts: job.deliveries, error, now }),
        queue.term(job),
      ]);
      const name = head.headers.find(([k]) => k === 'x-function-name')?.[1] ?? '';
      this.options.onEvent?.({ type: 'callback-failed', name, callId: head.callId, error });
      return;
    }
    await Promise.all([
      calls.callback(head.callId, { state: 'pending', attempts: job.deliveries, error, now }),
      queue.nak(job, backoffDelayMs(job.deliveries, CALLBACK_BACKOFF, this.random)),
    ]);
  }

  private storedResponse(status: number, headers: string[], body: Buffer): StoredResponse {
    const limit = this.options.responseLimitBytes;
    return {
      status,
      headers,
      body: body.length > limit ? Buffer.from(body.subarray(0, limit)) : body,
      bodyBytes: body.length,
    };
  }
}

function asCallError(err: NimbusError): CallError {
  return { code: err.code, message: err.message };
}

function errorStatus(error: CallError): number {
  return (ERRORS as Record<string, { status: number } | undefined>)[error.code]?.status ?? 500;
}

function headerValue(flat: readonly string[], name: string): string | undefined {
  for (let i = 0; i < flat.length; i += 2) if (flat[i]!.toLowerCase() === name) return flat[i + 1];
  return undefined;
}

interface TopicRunnerOptions {
  topic: string;
  queue: Queue;
  leaseMs: number;
  concurrency: () => number;
  handle: (job: Job) => Promise<void>;
  isClosing: () => boolean;
  onError: (err: unknown) => void;
}

/** Takes jobs of one topic while it has free slots, runs each under a renewed lease. */
class TopicRunner {
  running = 0;
  private pumping = false;
  private kickScheduled = false;
  private idleWaiters: (() => void)[] = [];
  private readonly o: TopicRunnerOptions;

  constructor(options: TopicRunnerOptions) {
    this.o = options;
  }

  /** Looks for work soon; slots freed in the same turn are refilled by one take. */
  kick(): void {
    if (this.pumping || this.kickScheduled) return;
    this.kickScheduled = true;
    setImmediate(() => {
      this.kickScheduled = false;
      void this.pump();
    });
  }

  idle(): Promise<void> {
    if (this.running === 0 && !this.pumping) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (!this.o.isClosing()) {
        const free = this.o.concurrency() - this.running;
        if (free <= 0) break;
        let jobs: Job[];
        try {
          jobs = await this.o.queue.take(this.o.topic, {
            max: free,
            leaseMs: this.o.leaseMs,
            waitMs: IDLE_WAIT_MS,
          });
        } catch (err) {
          this.o.onError(err);
          await new Promise((r) => setTimeout(r, ERROR_PAUSE_MS));
          continue;
        }
        if (this.o.isClosing()) {
          // Taken as the shutdown began: hand them back at once rather than let their leases run out.
          await Promise.all(jobs.map((job) => this.o.queue.nak(job, 0).catch(() => {})));
          break;
        }
        for (const job of jobs) this.run(job);
      }
    } finally {
      this.pumping = false;
      this.checkIdle();
    }
  }

  private run(job: Job): void {
    this.running++;
    const { queue, leaseMs } = this.o;
    const renew = setInterval(
      () => {
        queue.extend(job, leaseMs).catch(() => {});
      },
      Math.max(50, Math.floor(leaseMs / 3)),
    );
    renew.unref();
    this.o
      .handle(job)
      .catch((err: unknown) => {
        this.o.onError(err);
        // Not settled (a disk error, say): handed back for a later try rather than held here for good.
        queue.nak(job, HANDLER_ERROR_RETRY_MS).catch(() => {});
      })
      .finally(() => {
        clearInterval(renew);
        this.running--;
        this.checkIdle();
        this.kick();
      });
  }

  private checkIdle(): void {
    if (this.running !== 0 || this.pumping) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }
}
