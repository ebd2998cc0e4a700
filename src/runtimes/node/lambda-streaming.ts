// Lambda response streaming in the Node runner: the `awslambda` global that Lambda's Node.js runtime
// installs (`streamifyResponse`, `HttpResponseStream.from`), so a streaming handler moves over unchanged.
// What it writes goes out as it is written. Over HTTP the status and headers come from
// `HttpResponseStream.from` (default 200); for a raw Invoke the body is the payload as written.
import { Writable } from 'node:stream';

const STREAMING = Symbol.for('nimbus.lambda.streaming');

export interface HttpMetadata {
  statusCode?: number;
  headers?: Record<string, unknown>;
  cookies?: unknown[];
}

/** Where a response stream's head and bytes go (the instance protocol, for one request). */
export interface ResponseSink {
  head(status: number, headers: string[], end: boolean): void;
  /** False when the gateway's window is spent: the next write waits for `writable()`. */
  body(chunk: Uint8Array, end: boolean): boolean;
  writable(): Promise<void>;
}

/** The `responseStream` a streaming handler gets: a Writable, as in Lambda. */
export class ResponseStream extends Writable {
  private contentType = 'application/octet-stream';
  private metadata: HttpMetadata | undefined;
  /** The head went out (with the first byte, or at the end of an empty body). */
  headSent = false;

  constructor(private readonly sink: ResponseSink) {
    super();
  }

  setContentType(type: string): void {
    this.contentType = String(type);
  }

  /** What `HttpResponseStream.from` attaches: the HTTP status, headers and cookies. */
  setHttpMetadata(metadata: HttpMetadata): void {
    this.metadata = metadata;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.sendHead(false);
    // Back-pressure: the callback waits for the gateway's credit, so the handler's write() returns false.
    if (chunk.length === 0 || this.sink.body(chunk, false)) callback();
    else void this.sink.writable().then(() => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.headSent) this.sink.body(new Uint8Array(0), true);
    else this.sendHead(true);
    callback();
  }

  private sendHead(end: boolean): void {
    if (this.headSent) return;
    this.headSent = true;
    const m = this.metadata ?? {};
    const headers: string[] = [];
    let contentType = this.contentType;
    for (const [name, value] of Object.entries(m.headers ?? {})) {
      if (value === undefined || value === null) continue;
      if (name.toLowerCase() === 'content-type') contentType = String(value);
      else headers.push(name.toLowerCase(), String(value));
    }
    headers.push('content-type', contentType);
    for (const cookie of m.cookies ?? []) headers.push('set-cookie', String(cookie));
    this.sink.head(typeof m.statusCode === 'number' ? m.statusCode : 200, headers, end);
  }
}

/** Whether a handler was wrapped in `awslambda.streamifyResponse`. */
export function isStreamingHandler(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as unknown as Record<symbol, unknown>)[STREAMING] === true;
}

const awslambda = {
  streamifyResponse<T extends (...args: never[]) => unknown>(handler: T): T {
    (handler as unknown as Record<symbol, unknown>)[STREAMING] = true;
    return handler;
  },
  HttpResponseStream: {
    from(stream: ResponseStream, metadata: HttpMetadata): ResponseStream {
      stream.setHttpMetadata(metadata);
      return stream;
    },
  },
};

/** Installs the global before any function loads, as Lambda's runtime does. */
export function installAwsLambdaGlobal(): void {
  const g = globalThis as { awslambda?: unknown };
  g.awslambda ??= awslambda;
}
