// The instance side of the protocol bench: answers "hello" to every request, over HTTP/1.1 on a Unix
// socket (`http`), or over the instance protocol's frames (`frames`, `frames-unbatched`). Started by
// gateway.mjs; exits when its stdin closes (the gateway is gone, even by SIGKILL) or its socket does.
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { decodeFields, FLAG_END, FrameDecoder, FrameType } from '../../dist/instances/protocol.js';
import { frameWriter } from './writers.mjs';

const [design, socketPath] = process.argv.slice(2);
if (!design || !socketPath) {
  process.stderr.write('usage: child.mjs <http|frames|frames-unbatched> <socket path>\n');
  process.exit(2);
}
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();

const BODY = 'hello';

if (design === 'http') {
  const server = createServer({ keepAliveTimeout: 65_000 }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain;charset=UTF-8' });
    res.end(BODY);
  });
  server.listen(socketPath, () => process.stdout.write('ready\n'));
} else {
  const HEAD = ['200', 'content-type', 'text/plain;charset=UTF-8'].join('\0');
  const body = Buffer.from(BODY);
  const socket = connect(socketPath);
  const writer = frameWriter(design, socket);
  socket.setNoDelay?.(true);
  socket.on('connect', () => {
    writer.json(FrameType.HELLO, 0, { protocol: 2, runtime: 'bench', pid: process.pid });
    writer.flush();
  });
  socket.on('close', () => process.exit(0));
  socket.on('error', () => process.exit(0));
  const respond = (id) => {
    writer.text(FrameType.RESPONSE, 0, id, HEAD);
    writer.bytes(FrameType.RESPONSE_BODY, FLAG_END, id, body);
  };
  const decoder = new FrameDecoder((type, flags, id, payload) => {
    const end = (flags & FLAG_END) !== 0;
    if (type === FrameType.REQUEST) {
      // Read the head as a runner would, though hello does not look at it.
      decodeFields(payload);
      if (end) respond(id);
    } else if (type === FrameType.REQUEST_BODY && end) {
      respond(id);
    }
  });
  socket.on('data', (chunk) => decoder.push(chunk));
}
