// What /proc says about a process tree: resident memory and CPU time (Linux only).
import { readdirSync, readFileSync } from 'node:fs';

/** Kernel clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

function stat(pid: number): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name may hold spaces and parentheses: fields start after the last ')'.
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

export interface Memory {
  /** Resident set size (VmRSS) in MB (10^6 bytes). */
  rssMb: number;
  /** Its peak so far (VmHWM) in MB. */
  peakMb: number;
}

/** The memory of a process; undefined once it is gone. */
export function memoryMb(pid: number): Memory | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (key: string): number =>
    Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? Number.NaN);
  return { rssMb: (kb('VmRSS') * 1024) / 1e6, peakMb: (kb('VmHWM') * 1024) / 1e6 };
}

/**
 * The proportional share of a process tree's memory (PSS: a page shared by n processes counts 1/n) and
 * what is private to it, in MB, from /proc/<pid>/smaps_rollup; undefined once a process is gone.
 */
export function treePssMb(pids: readonly number[]): { pssMb: number; privateMb: number } | undefined {
  let pss = 0;
  let priv = 0;
  for (const pid of pids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    } catch {
      return undefined;
    }
    const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    pss += kb('Pss');
    priv += kb('Private_Clean') + kb('Private_Dirty');
  }
  return { pssMb: (pss * 1024) / 1e6, privateMb: (priv * 1024) / 1e6 };
}

/** The summed memory of a process tree (an instance may be a sandbox wrapper around the runtime). */
export function treeMemoryMb(pids: readonly number[]): Memory | undefined {
  let rssMb = 0;
  let peakMb = 0;
  for (const pid of pids) {
    const m = memoryMb(pid);
    if (!m) return undefined;
    rssMb += m.rssMb;
    peakMb += m.peakMb;
  }
  return { rssMb, peakMb };
}

/** When a process started (clock ticks since boot): with the pid, it names one process even after pid reuse. */
export function startTicks(pid: number): number | undefined {
  const fields = stat(pid);
  // starttime is field 22 of stat: 19 counted from the state field.
  return fields ? Number(fields[19]) : undefined;
}

/** Every live descendant of `root` (children, their children, ...); `directOnly`: children only. */
export function descendants(root: number, directOnly = false): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const fields = stat(Number(entry));
    // After the name: state, ppid, ...
    if (fields) parentOf.set(Number(entry), Number(fields[1]));
  }
  const found: number[] = [];
  const frontier = [root];
  while (frontier.length > 0) {
    const parent = frontier.pop()!;
    for (const [pid, ppid] of parentOf) {
      if (ppid === parent) {
        found.push(pid);
        if (!directOnly) frontier.push(pid);
      }
    }
  }
  return found;
}

/** CPU time in ms used so far by a process tree, split between its root and everything under it. */
export interface TreeCpu {
  rootMs: number;
  /** Live descendants plus the children the root already reaped (cutime/cstime), so an instance that
   * exits does not make the sum go backwards. */
  childrenMs: number;
}

export function treeCpuMs(root: number): TreeCpu {
  // utime, stime, cutime, cstime are fields 14-17 of stat: 12-15 counted from the state field.
  const ticks = (fields: string[] | undefined, from: number): number =>
    fields ? Number(fields[from]) + Number(fields[from + 1]) : 0;
  const rootFields = stat(root);
  let childTicks = ticks(rootFields, 13);
  for (const pid of descendants(root)) {
    const fields = stat(pid);
    childTicks += ticks(fields, 11) + ticks(fields, 13);
  }
  const toMs = (n: number): number => (n * 1000) / TICKS_PER_SECOND;
  return { rootMs: toMs(ticks(rootFields, 11)), childrenMs: toMs(childTicks) };
}

/** Busy and stolen time of one core so far, in ms, from /proc/stat. */
export function coreTimesMs(core: number): { busyMs: number; stealMs: number } | undefined {
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`cpu${core} `));
  if (!line) return undefined;
  // user nice system idle iowait irq softirq steal ...
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  const toMs = (n: number): number => (n * 1000) / TICKS_PER_SECOND;
  return { busyMs: toMs(user! + nice! + system! + irq! + softirq!), stealMs: toMs(steal!) };
}

/** What went to other processes on a watched core. */
export interface ForeignShare {
  /** CPU time others used there, or the hypervisor stole (ms). */
  ms: number;
  /** The same as % of the time watched. */
  pct: number;
}

/**
 * Starts watching a core: the returned function tells how much of it went, since the watch began, to
 * processes outside `roots` and their descendants, or was stolen by the hypervisor. Per-core times
 * are counted in clock ticks (10 ms), so short windows are coarse.
 */
export function watchCore(core: number | undefined, roots: readonly number[]): () => ForeignShare {
  if (core === undefined) return () => ({ ms: 0, pct: 0 });
  const ownMs = (): number =>
    roots.reduce((sum, pid) => {
      const cpu = treeCpuMs(pid);
      return sum + cpu.rootMs + cpu.childrenMs;
    }, 0);
  const before = coreTimesMs(core);
  const ownBefore = ownMs();
  const startedAt = performance.now();
  return () => {
    const after = coreTimesMs(core);
    const wallMs = performance.now() - startedAt;
    if (!before || !after || wallMs <= 0) return { ms: 0, pct: 0 };
    const othersMs = Math.max(0, after.busyMs - before.busyMs - (ownMs() - ownBefore));
    const ms = othersMs + after.stealMs - before.stealMs;
    return { ms, pct: (ms / wallMs) * 100 };
  };
}
