// Test helper: starts real nats-server processes (one, or a 3-server JetStream cluster with routes) on
// 127.0.0.1 with random ports and temp store dirs, and stops them by PID (after nats.js's nst launcher).
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';

const CANDIDATES = [process.env.NATS_SERVER, '/usr/sbin/nats-server', '/usr/bin/nats-server'];
/** JetStream features the cluster code relies on (term removes from a work queue, sync_interval) came in 2.10. */
const MIN_VERSION = [2, 10];
const START_DEADLINE_MS = 20_000;

export interface NatsServerOptions {
  /** Server name (unique in a cluster). */
  name?: string;
  /** Join a cluster: its name, this server's route port (0: random) and the routes to the others. */
  cluster?: { name: string; port: number; routes: string[] };
  /** The client port to listen on (a restart reuses its old one). Default: random. */
  port?: number;
  /** JetStream store dir (a restart reuses its old one). Default: a fresh temp dir. */
  storeDir?: string;
  /** jetstream.sync_interval: `always` fsyncs every write. Default: the server's (2 minutes). */
  syncInterval?: string;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly clusterPort: number | undefined;
  readonly pid: number;
  readonly storeDir: string;
  readonly options: NatsServerOptions;
  /** SIGKILL (no flush, no goodbye) or SIGTERM; resolves when the process is gone. */
  stop(signal?: NodeJS.Signals): Promise<void>;
}

let binary: string | null | undefined;

/** The nats-server binary, or why the cluster tests cannot run here. */
export function natsServerBinary(): { path: string } | { skip: string } {
  if (binary === undefined) {
    binary = null;
    for (const candidate of CANDIDATES) {
      if (!candidate || !existsSync(candidate)) continue;
      binary = candidate;
      break;
    }
  }
  if (!binary) return { skip: 'nats-server is not installed (.ci/run installs it)' };
  const out = execFileSync(binary, ['--version'], { encoding: 'utf8' });
  const [, major, minor] = /v(\d+)\.(\d+)/.exec(out) ?? [];
  if (
    Number(major) < MIN_VERSION[0]! ||
    (Number(major) === MIN_VERSION[0] && Number(minor) < MIN_VERSION[1]!)
  )
    return { skip: `nats-server ${out.trim()} is older than 2.10 (.ci/run installs Debian trixie's)` };
  return { path: binary };
}

/** Skip reason for `test(name, { skip })`, or false when nats-server is here. */
export function natsSkip(): string | false {
  const found = natsServerBinary();
  return 'skip' in found ? found.skip : false;
}

export async function startNatsServer(
  t: { after: (fn: () => Promise<void> | void) => void },
  options: NatsServerOptions = {},
): Promise<NatsServer> {
  const found = natsServerBinary();
  if ('skip' in found) throw new Error(found.skip);
  const work = mkdtempSync(join(tmpdir(), 'nimbus-nats-'));
  const storeDir = options.storeDir ?? join(work, 'store');
  mkdirSync(storeDir, { recursive: true });
  const portsDir = join(work, 'ports');
  mkdirSync(portsDir);
  const name = options.name ?? `n-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const lines = [
    `server_name: ${JSON.stringify(name)}`,
    `listen: "127.0.0.1:${options.port ?? -1}"`,
    `ports_file_dir: ${JSON.stringify(portsDir)}`,
    'jetstream {',
    `  store_dir: ${JSON.stringify(storeDir)}`,
    ...(options.syncInterval ? [`  sync_interval: ${options.syncInterval}`] : []),
    '}',
  ];
  if (options.cluster) {
    lines.push(
      'cluster {',
      `  name: ${JSON.stringify(options.cluster.name)}`,
      `  listen: "127.0.0.1:${options.cluster.port === 0 ? -1 : options.cluster.port}"`,
      `  routes: [${options.cluster.routes.map((r) => JSON.stringify(r)).join(', ')}]`,
      '}',
    );
  }
  const conf = join(work, 'nats.conf');
  writeFileSync(conf, `${lines.join('\n')}\n`);
  const child: ChildProcess = spawn(found.path, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  const stop = async (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> => {
    if (!gone) child.kill(signal);
    await exited;
  };
  t.after(async () => {
    await stop();
    rmSync(work, { recursive: true, force: true });
  });

  const deadline = Date.now() + START_DEADLINE_MS;
  let ports: { nats?: string[]; cluster?: string[] } | undefined;
  while (!ports) {
    if (gone) throw new Error(`nats-server exited at start: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`nats-server did not start in time: ${stderr}`);
    const file = readdirSync(portsDir).find((f) => f.endsWith('.ports'));
    if (file) {
      try {
        ports = JSON.parse(readFileSync(join(portsDir, file), 'utf8')) as typeof ports;
      } catch {}
    }
    if (!ports) await new Promise((r) => setTimeout(r, 25));
  }
  const url = ports.nats?.[0] ?? '';
  const port = Number(new URL(url).port);
  const clusterUrl = ports.cluster?.[0];
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    clusterPort: clusterUrl ? Number(new URL(clusterUrl).port) : undefined,
    pid: child.pid!,
    storeDir,
    options: { ...options, name, port, storeDir },
    stop,
  };
}

