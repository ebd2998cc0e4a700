// Frame writers of the protocol bench: Nimbus's own FrameWriter (every frame of one event-loop turn in
// one write), and the same framing written as it comes, one write() per frame.
import { FrameWriter, HEADER_BYTES } from '../../dist/instances/protocol.js';

/** The instance protocol's framing without batching: each frame is one buffer and one socket.write(). */
export class UnbatchedFrameWriter {
  /** @param {import('node:net').Socket} socket */
  constructor(socket) {
    this.socket = socket;
  }

  /** @param {number} type @param {number} flags @param {number} streamId @param {Uint8Array} payload */
  frame(type, flags, streamId, payload) {
    const frame = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
    frame.writeUInt32BE(payload.length, 0);
    frame[4] = type;
    frame[5] = flags;
    frame.writeUInt32BE(streamId, 6);
    frame.set(payload, HEADER_BYTES);
    this.socket.write(frame);
  }

  text(type, flags, streamId, text) {
    this.frame(type, flags, streamId, Buffer.from(text));
  }

  bytes(type, flags, streamId, payload) {
    this.frame(type, flags, streamId, payload);
  }

  json(type, streamId, value) {
    this.text(type, 1, streamId, JSON.stringify(value));
  }

  flush() {
    return true;
  }
}

/** @param {'frames' | 'frames-unbatched'} design @param {import('node:net').Socket} socket */
export function frameWriter(design, socket) {
  return design === 'frames' ? new FrameWriter(socket) : new UnbatchedFrameWriter(socket);
}
