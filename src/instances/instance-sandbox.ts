// The sandbox of each instance the launcher makes: its directory, cgroup and wrapped command line, the
// bundle staged where the sandbox sees it, and the sweep of everything it left when it ends.
import { chmodSync, chownSync, mkdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { CgroupHandle, CgroupManager, SandboxLimits } from '../sandbox/cgroups.js';
import type { SandboxFeatures } from '../sandbox/detect.js';
import { resolveCommand, wrapLaunch } from '../sandbox/launch.js';
import { type RunAsUser, unreachableBy } from '../sandbox/run-as.js';
import { stageBundle } from '../sandbox/stage.js';
import type { LoadMessage } from './protocol.js';
import { prepareSecretsDir, SANDBOX_SECRETS_DIR } from './secret-files.js';
import type { LaunchShape } from './stem-cells.js';

export interface InstanceSandboxOptions {
  /** The platform's run directory (instance directories and sockets live below it). */
  runDir: string;
  features: SandboxFeatures;
  /** Started cgroup manager, or null where cgroups are not used. */
  cgroups: CgroupManager | null;
  /** Compiled seccomp filter, or null. */
  seccompFilterPath: string | null;
  /** Host user the sandboxes run as (root platform), or null. */
  runAs: RunAsUser | null;
}

/** One instance's sandbox, as prepared before its process starts. */
export interface PreparedSandbox {
  command: string;
  args: string[];
  env: Record<string, string>;
  cgroup: CgroupHandle | null;
  /** The bundle goes into the instance's own directory, bound at /fn (bubblewrap); else it is loaded in place. */
  staged: boolean;
  /** The LOAD message's bundleDir as the runner sees it. */
  bundleDir: string;
}

/** Directories whose contents every sandbox sees already (bound from the host root). */
const SYSTEM_PREFIXES = ['/usr/', '/bin/', '/sbin/', '/lib/', '/lib32/', '/lib64/', '/libx32/'];

export class InstanceSandbox {
  /** Per launch shape: the extra host paths its sandbox binds (runner, runtime install prefix). */
  private readonly bindsByShape = new Map<string, string[]>();

  constructor(private readonly options: InstanceSandboxOptions) {}

  get runAs(): RunAsUser | null {
    return this.options.runAs;
  }

  /**
   * Creates the instance's directory (with an empty `fn/` the sandbox binds at /fn) and cgroup, and wraps
   * its command line. Throws, having undone what it made, when the sandbox cannot be built.
   */
  prepare(id: string, shapeKey: string, shape: LaunchShape): PreparedSandbox {
    const { runDir, features, cgroups, runAs } = this.options;
    const dir = join(runDir, id);
    const fnDir = join(dir, 'fn');
    const limits: SandboxLimits = {
      memoryMb: shape.memoryMb,
      cpu: shape.cpu,
      maxProcesses: shape.maxProcesses,
    };
    let cgroup: CgroupHandle | null = null;
    try {
      const readOnlyPaths = this.binds(shapeKey, shape);
      mkdirSync(fnDir, { recursive: true, mode: 0o700 });
      if (runAs) {
        // The sandbox's user passes through to its socket and /fn, and may list nothing else.
        chmodSync(dir, 0o711);
        chmodSync(fnDir, 0o755);
      }
      // Every sandbox binds a secrets directory: a stem cell does not know yet which function (and secrets) it gets.
      const secretsDir = prepareSecretsDir(dir, runAs);
      cgroup = cgroups?.create(id, limits) ?? null;
      const wrapped = wrapLaunch({ command: shape.command, args: shape.args, env: shape.env }, features, {
        bundleDir: fnDir,
        socketPath: join(dir, 'sock'),
        readOnlyPaths,
        binds: [...(shape.binds ?? []), { source: secretsDir, target: SANDBOX_SECRETS_DIR }],
        network: shape.network,
        limits,
        cgroup,
        seccompFilterPath: this.options.seccompFilterPath,
        runAs,
      });
      const staged = wrapped.isolation === 'bubblewrap';
      return {
        command: wrapped.command,
        args: wrapped.args,
        env: wrapped.env,
        cgroup,
        staged,
        bundleDir: wrapped.bundleDir,
      };
    } catch (err) {
      if (cgroup) void cgroup.close().catch(() => {});
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`sandbox: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Hands the instance's socket to the sandbox's user (it connects from inside as that user). */
  prepareSocket(socketPath: string): void {
    const runAs = this.options.runAs;
    if (!runAs) return;
    chownSync(socketPath, runAs.uid, runAs.gid);
    chmodSync(socketPath, 0o600);
  }

  /** Puts the function's bundle where the instance's sandbox sees it; returns the LOAD message to send. */
  load(instanceDir: string, prepared: PreparedSandbox, load: LoadMessage): LoadMessage {
    if (!prepared.staged) return load;
    stageBundle(load.bundleDir, join(instanceDir, 'fn'), { worldReadable: this.options.runAs !== null });
    return { ...load, bundleDir: prepared.bundleDir };
  }

  /** Whether the kernel OOM-killed a process of the instance (never throws: a gone cgroup says no). */
  oomKilled(prepared: PreparedSandbox): boolean {
    try {
      return prepared.cgroup?.oomKilled() ?? false;
    } catch {
      return false;
    }
  }

  /** After the instance's process is gone: kills whatever of it is left (a daemonised grandchild too), removes its cgroup. */
  async release(prepared: PreparedSandbox): Promise<void> {
    const cgroup = prepared.cgroup;
    if (!cgroup) return;
    try {
      cgroup.killAll();
    } catch {}
    await cgroup.close();
  }

  /** Removes the platform's cgroup subtree (after every instance was released). */
  async close(): Promise<void> {
    await this.options.cgroups?.close();
  }

  /**
   * The host paths a shape's sandbox binds besides /usr and the root's library directories: what the
   * runtime adapter names (the runner) and, for a runtime installed elsewhere (pyenv, nvm, /opt), its
   * install prefix, derived from the command's real path (`<prefix>/bin/python3.12` → `<prefix>`).
   * With `runAs`, every one must be readable by that user: bubblewrap binds them as it.
   */
  private binds(shapeKey: string, shape: LaunchShape): string[] {
    const known = this.bindsByShape.get(shapeKey);
    if (known) return known;
    const command = resolveCommand(shape.command, shape.env.PATH ?? '');
    const paths = [...shape.readOnlyPaths];
    if (!SYSTEM_PREFIXES.some((prefix) => command.startsWith(prefix))) {
      const bin = dirname(command);
      paths.push(basename(bin) === 'bin' ? dirname(bin) : bin);
    }
    const runAs = this.options.runAs;
    if (runAs) {
      for (const path of [command, ...paths, ...(shape.binds ?? []).map((b) => b.source)]) {
        const blocked = unreachableBy(path, runAs);
        if (blocked !== null) {
          throw new Error(
            `${path} is not readable by uid ${runAs.uid}, which instances run as (${blocked} does not let it through); install the runtime where that user can read it, or set sandboxRunAs: off`,
          );
        }
      }
    }
    this.bindsByShape.set(shapeKey, paths);
    return paths;
  }
}