/** Waits until JetStream answers on `url` (in a cluster: once a meta leader is elected). */
export async function waitForJetStream(urls: string[], deadlineMs = START_DEADLINE_MS): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const nc = await connect({ servers: urls, timeout: 2000 });
      try {
        const reply = await nc.request('$JS.API.INFO', '', { timeout: 2000 });
        const info = JSON.parse(reply.string()) as { error?: { description: string } };
        if (!info.error) return;
        last = info.error.description;
      } finally {
        await nc.close();
      }
    } catch (err) {
      last = err;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`JetStream did not become ready: ${String(last)}`);
}

/** One server with JetStream, ready. */
export async function startJetStream(
  t: { after: (fn: () => Promise<void> | void) => void },
  options: NatsServerOptions = {},
): Promise<NatsServer> {
  const server = await startNatsServer(t, options);
  await waitForJetStream([server.url]);
  return server;
}

/** A free TCP port on 127.0.0.1 (asked of the OS, then released for the server to take). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A JetStream cluster of `size` servers, every one routed to every other (a JetStream cluster needs its
 * routes configured up front, so the route ports are picked first), ready once a meta leader is elected.
 */
export async function startNatsCluster(
  t: { after: (fn: () => Promise<void> | void) => void },
  size = 3,
  options: Pick<NatsServerOptions, 'syncInterval'> = {},
): Promise<NatsServer[]> {
  const clusterName = `c${Math.random().toString(36).slice(2, 8)}`;
  const routePorts: number[] = [];
  for (let i = 0; i < size; i++) routePorts.push(await freePort());
  const servers = await Promise.all(
    routePorts.map((port, i) =>
      startNatsServer(t, {
        ...options,
        name: `${clusterName}-${i}`,
        cluster: {
          name: clusterName,
          port,
          routes: routePorts.filter((p) => p !== port).map((p) => `nats-route://127.0.0.1:${p}`),
        },
      }),
    ),
  );
  await waitForJetStream(servers.map((s) => s.url));
  await waitForPeers(
    servers.map((s) => s.url),
    size,
  );
  return servers;
}

/** Waits until a stream with `replicas` copies can be placed (every server joined the meta group). */
async function waitForPeers(urls: string[], replicas: number): Promise<void> {
  const deadline = Date.now() + START_DEADLINE_MS;
  const nc = await connect({ servers: urls, timeout: 2000 });
  try {
    const jsm = await jetstreamManager(nc);
    for (let attempt = 0; ; attempt++) {
      const name = `PEERS_${attempt}`;
      try {
        await jsm.streams.add({ name, subjects: [`peers.${attempt}`], num_replicas: replicas });
        await jsm.streams.delete(name);
        return;
      } catch (err) {
        if (Date.now() > deadline)
          throw new Error(`the NATS cluster did not form: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  } finally {
    await nc.close();
  }
}

/** Starts a stopped server again on its ports, routes and store dir. */
export async function restartNatsServer(
  t: { after: (fn: () => Promise<void> | void) => void },
  server: NatsServer,
): Promise<NatsServer> {
  return startNatsServer(t, server.options);
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}
