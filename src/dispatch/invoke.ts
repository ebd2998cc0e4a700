// Buffered invocation through the same pools as the HTTP fast path: for callers that hold the whole
// request and want the whole response (async workers, cron, compat APIs).

import { NimbusError } from '../errors.js';
import type { Exchange, Instance } from '../instances/instance.js';
import type { AcquireTicket } from '../instances/pool.js';
import { FLAG_RAW_EVENT } from '../instances/protocol.js';
import type { Dispatcher, FunctionEntry } from './dispatcher.js';

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
  const started = performance.now();
  const ticket: AcquireTicket = { cold: false, initMs: 0 };
  let instance: Instance;
  try {
    const acquired = entry.pool.acquire(ticket);
    instance = acquired instanceof Promise ? await acquired : acquired;
  } catch (err) {
    const error = err as NimbusError;
    const waitedMs = performance.now() - started;
    dispatcher.count(entry, error.status, waitedMs / 1000, false);
    return failed(error, waitedMs);
  }
  const waitMs = performance.now() - started;
  return new Promise<BufferedResponse>((resolve) => {
    new BufferedExchange(
      dispatcher,
      entry,
      instance,
      request,
      { maxResponseBytes: options.maxResponseBytes ?? 6 * 1024 * 1024, onChunk: options.onChunk },
      { startedAt: started, waitMs, cold: ticket.cold },
      resolve,
    );
  });
}

function failed(error: NimbusError, waitMs: number): BufferedResponse {
  const body = Buffer.from(JSON.stringify(error.toJSON()));
  return { status: error.status, headers: ['content-type', 'application/json'], body, error, waitMs };
}

class BufferedExchange implements Exchange {
  private status = 0;
  private headers: string[] = [];
  private readonly chunks: Buffer[] = [];
  private size = 0;
  private done = false;
  /** The body goes to `onChunk` as it arrives. */
  private streaming = false;
  private readonly timer: NodeJS.Timeout;
  private readonly streamId: number;

  constructor(
    private readonly dispatcher: Dispatcher,
    private readonly entry: FunctionEntry,
    private readonly instance: Instance,
    request: BufferedRequest,
    private readonly body: { maxResponseBytes: number; onChunk: ((chunk: Buffer) => void) | undefined },
    private readonly start: { startedAt: number; waitMs: number; cold: boolean },
    private readonly resolve: (r: BufferedResponse) => void,
  ) {
    let head = `${request.method}\0${request.path}`;
    for (const [k, v] of request.headers) head += `\0${k}\0${v}`;
    const hasBody = request.body.length > 0;
    this.streamId = instance.open(this, head, !hasBody, request.rawEvent ? FLAG_RAW_EVENT : 0);
    if (hasBody) instance.body(this.streamId, request.body, true);
    const timeoutMs = entry.fn.spec.timeoutMs;
    this.timer = setTimeout(() => {
      this.onError(new NimbusError('ERR_HANDLER_TIMEOUT', [entry.fn.name, timeoutMs]));
      instance.kill(`a request on it ran past timeoutMs (${timeoutMs} ms)`);
    }, timeoutMs);
  }

  onHead(status: number, headers: string[], end: boolean): void {
    this.status = status;
    this.headers = headers;
    this.streaming = this.body.onChunk !== undefined && status < 500;
    if (end) this.finish();
  }

  onBody(chunk: Buffer, end: boolean): void {
    if (this.done) return;
    this.size += chunk.length;
    if (this.size > this.body.maxResponseBytes) {
      this.instance.cancel(this.streamId);
      this.onError(
        new NimbusError('ERR_HANDLER_INVALID_RESPONSE', [
          this.entry.fn.name,
          `the response is over ${this.body.maxResponseBytes} bytes`,
        ]),
      );
      return;
    }
    if (this.streaming) {
      if (chunk.length > 0) this.body.onChunk!(Buffer.from(chunk));
    } else {
      this.chunks.push(Buffer.from(chunk));
    }
    if (end) this.finish();
  }

  onError(error: NimbusError): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.count(error.status);
    this.resolve({ ...failed(error, this.start.waitMs), instanceId: this.instance.id });
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.count(this.status);
    this.resolve({
      status: this.status,
      headers: this.headers,
      body: Buffer.concat(this.chunks),
      waitMs: this.start.waitMs,
      instanceId: this.instance.id,
    });
  }

  private count(status: number): void {
    const seconds = (performance.now() - this.start.startedAt) / 1000;
    this.dispatcher.count(this.entry, status, seconds, this.start.cold);
  }
}
