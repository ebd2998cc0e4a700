// Sandbox test helpers: this host's real features (detected once), a scratch platform layout, sandboxed runs.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { CgroupHandle, SandboxLimits } from '../../src/sandbox/cgroups.js';
import { detectSandbox, type SandboxFeatures } from '../../src/sandbox/detect.js';
import { attachEgress, writeResolvConf } from '../../src/sandbox/egress.js';
import { type WrappedLaunch, wrapLaunch } from '../../src/sandbox/launch.js';

export const features: SandboxFeatures = await detectSandbox();

/** The reason a test needing bubblewrap cannot run here, or null. */
export const noBwrap: string | null = features.bwrap
  ? null
  : `no working bubblewrap: ${features.bwrapProblem}`;

export const NOBODY = 65534;

/** The environment a runtime adapter hands over (see src/runtimes/runtime.ts baseEnv). */
export const LAUNCH_ENV: Readonly<Record<string, string>> = Object.freeze({
  PATH: '/usr/local/bin:/usr/bin:/bin',
  HOME: '/tmp',
  LANG: 'C.UTF-8',
  TMPDIR: '/tmp',
  NODE_ENV: 'production',
});

export const GENEROUS_LIMITS: SandboxLimits = { memoryMb: 512, cpu: 1, maxProcesses: 256 };

/** A platform's directory layout in miniature: data dir, two bundles, a secret, a run dir with a socket. */
export interface Scratch {
  root: string;
  dataDir: string;
  bundleDir: string;
  otherBundleDir: string;
  /** Stands in for the platform's SQLite file and admin token. */
  secretFile: string;
  runDir: string;
  socketPath: string;
  server: Server;
}

/**
 * Creates the layout under /var/tmp (not /tmp: the sandbox's own /tmp would hide it for the wrong reason)
 * and listens on the socket (bwrap binds it, so it must exist). Everything is removed after the test.
 * With `world`, files are readable and the socket connectable by an unprivileged `runAs` user.
 */
export async function scratch(t: TestContext, options: { world?: boolean } = {}): Promise<Scratch> {
  const root = mkdtempSync('/var/tmp/nimbus-sandbox-test-');
  const dataDir = join(root, 'data');
  const bundleDir = join(dataDir, 'bundles', 'a'.repeat(64));
  const otherBundleDir = join(dataDir, 'bundles', 'b'.repeat(64));
  const runDir = join(root, 'run');
  for (const dir of [bundleDir, otherBundleDir, runDir]) mkdirSync(dir, { recursive: true });
  const secretFile = join(dataDir, 'nimbus.db');
  writeFileSync(secretFile, 'admin-token=s3cr3t');
  writeFileSync(join(bundleDir, 'index.mjs'), 'export default { fetch: () => new Response("a") };\n');
  writeFileSync(join(otherBundleDir, 'index.mjs'), '// another function: OTHER-FUNCTION-CODE\n');
  if (options.world) {
    for (const dir of [root, dataDir, join(dataDir, 'bundles'), bundleDir, runDir]) chmodSync(dir, 0o755);
  }
  const socketPath = join(runDir, 'i1.sock');
  const server = createServer();
  server.listen(socketPath);
  await once(server, 'listening');
  if (options.world) chmodSync(socketPath, 0o666);
  t.after(() => {
    server.close();
    rmSync(root, { recursive: true, force: true });
  });
  return { root, dataDir, bundleDir, otherBundleDir, secretFile, runDir, socketPath, server };
}

export interface RunOptions {
  /** Run as if the host had these features (e.g. without bubblewrap). Default: this host's. */
  features?: SandboxFeatures;
  /** JavaScript for `node -e`, run in the sandbox. */
  code?: string;
  /** Or any command line. */
  argv?: string[];
  limits?: SandboxLimits;
  cgroup?: CgroupHandle | null;
  seccompFilterPath?: string | null;
  runAs?: { uid: number; gid: number } | null;
  tmpSizeMb?: number;
  /**
   * Egress through slirp4netns, attached once the sandboxed code runs (as the platform attaches it once the
   * runner said hello: not while bwrap still sets up the namespace's loopback). The sandbox always has its
   * own network namespace; without this, loopback only. Code for it is wrapped in `waitForEgress`, which
   * says on stderr that it runs, then waits for the interface.
   */
  network?: boolean;
  /** Extra variables in the spawn environment, as instance.ts adds NIMBUS_SOCKET. */
  spawnEnv?: Record<string, string>;
  /** Called with each stdout chunk (e.g. to wait for a readiness line). */
  onStdout?: (text: string) => void;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  launch: WrappedLaunch;
}

