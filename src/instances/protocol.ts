// The instance protocol: length-prefixed binary frames on one Unix socket, many requests in flight
// matched by stream id, per-stream credit for body bytes (WINDOW), every frame of one event-loop turn
// written at once. See docs/instance-protocol.md.
import type { Socket } from 'node:net';

export const PROTOCOL_VERSION = 2;

/** Frame header: u32 payload length, u8 type, u8 flags, u32 stream id (all big-endian). */
export const HEADER_BYTES = 10;
/** A frame's payload may not pass this; bodies larger than it are split into several frames. */
export const MAX_FRAME_PAYLOAD_BYTES = 1024 * 1024;
/**
 * Body bytes (REQUEST_BODY / RESPONSE_BODY payloads) a side may send on one stream before the other side
 * grants more with WINDOW. Each direction of each stream starts with this much credit.
 */
export const STREAM_WINDOW_BYTES = 256 * 1024;
/**
 * A receiver hands consumed credit back once this much has gathered (or at once when the stream's sender
 * may be waiting): fewer WINDOW frames for a stream of small chunks. Less than the window, so it cannot stall.
 */
export const WINDOW_UPDATE_BYTES = STREAM_WINDOW_BYTES / 4;

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
  /** gateway → runner: request body bytes (counted against the stream's window). */
  REQUEST_BODY: 11,
  /** runner → gateway: response head, NUL-separated [status, name, value, ...]. */
  RESPONSE: 12,
  /** runner → gateway: response body bytes (counted against the stream's window). */
  RESPONSE_BODY: 13,
  /** runner → gateway: JSON {message, stack?, code?}; the handler failed (before or after the head). Ends the stream. */
  ERROR: 14,
  /** gateway → runner: the caller went away or the deadline passed; stop work on this stream. */
  CANCEL: 15,
  /** either way: u32 big-endian, body bytes the sender of this frame consumed and grants back on this stream. */
  WINDOW: 16,
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
  style?: string;
}

export type FrameHandler = (type: number, flags: number, streamId: number, payload: Buffer) => void;

/**
 * Splits a byte stream into frames. Frames within one chunk are views of it. A frame that spans chunks is
 * gathered into one buffer of its own size (taken once its header is known, filled as bytes come: each
 * byte copied once), never as a list of the chunks it came in: a peer that sends it a byte per read would
 * otherwise make the reader hold an object per byte (~200 bytes of heap each, for a frame of 1 MiB).
 */
export class FrameDecoder {
  readonly #onFrame: FrameHandler;
  /** The incomplete frame: its header alone until that is whole, then header and payload. */
  #partial: Buffer | null = null;
  /** Bytes of #partial filled so far. */
  #filled = 0;

  constructor(onFrame: FrameHandler) {
    this.#onFrame = onFrame;
  }

