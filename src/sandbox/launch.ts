// Turns an instance's plain launch (command, args, env) into the sandboxed one this host supports.
import { accessSync, constants, realpathSync, statSync, writeFileSync } from 'node:fs';
import { basename, delimiter, isAbsolute, join } from 'node:path';
import {
  bwrapArgs,
  SANDBOX_BUNDLE_DIR,
  SANDBOX_GATEWAY_SOCKET_PATH,
  SANDBOX_RUNNER_DIR,
  SANDBOX_RUNTIME_DIR,
  SANDBOX_SOCKET_PATH,
  type SandboxBind,
} from './bwrap.js';
import type { CgroupHandle, SandboxLimits } from './cgroups.js';
import type { SandboxFeatures } from './detect.js';
import { planRlimits, prlimitArgs } from './rlimits.js';

export interface PlainLaunch {
  command: string;
  args: readonly string[];
  /** The instance's whole environment (already scrubbed of the platform's). */
  env: Readonly<Record<string, string>>;
}

export interface SandboxLaunchOptions {
  /** Host directory of the function's bundle. */
  bundleDir: string;
  /** Host path of the instance's Unix socket; it must exist (be listening) before the spawn. */
  socketPath: string;
  /** Host path of the gateway's Unix socket, for the sandbox to reach the gateway through (bwrap only). */
  gatewaySocketPath?: string | null;
  /**
   * Host files (the runner) and directories (a runtime's install prefix) the command line refers to besides
   * the command itself. Outside the system directories each is bound at a fixed place (SANDBOX_RUNNER_DIR,
   * SANDBOX_RUNTIME_DIR), and the command, its arguments and PATH are rewritten to name it there.
   */
  readOnlyPaths?: readonly string[];
  /**
   * Host directories bound read-only at a path of the platform's choosing, for what a function expects at a
   * known place (the AWS SDK at /node_modules, its secrets at /var/openfaas/secrets). Ignored without
   * bubblewrap (the runner is told the host paths instead).
   */
  binds?: readonly SandboxBind[];
  /**
   * Host file bound at /etc/resolv.conf for a sandbox with egress (see egress.ts), or null for a sandbox
   * with loopback only. Either way the sandbox has its own network namespace. Default null.
   */
  resolvConf?: string | null;
  /** The fd (inherited from the spawner) bwrap reports the sandbox's pid on, for attaching egress. */
  infoFd?: number | null;
  /**
   * Write bwrap's arguments to this file and have bwrap read them from an fd: the sandbox's pid 1 is
   * bwrap, and its command line (readable inside) would otherwise name host paths.
   */
  argsFile?: string;
  /** Size of the private /tmp in MiB. Default 64. */
  tmpSizeMb?: number;
  limits: SandboxLimits;
  /** The instance's cgroup (`CgroupManager.create`), or null without cgroups. */
  cgroup: CgroupHandle | null;
  /** Compiled seccomp filter (`writeSeccompFilter`), or null for none. */
  seccompFilterPath: string | null;
  /**
   * Run the sandbox as this unprivileged host user (a root platform only; needs setpriv, and with
   * bubblewrap unprivileged user namespaces). Then a sandbox escape lands as that user, not as root, and
   * RLIMIT_NPROC works; without bubblewrap it is what keeps the function out of the data dir. The
   * bundle, command and runner must be readable and the socket writable by it.
   */
  runAs?: { uid: number; gid: number } | null;
}

export interface WrappedLaunch {
  command: string;
  args: string[];
  env: Record<string, string>;
  /** The bundle directory as the runner must see it (the LOAD message's bundleDir). */
  bundleDir: string;
  /** The socket path as the runner must see it (the sandbox sets NIMBUS_SOCKET to it itself). */
  socketPath: string;
  /** What is in force for this instance, for logs: namespaces, only another user, or nothing. */
  isolation: 'bubblewrap' | 'user' | 'none';
}

/** The fd the launcher opens the seccomp filter on for bwrap (dash redirects only fds 0–9). */
export const SECCOMP_FD = 9;
/** The fd the launcher opens bwrap's argument file on (`--args`). */
export const ARGS_FD = 8;
/** The PATH of the launcher layers (sh, setpriv, bwrap), which exec absolute paths only. */
const LAUNCHER_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
/** Host directories every sandbox shows at the same path (bound from the host root). */
const SYSTEM_DIRS = ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];
const DEFAULT_TMP_SIZE_MB = 64;

