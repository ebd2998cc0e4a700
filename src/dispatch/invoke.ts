// Buffered invocation through the same pools and leases as the HTTP fast path: for callers that hold the
// whole request and want the whole response (async workers, cron, compat APIs).
import { NimbusError } from '../errors.js';
import type { InvokeStream, Lease, LeaseWaiter, StreamSink } from '../instances/lease.js';
import { type CallKind, type CallTrace, passOn, type TraceAttributes } from '../observability/tracing.js';
import type { Dispatcher } from './dispatcher.js';

export interface BufferedRequest {
  method: string;
  /** Path suffix with query, as the function sees it: `/`, `/a/b?x=1`. */
  path: string;
  /**
   * Header pairs, names lower-case. A `traceparent` (and `tracestate`) among them is the caller's trace
   * context: continued, and replaced by this call's own before the function sees it.
   */
  headers: readonly (readonly [string, string])[];
  body: Buffer;
  /** The body is an event for a Lambda-style handler, passed as it is (FLAG_RAW_EVENT): the Lambda Invoke API. */
  rawEvent?: boolean;
}

export interface BufferedResponse {
  status: number;
  /** Flat header list: name, value, name, value, ... */
  headers: string[];
  body: Buffer;
  /** Set when the platform, not the function, produced the status (timeout, crash, throw, queue full). */
  error?: NimbusError;
  /** Time spent waiting for an instance (ms); 0 when one was free. */
  waitMs: number;
  /** The instance that served the call (for its log lines), when one was reached. */
  instanceId?: string;
}

export interface BufferedInvokeOptions {
  /** A response body past this is cut off and the call fails with ERR_HANDLER_INVALID_RESPONSE. Default 6 MiB. */
  maxResponseBytes?: number;
  /**
   * Takes the body of a successful answer (status < 500) as it arrives instead of collecting it: the
   * response's `body` is then empty. A failed answer (runners answer a Lambda handler's error with 500) is
   * still collected whole.
   */
  onChunk?: (chunk: Buffer) => void;
  /** The call's root span, with tracing on. Default: `invoke {name}`, internal. */
  span?: BufferedSpan;
}

/** How a buffered call's root span is made (tracing.ts). */
export interface BufferedSpan {
  name: string;
  kind: CallKind;
  attributes?: TraceAttributes;
  /** A queued call: when it was queued (epoch ms), for its `queue wait` span. */
  queuedAtMs?: number;
}

const DEFAULT_MAX_RESPONSE_BYTES = 6 * 1024 * 1024;

/**
 * Invokes a function by its dispatcher key (its id; `id@version` for a version an alias pinned) with a whole
 * request; never throws for function failures (see `error`).
 */
export async function invokeBuffered(
  dispatcher: Dispatcher,
  name: string,
  request: BufferedRequest,
  options: BufferedInvokeOptions = {},
): Promise<BufferedResponse> {
  const entry = dispatcher.lookup(name);
  if (!entry) return failed(new NimbusError('ERR_FUNCTION_NOT_FOUND', [name]), 0);
  const startedAt = performance.now();
  const fn = entry.fn.name;
  let traceparent: string | undefined;
  let tracestate: string | undefined;
  for (const [k, v] of request.headers) {
    if (k === 'traceparent') traceparent = v;
    else if (k === 'tracestate') tracestate = tracestate === undefined ? v : `${tracestate},${v}`;
  }
  const tracing = dispatcher.tracing;
  const span = options.span;
  const trace = tracing?.startCall({
    name: span?.name ?? `invoke ${fn}`,
    kind: span?.kind ?? 'internal',
    fn,
    traceparent,
    tracestate,
    attributes: { 'faas.invoked_name': fn, ...span?.attributes },
    ...(span?.queuedAtMs === undefined ? {} : { queuedAtMs: span.queuedAtMs }),
  });
  const context = trace ?? passOn(traceparent, tracestate);
  let lease: Lease;
  try {
    lease = entry.pool.acquire();
  } catch (err) {
    const error = err as NimbusError;
    trace?.end(error.status, error);
    return failed(error, performance.now() - startedAt);
  }
  return new Promise<BufferedResponse>((resolve) => {
    const call = new BufferedCall(fn, lease, request, options, startedAt, resolve, context, trace);
    if (lease.granted) call.granted();
    else lease.wait(call);
  });
}

