// Buffered invocation through the same pools and leases as the HTTP fast path: for callers that hold the
// whole request and want the whole response (async workers, cron, compat APIs).
import { NimbusError } from '../errors.js';
import type { InvokeStream, Lease, LeaseWaiter, StreamSink } from '../instances/lease.js';
import type { Dispatcher } from './dispatcher.js';

export interface BufferedRequest {
  method: string;
  /** Path suffix with query, as the function sees it: `/`, `/a/b?x=1`. */
  path: string;
  /** Header pairs, names lower-case. */
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
  let lease: Lease;
  try {
    lease = entry.pool.acquire();
  } catch (err) {
    return failed(err as NimbusError, performance.now() - startedAt);
  }
  return new Promise<BufferedResponse>((resolve) => {
    const call = new BufferedCall(entry.fn.name, lease, request, options, startedAt, resolve);
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
  ) {
    this.#name = name;
    this.#lease = lease;
    this.#request = request;
    this.#maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.#onChunk = options.onChunk;
    this.#startedAt = startedAt;
    this.#resolve = resolve;
  }

  granted(): void {
    const request = this.#request;
    let head = `${request.method}\0${request.path}`;
    for (const [k, v] of request.headers) head += `\0${k}\0${v}`;
    const hasBody = request.body.length > 0;
    this.#stream = this.#lease.open(this, head, !hasBody, request.rawEvent === true);
    // The stream keeps what the function's window cannot take yet and sends it as credit comes.
    if (hasBody) this.#stream.end(request.body);
  }

  refused(error: NimbusError): void {
    this.#done = true;
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
    this.#resolve(failed(error, this.#lease.waitMs, this.#lease.instanceId));
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
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
