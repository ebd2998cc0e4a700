// The invoke seam: a lease is one request's slot on one instance, and once opened its stream — a duplex
// with per-stream credit both ways. Timeout (and the kill it brings), counting, cold-start marking and
// the slot's release all happen here, once, for every way in (HTTP, async, cron, compat APIs).
import { NimbusError } from '../errors.js';
import { CLIENT_CLOSED } from '../metrics/invocations.js';
import { FLAG_END, FLAG_RAW_EVENT, STREAM_WINDOW_BYTES, WINDOW_UPDATE_BYTES } from './protocol.js';

/** What a stream's caller implements: the response as it arrives. Nothing is called after onError. */
export interface StreamSink {
  /** The response head (`headers`: name, value, ...). `end`: there is no body. */
  onHead(status: number, headers: string[], end: boolean): void;
  /**
   * Response body bytes (valid during the call only: copy to keep them). Return false to hold the stream's
   * credit — the function's writes then block once its window is spent — until `stream.resume()`.
   */
  onBody(chunk: Buffer, end: boolean): boolean;
  /** A `write()` that returned false may be followed by more now. */
  onDrain(): void;
  /** The call failed: handler error, invalid answer, crash, timeout, or `fail()`. At most once. */
  onError(error: NimbusError, stack?: string): void;
}

/** The caller's side of an open stream. */
export interface InvokeStream {
  /** Request body bytes; false once the function's window is spent (the rest is kept): wait for onDrain. */
  write(chunk: Uint8Array): boolean;
  /** Ends the request body (with a last chunk). */
  end(chunk?: Uint8Array): void;
  /** Gives back the credit held since an onBody returned false. */
  resume(): void;
  /** The caller refuses the answer (e.g. headers it cannot send): the call ends as `error` (onError follows). */
  fail(error: NimbusError): void;
  /** The caller went away: the function is told, the call counts as 499. */
  cancel(): void;
}

/** What an instance delivers to one of its open streams. */
export interface StreamEnd {
  head(status: number, headers: string[], end: boolean): void;
  body(chunk: Buffer, end: boolean): void;
  /** The function consumed `bytes` of request body: that much more may be sent. */
  window(bytes: number): void;
  /** The stream failed (ERROR frame, crash, protocol error); the instance has forgotten it. */
  error(error: NimbusError, stack?: string): void;
  /** The call's id (its x-call-id), for the instance's log lines; read only when the instance writes one. */
  readonly callId?: string | undefined;
}

/** What a stream needs of the instance it runs on. */
export interface Channel {
  readonly id: string;
  /** Opens a stream: sends the head. Returns the stream id, or undefined when the instance is gone. */
  open(end: StreamEnd, head: string, flags: number): number | undefined;
  sendBody(streamId: number, chunk: Uint8Array, end: boolean): void;
  sendWindow(streamId: number, bytes: number): void;
  /** Forgets the stream and tells the runner to stop it. */
  cancel(streamId: number): void;
  /** Stops the instance and every process it started; its open streams fail. */
  kill(reason: string): void;
}

/** Waits for a lease to be granted (a slot on an instance) or refused. */
export interface LeaseWaiter {
  granted(lease: Lease): void;
  refused(error: NimbusError): void;
}

/** What the pool gives each of its leases (one object per pool). */
export interface LeaseHost {
  readonly name: string;
  readonly timeoutMs: number;
  readonly deadlines: Deadlines;
  /**
   * The call is over (`seconds` end to end; `instance`: the one that served it, if any; `callId`: its
   * x-call-id, once the stream opened): count it.
   */
  record(
    status: number,
    seconds: number,
    cold: boolean,
    instance: string | undefined,
    callId: string | undefined,
  ): void;
  /** The lease's slot is free (or it stopped waiting). */
  release(lease: Lease, slot: Slot | undefined): void;
}

/** A reserved place on an instance; the pool's own bookkeeping, opaque here. */
export interface Slot {
  readonly instance: Channel;
}

/**
 * Headers a response may carry. Every one costs the gateway's single thread work (checked, copied, written):
 * 100,000 of them in one frame stalled it ~125 ms per call. Real answers carry tens.
 */
export const MAX_RESPONSE_HEADERS = 1000;

