// Finds which process tree under the platform is the instance serving a function. The platform may hold
// other processes (pre-started runners, other functions' instances) and a sandbox may wrap the runtime
// in its own PID namespace, so the instance is told apart by what it does: it is the one that works
// while the function alone is under load.
import { descendants, type Memory, treeCpuMs, treeMemoryMb } from './proc.js';

export interface InstanceTree {
  /** The platform's child that is the instance, then its descendants. */
  pids: number[];
  /** Its memory when `findInstance` was called (before the load it applies). */
  memoryBefore: Memory;
}

/** Of the CPU the platform's children used under the load, the share the instance must have had. */
const MIN_SHARE = 0.8;

/**
 * `load` must send requests to the one function whose instance is wanted (and only to it). When the
 * platform names the instance's process (`processes` in the function's description), that is used.
 */
export async function findInstance(
  platformPid: number,
  load: () => Promise<unknown>,
  knownPid?: number,
): Promise<InstanceTree> {
  if (knownPid !== undefined) {
    const tree = [knownPid, ...descendants(knownPid)];
    const memory = treeMemoryMb(tree);
    await load();
    if (memory) return { pids: tree, memoryBefore: memory };
  }
  const candidates = descendants(platformPid, true).map((pid) => {
    const tree = [pid, ...descendants(pid)];
    const cpu = treeCpuMs(pid);
    return { pid, tree, memory: treeMemoryMb(tree), cpuMs: cpu.rootMs + cpu.childrenMs };
  });
  await load();
  const worked = candidates
    .map((c) => {
      const cpu = treeCpuMs(c.pid);
      return { ...c, usedMs: cpu.rootMs + cpu.childrenMs - c.cpuMs };
    })
    .sort((a, b) => b.usedMs - a.usedMs);
  const total = worked.reduce((sum, c) => sum + Math.max(0, c.usedMs), 0);
  const busiest = worked[0];
  if (!busiest?.memory || total === 0 || busiest.usedMs / total < MIN_SHARE) {
    throw new Error(
      `cannot tell the instance apart: CPU ms used under load by the platform's children ${worked.map((c) => `${c.pid}: ${c.usedMs}`).join(', ')}`,
    );
  }
  return { pids: busiest.tree, memoryBefore: busiest.memory };
}
