// Wires one Nimbus node: store, artifacts, dispatcher, deployer and the gateway's HTTP server.
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PlatformConfig } from './config/platform.js';
import { Deployer } from './dispatch/deployer.js';
import { Dispatcher } from './dispatch/dispatcher.js';
import { NimbusError } from './errors.js';
import { loadOrCreateToken, tokenChecker } from './gateway/auth.js';
import { createControlApi } from './gateway/control-api.js';
import { createInvokeHandler } from './gateway/invoke.js';
import { sendError } from './gateway/respond.js';
import { Instance } from './instances/instance.js';
import { Pool, type PoolEvent } from './instances/pool.js';
import { RUNTIMES } from './runtimes/index.js';
import { Artifacts } from './store/artifacts.js';
import { SqliteStore } from './store/sqlite-store.js';
import type { FunctionVersion } from './store/store.js';

export interface PlatformLog {
  /** A line a function instance wrote. */
  output(fn: string, instanceId: string, line: string, stream: 'stdout' | 'stderr'): void;
  /** A platform event (instance started, exited, ...). */
  event(event: PoolEvent | { type: string; [key: string]: unknown }): void;
}

export interface Platform {
  readonly url: string;
  readonly token: string;
  readonly tokenCreated: boolean;
  readonly config: PlatformConfig;
  readonly deployer: Deployer;
  readonly dispatcher: Dispatcher;
  readonly artifacts: Artifacts;
  /** Stops accepting, lets in-flight requests finish (up to the grace period), stops every instance. */
  close(): Promise<void>;
}

const INVOKE_PREFIX = '/function/';

const quietLog: PlatformLog = { output() {}, event() {} };

export async function startPlatform(config: PlatformConfig, log: PlatformLog = quietLog): Promise<Platform> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const { token, created } = loadOrCreateToken(config.dataDir, config.adminToken);
  const auth = tokenChecker(token);
  const store = new SqliteStore(join(config.dataDir, 'nimbus.db'));
  const artifacts = new Artifacts(config.dataDir);
  const dispatcher = new Dispatcher(store);
  // Sockets live under a short private path: Unix socket paths are limited to ~107 bytes.
  const runDir = mkdtempSync(join(tmpdir(), 'nimbus-'));
  let instanceCounter = 0;

  const makePool = (fn: FunctionVersion): Pool => {
    const runtime = RUNTIMES[fn.spec.runtime];
    if (!runtime)
      throw new NimbusError('ERR_FUNCTION_SPEC_INVALID', [`runtime "${fn.spec.runtime}" is not supported`]);
    const launch = runtime.launch(fn, artifacts.path(fn.bundle), { debug: config.debug });
    return new Pool({
      name: fn.name,
      version: fn.version,
      concurrency: fn.spec.concurrency,
      minInstances: fn.spec.scale.min,
      maxInstances: fn.spec.scale.max,
      idleTimeoutMs: fn.spec.scale.idleTimeoutMs,
      maxQueue: fn.spec.maxQueue,
      onEvent: (event) => log.event(event),
      startInstance: () => {
        const id = `i${(++instanceCounter).toString(36)}`;
        const instance = new Instance({
          id,
          name: fn.name,
          runDir,
          command: launch.command,
          args: launch.args,
          env: launch.env,
          startTimeoutMs: config.startTimeoutMs,
          onOutput: (line, stream) => log.output(fn.name, id, line, stream),
        });
        return { instance, started: instance.start(launch.load) };
      },
    });
  };

  const deployer = new Deployer({ store, artifacts, dispatcher, makePool });
  deployer.restore();

  let url = '';
  const invoke = createInvokeHandler({
    dispatcher,
    bodyLimitBytes: config.bodyLimitBytes,
    debug: config.debug,
    isAdmin: auth.isAdmin,
  });
  const control = createControlApi({
    store,
    artifacts,
    dispatcher,
    deployer,
    debug: config.debug,
    isAdmin: auth.isAdmin,
    hasToken: auth.hasToken,
    baseUrl: () => url,
  });

  let closing = false;
  let inflight = 0;
  let idle: (() => void) | undefined;
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    if (closing) {
      res.setHeader('connection', 'close');
      sendError(res, new NimbusError('ERR_PLATFORM_SHUTTING_DOWN'), false);
      req.resume();
      return;
    }
    inflight++;
    res.once('close', () => {
      if (--inflight === 0) idle?.();
    });
    if (req.url!.startsWith(INVOKE_PREFIX)) invoke(req, res, INVOKE_PREFIX.length);
    else control(req, res);
  };

  const server: Server = createServer({ keepAliveTimeout: 65_000 }, onRequest);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  url = `http://${host}:${address.port}`;

  let closed: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closed ??= (async () => {
      closing = true;
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const grace = new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, config.shutdownGraceMs);
        timer.unref();
        if (inflight === 0) resolve();
        idle = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      await Promise.all([grace, dispatcher.close(config.shutdownGraceMs)]);
      server.closeAllConnections();
      await serverClosed;
      store.close();
      rmSync(runDir, { recursive: true, force: true });
    })();
    return closed;
  };

  return {
    get url() {
      return url;
    },
    token,
    tokenCreated: created,
    config,
    deployer,
    dispatcher,
    artifacts,
    close,
  };
}
