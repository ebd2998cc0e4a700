// The sandbox of each instance the launcher makes: its directory, cgroup and wrapped command line, its
// network (egress attached once the sandboxed process runs), the bundle staged where the sandbox sees
// it, and the sweep of everything it left when it ends.
import type { ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { z } from 'zod';
import { NimbusError } from '../errors.js';
import type { CgroupHandle, CgroupManager, SandboxLimits } from '../sandbox/cgroups.js';
import type { SandboxFeatures } from '../sandbox/detect.js';
import { attachEgress, type Egress } from '../sandbox/egress.js';
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
  /** The /etc/resolv.conf of sandboxes with egress (written at start), or null where there is no egress. */
  resolvConf: string | null;
  /** The gateway's Unix socket, bound into every sandbox (functions call the platform through it), or null. */
  gatewaySocketPath?: string | null;
  /** Why no instance may start here (nothing would keep it from the data dir), or null. */
  refusal?: string | null;
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
  /** The instance's secrets directory as the runner sees it (bound at SANDBOX_SECRETS_DIR by bubblewrap). */
  secretsDir: string;
  /** Pipes the process needs beyond stdio 0–2 (bwrap reports the sandbox's pid on fd 3 for egress). */
  extraPipes: number;
  /** To call once the process is spawned (egress is attached then), or null. */
  onSpawn: ((child: ChildProcess) => void) | null;
}

/** The fd bwrap writes `{"child-pid": N, ...}` to (the first pipe after stdio). */
const INFO_FD = 3;
const InfoSchema = z.looseObject({ 'child-pid': z.number().int().positive() });
/** bwrap's report is a few hundred bytes; anything longer is not it. */
const INFO_MAX_BYTES = 4096;

/** Directories whose contents every sandbox sees already (bound from the host root). */
const SYSTEM_PREFIXES = ['/usr/', '/bin/', '/sbin/', '/lib/', '/lib32/', '/lib64/', '/libx32/'];

export class InstanceSandbox {
  /** Per launch shape: the extra host paths its sandbox binds (runner, runtime install prefix). */
  private readonly bindsByShape = new Map<string, string[]>();
  /** Each sandbox's pid as bwrap reports it (egress attaches to its network namespace). */
  readonly #sandboxPid = new WeakMap<PreparedSandbox, Promise<number>>();
  /** Each sandbox's egress (a promise of it, from its attach until slirp4netns is up). */
  readonly #egress = new WeakMap<PreparedSandbox, Promise<Egress>>();
  /** The live sandboxes of each function, which split one function's CPU weight between them. */
  readonly #byFunction = new Map<string, Set<PreparedSandbox>>();
  readonly #functionOf = new WeakMap<PreparedSandbox, string>();

  constructor(private readonly options: InstanceSandboxOptions) {}

  get runAs(): RunAsUser | null {
    return this.options.runAs;
  }

  /**
   * Creates the instance's directory (with an empty `fn/` the sandbox binds at /fn) and cgroup, and wraps
   * its command line. Throws, having undone what it made, when the sandbox cannot be built.
   */
  prepare(id: string, shapeKey: string, shape: LaunchShape): PreparedSandbox {
    const { runDir, features, cgroups, runAs, refusal } = this.options;
    if (refusal) throw new NimbusError('ERR_SANDBOX_NONE', [refusal]);
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
        // Only the sandbox's user (by its group) passes through to its socket and /fn; no other host
        // user, and it may list and write nothing.
        chownSync(dir, features.uid, runAs.gid);
        chmodSync(dir, 0o710);
        chownSync(fnDir, features.uid, runAs.gid);
        chmodSync(fnDir, 0o750);
      }
      // Every sandbox binds a secrets directory: a stem cell does not know yet which function (and secrets) it gets.
      const secretsDir = prepareSecretsDir(dir, runAs);
      cgroup = cgroups?.create(id, limits) ?? null;
      const egress = shape.network && features.bwrap !== null && features.egress !== null;
      const wrapped = wrapLaunch({ command: shape.command, args: shape.args, env: shape.env }, features, {
        bundleDir: fnDir,
        socketPath: join(dir, 'sock'),
        // `network: false` keeps a function from everything outside its sandbox, the gateway included.
        gatewaySocketPath: shape.network ? (this.options.gatewaySocketPath ?? null) : null,
        readOnlyPaths,
        binds: [...(shape.binds ?? []), { host: secretsDir, sandbox: SANDBOX_SECRETS_DIR }],
        resolvConf: egress ? this.options.resolvConf : null,
        infoFd: egress ? INFO_FD : null,
        argsFile: join(dir, 'bwrap.args'),
        limits,
        cgroup,
        seccompFilterPath: this.options.seccompFilterPath,
        runAs,
      });
      const prepared: PreparedSandbox = {
        command: wrapped.command,
        args: wrapped.args,
        env: wrapped.env,
        cgroup,
        // Loaded from the instance's own directory: bound at /fn, or reachable by the sandbox's user.
        staged: wrapped.isolation !== 'none',
        bundleDir: wrapped.bundleDir,
        secretsDir: wrapped.isolation === 'bubblewrap' ? SANDBOX_SECRETS_DIR : secretsDir,
        extraPipes: egress ? 1 : 0,
        onSpawn: egress ? (child) => this.#readReport(prepared, child) : null,
      };
      return prepared;
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

