// What every runner process does with the gateway's connection, whatever it runs: connect to the socket
// Nimbus names in NIMBUS_SOCKET, say HELLO, exit when the gateway goes away, load a function once per
// process (never replaced: OpenWhisk CVE-2018-11757), and keep each request's stream with its credit both
// ways (docs/instance-protocol.md). Bundled into each runner.
import { connect } from 'node:net';
import {
  encodeFields,
  FLAG_END,
  FLAG_RAW_EVENT,
  FrameDecoder,
  FrameType,
  FrameWriter,
  PROTOCOL_VERSION,
  STREAM_WINDOW_BYTES,
  WINDOW_UPDATE_BYTES,
} from '../instances/protocol.js';
import { forwardGatewayPort } from './gateway-forward.js';

export interface RunnerHandlers<Load> {
  /** Loads the function; resolves with the style LOADED reports. Called at most once per process. */
  load(message: Load): Promise<string>;
  /** A request arrived (its body may follow): answer on the stream, never throw. */
  request(stream: RunnerStream): void;
  /** After HELLO is out, while a stem cell waits: load what the first request would otherwise pay for. */
  connected?(): void;
}

const EMPTY = new Uint8Array(0);

/** Takes request body chunks (null at the end); false: backed up, the credit is held until resumeBody(). */
// biome-ignore lint/suspicious/noConfusingVoidType: a sink written as a plain statement body returns nothing.
export type BodySink = (chunk: Buffer | null) => boolean | void;

/**
 * One request in a runner: its head, its body as it arrives (credit goes back to the gateway as the
 * handler consumes it), and its answer (sent as the gateway grants credit; writes wait past the window).
 */
export class RunnerStream {
  readonly id: number;
  /** method, path?query, name, value, ... (names lower-case). */
  readonly fields: string[];
  /** The body is a raw Lambda event (FLAG_RAW_EVENT: the Invoke API), not an HTTP request. */
  readonly raw: boolean;
  /** Called once when the gateway cancels the stream (caller gone, deadline passed). */
  onCancel: () => void = () => {};
  readonly #writer: FrameWriter;
  readonly #closed: (stream: RunnerStream) => void;
  #open = true;
  #headSent = false;
  // The request body.
  /** Body that arrived before anyone read it (made when the first such chunk comes). */
  #chunks: Buffer[] | undefined;
  #bodyEnded: boolean;
  #sink: BodySink | undefined;
  /** Consumed request body not yet granted back; a sink that returned false holds it. */
  #unacked = 0;
  #holding = false;
  /** The sink reports consumption itself (bodyStream: when the handler reads). */
  #selfReported = false;
  // The response body.
  #credit = STREAM_WINDOW_BYTES;
  /** Response body waiting for credit, and writers waiting for it to go (made when first needed). */
  #queue: Uint8Array[] | undefined;
  #endQueued = false;
  #drained: (() => void)[] | undefined;

  constructor(
    id: number,
    fields: string[],
    flags: number,
    writer: FrameWriter,
    closed: (stream: RunnerStream) => void,
  ) {
    this.id = id;
    this.fields = fields;
    this.raw = (flags & FLAG_RAW_EVENT) !== 0;
    this.#bodyEnded = (flags & FLAG_END) !== 0;
    this.#writer = writer;
    this.#closed = closed;
  }

  get method(): string {
    return this.fields[0]!;
  }

  /** The request target: path and query. */
  get target(): string {
    return this.fields[1]!;
  }

  /** Until the response ended, failed or was cancelled. */
  get open(): boolean {
    return this.#open;
  }

  get headSent(): boolean {
    return this.#headSent;
  }

  /** The request came without a body (or its body has arrived whole and was read). */
  get bodyless(): boolean {
    return this.#bodyEnded && this.#chunks === undefined && this.#sink === undefined;
  }

  /** The first value of a header (name lower-case). */
  header(name: string): string | undefined {
    for (let i = 2; i < this.fields.length; i += 2) if (this.fields[i] === name) return this.fields[i + 1];
    return undefined;
  }

  // ---- the request body ------------------------------------------------------------------------------

  /**
   * Streams the body: what arrived so far, then each chunk as it comes, then null at the end. A sink that
   * returns false is backed up: no credit goes back to the gateway until `resumeBody()`.
   */
  readBody(sink: BodySink): void {
    const chunks = this.#chunks;
    this.#chunks = undefined;
    this.#sink = sink;
    if (chunks) for (const chunk of chunks) this.#deliver(chunk);
    if (this.#bodyEnded) this.#endBody();
  }

  /** Gives back the credit a backed-up sink held. */
  resumeBody(): void {
    if (!this.#holding) return;
    this.#holding = false;
    this.#grant();
  }

  /** The whole body, once it has arrived (credit goes back as it comes: the bytes are held here). */
  wholeBody(): Promise<Buffer> {
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      this.readBody((chunk) => {
        if (chunk) chunks.push(chunk);
        else resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
        return true;
      });
    });
  }