function failed(error: NimbusError, waitMs: number, instanceId?: string): BufferedResponse {
  const body = Buffer.from(JSON.stringify(error.toJSON()));
  const response: BufferedResponse = {
    status: error.status,
    headers: ['content-type', 'application/json'],
    body,
    error,
    waitMs,
  };
  if (instanceId !== undefined) response.instanceId = instanceId;
  return response;
}

/** One buffered call: writes the whole request, collects (or passes on) the answer. */
class BufferedCall implements StreamSink, LeaseWaiter {
  readonly #name: string;
  readonly #lease: Lease;
  readonly #request: BufferedRequest;
  readonly #maxResponseBytes: number;
  readonly #onChunk: ((chunk: Buffer) => void) | undefined;
  readonly #startedAt: number;
  readonly #resolve: (response: BufferedResponse) => void;
  /** The trace context the function gets. */
  readonly #context: { traceparent: string; tracestate: string | undefined };
  /** The call's spans, when tracing is on. */
  readonly #trace: CallTrace | undefined;
  #stream: InvokeStream | undefined;
  #status = 0;
  #headers: string[] = [];
  readonly #chunks: Buffer[] = [];
  #size = 0;
  /** The body goes to onChunk as it arrives. */
  #streaming = false;
  #done = false;

  constructor(
    name: string,
    lease: Lease,
    request: BufferedRequest,
    options: BufferedInvokeOptions,
    startedAt: number,
    resolve: (response: BufferedResponse) => void,
    context: { traceparent: string; tracestate: string | undefined },
    trace: CallTrace | undefined,
  ) {
    this.#name = name;
    this.#lease = lease;
    this.#request = request;
    this.#maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.#onChunk = options.onChunk;
    this.#startedAt = startedAt;
    this.#resolve = resolve;
    this.#context = context;
    this.#trace = trace;
  }

  granted(): void {
    const request = this.#request;
    let head = `${request.method}\0${request.path}`;
    for (const [k, v] of request.headers)
      if (k !== 'traceparent' && k !== 'tracestate') head += `\0${k}\0${v}`;
    const { traceparent, tracestate } = this.#context;
    head += `\0traceparent\0${traceparent}`;
    if (tracestate !== undefined) head += `\0tracestate\0${tracestate}`;
    const hasBody = request.body.length > 0;
    this.#stream = this.#lease.open(this, head, !hasBody, request.rawEvent === true);
    this.#trace?.opened(this.#lease);
    // The stream keeps what the function's window cannot take yet and sends it as credit comes.
    if (hasBody) this.#stream.end(request.body);
  }

  refused(error: NimbusError): void {
    this.#done = true;
    this.#trace?.end(error.status, error);
    this.#resolve(failed(error, performance.now() - this.#startedAt));
  }

  onDrain(): void {}

  onHead(status: number, headers: string[], end: boolean): void {
    this.#status = status;
    this.#headers = headers;
    this.#streaming = this.#onChunk !== undefined && status < 500;
    if (end) this.#finish();
  }

  onBody(chunk: Buffer, end: boolean): boolean {
    if (this.#done) return true;
    this.#size += chunk.length;
    if (this.#size > this.#maxResponseBytes) {
      this.#stream!.fail(
        new NimbusError('ERR_HANDLER_INVALID_RESPONSE', [
          this.#name,
          `the response is over ${this.#maxResponseBytes} bytes`,
        ]),
      );
      return true;
    }
    // The chunk is a view of the socket's read buffer: copied before it is kept or handed on.
    if (this.#streaming) {
      if (chunk.length > 0) this.#onChunk!(Buffer.from(chunk));
    } else {
      this.#chunks.push(Buffer.from(chunk));
    }
    if (end) this.#finish();
    return true;
  }

  onError(error: NimbusError): void {
    if (this.#done) return;
    this.#done = true;
    this.#trace?.end(error.status, error);
    this.#resolve(failed(error, this.#lease.waitMs, this.#lease.instanceId));
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    this.#trace?.end(this.#status);
    const response: BufferedResponse = {
      status: this.#status,
      headers: this.#headers,
      body: Buffer.concat(this.#chunks),
      waitMs: this.#lease.waitMs,
    };
    const instanceId = this.#lease.instanceId;
    if (instanceId !== undefined) response.instanceId = instanceId;
    this.#resolve(response);
  }
}
