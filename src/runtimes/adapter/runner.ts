// The adapter runner: the instance process of the exec, http and lambda runtimes. It speaks the instance
// protocol to the gateway like any runner, and runs the user's program in its own process tree: per request
// (exec), once as an HTTP server it proxies to (http), or as a Lambda custom runtime it serves the Runtime
// API to (lambda).
import { connect } from 'node:net';
import {
  decodeFields,
  FLAG_END,
  FLAG_RAW_EVENT,
  FrameDecoder,
  FrameType,
  FrameWriter,
  PROTOCOL_VERSION,
} from '../../instances/protocol.js';
import { createExecMode } from './exec-mode.js';
import { createHttpMode } from './http-mode.js';
import { createLambdaMode } from './lambda-mode.js';
import type { Mode } from './mode.js';
import type { AdapterLoadMessage } from './options.js';
import { AdapterStream } from './stream.js';

const socketPath = process.env.NIMBUS_SOCKET;
if (!socketPath) {
  process.stderr.write('nimbus adapter runner: NIMBUS_SOCKET is not set; the runner is started by Nimbus\n');
  process.exit(2);
}
delete process.env.NIMBUS_SOCKET;

const socket = connect(socketPath);
const writer = new FrameWriter(socket);
const streams = new Map<number, AdapterStream>();
let mode: Mode | undefined;
let loading = false;

socket.setNoDelay?.(true);
socket.on('connect', () => {
  writer.json(FrameType.HELLO, 0, { protocol: PROTOCOL_VERSION, runtime: 'adapter', pid: process.pid });
});
// The gateway going away means this instance has no purpose left.
socket.on('close', () => process.exit(0));
socket.on('error', () => process.exit(0));

const closeStream = (stream: AdapterStream): void => {
  streams.delete(stream.id);
};

const decoder = new FrameDecoder((type, flags, id, payload) => {
  switch (type) {
    case FrameType.LOAD:
      void load(JSON.parse(payload.toString('utf8')) as AdapterLoadMessage);
      break;
    case FrameType.REQUEST: {
      const stream = new AdapterStream(
        id,
        decodeFields(payload),
        (flags & FLAG_END) !== 0,
        writer,
        closeStream,
      );
      stream.raw = (flags & FLAG_RAW_EVENT) !== 0;
      streams.set(id, stream);
      if (mode) mode.request(stream);
      else stream.fail('no function is loaded in this instance');
      break;
    }
    case FrameType.REQUEST_BODY:
      streams.get(id)?.pushBody(payload, (flags & FLAG_END) !== 0);
      break;
    case FrameType.CANCEL:
      streams.get(id)?.cancel();
      break;
  }
});
socket.on('data', (chunk: Buffer) => decoder.push(chunk));

async function load(message: AdapterLoadMessage): Promise<void> {
  // The program is started once per process and never replaced.
  if (mode || loading) {
    writer.json(FrameType.LOAD_ERROR, 0, { message: 'this instance already has a function loaded' });
    return;
  }
  loading = true;
  try {
    const options = message.adapter;
    if (!options)
      throw new Error('the LOAD message has no "adapter" settings; this runner serves exec, http and lambda');
    const create = { exec: createExecMode, http: createHttpMode, lambda: createLambdaMode }[options.mode];
    if (!create) throw new Error(`unknown adapter mode "${options.mode}"`);
    const created = create(message, options, { exit: exitInstance });
    await created.start();
    mode = created;
    writer.json(FrameType.LOADED, 0, { style: options.mode });
  } catch (err) {
    writer.json(FrameType.LOAD_ERROR, 0, { message: (err as Error).message });
    writer.flush();
  }
}

/**
 * The user's long-running program is gone: so is this instance. Exiting makes the gateway fail what is
 * in flight as a crash (502) and start a fresh instance for the next request, rather than leave callers hanging.
 */
function exitInstance(reason: string): void {
  process.stderr.write(`nimbus: ${reason}; the instance stops\n`);
  writer.flush();
  process.exit(70);
}