  push(chunk: Buffer): void {
    let offset = 0;
    if (this.#partial !== null) {
      offset = this.#fill(chunk);
      if (this.#partial !== null) return;
    }
    const length = chunk.length;
    while (length - offset >= HEADER_BYTES) {
      const size = payloadSize(chunk, offset);
      const end = offset + HEADER_BYTES + size;
      if (end > length) break;
      this.#emit(chunk, offset, end);
      offset = end;
    }
    if (offset < length) {
      const rest = length - offset;
      // payloadSize() checked the size above when the header is here.
      const need = rest >= HEADER_BYTES ? HEADER_BYTES + chunk.readUInt32BE(offset) : HEADER_BYTES;
      this.#partial = Buffer.allocUnsafe(need);
      chunk.copy(this.#partial, 0, offset, length);
      this.#filled = rest;
    }
  }

  /** Copies what `chunk` holds of the incomplete frame into it (emitting it once whole); returns the bytes taken. */
  #fill(chunk: Buffer): number {
    let partial = this.#partial!;
    let taken = 0;
    if (this.#filled < HEADER_BYTES) {
      taken = Math.min(HEADER_BYTES - this.#filled, chunk.length);
      chunk.copy(partial, this.#filled, 0, taken);
      this.#filled += taken;
      if (this.#filled < HEADER_BYTES) return taken;
      const size = payloadSize(partial, 0);
      if (size > 0) {
        const whole = Buffer.allocUnsafe(HEADER_BYTES + size);
        partial.copy(whole, 0, 0, HEADER_BYTES);
        this.#partial = partial = whole;
      }
    }
    const more = Math.min(partial.length - this.#filled, chunk.length - taken);
    chunk.copy(partial, this.#filled, taken, taken + more);
    this.#filled += more;
    taken += more;
    if (this.#filled === partial.length) {
      this.#partial = null;
      this.#emit(partial, 0, partial.length);
    }
    return taken;
  }

  #emit(buf: Buffer, offset: number, end: number): void {
    this.#onFrame(
      buf[offset + 4]!,
      buf[offset + 5]!,
      buf.readUInt32BE(offset + 6),
      buf.subarray(offset + HEADER_BYTES, end),
    );
  }
}

/** The payload length of the frame whose header starts at `offset`, refused past the protocol's limit. */
function payloadSize(buf: Buffer, offset: number): number {
  const size = buf.readUInt32BE(offset);
  if (size > MAX_FRAME_PAYLOAD_BYTES) throw new Error(`frame of ${size} bytes exceeds the protocol limit`);
  return size;
}

/** Payloads up to this are copied next to their header; larger ones are written from where they are. */
const COPY_PAYLOAD_BYTES = 16 * 1024;
/** The buffer frames are encoded into; a new one is taken when the rest of it is too small. */
const ARENA_BYTES = 64 * 1024;

/**
 * Queues frames and writes everything queued in one event-loop turn at once: batching is what makes the
 * hop cheap under load (docs/benchmarks.md). Frames are encoded straight into a shared buffer (no
 * allocation per frame); what one turn queued goes out as one write() of a view of it.
 */
export class FrameWriter {
  readonly #socket: Socket;
  #arena = Buffer.allocUnsafe(ARENA_BYTES);
  /** Start of what is queued in the arena, and its end. */
  #start = 0;
  #end = 0;
  /** Queued pieces in order when a large payload is among them (else the arena alone holds the turn). */
  #chunks: Buffer[] = [];
  #scheduled = false;
  readonly #flushBound = () => this.flush();

  constructor(socket: Socket) {
    this.#socket = socket;
  }

  /** Queues a frame whose payload is a string (UTF-8). */
  text(type: number, flags: number, streamId: number, text: string): void {
    // At most 3 bytes per UTF-16 code unit: room for that, then the exact length once written.
    let room = text.length * 3;
    if (room > MAX_FRAME_PAYLOAD_BYTES) {
      room = Buffer.byteLength(text);
      if (room > MAX_FRAME_PAYLOAD_BYTES)
        throw new Error(`a frame of ${room} bytes exceeds the protocol limit of ${MAX_FRAME_PAYLOAD_BYTES}`);
    }
    this.#reserve(HEADER_BYTES + room);
    const at = this.#end;
    const size = this.#arena.write(text, at + HEADER_BYTES, 'utf8');
    this.#header(at, size, type, flags, streamId);
    this.#end = at + HEADER_BYTES + size;
    this.#schedule();
  }

  /** Queues frames with a binary payload, split into protocol-sized frames when large. */
  bytes(type: number, flags: number, streamId: number, payload: Uint8Array): void {
    let offset = 0;
    do {
      const size = Math.min(payload.length - offset, MAX_FRAME_PAYLOAD_BYTES);
      const last = offset + size >= payload.length;
      const frameFlags = last ? flags : flags & ~FLAG_END;
      if (size <= COPY_PAYLOAD_BYTES) {
        this.#reserve(HEADER_BYTES + size);
        const at = this.#end;
        this.#header(at, size, type, frameFlags, streamId);
        if (size > 0) this.#arena.set(payload.subarray(offset, offset + size), at + HEADER_BYTES);
        this.#end = at + HEADER_BYTES + size;
      } else {
        this.#reserve(HEADER_BYTES);
        this.#header(this.#end, size, type, frameFlags, streamId);
        this.#end += HEADER_BYTES;
        this.#seal();
        this.#chunks.push(Buffer.from(payload.buffer, payload.byteOffset + offset, size));
      }
      offset += size;
    } while (offset < payload.length);
    this.#schedule();
  }

  /** Queues a WINDOW frame: `bytes` more body bytes may come on `streamId`. */
  window(streamId: number, bytes: number): void {
    this.#reserve(HEADER_BYTES + 4);
    const at = this.#end;
    this.#header(at, 4, FrameType.WINDOW, 0, streamId);
    this.#arena.writeUInt32BE(bytes, at + HEADER_BYTES);
    this.#end = at + HEADER_BYTES + 4;
    this.#schedule();
  }

  json(type: number, streamId: number, value: unknown): void {
    this.text(type, FLAG_END, streamId, JSON.stringify(value));
  }

  /** Writes what is queued now; returns false when the socket's buffer is full. */
  flush(): boolean {
    this.#scheduled = false;
    this.#seal();
    const chunks = this.#chunks;
    if (chunks.length === 0) return true;
    this.#chunks = [];
    const socket = this.#socket;
    if (socket.destroyed) return true;
    if (chunks.length === 1) return socket.write(chunks[0]!);
    socket.cork();
    let ok = true;
    for (const chunk of chunks) ok = socket.write(chunk);
    socket.uncork();
    return ok;
  }

  #header(at: number, size: number, type: number, flags: number, streamId: number): void {
    const arena = this.#arena;
    arena.writeUInt32BE(size, at);
    arena[at + 4] = type;
    arena[at + 5] = flags;
    arena.writeUInt32BE(streamId, at + 6);
  }

  /** Makes room for `bytes` at the arena's end: a fresh arena when this one is too full. */
  #reserve(bytes: number): void {
    if (this.#end + bytes <= this.#arena.length) return;
    this.#seal();
    this.#arena = Buffer.allocUnsafe(Math.max(ARENA_BYTES, bytes));
    this.#start = 0;
    this.#end = 0;
  }

  /** Ends the arena's queued stretch as one piece; it is never written to again (a write may still hold it). */
  #seal(): void {
    if (this.#end === this.#start) return;
    this.#chunks.push(this.#arena.subarray(this.#start, this.#end));
    this.#start = this.#end;
  }

  #schedule(): void {
    if (this.#scheduled) return;
    this.#scheduled = true;
    setImmediate(this.#flushBound);
  }
}

/** Encodes a head as NUL-separated fields (HTTP forbids NUL in methods, paths and header values). */
export function encodeFields(fields: readonly string[]): string {
  return fields.join('\0');
}

export function decodeFields(payload: Buffer): string[] {
  return payload.toString('utf8').split('\0');
}
