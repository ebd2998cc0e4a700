// http mode, as the OpenFaaS of-watchdog's http mode: the user's server is started once with `PORT` (a TCP
// port on 127.0.0.1, or a Unix socket path), polled on its health path until it answers, then every request
// is proxied to it over kept-alive connections, bodies streamed both ways.
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { Agent, type ClientRequest, type IncomingMessage, request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withBundlePython } from './bundle-python.js';
import type { CreateMode } from './mode.js';
import { describeExit, programEnv, resolveProgram, startProgram } from './program.js';
import type { AdapterStream } from './stream.js';

/** Response headers about the hop, not the response. */
const HOP_HEADERS = new Set(['connection', 'keep-alive', 'transfer-encoding', 'proxy-connection', 'upgrade']);
const HEALTH_POLL_MS = 10;
const HEALTH_POLL_MAX_MS = 100;
/** After a proxied request fails, how long to wait for the server's exit before calling it a plain error. */
const EXIT_GRACE_MS = 200;

/** A free TCP port on 127.0.0.1 (asked of the kernel, then released for the program to take). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export const createHttpMode: CreateMode = (load, options, host) => {
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, scheduling: 'lifo' });
  let target: { socketPath: string } | { host: string; port: number };
  let child: ChildProcess | undefined;
  let exited: string | undefined;
  let onExit: (() => void) | undefined;

  function waitHealthy(): Promise<void> {
    return new Promise((resolve, reject) => {
      let delayMs = HEALTH_POLL_MS;
      let done = false;
      onExit = () => {
        if (done) return;
        done = true;
        reject(
          new Error(`${options.argv.join(' ')} exited (${exited}) before it answered on ${describeTarget()}`),
        );
      };
      const poll = (): void => {
        if (done) return;
        const req = request(
          {
            ...target,
            agent,
            method: 'GET',
            path: options.healthPath,
            headers: { 'user-agent': 'nimbus-health' },
          },
          (res) => {
            res.resume();
            if (done) return;
            if ((res.statusCode ?? 500) < 500) {
              done = true;
              resolve();
            } else retry();
          },
        );
        req.setTimeout(1000, () => req.destroy());
        req.on('error', retry);
        req.end();
      };
      const retry = (): void => {
        if (done) return;
        setTimeout(poll, delayMs);
        delayMs = Math.min(HEALTH_POLL_MAX_MS, delayMs * 2);
      };
      poll();
    });
  }

  function describeTarget(): string {
    return 'socketPath' in target ? `the Unix socket ${target.socketPath}` : `port ${target.port}`;
  }

  function proxy(stream: AdapterStream): void {
    const headers: Record<string, string | string[]> = {};
    const { fields } = stream;
    for (let i = 2; i < fields.length; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      const prev = headers[name];
      if (prev === undefined) headers[name] = value;
      else if (Array.isArray(prev)) prev.push(value);
      else headers[name] = [prev, value];
    }
    const req: ClientRequest = request(
      { ...target, agent, method: stream.method, path: stream.target, headers },
      (res: IncomingMessage) => {
        const out: string[] = [];
        const raw = res.rawHeaders;
        for (let i = 0; i < raw.length; i += 2) {
          const name = raw[i]!.toLowerCase();
          if (!HOP_HEADERS.has(name)) out.push(name, raw[i + 1]!);
        }
        stream.respond(res.statusCode ?? 502, out, false);
        // Past the gateway's window the server's response is paused: its writes block, as over a slow client.
        res.on('data', (chunk: Buffer) => {
          if (stream.write(chunk) || !stream.open) return;
          res.pause();
          void stream.writable().then(() => res.resume());
        });
        res.on('end', () => stream.end());
        res.on('error', (err) => failed(stream, err));
      },
    );
    stream.onCancel = () => req.destroy();
    req.on('error', (err) => failed(stream, err));
    stream.readBody((chunk) => {
      if (!chunk) {
        req.end();
        return true;
      }
      if (req.write(chunk)) return true;
      // The server reads slowly: no credit goes back to the gateway until it has taken this.
      req.once('drain', () => stream.resumeBody());
      return false;
    });
  }

  function failed(stream: AdapterStream, err: Error): void {
    if (!stream.open) return;
    // A dead server is the instance's end (the gateway answers 502); anything else fails this request only.
    if (exited) return;
    setTimeout(() => {
      if (!exited) stream.fail(`the server did not answer: ${err.message}`);
    }, EXIT_GRACE_MS);
  }

  return {
    async start() {
      const env = withBundlePython(programEnv(load.env), load.bundleDir);
      const program = resolveProgram(options.argv, load.bundleDir, env.PATH ?? '');
      let port: string;
      if (options.unixSocket) {
        const socketPath = join(mkdtempSync(join(tmpdir(), 'nimbus-http-')), 'http.sock');
        target = { socketPath };
        port = socketPath;
      } else {
        const number = await freePort();
        target = { host: '127.0.0.1', port: number };
        port = String(number);
      }
      child = startProgram(program, { ...env, PORT: port }, ['ignore', 'inherit', 'inherit']);
      child.on('error', (err) => {
        exited = `could not start: ${err.message}`;
        onExit?.();
      });
      child.on('exit', (code, signal) => {
        exited = describeExit(code, signal);
        onExit?.();
      });
      process.on('exit', () => child?.kill('SIGKILL'));
      await waitHealthy();
      onExit = () => host.exit(`the server ${program.display} exited (${exited})`);
    },
    request: proxy,
  };
};