/**
 * Wraps a launch in, from the outside in:
 * 1. `sh -c 'echo $$ > <cgroup.procs>…; exec "$@"'`: the launcher joins the instance's cgroups and only
 *    then execs, so every process of the instance starts inside them. (Adding the pid after spawn
 *    would leave a window in which the child runs, and may fork, unlimited.) The same shell opens the
 *    seccomp filter on fd 9 and bwrap's arguments on fd 8, and leaves the platform's working directory
 *    and socket path out of the environment bwrap (the sandbox's pid 1) keeps.
 * 2. `setpriv` to `runAs`, when given.
 * 3. `bwrap …` (see bwrapArgs), when the host has a working bubblewrap.
 * 4. `prlimit …` inside the sandbox, for the rlimits that stand in for missing cgroup controllers.
 * Each layer execs the next, so the spawned pid stays the instance's pid. Without bubblewrap the
 * command runs as a plain process with the same scrubbed environment.
 */
export function wrapLaunch(
  launch: PlainLaunch,
  features: SandboxFeatures,
  options: SandboxLaunchOptions,
): WrappedLaunch {
  const bwrap = features.bwrap;
  const runAs = options.runAs ?? null;
  if (runAs && (!features.setprivPath || (bwrap && !features.unprivilegedUserNamespaces))) {
    throw new Error('sandbox: runAs needs setpriv, and with bubblewrap unprivileged user namespaces');
  }
  const controllers = options.cgroup?.controllers ?? [];
  const plan = planRlimits(options.limits, {
    memoryCgroup: controllers.includes('memory'),
    pidsCgroup: controllers.includes('pids'),
    ownUserNamespace: bwrap !== null,
    hostUid: runAs?.uid ?? features.uid,
  });
  const prlimit = features.prlimitPath ? [features.prlimitPath, ...prlimitArgs(plan)] : [];

  let argv: string[];
  let bundleDir: string;
  let socketPath: string;
  const seccomp = bwrap && features.seccomp && options.seccompFilterPath ? options.seccompFilterPath : null;
  const steps: string[] = [];
  if (bwrap) {
    // Bind the command by its real path: a symlinked binary (nvm, /usr/local/bin) would dangle inside.
    const command = resolveCommand(launch.command, launch.env.PATH ?? '');
    const binds = [...sandboxBinds(options.readOnlyPaths ?? [], command), ...(options.binds ?? [])];
    const inner = [...prlimit, inSandbox(command, binds), ...launch.args.map((arg) => inSandbox(arg, binds))];
    const env: Record<string, string> = { ...launch.env, NIMBUS_SOCKET: SANDBOX_SOCKET_PATH };
    if (options.gatewaySocketPath) env.NIMBUS_GATEWAY_SOCKET = SANDBOX_GATEWAY_SOCKET_PATH;
    if (env.PATH !== undefined)
      env.PATH = env.PATH.split(delimiter)
        .map((dir) => inSandbox(dir, binds))
        .join(delimiter);
    bundleDir = SANDBOX_BUNDLE_DIR;
    socketPath = SANDBOX_SOCKET_PATH;
    const args = bwrapArgs({
      argv: inner,
      env,
      bundleDir: options.bundleDir,
      socketPath: options.socketPath,
      gatewaySocketPath: options.gatewaySocketPath ?? null,
      binds,
      resolvConf: options.resolvConf ?? null,
      infoFd: options.infoFd ?? null,
      tmpSizeMb: options.tmpSizeMb ?? DEFAULT_TMP_SIZE_MB,
      hostRoot: features.hostRoot,
      procMasks: features.procMasks,
      tmpfsSize: bwrap.tmpfsSize,
      clearEnv: bwrap.clearEnv,
      disableUserns: bwrap.disableUserns,
      seccompFd: seccomp ? SECCOMP_FD : null,
    });
    // Nothing of where the platform runs reaches bwrap's own environment (the sandbox's /proc/1/environ).
    steps.push('cd /', 'unset PWD OLDPWD NIMBUS_SOCKET');
    if (options.argsFile) {
      // bwrap takes its options from the file, the command (sandbox paths only) from its argv.
      const optionCount = args.length - inner.length - 1;
      writeFileSync(options.argsFile, `${args.slice(0, optionCount).join('\0')}\0`, { mode: 0o600 });
      argv = [bwrap.path, '--args', String(ARGS_FD), ...args.slice(optionCount)];
    } else {
      argv = [bwrap.path, ...args];
    }
  } else {
    bundleDir = options.bundleDir;
    socketPath = options.socketPath;
    argv = [...prlimit, launch.command, ...launch.args];
  }
  if (runAs) {
    // Without bubblewrap this is all the isolation there is: a user that cannot read the data dir.
    argv = [features.setprivPath!, `--reuid=${runAs.uid}`, `--regid=${runAs.gid}`, '--clear-groups', ...argv];
  }

  steps.unshift(...(options.cgroup?.procsFiles ?? []).map((file) => `echo $$ > ${shellQuote(file)}`));
  if (seccomp) steps.push(`exec ${SECCOMP_FD}< ${shellQuote(seccomp)}`);
  if (bwrap && options.argsFile) steps.push(`exec ${ARGS_FD}< ${shellQuote(options.argsFile)}`);
  if (steps.length > 0) {
    argv = [features.shPath, '-c', [...steps, 'exec "$@"'].join(' && '), 'nimbus-sandbox', ...argv];
  }
  const [command, ...args] = argv as [string, ...string[]];
  return {
    command,
    args,
    // With bubblewrap the launch environment travels in bwrap's arguments; bwrap's own names no host path.
    env: bwrap ? { PATH: LAUNCHER_PATH } : { ...launch.env },
    bundleDir,
    socketPath,
    isolation: bwrap ? 'bubblewrap' : runAs ? 'user' : 'none',
  };
}

