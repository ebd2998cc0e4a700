// Resource limits set with prlimit(1) before exec, where cgroups cannot bound an instance.
import type { SandboxLimits } from './cgroups.js';

export interface RlimitPlan {
  /** RLIMIT_DATA: each process's heap and private writable mappings; the memory fallback. */
  dataBytes: number | null;
  /** RLIMIT_NPROC: tasks of the user; the pids fallback. */
  nproc: number | null;
}

/**
 * Which rlimits stand in for missing cgroup controllers:
 * - always RLIMIT_CORE=0 (a core dump of a function would hand its memory to the host's dump handler);
 * - no memory cgroup: RLIMIT_DATA = memoryMb, per process (a function that forks gets that much per
 *   child; V8's reserved-but-unused address space does not count, so node starts fine under it);
 * - no pids cgroup: RLIMIT_NPROC = maxProcesses, but only where it counts this instance alone. The
 *   kernel counts tasks per user *per user namespace*, so inside bwrap's namespace (and set there, after
 *   the namespace exists) it counts only the instance; outside one it would count every process of the
 *   platform's user. It is never enforced for host root, so a root platform needs `runAs` for it.
 * - CPU has no rlimit equivalent (RLIMIT_CPU kills after total CPU seconds, not a rate): unlimited.
 */
export function planRlimits(
  limits: SandboxLimits,
  has: { memoryCgroup: boolean; pidsCgroup: boolean; ownUserNamespace: boolean; hostUid: number },
): RlimitPlan {
  return {
    dataBytes: has.memoryCgroup ? null : Math.floor(limits.memoryMb * 1024 * 1024),
    nproc:
      has.pidsCgroup || !has.ownUserNamespace || has.hostUid === 0 ? null : Math.max(1, limits.maxProcesses),
  };
}

/** `prlimit` arguments for a plan, ending with `--` (the command follows). */
export function prlimitArgs(plan: RlimitPlan): string[] {
  const args = ['--core=0'];
  if (plan.dataBytes !== null) args.push(`--data=${plan.dataBytes}`);
  if (plan.nproc !== null) args.push(`--nproc=${plan.nproc}`);
  args.push('--');
  return args;
}