enum State {
  Waiting,
  Granted,
  Open,
  Done,
}

const EMPTY = new Uint8Array(0);
const CALL_ID_FIELD = '\0x-call-id\0';

export class Lease implements InvokeStream, StreamEnd {
  readonly #host: LeaseHost;
  #state = State.Waiting;
  #slot: Slot | undefined;
  #waiter: LeaseWaiter | undefined;
  /** Why the pool refused the lease (a refusal may come before anyone waits). */
  #refusal: NimbusError | undefined;
  #sink: StreamSink | undefined;
  #streamId = 0;
  /** The head sent when the stream opened (kept, not parsed: callId reads it only when asked). */
  #head = '';
  #cold = false;
  #initMs = 0;
  /** performance.now() when the lease was asked for, and when its stream opened. */
  readonly #askedAt = performance.now();
  #openedAt = 0;
  #waited = false;
  /** When the call times out (performance.now() scale). */
  #deadline = 0;
  /** The status to count: the function's, then an error's if the call fails after it. */
  #status = 0;
  #headSeen = false;
  /** Request body the function may still take, and what is kept because it could not (yet). */
  #sendCredit = STREAM_WINDOW_BYTES;
  #pending: Uint8Array | undefined;
  #endPending = false;
  #blocked = false;
  /** Response body the function may still send; consumed bytes not yet granted back; the sink holds credit. */
  #recvCredit = STREAM_WINDOW_BYTES;
  #unacked = 0;
  #holding = false;

  constructor(host: LeaseHost) {
    this.#host = host;
  }

  // ---- the pool's side -------------------------------------------------------------------------------

  /** The pool queued the lease: it waits for a slot (and says how long it waited). */
  queued(): void {
    this.#waited = true;
  }

  /** Gives the lease its slot. `cold`: the instance was started for waiting requests; `initMs` its start time. */
  grant(slot: Slot, cold: boolean, initMs: number): void {
    this.#slot = slot;
    this.#cold = cold;
    this.#initMs = initMs;
    this.#state = State.Granted;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.granted(this);
  }