  /** The body as a web stream: credit goes back as the handler reads it. */
  bodyStream(): ReadableStream<Uint8Array> {
    const ready: Buffer[] = [];
    let ended = false;
    let waiting: ReadableStreamDefaultController<Uint8Array> | undefined;
    const give = (controller: ReadableStreamDefaultController<Uint8Array>): void => {
      const chunk = ready.shift();
      if (chunk) {
        controller.enqueue(chunk);
        this.#consumed(chunk.length);
      } else if (ended) controller.close();
      else waiting = controller;
    };
    this.#selfReported = true;
    this.readBody((chunk) => {
      if (chunk) ready.push(chunk);
      else ended = true;
      if (waiting) {
        const controller = waiting;
        waiting = undefined;
        give(controller);
      }
      return undefined;
    });
    return new ReadableStream<Uint8Array>({ pull: give }, { highWaterMark: 0 });
  }

  /** From the gateway: body bytes (copied: the frame belongs to the socket's read buffer). */
  pushBody(payload: Buffer, end: boolean): void {
    if (payload.length > 0) {
      const chunk = Buffer.from(payload);
      if (this.#sink) this.#deliver(chunk);
      else if (this.#chunks) this.#chunks.push(chunk);
      else this.#chunks = [chunk];
    }
    if (end) {
      this.#bodyEnded = true;
      if (this.#sink) this.#endBody();
    }
  }

  #deliver(chunk: Buffer): void {
    const taken = this.#sink!(chunk);
    if (this.#selfReported) return;
    // The sink has the bytes either way; backed up, it holds their credit until resumeBody().
    if (taken === false) this.#holding = true;
    this.#consumed(chunk.length);
  }

  #endBody(): void {
    const sink = this.#sink!;
    this.#sink = undefined;
    sink(null);
  }

  #consumed(bytes: number): void {
    this.#unacked += bytes;
    if (!this.#holding && this.#unacked >= WINDOW_UPDATE_BYTES) this.#grant();
  }

  #grant(): void {
    if (this.#unacked === 0 || !this.#open || this.#bodyEnded) {
      this.#unacked = 0;
      return;
    }
    this.#writer.window(this.id, this.#unacked);
    this.#unacked = 0;
  }

  // ---- the response ----------------------------------------------------------------------------------

  /** Sends the response head: `head` is status, name, value, ... */
  respondHead(head: readonly string[], end: boolean): void {
    if (!this.#open || this.#headSent) return;
    this.#headSent = true;
    this.#writer.text(FrameType.RESPONSE, end ? FLAG_END : 0, this.id, encodeFields(head));
    if (end) this.#finish();
  }

  /** Sends the response head: status and flat header pairs. */
  respond(status: number, headers: readonly string[], end: boolean): void {
    this.respondHead([String(status), ...headers], end);
  }

  /**
   * Sends response body bytes (after the head), ending the response with them when `end`. False when the
   * gateway's window is spent: the rest waits here; `writable()` resolves once more may be written.
   */
  write(chunk: Uint8Array, end = false): boolean {
    if (!this.#open || this.#endQueued) return false;
    if (this.#queue === undefined && chunk.length <= this.#credit) {
      this.#credit -= chunk.length;
      if (chunk.length > 0 || end) {
        this.#writer.bytes(FrameType.RESPONSE_BODY, end ? FLAG_END : 0, this.id, chunk);
      }
      if (end) this.#finish();
      return this.#credit > 0;
    }
    this.#queue ??= [];
    if (chunk.length > 0) this.#queue.push(chunk);
    if (end) this.#endQueued = true;
    this.#sendQueued();
    return false;
  }

  end(): void {
    this.write(EMPTY, true);
  }

  /** Resolves once the gateway grants credit again, or the stream is over (check `open`). */
  writable(): Promise<void> {
    if (!this.#open || (this.#queue === undefined && this.#credit > 0)) return Promise.resolve();
    return new Promise((resolve) => {
      this.#drained ??= [];
      this.#drained.push(resolve);
    });
  }

  /** From the gateway: `bytes` more of response body may go. */
  grant(bytes: number): void {
    this.#credit += bytes;
    this.#sendQueued();
  }

  #sendQueued(): void {
    const queue = this.#queue;
    if (queue === undefined) {
      if (this.#credit > 0) this.#wake();
      return;
    }
    while (queue.length > 0 && this.#credit > 0 && this.#open) {
      const chunk = queue[0]!;
      if (chunk.length > this.#credit) {
        const fits = this.#credit;
        this.#writer.bytes(FrameType.RESPONSE_BODY, 0, this.id, chunk.subarray(0, fits));
        queue[0] = chunk.subarray(fits);
        this.#credit = 0;
        break;
      }
      queue.shift();
      this.#credit -= chunk.length;
      const last = queue.length === 0 && this.#endQueued;
      this.#writer.bytes(FrameType.RESPONSE_BODY, last ? FLAG_END : 0, this.id, chunk);
      if (last) this.#finish();
    }
    if (queue.length === 0 && this.#open) {
      this.#queue = undefined;
      if (this.#endQueued) {
        this.#writer.bytes(FrameType.RESPONSE_BODY, FLAG_END, this.id, EMPTY);
        this.#finish();
      } else if (this.#credit > 0) this.#wake();
    }
  }

  /** Fails the request: a coded 500 before the head, a cut-short body after it. */
  fail(message: string, stack?: string, code?: string): void {
    if (!this.#open) return;
    this.#writer.json(FrameType.ERROR, this.id, { message, stack, code });
    this.#finish();
  }

  /** From the gateway: the caller is gone or the deadline passed. */
  cancel(): void {
    if (!this.#open) return;
    this.#finish();
    this.onCancel();
  }

  #finish(): void {
    this.#open = false;
    this.#sink = undefined;
    this.#chunks = undefined;
    this.#queue = undefined;
    this.#closed(this);
    this.#wake();
  }

  #wake(): void {
    const drained = this.#drained;
    if (drained === undefined) return;
    this.#drained = undefined;
    for (const resolve of drained) resolve();
  }
}

/** Connects to the gateway and serves it with `handlers`; the writer is for frames outside a stream. */
export function linkToGateway<Load>(runtime: string, handlers: RunnerHandlers<Load>): FrameWriter {
  const socketPath = process.env.NIMBUS_SOCKET;
  if (!socketPath) {
    process.stderr.write(
      `nimbus ${runtime} runner: NIMBUS_SOCKET is not set; the runner is started by Nimbus\n`,
    );
    process.exit(2);
  }
  delete process.env.NIMBUS_SOCKET;
  // Up before the function loads: its code may call the platform from the first line.
  const forwarding = forwardGatewayPort();

  const socket = connect(socketPath);
  const writer = new FrameWriter(socket);
  const streams = new Map<number, RunnerStream>();
  const closed = (stream: RunnerStream): void => {
    streams.delete(stream.id);
  };
  let loadAsked = false;

  const load = (message: Load): void => {
    if (loadAsked) {
      writer.json(FrameType.LOAD_ERROR, 0, { message: 'this instance already has a function loaded' });
      return;
    }
    loadAsked = true;
    forwarding
      .then(() => handlers.load(message))
      .then(
        (style) => writer.json(FrameType.LOADED, 0, { style }),
        (err: unknown) => {
          const e = err instanceof Error ? err : new Error(String(err));
          writer.json(FrameType.LOAD_ERROR, 0, { message: e.message, stack: e.stack });
          writer.flush();
        },
      );
  };

  socket.setNoDelay?.(true);
  socket.on('connect', () => {
    writer.json(FrameType.HELLO, 0, { protocol: PROTOCOL_VERSION, runtime, pid: process.pid });
    writer.flush();
    handlers.connected?.();
  });
  // The gateway going away means this instance has no purpose left.
  socket.on('close', () => process.exit(0));
  socket.on('error', () => process.exit(0));

  const decoder = new FrameDecoder((type, flags, id, payload) => {
    switch (type) {
      case FrameType.REQUEST: {
        const stream = new RunnerStream(id, payload.toString('utf8').split('\0'), flags, writer, closed);
        streams.set(id, stream);
        handlers.request(stream);
        break;
      }
      case FrameType.REQUEST_BODY:
        streams.get(id)?.pushBody(payload, (flags & FLAG_END) !== 0);
        break;
      case FrameType.WINDOW:
        if (payload.length === 4) streams.get(id)?.grant(payload.readUInt32BE(0));
        break;
      case FrameType.CANCEL:
        streams.get(id)?.cancel();
        break;
      case FrameType.LOAD:
        load(JSON.parse(payload.toString('utf8')) as Load);
        break;
    }
  });
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  return writer;
}
