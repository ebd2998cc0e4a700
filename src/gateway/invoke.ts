// The invoke fast path: /function/{name}[/path][?query] → pool → instance, bodies streamed both ways.
// Nothing here parses JSON or touches the store.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Authenticator } from '../auth/authenticate.js';
import type { Dispatcher, FunctionEntry } from '../dispatch/dispatcher.js';
import type { Namespaces } from '../dispatch/namespaces.js';
import type { VersionRouter } from '../dispatch/versions.js';
import { NimbusError } from '../errors.js';
import type { Exchange, Instance } from '../instances/instance.js';
import type { AcquireTicket } from '../instances/pool.js';
import { CLIENT_CLOSED } from '../metrics/invocations.js';
import { functionRoute, HOP_HEADERS, resolveFunction } from './function-route.js';
import { sendError } from './respond.js';

export interface InvokeOptions {
  dispatcher: Dispatcher;
  bodyLimitBytes: number;
  debug: boolean;
  auth: Authenticator;
  namespaces: Namespaces;
  versions: VersionRouter;
}

/** Response headers the gateway sets itself. */
const HOP_RESPONSE_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length']);

export type InvokeHandler = (req: IncomingMessage, res: ServerResponse, prefixLength: number) => void;

export function createInvokeHandler(options: InvokeOptions): InvokeHandler {
  const { bodyLimitBytes, debug } = options;

  return function invoke(req, res, prefixLength) {
    const { name, target } = functionRoute(req.url!, prefixLength);
    const resolved = resolveFunction(options, name, req, target);
    if (resolved instanceof NimbusError) {
      drainAndFail(req, res, resolved);
      return;
    }
    const { entry } = resolved;
    const declared = req.headers['content-length'];
    if (declared !== undefined && Number(declared) > bodyLimitBytes) {
      drainAndFail(req, res, new NimbusError('ERR_REQUEST_BODY_TOO_LARGE', [bodyLimitBytes]));
      return;
    }
    const exchange = new InvokeExchange(
      req,
      res,
      entry,
      resolved.target ?? target,
      resolved.consumedAuthorization,
      options,
    );
    let acquired: Instance | Promise<Instance>;
    try {
      acquired = entry.pool.acquire(exchange);
    } catch (err) {
      exchange.fail(err as NimbusError);
      return;
    }
    if (acquired instanceof Promise) {
      exchange.waitStart = performance.now();
      req.pause();
      acquired.then(
        (instance) => exchange.run(instance),
        (err: NimbusError) => exchange.fail(err),
      );
    } else {
      exchange.run(acquired);
    }
  };

  function drainAndFail(req: IncomingMessage, res: ServerResponse, err: NimbusError): void {
    req.resume();
    sendError(res, err, debug);
  }
}

/** One request in flight: bridges the client's request and response to one instance stream. */
class InvokeExchange implements Exchange, AcquireTicket {
  cold = false;
  initMs = 0;
  private instance: Instance | undefined;
  private streamId = 0;
  private done = false;
  private timer: NodeJS.Timeout | undefined;
  private received = 0;
  private readonly callId = randomUUID();
  /** OpenFaaS's X-Start-Time (when the gateway took the request) and the base of X-Duration-Seconds. */
  private readonly startedAt = Date.now();
  private readonly startedAtMs = performance.now();
  private status = 0;
  /** The response head, held until the first body frame. */
  private headers: string[] | undefined;
  /** Set when the request waited for a slot (performance.now() at the start of the wait, and when it got one). */
  waitStart = 0;
  private runStart = 0;

  constructor(
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly entry: FunctionEntry,
    private readonly target: string,
    /** The Authorization header was a Nimbus credential: it is not passed on. */
    private readonly dropAuthorization: boolean,
    private readonly options: InvokeOptions,
  ) {
    res.once('close', () => this.onClientClose());
  }

