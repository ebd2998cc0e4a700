// Egress for a sandbox with `network: true`: slirp4netns attached from outside to the sandbox's own network
// namespace (user-mode TCP/IP, so the namespace gets the outside world but never the host's loopback).
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { shellQuote } from './launch.js';

/** What the installed slirp4netns can do. */
export interface EgressSupport {
  readonly path: string;
  /** e.g. `1.2.0`. */
  readonly version: string;
  /** `--enable-seccomp`: slirp4netns filters its own system calls (it parses the function's packets). */
  readonly seccomp: boolean;
}

/** The options slirp4netns must have for Nimbus to use it (all in 1.1 and later). */
export const REQUIRED_SLIRP_OPTIONS: readonly string[] = [
  '--disable-host-loopback',
  '--exit-fd',
  '--ready-fd',
  '--netns-type',
  '--userns-path',
  '--enable-sandbox',
];

/** slirp4netns's fixed addresses: the namespace is 10.0.2.100, the host side 10.0.2.2, DNS 10.0.2.3. */
export const SLIRP_DNS = '10.0.2.3';
/** The largest MTU slirp4netns takes: far fewer packets to copy than 1500 (its default). */
const SLIRP_MTU = 65520;
/** fds of the slirp4netns process: it exits when EXIT_FD reads EOF (the platform closed it, or died). */
const EXIT_FD = 3;
const READY_FD = 4;
const STDERR_KEPT_BYTES = 2000;
/** Attaching takes ~20 ms (seconds on a saturated machine); past this something is wrong. */
const DEFAULT_READY_TIMEOUT_MS = 30_000;

export interface EgressOptions {
  /** `cgroup.procs` files slirp4netns joins before exec (the instance's: its CPU and memory count there). */
  procsFiles: readonly string[];
  shPath: string;
  /**
   * Join the sandbox's user namespace first (a platform that is not root has no say over a network
   * namespace otherwise). Root attaches directly.
   */
  joinUserNamespace: boolean;
  readyTimeoutMs?: number;
}

/** A running slirp4netns serving one sandbox. */
export interface Egress {
  /** Resolves once the namespace's interface, route and DNS forwarder are up; rejects saying why not. */
  readonly ready: Promise<void>;
  /** Stops it (also happens by itself when the platform dies: its exit fd then reads EOF). */
  close(): void;
}

/**
 * Starts slirp4netns for the sandbox whose first process is `sandboxPid` (bwrap's `--info-fd` names it).
 * The options are what keep the host out of reach: `--disable-host-loopback` refuses the namespace's
 * connections to 10.0.2.2 (the host's 127.0.0.1), and nothing is forwarded into the namespace, so
 * what an instance listens on (the Lambda Runtime API, an `http` function's server) stays inside it.
 * `--enable-sandbox` puts slirp4netns itself in an empty mount namespace without capabilities.
 */
export function attachEgress(support: EgressSupport, sandboxPid: number, options: EgressOptions): Egress {
  const args = [
    '--configure',
    `--mtu=${SLIRP_MTU}`,
    '--disable-host-loopback',
    '--enable-sandbox',
    ...(support.seccomp ? ['--enable-seccomp'] : []),
    `--exit-fd=${EXIT_FD}`,
    `--ready-fd=${READY_FD}`,
    '--netns-type=path',
    ...(options.joinUserNamespace ? [`--userns-path=/proc/${sandboxPid}/ns/user`] : []),
    `/proc/${sandboxPid}/ns/net`,
    'tap0',
  ];
  let argv = [support.path, ...args];
  if (options.procsFiles.length > 0) {
    const steps = options.procsFiles.map((file) => `echo $$ > ${shellQuote(file)}`);
    argv = [options.shPath, '-c', [...steps, 'exec "$@"'].join(' && '), 'nimbus-egress', ...argv];
  }
  const [command, ...rest] = argv as [string, ...string[]];
  let child!: ChildProcess;
  let stderr = '';
  let closed = false;
  const ready = new Promise<void>((resolve, reject) => {
    child = spawn(command, rest, {
      stdio: ['ignore', 'ignore', 'pipe', 'pipe', 'pipe'],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
      // Its own group: a signal meant for the platform's terminal does not reach it.
      detached: true,
    });
    const timer = setTimeout(() => {
      fail(`slirp4netns did not come up within ${options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS} ms`);
      close();
    }, options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS);
    const fail = (why: string): void => {
      clearTimeout(timer);
      const tail = stderr.trim().split('\n').slice(-3).join('; ');
      reject(new Error(`the sandbox's network could not be set up: ${why}${tail ? ` (${tail})` : ''}`));
    };
    child.stderr!.setEncoding('utf8').on('data', (text: string) => {
      if (stderr.length < STDERR_KEPT_BYTES) stderr += text;
    });
    child.stdio[READY_FD]!.once('data', () => {
      clearTimeout(timer);
      resolve();
    });
    child.stdio[READY_FD]!.on('error', () => {});
    child.stdio[EXIT_FD]!.on('error', () => {});
    child.once('error', (err) => fail(`could not start ${support.path}: ${err.message}`));
    child.once('exit', (code, signal) => {
      if (!closed) fail(`slirp4netns exited (${signal ?? `exit code ${code}`})`);
    });
  });
  ready.catch(() => {});
  const close = (): void => {
    if (closed) return;
    closed = true;
    // EOF on its exit fd ends it; the kill is for one that is stuck.
    child.stdio[EXIT_FD]?.destroy();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };
  return { ready, close };
}

/**
 * The sandbox's /etc/resolv.conf with egress: slirp4netns's DNS forwarder (which asks the host's own
 * resolvers, loopback ones too), keeping the host's search domains and options. Written once at start.
 */
export function writeResolvConf(runDir: string, hostResolvConf: string | null): string {
  const kept = (hostResolvConf ?? '')
    .split('\n')
    .filter((line) => /^\s*(search|domain|options)\s/.test(line))
    .join('\n');
  const path = join(runDir, 'resolv.conf');
  writeFileSync(path, `nameserver ${SLIRP_DNS}\n${kept ? `${kept}\n` : ''}`, { mode: 0o644 });
  return path;
}