  /** The pool could not find a slot: the waiter is told why. */
  refuse(error: NimbusError): void {
    if (this.#state !== State.Waiting) return;
    this.#state = State.Done;
    this.#refusal = error;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    this.#host.record(error.status, this.#seconds(), false, undefined, undefined);
    waiter?.refused(error);
  }

  get waiting(): boolean {
    return this.#state === State.Waiting;
  }

  // ---- the caller's side -----------------------------------------------------------------------------

  /** A slot is reserved: `open()` may be called. Otherwise `wait()` for one. */
  get granted(): boolean {
    return this.#state === State.Granted;
  }

  /** Calls `waiter` once a slot is granted or refused (at once when that happened already). */
  wait(waiter: LeaseWaiter): void {
    if (this.#state === State.Waiting) this.#waiter = waiter;
    else if (this.#state === State.Granted) waiter.granted(this);
    else if (this.#refusal) waiter.refused(this.#refusal);
  }

  /** The request waited for an instance started for it. */
  get cold(): boolean {
    return this.#cold;
  }

  /** Start + load time of that instance (ms), when cold. */
  get initMs(): number {
    return this.#initMs;
  }

  /** Time the request waited for its slot (ms); 0 when one was free. */
  get waitMs(): number {
    return this.#waited ? this.#openedAt - this.#askedAt : 0;
  }

  /** The x-call-id of the head the stream opened with (the gateway's last word on it wins). */
  get callId(): string | undefined {
    const at = this.#head.lastIndexOf(CALL_ID_FIELD);
    if (at === -1) return undefined;
    const start = at + CALL_ID_FIELD.length;
    const end = this.#head.indexOf('\0', start);
    return this.#head.slice(start, end === -1 ? undefined : end);
  }

  /** The instance serving the call, once granted. */
  get instanceId(): string | undefined {
    return this.#slot?.instance.id;
  }

  /**
   * Opens the stream: sends `head` (NUL-separated method, path?query, header pairs). `end`: there is no
   * request body. The sink hears the answer; a failure to open arrives as onError, after this returns.
   */
  open(sink: StreamSink, head: string, end: boolean, rawEvent = false): InvokeStream {
    if (this.#state !== State.Granted) throw new Error(`open() on a lease that is not granted`);
    this.#sink = sink;
    this.#head = head;
    this.#state = State.Open;
    const now = this.#waited ? performance.now() : this.#askedAt;
    this.#openedAt = now;
    this.#deadline = now + this.#host.timeoutMs;
    this.#endPending = end;
    const instance = this.#slot!.instance;
    const id = instance.open(this, head, (end ? FLAG_END : 0) | (rawEvent ? FLAG_RAW_EVENT : 0));
    if (id === undefined) {
      // The instance died between the grant and now.
      queueMicrotask(() =>
        this.error(new NimbusError('ERR_INSTANCE_CRASHED', [this.#host.name, 'it exited'])),
      );
      return this;
    }
    this.#streamId = id;
    this.#host.deadlines.add(this);
    return this;
  }

  write(chunk: Uint8Array): boolean {
    if (this.#state !== State.Open || this.#endPending) return true;
    if (this.#pending !== undefined) {
      this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
      this.#blocked = true;
      return false;
    }
    return this.#send(chunk, false);
  }

  end(chunk: Uint8Array = EMPTY): void {
    if (this.#state !== State.Open || this.#endPending) return;
    this.#endPending = true;
    if (this.#pending !== undefined) {
      if (chunk.length > 0) this.#pending = Buffer.concat([this.#pending, chunk]);
      return;
    }
    this.#send(chunk, true);
  }

  resume(): void {
    if (!this.#holding) return;
    this.#holding = false;
    if (this.#state === State.Open && this.#unacked > 0) this.#grantBack(this.#unacked);
  }

  fail(error: NimbusError): void {
    if (this.#state === State.Done) return;
    if (this.#state === State.Open) this.#slot!.instance.cancel(this.#streamId);
    this.#fail(error);
  }

  cancel(): void {
    const state = this.#state;
    if (state === State.Done) return;
    if (state === State.Open) this.#slot!.instance.cancel(this.#streamId);
    this.#finish(CLIENT_CLOSED);
  }

  // ---- the instance's side ---------------------------------------------------------------------------

  head(status: number, headers: string[], end: boolean): void {
    if (this.#state !== State.Open) return;
    if (this.#headSeen) {
      this.#violation('a second response head');
      return;
    }
    // Only final statuses: a 1xx would leave the client waiting for the real answer.
    if (!(Number.isInteger(status) && status >= 200 && status <= 599)) {
      this.#slot!.instance.cancel(this.#streamId);
      this.#fail(new NimbusError('ERR_HANDLER_INVALID_RESPONSE', [this.#host.name, `status ${status}`]));
      return;
    }
    if (headers.length > 2 * MAX_RESPONSE_HEADERS) {
      this.#violation(`${headers.length / 2} headers; at most ${MAX_RESPONSE_HEADERS}`);
      return;
    }
    if (headers.length % 2 !== 0) {
      this.#violation(`a header without a value (${headers.length} head fields after the status)`);
      return;
    }
    // Names are lower-case on the wire (docs/instance-protocol.md), and every check after this one compares
    // them so: a runner that sent `Content-Length` would otherwise frame the client's response itself.
    for (let i = 0; i < headers.length; i += 2) headers[i] = headers[i]!.toLowerCase();
    this.#headSeen = true;
    this.#status = status;
    this.#sink!.onHead(status, headers, end);
    if (end && this.#state === State.Open) this.#finish(this.#status);
  }

  body(chunk: Buffer, end: boolean): void {
    if (this.#state !== State.Open) return;
    if (!this.#headSeen) {
      this.#violation('body bytes before the response head');
      return;
    }
    this.#recvCredit -= chunk.length;
    if (this.#recvCredit < 0) {
      this.#slot!.instance.kill(`protocol error: stream ${this.#streamId} sent past its window`);
      return;
    }
    const consumed = this.#sink!.onBody(chunk, end);
    if (this.#state !== State.Open) return;
    if (end) {
      this.#finish(this.#status);
      return;
    }
    this.#unacked += chunk.length;
    if (!consumed) this.#holding = true;
    else if (!this.#holding && this.#unacked >= WINDOW_UPDATE_BYTES) this.#grantBack(this.#unacked);
  }

  window(bytes: number): void {
    if (this.#state !== State.Open) return;
    this.#sendCredit += bytes;
    if (this.#sendCredit > 2 * STREAM_WINDOW_BYTES) {
      this.#slot!.instance.kill(`protocol error: stream ${this.#streamId} was granted more than its window`);
      return;
    }
    const pending = this.#pending;
    if (pending === undefined) return;
    this.#pending = undefined;
    if (!this.#send(pending, this.#endPending) || this.#state !== State.Open) return;
    if (this.#blocked) {
      this.#blocked = false;
      this.#sink!.onDrain();
    }
  }

  error(error: NimbusError, stack?: string): void {
    if (this.#state !== State.Open) return;
    this.#fail(error, stack);
  }

  // ---- the deadline's side ---------------------------------------------------------------------------

  /** When the call times out (performance.now() scale); 0 until the stream opens. */
  get deadline(): number {
    return this.#deadline;
  }

  /** The call ran past timeoutMs: it fails with 504 and its instance is stopped (it may be stuck in a loop). */
  expire(): void {
    if (this.#state !== State.Open) return;
    const { name, timeoutMs } = this.#host;
    const instance = this.#slot!.instance;
    this.#fail(new NimbusError('ERR_HANDLER_TIMEOUT', [name, timeoutMs]));
    instance.kill(`a request on it ran past timeoutMs (${timeoutMs} ms)`);
  }

  // ---- inside ----------------------------------------------------------------------------------------

  /** Sends what the credit allows of `chunk` (ending the body with it when `end`); keeps the rest. */
  #send(chunk: Uint8Array, end: boolean): boolean {
    const instance = this.#slot!.instance;
    if (chunk.length <= this.#sendCredit) {
      this.#sendCredit -= chunk.length;
      if (chunk.length > 0 || end) instance.sendBody(this.#streamId, chunk, end);
      return true;
    }
    const fits = this.#sendCredit;
    if (fits > 0) instance.sendBody(this.#streamId, chunk.subarray(0, fits), false);
    this.#sendCredit = 0;
    this.#pending = chunk.subarray(fits);
    this.#blocked = !end;
    return false;
  }

  #grantBack(bytes: number): void {
    this.#unacked = 0;
    this.#recvCredit += bytes;
    this.#slot!.instance.sendWindow(this.#streamId, bytes);
  }

  #violation(what: string): void {
    this.#slot!.instance.cancel(this.#streamId);
    this.#fail(new NimbusError('ERR_HANDLER_INVALID_RESPONSE', [this.#host.name, `protocol error: ${what}`]));
  }

  #fail(error: NimbusError, stack?: string): void {
    const sink = this.#sink;
    this.#finish(error.status);
    sink?.onError(error, stack);
  }

  #finish(status: number): void {
    const wasWaiting = this.#state === State.Waiting;
    this.#state = State.Done;
    this.#pending = undefined;
    this.#sink = undefined;
    this.#waiter = undefined;
    if (this.#deadline !== 0) this.#host.deadlines.delete(this);
    const slot = wasWaiting ? undefined : this.#slot;
    this.#host.record(status, this.#seconds(), this.#cold, slot?.instance.id, slot && this.callId);
    this.#host.release(this, slot);
  }

  #seconds(): number {
    return (performance.now() - this.#askedAt) / 1000;
  }
}

/**
 * The open streams of one pool by deadline. Every stream of a pool has the same timeout, so opening order
 * is deadline order: one timer for the earliest, instead of one per request.
 */
export class Deadlines {
  readonly #open = new Set<Lease>();
  #timer: NodeJS.Timeout | undefined;
  readonly #fire = () => this.#check();

  add(lease: Lease): void {
    this.#open.add(lease);
    if (this.#timer === undefined) this.#arm(lease.deadline);
  }

  delete(lease: Lease): void {
    this.#open.delete(lease);
  }

  close(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(deadline: number): void {
    this.#timer = setTimeout(this.#fire, Math.max(1, Math.ceil(deadline - performance.now())));
    this.#timer.unref();
  }

  #check(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (const lease of this.#open) {
      if (lease.deadline > now) {
        this.#arm(lease.deadline);
        return;
      }
      this.#open.delete(lease);
      lease.expire();
    }
  }
}