/**
 * Where each host path the command needs appears in the sandbox: system directories as they are (the
 * sandbox shows them already); anything else at a fixed place, files under SANDBOX_RUNNER_DIR and
 * directories under SANDBOX_RUNTIME_DIR by their base name (numbered where two share one).
 */
export function sandboxBinds(readOnlyPaths: readonly string[], command: string): SandboxBind[] {
  const binds: SandboxBind[] = [];
  const taken = new Set<string>();
  const place = (host: string): void => {
    if (isSystemPath(host) || binds.some((b) => b.host === host)) return;
    // A file inside a directory bound already (a runtime's binary in its prefix) comes with it.
    if (binds.some((b) => host.startsWith(`${b.host}/`))) return;
    const dir = isDirectory(host) ? SANDBOX_RUNTIME_DIR : SANDBOX_RUNNER_DIR;
    let sandbox = `${dir}/${basename(host)}`;
    for (let n = 2; taken.has(sandbox); n++) sandbox = `${dir}/${n}-${basename(host)}`;
    taken.add(sandbox);
    binds.push({ host, sandbox });
  };
  // Directories first, so a command inside one is not bound on its own.
  const paths = [...readOnlyPaths, command];
  for (const host of paths.filter(isDirectory)) place(host);
  for (const host of paths) place(host);
  return binds;
}

/** A host path (or an argument that is one) as the sandbox sees it. */
export function inSandbox(value: string, binds: readonly SandboxBind[]): string {
  for (const bind of binds) {
    if (value === bind.host) return bind.sandbox;
    if (value.startsWith(`${bind.host}/`)) return bind.sandbox + value.slice(bind.host.length);
  }
  return value;
}

function isDirectory(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

function isSystemPath(path: string): boolean {
  return SYSTEM_DIRS.some((dir) => path === dir || path.startsWith(`${dir}/`));
}

/** The real path of a command, looked up on PATH when it is a bare name (as execvp would). */
export function resolveCommand(command: string, path: string): string {
  if (isAbsolute(command)) return realpathSync(command);
  for (const dir of path.split(delimiter)) {
    if (!isAbsolute(dir)) continue;
    const candidate = join(dir, command);
    try {
      accessSync(candidate, constants.X_OK);
      return realpathSync(candidate);
    } catch {}
  }
  throw new Error(`sandbox: ${command} is not on the instance PATH (${path})`);
}

/** Quotes a string for a POSIX shell. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}