/** Spawns a sandboxed process exactly as instance.ts does (own process group) and starts collecting its output. */
export function startSandboxed(
  t: TestContext,
  s: Scratch,
  options: RunOptions,
): { child: ChildProcess; launch: WrappedLaunch; result: Promise<RunResult> } {
  const [command, ...args] = options.argv ?? [process.execPath, '-e', options.code ?? ''];
  const f = options.features ?? features;
  const egress = (options.network ?? false) && f.bwrap !== null && f.egress !== null;
  const launch = wrapLaunch({ command: command!, args, env: LAUNCH_ENV }, f, {
    bundleDir: s.bundleDir,
    socketPath: s.socketPath,
    resolvConf: egress ? writeResolvConf(s.runDir, null) : null,
    infoFd: egress ? 3 : null,
    limits: options.limits ?? GENEROUS_LIMITS,
    cgroup: options.cgroup ?? null,
    seccompFilterPath: options.seccompFilterPath ?? null,
    runAs: options.runAs ?? null,
    tmpSizeMb: options.tmpSizeMb ?? 16,
  });
  const child = spawn(launch.command, launch.args, {
    env: { ...launch.env, ...options.spawnEnv },
    stdio: ['ignore', 'pipe', 'pipe', ...(egress ? (['pipe'] as const) : [])],
    detached: true,
  });
  t.after(() => killGroup(child));
  let stdout = '';
  let stderr = '';
  let attach = (): void => {};
  if (egress) {
    let info = '';
    let attached = false;
    attach = () => {
      const pid = /"child-pid":\s*(\d+)/.exec(info)?.[1];
      if (attached || !pid || !stderr.includes(EGRESS_WAIT_MARK)) return;
      attached = true;
      const egressOf = attachEgress(f.egress!, Number(pid), {
        procsFiles: options.cgroup?.procsFiles ?? [],
        shPath: f.shPath,
        joinUserNamespace: f.uid !== 0,
      });
      egressOf.ready.catch(() => {});
      t.after(() => egressOf.close());
    };
    child.stdio[3]!.on('data', (chunk: Buffer) => {
      info += chunk.toString('utf8');
      attach();
    });
  }
  child.stdout!.setEncoding('utf8').on('data', (text: string) => {
    if (stdout.length < 1_000_000) stdout += text;
    options.onStdout?.(text);
  });
  child.stderr!.setEncoding('utf8').on('data', (text: string) => {
    if (stderr.length < 1_000_000) stderr += text;
    attach();
  });
  const result = (async (): Promise<RunResult> => {
    const [code, signal] = (await once(child, 'close')) as [number | null, NodeJS.Signals | null];
    return { code, signal, stdout, stderr, launch };
  })();
  return { child, launch, result };
}

/** Runs a sandboxed process to its end. */
export function runSandboxed(t: TestContext, s: Scratch, options: RunOptions): Promise<RunResult> {
  return startSandboxed(t, s, options).result;
}

/** Runs sandboxed node code that prints one JSON line, and parses it. */
export async function sandboxedJson<T>(
  t: TestContext,
  s: Scratch,
  code: string,
  options: RunOptions = {},
): Promise<T> {
  const r = await runSandboxed(t, s, { ...options, code });
  if (r.code !== 0) throw new Error(`sandboxed code failed (${r.code ?? r.signal}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** What code wrapped in `waitForEgress` writes to stderr first: it runs, egress may attach. */
const EGRESS_WAIT_MARK = 'waiting for egress';

/**
 * Sandboxed node code that says it runs, waits (up to 30 s) until the egress slirp4netns configures is
 * whole — its interface has an address and the default route through it exists (the route comes last,
 * so an interface alone is not enough: a connection then gets ENETUNREACH) — then runs `body`.
 */
export function waitForEgress(body: string): string {
  return `process.stderr.write(${JSON.stringify(`${EGRESS_WAIT_MARK}\n`)});
    const until = Date.now() + 30000;
    const routed = () => {
      try {
        return require('fs').readFileSync('/proc/net/route', 'utf8').split('\\n')
          .some((line) => /^tap0\\s+00000000\\s/.test(line));
      } catch { return false; }
    };
    (function wait() {
      if (!(require('os').networkInterfaces().tap0 && routed()) && Date.now() < until) return setTimeout(wait, 5);
      ${body}
    })();`;
}

/** SIGKILLs a child's whole process group, as Instance.kill does. */
export function killGroup(child: ChildProcess): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {}
}