  /**
   * Gets the instance ready for its function: its egress up (if any), the bundle where the sandbox sees
   * it. Returns the LOAD message to send; rejects (the instance is then stopped) saying what failed.
   */
  async load(instanceDir: string, prepared: PreparedSandbox, load: LoadMessage): Promise<LoadMessage> {
    await this.egressReady(prepared);
    this.#join(prepared, load.name);
    if (!prepared.staged) return load;
    stageBundle(load.bundleDir, join(instanceDir, 'fn'), { copy: this.options.runAs !== null });
    return { ...load, bundleDir: prepared.bundleDir };
  }

  /**
   * Fair CPU between functions, by default: a function's instances share one function's weight, so three
   * busy instances of one function get as much CPU under contention as one of another, not three times.
   */
  #join(prepared: PreparedSandbox, fn: string): void {
    if (!prepared.cgroup) return;
    this.#functionOf.set(prepared, fn);
    const members = this.#byFunction.get(fn) ?? new Set<PreparedSandbox>();
    this.#byFunction.set(fn, members);
    members.add(prepared);
    this.#rebalance(members);
  }

  #leave(prepared: PreparedSandbox): void {
    const fn = this.#functionOf.get(prepared);
    if (fn === undefined) return;
    this.#functionOf.delete(prepared);
    const members = this.#byFunction.get(fn);
    if (!members) return;
    members.delete(prepared);
    if (members.size === 0) this.#byFunction.delete(fn);
    else this.#rebalance(members);
  }

  #rebalance(members: Set<PreparedSandbox>): void {
    for (const member of members) {
      try {
        member.cgroup?.setCpuShare(1 / members.size);
      } catch {} // a cgroup being removed: its instance is leaving anyway
    }
  }

  /**
   * The instance's process runs (its runner said hello): bwrap has set up the sandbox, so egress attaches
   * now, once; resolves when it is up (at once for a sandbox without egress). Not sooner: slirp4netns brings
   * the namespace's loopback up, which gives it 127.0.0.1 at once, and bwrap's own loopback setup — adding
   * that address — then fails ("bwrap: loopback: Failed RTM_NEWADDR") if it has not run yet.
   */
  async egressReady(prepared: PreparedSandbox): Promise<void> {
    let egress = this.#egress.get(prepared);
    if (!egress) {
      const pid = this.#sandboxPid.get(prepared);
      if (!pid) return;
      const { features } = this.options;
      egress = pid.then((sandboxPid) =>
        attachEgress(features.egress!, sandboxPid, {
          procsFiles: prepared.cgroup?.procsFiles ?? [],
          shPath: features.shPath,
          joinUserNamespace: features.uid !== 0,
        }),
      );
      egress.catch(() => {});
      this.#egress.set(prepared, egress);
    }
    await (await egress).ready;
  }

  /** Reads the sandbox's pid from bwrap's report on fd 3 (it comes before bwrap has set the sandbox up). */
  #readReport(prepared: PreparedSandbox, child: ChildProcess): void {
    const info = child.stdio[INFO_FD];
    const pid = new Promise<number>((resolve, reject) => {
      if (!(info instanceof Readable) || !this.options.features.egress) {
        reject(new Error('the sandbox has no report pipe'));
        return;
      }
      let text = '';
      const done = (err: Error | null): void => {
        info.removeAllListeners('data');
        info.destroy();
        if (err) reject(new Error(`the sandbox's network could not be set up: ${err.message}`));
      };
      info.setEncoding('utf8');
      info.on('data', (chunk: string) => {
        text += chunk;
        if (text.length > INFO_MAX_BYTES) return done(new Error('bwrap reported more than expected'));
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          return; // not all of it yet
        }
        const report = InfoSchema.safeParse(parsed);
        if (!report.success) return done(new Error(`bwrap reported ${text.slice(0, 200)}`));
        done(null);
        resolve(report.data['child-pid']);
      });
      info.on('error', () => {});
      info.once('end', () => done(new Error('bwrap ended before it reported the sandbox')));
    });
    pid.catch(() => {});
    this.#sandboxPid.set(prepared, pid);
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
    this.#leave(prepared);
    this.#sandboxPid.delete(prepared);
    const egress = this.#egress.get(prepared);
    if (egress) {
      this.#egress.delete(prepared);
      await egress.then(
        (e) => e.close(),
        () => {},
      );
    }
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
      for (const path of [command, ...paths, ...(shape.binds ?? []).map((b) => b.host)]) {
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