  run(instance: Instance): void {
    if (this.done) {
      instance.release();
      return;
    }
    this.instance = instance;
    if (this.waitStart !== 0) this.runStart = performance.now();
    const { req } = this;
    const raw = req.rawHeaders;
    let head = `${req.method}\0${this.target}`;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toLowerCase();
      if (HOP_HEADERS.has(name) || (this.dropAuthorization && name === 'authorization')) continue;
      head += `\0${name}\0${raw[i + 1]}`;
    }
    head += `\0x-call-id\0${this.callId}\0x-start-time\0${this.startedAt}000000`;
    const hasBody =
      req.headers['content-length'] !== undefined
        ? req.headers['content-length'] !== '0'
        : req.headers['transfer-encoding'] !== undefined;
    this.streamId = instance.open(this, head, !hasBody);
    const timeoutMs = this.entry.fn.spec.timeoutMs;
    this.timer = setTimeout(() => this.onTimeout(timeoutMs), timeoutMs);
    if (hasBody) {
      req.on('data', (chunk: Buffer) => this.onRequestData(chunk));
      req.on('end', () => {
        if (!this.done) instance.body(this.streamId, EMPTY, true);
      });
      req.resume();
    }
  }

  private onRequestData(chunk: Buffer): void {
    if (this.done) return;
    this.received += chunk.length;
    if (this.received > this.options.bodyLimitBytes) {
      this.instance!.cancel(this.streamId);
      this.fail(new NimbusError('ERR_REQUEST_BODY_TOO_LARGE', [this.options.bodyLimitBytes]));
      return;
    }
    this.instance!.body(this.streamId, chunk, false);
  }

  onHead(status: number, headers: string[], end: boolean): void {
    if (this.done) return;
    const out: string[] = [];
    for (let i = 0; i < headers.length; i += 2) {
      if (!HOP_RESPONSE_HEADERS.has(headers[i]!)) out.push(headers[i]!, headers[i + 1]!);
    }
    out.push(
      'x-call-id',
      this.callId,
      'x-start-time',
      `${this.startedAt}000000`,
      'x-duration-seconds',
      ((Date.now() - this.startedAt) / 1000).toFixed(3),
    );
    if (this.waitStart !== 0) out.push('x-nimbus-wait-ms', (this.runStart - this.waitStart).toFixed(1));
    if (this.cold) out.push('x-nimbus-cold-start', '1', 'x-nimbus-init-ms', this.initMs.toFixed(1));
    // The head waits for the first body frame: a body that comes whole goes out with a Content-Length
    // in one write instead of chunked.
    this.status = status;
    this.headers = out;
    if (end && this.writeHead()) this.finish(status);
  }

  onBody(chunk: Buffer, end: boolean): void {
    if (this.done) return;
    if (this.headers) {
      if (!this.writeHead()) return;
      if (end) {
        this.finish(this.status, false);
        // A small body as a latin1 string joins the head in one write() (a Buffer would cost a writev).
        if (chunk.length <= SMALL_BODY_BYTES) this.res.end(chunk.toString('latin1'), 'latin1');
        else this.res.end(chunk);
        return;
      }
    }
    if (chunk.length > 0) this.res.write(chunk);
    if (end) this.finish(this.status);
  }

  /** Sends the held head; false (and the request failed) when the function's headers are invalid. */
  private writeHead(): boolean {
    const headers = this.headers!;
    this.headers = undefined;
    try {
      this.res.writeHead(this.status, headers);
      return true;
    } catch (err) {
      this.onError(
        new NimbusError('ERR_HANDLER_INVALID_RESPONSE', [this.entry.fn.name, (err as Error).message]),
      );
      return false;
    }
  }

  onError(error: NimbusError, stack?: string): void {
    if (this.done) return;
    if (this.res.headersSent) {
      // The status is out already: all that is left is to cut the body short (no clean end first).
      this.finish(error.status, false);
      this.res.destroy(error);
      return;
    }
    this.fail(error, stack);
  }

  /** Answers with an error (before any of the function's response was sent). */
  fail(error: NimbusError, stack?: string): void {
    if (this.done) return;
    this.finish(error.status, false);
    this.req.resume();
    sendError(this.res, error, this.options.debug, stack, { 'x-call-id': this.callId });
  }

  private finish(status: number, end = true): void {
    this.done = true;
    clearTimeout(this.timer);
    this.options.dispatcher.count(this.entry, status, this.elapsedSeconds(), this.cold);
    if (end && !this.res.writableEnded) this.res.end();
  }

  private onTimeout(timeoutMs: number): void {
    if (this.done) return;
    const instance = this.instance!;
    const name = this.entry.fn.name;
    this.onError(new NimbusError('ERR_HANDLER_TIMEOUT', [name, timeoutMs]));
    // A handler past its deadline may be stuck in a loop: the instance is stopped and replaced.
    instance.kill(`a request on it ran past timeoutMs (${timeoutMs} ms)`);
  }

  private onClientClose(): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.timer);
    this.options.dispatcher.count(this.entry, CLIENT_CLOSED, this.elapsedSeconds(), this.cold);
    if (this.instance) this.instance.cancel(this.streamId);
  }

  private elapsedSeconds(): number {
    return (performance.now() - this.startedAtMs) / 1000;
  }
}

const EMPTY = new Uint8Array(0);
const SMALL_BODY_BYTES = 16 * 1024;
