// What every runner process does with the gateway's connection, whatever it runs: connect to the socket
// Nimbus names in NIMBUS_SOCKET, say HELLO, exit when the gateway goes away, route the frames, and load a
// function once per process (never replaced: OpenWhisk CVE-2018-11757). Bundled into each runner.
import { connect } from 'node:net';
import { FrameDecoder, FrameType, FrameWriter, PROTOCOL_VERSION } from '../instances/protocol.js';

export interface RunnerHandlers<Load> {
  /** Loads the function; resolves with the style LOADED reports. Called at most once per process. */
  load(message: Load): Promise<string>;
  request(id: number, flags: number, payload: Buffer): void;
  body(id: number, flags: number, payload: Buffer): void;
  cancel(id: number): void;
  /** After HELLO is out, while a stem cell waits: load what the first request would otherwise pay for. */
  connected?(): void;
}

/** Connects to the gateway and serves it with `handlers`; the writer is for the handlers' replies. */
export function linkToGateway<Load>(runtime: string, handlers: RunnerHandlers<Load>): FrameWriter {
  const socketPath = process.env.NIMBUS_SOCKET;
  if (!socketPath) {
    process.stderr.write(
      `nimbus ${runtime} runner: NIMBUS_SOCKET is not set; the runner is started by Nimbus\n`,
    );
    process.exit(2);
  }
  delete process.env.NIMBUS_SOCKET;

  const socket = connect(socketPath);
  const writer = new FrameWriter(socket);
  let loadAsked = false;

  const load = (message: Load): void => {
    if (loadAsked) {
      writer.json(FrameType.LOAD_ERROR, 0, { message: 'this instance already has a function loaded' });
      return;
    }
    loadAsked = true;
    handlers.load(message).then(
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
      case FrameType.LOAD:
        load(JSON.parse(payload.toString('utf8')) as Load);
        break;
      case FrameType.REQUEST:
        handlers.request(id, flags, payload);
        break;
      case FrameType.REQUEST_BODY:
        handlers.body(id, flags, payload);
        break;
      case FrameType.CANCEL:
        handlers.cancel(id);
        break;
    }
  });
  socket.on('data', (chunk: Buffer) => decoder.push(chunk));
  return writer;
}
