// The Node.js runtime adapter: runs the bundled runner with the platform's own node binary.
import { fileURLToPath } from 'node:url';
import type { FunctionVersion } from '../../store/store.js';
import { baseEnv, type LaunchSpec, type RuntimeAdapter, type RuntimeOptions } from '../runtime.js';

/** The runner bundle built by `npm run build` (the same path from src/ under tsx and from dist/). */
export const NODE_RUNNER_PATH = fileURLToPath(
  new URL('../../../dist/runtimes/node/runner.bundle.mjs', import.meta.url),
);

export const nodeRuntime: RuntimeAdapter = {
  name: 'node',
  launch(fn: FunctionVersion, bundleDir: string, options: RuntimeOptions): LaunchSpec {
    // The V8 heap is capped below the memory limit so an instance fails by itself before a cgroup kill.
    const heapMb = Math.max(16, Math.floor(fn.spec.memoryMb * 0.75));
    return {
      command: process.execPath,
      args: [`--max-old-space-size=${heapMb}`, NODE_RUNNER_PATH],
      env: { ...baseEnv(), NODE_ENV: 'production' },
      readOnlyPaths: [NODE_RUNNER_PATH],
      load: {
        bundleDir,
        entry: fn.entry,
        name: fn.name,
        version: fn.version,
        env: fn.spec.environment,
        timeoutMs: fn.spec.timeoutMs,
        memoryMb: fn.spec.memoryMb,
        debug: options.debug,
        ...(fn.spec.handlerStyle ? { style: fn.spec.handlerStyle } : {}),
      },
    };
  },
};
