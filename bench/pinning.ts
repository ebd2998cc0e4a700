// CPU pinning with taskset: servers (and the instances they spawn) on one core, the load on another.
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';

export interface Pinning {
  /** Core the servers and their children run on; undefined when pinning is unavailable. */
  readonly serverCore: number | undefined;
  /** Core the load generator (and this process) run on. */
  readonly loadCore: number | undefined;
  /** What was done, for the report. */
  readonly description: string;
}

export const SERVER_CORE = 0;
export const LOAD_CORE = 1;

/** Pins this process (all its threads) to the load core when taskset and two cores are there. */
export function setUpPinning(): Pinning {
  const cores = availableParallelism();
  if (cores < 2)
    return { serverCore: undefined, loadCore: undefined, description: `not pinned (${cores} core)` };
  if (spawnSync('taskset', ['-V'], { stdio: 'ignore' }).status !== 0) {
    return { serverCore: undefined, loadCore: undefined, description: 'not pinned (no taskset)' };
  }
  const self = spawnSync('taskset', ['-a', '-p', '-c', String(LOAD_CORE), String(process.pid)], {
    stdio: 'ignore',
  });
  if (self.status !== 0)
    return { serverCore: undefined, loadCore: undefined, description: 'not pinned (taskset failed)' };
  return {
    serverCore: SERVER_CORE,
    loadCore: LOAD_CORE,
    description: `servers and their instances on core ${SERVER_CORE}, load generator on core ${LOAD_CORE} (taskset)`,
  };
}

/** The command line that runs `command args` on `core` (unchanged when there is no core). */
export function pinnedCommand(core: number | undefined, command: string, args: string[]): [string, string[]] {
  if (core === undefined) return [command, args];
  return ['taskset', ['-c', String(core), command, ...args]];
}
