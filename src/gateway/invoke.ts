// The invoke fast path: /function/{name}[/path][?query] → a lease on the function's pool → a stream to
// one instance, bodies streamed both ways with node:http's back-pressure tied to the stream's credit.
// Nothing here parses JSON or touches the store.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator } from '../auth/authenticate.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import type { Namespaces } from '../dispatch/namespaces.js';
import type { VersionRouter } from '../dispatch/versions.js';
import { NimbusError } from '../errors.js';
import type { InvokeStream, Lease, LeaseWaiter, StreamSink } from '../instances/lease.js';
import { CLIENT_CLOSED } from '../metrics/invocations.js';
import {
  asVersion00,
  isValidTraceparent,
  newTraceparent,
  parseTracestate,
} from '../observability/trace-context.js';
import { type CallTrace, startHttpTrace } from '../observability/tracing.js';
import { functionRoute, HOP_HEADERS, resolveFunction } from './function-route.js';
import { cutShort, sendError } from './respond.js';

export interface InvokeOptions {
  dispatcher: Dispatcher;
  bodyLimitBytes: number;
  debug: boolean;
  auth: Authenticator;
  namespaces: Namespaces;
  versions: VersionRouter;
}

/**
 * Response headers a function may not set: those of the hop (the gateway frames the body itself), and
 * those the gateway sets — its own win, once.
 */
const GATEWAY_RESPONSE_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'x-call-id',
  'x-start-time',
  'x-duration-seconds',
  'x-nimbus-wait-ms',
  'x-nimbus-cold-start',
  'x-nimbus-init-ms',
]);

/**
 * Request headers not passed on as they came: the hop's, and those the gateway sets itself (the call id,
 * the start time, and the trace context: the caller's, or with tracing on this call's span as parent).
 */
const REPLACED_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  ...HOP_HEADERS,
  'x-call-id',
  'x-start-time',
  'traceparent',
  'tracestate',
]);

/** A body this small goes out with the head in one write, as a latin1 string (a Buffer would cost a writev). */
const SMALL_BODY_BYTES = 16 * 1024;

export type InvokeHandler = (req: IncomingMessage, res: ServerResponse, prefixLength: number) => void;

export function createInvokeHandler(options: InvokeOptions, prefix: string): InvokeHandler {
  const { bodyLimitBytes, debug } = options;
  const tracing = options.dispatcher.tracing;

  return function invoke(req, res, prefixLength) {
    const { name, target } = functionRoute(req.url!, prefixLength);
    const resolved = resolveFunction(options, name, req, target);
    if (resolved instanceof NimbusError) {
      refuse(req, res, resolved, debug);
      return;
    }
    const { entry } = resolved;
    const trace = tracing === undefined ? undefined : startHttpTrace(tracing, req, prefix, entry.fn.name);
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > bodyLimitBytes) {
      refuse(req, res, bodyTooLarge(bodyLimitBytes), debug, trace);
      return;
    }
    let lease: Lease;
    try {
      lease = entry.pool.acquire();
    } catch (err) {
      refuse(req, res, err, debug, trace);
      return;
    }
    const call = new HttpCall(
      req,
      res,
      lease,
      resolved.target ?? target,
      entry.fn.name,
      resolved.consumedAuthorization,
      options,
      trace,
    );
    if (lease.granted) {
      call.granted();
    } else {
      req.pause();
      lease.wait(call);
    }
  };
}

/** A body past the limit: the connection ends with the answer, the rest is not read (it may never end). */
function bodyTooLarge(limitBytes: number): NimbusError {
  return new NimbusError('ERR_REQUEST_BODY_TOO_LARGE', [limitBytes], { headers: { connection: 'close' } });
}

function refuse(
  req: IncomingMessage,
  res: ServerResponse,
  err: unknown,
  debug: boolean,
  trace?: CallTrace,
): void {
  req.resume();
  sendError(res, err, debug);
  if (trace) {
    const error = err instanceof NimbusError ? err : undefined;
    trace.end(res.statusCode, error);
  }
}

