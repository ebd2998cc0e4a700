// Turns an instance's plain launch (command, args, env) into the sandboxed one this host supports.
import { accessSync, constants, realpathSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { type BwrapBind, bwrapArgs, SANDBOX_BUNDLE_DIR, SANDBOX_SOCKET_PATH } from './bwrap.js';
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
  /** Host files the command line refers to besides the command itself (e.g. the runner file). */
  readOnlyPaths?: readonly string[];
  /** Host directories bound read-only at other paths inside the sandbox. */
  binds?: readonly BwrapBind[];
  /** Whether the function may use the host's network. Default true. */
  network?: boolean;
  /** Size of the private /tmp in MiB. Default 64. */
  tmpSizeMb?: number;
  limits: SandboxLimits;
  /** The instance's cgroup (`CgroupManager.create`), or null without cgroups. */
  cgroup: CgroupHandle | null;
  /** Compiled seccomp filter (`writeSeccompFilter`), or null for none. */
  seccompFilterPath: string | null;
  /**
   * Run the sandbox as this unprivileged host user (a root platform only; needs setpriv and
   * unprivileged user namespaces). Then a sandbox escape lands as that user, not as root, and
   * RLIMIT_NPROC works. The bundle, command and runner must be readable and the socket writable by it.
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
  /** What is in force for this instance, for logs. */
  isolation: 'bubblewrap' | 'none';
}

/** The fd the launcher opens the seccomp filter on for bwrap (dash redirects only fds 0–9). */
export const SECCOMP_FD = 9;
const DEFAULT_TMP_SIZE_MB = 64;

/**
 * Wraps a launch in, from the outside in:
 * 1. `sh -c 'echo $$ > <cgroup.procs>…; exec "$@"'`: the launcher joins the instance's cgroups and only
 *    then execs, so every process of the instance starts inside them. (Adding the pid after spawn
 *    would leave a window in which the child runs, and may fork, unlimited.) The same shell opens the
 *    seccomp filter on fd 9 for bwrap.
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
  if (runAs && (!bwrap || !features.setprivPath || !features.unprivilegedUserNamespaces)) {
    throw new Error('sandbox: runAs needs bubblewrap, setpriv and unprivileged user namespaces');
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
  if (bwrap) {
    // Bind the command by its real path: a symlinked binary (nvm, /usr/local/bin) would dangle inside.
    const command = resolveCommand(launch.command, launch.env.PATH ?? '');
    const readOnlyPaths = [...new Set([command, ...(options.readOnlyPaths ?? [])])];
    const inner = [...prlimit, command, ...launch.args];
    bundleDir = SANDBOX_BUNDLE_DIR;
    socketPath = SANDBOX_SOCKET_PATH;
    argv = [
      bwrap.path,
      ...bwrapArgs({
        argv: inner,
        env: { ...launch.env, NIMBUS_SOCKET: SANDBOX_SOCKET_PATH },
        bundleDir: options.bundleDir,
        socketPath: options.socketPath,
        readOnlyPaths,
        binds: options.binds ?? [],
        network: options.network ?? true,
        tmpSizeMb: options.tmpSizeMb ?? DEFAULT_TMP_SIZE_MB,
        hostRoot: features.hostRoot,
        procMasks: features.procMasks,
        tmpfsSize: bwrap.tmpfsSize,
        clearEnv: bwrap.clearEnv,
        disableUserns: bwrap.disableUserns,
        seccompFd: seccomp ? SECCOMP_FD : null,
      }),
    ];
    if (runAs) {
      argv = [
        features.setprivPath!,
        `--reuid=${runAs.uid}`,
        `--regid=${runAs.gid}`,
        '--clear-groups',
        ...argv,
      ];
    }
  } else {
    bundleDir = options.bundleDir;
    socketPath = options.socketPath;
    argv = [...prlimit, launch.command, ...launch.args];
  }

  const steps = (options.cgroup?.procsFiles ?? []).map((file) => `echo $$ > ${shellQuote(file)}`);
  if (seccomp) steps.push(`exec ${SECCOMP_FD}< ${shellQuote(seccomp)}`);
  if (steps.length > 0) {
    argv = [features.shPath, '-c', [...steps, 'exec "$@"'].join(' && '), 'nimbus-sandbox', ...argv];
  }
  const [command, ...args] = argv as [string, ...string[]];
  return {
    command,
    args,
    env: { ...launch.env },
    bundleDir,
    socketPath,
    isolation: bwrap ? 'bubblewrap' : 'none',
  };
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
