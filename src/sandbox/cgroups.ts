// Per-instance cgroups (v2 or v1): memory, pids and CPU limits, OOM detection, and a sweep of every process.
import { mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type CgroupController = 'memory' | 'pids' | 'cpu';
export const CGROUP_CONTROLLERS: readonly CgroupController[] = ['memory', 'pids', 'cpu'];

/** Where the platform may create cgroups, as found by `detectSandbox`. */
export type CgroupSupport =
  | {
      readonly version: 2;
      /** The cgroup (directory) under which Nimbus creates its subtree; controllers are enabled in it. */
      readonly parent: string;
      readonly controllers: readonly CgroupController[];
    }
  | {
      readonly version: 1;
      /** Per controller: the platform's own cgroup directory in that hierarchy. */
      readonly parents: Readonly<Partial<Record<CgroupController, string>>>;
      readonly controllers: readonly CgroupController[];
    }
  | { readonly version: null; readonly reason: string };

/** Limits of one instance. */
export interface SandboxLimits {
  /** Memory of the instance in MiB, swap included (cgroups; without them RLIMIT_DATA per process). */
  memoryMb: number;
  /**
   * CPU time as a fraction of one core: 0.5 = half a core, 2 = two cores (cgroups only). null: no ceiling;
   * the instance still gets a cpu cgroup of its own, whose weight gives each function a fair share of
   * the CPU when it is contended (see `setCpuShare`).
   */
  cpu: number | null;
  /** Tasks of the instance, threads included (node alone runs about 11). */
  maxProcesses: number;
}

/** The few filesystem operations cgroup management needs; injectable so tests can use an in-memory tree. */
export interface CgroupFs {
  /** The file's text, or null when it does not exist. */
  read(path: string): string | null;
  write(path: string, data: string): void;
  /** Creates a directory; an existing one is fine. */
  mkdir(path: string): void;
  rmdir(path: string): void;
  /** Names of the subdirectories of `path` (none when it does not exist). */
  listDirs(path: string): string[];
}

export const nodeCgroupFs: CgroupFs = {
  read(path) {
    try {
      return readFileSync(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  },
  write(path, data) {
    writeFileSync(path, data);
  },
  mkdir(path) {
    try {
      mkdirSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  },
  rmdir(path) {
    rmdirSync(path);
  },
  listDirs(path) {
    try {
      return readdirSync(path, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch {
      return [];
    }
  },
};

/** The cgroup of one instance. */
export interface CgroupHandle {
  readonly version: 1 | 2;
  readonly controllers: readonly CgroupController[];
  /** The instance's cgroup directories: one on v2, one per controller on v1. */
  readonly dirs: readonly string[];
  /**
   * The `cgroup.procs` files a launcher writes its own pid to before it execs the instance (see
   * `wrapLaunch`): joining before exec leaves no window in which the child or its children run unlimited.
   */
  readonly procsFiles: readonly string[];
  /** Moves a running process in. Racy for a process that may fork meanwhile: prefer `procsFiles`. */
  addPid(pid: number): void;
  /**
   * Sets the instance's CPU weight to `fraction` of one function's (1: a function's whole share; 1/3 for
   * each of three instances of one function), so CPU under contention splits evenly between functions,
   * however many instances each runs. v2 cpu.weight (a function: 100, the default), v1 cpu.shares (1024).
   * Does nothing without the cpu controller.
   */
  setCpuShare(fraction: number): void;
  /** Whether the kernel's OOM killer has killed a process of this cgroup. */
  oomKilled(): boolean;
  /** Pids of every process in the cgroup. */
  pids(): number[];
  /** SIGKILLs every process in the cgroup, including daemonised grandchildren outside the process group. */
  killAll(): void;
  /** Kills what is left and removes the cgroup; rejects naming the directory if it stays busy. */
  close(): Promise<void>;
}

export interface CgroupManagerOptions {
  fs?: CgroupFs;
  /** The platform's pid: names its subtree `nimbus-<pid>`. Default process.pid. */
  pid?: number;
  /**
   * Tells apart the subtrees of several platforms in one process (tests): `nimbus-<pid>-<tag>`.
   * Letters, digits and `_` only. Default none.
   */
  tag?: string;
  /** Whether a process exists (for sweeping subtrees left by a crashed platform). */
  isAlive?: (pid: number) => boolean;
  sleep?: (ms: number) => Promise<void>;
  /** Clock for close()'s deadline, in ms. Default Date.now. */
  now?: () => number;
  /** How long close() waits for killed processes to leave a cgroup. Default 2000 ms. */
  closeTimeoutMs?: number;
}

const CPU_PERIOD_US = 100_000;
/** One function's CPU weight: the kernel's default for a cgroup (v2 cpu.weight, v1 cpu.shares). */
export const FUNCTION_CPU_WEIGHT = { v2: 100, v1: 1024 } as const;
/**
 * The weight of all of a platform's instances together, as a fraction of a process's (the gateway's):
 * under contention the gateway, which every request crosses, gets twice what all functions together
 * get, and they split the rest evenly by function (`setCpuShare`).
 */
export const INSTANCES_CPU_FRACTION = 0.5;
/** The kernel's smallest weights (v2 cpu.weight 1..10000, v1 cpu.shares from 2). */
const MIN_CPU_WEIGHT = { v2: 1, v1: 2 } as const;
/** The kernel refuses a CFS quota below 1 ms. */
const MIN_CPU_QUOTA_US = 1_000;
const SAFE_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

/**
 * Creates one cgroup per instance under `<parent>/nimbus-<pid>/` (one subtree per platform process, so
 * platforms sharing a parent never collide), and removes them again. Unavailable (with `reason`) where
 * detection found no writable cgroups; callers then fall back to rlimits.
 */
export class CgroupManager {
  readonly available: boolean;
  /** Why cgroups are not used; null when they are. */
  readonly reason: string | null;
  private readonly support: CgroupSupport;
  private readonly fs: CgroupFs;
  private readonly pid: number;
  private readonly tag: string | undefined;
  private readonly isAlive: (pid: number) => boolean;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => number;
  private readonly closeTimeoutMs: number;
  private readonly handles = new Set<CgroupHandle>();
  private started = false;

  constructor(support: CgroupSupport, options: CgroupManagerOptions = {}) {
    this.support = support;
    this.available = support.version !== null && support.controllers.length > 0;
    this.reason = support.version === null ? support.reason : this.available ? null : 'no cgroup controllers';
    this.fs = options.fs ?? nodeCgroupFs;
    this.pid = options.pid ?? process.pid;
    if (options.tag !== undefined && !/^[A-Za-z0-9_]{1,32}$/.test(options.tag))
      throw new Error(`cgroup: unusable tag ${JSON.stringify(options.tag)}`);
    this.tag = options.tag;
    this.isAlive = options.isAlive ?? processExists;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.now = options.now ?? Date.now;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 2000;
  }

  get version(): 1 | 2 | null {
    return this.support.version;
  }

  /** The platform's subtree directories (one on v2, one per controller on v1). */
  get baseDirs(): string[] {
    const s = this.support;
    if (s.version === 2) return [join(s.parent, this.baseName)];
    if (s.version === 1) return s.controllers.map((c) => join(s.parents[c]!, this.baseName));
    return [];
  }

  private get baseName(): string {
    return this.tag === undefined ? `nimbus-${this.pid}` : `nimbus-${this.pid}-${this.tag}`;
  }

  /** Creates the platform's subtree (sweeping empty ones left by platforms that are gone). Idempotent. */
  start(): void {
    if (!this.available || this.started) return;
    const s = this.support;
    const parents =
      s.version === 2 ? [s.parent] : s.version === 1 ? s.controllers.map((c) => s.parents[c]!) : [];
    for (const parent of new Set(parents)) this.sweepStale(parent);
    for (const dir of this.baseDirs) this.fs.mkdir(dir);
    if (s.version === 2) {
      // Children of the subtree get the controllers only if the subtree hands them down.
      this.fs.write(
        join(this.baseDirs[0]!, 'cgroup.subtree_control'),
        s.controllers.map((c) => `+${c}`).join(' '),
      );
    }
    if (s.version === 2 && s.controllers.includes('cpu')) {
      const weight = Math.round(FUNCTION_CPU_WEIGHT.v2 * INSTANCES_CPU_FRACTION);
      this.fs.write(join(this.baseDirs[0]!, 'cpu.weight'), String(weight));
    } else if (s.version === 1 && s.parents.cpu !== undefined) {
      const weight = Math.round(FUNCTION_CPU_WEIGHT.v1 * INSTANCES_CPU_FRACTION);
      this.fs.write(join(s.parents.cpu, this.baseName, 'cpu.shares'), String(weight));
    }
    this.started = true;
  }

  /** Creates the cgroup of one instance with its limits; null when cgroups are unavailable. */
  create(instanceId: string, limits: SandboxLimits): CgroupHandle | null {
    if (!this.available) return null;
    if (!SAFE_NAME_RE.test(instanceId))
      throw new Error(`cgroup: unusable instance id ${JSON.stringify(instanceId)}`);
    this.start();
    const s = this.support;
    const memoryBytes = String(Math.floor(limits.memoryMb * 1024 * 1024));
    const quotaUs =
      limits.cpu === null ? null : Math.max(MIN_CPU_QUOTA_US, Math.round(limits.cpu * CPU_PERIOD_US));
    const pidsMax = String(Math.max(1, Math.floor(limits.maxProcesses)));
    const fs = this.fs;
    let dirs: string[];
    let oomKilled: () => boolean;
    /** The directory of the cpu controller (v1: its own hierarchy), or null without it. */
    let cpuDir: string | null = null;
    try {
      if (s.version === 2) {
        const dir = join(this.baseDirs[0]!, instanceId);
        dirs = [dir];
        fs.mkdir(dir);
        if (s.controllers.includes('memory')) {
          fs.write(join(dir, 'memory.max'), memoryBytes);
          writeIfPresent(fs, join(dir, 'memory.swap.max'), '0');
          // One OOM kill takes the whole instance down, not one random process of it.
          writeIfPresent(fs, join(dir, 'memory.oom.group'), '1');
        }
        if (s.controllers.includes('pids')) fs.write(join(dir, 'pids.max'), pidsMax);
        if (s.controllers.includes('cpu')) {
          fs.write(join(dir, 'cpu.max'), `${quotaUs ?? 'max'} ${CPU_PERIOD_US}`);
          cpuDir = dir;
        }
        oomKilled = () => readCounter(fs.read(join(dir, 'memory.events')), 'oom_kill') > 0;
      } else if (s.version === 1) {
        dirs = [];
        let memoryDir: string | undefined;
        for (const controller of s.controllers) {
          const dir = join(s.parents[controller]!, this.baseName, instanceId);
          fs.mkdir(dir);
          dirs.push(dir);
          if (controller === 'memory') {
            memoryDir = dir;
            fs.write(join(dir, 'memory.limit_in_bytes'), memoryBytes);
            // memsw (memory + swap) exists only with swap accounting; it must not be below the plain limit.
            writeIfPresent(fs, join(dir, 'memory.memsw.limit_in_bytes'), memoryBytes);
          } else if (controller === 'pids') {
            fs.write(join(dir, 'pids.max'), pidsMax);
          } else {
            cpuDir = dir;
            if (quotaUs !== null) {
              fs.write(join(dir, 'cpu.cfs_period_us'), String(CPU_PERIOD_US));
              fs.write(join(dir, 'cpu.cfs_quota_us'), String(quotaUs));
            }
          }
        }
        oomKilled = () => {
          if (memoryDir === undefined) return false;
          const control = fs.read(join(memoryDir, 'memory.oom_control'));
          // Kernels before 4.13 have no oom_kill counter: hitting the limit is the nearest sign.
          if (control?.includes('oom_kill ')) return readCounter(control, 'oom_kill') > 0;
          return Number(fs.read(join(memoryDir, 'memory.failcnt')) ?? 0) > 0;
        };
      } else {
        return null;
      }
    } catch (err) {
      throw new Error(`cgroup: could not create the cgroup of ${instanceId}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const handle = this.handle(s.version, dirs, s.controllers, oomKilled, cpuDir);
    this.handles.add(handle);
    return handle;
  }

  private handle(
    version: 1 | 2,
    dirs: string[],
    controllers: readonly CgroupController[],
    oomKilled: () => boolean,
    cpuDir: string | null,
  ): CgroupHandle {
    const fs = this.fs;
    const pids = (): number[] => {
      const all = new Set<number>();
      for (const dir of dirs) {
        for (const line of (fs.read(join(dir, 'cgroup.procs')) ?? '').split('\n')) {
          if (line.trim()) all.add(Number(line));
        }
      }
      return [...all];
    };
    const killAll = (): void => {
      if (version === 2) {
        try {
          // cgroup.kill (Linux 5.14+) kills the whole subtree at once, racing no fork.
          fs.write(join(dirs[0]!, 'cgroup.kill'), '1');
          return;
        } catch {}
      }
      // v1 has no cgroup.kill; a few passes catch what forked while the previous pass ran.
      for (let pass = 0; pass < 5; pass++) {
        const alive = pids();
        if (alive.length === 0) return;
        for (const pid of alive) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {}
        }
      }
    };
    const handle: CgroupHandle = {
      version,
      controllers,
      dirs,
      procsFiles: dirs.map((dir) => join(dir, 'cgroup.procs')),
      addPid: (pid) => {
        for (const dir of dirs) fs.write(join(dir, 'cgroup.procs'), String(pid));
      },
      setCpuShare: (fraction) => {
        const key = version === 2 ? 'v2' : 'v1';
        const weight = Math.max(MIN_CPU_WEIGHT[key], Math.round(FUNCTION_CPU_WEIGHT[key] * fraction));
        if (cpuDir) fs.write(join(cpuDir, version === 2 ? 'cpu.weight' : 'cpu.shares'), String(weight));
      },
      oomKilled,
      pids,
      killAll,
      close: async () => {
        this.handles.delete(handle);
        const deadline = this.now() + this.closeTimeoutMs;
        for (const dir of [...dirs].reverse()) {
          for (;;) {
            try {
              fs.rmdir(dir);
              break;
            } catch (err) {
              const code = (err as NodeJS.ErrnoException).code;
              if (code === 'ENOENT') break;
              if (code !== 'EBUSY' || this.now() > deadline) {
                throw new Error(`cgroup: could not remove ${dir}: ${(err as Error).message}`, { cause: err });
              }
              // Killed processes leave their cgroup once the kernel has torn them down.
              killAll();
              await this.sleep(20);
            }
          }
        }
      },
    };
    return handle;
  }

  /** Closes every instance cgroup still open, then removes the platform's subtree. */
  async close(): Promise<void> {
    const errors: Error[] = [];
    for (const handle of [...this.handles]) {
      await handle.close().catch((err: Error) => errors.push(err));
    }
    if (this.started) {
      for (const dir of this.baseDirs) {
        try {
          this.fs.rmdir(dir);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') errors.push(err as Error);
        }
      }
      this.started = false;
    }
    if (errors.length > 0) throw new AggregateError(errors, errors.map((e) => e.message).join('; '));
  }

  /** Removes empty `nimbus-<pid>[-<tag>]` subtrees whose platform process is gone (busy ones are left alone). */
  private sweepStale(parent: string): void {
    for (const name of this.fs.listDirs(parent)) {
      const m = /^nimbus-(\d+)(?:-[A-Za-z0-9_]+)?$/.exec(name);
      if (!m || Number(m[1]) === this.pid || this.isAlive(Number(m[1]))) continue;
      const base = join(parent, name);
      try {
        for (const child of this.fs.listDirs(base)) this.fs.rmdir(join(base, child));
        this.fs.rmdir(base);
      } catch {}
    }
  }
}

function writeIfPresent(fs: CgroupFs, path: string, data: string): void {
  if (fs.read(path) !== null) fs.write(path, data);
}

/** Reads `name <n>` from a flat-keyed cgroup file such as memory.events. */
function readCounter(text: string | null, name: string): number {
  const m = new RegExp(`^${name} (\\d+)$`, 'm').exec(text ?? '');
  return m ? Number(m[1]) : 0;
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