const kCall = Symbol('nimbus.call');
type Tagged = ServerResponse & { [kCall]?: HttpCall | undefined };

/** A 'close' before the response ended: the client went away. One listener for every response. */
function onResponseClose(this: Tagged): void {
  this[kCall]?.clientClosed();
}

/** One request in flight: the client's request and response, bridged to one lease and its stream. */
class HttpCall implements StreamSink, LeaseWaiter {
  readonly #req: IncomingMessage;
  readonly #res: Tagged;
  readonly #lease: Lease;
  readonly #target: string;
  readonly #name: string;
  /** The Authorization header was a Nimbus credential: it is not passed on. */
  readonly #dropAuthorization: boolean;
  readonly #options: InvokeOptions;
  /** The call's spans, when tracing is on. */
  readonly #trace: CallTrace | undefined;
  #stream: InvokeStream | undefined;
  readonly #callId = randomUUID();
  /** When the gateway took the request (the base of X-Duration-Seconds), and as OpenFaaS's X-Start-Time (ns). */
  readonly #startedAt = Date.now();
  readonly #startTime = `${this.#startedAt}000000`;
  #done = false;
  #received = 0;
  #status = 0;
  /** The response head, held until the first body frame. */
  #headers: string[] | undefined;

  constructor(
    req: IncomingMessage,
    res: ServerResponse,
    lease: Lease,
    target: string,
    name: string,
    dropAuthorization: boolean,
    options: InvokeOptions,
    trace: CallTrace | undefined,
  ) {
    this.#req = req;
    this.#res = res;
    this.#lease = lease;
    this.#target = target;
    this.#name = name;
    this.#dropAuthorization = dropAuthorization;
    this.#options = options;
    this.#trace = trace;
    trace?.setAttribute('nimbus.call_id', this.#callId);
    this.#res[kCall] = this;
    res.on('close', onResponseClose);
  }

  /** The lease has a slot: open the stream. */
  granted(): void {
    if (this.#done) return;
    const req = this.#req;
    const hasBody =
      req.headers['content-length'] !== undefined
        ? req.headers['content-length'] !== '0'
        : req.headers['transfer-encoding'] !== undefined;
    const stream = this.#lease.open(this, this.#head(), !hasBody);
    this.#stream = stream;
    this.#trace?.opened(this.#lease);
    if (!hasBody) return;
    req.on('data', (chunk: Buffer) => this.#onRequestData(chunk));
    req.on('end', () => stream.end());
    req.resume();
  }

  refused(error: NimbusError): void {
    this.#fail(error);
  }

  /**
   * The head the function sees: method, target, the client's headers but the hop's, the gateway's. Its
   * `traceparent`: this call's span with tracing on; else the client's when valid, or a new trace.
   */
  #head(): string {
    const req = this.#req;
    const raw = req.rawHeaders;
    let head = `${req.method}\0${this.#target}`;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      if (REPLACED_REQUEST_HEADERS.has(name)) continue;
      if (this.#dropAuthorization && name === 'authorization') continue;
      head += `\0${name}\0${raw[i + 1]}`;
    }
    let traceparent: string;
    let tracestate: string | undefined;
    const trace = this.#trace;
    if (trace !== undefined) {
      traceparent = trace.traceparent;
      tracestate = trace.tracestate;
    } else {
      const incoming = req.headers.traceparent;
      if (isValidTraceparent(incoming)) {
        traceparent = asVersion00(incoming);
        tracestate = parseTracestate(req.headers.tracestate);
      } else {
        traceparent = newTraceparent();
      }
    }
    head += `\0x-call-id\0${this.#callId}\0x-start-time\0${this.#startTime}\0traceparent\0${traceparent}`;
    return tracestate === undefined ? head : `${head}\0tracestate\0${tracestate}`;
  }

  #onRequestData(chunk: Buffer): void {
    if (this.#done) return;
    this.#received += chunk.length;
    if (this.#received > this.#options.bodyLimitBytes) {
      this.#stream!.fail(bodyTooLarge(this.#options.bodyLimitBytes));
      return;
    }
    if (!this.#stream!.write(chunk)) this.#req.pause();
  }

  onDrain(): void {
    if (!this.#done) this.#req.resume();
  }

  onHead(status: number, headers: string[], end: boolean): void {
    const out: string[] = [];
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (!GATEWAY_RESPONSE_HEADERS.has(name)) out.push(name, headers[i + 1]!);
    }
    out.push(
      'x-call-id',
      this.#callId,
      'x-start-time',
      this.#startTime,
      'x-duration-seconds',
      ((Date.now() - this.#startedAt) / 1000).toFixed(3),
    );
    const lease = this.#lease;
    if (lease.waitMs !== 0) out.push('x-nimbus-wait-ms', lease.waitMs.toFixed(1));
    if (lease.cold) out.push('x-nimbus-cold-start', '1', 'x-nimbus-init-ms', lease.initMs.toFixed(1));
    this.#status = status;
    this.#headers = out;
    // The head waits for the first body frame: a body that comes whole goes out with a Content-Length
    // in one write instead of chunked.
    if (end && this.#writeHead(0)) this.#end();
  }

  onBody(chunk: Buffer, end: boolean): boolean {
    const res = this.#res;
    if (this.#headers !== undefined) {
      // A body that came whole goes out with its Content-Length (writeHead stores the head at once: without
      // the length it would be chunked, which costs a longer head, a terminator and a writev).
      if (!this.#writeHead(end ? chunk.length : -1)) return true;
      if (end) {
        this.#done = true;
        this.#finishRequest();
        this.#trace?.end(this.#status);
        if (chunk.length <= SMALL_BODY_BYTES) res.end(chunk.toString('latin1'), 'latin1');
        else res.end(chunk);
        return true;
      }
    }
    const written = chunk.length === 0 || res.write(chunk);
    if (end) {
      this.#end();
      return true;
    }
    if (!written) res.once('drain', () => this.#stream?.resume());
    return written;
  }

  /**
   * Sends the held head, with a Content-Length when `length` is not negative; false (and the call failed)
   * when the function's head cannot be sent.
   */
  #writeHead(length = -1): boolean {
    const headers = this.#headers!;
    this.#headers = undefined;
    // Not for answers that never have a body (Node leaves the body out for them and for HEAD itself).
    const status = this.#status;
    if (length >= 0 && status >= 200 && status !== 204 && status !== 304 && this.#req.method !== 'HEAD') {
      headers.push('content-length', String(length));
    }
    try {
      this.#res.writeHead(this.#status, headers);
      return true;
    } catch (err) {
      // writeHead kept the status line it set before the headers failed: the error answer has its own.
      this.#res.statusMessage = '';
      this.#stream!.fail(
        new NimbusError('ERR_HANDLER_INVALID_RESPONSE', [this.#name, (err as Error).message]),
      );
      return false;
    }
  }

  onError(error: NimbusError, stack?: string): void {
    if (this.#done) return;
    if (this.#res.headersSent) {
      // The status is out already: all that is left is to cut the body short (no clean end first), after
      // what this turn wrote (the error can come in the same read as the head and the last bytes).
      this.#done = true;
      this.#trace?.end(error.status, error);
      cutShort(this.#res, error);
      return;
    }
    this.#fail(error, stack);
  }

  /** Answers with an error (before any of the function's response was sent). */
  #fail(error: NimbusError, stack?: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#finishRequest();
    this.#trace?.end(error.status, error);
    sendError(this.#res, error, this.#options.debug, stack, { 'x-call-id': this.#callId });
  }

  #end(): void {
    this.#done = true;
    this.#finishRequest();
    this.#trace?.end(this.#status);
    if (!this.#res.writableEnded) this.#res.end();
  }

  /** The answer is decided: what the client still sends is read and dropped. */
  #finishRequest(): void {
    const req = this.#req;
    if (!req.complete) req.resume();
  }

  clientClosed(): void {
    this.#res[kCall] = undefined;
    if (this.#done) return;
    this.#done = true;
    this.#trace?.end(CLIENT_CLOSED);
    // Whether waiting, open or already answered by the function: the lease sorts it out.
    this.#lease.cancel();
  }
}
