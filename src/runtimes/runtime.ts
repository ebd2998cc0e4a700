// A runtime adapter: how to start an instance of a function written for one language.
import { accessSync, constants } from 'node:fs';
import { delimiter, dirname, isAbsolute, join } from 'node:path';
import type { LoadMessage } from '../instances/protocol.js';
import type { SandboxBind } from '../sandbox/bwrap.js';
import type { FunctionVersion } from '../store/store.js';

export interface LaunchSpec {
  command: string;
  args: string[];
  /** The child's whole environment (the function's own variables arrive in the LOAD message). */
  env: Record<string, string>;
  load: LoadMessage;
  /** Host files the command line refers to besides the command itself (the runner), for a sandbox to bind. */
  readOnlyPaths?: string[];
  /** Host directories a sandbox binds read-only at another path (the packages the platform provides). */
  binds?: SandboxBind[];
  /** The values of the function's secrets, read when an instance starts (src/instances/secret-files.ts). */
  secrets?: () => ReadonlyMap<string, Buffer>;
}

export interface RuntimeOptions {
  debug: boolean;
  /** Interpreter of `runtime: python`: a command looked up on the instances' PATH, or an absolute path. Default `python3`. */
  python?: string;
  /** Config `nodeBinaries`: node binaries by major, for functions whose `nodeVersion` is not the platform's. */
  nodeBinaries?: Readonly<Record<string, string>>;
  /** Config `nodeVersionFallback`: `host` runs a function whose Node major is not installed on the platform's node. Default refuse. */
  nodeVersionFallback?: 'refuse' | 'host';
}

export interface RuntimeAdapter {
  readonly name: string;
  launch(fn: FunctionVersion, bundleDir: string, options: RuntimeOptions): LaunchSpec;
  /** Throws a coded error (ERR_RUNTIME_MISSING) when this host cannot run the function; called at deploy. */
  check?(fn: FunctionVersion, options: RuntimeOptions): void;
  /**
   * Requests an instance serves at once when the spec sets no `concurrency`, by the handler style its
   * runner reported on loading. Absent: 1.
   */
  defaultConcurrency?(style: string | undefined): number;
}

/** The PATH of every instance: fixed, so what a function finds does not depend on who started Nimbus. */
export const INSTANCE_PATH = '/usr/local/bin:/usr/bin:/bin';

/** The base environment of every instance: nothing of the platform's own environment leaks in. */
export function baseEnv(): Record<string, string> {
  return {
    PATH: INSTANCE_PATH,
    HOME: '/tmp',
    LANG: 'C.UTF-8',
    TMPDIR: '/tmp',
  };
}

/**
 * The instance PATH with the directory of the node binary running Nimbus added when it is not already on
 * it, so `node` (and `#!/usr/bin/env node` scripts) work in custom runtimes wherever Node is installed.
 */
export function pathWithNode(): string {
  const nodeDir = dirname(process.execPath);
  return INSTANCE_PATH.split(delimiter).includes(nodeDir)
    ? INSTANCE_PATH
    : `${INSTANCE_PATH}${delimiter}${nodeDir}`;
}

/** Resolves a command the way spawn() would on `path`: an absolute path, or the first executable match. */
export function findExecutable(command: string, path: string): string | undefined {
  const candidates = command.includes('/')
    ? [command]
    : path
        .split(delimiter)
        .filter(Boolean)
        .map((dir) => join(dir, command));
  for (const candidate of candidates) {
    if (!isAbsolute(candidate)) continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {}
  }
  return undefined;
}
