// The instance protocol: length-prefixed binary frames on one Unix socket, many requests in flight
// matched by stream id, every frame of one event-loop turn written with a single writev. See docs/instance-protocol.md.
import type { Socket } from 'node:net';

export const PROTOCOL_VERSION = 1;

/** Frame header: u32 payload length, u8 type, u8 flags, u32 stream id (all big-endian). */
export const HEADER_BYTES = 10;
/** A frame's payload may not pass this; bodies larger than it are split into several frames. */
export const MAX_FRAME_PAYLOAD_BYTES = 1024 * 1024;

export const FrameType = {
  /** runner → gateway, stream 0: JSON {protocol, runtime, pid}; the runner is ready for LOAD. */
  HELLO: 1,
  /** gateway → runner, stream 0: JSON LoadMessage; load the function once. */
  LOAD: 2,
  /** runner → gateway, stream 0: JSON {style}; the function is loaded and requests may flow. */
  LOADED: 3,
  /** runner → gateway, stream 0: JSON {message, stack?}; the function failed to load. */
  LOAD_ERROR: 4,
  /** gateway → runner: request head, NUL-separated [method, path?query, name, value, ...]. */
  REQUEST: 10,
  /** gateway → runner: request body bytes. */
  REQUEST_BODY: 11,
  /** runner → gateway: response head, NUL-separated [status, name, value, ...]. */
  RESPONSE: 12,
  /** runner → gateway: response body bytes. */
  RESPONSE_BODY: 13,
  /** runner → gateway: JSON {message, stack?}; the handler failed (before or after the head). Ends the stream. */
  ERROR: 14,
  /** gateway → runner: the caller went away or the deadline passed; stop work on this stream. */
  CANCEL: 15,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Flag: the last frame of this direction of the stream. */
export const FLAG_END = 1;
/**
 * Flag on REQUEST: the body is an event for a Lambda-style handler (the Lambda Invoke API), not an HTTP
 * request to map into one. See docs/instance-protocol.md for the answer it expects.
 */
export const FLAG_RAW_EVENT = 2;

export interface LoadMessage {
  /** Directory holding the function's bundle (read-only). */
  bundleDir: string;
  /** Entry file relative to bundleDir, and optionally `#exportName`. */
  entry: string;
  name: string;
  version: number;
  env: Record<string, string>;
  timeoutMs: number;
  memoryMb: number;
  debug: boolean;
  /** The handler style to use instead of detecting it (the spec's `handlerStyle`). */
  style?: 'fetch' | 'lambda' | 'openfaas' | 'openwhisk';
}

export type FrameHandler = (type: number, flags: number, streamId: number, payload: Buffer) => void;

/** Splits a byte stream into frames. Copies only when a frame spans chunks. */
export class FrameDecoder {
  private pending: Buffer | null = null;

  constructor(private readonly onFrame: FrameHandler) {}

  push(chunk: Buffer): void {
    let buf = this.pending === null ? chunk : Buffer.concat([this.pending, chunk]);
    this.pending = null;
    let offset = 0;
    while (buf.length - offset >= HEADER_BYTES) {
      const length = buf.readUInt32BE(offset);
      if (length > MAX_FRAME_PAYLOAD_BYTES)
        throw new Error(`frame of ${length} bytes exceeds the protocol limit`);
      const end = offset + HEADER_BYTES + length;
      if (end > buf.length) break;
      const type = buf[offset + 4]!;
      const flags = buf[offset + 5]!;
      const streamId = buf.readUInt32BE(offset + 6);
      this.onFrame(type, flags, streamId, buf.subarray(offset + HEADER_BYTES, end));
      offset = end;
    }
    if (offset < buf.length) {
      buf = buf.subarray(offset);
      this.pending = buf;
    }
  }
}

function header(length: number, type: number, flags: number, streamId: number): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h.writeUInt32BE(length, 0);
  h[4] = type;
  h[5] = flags;
  h.writeUInt32BE(streamId, 6);
  return h;
}

/**
 * Queues frames and writes everything queued in one event-loop turn with one writev: batching is what
 * makes the hop cheap under load (see docs/benchmarks.md).
 */
export class FrameWriter {
  private queue: Buffer[] = [];
  private scheduled = false;
  private readonly flushBound = () => this.flush();

  constructor(private readonly socket: Socket) {}

  /** Queues a frame whose payload is a string (encoded as UTF-8 into the same buffer as the header). */
  text(type: number, flags: number, streamId: number, text: string): void {
    const length = Buffer.byteLength(text);
    const frame = Buffer.allocUnsafe(HEADER_BYTES + length);
    frame.writeUInt32BE(length, 0);
    frame[4] = type;
    frame[5] = flags;
    frame.writeUInt32BE(streamId, 6);
    frame.write(text, HEADER_BYTES);
    this.push(frame);
  }

  /** Queues a frame with a binary payload, split into protocol-sized frames when large. */
  bytes(type: number, flags: number, streamId: number, payload: Uint8Array): void {
    let offset = 0;
    do {
      const size = Math.min(payload.length - offset, MAX_FRAME_PAYLOAD_BYTES);
      const last = offset + size >= payload.length;
      this.push(header(size, type, last ? flags : flags & ~FLAG_END, streamId));
      if (size > 0) {
        this.push(Buffer.from(payload.buffer, payload.byteOffset + offset, size));
      }
      offset += size;
    } while (offset < payload.length);
  }

  json(type: number, streamId: number, value: unknown): void {
    this.text(type, FLAG_END, streamId, JSON.stringify(value));
  }

  private push(buf: Buffer): void {
    this.queue.push(buf);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushBound);
    }
  }

  /** Writes what is queued now; returns false when the socket's buffer is full. */
  flush(): boolean {
    this.scheduled = false;
    const queue = this.queue;
    if (queue.length === 0 || this.socket.destroyed) return true;
    this.queue = [];
    if (queue.length === 1) return this.socket.write(queue[0]!);
    this.socket.cork();
    let ok = true;
    for (const buf of queue) ok = this.socket.write(buf);
    this.socket.uncork();
    return ok;
  }
}

/** Encodes a head as NUL-separated fields (HTTP forbids NUL in methods, paths and header values). */
export function encodeFields(fields: readonly string[]): string {
  return fields.join('\0');
}

export function decodeFields(payload: Buffer): string[] {
  return payload.toString('utf8').split('\0');
}
