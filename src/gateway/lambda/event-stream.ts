// AWS event-stream framing (application/vnd.amazon.eventstream), as InvokeWithResponseStream answers:
// each message is a prelude (total and header lengths, CRC32), string headers, the payload and a CRC32.
import { crc32 } from 'node:zlib';

const STRING_HEADER = 7;

/** One event-stream message with string headers. */
export function eventMessage(headers: Readonly<Record<string, string>>, payload: Uint8Array): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const n = Buffer.from(name);
    const v = Buffer.from(value);
    const h = Buffer.alloc(1 + n.length + 1 + 2 + v.length);
    h[0] = n.length;
    n.copy(h, 1);
    h[1 + n.length] = STRING_HEADER;
    h.writeUInt16BE(v.length, 2 + n.length);
    v.copy(h, 4 + n.length);
    parts.push(h);
  }
  const headerBytes = Buffer.concat(parts);
  const total = 12 + headerBytes.length + payload.length + 4;
  const out = Buffer.alloc(total);
  out.writeUInt32BE(total, 0);
  out.writeUInt32BE(headerBytes.length, 4);
  out.writeUInt32BE(crc32(out.subarray(0, 8)), 8);
  headerBytes.copy(out, 12);
  out.set(payload, 12 + headerBytes.length);
  out.writeUInt32BE(crc32(out.subarray(0, total - 4)), total - 4);
  return out;
}

/** A PayloadChunk event: bytes of the function's answer. */
export function payloadChunk(bytes: Uint8Array): Buffer {
  return eventMessage(
    { ':event-type': 'PayloadChunk', ':content-type': 'application/octet-stream', ':message-type': 'event' },
    bytes,
  );
}

/** The InvokeComplete event that ends the stream: `{}`, or the error and the tail of the log. */
export function invokeComplete(detail: {
  ErrorCode?: string;
  ErrorDetails?: string;
  LogResult?: string;
}): Buffer {
  return eventMessage(
    { ':event-type': 'InvokeComplete', ':content-type': 'application/json', ':message-type': 'event' },
    Buffer.from(JSON.stringify(detail)),
  );
}
