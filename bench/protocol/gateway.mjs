// The gateway side of the protocol bench: an HTTP server on 127.0.0.1 that hands each request to a child
// process (child.mjs) and relays its answer, in one of three designs:
//   http              HTTP/1.1 keep-alive over a Unix socket (node:http Agent), bodies piped
//   frames            the instance protocol's frames on one Unix socket, many requests in flight matched by
//                     stream id, each side writing every frame of one event-loop turn at once (FrameWriter)
//   frames-unbatched  the same framing with one write() per frame
// The frames designs relay as src/gateway/invoke.ts does (head held for the first body frame, a small body
// sent with the head in one write). Started pinned by the bench; the child inherits the pinning.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, request } from 'node:http';
import { createServer as createSocketServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeFields, FLAG_END, FrameDecoder, FrameType } from '../../dist/instances/protocol.js';
import { serveIpc } from '../children/ipc.mjs';
import { frameWriter } from './writers.mjs';

const DESIGNS = ['http', 'frames', 'frames-unbatched'];
const design = process.argv[2];
if (!DESIGNS.includes(design)) {
  process.stderr.write(`usage: gateway.mjs <${DESIGNS.join('|')}>\n`);
  process.exit(2);
}

const CHILD = fileURLToPath(new URL('./child.mjs', import.meta.url));
const START_TIMEOUT_MS = 10_000;
/** Request headers that describe the hop, not the request (as src/gateway/invoke.ts). */
const HOP_HEADERS = new Set([
  'connection',
  'keep-alive',
  'transfer-encoding',
  'upgrade',
  'proxy-connection',
  'proxy-authorization',
  'te',
  'trailer',
]);
const HOP_RESPONSE_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding']);
const EMPTY = new Uint8Array(0);
const SMALL_BODY_BYTES = 16 * 1024;

const dir = mkdtempSync(join(tmpdir(), 'nimbus-hop-'));
const socketPath = join(dir, 'sock');
const child = spawn(process.execPath, [CHILD, design, socketPath], { stdio: ['pipe', 'pipe', 'inherit'] });

/** Rejects once the child exits (handled here: it is only raced against the start). */
const childFailed = once(child, 'exit').then(([code, signal]) =>
  Promise.reject(new Error(`the ${design} child exited (${signal ?? `code ${code}`}) before it was ready`)),
);
childFailed.catch(() => {});

function withinStart(promise, what) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    }),
    childFailed,
  ]).finally(() => clearTimeout(timer));
}

async function httpDesign() {
  const ready = new Promise((resolve) => {
    let seen = '';
    child.stdout.on('data', (chunk) => {
      seen += chunk;
      if (seen.includes('ready\n')) resolve();
    });
  });
  await withinStart(ready, 'the http child did not listen');
  const agent = new Agent({ keepAlive: true });
  return (req, res) => {
    const headers = {};
    for (const [name, value] of Object.entries(req.headers))
      if (!HOP_HEADERS.has(name)) headers[name] = value;
    const upstream = request({ socketPath, agent, method: req.method, path: req.url, headers }, (answer) => {
      const out = {};
      for (const [name, value] of Object.entries(answer.headers))
        if (!HOP_RESPONSE_HEADERS.has(name)) out[name] = value;
      res.writeHead(answer.statusCode ?? 502, out);
      answer.pipe(res);
    });
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  };
}

async function framesDesign() {
  const server = createSocketServer({ noDelay: true });
  server.listen(socketPath);
  await once(server, 'listening');
  const [socket] = await withinStart(once(server, 'connection'), 'the frames child did not connect');
  server.close();
  const writer = frameWriter(design, socket);
  /** @type {Map<number, { res: import('node:http').ServerResponse, status: number, headers: string[] | undefined }>} */
  const streams = new Map();
  let nextId = 1;
  let hello;
  const helloSeen = new Promise((resolve) => {
    hello = resolve;
  });
  const decoder = new FrameDecoder((type, flags, id, payload) => {
    if (id === 0) {
      if (type === FrameType.HELLO) hello();
      return;
    }
    const stream = streams.get(id);
    if (!stream) return;
    const end = (flags & FLAG_END) !== 0;
    if (type === FrameType.RESPONSE) {
      const fields = decodeFields(payload);
      stream.status = Number(fields[0]);
      fields.shift();
      stream.headers = fields;
      if (end) {
        streams.delete(id);
        stream.res.writeHead(stream.status, stream.headers);
        stream.res.end();
      }
    } else if (type === FrameType.RESPONSE_BODY) {
      if (stream.headers) {
        stream.res.writeHead(stream.status, stream.headers);
        stream.headers = undefined;
        if (end) {
          streams.delete(id);
          if (payload.length <= SMALL_BODY_BYTES) stream.res.end(payload.toString('latin1'), 'latin1');
          else stream.res.end(payload);
          return;
        }
      }
      if (payload.length > 0) stream.res.write(payload);
      if (end) {
        streams.delete(id);
        stream.res.end();
      }
    }
  });
  socket.on('data', (chunk) => decoder.push(chunk));
  socket.on('close', () => {
    for (const { res } of streams.values()) res.destroy();
    streams.clear();
  });
  await withinStart(helloSeen, 'the frames child did not say HELLO');
  return (req, res) => {
    const id = nextId++;
    if (nextId > 0xffff_fff0) nextId = 1;
    const raw = req.rawHeaders;
    let head = `${req.method}\0${req.url}`;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i].toLowerCase();
      if (!HOP_HEADERS.has(name)) head += `\0${name}\0${raw[i + 1]}`;
    }
    const hasBody =
      req.headers['content-length'] !== undefined
        ? req.headers['content-length'] !== '0'
        : req.headers['transfer-encoding'] !== undefined;
    streams.set(id, { res, status: 0, headers: undefined });
    writer.text(FrameType.REQUEST, hasBody ? 0 : FLAG_END, id, head);
    if (hasBody) {
      req.on('data', (chunk) => writer.bytes(FrameType.REQUEST_BODY, 0, id, chunk));
      req.on('end', () => writer.bytes(FrameType.REQUEST_BODY, FLAG_END, id, EMPTY));
    }
  };
}

let server;
try {
  const handle = design === 'http' ? await httpDesign() : await framesDesign();
  server = createServer({ keepAliveTimeout: 65_000 }, handle);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
} catch (err) {
  process.stderr.write(`protocol gateway (${design}): ${err.message}\n`);
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  process.exit(1);
}

serveIpc({
  ready: { url: `http://127.0.0.1:${server.address().port}`, childPid: child.pid },
  handlers: {},
  close: async () => {
    const exited = child.exitCode === null ? once(child, 'exit') : Promise.resolve();
    server.closeAllConnections();
    server.close();
    child.stdin.end();
    child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  },
});
