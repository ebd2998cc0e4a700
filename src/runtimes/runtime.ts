// A runtime adapter: how to start an instance of a function written for one language.
import type { LoadMessage } from '../instances/protocol.js';
import type { FunctionVersion } from '../store/store.js';

export interface LaunchSpec {
  command: string;
  args: string[];
  /** The child's whole environment (the function's own variables arrive in the LOAD message). */
  env: Record<string, string>;
  load: LoadMessage;
}

export interface RuntimeAdapter {
  readonly name: string;
  launch(fn: FunctionVersion, bundleDir: string, options: { debug: boolean }): LaunchSpec;
}

/** The base environment of every instance: nothing of the platform's own environment leaks in. */
export function baseEnv(): Record<string, string> {
  return {
    PATH: '/usr/local/bin:/usr/bin:/bin',
    HOME: '/tmp',
    LANG: 'C.UTF-8',
    TMPDIR: '/tmp',
  };
}
